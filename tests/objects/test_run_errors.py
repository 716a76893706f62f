"""One error base for test runs on both backends: pybpf.RunError is what a refused
BPF_PROG_TEST_RUN raises on the VM (progtypes.TestRunError) and in the kernel
(kernel.KernelTestRunError), and what a VM run-time fault raises (VMRuntimeError), so a
test parametrised over backends catches one class, with the kernel's errno."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

import pybpf
from pybpf.errors import PyBPFError, RunError, VMRuntimeError
from pybpf.kernel.errors import (
    KernelError,
    KernelInvalidError,
    KernelTestRunError,
    prog_test_run_error,
)
from pybpf.progtypes import TestRunError

DATA = Path(__file__).resolve().parent / "data"
BACKENDS = ["vm", pytest.param("kernel", marks=pytest.mark.kernel)]


def test_the_classes_share_one_base() -> None:
    assert pybpf.RunError is RunError and issubclass(RunError, PyBPFError)
    for cls in (VMRuntimeError, TestRunError, KernelTestRunError):
        assert issubclass(cls, RunError)
    e = prog_test_run_error(errno.EINVAL, "bad ctx")
    assert isinstance(e, KernelTestRunError) and isinstance(e, KernelInvalidError)
    assert isinstance(e, ValueError) and e.errno == errno.EINVAL
    assert str(e) == "BPF_PROG_TEST_RUN: Invalid argument (EINVAL): bad ctx"


@pytest.mark.parametrize("backend", BACKENDS)
def test_short_packet_is_a_run_error_with_einval_on_both_backends(backend: str) -> None:
    with pybpf.load(DATA / "one_refused.o").instantiate(backend, programs=["good_pass"]) as obj:
        prog = obj.programs["good_pass"]
        with pytest.raises(RunError) as e:
            prog.test_run(b"\0" * 5)                 # shorter than an Ethernet header
        assert e.value.errno == errno.EINVAL
        assert isinstance(e.value, KernelError if backend == "kernel" else TestRunError)
        assert prog.test_run(bytes(64)).retval == 2  # the program itself is fine


@pytest.mark.parametrize("backend", BACKENDS)
def test_output_that_does_not_fit_is_a_run_error_with_enospc(backend: str) -> None:
    with pybpf.load(DATA / "one_refused.o").instantiate(backend, programs=["good_pass"]) as obj:
        with pytest.raises(RunError) as e:
            obj.programs["good_pass"].test_run(bytes(64), data_size_out=10)
        assert e.value.errno == errno.ENOSPC


def test_vm_fault_is_a_run_error() -> None:
    with pytest.raises(RunError):
        pybpf.run(pybpf.assemble("r0 = *(u64 *)(r1 + 0)\nexit"))  # r1 = 0: no memory
