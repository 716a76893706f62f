"""Verifier states: per-frame registers and stack (per-byte slot kinds and spilled
registers), the references a path holds, and the equivalence test state pruning uses
(the kernel's states_equal / regsafe / stacksafe / refsafe)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from .reg import Reg, RegType, not_init, pointer

MAX_BPF_STACK = 512
BPF_REG_SIZE = 8


class Slot(IntEnum):
    """enum bpf_stack_slot_type (the byte kinds we model)."""

    INVALID = 0
    SPILL = 1
    MISC = 2
    ZERO = 3


SLOT_CHAR = {Slot.INVALID: "?", Slot.SPILL: "r", Slot.MISC: "m", Slot.ZERO: "0"}


class Frame:
    """bpf_func_state: the registers and stack of one call frame. `stack[k]` is the
    kind of the byte at fp-(k+1); `spills[spi]` the register spilled to the 8-byte
    slot spi (bytes fp-8*(spi+1) .. fp-8*spi-1)."""

    __slots__ = ("regs", "stack", "spills", "allocated", "frameno", "callsite", "subprog",
                 "callback")

    def __init__(self, frameno: int = 0, callsite: int = -1, subprog: int = 0) -> None:
        self.regs = [not_init() for _ in range(11)]
        self.stack = bytearray(MAX_BPF_STACK)
        self.spills: dict[int, Reg] = {}
        self.allocated = 0
        self.frameno = frameno
        self.callsite = callsite
        self.subprog = subprog
        self.callback: tuple[int, int] | None = None  # a callback's allowed r0 range

    def copy(self) -> "Frame":
        f = Frame.__new__(Frame)
        f.regs = list(map(Reg.copy, self.regs))
        f.stack = bytearray(self.stack)
        f.spills = {k: v.copy() for k, v in self.spills.items()}
        f.allocated = self.allocated
        f.frameno = self.frameno
        f.callsite = self.callsite
        f.subprog = self.subprog
        f.callback = self.callback
        return f

    def slot_kind(self, off: int) -> Slot:
        """The kind of the byte at fp+off (off < 0)."""
        return Slot(self.stack[-off - 1])

    def spilled(self, spi: int) -> Reg | None:
        """The register spilled to slot spi if its last byte is a spill."""
        if self.stack[spi * 8 + 7] == Slot.SPILL:
            return self.spills.get(spi)
        return None

    def grow(self, size: int) -> None:
        size = (size + 7) // 8 * 8
        if size > self.allocated:
            self.allocated = size


@dataclass
class RefState:
    id: int
    insn_idx: int
    kind: str = "ptr"


class Checkpoint:
    """An explored state at a prune point: its snapshot, how many paths that started
    from it are still being explored (`branches`) and its parent checkpoint."""

    __slots__ = ("state", "branches", "parent", "insn_idx", "miss", "hit", "_chain",
                 "loop_hint")

    def __init__(self, state: "VState", parent: "Checkpoint | None", insn_idx: int) -> None:
        self.state = state
        self.branches = 1
        self.parent = parent
        self.insn_idx = insn_idx
        self.miss = 0
        self.hit = 0
        self._chain: frozenset[int] | None = None
        self.loop_hint = 0  # the register that told this state from a later one (loops)

    def chain(self) -> frozenset[int]:
        """The ids of this checkpoint and its ancestors (computed once)."""
        if self._chain is None:
            ids = []
            cp: Checkpoint | None = self
            while cp is not None and cp._chain is None:
                ids.append(id(cp))
                cp = cp.parent
            base = cp._chain if cp is not None and cp._chain is not None else frozenset()
            self._chain = base | frozenset(ids)
        return self._chain


class VState:
    """bpf_verifier_state: the frames of the call chain and the acquired references."""

    __slots__ = ("frames", "refs", "parent", "insn_idx", "prev_insn_idx", "path",
                 "log_pos", "may_goto_depth", "lock", "callback_depth", "speculative",
                 "first_insn_idx", "last_insn_idx", "hist", "bt_memo")

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.refs: list[RefState] = []
        self.parent: Checkpoint | None = None
        self.insn_idx = 0
        self.prev_insn_idx = -1
        self.path: Any = None  # (insn, taken, previous) cells, newest first
        self.log_pos = 0
        self.may_goto_depth = 0
        self.lock: tuple[int, Any] | None = None  # the held bpf_spin_lock (locks.py)
        self.callback_depth = 0
        self.speculative = False
        # the path since the last checkpoint, for precision backtracking (precision.py)
        self.first_insn_idx = 0
        self.last_insn_idx = -1
        self.hist: list[tuple] = []
        # precision.py's memo of backtracking outcomes over `hist` (None: not kept)
        self.bt_memo: dict | None = {}

    @property
    def cur(self) -> Frame:
        return self.frames[-1]

    @property
    def curframe(self) -> int:
        return len(self.frames) - 1

    def copy(self) -> "VState":
        s = VState.__new__(VState)
        s.frames = [f.copy() for f in self.frames]
        s.refs = [RefState(r.id, r.insn_idx, r.kind) for r in self.refs]
        s.parent = self.parent
        s.insn_idx = self.insn_idx
        s.prev_insn_idx = self.prev_insn_idx
        s.path = self.path
        s.log_pos = self.log_pos
        s.may_goto_depth = self.may_goto_depth
        s.lock = self.lock
        s.callback_depth = self.callback_depth
        s.speculative = self.speculative
        s.first_insn_idx = self.first_insn_idx
        s.last_insn_idx = self.last_insn_idx
        s.hist = list(self.hist)
        s.bt_memo = self.bt_memo
        return s

    def all_regs(self):
        """Every register and spilled register of every frame (bpf_for_each_reg_in_vstate)."""
        for f in self.frames:
            yield from f.regs
            for spi, r in f.spills.items():
                if f.stack[spi * 8 + 7] == Slot.SPILL:
                    yield r


def initial_state() -> VState:
    s = VState()
    f = Frame()
    f.regs[1] = pointer(RegType.CTX)
    f.regs[10] = pointer(RegType.STACK, frameno=0)
    s.frames.append(f)
    return s


# --- equivalence ------------------------------------------------------------------------

class IdMap:
    def __init__(self) -> None:
        self.map: dict[int, int] = {}
        self.rev: dict[int, int] = {}
        self.tmp = 1 << 40

    def check(self, old: int, cur: int) -> bool:
        if not old and not cur:
            return True
        if not old or not cur:
            return False
        m = self.map.get(old)
        if m is None:
            if cur in self.rev:
                return False
            self.map[old] = cur
            self.rev[cur] = old
            return True
        return m == cur

    def check_scalar(self, old: int, cur: int) -> bool:
        if not old:
            self.tmp += 1
            old = self.tmp
        if not cur:
            self.tmp += 1
            cur = self.tmp
        return self.check(old, cur)


def _range_within(o: Reg, c: Reg) -> bool:
    return (o.umin <= c.umin and o.umax >= c.umax and o.smin <= c.smin and o.smax >= c.smax
            and o.u32_min <= c.u32_min and o.u32_max >= c.u32_max
            and o.s32_min <= c.s32_min and o.s32_max >= c.s32_max)


def _same_kind(o: Reg, c: Reg) -> bool:
    """The pointer fields regsafe requires equal (type, fixed offset, object, flags)."""
    return (o.type is c.type and o.off == c.off and (o.map is c.map or o.map == c.map) and
            o.mem_size == c.mem_size and o.frameno == c.frameno and
            o.maybe_null == c.maybe_null and o.rdonly == c.rdonly and
            o.ringbuf == c.ringbuf and o.subprog == c.subprog and o.btf_name == c.btf_name)


def _regs_exact(o: Reg, c: Reg, idmap: IdMap) -> bool:
    """regs_exact: every field equal, ids equal up to the renaming in `idmap`."""
    return (_same_kind(o, c) and o.var_off == c.var_off and o.range == c.range and
            o.smin == c.smin and o.smax == c.smax and o.umin == c.umin and
            o.umax == c.umax and o.s32_min == c.s32_min and o.s32_max == c.s32_max and
            o.u32_min == c.u32_min and o.u32_max == c.u32_max and
            idmap.check(o.id, c.id) and idmap.check(o.ref_obj_id, c.ref_obj_id))


_SCALAR = RegType.SCALAR
_NOT_INIT = RegType.NOT_INIT
_ADD_CONST = (1 << 31) | (1 << 30)
_MEMLIKE = frozenset({RegType.MAP_VALUE, RegType.MEM, RegType.MAP_KEY})
_PKT = frozenset({RegType.PACKET, RegType.PACKET_META})


def regsafe(o: Reg, c: Reg, idmap: IdMap, exact: bool, imprecise_ok: bool = False,
            strict_scalars: bool = False) -> bool:
    """`imprecise_ok` (NOT_EXACT with precision tracking): an explored state's scalar
    that no later check needed exactly (not precise) matches any scalar.
    `strict_scalars` (explore_alu_limits, sanitize.py): scalars must be equal."""
    t = o.type
    if t is _NOT_INIT:
        return not exact or c.type is _NOT_INIT
    if exact:
        return _regs_exact(o, c, idmap)
    if t is not c.type:
        return False
    if t is _SCALAR:
        if strict_scalars:
            return o.var_off == c.var_off and o.smin == c.smin and o.smax == c.smax and \
                o.umin == c.umin and o.umax == c.umax and o.s32_min == c.s32_min and \
                o.s32_max == c.s32_max and o.u32_min == c.u32_min and \
                o.u32_max == c.u32_max and idmap.check_scalar(o.id, c.id)
        if imprecise_ok and not o.precise:
            return True
        if (o.id & _ADD_CONST) != (c.id & _ADD_CONST) or \
                ((o.id & _ADD_CONST) and o.off != c.off):
            return False
        return idmap.check_scalar(o.id, c.id) and _range_within(o, c) and \
            o.var_off.in_(c.var_off)
    if not _same_kind(o, c):
        return False
    if t in _MEMLIKE:
        return _range_within(o, c) and o.var_off.in_(c.var_off) and \
            idmap.check(o.id, c.id) and idmap.check(o.ref_obj_id, c.ref_obj_id)
    if t in _PKT:
        return o.range <= c.range and idmap.check(o.id, c.id) and _range_within(o, c) \
            and o.var_off.in_(c.var_off)
    return _regs_exact(o, c, idmap)


_ALL_SPILL = bytes([Slot.SPILL]) * 8
_ALL_MISC = bytes([Slot.MISC]) * 8
_ALL_INVALID = bytes(8)
_UNBOUND = Reg()
_UNBOUND.type = RegType.SCALAR


def _stack_reg(f: Frame, spi: int) -> Reg | None:
    """scalar_reg_for_stack: a spilled 64-bit scalar, or an all-MISC slot as unknown."""
    b = f.stack[spi * 8:spi * 8 + 8]
    if b == _ALL_SPILL:
        sp = f.spills.get(spi)
        if sp is not None and sp.type is _SCALAR:
            return sp
        return None
    if b == _ALL_MISC:
        return _UNBOUND
    return None


def stacksafe(o: Frame, c: Frame, idmap: IdMap, exact: bool, allow_uninit: bool,
              imprecise_ok: bool = False, live: int = -1,
              strict_scalars: bool = False) -> bool:
    """stacksafe, a slot at a time: identical slots without a spill are equal at once;
    the others byte by byte as the kernel. `live`: a mask of the 8-byte slots (bit spi)
    that may still be read; the others of `o` are ignored (not when `exact`)."""
    ost, cst = o.stack, c.stack
    n = o.allocated
    ca = c.allocated
    if not exact and live != -1:
        n = min(n, live.bit_length() * 8)
    if n <= ca and ost[:n] == cst[:n] and _SPILL_BYTE not in ost[:n]:
        return True  # the common case: the same bytes, no spilled register
    for base in range(0, n, 8):
        if not exact and not live >> (base >> 3) & 1:
            continue
        ob = ost[base:base + 8]
        cb = cst[base:base + 8] if base < ca else _ALL_INVALID
        if exact:
            if base >= ca or ob != cb:
                return False
        elif ob == _ALL_INVALID:
            continue
        if ob == cb and _SPILL_BYTE not in ob:
            continue
        if not _slot_safe(o, c, base, ob, cb, base < ca, idmap, exact, allow_uninit,
                          imprecise_ok, strict_scalars):
            return False
    return True


_SPILL_BYTE = bytes([Slot.SPILL])


def _slot_safe(o: Frame, c: Frame, base: int, ob: "bytes | bytearray",
               cb: "bytes | bytearray", in_cur: bool,
               idmap: IdMap, exact: bool, allow_uninit: bool, imprecise_ok: bool,
               strict_scalars: bool = False) -> bool:
    spi = base // 8
    for j in range(8):
        ok, ck = ob[j], cb[j]
        if ok == Slot.INVALID:
            continue
        if allow_uninit and ok == Slot.MISC and not exact:
            continue
        if not in_cur:
            return False
        if j == 0:
            orr, crr = _stack_reg(o, spi), _stack_reg(c, spi)
            if orr is not None and crr is not None:
                return regsafe(orr, crr, idmap, exact, imprecise_ok, strict_scalars)
        if ok == Slot.MISC and ck == Slot.ZERO:
            continue
        if ok != ck:
            return False
        if j == 7 and ok == Slot.SPILL:
            if not regsafe(o.spills[spi], c.spills[spi], idmap, exact, imprecise_ok,
                           strict_scalars):
                return False
    return True


def _bit_list(mask: int) -> tuple[int, ...]:
    return tuple(i for i in range(11) if mask >> i & 1)


_LIVE_REGS: dict[int, tuple[int, ...]] = {m: _bit_list(m) for m in (0x7FF,)}


def states_equal(old: VState, cur: VState, exact: bool, allow_uninit: bool,
                 live: "list[int] | None" = None, imprecise_ok: bool = False,
                 live_stack: "list[int] | None" = None,
                 strict_scalars: bool = False) -> bool:
    """`exact`: EXACT (loop detection); else RANGE_WITHIN, or NOT_EXACT when
    `imprecise_ok` (imprecise scalars of `old` match anything). `live` / `live_stack`:
    per frame, the registers / stack slots that may still be read (not when `exact`)."""
    if len(old.frames) != len(cur.frames):
        return False
    if len(old.refs) != len(cur.refs):
        return False
    idmap = IdMap()
    for a, b in zip(old.refs, cur.refs):
        if not idmap.check(a.id, b.id):
            return False
    if old.lock != cur.lock and (old.lock is None or cur.lock is None or
                                 old.lock[1] is not cur.lock[1] or
                                 not idmap.check(old.lock[0], cur.lock[0])):
        return False
    for k, (fo, fc) in enumerate(zip(old.frames, cur.frames)):
        if fo.callsite != fc.callsite:
            return False
        mask = 0x7FF if exact or live is None or k >= len(live) else live[k]
        idx = _LIVE_REGS.get(mask)
        if idx is None:
            idx = _LIVE_REGS[mask] = _bit_list(mask)
        oregs, cregs = fo.regs, fc.regs
        for i in idx:
            o, c = oregs[i], cregs[i]
            t = o.type
            if not exact:
                # regsafe's first cases inline: the common outcomes without a call
                if t is _NOT_INIT:
                    continue
                if t is not c.type:
                    return False
                if t is _SCALAR and imprecise_ok and not o.precise and \
                        not strict_scalars:
                    continue
            if not regsafe(o, c, idmap, exact, imprecise_ok, strict_scalars):
                return False
        smask = -1 if exact or live_stack is None or k >= len(live_stack) else live_stack[k]
        if not stacksafe(fo, fc, idmap, exact, allow_uninit, imprecise_ok, smask,
                         strict_scalars):
            return False
    return True


def widen_imprecise_scalars(old: VState, cur: VState) -> None:
    """widen_imprecise_scalars: after a callback iteration, a scalar that differs from
    the loop head's and that nothing needed precisely becomes unknown, so the
    iterations converge (e.g. a counter the callback increments)."""
    from .reg import mark_unknown
    idmap = IdMap()
    for fo, fc in zip(old.frames, cur.frames):
        pairs = list(zip(fo.regs, fc.regs))
        for spi in range(min(fo.allocated, fc.allocated) // 8):
            a, b = fo.spilled(spi), fc.spilled(spi)
            if a is not None and b is not None:
                pairs.append((a, b))
        for a, b in pairs:
            if a.type is not RegType.SCALAR or b.type is not RegType.SCALAR:
                continue
            if a.precise or b.precise or _regs_exact(a, b, idmap):
                continue
            mark_unknown(b)
            b.precise = False


def maybe_looping(old: "list[Reg]", cur: "list[Reg]") -> int:
    """states_maybe_looping, given the registers of the current frame of two states with
    as many frames: a cheap test before the exact comparison of the loop check (the
    registers have the same type, offset and value). -1 when they do, else the first
    register that differs (the caller tries it first next time)."""
    for i, (o, c) in enumerate(zip(old, cur)):
        ov, cv = o.var_off, c.var_off
        if (ov is not cv and (ov.value != cv.value or ov.mask != cv.mask)) or \
                o.type is not c.type or o.off != c.off or o.umin != c.umin or \
                o.umax != c.umax or o.smin != c.smin or o.smax != c.smax:
            return i
    return -1
