"""Replays every reproducer in tests/regressions: the VM must give the recorded kernel
result, and where bpf(2) is available the kernel must still agree. Records marked
`known_kernel_deviation` are kernel bugs: the VM must give the RFC 9669 result recorded
with them; the kernel may give that result (a build with the bug fixed) or its recorded
wrong one, and which one is reported, never required."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pybpf.fuzz import FuzzCase, Outcome, compare, run_vm

FILES = sorted((Path(__file__).resolve().parent.parent / "regressions").glob("diff-*.json"))


def _case(path: Path) -> tuple[FuzzCase, Outcome, Outcome | None]:
    """The case, the kernel's recorded outcome, and for a known kernel deviation the
    RFC-correct outcome the VM must give."""
    rec = json.loads(path.read_text())
    case = FuzzCase(bytes.fromhex(rec["code"]), bytes.fromhex(rec["mem"]))
    kernel = Outcome(rec["kernel_r0"], bytes.fromhex(rec["kernel_mem_out"]),
                     rec.get("kernel_error"))
    vm = None
    if "known_kernel_deviation" in rec:
        vm = Outcome(rec["vm_r0"], bytes.fromhex(rec["vm_mem_out"]))
    return case, kernel, vm


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_vm_matches_recorded_kernel(path: Path) -> None:
    case, kernel, rfc = _case(path)
    assert compare(case, run_vm(case), rfc or kernel) is None


@pytest.mark.kernel
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_kernel_still_agrees(path: Path, record_property) -> None:  # type: ignore[no-untyped-def]
    from pybpf.fuzz import KernelSide
    from tests.conftest import kernel_available
    ok, reason = kernel_available()
    if not ok:
        pytest.skip(f"bpf(2) unavailable: {reason}")
    case, recorded, rfc = _case(path)
    side = KernelSide()
    try:
        got = side.run(case)
    finally:
        side.close()
    if rfc is None:
        assert compare(case, got, recorded) is None
        return
    # a known kernel bug: either the fixed behaviour (RFC) or the recorded bug, nothing else
    fixed, buggy = compare(case, got, rfc) is None, compare(case, got, recorded) is None
    behaviour = "RFC 9669 result (bug fixed in this build)" if fixed else \
        "recorded deviation (bug present in this build)" if buggy else "neither"
    record_property("kernel_behaviour", behaviour)
    print(f"{path.stem}: kernel gives the {behaviour}")
    assert fixed or buggy, f"kernel gives neither the RFC result nor the recorded bug: " \
        f"{compare(case, got, rfc)}"
