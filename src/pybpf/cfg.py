"""Control flow of an eBPF program, computed once: basic blocks, subprograms, successors
and predecessors, and the orders a verifier or a JIT walks them in.

Built from a sequence of `Instruction`s (`ControlFlowGraph.of(insns)`); pcs are slot
indexes as in pybpf.isa (lddw takes two slots). The graph does not judge the program:
`isa.check_program` asks it where functions start and which jumps leave theirs, the
VM's translation takes its block leaders, and a target that is no instruction start
simply makes no edge.

A block starts at pc 0, at a subprogram start (a BPF_PSEUDO_CALL target or the
function of an `lddw` BPF_PSEUDO_FUNC), at a jump target, and after a jump, exit, local
call or callx (a local call ends its block: the return lands on the next one). Helper
and kfunc calls do not end blocks. Successors are within the function: a local call
and callx fall through to the next block, the callee being a `call` edge.
"""

from __future__ import annotations

import bisect
from array import array
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Iterator, Sequence

from .isa import BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC, InsnKind, Instruction, classify, jump_target


class Exit(Enum):
    """How a block ends: what its last instruction does to control flow."""

    FALL = "fall"  # into the next block (the next instruction is a leader)
    JUMP = "jump"  # ja / gotol: to the target only
    BRANCH = "branch"  # conditional jump or may_goto: the next block or the target
    CALL = "call"  # local call: the callee, then the next block
    CALLX = "callx"  # indirect call: a function or helper, then the next block
    EXIT = "exit"  # return from the function (or the program)


_ENDS_BLOCK = {InsnKind.JA: Exit.JUMP, InsnKind.JCOND: Exit.BRANCH,
               InsnKind.MAY_GOTO: Exit.BRANCH, InsnKind.EXIT: Exit.EXIT,
               InsnKind.CALLX: Exit.CALLX}


def _exit_of(insn: Instruction) -> Exit | None:
    """How `insn` ends a block, or None if control goes on to the next instruction."""
    kind = classify(insn)
    if kind == InsnKind.CALL:
        return Exit.CALL if insn.src == BPF_PSEUDO_CALL else None
    return _ENDS_BLOCK.get(kind)


@dataclass(frozen=True, slots=True)
class Block:
    """A basic block: instructions `first` .. `last` - 1 (indexes into the program),
    at pcs [start, end). `succs` are the blocks control may reach next within the
    function; `callee` the block a local call enters (None otherwise)."""

    index: int
    first: int
    last: int
    start: int
    end: int
    exit: Exit
    succs: tuple[int, ...]
    callee: int | None = None


