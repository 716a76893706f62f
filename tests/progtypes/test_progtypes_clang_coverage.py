"""The helper coverage table (helper_coverage.py) against the compiled programs: every
entry names a kernel helper, says how it is compared, and is really called by one of
the objects it points at; and the clang objects are up to date with their sources'
names (each .c has its .o)."""

from __future__ import annotations

from pathlib import Path

import pytest

import pybpf
from pybpf import isa
from pybpf.helper_ids import HELPER_IDS, HELPER_NAMES

from .helper_coverage import COVERAGE

TESTS = Path(__file__).resolve().parents[1]
CLANG = TESTS / "progtypes" / "data" / "clang"


def called_helpers(path: Path) -> set[str]:
    """Names of the helpers the object's programs call (BPF_CALL with src 0)."""
    out: set[str] = set()
    for prog in pybpf.load(path).programs.values():
        code = isa.encode(prog.instructions)
        for insn in isa.decode(code):
            if insn.opcode == isa.OPCODE_CALL and insn.src == 0:
                out.add(HELPER_NAMES[insn.imm])
    return out


_CALLS: dict[Path, set[str]] = {}


def _calls(pattern: str) -> set[str]:
    paths = sorted(TESTS.glob(pattern))
    assert paths, f"no object matches {pattern}"
    names: set[str] = set()
    for p in paths:
        if p not in _CALLS:
            _CALLS[p] = called_helpers(p)
        names |= _CALLS[p]
    return names


@pytest.mark.parametrize("helper", sorted(COVERAGE))
def test_coverage_entry_is_called(helper: str) -> None:
    entry = COVERAGE[helper]
    assert helper in HELPER_IDS, f"{helper} is not a kernel helper name"
    assert entry.method == "equal" or entry.method.startswith("property: "), entry.method
    assert (TESTS / entry.test).is_file(), entry.test
    if not entry.objects:  # hand-assembled programs in the test file itself
        assert f"call bpf_{helper}" in (TESTS / entry.test).read_text(), entry.test
        return
    called = set().union(*(_calls(p) for p in entry.objects))
    assert helper in called, f"no program in {entry.objects} calls bpf_{helper}"


def test_clang_objects_are_built() -> None:
    sources = {p.stem for p in CLANG.glob("*.c")}
    objects = {p.stem for p in CLANG.glob("*.o")}
    assert sources == objects
    for name in sources:
        assert (CLANG / f"{name}.o").stat().st_size > 0


def test_clang_objects_call_what_the_table_lists() -> None:
    """The other direction, for the clang suite: every helper its objects call is in
    the table (a new call in a program needs a decision on how it is compared)."""
    called = set().union(*(called_helpers(p) for p in CLANG.glob("*.o")))
    assert called - set(COVERAGE) == set()


def test_every_vm_helper_is_compared_with_the_kernel() -> None:
    """Each helper some program type's VM registry provides has an entry: a helper
    added to the VM needs its comparison with the kernel."""
    from pybpf.progtypes import helpers_for
    from pybpf.uapi import ProgType
    on_vm = {HELPER_NAMES[h] for t in ProgType for h in helpers_for(t)}
    assert on_vm - set(COVERAGE) == set()
