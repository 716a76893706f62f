"""Conditional jumps (check_cond_jmp and the kernel's branch helpers): which way a
branch goes, bounds refined on both branches, packet ranges from data_end comparisons,
null checks that clear every copy of a pointer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..isa import (BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JLE, BPF_JLT, BPF_JMP32, BPF_JNE, BPF_JSET,
                   BPF_JSGE, BPF_JSGT, BPF_JSLE, BPF_JSLT, BPF_X, Instruction)
from .consts import _FLIP, _REV, MAX_PACKET_OFF
from .precision import linked_regs
from .reg import (M32, U64_MAX, Reg, RegType, bounds_sane, bounds_sync, mark_unknown, s32, s64,
                  scalar_const, shared_const, zext_32_to_64)
from .state import VState
from .tnum import Tnum


class BranchMixin:
    """The Verifier's conditional-jump rules (a mixin, as MemMixin and CallsMixin)."""

    if TYPE_CHECKING:  # the Verifier's state and methods, which this half reads
        def __getattr__(self, name: str) -> Any: ...

    # -- conditional jumps ----------------------------------------------------------------
    def check_cond_jmp(self, insn: Instruction) -> int:
        """Returns the next insn index of this path (pushing the other branch)."""
        st = self.st
        pc = st.insn_idx
        op = insn.op
        jmp32 = insn.cls == BPF_JMP32
        regs = self.regs()
        d = self.check_reg_src(insn.dst)
        if insn.source == BPF_X:
            if insn.imm:
                self.fail("BPF_JMP/JMP32 uses reserved fields")
            s = self.check_reg_src(insn.src)
            if not (_is_pkt_any(d) and _is_pkt_any(s)) and self.is_pointer_value(s):
                self.fail(f"R{insn.src} pointer comparison prohibited")
        else:
            if insn.src:
                self.fail("BPF_JMP/JMP32 uses reserved fields")
            s = shared_const(insn.imm)  # read only: copied where refined
        pred = is_branch_taken(d, s, op, jmp32)
        target = pc + insn.off + 1
        if pred >= 0:
            # the branch is decided by the values: they must be precise
            if d.type is RegType.SCALAR:
                self.mark_precise(insn.dst)
            if insn.source == BPF_X and s.type is RegType.SCALAR:
                self.mark_precise(insn.src)
        if pred >= 0 and not self.bypass_spec_v1:
            # sanitize_speculative_path: the CPU may speculate the other way
            spec = self.push_stack(pc + 1 if pred == 1 else target, pc)
            spec.speculative = True
            sregs = spec.cur.regs
            mark_unknown(sregs[insn.dst])
            if insn.source == BPF_X:
                mark_unknown(sregs[insn.src])
        if pred == 1:
            if self.log_level:
                self.print_state(st)
            st.path = (pc, True, st.path)
            return target
        if pred == 0:
            if self.log_level:
                self.print_state(st)
            st.path = (pc, False, st.path)
            return pc + 1
        if self.bpf_capable:
            ids = []
            if insn.source == BPF_X and s.type is RegType.SCALAR and s.id:
                ids.append(s.id)
            if d.type is RegType.SCALAR and d.id:
                ids.append(d.id)
            linked = linked_regs(self, st, ids) if ids else ()
            if linked:
                self.push_hist(linked=linked)
        other = self.push_stack(target, pc)
        other.path = (pc, True, st.path)
        st.path = (pc, False, st.path)
        oregs = other.cur.regs
        if insn.source == BPF_X:
            od, os_ = oregs[insn.dst], oregs[insn.src]
            ok_t, ok_f = reg_set_min_max(od, os_, d, s, op, jmp32)
        else:
            od = oregs[insn.dst]
            ok_t, ok_f = reg_set_min_max(od, s.copy(), d, s.copy(), op, jmp32)
        if insn.source == BPF_X and s.type is RegType.SCALAR and s.id:
            sync_linked_regs(st, s)
            sync_linked_regs(other, oregs[insn.src])
        if d.type is RegType.SCALAR and d.id:
            sync_linked_regs(st, d)
            sync_linked_regs(other, oregs[insn.dst])
        if not jmp32 and insn.source == BPF_X and d.is_pointer and s.is_pointer and \
                s.maybe_null != d.maybe_null and s.type is not RegType.BTF_ID and \
                d.type is not RegType.BTF_ID:
            eq = oregs if op == BPF_JEQ else regs if op == BPF_JNE else None
            if eq is not None:
                if s.maybe_null:
                    eq[insn.src].maybe_null = False
                else:
                    eq[insn.dst].maybe_null = False
        if not jmp32 and insn.source != BPF_X and insn.imm == 0 and op in (BPF_JEQ, BPF_JNE) \
                and d.maybe_null:
            mark_ptr_or_null_regs(st, insn.dst, op == BPF_JNE, self)
            mark_ptr_or_null_regs(other, insn.dst, op == BPF_JEQ, self)
        elif not self.try_match_pkt_pointers(insn, d, regs[insn.src], st, other) and \
                self.is_pointer_value(d):
            self.fail(f"R{insn.dst} pointer comparison prohibited")
        if not ok_t:
            other.dead = True
        if not (ok_t and ok_f):
            # a branch found impossible from the ranges relies on them being precise
            if d.type is RegType.SCALAR:
                self.mark_precise(insn.dst)
            if insn.source == BPF_X and regs[insn.src].type is RegType.SCALAR:
                self.mark_precise(insn.src)
        self.after_branch_print()
        if not ok_f:
            return -1
        return pc + 1

    def after_branch_print(self) -> None:
        if self.log_level:
            self.print_state(self.st)

    def try_match_pkt_pointers(self, insn: Instruction, d: Reg, s: Reg, this: VState,
                               other: VState) -> bool:
        if insn.source != BPF_X or insn.cls == BPF_JMP32:
            return False
        op = insn.op
        P, M, E = RegType.PACKET, RegType.PACKET_META, RegType.PACKET_END

        def init_pkt(r: Reg) -> bool:
            return r.type is P and r.off == 0 and r.var_off.equals_const(0)
        fwd = (d.type is P and s.type is E) or (d.type is M and init_pkt(s))
        rev = (d.type is E and s.type is P) or (init_pkt(d) and s.type is M)
        if op == BPF_JGT:
            if fwd:
                find_good_pkt_pointers(this, d, d.type, False)
            elif rev:
                find_good_pkt_pointers(other, s, s.type, True)
            else:
                return False
        elif op == BPF_JLT:
            if fwd:
                find_good_pkt_pointers(other, d, d.type, True)
            elif rev:
                find_good_pkt_pointers(this, s, s.type, False)
            else:
                return False
        elif op == BPF_JGE:
            if fwd:
                find_good_pkt_pointers(this, d, d.type, True)
            elif rev:
                find_good_pkt_pointers(other, s, s.type, False)
            else:
                return False
        elif op == BPF_JLE:
            if fwd:
                find_good_pkt_pointers(other, d, d.type, False)
            elif rev:
                find_good_pkt_pointers(this, s, s.type, True)
            else:
                return False
        else:
            return False
        return True


