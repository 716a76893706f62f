"""The path walk (the kernel's do_check): every path from insn 0 explored depth first
with a stack of pending branch states, states checkpointed at prune points and cut when
an explored state subsumes them, loops unrolled until they converge, and each
instruction checked by the rules of kernel/bpf/verifier.c."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NoReturn

from ..isa import (BPF_ADD, BPF_ALU, BPF_ALU64, BPF_AND, BPF_ARSH, BPF_CALL, BPF_DIV, BPF_END,
                   BPF_EXIT, BPF_JA, BPF_JCOND, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JLE, BPF_JLT,
                   BPF_JMP, BPF_JMP32, BPF_JNE, BPF_JSET, BPF_JSGE, BPF_JSGT, BPF_JSLE,
                   BPF_JSLT, BPF_LD, BPF_LDX, BPF_LSH, BPF_MOD, BPF_MOV, BPF_MUL, BPF_NEG,
                   BPF_OR, BPF_RSH, BPF_ST, BPF_STX, BPF_SUB, BPF_X, BPF_XOR, Instruction)
from ..errors import InvalidInstruction
from ..isa import validate
from ..uapi import ProgType
from .alu import scalar_alu, scalar_end
from .calls import CallsMixin
from .refusal import Refusal, Unsupported
from .cfgcheck import CfgError, analyse
from .log import alignment, frame_str, insn_text
from .mem import MemMixin
from .reg import (M32, S64_MAX, S64_MIN, U64_MAX, Reg, RegType, bounds_sane, bounds_sync,
                  coerce_subreg_to_size_sx, coerce_to_size_sx, mark32_unbounded, mark_known,
                  mark_unknown, s32, s64, scalar_const, zext_32_to_64)
from .state import Checkpoint, VState, initial_state, states_equal
from .tnum import Tnum

_RESERVED = {BPF_ALU: "BPF_ALU uses reserved fields", BPF_ALU64: "BPF_ALU uses reserved fields",
             BPF_LDX: "BPF_LDX uses reserved fields", BPF_STX: "BPF_STX uses reserved fields",
             BPF_ST: "BPF_ST uses reserved fields", BPF_LD: "invalid BPF_LD_IMM insn",
             BPF_JMP: "BPF_JMP/JMP32 uses reserved fields",
             BPF_JMP32: "BPF_JMP/JMP32 uses reserved fields"}
COMPLEXITY_LIMIT_INSNS = 1_000_000
COMPLEXITY_LIMIT_JMP_SEQ = 8192
COMPLEXITY_LIMIT_STATES = 64
BPF_MAX_VAR_OFF = 1 << 29
MAX_PACKET_OFF = 0xFFFF

ALU_NAMES = {BPF_ADD: "+=", BPF_SUB: "-=", BPF_MUL: "*=", BPF_DIV: "/=", BPF_OR: "|=",
             BPF_AND: "&=", BPF_LSH: "<<=", BPF_RSH: ">>=", BPF_NEG: "neg", BPF_MOD: "%=",
             BPF_XOR: "^=", BPF_MOV: "=", BPF_ARSH: "s>>=", BPF_END: "endian"}
_REV = {BPF_JEQ: BPF_JNE, BPF_JNE: BPF_JEQ, BPF_JGT: BPF_JLE, BPF_JLE: BPF_JGT,
        BPF_JGE: BPF_JLT, BPF_JLT: BPF_JGE, BPF_JSGT: BPF_JSLE, BPF_JSLE: BPF_JSGT,
        BPF_JSGE: BPF_JSLT, BPF_JSLT: BPF_JSGE, BPF_JSET: BPF_JSET | BPF_X}
_FLIP = {BPF_JGT: BPF_JLT, BPF_JLT: BPF_JGT, BPF_JGE: BPF_JLE, BPF_JLE: BPF_JGE,
         BPF_JSGT: BPF_JSLT, BPF_JSLT: BPF_JSGT, BPF_JSGE: BPF_JSLE, BPF_JSLE: BPF_JSGE,
         BPF_JEQ: BPF_JEQ, BPF_JNE: BPF_JNE, BPF_JSET: BPF_JSET}


def _caps(caps: Iterable[str]) -> dict[str, bool]:
    names = {c.lower().removeprefix("cap_") for c in caps}
    bad = names - {"bpf", "perfmon", "net_admin", "sys_admin"}
    if bad:
        from ..errors import VerifierError
        raise VerifierError(f"unknown capability {sorted(bad)[0]!r} (one of bpf, perfmon, "
                            "net_admin, sys_admin)")
    sysadm = "sys_admin" in names
    return {"bpf": "bpf" in names or sysadm, "perfmon": "perfmon" in names or sysadm,
            "net_admin": "net_admin" in names, "sys_admin": sysadm}


class Verifier(MemMixin, CallsMixin):
    """One verification: the environment (program, type, maps, capabilities) and the
    walk's working state (`st`, the current path)."""

    def __init__(self, insns: Sequence[Instruction], prog_type: int, maps: Mapping[int, Any],
                 expected_attach_type: int, caps: Iterable[str], license: str,
                 log_level: int) -> None:
        self.insns = list(insns)
        try:
            self.prog_type = ProgType(prog_type)
        except ValueError:
            self.prog_type = prog_type  # type: ignore[assignment]
        self.maps = dict(maps)
        self.attach_type = expected_attach_type or 0
        c = _caps(caps)
        self.bpf_capable = c["bpf"]
        self.perfmon = c["perfmon"]
        self.net_admin = c["net_admin"]
        self.sys_admin = c["sys_admin"]
        self.allow_ptr_leaks = self.perfmon
        self.bypass_spec_v1 = self.perfmon
        self.allow_uninit_stack = self.perfmon
        self.gpl = license_is_gpl_compatible(license)
        self.log_level = log_level
        self.log: list[str] = []
        self.id_gen = 0
        self.insn_processed = 0
        self.prev_insn_processed = 0
        self.jmps_processed = 0
        self.prev_jmps_processed = 0
        self.total_states = 0
        self.peak_states = 0
        self.cur_states = 0
        self.max_states_per_insn = 0
        self.explored: dict[int, list[Checkpoint]] = {}
        self.stack: list[VState] = []
        self.scratched_regs: set[int] = set()
        self.scratched_slots: set[int] = set()
        self.scratch_all = True
        self.line_pending = False  # an insn line was just printed (for " ; state")
        self.insn_line_len = 0
        self.subprog_stack_depth: dict[int, int] = {}
        self.ctx_spec: Any = None
        self.func_info: Any = None  # [(insn, BTF type id)] of the subprograms, or None
        self.st_imm: int | None = None  # a BPF_ST store's immediate (the value stored)
        self.pkt_write_ok = False

    # -- logging ------------------------------------------------------------------------
    def verbose(self, text: str) -> None:
        if self.log_level:
            self.log.append(text)

    def scratch_reg(self, r: int) -> None:
        self.scratched_regs.add(r)

    def print_state(self, st: VState, *, all_: bool = False) -> None:
        f = st.cur
        if all_ or self.scratch_all:
            body = frame_str(f, None, None)
        else:
            body = frame_str(f, self.scratched_regs, self.scratched_slots)
        if self.line_pending and self.log and not all_:
            pad = alignment(self.insn_line_len)
            self.log[-1] = self.log[-1].rstrip("\n") + " " * pad + ";" + body + "\n"
        else:
            self.log.append(f"{st.insn_idx}:{body}\n")
        self.line_pending = False
        self.scratched_regs = set()
        self.scratched_slots = set()
        self.scratch_all = False

    def fail(self, *lines: str) -> NoReturn:
        raise Refusal(*lines)

    # -- registers ----------------------------------------------------------------------
    def regs(self) -> list[Reg]:
        return self.st.cur.regs

    def check_reg_src(self, r: int) -> Reg:
        """check_reg_arg(SRC_OP)."""
        if r >= 11:
            self.fail(f"R{r} is invalid")
        self.scratch_reg(r)
        reg = self.st.cur.regs[r]
        if reg.type is RegType.NOT_INIT:
            self.fail(f"R{r} !read_ok")
        return reg

    def check_reg_dst(self, r: int) -> Reg:
        """check_reg_arg(DST_OP_NO_MARK)."""
        if r >= 11:
            self.fail(f"R{r} is invalid")
        self.scratch_reg(r)
        if r == 10:
            self.fail("frame pointer is read only")
        return self.st.cur.regs[r]

    def is_pointer_value(self, reg: Reg) -> bool:
        """is_pointer_value: a pointer the program may not treat as a number."""
        return not self.allow_ptr_leaks and reg.is_pointer

    def new_id(self) -> int:
        self.id_gen += 1
        return self.id_gen

    # -- ALU ----------------------------------------------------------------------------
    def check_alu(self, insn: Instruction) -> None:
        op = insn.op
        alu64 = insn.cls == BPF_ALU64
        x = insn.source == BPF_X
        if op in (BPF_END, BPF_NEG):
            if op == BPF_NEG:
                if x or insn.src or insn.off or insn.imm:
                    self.fail("BPF_NEG uses reserved fields")
            elif insn.src or insn.off or insn.imm not in (16, 32, 64) or (alu64 and x):
                self.fail("BPF_END uses reserved fields")
            d = self.check_reg_src(insn.dst)
            if self.is_pointer_value(d):
                self.fail(f"R{insn.dst} pointer arithmetic prohibited")
            self.check_reg_dst(insn.dst)
            if d.type is RegType.SCALAR:
                d.id = 0
                if op == BPF_NEG:
                    scalar_alu(BPF_NEG, d, d, not alu64)
                else:
                    scalar_end(d, insn.imm, bool(x), alu64)
            else:
                mark_unknown(d)
            return
        if op == BPF_MOV:
            if x:
                allowed = (0, 8, 16, 32) if alu64 else (0, 8, 16)
                if insn.off not in allowed or insn.imm:
                    self.fail("BPF_MOV uses reserved fields")
                s = self.check_reg_src(insn.src)
            else:
                if insn.src or insn.off:
                    self.fail("BPF_MOV uses reserved fields")
            d = self.check_reg_dst(insn.dst)
            if not x:
                mark_unknown(d)
                mark_known(d, insn.imm if alu64 else insn.imm & M32)
                return
            if alu64:
                if insn.off == 0:
                    if s.type is RegType.SCALAR and not s.id and not s.var_off.is_const():
                        s.id = self.new_id()
                    d.assign(s)
                    return
                if self.is_pointer_value(s):
                    self.fail(f"R{insn.src} sign-extension part of pointer")
                if s.type is RegType.SCALAR:
                    no_sext = s.umax < (1 << (insn.off - 1))
                    if no_sext and not s.id and not s.var_off.is_const():
                        s.id = self.new_id()
                    d.assign(s)
                    if not no_sext:
                        d.id = 0
                    coerce_to_size_sx(d, insn.off >> 3)
                    if not no_sext:
                        d.id = 0
                else:
                    mark_unknown(d)
                return
            if self.is_pointer_value(s):
                self.fail(f"R{insn.src} partial copy of pointer")
            if s.type is RegType.SCALAR:
                if insn.off == 0:
                    u32 = s.umax <= M32
                    if u32 and not s.id and not s.var_off.is_const():
                        s.id = self.new_id()
                    d.assign(s)
                    if not u32:
                        d.id = 0
                else:
                    no_sext = s.umax < (1 << (insn.off - 1))
                    if no_sext and not s.id and not s.var_off.is_const():
                        s.id = self.new_id()
                    d.assign(s)
                    if not no_sext:
                        d.id = 0
                    coerce_subreg_to_size_sx(d, insn.off >> 3)
            else:
                mark_unknown(d)
            zext_32_to_64(d)
            bounds_sync(d)
            return
        if op > BPF_END:
            self.fail(f"invalid BPF_ALU opcode {op:x}")
        if x:
            if insn.imm or insn.off not in (0, 1) or (insn.off == 1 and op not in (BPF_MOD,
                                                                                  BPF_DIV)):
                self.fail("BPF_ALU uses reserved fields")
            self.check_reg_src(insn.src)
        elif insn.src or insn.off not in (0, 1) or (insn.off == 1 and op not in (BPF_MOD,
                                                                                  BPF_DIV)):
            self.fail("BPF_ALU uses reserved fields")
        self.check_reg_src(insn.dst)
        if op in (BPF_MOD, BPF_DIV) and not x and insn.imm == 0:
            self.fail("div by zero")
        if op in (BPF_LSH, BPF_RSH, BPF_ARSH) and not x:
            size = 64 if alu64 else 32
            if insn.imm < 0 or insn.imm >= size:
                self.fail(f"invalid shift {insn.imm}")
        self.check_reg_dst(insn.dst)
        self.adjust_reg_min_max_vals(insn)

    def adjust_reg_min_max_vals(self, insn: Instruction) -> None:
        regs = self.regs()
        op = insn.op
        alu32 = insn.cls != BPF_ALU64
        d = regs[insn.dst]
        if insn.source == BPF_X:
            s = regs[insn.src]
            if d.type is not RegType.SCALAR and s.type is not RegType.SCALAR:
                if op == BPF_SUB and self.allow_ptr_leaks:
                    mark_unknown(d)
                    return
                self.fail(f"R{insn.dst} pointer {ALU_NAMES[op]} pointer prohibited")
            if s.type is not RegType.SCALAR:
                # scalar += pointer
                self.adjust_ptr_min_max_vals(insn, s, d)
                return
            if d.type is not RegType.SCALAR:
                self.adjust_ptr_min_max_vals(insn, d, s)
                return
            src = s.copy()
        else:
            src = scalar_const(insn.imm)
            if d.type is not RegType.SCALAR:
                self.adjust_ptr_min_max_vals(insn, d, src)
                return
        self.link_add_const(d, src, op, alu32)
        scalar_alu(op, d, src, alu32)

    def link_add_const(self, d: Reg, src: Reg, op: int, alu32: bool) -> None:
        """Linked scalars (BPF_ADD_CONST): `rX = rY; rX += K` keeps rX tied to rY with
        the delta K in `off`, so a bounds check on one refines the other."""
        if self.bpf_capable and op in (BPF_ADD, BPF_SUB) and d.id and \
                (src.var_off.subreg_is_const() if alu32 else src.var_off.is_const()):
            val = src.var_off.value & M32 if alu32 else src.var_off.value
            off = s32(val) if alu32 else s64(val)
            if (not alu32 and not -(1 << 31) <= off < (1 << 31)) or d.id & ADD_CONST:
                d.id, d.off = 0, 0
                return
            if op == BPF_SUB:
                if off == -(1 << 31):
                    d.id, d.off = 0, 0
                    return
                off = -off
            d.id |= ADD_CONST32 if alu32 else ADD_CONST64
            d.off = off
            return
        d.id, d.off = 0, 0

    def adjust_ptr_min_max_vals(self, insn: Instruction, ptr: Reg, off_reg: Reg) -> None:
        regs = self.regs()
        dst = insn.dst
        d = regs[dst]
        op = insn.op
        known = off_reg.var_off.is_const()
        smin_val, smax_val = off_reg.smin, off_reg.smax
        umin_val, umax_val = off_reg.umin, off_reg.umax
        if insn.cls != BPF_ALU64:
            if op == BPF_SUB and self.allow_ptr_leaks:
                mark_unknown(d)
                return
            self.fail(f"R{dst} 32-bit pointer arithmetic prohibited")
        if ptr.maybe_null:
            self.fail(f"R{dst} pointer arithmetic on {ptr.type_str()} prohibited, "
                      "null-check it first")
        if (known and (smin_val != smax_val or umin_val != umax_val)) or \
                smin_val > smax_val or umin_val > umax_val:
            mark_unknown(d)
            return
        t = ptr.type
        allowed = t in (RegType.CTX, RegType.MAP_VALUE, RegType.MAP_KEY, RegType.STACK,
                        RegType.PACKET_META, RegType.PACKET, RegType.BTF_ID, RegType.MEM,
                        RegType.BUF, RegType.FUNC)
        if not allowed and t is RegType.FLOW_KEYS and known:
            allowed = True
        if not allowed and t is RegType.CONST_PTR_TO_MAP and known and smin_val == 0 \
                and op == BPF_ADD:
            allowed = True
        if not allowed:
            self.fail(f"R{dst} pointer arithmetic on {ptr.type_str()} prohibited")
        self._check_sane_offset(off_reg, ptr)
        self._check_sane_offset(ptr, ptr)
        if op in (BPF_ADD, BPF_SUB) and not self.bypass_spec_v1 and insn.source == BPF_X \
                and not self.st.speculative:
            preg = insn.src if d is off_reg else dst
            if not off_reg.var_off.is_const() and (off_reg.smin < 0) != (off_reg.smax < 0):
                self.fail(f"R{preg} has unknown scalar with mixed signed bounds, pointer "
                          "arithmetic with it prohibited for !root")
            if t not in (RegType.STACK, RegType.MAP_VALUE):
                self.fail(f"R{preg} has pointer with unsupported alu operation, pointer "
                          "arithmetic with it prohibited for !root")
        res = ptr.copy()
        mark32_unbounded(res)
        if op == BPF_ADD:
            if known and -(1 << 31) <= ptr.off + smin_val < (1 << 31):
                res.off = ptr.off + smin_val
            else:
                a, b = ptr.smin + smin_val, ptr.smax + smax_val
                res.smin, res.smax = (a, b) if S64_MIN <= a and b <= S64_MAX else (S64_MIN,
                                                                                  S64_MAX)
                a, b = ptr.umin + umin_val, ptr.umax + umax_val
                res.umin, res.umax = (a, b) if b <= U64_MAX else (0, U64_MAX)
                res.var_off = ptr.var_off.add(off_reg.var_off)
                if ptr.is_pkt:
                    res.id = self.new_id()
                    res.range = 0
        elif op == BPF_SUB:
            if d is off_reg:
                self.fail(f"R{dst} tried to subtract pointer from scalar")
            if t is RegType.STACK:
                self.fail(f"R{dst} subtraction from stack pointer prohibited")
            if known and -(1 << 31) <= ptr.off - smin_val < (1 << 31):
                res.off = ptr.off - smin_val
            else:
                a, b = ptr.smin - smax_val, ptr.smax - smin_val
                res.smin, res.smax = (a, b) if S64_MIN <= a and b <= S64_MAX else (S64_MIN,
                                                                                  S64_MAX)
                if ptr.umin < umax_val:
                    res.umin, res.umax = 0, U64_MAX
                else:
                    res.umin, res.umax = ptr.umin - umax_val, ptr.umax - umin_val
                res.var_off = ptr.var_off.sub(off_reg.var_off)
                if ptr.is_pkt:
                    res.id = self.new_id()
                    if smin_val < 0:
                        res.range = 0
        elif op in (BPF_AND, BPF_OR, BPF_XOR):
            self.fail(f"R{dst} bitwise operator {ALU_NAMES[op]} on pointer prohibited")
        else:
            self.fail(f"R{dst} pointer arithmetic with {ALU_NAMES[op]} operator prohibited")
        self._check_sane_offset(res, ptr)
        bounds_sync(res)
        d.assign(res)
        if not self.bypass_spec_v1:
            self._sanitize_check_bounds(dst, d)

    def _check_sane_offset(self, reg: Reg, ptr: Reg) -> None:
        known = reg.var_off.is_const()
        val = s64(reg.var_off.value)
        tname = ptr.type_str()
        if known and (val >= BPF_MAX_VAR_OFF or val <= -BPF_MAX_VAR_OFF):
            self.fail(f"math between {tname} pointer and {val} is not allowed")
        if reg.off >= BPF_MAX_VAR_OFF or reg.off <= -BPF_MAX_VAR_OFF:
            self.fail(f"{tname} pointer offset {reg.off} is not allowed")
        if reg.smin == S64_MIN:
            self.fail(f"math between {tname} pointer and register with unbounded min value "
                      "is not allowed")
        if reg.smin >= BPF_MAX_VAR_OFF or reg.smin <= -BPF_MAX_VAR_OFF:
            self.fail(f"value {reg.smin} makes {tname} pointer be out of bounds")

    def _sanitize_check_bounds(self, regno: int, d: Reg) -> None:
        """sanitize_check_bounds (without CAP_PERFMON): stack and map value pointers
        must stay inside their object."""
        if d.type is RegType.STACK:
            off = d.off + s64(d.var_off.value)
            if not d.var_off.is_const():
                self.fail(f"R{regno} variable stack access prohibited for !root, "
                          f"var_off=({d.var_off.value:#x}; {d.var_off.mask:#x}) off={off}")
            if off >= 0 or off < -512:
                self.fail(f"R{regno} stack pointer arithmetic goes out of range, "
                          f"prohibited for !root; off={off}")
        elif d.type is RegType.MAP_VALUE:
            try:
                self.check_mem_region(regno, d, d.off, 1, d.map.value_size, False)
            except Refusal as e:
                raise Refusal(*e.lines, f"R{regno} pointer arithmetic of map value goes out "
                              "of range, prohibited for !root") from None

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
            s = scalar_const(insn.imm)
        pred = is_branch_taken(d, s, op, jmp32)
        target = pc + insn.off + 1
        if pred >= 0 and not self.bypass_spec_v1:
            # sanitize_speculative_path: the CPU may speculate the other way
            spec = self.push_stack(pc + 1 if pred == 1 else target, pc)
            spec.speculative = True
            sregs = spec.cur.regs
            mark_unknown(sregs[insn.dst])
            if insn.source == BPF_X:
                mark_unknown(sregs[insn.src])
        if pred == 1:
            self.after_branch_print()
            st.path = (pc, True, st.path)
            return target
        if pred == 0:
            self.after_branch_print()
            st.path = (pc, False, st.path)
            return pc + 1
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
            other.dead = True  # type: ignore[attr-defined]
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

    # -- the walk -----------------------------------------------------------------------
    def push_stack(self, insn_idx: int, prev: int) -> VState:
        el = self.st.copy()
        el.insn_idx = insn_idx
        el.prev_insn_idx = prev
        el.log_pos = len(self.log)
        if el.parent is not None:
            el.parent.branches += 1
        self.stack.append(el)
        if len(self.stack) > COMPLEXITY_LIMIT_JMP_SEQ:
            self.fail(f"The sequence of {len(self.stack)} jumps is too complex.")
        return el

    def update_branch_counts(self, cp: Checkpoint | None) -> None:
        while cp is not None:
            cp.branches -= 1
            if cp.branches:
                break
            cp = cp.parent

    def live_masks(self, st: VState) -> list[int]:
        out = []
        frames = st.frames
        for k in range(len(frames)):
            if k == len(frames) - 1:
                idx = st.insn_idx
            else:
                idx = frames[k + 1].callsite + 1
            out.append(self.prog.live_in[idx] if 0 <= idx < len(self.prog.live_in) else 0x7FF)
        return out

    def is_state_visited(self, idx: int) -> bool:
        """True when the current state is subsumed by an explored one (prune)."""
        cur = self.st
        force = idx in self.force_checkpoints
        add_new = True
        if not force and self.jmps_processed - self.prev_jmps_processed < 2 and \
                self.insn_processed - self.prev_insn_processed < 8:
            add_new = False
        lst = self.explored.setdefault(idx, [])
        n = len(lst)
        live = None
        evict = []
        for cp in lst:
            if cp.branches:
                # a state of the path being explored: a loop; equal means no progress
                if idx in self.may_goto_insns and \
                        cp.state.may_goto_depth != cur.may_goto_depth and \
                        states_equal(cp.state, cur, False, self.allow_uninit_stack):
                    cp.hit += 1
                    return True
                if idx in self.callback_calls:
                    if states_equal(cp.state, cur, False, self.allow_uninit_stack):
                        cp.hit += 1
                        return True
                elif cp.state.callback_depth == cur.callback_depth and \
                        cp.state.may_goto_depth == cur.may_goto_depth and \
                        states_equal(cp.state, cur, True, self.allow_uninit_stack):
                    self.fail(f"infinite loop detected at insn {idx}")
                if self.jmps_processed - self.prev_jmps_processed < 20 and \
                        self.insn_processed - self.prev_insn_processed < 100:
                    add_new = False
            else:
                if live is None:
                    live = self.live_masks(cur)
                if not (cp.state.speculative and not cur.speculative) and \
                        states_equal(cp.state, cur, False, self.allow_uninit_stack, live):
                    cp.hit += 1
                    return True
            cp.miss += 1
            k = 64 if force and cp.branches else 3
            if cp.miss > cp.hit * k + k:
                evict.append(cp)
        if evict:
            ids = {id(c) for c in evict}
            lst[:] = [c for c in lst if id(c) not in ids]
            self.cur_states -= len(evict)
        if self.max_states_per_insn < n:
            self.max_states_per_insn = n
        if not add_new:
            return False
        self.total_states += 1
        self.cur_states += 1
        self.peak_states = max(self.peak_states, self.cur_states)
        self.prev_jmps_processed = self.jmps_processed
        self.prev_insn_processed = self.insn_processed
        snap = cur.copy()
        cp = Checkpoint(snap, cur.parent, idx)
        cur.parent = cp
        lst.append(cp)
        return False

    def run(self) -> None:
        self.prog = analyse(self.insns, self.bpf_capable)
        if self.func_info is None and any(
                i is not None and i.opcode == 0x18 and i.src == 4 for i in self.prog.slots):
            self.fail("missing btf func_info")
        self.slots = self.prog.slots
        self.force_checkpoints = set()
        self.may_goto_insns = {pc for pc, i in enumerate(self.slots)
                               if i is not None and i.opcode == (BPF_JMP | BPF_JCOND)}
        self.force_checkpoints |= self.may_goto_insns
        self.callback_calls: set[int] = set()
        self.setup_prog_type()
        self.st = initial_state()
        self.st.parent = None
        self.do_check()

    def do_check(self) -> None:
        do_print_state = False
        while True:
            st = self.st
            idx = st.insn_idx
            if idx < 0 or idx >= len(self.slots) or self.slots[idx] is None:
                raise Refusal(f"invalid insn idx {idx} insn_cnt {len(self.slots)}")
            insn = self.slots[idx]
            assert insn is not None  # checked above
            self.insn_processed += 1
            if self.insn_processed > COMPLEXITY_LIMIT_INSNS:
                self.fail(f"BPF program is too large. Processed {self.insn_processed} insn")
            self.cur_pc = idx
            if idx in self.prog.prune:
                if self.is_state_visited(idx):
                    if self.log_level:
                        if do_print_state and self.log_level & 2:
                            self.verbose(f"\nfrom {st.prev_insn_idx} to {idx}: safe\n")
                        else:
                            self.verbose(f"{idx}: safe\n")
                    if not self.finish_path():
                        return
                    do_print_state = True
                    continue
            if self.log_level:
                if self.log_level & 2 and do_print_state:
                    self.verbose(f"\nfrom {st.prev_insn_idx} to {idx}:")
                    self.log[-1] += frame_str(st.cur, None, None) + "\n"
                    self.scratch_all = False
                    self.scratched_regs = set()
                    self.scratched_slots = set()
                elif self.scratch_all or self.scratched_regs or self.scratched_slots:
                    self.print_state(st)
                text = f"{idx}: {insn_text(insn, idx, self.slots)}"
                self.verbose(text + "\n")
                self.insn_line_len = len(text) + 1
                self.line_pending = True
            do_print_state = False
            try:
                nxt = self.step(insn, idx)
            except Unsupported:
                raise
            except Refusal as e:
                # 6.18: an error on a speculative path puts a nospec barrier there and
                # ends the path (error_recoverable_with_nospec); limits stay errors
                if not st.speculative or e.lines[0].startswith(("BPF program is too large",
                                                                 "The sequence of")):
                    raise
                if self.log_level:
                    self.log.append(e.lines[0] + "\n")
                nxt = None
            if nxt is None:  # path finished (exit)
                if not self.finish_path():
                    return
                do_print_state = True
                continue
            if nxt == -1:  # dead fall-through
                if not self.finish_path():
                    return
                do_print_state = True
                continue
            if self.log_level and (self.scratched_regs or self.scratched_slots) and \
                    self.line_pending:
                self.print_state(st)
            st.prev_insn_idx = idx
            st.insn_idx = nxt

    def finish_path(self) -> bool:
        """update_branch_counts + pop_stack: False when no path is left."""
        self.update_branch_counts(self.st.parent)
        while self.stack:
            nxt = self.stack.pop()
            if getattr(nxt, "dead", False):
                self.update_branch_counts(nxt.parent)
                continue
            if self.log_level and not self.log_level & 2:
                del self.log[nxt.log_pos:]
            self.st = nxt
            self.scratch_all = True
            self.line_pending = False
            return True
        return False

    def step(self, insn: Instruction, idx: int) -> int | None:
        cls = insn.cls
        if cls not in (BPF_ALU, BPF_ALU64, BPF_JMP, BPF_JMP32):
            try:
                validate(insn, idx)
            except InvalidInstruction:
                self.fail(_RESERVED.get(cls, "invalid insn"))
        if cls in (BPF_ALU, BPF_ALU64):
            self.check_alu(insn)
            return idx + 1
        if cls == BPF_LDX:
            self.check_ldx(insn, idx)
            return idx + 1
        if cls == BPF_STX:
            self.check_stx(insn, idx)
            return idx + 1
        if cls == BPF_ST:
            self.check_st(insn, idx)
            return idx + 1
        if cls in (BPF_JMP, BPF_JMP32):
            op = insn.op
            self.jmps_processed += 1
            if op == BPF_CALL:
                return self.check_call(insn, idx)
            if op == BPF_JA:
                if insn.source != BPF_X and (insn.src or insn.dst or
                                             (cls == BPF_JMP and insn.imm) or
                                             (cls == BPF_JMP32 and insn.off)):
                    self.fail("BPF_JA uses reserved fields")
                return idx + (insn.imm if cls == BPF_JMP32 else insn.off) + 1
            if op == BPF_EXIT:
                if insn.source or insn.imm or insn.src or insn.dst or cls == BPF_JMP32:
                    self.fail("BPF_EXIT uses reserved fields")
                return self.check_exit(idx)
            if op == BPF_JCOND:
                return self.check_may_goto(insn, idx)
            return self.check_cond_jmp(insn)
        if cls == BPF_LD:
            if insn.mode == 0 and insn.size == 0x18:
                self.check_ld_imm(insn)
                return idx + 2
            self.check_ld_abs(insn, idx)
            return idx + 1
        self.fail(f"unknown insn class {cls}")
        return None

    def check_may_goto(self, insn: Instruction, idx: int) -> int:
        if insn.src != 0 or insn.dst or insn.imm:
            self.fail("invalid may_goto imm %d" % insn.imm)
        st = self.st
        # as the kernel: the fall-through (loop body) is queued with a deeper may_goto
        # count, this path takes the jump (the counter ran out)
        other = self.push_stack(idx + 1, idx)
        other.path = (idx, False, st.path)
        other.may_goto_depth += 1
        st.path = (idx, True, st.path)
        return idx + insn.off + 1

    # -- exit -----------------------------------------------------------------------------
    def check_exit(self, idx: int) -> int | None:
        st = self.st
        if st.curframe == 0 or st.cur.callback is None:
            if st.curframe == 0:
                self.check_reference_leak("BPF_EXIT instruction in main prog")
        if st.curframe:
            return self.prepare_func_exit(idx)
        self.check_return_code()
        return None

    def check_reference_leak(self, where: str) -> None:
        if self.st.refs:
            lines = [f"Unreleased reference id={r.id} alloc_insn={r.insn_idx}"
                     for r in self.st.refs]
            self.fail(*lines)

    def check_return_code(self) -> None:
        r0 = self.check_reg_src(0)
        if self.is_pointer_value(r0):
            self.fail("R0 leaks addr as return value")
        rng = return_range(self.prog_type, self.attach_type)
        if rng is None:
            return
        lo, hi = rng
        if r0.type is not RegType.SCALAR:
            self.fail(f"At program exit the register R0 is not a known value "
                      f"({r0.type_str()})")
        if not (lo <= r0.smin and r0.smax <= hi):
            msg = "At program exit the register R0 has"
            unknown = True
            if r0.smin > S64_MIN:
                msg += f" smin={r0.smin}"
                unknown = False
            if r0.smax < S64_MAX:
                msg += f" smax={r0.smax}"
                unknown = False
            if unknown:
                msg += " unknown scalar value"
            self.fail(msg + f" should have been in [{lo}, {hi}]")

    def result_summary(self) -> str:
        return (f"processed {self.insn_processed} insns (limit {COMPLEXITY_LIMIT_INSNS}) "
                f"max_states_per_insn {self.max_states_per_insn} total_states "
                f"{self.total_states} peak_states {self.peak_states} mark_read 0")


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


