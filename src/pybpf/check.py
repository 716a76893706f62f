"""The static checks a loader makes before running anything (what the kernel's verifier
checks first, in check_subprogs and check_cfg): size, function boundaries, jump and call
targets, writes to r10, known helpers. Control flow comes from pybpf.cfg."""

from __future__ import annotations

import bisect
from typing import Sequence

from .cfg import ControlFlowGraph
from .errors import InvalidProgram
from .isa import (BPF_COMPLEXITY_LIMIT_INSNS, BPF_FETCH, BPF_LOAD_ACQ, BPF_PSEUDO_CALL,
                  BPF_PSEUDO_FUNC, BPF_REG_FP, InsnKind, Instruction, classify, decode, jump_target)

_WRITES_DST = frozenset({InsnKind.ALU, InsnKind.ENDIAN, InsnKind.LDDW, InsnKind.LDX})
_JUMPS = frozenset({InsnKind.JA, InsnKind.JCOND, InsnKind.MAY_GOTO})


def check_program(insns: Sequence[Instruction], *, max_insns: int = BPF_COMPLEXITY_LIMIT_INSNS,
                  helper_ids: "set[int] | frozenset[int] | None" = None,
                  cfg: ControlFlowGraph | None = None) -> ControlFlowGraph:
    """The static checks a loader makes before running anything: a non-empty program of
    at most `max_insns` slots, no write to r10, jumps inside their function and
    never into the second half of lddw, local calls to valid starts, every function
    ending in exit or an unconditional jump, and (if `helper_ids` is given) only known
    helpers. Raises InvalidProgram naming the pc; returns the program's control-flow
    graph (`cfg` when given one of these instructions)."""
    if not insns:
        raise InvalidProgram(0, "empty program")
    total = cfg.total if cfg is not None else sum(i.slots for i in insns)
    if total > max_insns:
        raise InvalidProgram(0, f"too many instructions ({total}, max {max_insns})")
    if cfg is None:
        cfg = ControlFlowGraph.of(insns)
    pcs = cfg.pcs
    # local calls and function values must name an instruction start
    for insn, pc in zip(insns, pcs):
        if (insn.src == BPF_PSEUDO_CALL and classify(insn) == InsnKind.CALL) or (
                insn.is_lddw and insn.src == BPF_PSEUDO_FUNC):
            tgt = pc + 1 + insn.imm
            if not cfg.is_insn_start(tgt):
                raise InvalidProgram(pc, f"call to invalid target pc {tgt}")
    # the last instruction of a function must end it
    for f in range(len(cfg.functions)):
        last = bisect.bisect_left(pcs, cfg.function_end(f)) - 1
        if classify(insns[last]) not in (InsnKind.EXIT, InsnKind.JA):
            raise InvalidProgram(pcs[last], "function does not end with exit or an "
                                            "unconditional jump")
    for insn, pc in zip(insns, pcs):
        kind = classify(insn)
        if kind in _WRITES_DST and insn.dst == BPF_REG_FP:
            raise InvalidProgram(pc, "frame pointer r10 is read only")
        if kind == InsnKind.ATOMIC and insn.imm & BPF_FETCH and insn.src == BPF_REG_FP:
            raise InvalidProgram(pc, "atomic fetch into r10 (frame pointer is read only)")
        if kind == InsnKind.ATOMIC and insn.imm == BPF_LOAD_ACQ and insn.dst == BPF_REG_FP:
            raise InvalidProgram(pc, "load-acquire into r10 (frame pointer is read only)")
        if kind == InsnKind.CALL and insn.src == 0 and helper_ids is not None \
                and insn.imm not in helper_ids:
            raise InvalidProgram(pc, f"call to unknown helper {insn.imm}")
        if kind in _JUMPS:
            tgt = jump_target(insn, pc)
            assert tgt is not None
            if tgt < 0 or tgt >= total:
                raise InvalidProgram(pc, f"jump out of bounds to pc {tgt}")
            if not cfg.is_insn_start(tgt):
                raise InvalidProgram(pc, f"jump into the middle of lddw at pc {tgt}")
            if cfg.function_at(tgt) != cfg.function_at(pc):
                raise InvalidProgram(pc, f"jump to pc {tgt} leaves its function")
            if kind == InsnKind.JA and tgt == pc:
                raise InvalidProgram(pc, "infinite loop (jump to itself)")
    return cfg


def load(code: bytes | bytearray | memoryview, *, max_insns: int = BPF_COMPLEXITY_LIMIT_INSNS,
         helper_ids: "set[int] | frozenset[int] | None" = None) -> list[Instruction]:
    """Decode, validate every instruction and make the program-level checks."""
    insns = decode(code)
    check_program(insns, max_insns=max_insns, helper_ids=helper_ids)
    return insns