# --- branch helpers (module level: pure functions of register states) ---------------------

def _is_pkt_any(reg: Reg) -> bool:
    return reg.type in (RegType.PACKET, RegType.PACKET_META, RegType.PACKET_END)


def _is_const(r: Reg, jmp32: bool) -> bool:
    return r.type is RegType.SCALAR and (r.var_off.subreg_is_const() if jmp32
                                         else r.var_off.is_const())


def _const_val(r: Reg, jmp32: bool) -> int:
    return r.var_off.value & M32 if jmp32 else r.var_off.value


def is_scalar_branch_taken(r1: Reg, r2: Reg, op: int, jmp32: bool) -> int:
    if jmp32:
        t1, t2 = r1.var_off.subreg(), r2.var_off.subreg()
        umin1, umax1, smin1, smax1 = r1.u32_min, r1.u32_max, r1.s32_min, r1.s32_max
        umin2, umax2, smin2, smax2 = r2.u32_min, r2.u32_max, r2.s32_min, r2.s32_max
    else:
        t1, t2 = r1.var_off, r2.var_off
        umin1, umax1, smin1, smax1 = r1.umin, r1.umax, r1.smin, r1.smax
        umin2, umax2, smin2, smax2 = r2.umin, r2.umax, r2.smin, r2.smax
    if op in (BPF_JEQ, BPF_JNE):
        eq = op == BPF_JEQ
        if t1.is_const() and t2.is_const():
            return int((t1.value == t2.value) == eq)
        if (t1.value ^ t2.value) & ~(t1.mask | t2.mask):
            return int(not eq)
        if umin1 > umax2 or umax1 < umin2 or smin1 > smax2 or smax1 < smin2:
            return int(not eq)
        if not jmp32:
            if r1.u32_min > r2.u32_max or r1.u32_max < r2.u32_min or \
                    r1.s32_min > r2.s32_max or r1.s32_max < r2.s32_min:
                return int(not eq)
        return -1
    if op == BPF_JSET:
        if not _is_const(r2, jmp32):
            r1, r2, t1, t2 = r2, r1, t2, t1
        if not _is_const(r2, jmp32):
            return -1
        if (~t1.mask & t1.value) & t2.value:
            return 1
        if not ((t1.mask | t1.value) & t2.value):
            return 0
        return -1
    if op == BPF_JGT:
        return 1 if umin1 > umax2 else 0 if umax1 <= umin2 else -1
    if op == BPF_JSGT:
        return 1 if smin1 > smax2 else 0 if smax1 <= smin2 else -1
    if op == BPF_JLT:
        return 1 if umax1 < umin2 else 0 if umin1 >= umax2 else -1
    if op == BPF_JSLT:
        return 1 if smax1 < smin2 else 0 if smin1 >= smax2 else -1
    if op == BPF_JGE:
        return 1 if umin1 >= umax2 else 0 if umax1 < umin2 else -1
    if op == BPF_JSGE:
        return 1 if smin1 >= smax2 else 0 if smax1 < smin2 else -1
    if op == BPF_JLE:
        return 1 if umax1 <= umin2 else 0 if umin1 > umax2 else -1
    if op == BPF_JSLE:
        return 1 if smax1 <= smin2 else 0 if smin1 > smax2 else -1
    return -1