@dataclass(frozen=True, eq=False)
class ControlFlowGraph:
    """The control flow of one program. `pcs[i]` is the pc of instruction i, `total`
    the slot count, `leaders[b]` the instruction index starting block b, `functions`
    the sorted pcs where subprograms start (0 first), `call_targets` the pcs local
    calls and function values (lddw BPF_PSEUDO_FUNC) name. Blocks, edges and orders are
    derived on first use and kept (the arrays stay small for a 1M-instruction
    program; Block objects are made only when asked for)."""

    insns: Sequence[Instruction]
    pcs: array
    total: int
    leaders: array
    functions: tuple[int, ...]
    call_targets: frozenset[int]
    _pc_set: frozenset[int] = field(repr=False)

    @classmethod
    def of(cls, insns: Sequence[Instruction]) -> ControlFlowGraph:
        """The graph of `insns` (at least one instruction) in one pass."""
        if not insns:
            raise ValueError("a control-flow graph needs at least one instruction")
        pcs = array("q")
        pc = 0
        for insn in insns:
            pcs.append(pc)
            pc += insn.slots
        total = pc
        starts = frozenset(pcs)
        targets: set[int] = set()
        marks = {0}
        for insn, pc in zip(insns, pcs):
            how = _exit_of(insn)
            if how is not None:
                tgt = jump_target(insn, pc)
                if tgt is not None:
                    marks.add(tgt)
                    if how is Exit.CALL and tgt in starts:
                        targets.add(tgt)
                marks.add(pc + 1)
            elif insn.is_lddw and insn.src == BPF_PSEUDO_FUNC:
                tgt = pc + 1 + insn.imm
                marks.add(tgt)
                if tgt in starts:
                    targets.add(tgt)
        leaders = array("q", (i for i, pc in enumerate(pcs) if pc in marks))
        return cls(insns, pcs, total, leaders, tuple(sorted(targets | {0})),
                   frozenset(targets), starts)

    # --- positions ---------------------------------------------------------------------
    def __len__(self) -> int:
        """The number of blocks."""
        return len(self.leaders)

    def is_insn_start(self, pc: int) -> bool:
        """Does an instruction start at `pc` (not past the end, not the second half
        of an lddw)?"""
        return pc in self._pc_set

    def index_of(self, pc: int) -> int | None:
        """The instruction index at `pc`, or None if no instruction starts there."""
        if pc not in self._pc_set:
            return None
        return bisect.bisect_left(self.pcs, pc)

    def block_first(self, b: int) -> int:
        """The index of block b's first instruction (len(insns) for b == len(self))."""
        return self.leaders[b] if b < len(self.leaders) else len(self.insns)

    def block_start(self, b: int) -> int:
        """The pc of block b's first instruction (`total` for b == len(self))."""
        i = self.block_first(b)
        return self.pcs[i] if i < len(self.insns) else self.total

    def block_at(self, pc: int) -> int:
        """The block holding the slot `pc` (0 <= pc < total)."""
        if not 0 <= pc < self.total:
            raise IndexError(f"pc {pc} is outside the program (0..{self.total - 1})")
        return bisect.bisect_right(self.leaders, bisect.bisect_right(self.pcs, pc) - 1) - 1

    def function_at(self, pc: int) -> int:
        """The index (into `functions`) of the subprogram holding the slot `pc`."""
        return bisect.bisect_right(self.functions, pc) - 1

    def function_end(self, f: int) -> int:
        """The pc after subprogram f's last slot."""
        return self.functions[f + 1] if f + 1 < len(self.functions) else self.total

    def function_blocks(self, f: int) -> range:
        """The blocks of subprogram f, in pc order."""
        return range(self.block_at(self.functions[f]),
                     self.block_at(self.function_end(f) - 1) + 1)

    # --- blocks and edges --------------------------------------------------------------
    def block(self, b: int) -> Block:
        """Block b with its successors."""
        first, last = self.block_first(b), self.block_first(b + 1)
        start, end = self.block_start(b), self.block_start(b + 1)
        insn = self.insns[last - 1]
        pc = self.pcs[last - 1]
        how = _exit_of(insn) or Exit.FALL
        succs: list[int] = []
        callee = None
        tgt = jump_target(insn, pc)
        if how in (Exit.FALL, Exit.BRANCH, Exit.CALL, Exit.CALLX) and end < self.total:
            succs.append(b + 1)
        if how in (Exit.JUMP, Exit.BRANCH) and tgt is not None and tgt in self._pc_set:
            t = self.block_at(tgt)
            if t not in succs:
                succs.append(t)
        if how is Exit.CALL and tgt is not None and tgt in self._pc_set:
            callee = self.block_at(tgt)
        return Block(b, first, last, start, end, how, tuple(succs), callee)

    @cached_property
    def blocks(self) -> tuple[Block, ...]:
        """Every block, in pc order."""
        return tuple(self.block(b) for b in range(len(self)))

    def __iter__(self) -> Iterator[Block]:
        return iter(self.blocks)

    def successors(self, b: int) -> tuple[int, ...]:
        return self.blocks[b].succs

    @cached_property
    def predecessors(self) -> tuple[tuple[int, ...], ...]:
        """`predecessors[b]`: the blocks with b among their successors, in order."""
        preds: list[list[int]] = [[] for _ in range(len(self))]
        for blk in self.blocks:
            for s in blk.succs:
                preds[s].append(blk.index)
        return tuple(tuple(p) for p in preds)

    @cached_property
    def jump_targets(self) -> frozenset[int]:
        """The pcs jumps (ja, conditional jumps, may_goto) go to, where an instruction
        starts there."""
        out = set()
        for insn, pc in zip(self.insns, self.pcs):
            if classify(insn) in (InsnKind.JA, InsnKind.JCOND, InsnKind.MAY_GOTO):
                tgt = jump_target(insn, pc)
                if tgt is not None and tgt in self._pc_set:
                    out.add(tgt)
        return frozenset(out)

    @cached_property
    def function_refs(self) -> tuple[int, ...]:
        """The blocks of subprograms named as values (lddw BPF_PSEUDO_FUNC: callbacks
        of bpf_loop, bpf_for_each_map_elem, timers)."""
        out = []
        for insn, pc in zip(self.insns, self.pcs):
            if insn.is_lddw and insn.src == BPF_PSEUDO_FUNC:
                tgt = pc + 1 + insn.imm
                if tgt in self._pc_set:
                    out.append(self.block_at(tgt))
        return tuple(sorted(set(out)))

    def reachable(self, entry: int = 0) -> frozenset[int]:
        """The blocks reachable from block `entry`: through successors, local calls and
        the callbacks any reached code names (callx may go to those)."""
        seen = {entry}
        work = [entry]
        refs_added = False
        while work:
            b = work.pop()
            blk = self.blocks[b]
            nxt = list(blk.succs)
            if blk.callee is not None:
                nxt.append(blk.callee)
            if not refs_added and any(
                    self.insns[i].is_lddw and self.insns[i].src == BPF_PSEUDO_FUNC
                    for i in range(blk.first, blk.last)):
                refs_added = True
                nxt.extend(self.function_refs)
            for s in nxt:
                if s not in seen:
                    seen.add(s)
                    work.append(s)
        return frozenset(seen)

    def reverse_postorder(self, f: int = 0) -> tuple[int, ...]:
        """The blocks of subprogram f reachable from its entry, in reverse postorder of a
        depth-first walk over successors (every block before its successors, but
        along back edges)."""
        entry = self.block_at(self.functions[f])
        order: list[int] = []
        seen = {entry}
        stack: list[tuple[int, Iterator[int]]] = [(entry, iter(self.blocks[entry].succs))]
        while stack:
            b, it = stack[-1]
            s = next(it, None)
            if s is None:
                stack.pop()
                order.append(b)
            elif s not in seen:
                seen.add(s)
                stack.append((s, iter(self.blocks[s].succs)))
        order.reverse()
        return tuple(order)

    def back_edges(self, f: int = 0) -> tuple[tuple[int, int], ...]:
        """The edges (from, to) of subprogram f that go to a block no later in its
        reverse postorder: each closes a loop (a bounded loop or may_goto for the
        verifier, a backward branch for a JIT)."""
        rpo = self.reverse_postorder(f)
        pos = {b: i for i, b in enumerate(rpo)}
        return tuple((b, s) for b in rpo for s in self.blocks[b].succs
                     if s in pos and pos[s] <= pos[b])
