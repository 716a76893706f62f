"""The backward liveness solver (dataflow.py) against a plain fixed-point iteration on
random control-flow graphs, loops included, and the opcode table of the known-opcode
check (cfgcheck) against isa.validate."""

from __future__ import annotations

import random

import pytest

from pybpf.errors import InvalidInstruction
from pybpf.isa import Instruction, validate
from pybpf.verifier.cfgcheck import _known_opcode
from pybpf.verifier.dataflow import backward_live


def _fixed_point(succ: list[list[int]], gen: list[int], kill: list[int]) -> list[int]:
    live = [0] * len(succ)
    changed = True
    while changed:
        changed = False
        for pc in range(len(succ)):
            out = 0
            for s in succ[pc]:
                out |= live[s]
            new = gen[pc] | (out & ~kill[pc])
            if new != live[pc]:
                live[pc] = new
                changed = True
    return live


@pytest.mark.parametrize("seed", range(200))
def test_backward_live_is_the_least_fixed_point(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(1, 40)
    succ = []
    for pc in range(n):
        k = rng.choice((0, 1, 1, 2))
        succ.append(sorted({rng.randrange(n) if rng.random() < 0.3 else min(pc + 1, n - 1)
                            for _ in range(k)}))
    gen = [rng.getrandbits(8) if rng.random() < 0.3 else 0 for _ in range(n)]
    kill = [rng.getrandbits(8) if rng.random() < 0.3 else 0 for _ in range(n)]
    assert backward_live(succ, gen, kill) == _fixed_point(succ, gen, kill)


def test_a_loop_carries_liveness_around_the_back_edge() -> None:
    # 0 -> 1 -> 2 -> 1 (back-edge), 2 -> 3; bit 0 read at 3 only, killed at 0
    succ = [[1], [2], [1, 3], []]
    assert backward_live(succ, [0, 0, 0, 1], [1, 0, 0, 0]) == [0, 1, 1, 1]


def _known_by_validate(i: Instruction) -> bool:
    try:
        validate(i)
    except InvalidInstruction as e:
        return not e.reason.startswith("unknown opcode")
    return True


@pytest.mark.parametrize("regs", [(0, 0), (1, 10), (11, 0), (0, 12), (15, 15)])
def test_the_known_opcode_table_answers_as_validate(regs: tuple[int, int]) -> None:
    for code in range(256):
        for imm in (0, 16, 0xE1):
            i = Instruction(code, regs[0], regs[1], 0, imm)
            assert _known_opcode(i) == _known_by_validate(i), (hex(code), regs, imm)