_NOT_NULL_TYPES = frozenset({RegType.SOCKET, RegType.TCP_SOCK, RegType.MAP_VALUE,
                             RegType.MAP_KEY, RegType.SOCK_COMMON, RegType.MEM,
                             RegType.CONST_PTR_TO_MAP})


def reg_not_null(r: Reg) -> bool:
    """The kernel's reg_not_null: pointer types it knows are never NULL. ctx, stack and
    packet pointers are not among them, so a null test of one is not pruned and, without
    allow_ptr_leaks, is a refused pointer comparison."""
    if not r.is_pointer or r.maybe_null:
        return False
    if r.type is RegType.BTF_ID:  # only a trusted (here: referenced) BTF pointer
        return bool(r.ref_obj_id)
    return r.type in _NOT_NULL_TYPES


def is_branch_taken(r1: Reg, r2: Reg, op: int, jmp32: bool) -> int:
    t1, t2 = r1.type, r2.type
    if t1 is RegType.SCALAR and t2 is RegType.SCALAR:  # the common case: two numbers
        return is_scalar_branch_taken(r1, r2, op, jmp32)
    if _is_pkt_any(r1) and _is_pkt_any(r2) and not jmp32:
        return -1
    if r1.is_pointer or r2.is_pointer:
        if not _is_const(r2, jmp32):
            op = _FLIP.get(op, op)
            r1, r2 = r2, r1
        if not _is_const(r2, jmp32):
            return -1
        if not reg_not_null(r1):
            return -1
        if _const_val(r2, jmp32) != 0:
            return -1
        return {BPF_JEQ: 0, BPF_JNE: 1}.get(op, -1)
    return is_scalar_branch_taken(r1, r2, op, jmp32)


