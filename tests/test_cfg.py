"""pybpf.cfg: blocks partition the program, edges follow each instruction's semantics,
subprograms come from local calls and function values, and the orders a verifier or
JIT needs (reverse postorder, back edges) hold on any program."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf import isa
from pybpf.cfg import ControlFlowGraph, Exit
from pybpf.check import check_program
from pybpf.fuzz import FuzzCase, fuzz_cases
from pybpf.isa import Instruction as I

MOV = lambda d, imm: I(0xB7, d, 0, 0, imm)  # noqa: E731
ADD = lambda d, imm: I(0x07, d, 0, 0, imm)  # noqa: E731
JEQ = lambda d, imm, off: I(0x15, d, 0, off, imm)  # noqa: E731
JA = lambda off: I(isa.OPCODE_JA, off=off)  # noqa: E731
CALL_LOCAL = lambda imm: I(isa.OPCODE_CALL, src=isa.BPF_PSEUDO_CALL, imm=imm)  # noqa: E731
HELPER = lambda imm: I(isa.OPCODE_CALL, imm=imm)  # noqa: E731
EXIT = I(isa.OPCODE_EXIT)


def test_straight_line_code_is_one_block() -> None:
    g = ControlFlowGraph.of([MOV(0, 1), HELPER(5), ADD(0, 1), EXIT])
    assert len(g) == 1
    (b,) = g.blocks
    assert (b.first, b.last, b.start, b.end, b.exit, b.succs) == (0, 4, 0, 4, Exit.EXIT, ())
    assert g.functions == (0,) and g.call_targets == frozenset()


def test_branch_makes_a_diamond() -> None:
    #  0: if r0 == 0 goto 3 / 1: r0 = 1 / 2: goto 4 / 3: r0 = 2 / 4: exit
    g = ControlFlowGraph.of([JEQ(0, 0, 2), MOV(0, 1), JA(1), MOV(0, 2), EXIT])
    assert [(b.start, b.end) for b in g] == [(0, 1), (1, 3), (3, 4), (4, 5)]
    assert [b.succs for b in g] == [(1, 2), (3,), (3,), ()]
    assert g.predecessors == ((), (0,), (0,), (1, 2))
    assert g.jump_targets == frozenset({3, 4})
    assert g.reverse_postorder() in ((0, 1, 2, 3), (0, 2, 1, 3))
    assert g.back_edges() == ()
    assert [g.block_at(pc) for pc in range(5)] == [0, 1, 1, 2, 3]


def test_loop_has_a_back_edge() -> None:
    #  0: r0 = 0 / 1: r0 += 1 / 2: if r0 == 9 goto 4 / 3: goto 1 / 4: exit
    g = ControlFlowGraph.of([MOV(0, 0), ADD(0, 1), JEQ(0, 9, 1), JA(-3), EXIT])
    assert [(b.start, b.end) for b in g] == [(0, 1), (1, 3), (3, 4), (4, 5)]
    assert g.back_edges() == ((2, 1),)
    assert g.reachable() == frozenset(range(4))


def test_lddw_takes_two_slots() -> None:
    insns = [I.lddw(1, 1 << 40), JEQ(1, 0, 2), I.lddw(0, 7), EXIT]  # jeq: to the exit
    g = ControlFlowGraph.of(insns)
    assert list(g.pcs) == [0, 2, 3, 5] and g.total == 6
    assert g.index_of(2) == 1 and g.index_of(1) is None and g.index_of(4) is None
    assert not g.is_insn_start(1) and g.is_insn_start(5)
    assert [(b.start, b.end) for b in g] == [(0, 3), (3, 5), (5, 6)]
    assert g.block_at(4) == 1


def test_local_calls_and_function_values_start_subprograms() -> None:
    insns = [
        CALL_LOCAL(3),                                     # 0: call pc 4
        I(isa.OPCODE_LDDW, 2, isa.BPF_PSEUDO_FUNC, 0, 3),  # 1: r2 = func pc 5
        EXIT,                                              # 3
        EXIT,                                              # 4: sub 1
        EXIT,                                              # 5: callback
    ]
    g = ControlFlowGraph.of(insns)
    assert g.functions == (0, 4, 5) and g.call_targets == frozenset({4, 5})
    assert [g.function_at(pc) for pc in range(6)] == [0, 0, 0, 0, 1, 2]
    call = g.blocks[g.block_at(0)]
    assert call.exit is Exit.CALL and call.callee == g.block_at(4)
    assert call.succs == (g.block_at(1),)  # the return lands on the next block
    assert g.function_refs == (g.block_at(5),)
    assert g.reachable() == frozenset(range(len(g)))
    assert check_program(insns) is not None


def test_unreachable_code_is_not_reachable() -> None:
    g = ControlFlowGraph.of([JA(1), MOV(0, 1), EXIT])
    assert g.reachable() == frozenset({0, 2})
    assert g.reverse_postorder() == (0, 2)


def test_a_bad_target_makes_no_edge() -> None:
    g = ControlFlowGraph.of([JA(5), EXIT])  # what check_program refuses
    assert g.blocks[0].succs == ()
    with pytest.raises(IndexError):
        g.block_at(2)


def test_empty_program_has_no_graph() -> None:
    with pytest.raises(ValueError):
        ControlFlowGraph.of([])


def _semantic_successors(g: ControlFlowGraph, i: int) -> set[int]:
    """The pcs control may reach after instruction i within its function, from the
    instruction alone."""
    insn, pc = g.insns[i], g.pcs[i]
    kind = isa.classify(insn)
    nxt = pc + insn.slots
    out = set()
    if kind != isa.InsnKind.EXIT and kind != isa.InsnKind.JA and nxt < g.total:
        out.add(nxt)
    if kind in (isa.InsnKind.JA, isa.InsnKind.JCOND, isa.InsnKind.MAY_GOTO):
        out.add(isa.jump_target(insn, pc))
    return {t for t in out if g.is_insn_start(t)}


@settings(max_examples=200, deadline=None)
@given(case=fuzz_cases())
def test_blocks_partition_the_program_and_edges_follow_semantics(case: FuzzCase) -> None:
    insns = isa.decode(case.code)
    g = ControlFlowGraph.of(insns)
    # every instruction is in exactly one block, blocks are contiguous and in pc order
    covered = [i for b in g for i in range(b.first, b.last)]
    assert covered == list(range(len(insns)))
    for pc in range(g.total):
        b = g.blocks[g.block_at(pc)]
        assert b.start <= pc < b.end
    # inside a block control only falls through; the last instruction's successors are
    # the block's successors' starts
    for b in g:
        for i in range(b.first, b.last - 1):
            assert _semantic_successors(g, i) == {g.pcs[i + 1]}
        starts = {g.blocks[s].start for s in b.succs}
        assert starts == _semantic_successors(g, b.last - 1)
        for s in b.succs:
            assert b.index in g.predecessors[s]
    # every jump target and subprogram start begins a block
    for insn, pc in zip(insns, g.pcs):
        tgt = isa.jump_target(insn, pc)
        if tgt is not None and g.is_insn_start(tgt):
            assert g.blocks[g.block_at(tgt)].start == tgt
    for tgt in g.jump_targets | set(g.functions):
        assert g.blocks[g.block_at(tgt)].start == tgt
    # reverse postorder: each block once, the entry first, and every edge that is not a
    # back edge goes forward
    for f in range(len(g.functions)):
        rpo = g.reverse_postorder(f)
        assert len(set(rpo)) == len(rpo) and rpo[0] == g.block_at(g.functions[f])
        pos = {b: k for k, b in enumerate(rpo)}
        back = set(g.back_edges(f))
        for b in rpo:
            for s in g.blocks[b].succs:
                assert s in pos
                assert ((b, s) in back) == (pos[s] <= pos[b])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([MOV(0, 1), ADD(0, 2), HELPER(5), JEQ(0, 1, 1), JA(1),
                                 I.lddw(0, 3), CALL_LOCAL(1), EXIT]), min_size=1, max_size=40))
def test_any_instruction_sequence_has_a_graph(insns: list[I]) -> None:
    """Also programs the loader refuses (bad targets, no exit): the graph is total."""
    g = ControlFlowGraph.of(insns)
    assert sum(b.last - b.first for b in g) == len(insns)
    assert g.block_first(len(g)) == len(insns) and g.block_start(len(g)) == g.total
    assert 0 in g.reachable()
    for f in range(len(g.functions)):
        rpo = g.reverse_postorder(f)
        assert rpo[0] == g.block_at(g.functions[f]) and len(set(rpo)) == len(rpo)
