"""The bpf_conformance vectors on the Linux kernel, through run_raw() (XDP test run,
full 64-bit r0 read back from a map).

Vectors with only `-- asm` need pybpf.asm's "conformance" syntax; without it they
are skipped and only the raw vectors run. EXPECTED_REJECTIONS is the kernel's
verdict on this suite (Linux 6.18): if the verifier starts or stops rejecting a
vector, or gives another reason, the test fails.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest

from pybpf.kernel import KernelVerifierError, RawRunner

pytestmark = pytest.mark.kernel

M64 = (1 << 64) - 1
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


def parse_data(path: Path) -> dict[str, list[str]]:
    """The sections of a .data file: name -> its non-empty lines, comments removed."""
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for raw in path.read_text(errors="replace").splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if line.startswith("--"):
            current = line[2:].strip()
            sections[current] = []
        elif current is not None and line.strip():
            sections[current].append(line)
    return sections


def raw_words(lines: list[str]) -> bytes:
    """`-- raw`: one little-endian uint64 per token (decimal or 0x hex)."""
    return b"".join((int(tok, 0) & M64).to_bytes(8, "little")
                    for line in lines for tok in line.split())


def raw_bytes(lines: list[str]) -> bytes:
    """negative/unused-*: 8 hex bytes per instruction, in memory order."""
    return bytes.fromhex("".join("".join(line.split()) for line in lines))


def mem_bytes(lines: list[str]) -> bytes:
    return bytes.fromhex("".join(re.sub(r"^\s*[0-9a-fA-F]+:", "", ln) for ln in lines)
                         .replace(" ", ""))


def _assembler() -> tuple[object | None, str]:
    """pybpf.asm.assemble if its conformance syntax works, else (None, why)."""
    try:
        from pybpf.asm import assemble
        assert assemble("mov %r0, 1\nexit", syntax="conformance") == \
            bytes.fromhex("b700000001000000" "9500000000000000")
    except Exception as e:  # not there yet, or broken
        return None, f"pybpf.asm conformance syntax unavailable: {type(e).__name__}: {e}"
    return assemble, ""


ASSEMBLE, ASM_REASON = _assembler()


def vector_files() -> list[Path]:
    return sorted(VECTORS.glob("*.data")) if VECTORS.exists() else []


def program_of(sections: dict[str, list[str]]) -> bytes:
    if "raw" in sections:  # the conformance runner prefers raw
        return raw_words(sections["raw"])
    if ASSEMBLE is None:
        pytest.skip(ASM_REASON)
    return ASSEMBLE("\n".join(sections["asm"]), syntax="conformance")  # type: ignore[operator]


@pytest.fixture(scope="module")
def runner() -> Iterator[RawRunner]:
    with RawRunner() as r:
        yield r


@pytest.mark.parametrize("path", vector_files(), ids=lambda p: p.stem)
def test_vector(path: Path, runner: RawRunner) -> None:
    sections = parse_data(path)
    if "result" not in sections:
        pytest.skip("no -- result")
    code = program_of(sections)
    mem = mem_bytes(sections["mem"]) if "mem" in sections else None
    expected = int(sections["result"][-1].strip(), 0) & M64
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
    assert got == expected, f"{name}: r0 {got:#x}, expected {expected:#x}"


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
    code = raw_bytes(parse_data(path)["raw"])
    with pytest.raises(KernelVerifierError):
        runner.run(code)


def test_high_bits_are_not_dropped(runner: RawRunner) -> None:
    """negative/incorrect_return_value_high_bits expects a deliberately wrong r0; the
    kernel run gives the true 64-bit value (only the high bits differ)."""
    path = NEGATIVE / "incorrect_return_value_high_bits.data"
    if not path.exists():
        pytest.skip("vector missing")
    sections = parse_data(path)
    code = program_of(sections)
    got = runner.run(code, mem_bytes(sections["mem"])).r0
    wrong = int(sections["result"][-1], 0)
    assert got == 0x8877665544332211 != wrong
    assert got & 0xFFFF_FFFF == wrong & 0xFFFF_FFFF