def regs_refine_cond_op(r1: Reg, r2: Reg, op: int, jmp32: bool) -> None:
    if op in (BPF_JGE, BPF_JGT, BPF_JSGE, BPF_JSGT):
        op = _FLIP[op]
        r1, r2 = r2, r1
    if op == BPF_JEQ:
        if jmp32:
            r1.u32_min = max(r1.u32_min, r2.u32_min)
            r1.u32_max = min(r1.u32_max, r2.u32_max)
            r1.s32_min = max(r1.s32_min, r2.s32_min)
            r1.s32_max = min(r1.s32_max, r2.s32_max)
            r2.u32_min, r2.u32_max, r2.s32_min, r2.s32_max = \
                r1.u32_min, r1.u32_max, r1.s32_min, r1.s32_max
            t = r1.var_off.subreg().intersect(r2.var_off.subreg())
            r1.var_off = r1.var_off.with_subreg(t)
            r2.var_off = r2.var_off.with_subreg(t)
        else:
            r1.umin = max(r1.umin, r2.umin)
            r1.umax = min(r1.umax, r2.umax)
            r1.smin = max(r1.smin, r2.smin)
            r1.smax = min(r1.smax, r2.smax)
            r2.umin, r2.umax, r2.smin, r2.smax = r1.umin, r1.umax, r1.smin, r1.smax
            r1.var_off = r1.var_off.intersect(r2.var_off)
            r2.var_off = r1.var_off
    elif op == BPF_JNE:
        if not _is_const(r2, jmp32):
            r1, r2 = r2, r1
        if not _is_const(r2, jmp32):
            return
        val = _const_val(r2, jmp32)
        if jmp32:
            if r1.u32_min == val & M32:
                r1.u32_min += 1
            if r1.u32_max == val & M32:
                r1.u32_max -= 1
            if r1.s32_min == s32(val):
                r1.s32_min += 1
            if r1.s32_max == s32(val):
                r1.s32_max -= 1
        else:
            if r1.umin == val:
                r1.umin += 1
            if r1.umax == val:
                r1.umax -= 1
            if r1.smin == s64(val):
                r1.smin += 1
            if r1.smax == s64(val):
                r1.smax -= 1
    elif op == BPF_JSET:
        if not _is_const(r2, jmp32):
            r1, r2 = r2, r1
        if not _is_const(r2, jmp32):
            return
        val = _const_val(r2, jmp32)
        if not val or val & (val - 1):
            return
        if jmp32:
            t = r1.var_off.subreg().or_(Tnum.const(val))
            r1.var_off = r1.var_off.with_subreg(t)
        else:
            r1.var_off = r1.var_off.or_(Tnum.const(val))
    elif op == BPF_JSET | BPF_X:
        if not _is_const(r2, jmp32):
            r1, r2 = r2, r1
        if not _is_const(r2, jmp32):
            return
        val = _const_val(r2, jmp32)
        if jmp32:
            t = r1.var_off.subreg().and_(Tnum.const(~val & M32))
            r1.var_off = r1.var_off.with_subreg(t)
        else:
            r1.var_off = r1.var_off.and_(Tnum.const(~val & U64_MAX))
    elif op == BPF_JLE:
        if jmp32:
            r1.u32_max = min(r1.u32_max, r2.u32_max)
            r2.u32_min = max(r1.u32_min, r2.u32_min)
        else:
            r1.umax = min(r1.umax, r2.umax)
            r2.umin = max(r1.umin, r2.umin)
    elif op == BPF_JLT:
        if jmp32:
            r1.u32_max = min(r1.u32_max, (r2.u32_max - 1) & M32)
            r2.u32_min = max((r1.u32_min + 1) & M32, r2.u32_min)
        else:
            r1.umax = min(r1.umax, (r2.umax - 1) & U64_MAX)
            r2.umin = max((r1.umin + 1) & U64_MAX, r2.umin)
    elif op == BPF_JSLE:
        if jmp32:
            r1.s32_max = min(r1.s32_max, r2.s32_max)
            r2.s32_min = max(r1.s32_min, r2.s32_min)
        else:
            r1.smax = min(r1.smax, r2.smax)
            r2.smin = max(r1.smin, r2.smin)
    elif op == BPF_JSLT:
        if jmp32:
            r1.s32_max = min(r1.s32_max, s32(r2.s32_max - 1))
            r2.s32_min = max(s32(r1.s32_min + 1), r2.s32_min)
        else:
            r1.smax = min(r1.smax, s64(r2.smax - 1))
            r2.smin = max(s64(r1.smin + 1), r2.smin)


