"""The VM verifies every program before it can run (pybpf's verifier at instantiate), as
the kernel does at BPF_PROG_LOAD: one VerifierError covers both backends. verify=False
(and `pybpf run --no-verify`) runs them unchecked, for experiments."""

from __future__ import annotations

from pathlib import Path

import pytest

import pybpf
from pybpf.errors import VerifierError
from tests.conftest import kernel_available

ROOT = Path(__file__).resolve().parents[2]
MULTI = ROOT / "tests/cli/data/multi.o"  # xdp_unchecked reads the packet unchecked
EXAMPLES = sorted((ROOT / "examples").glob("*.o"))


def test_a_refused_program_cannot_run_on_the_vm() -> None:
    spec = pybpf.load(str(MULTI))
    with pytest.raises(VerifierError) as info:
        spec.instantiate("vm", verify=True)
    e = info.value
    assert "xdp_unchecked" in str(e)  # the error names the program
    assert e.error.startswith("invalid access to packet")
    assert e.pc is not None and f"{e.pc}: (" in e.log
    assert e.error in e.log and "processed" in e.log


def test_unverified_runs_it_unchecked() -> None:
    spec = pybpf.load(str(MULTI))
    with spec.instantiate("vm", verify=False) as obj:  # an experiment: no verifier
        res = obj.programs["xdp_unchecked"].test_run(data_in=b"\xff" + bytes(63))
        assert res.retval == 1  # XDP_DROP: the unsafe read happened


def test_verification_is_on_by_default() -> None:
    spec = pybpf.load(str(MULTI))
    with pytest.raises(VerifierError, match="invalid access to packet"):
        spec.instantiate("vm")
    with pytest.raises(VerifierError, match="invalid access to packet"):  # memoised verdict
        spec.instantiate("vm", programs=["xdp_unchecked"])
    with spec.instantiate("vm", programs=["xdp_count"]) as obj:
        assert not [w for w in obj.warnings if "not verified" in w]


def test_only_the_selected_programs_are_verified() -> None:
    spec = pybpf.load(str(MULTI))
    with spec.instantiate("vm", programs=["xdp_count", "tc_drop"], verify=True) as obj:
        assert obj.programs["tc_drop"].test_run(data_in=bytes(64)).retval == 2
        assert obj.programs["xdp_count"].verifier_log is None  # no log asked for


def test_log_level_keeps_the_log() -> None:
    spec = pybpf.load(str(MULTI))
    with spec.instantiate("vm", programs=["xdp_count"], log_level=1, verify=True) as obj:
        log = obj.programs["xdp_count"].verifier_log
        assert log is not None and log.startswith("processed ") and "(limit 1000000)" in log
    with spec.instantiate("vm", programs=["xdp_count"], log_level=2, verify=True) as obj:
        log = obj.programs["xdp_count"].verifier_log
        assert log is not None and "0: R1=ctx() R10=fp0" in log


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_verifies_on_the_vm(path: Path) -> None:
    spec = pybpf.load(str(path))
    with spec.instantiate("vm", log_level=1, verify=True) as obj:
        for name, prog in obj.programs.items():
            assert prog.verifier_log and "processed" in prog.verifier_log, name
        assert not [w for w in obj.warnings if "not verified" in w]


def test_run_stays_unverified_unless_asked() -> None:
    assert pybpf.run("r0 = r3\nexit") == 0  # the instruction-set entry point
    with pytest.raises(VerifierError) as info:
        pybpf.run("r0 = r3\nexit", verify=True)
    assert info.value.error == "R3 !read_ok" and info.value.pc == 0
    assert pybpf.run("r0 = 7\nexit", verify=True) == 7
    with pytest.raises(ValueError, match="unknown program type"):
        pybpf.run("r0 = 7\nexit", verify=True, prog_type="nonsense")


@pytest.mark.parametrize("backend", ["vm", pytest.param("kernel", marks=pytest.mark.kernel)])
def test_one_raises_covers_both_backends(backend: str) -> None:
    if backend == "kernel" and not kernel_available()[0]:
        pytest.skip(kernel_available()[1])
    spec = pybpf.load(str(MULTI))
    with pytest.raises(VerifierError) as info:
        spec.instantiate(backend, programs=["xdp_unchecked"], verify=True)
    assert info.value.pc is not None and info.value.log and info.value.error
    with spec.instantiate(backend, programs=["xdp_count"], verify=True) as obj:
        assert "xdp_count" in obj.programs