def is_branch_taken(r1: Reg, r2: Reg, op: int, jmp32: bool) -> int:
    if _is_pkt_any(r1) and _is_pkt_any(r2) and not jmp32:
        return -1
    if r1.is_pointer or r2.is_pointer:
        if not _is_const(r2, jmp32):
            op = _FLIP.get(op, op)
            r1, r2 = r2, r1
        if not _is_const(r2, jmp32):
            return -1
        if not r1.is_pointer or r1.maybe_null:
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


def mark_ptr_or_null_regs(st: VState, regno: int, is_null: bool, v: "Verifier") -> None:
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
                r.id = 0


def find_good_pkt_pointers(st: VState, d: Reg, t: RegType, right_open: bool) -> None:
    if d.off < 0 or (d.off == 0 and right_open):
        return
    if d.umax > MAX_PACKET_OFF or d.umax + d.off > MAX_PACKET_OFF:
        return
    new_range = d.off + (1 if right_open else 0)
    for r in st.all_regs():
        if r.type is t and r.id == d.id:
            r.range = max(r.range, new_range)


def return_range(prog_type: Any, attach_type: int) -> tuple[int, int] | None:
    """check_return_code's range for the program type (None: any scalar)."""
    from ..uapi import AttachType as _AT  # noqa: F401 (names for readers)
    P = ProgType
    if prog_type in (P.CGROUP_SOCK, P.SOCK_OPS, P.CGROUP_DEVICE, P.CGROUP_SYSCTL,
                     P.CGROUP_SOCKOPT):
        return 0, 1
    if prog_type == P.CGROUP_SKB:
        return (0, 3) if attach_type == 1 else (0, 1)  # BPF_CGROUP_INET_EGRESS
    if prog_type == P.CGROUP_SOCK_ADDR:
        if attach_type in (29, 30, 31, 32, 45, 46, 47):  # recvmsg/getpeername/getsockname
            return 1, 1
        if attach_type in (8, 9):  # INET4/6_BIND
            return 0, 3
        return 0, 1
    if prog_type == P.SK_LOOKUP:
        return 0, 1
    if prog_type == P.NETFILTER:
        return 0, 1
    return None


