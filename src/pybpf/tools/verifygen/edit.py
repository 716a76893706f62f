"""Editing programs without breaking them: insert, replace and delete instructions while
every jump, local call and function reference keeps pointing at the instruction it
pointed at (offsets are recomputed in slots, so lddw's two slots count)."""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from ...isa import (
    BPF_JMP32,
    OPCODE_JA,
    InsnKind,
    Instruction,
    classify,
    jump_target,
    slot_offsets,
)

NOP = Instruction(OPCODE_JA)  # goto +0


def targets(insns: Sequence[Instruction]) -> list[int | None]:
    """For each instruction, the index (not the slot) of the instruction its jump, local
    call or pseudo-func lddw refers to; None for the others (and for a target that is
    no instruction start)."""
    pcs = slot_offsets(insns)
    index = {pc: i for i, pc in enumerate(pcs)}
    end = pcs[-1] + insns[-1].slots if insns else 0
    index.setdefault(end, len(insns))
    out: list[int | None] = []
    for insn, pc in zip(insns, pcs):
        t = jump_target(insn, pc)
        out.append(index.get(t) if t is not None else None)
    return out


def _with_offset(insn: Instruction, delta: int) -> Instruction:
    kind = classify(insn)
    if kind == InsnKind.JA and insn.cls == BPF_JMP32:
        return replace(insn, imm=delta)
    if kind in (InsnKind.JA, InsnKind.JCOND, InsnKind.MAY_GOTO):
        return replace(insn, off=max(-32768, min(32767, delta)))
    return replace(insn, imm=delta)  # local call, pseudo-func lddw


def rebuild(insns: Sequence[Instruction], tgts: Sequence[int | None]) -> list[Instruction]:
    """The instructions with each jump's offset recomputed for its target index."""
    pcs = slot_offsets(insns) if insns else []
    end = pcs[-1] + insns[-1].slots if insns else 0
    out = []
    for i, insn in enumerate(insns):
        t = tgts[i]
        if t is None:
            out.append(insn)
            continue
        dest = pcs[t] if t < len(pcs) else end
        out.append(_with_offset(insn, dest - pcs[i] - 1))
    return out


def splice(insns: Sequence[Instruction], at: int, remove: int,
           new: Sequence[Instruction], *, jumps_into_new: bool = True) -> list[Instruction]:
    """Replace insns[at:at+remove] by `new`. Jumps to a removed instruction, or to `at`
    when `jumps_into_new`, land on the first new instruction (on what follows when
    `new` is empty); jumps to `at` otherwise land on the instruction that was there. The
    new instructions' own jumps keep their relative offsets (counted inside `new`, or
    to what follows it when they point past it)."""
    old_t = targets(insns)
    n = len(new)
    shift = n - remove

    def moved(t: int | None) -> int | None:
        if t is None:
            return None
        if t < at:
            return t
        if t == at and remove == 0 and not jumps_into_new:
            return t + n
        if t < at + remove or (t == at and remove == 0):
            return at if n else at + n  # into the new code (or what follows it)
        return t + shift

    out = list(insns[:at]) + list(new) + list(insns[at + remove:])
    tg: list[int | None] = [moved(t) for t in old_t[:at]]
    new_t = targets(new) if new else []
    for t in new_t:
        if t is None:
            tg.append(None)
        else:
            tg.append(at + t if t < n else at + n + (t - n))
    tg += [moved(t) for t in old_t[at + remove:]]
    return rebuild(out, tg)


def insert(insns: Sequence[Instruction], at: int, new: Sequence[Instruction], *,
           jumps_into_new: bool = True) -> list[Instruction]:
    """Insert `new` before instruction `at` (see splice)."""
    return splice(insns, at, 0, new, jumps_into_new=jumps_into_new)


def replace_at(insns: Sequence[Instruction], at: int,
               new: "Instruction | Sequence[Instruction]") -> list[Instruction]:
    """Replace instruction `at`: by one instruction of the same kind in place (a jump
    keeps its target only if the new one says the same offset), or by a sequence."""
    if isinstance(new, Instruction):
        new = [new]
    return splice(insns, at, 1, new)


def nop_at(insns: Sequence[Instruction], at: int) -> list[Instruction]:
    """Instruction `at` becomes `goto +0` (same length, nothing else moves; an lddw's
    two slots become two of them)."""
    n = insns[at].slots
    return splice(insns, at, 1, [NOP] * n)
