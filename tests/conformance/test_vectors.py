"""The bpf_conformance and uBPF vectors (../shared/conformance), through pybpf.run,
the conformance plugin, and the VM with uBPF's test helpers."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

import pybpf
from pybpf.conformance import (UBPF_MAX_INSNS, check_vector, conformance_helpers, parse_data,
                               plugin_main, run_vector_vm)
from pybpf.vm import run as vm_run
from tests.conftest import CONFORMANCE, conformance_dir

BPF_CONF = sorted((CONFORMANCE / "bpf_conformance").glob("*.data"))
NEGATIVE = sorted((CONFORMANCE / "bpf_conformance" / "negative").glob("*.data"))
UBPF_ALL = sorted((CONFORMANCE / "ubpf").rglob("*.data"))

# uBPF vectors that are not self-contained or test uBPF itself rather than eBPF.
UBPF_SKIPS = {
    "reload": "uBPF VM lifecycle (loading code twice into one VM object); pybpf loads "
              "each program into its own VM",
    "unload_reload": "uBPF VM lifecycle (ubpf_unload_code); not an eBPF semantic",
    "err-unknown-opcode": "0x06 with imm 0 is `gotol +0` (JMP32|JA) in RFC 9669 v4, a valid "
                          "instruction; the vector predates it",
}
ASM_ONLY = {"alu", "alu64", "jmp", "ldx", "st", "stx"}


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(CONFORMANCE)) for p in paths]


def test_vector_counts() -> None:
    conformance_dir()
    assert len(BPF_CONF) == 313
    assert len(NEGATIVE) == 60


def _run_api(vec) -> int:  # type: ignore[no-untyped-def]
    """pybpf.run: the public API with the default (kernel-ID) helpers."""
    return pybpf.run(vec.program(), vec.mem)


@pytest.mark.parametrize("path", BPF_CONF, ids=ids(BPF_CONF))
def test_bpf_conformance_via_run(path: Path) -> None:
    outcome = check_vector(path, _run_api)
    assert outcome.passed, outcome.detail


@pytest.mark.parametrize("path", BPF_CONF, ids=ids(BPF_CONF))
def test_bpf_conformance_via_plugin(path: Path) -> None:
    vec = parse_data(path)
    code = vec.program()
    argv = [vec.mem.hex()] if vec.mem else []
    out, err = io.StringIO(), io.StringIO()
    rc = plugin_main(argv, io.StringIO(code.hex(" ") + "\n"), out, err)
    assert rc == 0, err.getvalue()
    assert int(out.getvalue(), 16) == vec.result


@pytest.mark.parametrize("path", NEGATIVE, ids=ids(NEGATIVE))
def test_negative_vectors_rejected(path: Path) -> None:
    """Each negative vector must fail to give its expected result: it is malformed
    (format, assembly, reserved fields), or its result is deliberately wrong."""
    outcome = check_vector(path)
    try:
        expected = parse_data(path).result
    except Exception:  # noqa: BLE001 - an unparsable vector is rejected
        expected = None
    accepted = outcome.r0 is not None and expected is not None and outcome.r0 == expected
    assert not accepted, f"negative vector accepted: {outcome.detail}"


def _ubpf_params() -> list:  # type: ignore[type-arg]
    params = []
    for p in UBPF_ALL:
        rel = p.relative_to(CONFORMANCE / "ubpf")
        marks = []
        if rel.parts[0] == "elf":
            marks.append(pytest.mark.skip(reason="ELF template vectors wait for the ELF loader"))
        elif p.stem in UBPF_SKIPS:
            marks.append(pytest.mark.skip(reason=UBPF_SKIPS[p.stem]))
        params.append(pytest.param(p, marks=marks, id=str(rel)))
    return params


@pytest.mark.parametrize("path", _ubpf_params())
def test_ubpf_vectors(path: Path) -> None:
    vec = parse_data(path)
    if path.stem in ASM_ONLY:
        from pybpf.asm import assemble
        assert assemble(vec.asm or "", syntax="conformance") == vec.raw
        return
    outcome = check_vector(path, lambda v: run_vector_vm(v, max_insns=UBPF_MAX_INSNS))
    assert outcome.passed, outcome.detail


def test_plugin_command_line() -> None:
    """The installed entry point speaks the protocol: hex on stdin, r0 in hex on stdout."""
    code = "b7 00 00 00 2a 00 00 00 95 00 00 00 00 00 00 00"
    proc = subprocess.run([sys.executable, "-m", "pybpf.cli", "conformance-plugin"],
                          input=code + "\n", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "2a\n"
    # memory as a positional argument; --program instead of stdin
    ldx = "61 10 00 00 00 00 00 00 95 00 00 00 00 00 00 00"  # r0 = *(u32 *)(r1 + 0)
    proc = subprocess.run([sys.executable, "-m", "pybpf.cli", "conformance-plugin",
                           "--program", ldx, "efbeadde"], capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout == "deadbeef\n"
    proc = subprocess.run([sys.executable, "-m", "pybpf.cli", "conformance-plugin"],
                          input="07 00\n", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stderr and not proc.stdout
    assert "Traceback" not in proc.stderr


def test_ubpf_helpers_not_in_default_table() -> None:
    """uBPF's helper 0 (gather_bytes) is plugin-only: the default table has no helper 0."""
    call0 = bytes.fromhex("8500000000000000" "9500000000000000")
    with pytest.raises(pybpf.InvalidProgram, match="unknown helper 0"):
        vm_run(call0)
    assert 0 in conformance_helpers()