def reg_set_min_max(t1: Reg, t2: Reg, f1: Reg, f2: Reg, op: int,
                    jmp32: bool) -> tuple[bool, bool]:
    """Refine both branches; returns (true branch possible, false branch possible)."""
    if f1.type is not RegType.SCALAR or f2.type is not RegType.SCALAR:
        return True, True
    regs_refine_cond_op(f1, f2, _REV[op], jmp32)
    bounds_sync(f1)
    bounds_sync(f2)
    regs_refine_cond_op(t1, t2, op, jmp32)
    bounds_sync(t1)
    bounds_sync(t2)
    return (bounds_sane(t1) and bounds_sane(t2)), (bounds_sane(f1) and bounds_sane(f2))


ADD_CONST64 = 1 << 31
ADD_CONST32 = 1 << 30
ADD_CONST = ADD_CONST64 | ADD_CONST32


def sync_linked_regs(st: VState, known: Reg) -> None:
    """Copy the refined bounds of `known` to the scalars tied to it (same id), adding
    the constant deltas of BPF_ADD_CONST links."""
    from .alu import _add
    base = known.id & ~ADD_CONST
    for r in st.all_regs():
        if r is known or r.type is not RegType.SCALAR or (r.id & ~ADD_CONST) != base:
            continue
        kf, rf = known.id & ADD_CONST, r.id & ADD_CONST
        if (not kf and not rf) or (r.off == known.off and kf == rf):
            rid, roff = r.id, r.off
            r.assign(known)
            r.id, r.off = rid, roff
            continue
        if kf and rf and kf != rf:
            continue
        is32 = bool((kf | rf) & ADD_CONST32)
        rid, roff = r.id, r.off
        r.assign(known)
        r.id, r.off = rid, roff
        delta = scalar_const(roff - known.off)
        _add(r, delta)
        if is32:
            zext_32_to_64(r)
        bounds_sync(r)


def mark_ptr_or_null_regs(st: VState, regno: int, is_null: bool, v: Any) -> None:
    reg = st.cur.regs[regno]
    rid, ref = reg.id, reg.ref_obj_id
    if ref and ref == rid and is_null:
        st.refs = [r for r in st.refs if r.id != rid]
    for r in st.all_regs():
        if r.maybe_null and r.id == rid and rid:
            if is_null:
                r.assign(scalar_const(0))
            else:
                r.maybe_null = False
                if r.type is RegType.MAP_VALUE and int(r.map.type) in (15, 17, 18):
                    # a sockmap/sockhash value is the socket, an xskmap's the xdp socket
                    r.type = RegType.XDP_SOCK if int(r.map.type) == 17 else RegType.SOCKET
                # the id stays on a value that holds a bpf_spin_lock: its unlock must
                # name the same value (reg_may_point_to_spin_lock)
                if not (r.type is RegType.MAP_VALUE and
                        v.map_fields(r.map).has("bpf_spin_lock")):
                    r.id = 0
                if r.type is RegType.MAP_VALUE:
                    _map_value_not_null(r)


def _map_value_not_null(r: Reg) -> None:
    """mark_ptr_or_null_reg: a checked lookup result of a map-in-map is the inner map, of
    an xskmap an xdp_sock, of a sockmap or sockhash a socket."""
    m = r.map
    mt = int(m.type) if m is not None else 0
    if mt in (12, 13) and getattr(m, "inner", None) is not None:  # ARRAY/HASH_OF_MAPS
        r.type, r.map = RegType.CONST_PTR_TO_MAP, m.inner
    elif mt == 17:  # XSKMAP
        r.type, r.map = RegType.XDP_SOCK, None
    elif mt in (15, 18):  # SOCKMAP, SOCKHASH
        r.type, r.map = RegType.SOCKET, None


def find_good_pkt_pointers(st: VState, d: Reg, t: RegType, right_open: bool) -> None:
    if d.off < 0 or (d.off == 0 and right_open):
        return
    if d.umax > MAX_PACKET_OFF or d.umax + d.off > MAX_PACKET_OFF:
        return
    new_range = d.off + (1 if right_open else 0)
    for r in st.all_regs():
        if r.type is t and r.id == d.id:
            r.range = max(r.range, new_range)
