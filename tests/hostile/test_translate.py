"""Translation is O(n) in time and memory: a 1M-instruction program (the kernel's
limit) translates in seconds under a 2 GiB address-space cap, and splitting a program
into blocks and compiled chunks changes no result."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings

import pybpf
from pybpf import vm as vm_mod
from pybpf.vm import translate
from pybpf.conformance import check_vector
from pybpf.errors import InstructionLimitExceeded
from pybpf.fuzz import FuzzCase, fuzz_cases, run_vm
from pybpf.isa import Instruction as I
from tests.conftest import CONFORMANCE, conformance_dir
from tests.hostile.limits import run_limited

MOV0, ADD1, JEQ0, JA, EXIT = 0xB7, 0x07, 0x15, 0x05, 0x95

BIG_PROGRAM = """
    import json, resource, time
    from pybpf import isa
    from pybpf.isa import Instruction as I
    from pybpf.vm import VM
    n = {n}
    half = n // 2
    # gotol to the last add; half straight-line code; then blocks of two (add, jeq +0); exit
    insns = [I(0x06, 0, 0, 0, n - 3)] + [I(0x07, 0, 0, 0, 1)] * (half - 1)
    insns += [I(0x07, 0, 0, 0, 1), I(0x15, 0, 0, 0, 0)] * ((n - half - 2) // 2)
    insns += [I(0x07, 0, 0, 0, 1)] * (n - 1 - len(insns)) + [I(0x95)]
    code = isa.encode(insns)
    del insns
    t = time.perf_counter()
    vm = VM(code)
    translate = time.perf_counter() - t
    t = time.perf_counter()
    r0 = vm.execute().r0
    run = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({{"insns": len(vm.insns), "translate": translate, "run": run, "r0": r0,
                      "rss": rss}}))
"""


def test_one_million_instructions_translate_in_bounded_time_and_memory() -> None:
    """Before: 1M straight-line instructions took 35 s and 4.1 GiB; 100k instructions in
    50k blocks took 109 s (quadratic). Under a 2 GiB cap this was a MemoryError."""
    res = run_limited(BIG_PROGRAM.format(n=1_000_000), timeout=180)
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.json()
    assert out["insns"] == 1_000_000
    assert out["r0"] == 1  # the jump lands on the last add
    assert out["translate"] < 90, out
    assert out["rss"] < 1 << 30, out


@pytest.fixture
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of at most 2 instructions and chunks of at most 3: every jump, call,
    exit and callback crosses between compiled chunks."""
    monkeypatch.setattr(translate, "MAX_BLOCK_INSNS", 2)
    monkeypatch.setattr(translate, "CHUNK_INSNS", 3)


def test_chunked_translation_passes_the_conformance_vectors(tiny_chunks: None) -> None:
    conformance_dir()
    paths = sorted((CONFORMANCE / "bpf_conformance").glob("*.data"))
    failed = []
    for path in paths:
        outcome = check_vector(path, lambda v: pybpf.run(v.program(), v.mem))
        if not outcome.passed:
            failed.append(f"{Path(path).name}: {outcome.detail}")
    assert not failed, failed


@settings(max_examples=150, deadline=None)
@given(case=fuzz_cases())
def test_chunked_translation_gives_the_same_outcome(case: FuzzCase) -> None:
    whole = run_vm(case)
    saved = translate.MAX_BLOCK_INSNS, translate.CHUNK_INSNS
    translate.MAX_BLOCK_INSNS, translate.CHUNK_INSNS = 2, 3
    try:
        chunked = run_vm(case)
    finally:
        translate.MAX_BLOCK_INSNS, translate.CHUNK_INSNS = saved
    if whole.error and whole.error.startswith("InstructionLimitExceeded"):
        # the chunks' translation is charged to the budget: it runs out at another pc
        assert chunked.error and chunked.error.startswith("InstructionLimitExceeded")
        return
    assert chunked == whole


def test_long_straight_line_code_is_split_and_still_counted() -> None:
    insns = [I(MOV0, 0, 0, 0, 0)] + [I(ADD1, 0, 0, 0, 1)] * 5000 + [I(EXIT)]
    assert vm_mod.VM(insns).execute().r0 == 5000
    vm = vm_mod.VM(insns)
    # the first run pays for translating both chunks (one unit an instruction), later
    # runs only for what they execute
    assert vm.execute().executed == 5002 + 5002
    assert vm.execute().executed == 5002
    with pytest.raises(InstructionLimitExceeded):
        vm_mod.VM(insns, insn_budget=4000).execute()


def test_translating_a_chunk_is_charged_to_the_budget() -> None:
    """A run that first enters a chunk of a long program pays for its translation: a
    budget that covers the instructions run but not the translation runs out, naming
    the code being translated; once translated, the same budget suffices."""
    insns = [I(JA, 0, 0, 5000, 0)] + [I(ADD1, 0, 0, 0, 1)] * 5000 + \
        [I(MOV0, 0, 0, 0, 7), I(EXIT)]
    vm = vm_mod.VM(insns, insn_budget=100)
    with pytest.raises(InstructionLimitExceeded,
                       match="translating the 3073 instructions of the code at pc 0"):
        vm.execute()
    vm.insn_budget = 10_000
    assert vm.execute().r0 == 7  # translates both chunks it reaches
    vm.insn_budget = 100
    assert vm.execute() == (7, 3)


def test_source_of_a_chunked_program_is_available(tiny_chunks: None) -> None:
    insns = [I(MOV0, 0, 0, 0, 0)] + [I(ADD1, 0, 0, 0, 1), I(JEQ0, 0, 0, 0, 0)] * 4 + [I(EXIT)]
    vm = vm_mod.VM(insns)
    assert vm.execute().r0 == 4
    assert "def _chunk1(" in vm.source and "def _program(" in vm.source


RUN_ALL = """
    import json, resource, time
    from pybpf import isa
    from pybpf.isa import Instruction as I
    from pybpf.vm import VM
    n = 1_000_000
    if {blocks}:
        insns = [I(0xB7, 0, 0, 0, 0)]
        insns += [I(0x07, 0, 0, 0, 1), I(0x15, 0, 0, 0, 0)] * ((n - 2) // 2) + [I(0x95)]
    else:
        insns = [I(0xB7, 0, 0, 0, 0)] + [I(0x07, 0, 0, 0, 1)] * (n - 2) + [I(0x95)]
    code = isa.encode(insns)
    del insns
    t = time.perf_counter()
    vm = VM(code, insn_budget=2 * n)
    translate = time.perf_counter() - t
    t = time.perf_counter()
    r = vm.execute()
    print(json.dumps({{"r0": r.r0, "executed": r.executed, "translate": translate,
                      "run": time.perf_counter() - t,
                      "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("blocks", [False, True], ids=["straight", "blocks"])
def test_one_million_instructions_run_to_the_end(blocks: bool) -> None:
    """Every chunk of a 1M-instruction program compiled on first entry and run."""
    res = run_limited(RUN_ALL.format(blocks=blocks), timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.json()
    assert out["executed"] == 1_000_000
    assert out["r0"] == (499_999 if blocks else 999_998)
    assert out["rss"] < 1 << 30, out
