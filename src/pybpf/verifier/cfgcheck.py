"""The verifier's passes before the path walk: subprogram boundaries and jumps inside
them (check_subprogs), the depth-first walk of the control-flow graph (check_cfg:
jumps out of range, back-edges without CAP_BPF, unreachable instructions), prune
points, and the static register liveness (compute_live_registers). Kept in one
module so that it can move onto pybpf.cfg."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..isa import (
    BPF_ALU,
    BPF_ALU64,
    BPF_ATOMIC,
    BPF_CALL,
    BPF_CMPXCHG,
    BPF_END,
    BPF_EXIT,
    BPF_FETCH,
    BPF_IND,
    BPF_JA,
    BPF_JCOND,
    BPF_JMP,
    BPF_JMP32,
    BPF_LD,
    BPF_LDX,
    BPF_MOV,
    BPF_NEG,
    BPF_PSEUDO_BTF_ID,
    BPF_PSEUDO_CALL,
    BPF_PSEUDO_KFUNC_CALL,
    BPF_PSEUDO_FUNC,
    BPF_ST,
    BPF_STX,
    BPF_X,
    OPCODE_LDDW,
    Instruction,
)
from .kfunc import check_kfunc_insn, check_ksym_insn
from .dataflow import backward_live
from .stacklive import stack_liveness


class CfgError(Exception):
    """A refusal by one of the passes: `msg` is the kernel's line, `pc` the insn."""

    def __init__(self, msg: str, pc: int | None = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.pc = pc


@dataclass
class Program:
    """Instructions by slot (lddw's second slot holds None), with the subprogram starts,
    the prune points and the live-in register mask of every slot."""

    slots: list[Instruction | None]
    subprogs: list[int] = field(default_factory=list)
    prune: set[int] = field(default_factory=set)
    jmp_points: set[int] = field(default_factory=set)
    live_in: list[int] = field(default_factory=list)
    stack_live: list[int] = field(default_factory=list)  # stacklive.py, per slot

    def subprog_of(self, pc: int) -> int:
        idx = 0
        for i, s in enumerate(self.subprogs):
            if s <= pc:
                idx = i
        return idx


def to_slots(insns: Sequence[Instruction]) -> list[Instruction | None]:
    out: list[Instruction | None] = []
    for i in insns:
        out.append(i)
        if i.opcode == OPCODE_LDDW:
            out.append(None)
    return out


def _is_jmp(i: Instruction) -> bool:
    return i.cls in (BPF_JMP, BPF_JMP32)


def jump_target(pc: int, i: Instruction) -> int:
    if i.cls == BPF_JMP32 and i.op == BPF_JA:
        return pc + i.imm + 1
    return pc + i.off + 1


def find_subprogs(slots: list[Instruction | None], bpf_capable: bool, gpl: bool = True,
                  ) -> list[int]:
    """add_subprog_and_kfunc + check_subprogs: the sorted subprogram starts."""
    n = len(slots)
    starts = {0}
    for pc, i in enumerate(slots):
        if i is None:
            continue
        if (i.opcode == (BPF_JMP | BPF_CALL) and i.src == BPF_PSEUDO_CALL) or \
                (i.opcode == OPCODE_LDDW and i.src == BPF_PSEUDO_FUNC):
            if not bpf_capable:
                raise CfgError("loading/calling other bpf or kernel functions are allowed "
                               "for CAP_BPF and CAP_SYS_ADMIN", pc)
            t = pc + i.imm + 1
            if t < 0 or t >= n:
                raise CfgError("call to invalid destination", pc)
            starts.add(t)
        elif i.opcode == (BPF_JMP | BPF_CALL) and i.src == BPF_PSEUDO_KFUNC_CALL:
            if not bpf_capable:
                raise CfgError("loading/calling other bpf or kernel functions are allowed "
                               "for CAP_BPF and CAP_SYS_ADMIN", pc)
            check_kfunc_insn(i, pc, gpl)  # kfunc.py: against this kernel's BTF
    subs = sorted(starts)
    bounds = subs + [n]
    cur = 0
    for pc, i in enumerate(slots):
        if pc >= bounds[cur + 1]:
            cur += 1
        start, end = bounds[cur], bounds[cur + 1]
        if i is not None and _is_jmp(i) and i.op not in (BPF_CALL, BPF_EXIT):
            t = jump_target(pc, i)
            if t < start or t >= end:
                raise CfgError(f"jump out of range from insn {pc} to {t}", pc)
        if pc == end - 1:
            last = slots[pc]
            code = last.opcode if last is not None else -1
            if code not in (BPF_JMP | BPF_EXIT, BPF_JMP32 | BPF_JA, BPF_JMP | BPF_JA):
                raise CfgError("last insn is not an exit or jmp", pc)
    return subs


def check_cfg(prog: Program, bpf_capable: bool) -> None:
    """The kernel's iterative DFS over the CFG (check_cfg/visit_insn/push_insn)."""
    slots = prog.slots
    n = len(slots)
    DISC, EXPL, FALL, BR = 0x10, 0x20, 1, 2
    state = [0] * n
    stack = [0]
    state[0] = DISC
    prune, jmp = prog.prune, prog.jmp_points

    def push(t: int, w: int, e: int) -> int:
        if e == FALL and state[t] >= (DISC | FALL):
            return 0
        if e == BR and state[t] >= (DISC | BR):
            return 0
        if w < 0 or w >= n:
            raise CfgError(f"jump out of range from insn {t} to {w}", t)
        if e == BR:
            prune.add(w)
            jmp.add(w)
        if state[w] == 0:
            state[t] = DISC | e
            state[w] = DISC
            stack.append(w)
            return 1
        if (state[w] & 0xF0) == DISC:
            if bpf_capable:
                return 0
            raise CfgError(f"back-edge from insn {t} to {w}", t)
        if state[w] == EXPL:
            state[t] = DISC | e
        return 0

    def visit(t: int) -> int:
        i = slots[t]
        if i is None:
            return 0
        if i.opcode == OPCODE_LDDW and i.src == BPF_PSEUDO_FUNC:
            r = push(t, t + 2, FALL)
            if r:
                return r
            return push(t, t + i.imm + 1, BR)
        if not _is_jmp(i):
            return push(t, t + (2 if i.opcode == OPCODE_LDDW else 1), FALL)
        op = i.op
        if op == BPF_EXIT:
            return 0
        if op == BPF_CALL:
            r = push(t, t + 1, FALL)
            if r:
                return r
            prune.add(t + 1)
            jmp.add(t + 1)
            if i.src == BPF_PSEUDO_CALL:
                prune.add(t)
                return push(t, t + i.imm + 1, BR)
            return r
        if op == BPF_JA:
            w = jump_target(t, i)
            r = push(t, w, FALL)
            if r:
                return r
            prune.add(w)
            jmp.add(w)
            return r
        prune.add(t)
        r = push(t, t + 1, FALL)
        if r:
            return r
        return push(t, jump_target(t, i), BR)

    while stack:
        t = stack[-1]
        r = visit(t)
        if r == 0:
            state[t] = EXPL
            stack.pop()
    i = 0
    while i < n:
        if state[i] != EXPL:
            raise CfgError(f"unreachable insn {i}", i)
        slot = slots[i]
        if slot is not None and slot.opcode == OPCODE_LDDW:
            if i + 1 < n and state[i + 1] != 0:
                raise CfgError(f"jump into the middle of ldimm64 insn {i}", i)
            i += 1
        i += 1


def _uses_defs(i: Instruction) -> tuple[int, int]:
    """Registers read and written by one instruction, as bit masks (calls: r1-r5 read
    conservatively, r0-r5 written)."""
    cls, op, x = i.cls, i.op, i.source == BPF_X
    b = lambda r: 1 << r  # noqa: E731
    if cls in (BPF_ALU, BPF_ALU64):
        if op == BPF_MOV:
            return (b(i.src) if x else 0), b(i.dst)
        if op in (BPF_NEG, BPF_END):
            return b(i.dst), b(i.dst)
        return b(i.dst) | (b(i.src) if x else 0), b(i.dst)
    if cls == BPF_LD:
        if i.opcode == OPCODE_LDDW:
            return 0, b(i.dst)
        use = b(6) | (b(i.src) if i.mode == BPF_IND else 0)
        return use, 0x3F
    if cls == BPF_LDX:
        return b(i.src), b(i.dst)
    if cls == BPF_ST:
        return b(i.dst), 0
    if cls == BPF_STX:
        if i.mode == BPF_ATOMIC:
            use = b(i.dst) | b(i.src)
            d = 0
            if i.imm == BPF_CMPXCHG:
                use |= 1
                d = 1
            elif i.imm & BPF_FETCH:
                d = b(i.src)
            return use, d
        return b(i.dst) | b(i.src), 0
    if cls in (BPF_JMP, BPF_JMP32):
        if op == BPF_EXIT:
            return 1, 0
        if op == BPF_CALL:
            return 0x3E, 0x3F
        if op in (BPF_JA, BPF_JCOND):
            return 0, 0
        return b(i.dst) | (b(i.src) if x else 0), 0
    return 0x7FF, 0


def jump_successors(slots: Sequence[Instruction | None]) -> list[list[int]]:
    """Per slot, the slots control may go to next (calls: the insn after; exit: none),
    edges out of the program left out."""
    n = len(slots)
    succ: list[list[int]] = [[] for _ in range(n)]
    for pc, i in enumerate(slots):
        if i is None:
            continue
        if i.cls in (BPF_JMP, BPF_JMP32):
            op = i.op
            if op == BPF_EXIT:
                continue
            if op == BPF_CALL:
                out = [pc + 1]
            else:
                t = jump_target(pc, i)
                out = [t] if op == BPF_JA else [pc + 1, t]
        else:
            out = [pc + (2 if i.opcode == OPCODE_LDDW else 1)]
        succ[pc] = [s for s in out if 0 <= s < n]
    return succ


def compute_liveness(prog: Program, succ: "list[list[int]] | None" = None) -> None:
    """Backward dataflow: the registers live before each slot (as compute_live_registers;
    r10 always live). At exit r0 is live; calls read r1-r5."""
    slots = prog.slots
    if succ is None:
        succ = jump_successors(slots)
    gen = [0] * len(slots)
    kill = [0] * len(slots)
    for pc, i in enumerate(slots):
        if i is not None:
            use, d = _uses_defs(i)
            gen[pc] = use | (1 << 10)
            kill[pc] = d
    prog.live_in = backward_live(succ, gen, kill)


def _opcode_known(code: int) -> bool:
    from ..errors import InvalidInstruction
    from ..isa import validate
    try:
        validate(Instruction(code))
    except InvalidInstruction as e:
        return not e.reason.startswith("unknown opcode")
    return True


# isa.validate's "unknown opcode" depends on the opcode alone, but for every class
# other than BPF_LD it comes after the register check (a bad register is reported first)
_OPCODE_KNOWN = tuple(_opcode_known(c) for c in range(256))


def _known_opcode(i: Instruction) -> bool:
    """bpf_opcode_in_insntable: the opcode is one the kernel knows (fields aside)."""
    if _OPCODE_KNOWN[i.opcode & 0xFF]:
        return True
    return i.opcode & 0x07 != BPF_LD and (i.dst >= 11 or i.src >= 11)


def analyse(insns: Sequence[Instruction], bpf_capable: bool, gpl: bool = True,
            on_lddw: Callable[[Instruction], None] | None = None) -> Program:
    """The checks before the path walk in the kernel's order: subprograms and jump
    ranges (check_subprogs), each instruction's fields with `on_lddw` called at every
    lddw in turn (resolve_pseudo_ldimm64), then the CFG (check_cfg)."""
    slots = to_slots(insns)
    prog = Program(slots)
    prog.subprogs = find_subprogs(slots, bpf_capable, gpl)
    for pc, i in enumerate(slots):  # resolve_pseudo_ldimm64 comes after check_subprogs
        if i is None:
            continue
        if on_lddw is not None and i.opcode == OPCODE_LDDW:
            on_lddw(i)
        if i.cls == BPF_LDX and (i.mode not in (0x60, 0x80) or i.imm):
            raise CfgError("BPF_LDX uses reserved fields", pc)
        if not _known_opcode(i) or i.opcode == 0x8D:
            raise CfgError(f"unknown opcode {i.opcode:02x}", pc)
        if i.opcode == OPCODE_LDDW and i.src == BPF_PSEUDO_BTF_ID:
            check_ksym_insn(i, pc)  # kfunc.py: a ksym's id in this kernel's BTF
    check_cfg(prog, bpf_capable)
    succ = jump_successors(slots)
    compute_liveness(prog, succ)
    prog.stack_live = stack_liveness(slots, prog.subprogs, succ)
    return prog