_PERFMON_TYPES = {ProgType.KPROBE, ProgType.TRACEPOINT, ProgType.PERF_EVENT,
                  ProgType.RAW_TRACEPOINT, ProgType.RAW_TRACEPOINT_WRITABLE, ProgType.TRACING,
                  ProgType.LSM, ProgType.STRUCT_OPS, ProgType.EXT}
_NET_ADMIN_TYPES = {ProgType.SCHED_CLS, ProgType.SCHED_ACT, ProgType.XDP, ProgType.LWT_IN,
                    ProgType.LWT_OUT, ProgType.LWT_XMIT, ProgType.LWT_SEG6LOCAL,
                    ProgType.SK_SKB, ProgType.SK_MSG, ProgType.FLOW_DISSECTOR,
                    ProgType.CGROUP_DEVICE, ProgType.CGROUP_SOCK, ProgType.CGROUP_SOCK_ADDR,
                    ProgType.CGROUP_SOCKOPT, ProgType.CGROUP_SYSCTL, ProgType.SOCK_OPS,
                    ProgType.EXT, ProgType.NETFILTER}


def prog_type_capability(t: int) -> str | None:
    """The capability bpf_prog_load requires for the type beyond CAP_BPF (its
    is_perfmon_prog_type / is_net_admin_prog_type), or "bpf_capable" without CAP_BPF."""
    if t in _PERFMON_TYPES:
        return "perfmon"
    if t in _NET_ADMIN_TYPES:
        return "net_admin"
    return None


