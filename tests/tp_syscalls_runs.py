"""Runs of the tracepoint example (examples/tp_syscalls.o or its Python version) that
its tests compare: on the VM over tracepoint records, in the kernel on real syscalls
(the kernel cannot test_run a tracepoint program)."""

from __future__ import annotations

import os

import pybpf
from pybpf.maps.base import Map
from pybpf.progtypes.contexts.tracing import syscall_tracepoint
from pybpf.progtypes.tracing import run_context
from pybpf.tools.syscalls import syscall_number
from pybpf.uapi import ProgType
from tests.syscall_load import make_syscalls

MAPS = ("syscall_counts", "syscall_errors", "pid_counts", "latency_hist", "start")


def u64_map(m: Map) -> dict[int, int]:
    """A map's entries as {key: first u64 of the value}."""
    return {int.from_bytes(k, "little"): int.from_bytes(v[:8], "little")
            for k, v in m.items()}


def vm_run(spec: pybpf.ObjectSpec, tgid: int) -> dict[str, dict[int, int]]:
    """The example on the VM (whose task is this thread) with target_tgid `tgid`, for
    100 getppid() and 7 close() failing with EBADF, each an enter record then an exit
    record 1.5 us later; the maps after."""
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
                now[0] += 1500  # 1.5 us in the call
                assert run_context(x.handle, ProgType.TRACEPOINT,
                                   exit_.pack(id=nr, ret=ret), tracepoint=exit_) == 0
        return {name: u64_map(obj.maps[name]) for name in MAPS}


def kernel_run(spec: pybpf.ObjectSpec) -> dict[str, dict[int, int]]:
    """The example attached in the kernel, filtering this process, while it makes 100
    getppid() and 7 failing close() calls; the maps after."""
    spec.set_global("target_tgid", os.getpid())
    with spec.instantiate("kernel") as obj:
        for prog in obj.programs.values():
            prog.attach()
        make_syscalls(100, 7)
        for prog in obj.programs.values():
            prog.detach()
        return {name: u64_map(obj.maps[name]) for name in MAPS}
