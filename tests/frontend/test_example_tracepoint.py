"""examples/python/tp_syscalls.py counts as examples/tp_syscalls.o does: on the VM over
the same tracepoint records, and in the kernel attached to the real raw_syscalls
tracepoints (the kernel cannot test_run a tracepoint program)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import pybpf
from pybpf.frontend.python import compile_file
from pybpf.maps.base import Map
from pybpf.progtypes.contexts.tracing import syscall_tracepoint
from pybpf.progtypes.tracing import run_context
from pybpf.tools.syscalls import syscall_number
from pybpf.uapi import ProgType

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MAPS = ("syscall_counts", "syscall_errors", "pid_counts", "latency_hist", "start")


def _u64_map(m: Map) -> dict[int, int]:
    return {int.from_bytes(k, "little"): int.from_bytes(v[:8], "little")
            for k, v in m.items()}


def _python_spec() -> pybpf.ObjectSpec:
    return compile_file(EXAMPLES / "python" / "tp_syscalls.py").spec()


def _vm_run(spec: pybpf.ObjectSpec, tgid: int) -> dict[str, dict[int, int]]:
    """100 getppid() and 7 close() failing with EBADF, each an enter then an exit
    record, 1.5 us apart."""
    spec.set_global("target_tgid", tgid)
    enter, exit_ = syscall_tracepoint("sys_enter"), syscall_tracepoint("sys_exit")
    getppid, close = syscall_number("getppid"), syscall_number("close")
    with spec.instantiate("vm") as obj:
        e, x = obj.programs["count_sys_enter"], obj.programs["count_sys_exit"]
        now = [1000]
        for prog in (e, x):
            prog.set_clock(lambda: now[0])
        for nr, ret, n in ((getppid, os.getppid(), 100), (close, -9, 7)):
            for _ in range(n):
                assert run_context(e.handle, ProgType.TRACEPOINT,
                                   enter.pack(id=nr, args=[0] * 6), tracepoint=enter) == 0
                now[0] += 1500
                assert run_context(x.handle, ProgType.TRACEPOINT,
                                   exit_.pack(id=nr, ret=ret), tracepoint=exit_) == 0
        return {name: _u64_map(obj.maps[name]) for name in MAPS}


def test_python_tracepoint_example_matches_c_on_the_vm() -> None:
    for tgid in (os.getpid(), os.getpid() + 1):
        got = _vm_run(_python_spec(), tgid)
        assert got == _vm_run(pybpf.load(EXAMPLES / "tp_syscalls.o"), tgid)
    got = _vm_run(_python_spec(), os.getpid())
    assert got["syscall_counts"] == {syscall_number("getppid"): 100, syscall_number("close"): 7}
    assert {k: v for k, v in got["latency_hist"].items() if v} == {10: 107}


def _kernel_run(spec: pybpf.ObjectSpec) -> dict[str, dict[int, int]]:
    spec.set_global("target_tgid", os.getpid())
    with spec.instantiate("kernel") as obj:
        for prog in obj.programs.values():
            prog.attach()
        for _ in range(100):
            os.getppid()
        for _ in range(7):
            try:
                os.close(99999)
            except OSError:
                pass
        for prog in obj.programs.values():
            prog.detach()
        return {name: _u64_map(obj.maps[name]) for name in MAPS}


@pytest.mark.kernel
def test_python_tracepoint_example_matches_c_in_the_kernel() -> None:
    getppid, close = syscall_number("getppid"), syscall_number("close")
    py, c = _kernel_run(_python_spec()), _kernel_run(pybpf.load(EXAMPLES / "tp_syscalls.o"))
    for got in (py, c):
        assert got["syscall_counts"][getppid] == 100
        assert got["syscall_errors"][close] == 7
        assert set(got["pid_counts"]) == {os.getpid()}
        assert sum(got["latency_hist"].values()) >= 107
