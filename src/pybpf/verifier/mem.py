"""Memory rules: loads and stores through each pointer type (check_mem_access): the
stack per byte with spill and fill, the context by the program type's table, map values
and keys by their sizes, the packet by its proven range, read-only maps; lddw of maps
and constants; LD_ABS/LD_IND; atomics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from ..isa import (
    BPF_ABS,
    BPF_ADD,
    BPF_AND,
    BPF_ATOMIC,
    BPF_CMPXCHG,
    BPF_DW,
    BPF_FETCH,
    BPF_IND,
    BPF_LOAD_ACQ,
    BPF_MEM,
    BPF_MEMSX,
    BPF_OR,
    BPF_PSEUDO_BTF_ID,
    BPF_PSEUDO_FUNC,
    BPF_PSEUDO_MAP_FD,
    BPF_PSEUDO_MAP_IDX,
    BPF_PSEUDO_MAP_IDX_VALUE,
    BPF_PSEUDO_MAP_VALUE,
    BPF_STORE_REL,
    BPF_XCHG,
    BPF_XOR,
    SIZE_BYTES,
    Instruction,
)
from ..uapi import ProgType
from .reg import (
    Reg,
    RegType,
    coerce_to_size,
    coerce_to_size_sx,
    mark_unknown,
    pointer,
    s64,
    scalar_const,
    scalar_unknown,
)
from .locks import check_not_locked
from .state import Slot

BPF_MAX_VAR_OFF = 1 << 29
MAX_BPF_STACK = 512
BPF_F_RDONLY_PROG = 1 << 7
BPF_F_WRONLY_PROG = 1 << 8
BPF_FLOW_KEYS_SIZE = 56  # sizeof(struct bpf_flow_keys)
BPF_TCP_SOCK_SIZE = 112  # sizeof(struct bpf_tcp_sock)

_PKT_TYPES_RW = {ProgType.SCHED_CLS, ProgType.SCHED_ACT, ProgType.XDP, ProgType.LWT_XMIT,
                 ProgType.SK_SKB, ProgType.SK_MSG}
_PKT_TYPES_RO = {ProgType.LWT_IN, ProgType.LWT_OUT, ProgType.LWT_SEG6LOCAL,
                 ProgType.SK_REUSEPORT, ProgType.FLOW_DISSECTOR, ProgType.CGROUP_SKB}


# how check_ptr_alignment names each pointer type in "misaligned %saccess"
_ALIGN_DESC = {RegType.FLOW_KEYS: "flow keys ", RegType.MAP_KEY: "key ",
               RegType.MAP_VALUE: "value ", RegType.CTX: "context ", RegType.STACK: "stack ",
               RegType.SOCKET: "sock ", RegType.SOCK_COMMON: "sock_common ",
               RegType.TCP_SOCK: "tcp_sock ", RegType.XDP_SOCK: "xdp_sock "}


def _tn(r: Reg) -> str:
    return f"({r.var_off.value:#x}; {r.var_off.mask:#x})"



class MemMixin:
    """The memory half of Verifier (needs its st, regs(), fail(), ...)."""

    if TYPE_CHECKING:  # the Verifier's state and methods, which this half reads
        def __getattr__(self, name: str) -> Any: ...

        def fail(self, *lines: str) -> NoReturn: ...

    ctx_spec: Any  # the program type's context table (None: not modelled)
    st_imm: int | None  # a BPF_ST store's immediate, while its store is checked

    # -- program type -------------------------------------------------------------------
    def setup_prog_type(self) -> None:
        pt = self.prog_type
        try:
            from ..progtypes.contexts import context_spec
            self.ctx_spec = context_spec(pt, self.attach_type)
        except Exception:  # noqa: BLE001 - types without a context model
            self.ctx_spec = None
        self.pkt_write_ok = pt in _PKT_TYPES_RW
        if not self.bpf_capable and pt not in (ProgType.SOCKET_FILTER, ProgType.CGROUP_SKB):
            self.fail_load_perm = True

    # -- map values' special fields (mapfields.py) ------------------------------------------
    def map_fields(self, m: Any) -> Any:
        cache = self.__dict__.get("_fields")
        if cache is None:
            from .mapfields import FieldCache
            cache = self.__dict__["_fields"] = FieldCache(self.btf)
        return cache.of(m)

    def check_map_access(self, regno: int, reg: Reg, off: int, size: int,
                         zero_ok: bool) -> None:
        """check_map_access: within the value, and over none of its special fields."""
        self.check_mem_region(regno, reg, off, size, reg.map.value_size, zero_ok)
        fields = self.map_fields(reg.map).fields
        for f in fields:
            if reg.smin + off < f.off + f.size and f.off < reg.umax + off + size:
                self.fail(f"{f.name} cannot be accessed directly by load/store")

    # -- lddw -----------------------------------------------------------------------------
    def map_for(self, imm: int) -> Any:
        m = self.maps.get(imm)
        if m is None:
            self.fail(f"fd {imm} is not pointing to valid bpf_map")
        return m

    def check_ld_imm(self, insn: Instruction) -> None:
        if insn.off:
            self.fail("invalid BPF_LD_IMM insn")
        d = self.check_reg_dst(insn.dst)
        src = insn.src
        if src == 0:
            d.assign(scalar_const(insn.imm64))
            return
        if src in (BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX):
            d.assign(pointer(RegType.CONST_PTR_TO_MAP, map=self.map_for(insn.imm)))
            return
        if src in (BPF_PSEUDO_MAP_VALUE, BPF_PSEUDO_MAP_IDX_VALUE):
            m = self.map_for(insn.imm)
            off = insn.next_imm & 0xFFFFFFFF
            if int(m.type) != 2 or m.max_entries != 1:  # BPF_MAP_TYPE_ARRAY
                self.fail("direct value access on this map type is not supported")
            if off >= m.value_size:
                self.fail(f"invalid access to map value pointer, value_size={m.value_size} "
                          f"off={off}")
            d.assign(pointer(RegType.MAP_VALUE, map=m, off=off))
            return
        if src == BPF_PSEUDO_FUNC:
            d.assign(pointer(RegType.FUNC, subprog=self.st.insn_idx + insn.imm + 1))
            return
        if src == BPF_PSEUDO_BTF_ID:
            from .refusal import Unsupported
            raise Unsupported("pybpf verifier: ksym (BPF_PSEUDO_BTF_ID) lddw is not "
                              "supported")
        self.fail("unrecognized bpf_ld_imm64 insn")

    def check_ld_abs(self, insn: Instruction, idx: int) -> None:
        pt = self.prog_type
        if pt not in (ProgType.SOCKET_FILTER, ProgType.SCHED_CLS, ProgType.SCHED_ACT,
                      ProgType.CGROUP_SKB, ProgType.LWT_IN, ProgType.LWT_OUT,
                      ProgType.LWT_XMIT, ProgType.LWT_SEG6LOCAL, ProgType.SK_SKB):
            self.fail("BPF_LD_[ABS|IND] instructions not allowed for this program type")
        size = SIZE_BYTES.get(insn.size, 0)
        if insn.mode not in (BPF_ABS, BPF_IND) or insn.size == BPF_DW or insn.dst or \
                insn.off or (insn.mode == BPF_ABS and insn.src):
            self.fail("BPF_LD_[ABS|IND] uses reserved fields")
        r6 = self.check_reg_src(6)
        check_not_locked(self, "BPF_LD_[ABS|IND]")
        if self.st.refs:
            self.fail("BPF_LD_[ABS|IND] cannot be mixed with socket references")
        if self.st.curframe:
            pass
        if insn.mode == BPF_IND:
            self.check_reg_src(insn.src)
        if r6.type is not RegType.CTX or r6.off or not r6.var_off.equals_const(0):
            self.fail("at the time of BPF_LD_ABS|IND R6 != pointer to skb")
        for i in range(6):
            self.regs()[i].assign(Reg())
        r0 = self.regs()[0]
        r0.assign(scalar_unknown())
        coerce_to_size(r0, size)

    # -- loads and stores ---------------------------------------------------------------
    def check_ldx(self, insn: Instruction, idx: int) -> None:
        if insn.mode not in (BPF_MEM, BPF_MEMSX) or insn.imm:
            self.fail("BPF_LDX uses reserved fields")
        self.check_reg_src(insn.src)
        self.check_reg_dst(insn.dst)
        self.check_mem_access(insn.src, insn.off, SIZE_BYTES[insn.size], False, insn.dst,
                              insn.mode == BPF_MEMSX)

    def check_stx(self, insn: Instruction, idx: int) -> None:
        if insn.mode == BPF_ATOMIC:
            self.check_atomic(insn)
            return
        if insn.mode != BPF_MEM or insn.imm:
            self.fail("BPF_STX uses reserved fields")
        self.check_reg_src(insn.src)
        self.check_reg_src(insn.dst)
        self.check_mem_access(insn.dst, insn.off, SIZE_BYTES[insn.size], True, insn.src,
                              False)

    def check_st(self, insn: Instruction, idx: int) -> None:
        if insn.mode != BPF_MEM or insn.src:
            self.fail("BPF_ST uses reserved fields")
        self.check_reg_src(insn.dst)
        self.st_imm = insn.imm
        try:
            self.check_mem_access(insn.dst, insn.off, SIZE_BYTES[insn.size], True, -1, False)
        finally:
            self.st_imm = None

    def check_atomic(self, insn: Instruction) -> None:
        imm = insn.imm
        size = SIZE_BYTES[insn.size]
        if imm in (BPF_LOAD_ACQ, BPF_STORE_REL):
            from .refusal import Unsupported
            raise Unsupported("pybpf verifier: load-acquire/store-release are not supported")
        ok = {BPF_ADD, BPF_AND, BPF_OR, BPF_XOR, BPF_ADD | BPF_FETCH, BPF_AND | BPF_FETCH,
              BPF_OR | BPF_FETCH, BPF_XOR | BPF_FETCH, BPF_XCHG, BPF_CMPXCHG}
        if imm not in ok:
            self.fail(f"BPF_ATOMIC uses invalid atomic opcode {imm:02x}")
        if size not in (4, 8):
            self.fail("invalid atomic operand size")
        self.check_reg_src(insn.src)
        self.check_reg_src(insn.dst)
        if imm == BPF_CMPXCHG:
            r0 = self.check_reg_src(0)
            if self.is_pointer_value(r0):
                self.fail("R0 leaks addr into mem")
        s = self.regs()[insn.src]
        if self.is_pointer_value(s):
            self.fail(f"R{insn.src} leaks addr into mem")
        d = self.regs()[insn.dst]
        if d.type in (RegType.CTX, RegType.PACKET, RegType.PACKET_META, RegType.FLOW_KEYS) \
                or d.type in (RegType.SOCKET, RegType.SOCK_COMMON, RegType.TCP_SOCK):
            self.fail(f"BPF_ATOMIC stores into R{insn.dst} {d.type_str()} is not allowed")
        load_reg = -1
        if imm == BPF_CMPXCHG:
            load_reg = 0
        elif imm & BPF_FETCH:
            load_reg = insn.src
        # read then write, as the kernel
        self.check_mem_access(insn.dst, insn.off, size, False, load_reg if load_reg >= 0
                              else -1, False, atomic=True)
        self.check_mem_access(insn.dst, insn.off, size, True, -1, False, atomic=True)
        if load_reg >= 0:
            r = self.regs()[load_reg]
            if r.type is not RegType.SCALAR or load_reg >= 0:
                r.assign(scalar_unknown())
                if size < 8:
                    coerce_to_size(r, size)

    def check_mem_access(self, regno: int, off: int, size: int, write: bool, value_regno: int,
                         ldsx: bool, atomic: bool = False) -> None:
        regs = self.regs()
        reg = regs[regno]
        t = reg.type
        if t is RegType.STACK or atomic:
            self.check_ptr_alignment(reg, off, size)
        off += reg.off
        val = regs[value_regno] if value_regno >= 0 and write else None
        if t is RegType.MAP_VALUE and not reg.maybe_null:
            if val is not None and self.is_pointer_value(val):
                self.fail(f"R{value_regno} leaks addr into map")
            self.check_map_access_type(regno, reg, off, size, write)
            self.check_map_access(regno, reg, off, size, False)
            if not write and value_regno >= 0:
                regs[value_regno].assign(self.map_direct_read(reg, off, size))
        elif t is RegType.MAP_KEY and not reg.maybe_null:
            if write:
                self.fail(f"R{regno} cannot write into {reg.type_str()}")
            self.check_mem_region(regno, reg, off, size, reg.map.key_size, False)
            if value_regno >= 0:
                mark_unknown(regs[value_regno])
        elif t is RegType.MEM and not reg.maybe_null:
            if write and reg.rdonly:
                self.fail(f"R{regno} cannot write into {reg.type_str()}")
            if val is not None and self.is_pointer_value(val):
                self.fail(f"R{value_regno} leaks addr into mem")
            self.check_mem_region(regno, reg, off, size, reg.mem_size, False)
            if not write and value_regno >= 0:
                mark_unknown(regs[value_regno])
        elif t is RegType.CTX:
            if val is not None and self.is_pointer_value(val):
                self.fail(f"R{value_regno} leaks addr into ctx")
            self.check_ptr_off_reg(reg, regno)
            self.check_ctx_access(off, size, write, value_regno, ldsx)
        elif t is RegType.STACK:
            self.check_stack_within_bounds(regno, reg, off, size, write)
            if write:
                self.check_stack_write(reg, off, size, value_regno)
            else:
                self.check_stack_read(regno, reg, off, size, value_regno)
        elif t in (RegType.PACKET, RegType.PACKET_META):
            if write and not self.pkt_write_ok:
                self.fail("cannot write into packet")
            if val is not None and self.is_pointer_value(val):
                self.fail(f"R{value_regno} leaks addr into packet")
            self.check_packet_access(regno, reg, off, size, False)
            if not write and value_regno >= 0:
                mark_unknown(regs[value_regno])
        elif t is RegType.FLOW_KEYS:
            if val is not None and self.is_pointer_value(val):
                self.fail(f"R{value_regno} leaks addr into flow keys")
            if off < 0 or off + size > BPF_FLOW_KEYS_SIZE:
                self.fail(f"invalid access to flow keys off={off} size={size}")
            if not write and value_regno >= 0:
                mark_unknown(regs[value_regno])
        elif t in (RegType.SOCKET, RegType.SOCK_COMMON, RegType.TCP_SOCK,
                   RegType.XDP_SOCK) and not reg.maybe_null:
            if write:
                self.fail(f"R{regno} cannot write into {reg.type_str()}")
            self.check_sock_access(regno, reg, off, size)
            if value_regno >= 0:
                mark_unknown(regs[value_regno])
        elif t is RegType.BTF_ID and not reg.maybe_null:
            from .btfaccess import check_ptr_to_btf_access
            check_ptr_to_btf_access(self, regno, off, size, write, value_regno)
        elif t is RegType.CONST_PTR_TO_MAP and not reg.maybe_null:
            from .btfaccess import check_ptr_to_map_access
            check_ptr_to_map_access(self, regno, off, size, write, value_regno)
        else:
            self.fail(f"R{regno} invalid mem access '{reg.type_str()}'")
        if not write and value_regno >= 0 and size < 8 and \
                regs[value_regno].type is RegType.SCALAR:
            if ldsx:
                coerce_to_size_sx(regs[value_regno], size)
            else:
                coerce_to_size(regs[value_regno], size)

    # -- per type -----------------------------------------------------------------------
    def check_ptr_alignment(self, reg: Reg, off: int, size: int) -> None:
        """The kernel's strict alignment check (check_ptr_alignment), made for every
        stack access and, on any pointer, for atomics (strict_alignment_once); packet
        pointers are checked as if NET_IP_ALIGN were 2."""
        if size == 1:
            return
        vo = str(s64(reg.var_off.value)) if reg.var_off.is_const() else _tn(reg)
        if reg.type in (RegType.PACKET, RegType.PACKET_META):
            t = reg.var_off.add(type(reg.var_off).const(2 + reg.off + off))
            if not t.is_aligned(size):
                self.fail(f"misaligned packet access off 2+{vo}+{reg.off}+{off} size {size}")
            return
        t = reg.var_off.add(type(reg.var_off).const(reg.off + off))
        if not t.is_aligned(size):
            desc = _ALIGN_DESC.get(reg.type, "")
            self.fail(f"misaligned {desc}access off {vo}+{reg.off}+{off} size {size}")

    def check_ptr_off_reg(self, reg: Reg, regno: int, fixed_off_ok: bool = False) -> None:
        if reg.off < 0:
            self.fail(f"negative offset {reg.type_str()} ptr R{regno} off={reg.off} "
                      "disallowed")
        if not fixed_off_ok and reg.off:
            self.fail(f"dereference of modified {reg.type_str()} ptr R{regno} off={reg.off} "
                      "disallowed")
        if not reg.var_off.is_const() or reg.var_off.value:
            self.fail(f"variable {reg.type_str()} access var_off={_tn(reg)} disallowed")

    def check_ctx_access(self, off: int, size: int, write: bool, value_regno: int,
                         ldsx: bool) -> None:
        from ..progtypes.ctx import FieldKind
        spec = self.ctx_spec
        if spec is None:
            from .refusal import Unsupported
            raise Unsupported(f"pybpf verifier: no context model for program type "
                              f"{getattr(self.prog_type, 'name', self.prog_type)}")
        try:
            f = spec.check(off, size, write, ldsx=ldsx)
        except ValueError:
            self.fail(f"invalid bpf_context access off={off} size={size}")
        if write or value_regno < 0:
            return
        r = self.regs()[value_regno]
        kind = f.kind
        if kind is FieldKind.PACKET:
            r.assign(pointer(RegType.PACKET))
        elif kind is FieldKind.PACKET_END:
            r.assign(pointer(RegType.PACKET_END))
        elif kind is FieldKind.PACKET_META:
            r.assign(pointer(RegType.PACKET_META))
        elif kind is FieldKind.POINTER:
            if f.name == "flow_keys":
                r.assign(pointer(RegType.FLOW_KEYS))
            elif spec.struct == "struct sk_msg_md":  # msg->sk: never NULL
                r.assign(pointer(RegType.SOCKET))
            elif spec.struct == "struct bpf_sk_lookup":
                r.assign(pointer(RegType.SOCKET, maybe_null=True, id=self.new_id()))
            else:  # skb->sk
                r.assign(pointer(RegType.SOCK_COMMON, maybe_null=True, id=self.new_id()))
        elif kind is FieldKind.SOCKET:
            r.assign(pointer(RegType.SOCKET))
        elif kind is FieldKind.SOCKET_OR_NULL:
            r.assign(pointer(RegType.SOCKET, maybe_null=True, id=self.new_id()))
        elif kind is FieldKind.FLOW_KEYS:
            r.assign(pointer(RegType.FLOW_KEYS))
        elif kind is FieldKind.BTF_ID:
            r.assign(pointer(RegType.BTF_ID, btf_name=f.btf_struct))
        else:
            mark_unknown(r)

    def check_sock_access(self, regno: int, reg: Reg, off: int, size: int) -> None:
        if reg.smin < 0:
            self.fail(f"R{regno} min value is negative, either use unsigned index or do a "
                      "if (index >=0) check.")
        if reg.type is RegType.XDP_SOCK:  # bpf_xdp_sock_is_valid_access: queue_id
            ok = off == 0 and size == 4
        elif reg.type is RegType.TCP_SOCK:  # struct bpf_tcp_sock: u32s, two u64 at 80, 88
            ok = 0 <= off < BPF_TCP_SOCK_SIZE and off % size == 0 and \
                size == (8 if off in (80, 88) else 4)
        else:
            from ..progtypes.contexts.sock import bpf_sock_spec
            spec = bpf_sock_spec(full=reg.type is not RegType.SOCK_COMMON)
            try:
                spec.check(off, size, False)
                ok = True
            except ValueError:
                ok = False
        if not ok:
            self.fail(f"R{regno} invalid {reg.type_str()} access off={off} size={size}")

    def check_map_access_type(self, regno: int, reg: Reg, off: int, size: int,
                              write: bool) -> None:
        flags = int(reg.map.flags or 0)
        tot = off + reg.umax
        if write and flags & BPF_F_RDONLY_PROG:
            self.fail(f"write into map forbidden, value_size={reg.map.value_size} "
                      f"off={tot} size={size}")
        if not write and flags & BPF_F_WRONLY_PROG:
            self.fail(f"read from map forbidden, value_size={reg.map.value_size} "
                      f"off={tot} size={size}")

    def _mem_err(self, regno: int, reg: Reg, off: int, size: int, mem_size: int) -> str:
        t = reg.type
        if t is RegType.MAP_KEY:
            return f"invalid access to map key, key_size={mem_size} off={off} size={size}"
        if t is RegType.MAP_VALUE:
            return f"invalid access to map value, value_size={mem_size} off={off} size={size}"
        if t in (RegType.PACKET, RegType.PACKET_META, RegType.PACKET_END):
            return (f"invalid access to packet, off={off} size={size}, "
                    f"R{regno}(id={reg.id},off={off},r={mem_size})")
        return f"invalid access to memory, mem_size={mem_size} off={off} size={size}"

    def _mem_ok(self, off: int, size: int, mem_size: int, zero_ok: bool) -> bool:
        size_ok = size > 0 or (size == 0 and zero_ok)
        return off >= 0 and size_ok and off + size <= mem_size

    def check_mem_region(self, regno: int, reg: Reg, off: int, size: int, mem_size: int,
                         zero_ok: bool) -> None:
        if reg.smin < 0 and (reg.smin == -(1 << 63) or not
                             -(1 << 31) <= off + reg.smin < (1 << 31) or reg.smin + off < 0):
            self.fail(f"R{regno} min value is negative, either use unsigned index or do a "
                      "if (index >=0) check.")
        lo = reg.smin + off
        if not self._mem_ok(lo, size, mem_size, zero_ok):
            self.fail(self._mem_err(regno, reg, lo, size, mem_size),
                      f"R{regno} min value is outside of the allowed memory range")
        if reg.umax >= BPF_MAX_VAR_OFF:
            self.fail(f"R{regno} unbounded memory access, make sure to bounds check any "
                      "such access")
        hi = reg.umax + off
        if not self._mem_ok(hi, size, mem_size, zero_ok):
            self.fail(self._mem_err(regno, reg, hi, size, mem_size),
                      f"R{regno} max value is outside of the allowed memory range")

    def check_packet_access(self, regno: int, reg: Reg, off: int, size: int,
                            zero_ok: bool) -> None:
        if reg.smin < 0:
            self.fail(f"R{regno} min value is negative, either use unsigned index or do a "
                      "if (index >=0) check.")
        if reg.range < 0 or not self._mem_ok(off, size, reg.range, zero_ok):
            self.fail(self._mem_err(regno, reg, off, size, reg.range),
                      f"R{regno} offset is outside of the packet")

    def map_direct_read(self, reg: Reg, off: int, size: int) -> Reg:
        """A load from a map value: a constant when the map is read-only to programs,
        frozen and the offset known (bpf_map_direct_read), else unknown. A value the
        spec leaves out is zeros, as the kernel's array is."""
        m = reg.map
        if int(m.flags or 0) & BPF_F_RDONLY_PROG and getattr(m, "freeze", False) and \
                reg.var_off.is_const() and int(m.type) == 2:
            data = bytes(m.value_size)
            for k, v in m.contents:
                kk = int.from_bytes(k, "little") if isinstance(k, (bytes, bytearray)) else k
                if kk == 0 and isinstance(v, (bytes, bytearray)):
                    data = bytes(v)
            o = off + reg.var_off.value
            if data and o + size <= len(data):
                return scalar_const(int.from_bytes(data[o:o + size], "little"))
        return scalar_unknown()

    # -- the stack ----------------------------------------------------------------------
    def stack_frame(self, reg: Reg):
        return self.st.frames[reg.frameno]

    def check_stack_within_bounds(self, regno: int, reg: Reg, off: int, size: int,
                                  write: bool, helper: bool = False) -> None:
        extra = " write to" if write else " read from"
        if reg.var_off.is_const():
            lo = s64(reg.var_off.value) + off
            hi = lo + size
        else:
            if reg.smax >= BPF_MAX_VAR_OFF or reg.smin <= -BPF_MAX_VAR_OFF:
                self.fail(f"invalid unbounded variable-offset{extra} stack R{regno}")
            lo = reg.smin + off
            hi = reg.smax + off + size
        f = self.stack_frame(reg)
        min_valid = -MAX_BPF_STACK if (write or self.allow_uninit_stack) else -f.allocated
        err = lo < min_valid or lo > -1 or hi > 0 or size < 0
        if err:
            if reg.var_off.is_const():
                self.fail(f"invalid{extra} stack R{regno} off={off} size={size}")
            self.fail(f"invalid variable-offset{extra} stack R{regno} var_off={_tn(reg)} "
                      f"off={off} size={size}")
        f.grow(-lo)
        self.note_stack_depth(f, -lo)

    def note_stack_depth(self, f, depth: int) -> None:
        cur = self.subprog_stack_depth.get(f.subprog, 0)
        if depth > cur:
            self.subprog_stack_depth[f.subprog] = depth

    def check_stack_write(self, reg: Reg, off: int, size: int, value_regno: int) -> None:
        f = self.stack_frame(reg)
        cur = self.st.cur
        if not reg.var_off.is_const():
            self.check_stack_write_var(reg, off, size, value_regno)
            return
        off = off + s64(reg.var_off.value)
        spi = (-off - 1) // 8
        self.scratched_slots.add(spi)
        sp = f.spilled(spi)
        if not self.allow_ptr_leaks and sp is not None and sp.type is not RegType.SCALAR \
                and size != 8:
            self.fail("attempt to corrupt spilled pointer on stack")
        vreg = cur.regs[value_regno] if value_regno >= 0 else None
        st_imm = getattr(self, "st_imm", None)
        if vreg is not None and off % 8 == 0 and vreg.type is RegType.SCALAR and \
                self.bpf_capable:
            fits = _reg_width(vreg) <= 8 * size
            if fits and not vreg.id and not vreg.var_off.is_const():
                vreg.id = self.new_id()
            self.save_register_state(f, spi, vreg, size)
            if not fits:
                f.spills[spi].id = 0
            self.push_hist(f.frameno, spi)
        elif vreg is None and off % 8 == 0 and st_imm is not None and self.bpf_capable:
            self.save_register_state(f, spi, scalar_const(st_imm), size)
            self.push_hist(f.frameno, spi)
        elif vreg is not None and vreg.is_pointer:
            if size != 8:
                self.fail("invalid size of register spill")
            if f is not cur and vreg.type is RegType.STACK:
                self.fail("cannot spill pointers to stack into stack frame of the caller")
            self.save_register_state(f, spi, vreg, size)
            self.push_hist(f.frameno, spi)
        else:
            kind = Slot.MISC
            f.spills.pop(spi, None)
            if any(f.stack[spi * 8 + j] == Slot.SPILL for j in range(8)):
                for j in range(8):
                    if f.stack[spi * 8 + j] != Slot.INVALID:
                        f.stack[spi * 8 + j] = Slot.MISC
            if (vreg is not None and vreg.type is RegType.SCALAR and
                    vreg.var_off.equals_const(0)) or (vreg is None and st_imm == 0):
                kind = Slot.ZERO
                if vreg is not None:
                    self.mark_precise(value_regno)  # STACK_ZERO relies on the value
            for i in range(size):
                f.stack[-(off + i) - 1] = kind

    def save_register_state(self, f, spi: int, reg: Reg, size: int) -> None:
        f.spills[spi] = reg.copy()
        for j in range(7, 7 - size, -1):
            f.stack[spi * 8 + j] = Slot.SPILL
        for j in range(8 - size - 1, -1, -1):
            if f.stack[spi * 8 + j] not in (Slot.ZERO, Slot.INVALID):
                f.stack[spi * 8 + j] = Slot.MISC

    def check_stack_write_var(self, reg: Reg, off: int, size: int, value_regno: int) -> None:
        f = self.stack_frame(reg)
        vreg = self.regs()[value_regno] if value_regno >= 0 else None
        st_imm = getattr(self, "st_imm", None)
        zero = (vreg is not None and vreg.type is RegType.SCALAR and
                vreg.var_off.equals_const(0)) or (vreg is None and st_imm == 0)
        lo = reg.smin + off
        hi = reg.smax + off + size
        if zero and vreg is not None:
            self.mark_precise(value_regno)  # zeros kept in the range rely on the value
        for i in range(lo, hi):
            k = -i - 1
            spi = k // 8
            kind = f.stack[k]
            if not self.allow_ptr_leaks and kind not in (Slot.MISC, Slot.ZERO):
                self.fail(f"spilled ptr in range of var-offset stack write; insn "
                          f"{self.st.insn_idx}, ptr off: {i}")
            sp = f.spilled(spi)
            if zero and kind == Slot.SPILL and sp is not None and \
                    sp.type is RegType.SCALAR and sp.var_off.equals_const(0):
                continue
            f.spills.pop(spi, None)
            new = Slot.ZERO if zero and kind == Slot.ZERO else Slot.MISC
            if kind == Slot.INVALID and not self.allow_uninit_stack:
                self.fail(f"uninit stack in range of var-offset write prohibited for !root; "
                          f"insn {self.st.insn_idx}, off: {i}")
            f.stack[k] = new
        if vreg is not None and vreg.is_pointer and self.is_pointer_value(vreg):
            pass

    def check_stack_read(self, regno: int, reg: Reg, off: int, size: int,
                         dst: int) -> None:
        f = self.stack_frame(reg)
        if not reg.var_off.is_const():
            lo = reg.smin + off
            hi = reg.smax + off + size
            zeros = 0
            for i in range(lo, hi):
                kind = f.stack[-i - 1]
                if kind == Slot.ZERO:
                    zeros += 1
                if kind == Slot.INVALID and self.allow_uninit_stack:
                    continue
                if kind == Slot.INVALID or (kind == Slot.SPILL and not (
                        f.spilled((-i - 1) // 8) is not None and
                        f.spilled((-i - 1) // 8).type is RegType.SCALAR) and
                        not self.allow_ptr_leaks):
                    self.fail(f"invalid variable-offset read from stack R{regno} "
                              f"var_off={_tn(reg)} off={off} size={size}")
            if dst >= 0:
                r = self.regs()[dst]
                if zeros == hi - lo:
                    r.assign(scalar_const(0))
                else:
                    r.assign(scalar_unknown())
            return
        off = off + s64(reg.var_off.value)
        spi = (-off - 1) // 8
        self.scratched_slots.add(spi)
        kinds = [f.stack[spi * 8 + j] for j in range(8)]
        sp = f.spilled(spi)
        regs = self.regs()
        if sp is not None:
            spill_size = 1
            i = 7
            while i > 0 and kinds[i - 1] == Slot.SPILL:
                spill_size += 1
                i -= 1
            if size != 8 or spill_size != 8:
                if sp.type is not RegType.SCALAR:
                    self.fail("invalid size of register fill")
                if dst < 0:
                    return
                if size <= spill_size and off % 8 == 0:
                    regs[dst].assign(sp)
                    if _reg_width(sp) > size * 8:
                        regs[dst].id = 0
                    self.push_hist(f.frameno, spi)
                else:
                    spill_cnt = zero_cnt = 0
                    for i in range(size):
                        kind = f.stack[-(off + i) - 1]
                        if kind == Slot.SPILL:
                            spill_cnt += 1
                        elif kind == Slot.MISC:
                            pass
                        elif kind == Slot.ZERO:
                            zero_cnt += 1
                        elif kind == Slot.INVALID and self.allow_uninit_stack:
                            pass
                        else:
                            self.fail(f"invalid read from stack off {off}+{i} size {size}")
                    if spill_cnt == size and sp.var_off.equals_const(0):
                        regs[dst].assign(scalar_const(0))
                        self.push_hist(f.frameno, spi)  # a fill of the spilled zero
                    elif zero_cnt == size:
                        regs[dst].assign(scalar_const(0))
                    else:
                        regs[dst].assign(scalar_unknown())
                return
            if dst >= 0:
                if self.bpf_capable and sp.type is RegType.SCALAR and not sp.id and \
                        not sp.var_off.is_const():
                    sp.id = self.new_id()
                regs[dst].assign(sp)
            elif sp.is_pointer and not self.allow_ptr_leaks:
                self.fail(f"leaking pointer from stack off {off}")
            self.push_hist(f.frameno, spi)
            return
        zeros = 0
        for i in range(size):
            kind = f.stack[-(off + i) - 1]
            if kind == Slot.MISC:
                continue
            if kind == Slot.ZERO:
                zeros += 1
                continue
            if kind == Slot.INVALID and self.allow_uninit_stack:
                continue
            self.fail(f"invalid read from stack off {off}+{i} size {size}")
        if dst >= 0:
            regs[dst].assign(scalar_const(0) if zeros == size else scalar_unknown())

    def check_stack_range_initialized(self, regno: int, reg: Reg, off: int, size: int,
                                      zero_ok: bool, write: bool, raw: bool) -> None:
        """check_stack_range_initialized: a helper reads (or writes) [off, off+size)."""
        if size == 0 and not zero_ok:
            self.fail("invalid zero-sized read")
        self.check_stack_within_bounds(regno, reg, off, size, True, helper=True) \
            if write or raw else self.check_stack_within_bounds(regno, reg, off, size,
                                                                False, helper=True)
        f = self.stack_frame(reg)
        if reg.var_off.is_const():
            lo = hi = s64(reg.var_off.value) + off
        else:
            if not self.bypass_spec_v1:
                self.fail(f"R{regno} variable offset stack access prohibited for !root, "
                          f"var_off={_tn(reg)}")
            raw = False
            lo = reg.smin + off
            hi = reg.smax + off
        if raw:
            for i in range(size):
                k = -(lo + i) - 1
                spi = k // 8
                if f.stack[spi * 8 + 7] == Slot.SPILL:
                    f.spills.pop(spi, None)
                    for j in range(8):
                        if f.stack[spi * 8 + j] != Slot.INVALID:
                            f.stack[spi * 8 + j] = Slot.MISC
                f.stack[k] = Slot.MISC
            return
        for i in range(lo, hi + size):
            k = -i - 1
            spi = k // 8
            kind = f.stack[k]
            if kind == Slot.MISC:
                continue
            if kind == Slot.ZERO or (kind == Slot.INVALID and self.allow_uninit_stack):
                if write:
                    f.stack[k] = Slot.MISC
                continue
            sp = f.spilled(spi)
            if sp is not None and (sp.type is RegType.SCALAR or self.allow_ptr_leaks):
                if write:
                    mark_unknown(sp)
                    for j in range(8):
                        if f.stack[spi * 8 + j] != Slot.INVALID:
                            f.stack[spi * 8 + j] = Slot.MISC
                    f.spills.pop(spi, None)
                continue
            if reg.var_off.is_const():
                self.fail(f"invalid read from stack R{regno} off {lo}+{i - lo} size {size}")
            self.fail(f"invalid read from stack R{regno} var_off {_tn(reg)}+{i - lo} "
                      f"size {size}")


def _reg_width(r: Reg) -> int:
    """get_reg_width: fls64(umax)."""
    return r.umax.bit_length()
