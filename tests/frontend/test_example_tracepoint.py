"""examples/python/tp_syscalls.py counts as examples/tp_syscalls.o does: on the VM over
the same tracepoint records, and in the kernel attached to the real raw_syscalls
tracepoints (the kernel cannot test_run a tracepoint program)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import pybpf
from pybpf.frontend.python import compile_file
from pybpf.tools.syscalls import syscall_number
from tests.tp_syscalls_runs import kernel_run, vm_run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _python_spec() -> pybpf.ObjectSpec:
    return compile_file(EXAMPLES / "python" / "tp_syscalls.py").spec()


def test_python_tracepoint_example_matches_c_on_the_vm() -> None:
    for tgid in (os.getpid(), os.getpid() + 1):
        got = vm_run(_python_spec(), tgid)
        assert got == vm_run(pybpf.load(EXAMPLES / "tp_syscalls.o"), tgid)
    got = vm_run(_python_spec(), os.getpid())
    assert got["syscall_counts"] == {syscall_number("getppid"): 100, syscall_number("close"): 7}
    assert {k: v for k, v in got["latency_hist"].items() if v} == {10: 107}


@pytest.mark.kernel
def test_python_tracepoint_example_matches_c_in_the_kernel() -> None:
    getppid, close = syscall_number("getppid"), syscall_number("close")
    py, c = kernel_run(_python_spec()), kernel_run(pybpf.load(EXAMPLES / "tp_syscalls.o"))
    for got in (py, c):
        assert got["syscall_counts"][getppid] == 100
        assert got["syscall_errors"][close] == 7
        assert set(got["pid_counts"]) == {os.getpid()}
        assert sum(got["latency_hist"].values()) >= 107
