"""The path walk (the kernel's do_check): every path from insn 0 explored depth first
with a stack of pending branch states, states checkpointed at prune points and cut when
an explored state subsumes them, loops unrolled until they converge, and each
instruction checked by the rules of kernel/bpf/verifier.c."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NoReturn

from ..errors import InvalidInstruction
from ..helper_protos import ArgType
from ..isa import (BPF_ADD, BPF_ALU, BPF_ALU64, BPF_AND, BPF_ARSH, BPF_CALL, BPF_DIV, BPF_END,
                   BPF_EXIT, BPF_JA, BPF_JCOND, BPF_JMP, BPF_JMP32, BPF_LD, BPF_LDX, BPF_LSH,
                   BPF_MOD, BPF_MOV, BPF_NEG, BPF_OR, BPF_RSH, BPF_ST, BPF_STX, BPF_SUB, BPF_X,
                   BPF_XOR, Instruction, validate)
from ..uapi import ProgType
from .alu import scalar_alu, scalar_end
from .branch import ADD_CONST, ADD_CONST32, ADD_CONST64, BranchMixin
from .calls import CallsMixin
from .cfgcheck import CfgError, analyse
from .consts import (_RESERVED, ALU_NAMES, BPF_MAX_VAR_OFF, COMPLEXITY_LIMIT_INSNS,
                     COMPLEXITY_LIMIT_JMP_SEQ)
from .log import SourceLines, alignment, frame_str, insn_text
from .locks import check_map_prog_compat, check_not_locked
from . import sanitize
from .mem import MemMixin
from .progrules import (_type_name, license_is_gpl_compatible, prog_type_capability, return_range,
                        unwind_path)
from .refusal import Refusal, Unsupported
from .reg import (M32, S64_MAX, S64_MIN, U64_MAX, Reg, RegType, bounds_sync,
                  coerce_subreg_to_size_sx, coerce_to_size_sx, mark32_unbounded,
                  mark_unknown, s32, s64, shared_const, zext_32_to_64)
from .pruning import PruneMixin
from .stackdepth import check_max_stack_depth
from .state import Checkpoint, VState, initial_state, widen_imprecise_scalars


_SIZE_ARGS = frozenset({ArgType.ARG_CONST_SIZE, ArgType.ARG_CONST_SIZE_OR_ZERO,
                        ArgType.ARG_CONST_ALLOC_SIZE_OR_ZERO})
_K_ALU, _K_JMP, _K_LDX, _K_STX, _K_ST, _K_LD, _K_LDDW = range(7)
_KINDS = {BPF_ALU: _K_ALU, BPF_ALU64: _K_ALU, BPF_JMP: _K_JMP, BPF_JMP32: _K_JMP,
          BPF_LDX: _K_LDX, BPF_STX: _K_STX, BPF_ST: _K_ST, BPF_LD: _K_LD}


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


class Verifier(PruneMixin, BranchMixin, MemMixin, CallsMixin):
    """One verification: the environment (program, type, maps, capabilities) and the
    walk's working state (`st`, the current path)."""

    def __init__(self, insns: Sequence[Instruction], prog_type: int, maps: Mapping[int, Any],
                 expected_attach_type: int, caps: Iterable[str], license: str,
                 log_level: int, private_stack: bool = False) -> None:
        self.insns = list(insns)
        try:
            self.prog_type = ProgType(prog_type)
        except ValueError:
            self.prog_type = prog_type  # type: ignore[assignment]  # a type number the enum lacks
        self.maps = dict(maps)
        self.attach_type = expected_attach_type or 0
        c = _caps(caps)
        self.bpf_capable = c["bpf"]
        self.perfmon = c["perfmon"]
        self.net_admin = c["net_admin"]
        self.sys_admin = c["sys_admin"]
        self.allow_ptr_leaks = self.perfmon
        self.bypass_spec_v1 = self.perfmon
        self.alu_aux: dict[int, tuple[int, int]] = {}  # sanitize.py, per insn
        self.explore_alu_limits = False
        self.allow_uninit_stack = self.perfmon
        self.private_stack = private_stack  # the target kernel's JIT feature (stackdepth.py)
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
        self.btf: Any = None  # the object's BTF (global functions' prototypes)
        self.st_imm: int | None = None  # a BPF_ST store's immediate (the value stored)
        self.pkt_write_ok = False
        self.source_lines: SourceLines | None = None  # BTF line info ("; line @ file:N")
        self.hist_step = -1  # insn_processed when this insn's history entry was pushed
        self.precise_marks = 0  # precise flags set in checkpoints (precision.py counts)
        self.backedges: dict[int, tuple[Checkpoint, list[VState]]] = {}

    # -- logging ------------------------------------------------------------------------
    def verbose(self, text: str) -> None:
        if self.log_level:
            self.log.append(text)

    def scratch_reg(self, r: int) -> None:
        if self.log_level:  # only the log reads what was scratched
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
        if self.log_level:
            self.scratched_regs.add(r)
        reg = self.st.frames[-1].regs[r]
        if reg.type is RegType.NOT_INIT:
            self.fail(f"R{r} !read_ok")
        return reg

    def check_reg_dst(self, r: int) -> Reg:
        """check_reg_arg(DST_OP_NO_MARK)."""
        if r >= 11:
            self.fail(f"R{r} is invalid")
        if self.log_level:
            self.scratched_regs.add(r)
        if r == 10:
            self.fail("frame pointer is read only")
        return self.st.frames[-1].regs[r]

    def is_pointer_value(self, reg: Reg) -> bool:
        """is_pointer_value: a pointer the program may not treat as a number."""
        return not self.allow_ptr_leaks and reg.is_pointer

    def new_id(self) -> int:
        self.id_gen += 1
        return self.id_gen

    def check_func_arg(self, argno: int, arg: Any, fn: Any, meta: dict) -> None:
        """Helper arguments whose value the check relies on (sizes, a null pointer)
        are marked precise, then checked by the calls half."""
        if self.bpf_capable and arg.type is not ArgType.ARG_DONTCARE and argno < 6:
            reg = self.st.frames[-1].regs[argno]
            if reg.type is RegType.SCALAR and (
                    arg.type in _SIZE_ARGS or
                    (arg.may_be_null and reg.var_off.equals_const(0))):
                self.mark_precise(argno)
        super().check_func_arg(argno, arg, fn, meta)

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
                # mark_unknown + mark_known: every field but `precise` from the constant
                precise = d.precise
                d.assign(shared_const(insn.imm if alu64 else insn.imm & M32))
                d.precise = precise
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
                self.mark_precise(insn.dst)
                self.adjust_ptr_min_max_vals(insn, s, d)
                return
            if d.type is not RegType.SCALAR:
                self.mark_precise(insn.src)
                self.adjust_ptr_min_max_vals(insn, d, s)
                return
            src = s.copy()
        else:
            src = shared_const(insn.imm)  # read only below
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
            # the kernel names the source for mixed bounds and the destination for the
            # pointer type, whichever operand holds the pointer (sanitize_err)
            if not off_reg.var_off.is_const() and (off_reg.smin < 0) != (off_reg.smax < 0):
                self.fail(f"R{insn.src} has unknown scalar with mixed signed bounds, pointer "
                          "arithmetic with it prohibited for !root")
            if t not in (RegType.STACK, RegType.MAP_VALUE):
                self.fail(f"R{dst} has pointer with unsupported alu operation, pointer "
                          "arithmetic with it prohibited for !root")
            san = sanitize.begin(self, op, dst, ptr, off_reg, d is ptr)
        else:
            san = None
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
        if san is not None:
            sanitize.commit(self, self.st.insn_idx, op, dst, d, san)

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
                self.check_map_access(regno, d, d.off, 1, False)
            except Refusal as e:
                raise Refusal(*e.lines, f"R{regno} pointer arithmetic of map value goes out "
                              "of range, prohibited for !root") from None

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

    def run(self) -> None:
        self.prog = analyse(self.insns, self.bpf_capable, self.gpl, self.check_map_of_lddw)
        if self.func_info is None and any(
                i is not None and i.opcode == 0x18 and i.src == 4 for i in self.prog.slots):
            self.fail("missing btf func_info")
        self.slots = self.prog.slots
        self.kinds: list[int | str | None] = [None] * len(self.slots)  # step()'s, per pc
        self.force_checkpoints = set()
        self.may_goto_insns = {pc for pc, i in enumerate(self.slots)
                               if i is not None and i.opcode == (BPF_JMP | BPF_JCOND)}
        self.force_checkpoints |= self.may_goto_insns
        # helpers that call a callback: the call is a loop head (mark_calls_callback,
        # mark_force_checkpoint), reached again from the callback's exit
        from ..helper_ids import HELPER_NAMES
        self.callback_calls: set[int] = {
            pc for pc, i in enumerate(self.slots)
            if i is not None and i.opcode == (BPF_JMP | BPF_CALL) and i.src == 0 and
            HELPER_NAMES.get(i.imm) in ("loop", "for_each_map_elem", "find_vma",
                                        "user_ringbuf_drain")}
        self.force_checkpoints |= self.callback_calls
        self.prog.prune |= self.callback_calls
        self.prog.jmp_points |= self.callback_calls
        self.setup_prog_type()
        self.st = initial_state()
        self.st.parent = None
        self.do_check()
        self.check_global_subprogs()  # calls.py: global functions, each on its own
        check_max_stack_depth(self.slots, self.prog.subprogs, self.subprog_stack_depth,
                              self.prog_type, self.private_stack)

    def check_map_of_lddw(self, insn: Instruction) -> None:
        """resolve_pseudo_ldimm64's check_map_prog_compatibility at a map lddw (after
        check_subprogs, before check_cfg)."""
        if insn.src in (1, 2, 5, 6) and insn.imm in self.maps:
            check_map_prog_compat(self, self.maps[insn.imm])

    def do_check(self) -> None:
        do_print_state = False
        slots = self.slots
        nslots = len(slots)
        prune = self.prog.prune
        jmp_points = self.prog.jmp_points
        while True:
            st = self.st
            idx = st.insn_idx
            if idx < 0 or idx >= nslots or slots[idx] is None:
                raise Refusal(f"invalid insn idx {idx} insn_cnt {nslots}")
            insn = slots[idx]
            assert insn is not None  # checked above
            self.insn_processed += 1
            if self.insn_processed > COMPLEXITY_LIMIT_INSNS:
                self.fail(f"BPF program is too large. Processed {self.insn_processed} insn")
            self.cur_pc = idx
            if idx in prune:
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
            # record_arrival, in line: a history entry at jump points and wherever the
            # path did not come from the instruction before
            prev = st.prev_insn_idx
            if idx in jmp_points or not (prev == idx - 1 or
                                         (prev == idx - 2 and slots[idx - 1] is None)):
                self.push_hist()
            if self.log_level:
                if self.log_level & 2 and do_print_state:
                    self.verbose(f"\nfrom {st.prev_insn_idx} to {idx}:")
                    self.log[-1] += frame_str(st.cur, None, None) + "\n"
                    self.scratch_all = False
                    self.scratched_regs = set()
                    self.scratched_slots = set()
                elif self.scratch_all or self.scratched_regs or self.scratched_slots:
                    self.print_state(st)
                if self.source_lines and (src := self.source_lines.log_line(idx)):
                    self.verbose(src)
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

    def _kind(self, insn: Instruction, idx: int) -> int | str:
        """What step() does with the insn at `idx`, worked out once per pc: its class
        (_K_*), after the field checks of the classes the ALU and JMP rules do not
        check themselves; a string is the refusal those checks give."""
        cls = insn.cls
        kind: int | str = _KINDS.get(cls, f"unknown insn class {cls}")
        if cls not in (BPF_ALU, BPF_ALU64, BPF_JMP, BPF_JMP32):
            try:
                validate(insn, idx)
            except InvalidInstruction:
                kind = _RESERVED.get(cls, "invalid insn")
        if kind == _K_LD and insn.mode == 0 and insn.size == 0x18:
            kind = _K_LDDW
        self.kinds[idx] = kind
        return kind

    def step(self, insn: Instruction, idx: int) -> int | None:
        kind = self.kinds[idx]
        if kind is None:
            kind = self._kind(insn, idx)
        if kind == _K_ALU:
            self.check_alu(insn)
            return idx + 1
        if kind == _K_JMP:
            cls = insn.cls
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
        if kind == _K_LDX:
            self.check_ldx(insn, idx)
            return idx + 1
        if kind == _K_STX:
            self.check_stx(insn, idx)
            return idx + 1
        if kind == _K_ST:
            self.check_st(insn, idx)
            return idx + 1
        if kind == _K_LDDW:
            self.check_ld_imm(insn)
            return idx + 2
        if kind == _K_LD:
            self.check_ld_abs(insn, idx)
            return idx + 1
        self.fail(str(kind))
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
                check_not_locked(self, "BPF_EXIT instruction in main prog")
                self.check_reference_leak("BPF_EXIT instruction in main prog")
        if st.curframe:
            if st.cur.callback is None:
                return self.prepare_func_exit(idx)
            if st.cur.regs[0].type is RegType.SCALAR:
                self.mark_precise(0)  # the callback's return value is range-checked
            nxt = self.prepare_func_exit(idx)
            prev = self.find_prev_entry(st, nxt)
            if prev is not None:
                widen_imprecise_scalars(prev, st)
            return nxt
        if st.frames[0].subprog:  # a global function, verified on its own (calls.py)
            self.check_global_exit()
            return None
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
        self.mark_precise(0)
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