def _type_name(t: int) -> str:
    try:
        return ProgType(t).name.lower()
    except ValueError:
        return str(t)


def unwind_path(p: Any) -> tuple[tuple[int, bool], ...]:
    """The branch decisions of a path, first to last: (insn, jump taken)."""
    out = []
    while p:
        out.append((p[0], p[1]))
        p = p[2]
    return tuple(reversed(out))


def license_is_gpl_compatible(lic: str) -> bool:
    return lic in ("GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL",
                   "Dual MIT/GPL", "Dual MPL/GPL")


def run_verifier(insns: Sequence[Instruction], prog_type: Any, *, maps: Mapping[int, Any] = {},
                 expected_attach_type: int | None = None,
                 caps: Iterable[str] = ("bpf", "perfmon", "net_admin", "sys_admin"),
                 license: str = "GPL", log_level: int = 0, func_info: Any = None,
                 line_info: Any = None, btf: Any = None) -> Any:
    from . import VerifierResult
    t0 = time.perf_counter_ns()
    v = Verifier(insns, int(prog_type), maps, expected_attach_type or 0, caps, license,
                 log_level)
    v.func_info = func_info  # read by the calls half (global functions, callbacks)
    error = None
    pc = None
    extra: tuple[str, ...] = ()
    try:
        if not insns:
            raise Refusal("empty program")
        limit = 1_000_000 if v.bpf_capable else 4096
        if sum(i.slots for i in insns) > limit:
            raise Refusal(f"program of {sum(i.slots for i in insns)} insns is longer than "
                          f"{limit} (E2BIG)")
        need = prog_type_capability(int(prog_type))
        if need and not getattr(v, need):
            raise Refusal(f"EPERM: loading a {_type_name(prog_type)} program needs "
                          f"CAP_{need.upper()}")
        v.run()
    except CfgError as e:
        error, pc = e.msg, e.pc
    except Refusal as e:
        error, pc, extra = e.lines[0], getattr(v, "cur_pc", e.pc), e.lines[1:]
        if e.pc is not None:
            pc = e.pc
    except RecursionError:
        error = "program too complex to verify"
    ns = time.perf_counter_ns() - t0
    lines = list(v.log)
    if error is not None and log_level:
        lines.append(error + "\n")
        lines += [ln + "\n" for ln in extra]
    if log_level and v.log_level & 1 and not v.log_level & 2 and error is None:
        lines = []
    if log_level:
        lines.append(v.result_summary() + "\n")
    log = "".join(lines)
    from .hints import hint_for
    return VerifierResult(error is None, error, pc, log, v.insn_processed,
                          v.max_states_per_insn, v.total_states, v.peak_states, ns,
                          hint=hint_for(error),
                          path=unwind_path(v.st.path) if error is not None and hasattr(v, "st")
                          else ())
