"""A register's verifier state (the kernel's `struct bpf_reg_state`): its type, fixed
offset, variable part (a tnum with s64/u64/s32/u32 bounds, which for a scalar is the
value itself) and the ids that tie copies together. Bounds are kept in sync as
kernel/bpf/verifier.c's reg_bounds_sync does."""

from __future__ import annotations

from enum import Enum
from typing import Any

from .bounds import bounds_sync
from .tnum import M32, M64, UNKNOWN, Tnum

S64_MIN, S64_MAX = -(1 << 63), (1 << 63) - 1
S32_MIN, S32_MAX = -(1 << 31), (1 << 31) - 1
U64_MAX, U32_MAX = M64, M32


def s64(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


def s32(v: int) -> int:
    v &= M32
    return v - (1 << 32) if v >> 31 else v


class RegType(Enum):
    """Base register types (enum bpf_reg_type); the value is the log's spelling."""

    NOT_INIT = "?"
    SCALAR = "scalar"
    CTX = "ctx"
    CONST_PTR_TO_MAP = "map_ptr"
    MAP_VALUE = "map_value"
    MAP_KEY = "map_key"
    STACK = "fp"
    PACKET_META = "pkt_meta"
    PACKET = "pkt"
    PACKET_END = "pkt_end"
    FLOW_KEYS = "flow_keys"
    SOCKET = "sock"
    SOCK_COMMON = "sock_common"
    TCP_SOCK = "tcp_sock"
    XDP_SOCK = "xdp_sock"
    MEM = "mem"
    BTF_ID = "ptr_"
    FUNC = "func"
    BUF = "buf"


PKT_TYPES = frozenset({RegType.PACKET, RegType.PACKET_META})
SOCK_TYPES = frozenset({RegType.SOCKET, RegType.SOCK_COMMON, RegType.TCP_SOCK,
                        RegType.XDP_SOCK})


class Reg:
    """One register. Pointer fields: `off` (fixed offset), `map` (map value/ptr: a
    MapRef), `range` (packet: bytes proven readable past `off`), `mem_size` (mem),
    `frameno` (stack), `maybe_null`, `rdonly`, `ringbuf` (type flags); `id` ties
    copies of a maybe-null pointer (or of a scalar), `ref_obj_id` a reference."""

    __slots__ = ("type", "off", "var_off", "smin", "smax", "umin", "umax", "s32_min",
                 "s32_max", "u32_min", "u32_max", "id", "ref_obj_id", "map", "range",
                 "mem_size", "frameno", "maybe_null", "rdonly", "ringbuf", "subprog",
                 "btf_name", "precise")

    def __init__(self) -> None:
        self.type = RegType.NOT_INIT
        self.off = 0
        self.var_off = UNKNOWN
        self.smin, self.smax, self.umin, self.umax = S64_MIN, S64_MAX, 0, U64_MAX
        self.s32_min, self.s32_max, self.u32_min, self.u32_max = S32_MIN, S32_MAX, 0, U32_MAX
        self.id = 0
        self.ref_obj_id = 0
        self.map: Any = None
        self.range = 0
        self.mem_size = 0
        self.frameno = 0
        self.maybe_null = False
        self.rdonly = False
        self.ringbuf = False
        self.subprog = 0
        self.btf_name = ""
        self.precise = False

    def copy(self) -> "Reg":
        r = Reg.__new__(Reg)
        r.type = self.type
        r.off = self.off
        r.var_off = self.var_off
        r.smin = self.smin
        r.smax = self.smax
        r.umin = self.umin
        r.umax = self.umax
        r.s32_min = self.s32_min
        r.s32_max = self.s32_max
        r.u32_min = self.u32_min
        r.u32_max = self.u32_max
        r.id = self.id
        r.ref_obj_id = self.ref_obj_id
        r.map = self.map
        r.range = self.range
        r.mem_size = self.mem_size
        r.frameno = self.frameno
        r.maybe_null = self.maybe_null
        r.rdonly = self.rdonly
        r.ringbuf = self.ringbuf
        r.subprog = self.subprog
        r.btf_name = self.btf_name
        r.precise = self.precise
        return r

    def assign(self, o: "Reg") -> None:
        self.type = o.type
        self.off = o.off
        self.var_off = o.var_off
        self.smin = o.smin
        self.smax = o.smax
        self.umin = o.umin
        self.umax = o.umax
        self.s32_min = o.s32_min
        self.s32_max = o.s32_max
        self.u32_min = o.u32_min
        self.u32_max = o.u32_max
        self.id = o.id
        self.ref_obj_id = o.ref_obj_id
        self.map = o.map
        self.range = o.range
        self.mem_size = o.mem_size
        self.frameno = o.frameno
        self.maybe_null = o.maybe_null
        self.rdonly = o.rdonly
        self.ringbuf = o.ringbuf
        self.subprog = o.subprog
        self.btf_name = o.btf_name
        self.precise = o.precise

    def key(self) -> tuple:
        return tuple(getattr(self, k) for k in Reg.__slots__ if k != "precise")

    # -- kinds --------------------------------------------------------------------------
    @property
    def is_scalar(self) -> bool:
        return self.type is RegType.SCALAR

    @property
    def is_pointer(self) -> bool:
        return self.type not in (RegType.SCALAR, RegType.NOT_INIT)

    @property
    def is_pkt(self) -> bool:
        return self.type in PKT_TYPES

    def is_const(self) -> bool:
        return self.type is RegType.SCALAR and self.var_off.is_const()

    def is_const32(self) -> bool:
        return self.type is RegType.SCALAR and self.var_off.subreg_is_const()

    def type_str(self) -> str:
        """reg_type_str: e.g. "map_value_or_null", "rdonly_mem", "ringbuf_mem"."""
        base = self.type.value
        if self.type is RegType.BTF_ID:
            base = f"ptr_{self.btf_name}"
        pre = ""
        if self.rdonly:
            pre += "rdonly_"
        if self.ringbuf:
            pre += "ringbuf_"
        return pre + base + ("_or_null" if self.maybe_null else "")


# --- constructors -----------------------------------------------------------------------

def not_init() -> Reg:
    return Reg()


def mark_known(r: Reg, imm: int) -> None:
    """___mark_reg_known: the variable part is exactly `imm` (u64)."""
    imm &= M64
    r.var_off = Tnum(imm, 0)
    r.smin = r.smax = s64(imm)
    r.umin = r.umax = imm
    r.s32_min = r.s32_max = s32(imm)
    r.u32_min = r.u32_max = imm & M32


def mark_known32(r: Reg, imm: int) -> None:
    r.var_off = r.var_off.const_subreg(imm)
    r.s32_min = r.s32_max = s32(imm)
    r.u32_min = r.u32_max = imm & M32


def mark_unbounded(r: Reg) -> None:
    r.smin, r.smax, r.umin, r.umax = S64_MIN, S64_MAX, 0, U64_MAX
    r.s32_min, r.s32_max, r.u32_min, r.u32_max = S32_MIN, S32_MAX, 0, U32_MAX


def mark64_unbounded(r: Reg) -> None:
    r.smin, r.smax, r.umin, r.umax = S64_MIN, S64_MAX, 0, U64_MAX


def mark32_unbounded(r: Reg) -> None:
    r.s32_min, r.s32_max, r.u32_min, r.u32_max = S32_MIN, S32_MAX, 0, U32_MAX


def scalar_unknown() -> Reg:
    r = Reg()
    r.type = RegType.SCALAR
    return r


def scalar_const(v: int) -> Reg:
    r = Reg()
    r.type = RegType.SCALAR
    mark_known(r, v)
    return r


_UNKNOWN_SCALAR = scalar_unknown()  # read only: the fields mark_unknown copies


def mark_unknown(r: Reg) -> None:
    """__mark_reg_unknown: a scalar of any value, no ids."""
    precise = r.precise
    r.assign(_UNKNOWN_SCALAR)
    r.precise = precise


_CONSTS: dict[int, Reg] = {}


def shared_const(v: int) -> Reg:
    """A scalar known to be `v`, shared and never modified: the immediate operand of an
    ALU or jump insn (the rules only read it; one Reg per value instead of one per
    insn processed)."""
    r = _CONSTS.get(v)
    if r is None:
        if len(_CONSTS) > 4096:
            _CONSTS.clear()
        r = _CONSTS[v] = scalar_const(v)
    return r


def pointer(t: RegType, **kw: Any) -> Reg:
    """A pointer with a known zero variable offset (__mark_reg_known_zero)."""
    r = Reg()
    r.type = t
    mark_known(r, 0)
    for k, v in kw.items():
        setattr(r, k, v)
    return r


# --- bounds sync (reg_bounds_sync) ------------------------------------------------------

def update_reg32_bounds(r: Reg) -> None:
    t = r.var_off.subreg()
    r.s32_min = max(r.s32_min, s32(t.value | (t.mask & 0x8000_0000)))
    r.s32_max = min(r.s32_max, s32(t.value | (t.mask & 0x7FFF_FFFF)))
    r.u32_min = max(r.u32_min, t.value)
    r.u32_max = min(r.u32_max, t.value | t.mask)


def update_reg64_bounds(r: Reg) -> None:
    t = r.var_off
    r.smin = max(r.smin, s64(t.value | (t.mask & (1 << 63))))
    r.smax = min(r.smax, s64(t.value | (t.mask & ((1 << 63) - 1))))
    r.umin = max(r.umin, t.value)
    r.umax = min(r.umax, t.value | t.mask)


def update_reg_bounds(r: Reg) -> None:
    update_reg32_bounds(r)
    update_reg64_bounds(r)


def _deduce32(r: Reg) -> None:
    if (r.umin >> 32) == (r.umax >> 32):
        r.u32_min = max(r.u32_min, r.umin & M32)
        r.u32_max = min(r.u32_max, r.umax & M32)
        if s32(r.umin) <= s32(r.umax):
            r.s32_min = max(r.s32_min, s32(r.umin))
            r.s32_max = min(r.s32_max, s32(r.umax))
    if (r.smin >> 32) == (r.smax >> 32):
        if (r.smin & M32) <= (r.smax & M32):
            r.u32_min = max(r.u32_min, r.smin & M32)
            r.u32_max = min(r.u32_max, r.smax & M32)
        if s32(r.smin) <= s32(r.smax):
            r.s32_min = max(r.s32_min, s32(r.smin))
            r.s32_max = min(r.s32_max, s32(r.smax))
    if (((r.umin >> 32) + 1) & M32) == (r.umax >> 32) & M32 and s32(r.umin) < 0 \
            and s32(r.umax) >= 0:
        r.s32_min = max(r.s32_min, s32(r.umin))
        r.s32_max = min(r.s32_max, s32(r.umax))
    if ((((r.smin & M64) >> 32) + 1) & M32) == ((r.smax & M64) >> 32) & M32 \
            and s32(r.smin) < 0 and s32(r.smax) >= 0:
        r.s32_min = max(r.s32_min, s32(r.smin))
        r.s32_max = min(r.s32_max, s32(r.smax))
    if s32(r.u32_min) <= s32(r.u32_max):
        r.s32_min = max(r.s32_min, s32(r.u32_min))
        r.s32_max = min(r.s32_max, s32(r.u32_max))
    if (r.s32_min & M32) <= (r.s32_max & M32):
        r.u32_min = max(r.s32_min & M32, r.u32_min)
        r.u32_max = min(r.s32_max & M32, r.u32_max)


def _deduce64(r: Reg) -> None:
    if s64(r.umin) <= s64(r.umax):
        r.smin = max(r.smin, s64(r.umin))
        r.smax = min(r.smax, s64(r.umax))
    if (r.smin & M64) <= (r.smax & M64):
        r.umin = max(r.smin & M64, r.umin)
        r.umax = min(r.smax & M64, r.umax)
    else:
        if r.umax < (r.smin & M64):
            r.smin = s64(r.umin)
            r.umax = min(r.umax, r.smax & M64)
        elif (r.smax & M64) < r.umin:
            r.smax = s64(r.umax)
            r.umin = max(r.umin, r.smin & M64)


def _deduce_mixed(r: Reg) -> None:
    hi = M64 & ~M32
    r.umin = max(r.umin, (r.umin & hi) | r.u32_min)
    r.umax = min(r.umax, (r.umax & hi) | r.u32_max)
    r.smin = max(r.smin, s64((r.smin & hi) | r.u32_min))
    r.smax = min(r.smax, s64((r.smax & hi) | r.u32_max))
    if r.s32_min >= 0 and r.smin >= S32_MIN and r.smax <= S32_MAX:
        r.smin, r.smax = r.s32_min, r.s32_max
        r.umin, r.umax = r.s32_min, r.s32_max
        r.var_off = r.var_off.intersect(Tnum.range(r.smin & M64, r.smax & M64))


def deduce_bounds(r: Reg) -> None:
    _deduce32(r)
    _deduce64(r)
    _deduce_mixed(r)


def bound_offset(r: Reg) -> None:
    """__reg_bound_offset: the tnum from the u64 and u32 ranges."""
    v64 = r.var_off.intersect(Tnum.range(r.umin, r.umax))
    v32 = r.var_off.subreg().intersect(Tnum.range(r.u32_min, r.u32_max))
    r.var_off = v64.clear_subreg().or_(v32)


def bounds_sync_steps(r: Reg) -> None:
    """reg_bounds_sync step by step (the reference bounds.bounds_sync computes at once)."""
    update_reg_bounds(r)
    deduce_bounds(r)
    deduce_bounds(r)
    bound_offset(r)
    update_reg_bounds(r)


def bounds_sane(r: Reg) -> bool:
    """reg_bounds_sanity_check: every range non-empty and consistent with the tnum."""
    if r.type is not RegType.SCALAR:
        return True
    if r.umin > r.umax or r.smin > r.smax or r.u32_min > r.u32_max \
            or r.s32_min > r.s32_max:
        return False
    t = r.var_off
    if t.value & t.mask:
        return False
    if r.umin > (t.value | t.mask) or r.umax < t.value:
        return False
    t32 = t.subreg()
    if r.u32_min > (t32.value | t32.mask) or r.u32_max < t32.value:
        return False
    if t.is_const() and not (r.umin == r.umax == t.value):
        return False
    return True


def zext_32_to_64(r: Reg) -> None:
    r.var_off = r.var_off.subreg()
    assign_32_into_64(r)


def assign_32_into_64(r: Reg) -> None:
    r.umin, r.umax = r.u32_min, r.u32_max
    if 0 <= r.s32_min <= S32_MAX and 0 <= r.s32_max <= S32_MAX:
        r.smin, r.smax = r.s32_min, r.s32_max
    else:
        r.smin, r.smax = 0, U32_MAX


def coerce_to_size(r: Reg, size: int) -> None:
    """coerce_reg_to_size: keep the low `size` bytes (zero-extended loads)."""
    r.var_off = r.var_off.cast(size)
    mask = (1 << (size * 8)) - 1
    if (r.umin & ~mask) == (r.umax & ~mask):
        r.umin &= mask
        r.umax &= mask
    else:
        r.umin, r.umax = 0, mask
    r.smin, r.smax = s64(r.umin), s64(r.umax)
    if r.smin > r.smax:
        r.smin, r.smax = S64_MIN, S64_MAX
    if size < 4:
        mark32_unbounded(r)
    bounds_sync(r)


def _sext(r: Reg, size: int) -> tuple[Tnum, tuple[int, int]]:
    """The tnum and signed range of the low `size` bytes of `r`, sign-extended."""
    bits = size * 8
    m = (1 << bits) - 1
    top = 1 << (bits - 1)
    t = r.var_off.cast(size)
    if t.mask & top:
        var = Tnum(t.value, t.mask | (M64 & ~m))
    elif t.value & top:
        var = Tnum(t.value | (M64 & ~m), t.mask)
    else:
        var = t
    rng = (-top, top - 1)
    if r.umin >> bits == r.umax >> bits:
        lo, hi = r.umin & m, r.umax & m
        slo = lo - (1 << bits) if lo & top else lo
        shi = hi - (1 << bits) if hi & top else hi
        if slo <= shi:
            rng = (slo, shi)
    return var, rng


def coerce_to_size_sx(r: Reg, size: int) -> None:
    """coerce_reg_to_size_sx (movsx, ldsx): sign-extend the low `size` bytes to 64."""
    var, (lo, hi) = _sext(r, size)
    mark_unbounded(r)
    r.var_off = var
    r.smin, r.smax = lo, hi
    r.s32_min, r.s32_max = max(lo, S32_MIN), min(hi, S32_MAX)
    if size == 4 or (lo >= S32_MIN and hi <= S32_MAX):
        r.s32_min, r.s32_max = lo, hi
    bounds_sync(r)


def coerce_subreg_to_size_sx(r: Reg, size: int) -> None:
    """coerce_subreg_to_size_sx (32-bit movsx): sign-extend into the low 32 bits."""
    var, (lo, hi) = _sext(r, size)
    mark_unbounded(r)
    r.var_off = var.subreg()
    r.s32_min, r.s32_max = lo, hi
    update_reg32_bounds(r)