def run_verifier(insns: Sequence[Instruction], prog_type: Any, *, maps: Mapping[int, Any] = {},
                 expected_attach_type: int | None = None,
                 caps: Iterable[str] = ("bpf", "perfmon", "net_admin", "sys_admin"),
                 license: str = "GPL", log_level: int = 0, func_info: Any = None,
                 line_info: Any = None, btf: Any = None, private_stack: bool = False) -> Any:
    from . import VerifierResult
    t0 = time.perf_counter_ns()
    v = Verifier(insns, int(prog_type), maps, expected_attach_type or 0, caps, license,
                 log_level, private_stack)
    v.func_info = func_info  # read by the calls half (global functions, callbacks)
    v.source_lines = SourceLines(line_info or ())
    v.btf = btf  # global functions' prototypes (calls.py, btffunc.py)
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
        # no reference cycles in the walk: the cyclic GC only costs time (refcounts free)
        gc_on = gc.isenabled()
        gc.disable()
        try:
            v.run()
        finally:
            if gc_on:
                gc.enable()
    except CfgError as e:
        error, pc = e.msg, e.pc
    except Refusal as e:
        error, extra = e.lines[0], e.lines[1:]
        pc = e.pc if e.pc is not None else getattr(v, "cur_pc", None)
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
                          hint=hint_for(error, extra),
                          source=v.source_lines.at(pc) if error is not None else None,
                          path=unwind_path(v.st.path) if error is not None and hasattr(v, "st")
                          else ())
