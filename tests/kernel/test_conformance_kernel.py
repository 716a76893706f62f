"""The bpf_conformance vectors on the Linux kernel, through run_raw() (XDP test run,
full 64-bit r0 read back from a map).

EXPECTED_REJECTIONS is the kernel's
verdict on this suite (Linux 6.18): if the verifier starts or stops rejecting a
vector, or gives another reason, the test fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

import pybpf
from pybpf.conformance import parse_data
from pybpf.kernel import KernelVerifierError, RawRunner

pytestmark = pytest.mark.kernel

# ../shared/conformance beside the project (as tests/conftest.py has it)
CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance"
VECTORS = CONFORMANCE / "bpf_conformance"

# name -> substring of the verifier's reason (KernelVerifierError.reason).
EXPECTED_REJECTIONS: dict[str, str] = {
    # Shifts by an immediate >= the operand width or negative are rejected outright
    # (check_alu_op: "invalid shift"); the ISA leaves them to mask the count.
    "arsh32-imm-high": "invalid shift 48",
    "arsh32-imm-neg": "invalid shift -16",
    "arsh64-imm-high": "invalid shift 124",
    "arsh64-imm-neg": "invalid shift -4",
    "lsh32-imm-high": "invalid shift 60",
    "lsh32-imm-neg": "invalid shift -4",
    "lsh64-imm-high": "invalid shift 68",
    "lsh64-imm-neg": "invalid shift -60",
    "rsh32-imm-high": "invalid shift 40",
    "rsh32-imm-neg": "invalid shift -24",
    "rsh64-imm-high": "invalid shift 68",
    "rsh64-imm-neg": "invalid shift -60",
    # callx (0x8d, call through a register) is not part of the kernel's ISA.
    "callx": "unknown opcode 8d",
}
# Note: call_unwind_fail is NOT rejected: kernel helper 5 is bpf_ktime_get_ns
# (uBPF's 5 is "unwind"), which ignores r1; the program then sets r0 = 2 itself.


def vector_files() -> list[Path]:
    return sorted(VECTORS.glob("*.data")) if VECTORS.exists() else []


@pytest.fixture(scope="module")
def runner() -> Iterator[RawRunner]:
    with RawRunner() as r:
        yield r


@pytest.mark.parametrize("path", vector_files(), ids=lambda p: p.stem)
def test_vector(path: Path, runner: RawRunner) -> None:
    """The kernel gives the vector's r0, and so does the VM on the same bytes."""
    vec = parse_data(path)
    code, mem, expected = vec.program(), vec.mem, vec.result
    assert expected is not None
    name = path.stem
    if name in EXPECTED_REJECTIONS:
        with pytest.raises(KernelVerifierError) as ei:
            runner.run(code, mem)
        assert EXPECTED_REJECTIONS[name] in ei.value.reason, ei.value.log
        return
    try:
        got = runner.run(code, mem).r0
    except KernelVerifierError as e:
        pytest.fail(f"kernel rejected {name}: {e.reason}\n{e.log}")
    on_vm = pybpf.run(code, mem)
    assert got == expected == on_vm, \
        f"{name}: kernel {got:#x}, VM {on_vm:#x}, expected {expected:#x}"


def test_expected_rejections_name_real_vectors() -> None:
    if not VECTORS.exists():
        pytest.skip(f"no vectors at {VECTORS}")
    names = {p.stem for p in vector_files()}
    assert set(EXPECTED_REJECTIONS) <= names


def test_vector_suite_is_complete() -> None:
    """Guard against silently running fewer vectors (313 in the pinned commit)."""
    if not VECTORS.exists():
        pytest.skip(f"no vectors at {VECTORS}")
    assert len(vector_files()) >= 313


NEGATIVE = VECTORS / "negative"


@pytest.mark.parametrize("path", sorted(NEGATIVE.glob("unused-*.data")) if NEGATIVE.exists()
                         else [], ids=lambda p: p.stem)
def test_reserved_fields_are_rejected(path: Path, runner: RawRunner) -> None:
    """negative/unused-*: one instruction with a non-zero reserved field; the kernel
    must refuse every one of them."""
    code = parse_data(path).raw
    assert code is not None
    with pytest.raises(KernelVerifierError):
        runner.run(code)


def test_high_bits_are_not_dropped(runner: RawRunner) -> None:
    """negative/incorrect_return_value_high_bits expects a deliberately wrong r0; the
    kernel run gives the true 64-bit value (only the high bits differ)."""
    path = NEGATIVE / "incorrect_return_value_high_bits.data"
    if not path.exists():
        pytest.skip("vector missing")
    vec = parse_data(path)
    got = runner.run(vec.program(), vec.mem).r0
    wrong = vec.result
    assert wrong is not None
    assert got == 0x8877665544332211 != wrong
    assert got & 0xFFFF_FFFF == wrong & 0xFFFF_FFFF
