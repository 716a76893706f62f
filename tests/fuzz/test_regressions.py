"""Replays every reproducer in tests/regressions: the VM must give the recorded kernel
result, and where bpf(2) is available the kernel must still agree. Records marked
`known_kernel_deviation` are kernel bugs: the VM must give the RFC 9669 result recorded
with them, and the kernel its recorded (wrong) one."""

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
def test_kernel_still_agrees(path: Path) -> None:
    from pybpf.fuzz import KernelSide
    from pybpf.kernel import available
    ok, reason = available()
    if not ok:
        pytest.skip(f"bpf(2) unavailable: {reason}")
    case, recorded, rfc = _case(path)
    side = KernelSide()
    try:
        # for a known kernel deviation: the kernel still deviates (if this fails, the
        # kernel was fixed and the record can go)
        assert compare(case, side.run(case), recorded) is None
    finally:
        side.close()
