"""Differential harness for program types: the same program and test-run arguments go
through the kernel (prog_load + BPF_PROG_TEST_RUN) and through pybpf.progtypes.test_run
on the VM; outcomes (retval, data_out, ctx_out, or the errno) must be equal."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Iterator

import pytest

from pybpf.asm import assemble
from pybpf.progtypes import TestRunError, helpers_for, host_devices, test_run
from pybpf.uapi import AttachType, ProgType
from pybpf.vm import VM

Outcome = tuple


def outcome_vm(vm: VM, prog_type: ProgType, eat: int, **kw: Any) -> Outcome:
    try:
        r = test_run(vm, prog_type, expected_attach_type=eat, devices=host_devices(), **kw)
    except TestRunError as e:
        return ("err", e.errno_name)
    return ("ok", r.retval, r.data_out, r.ctx_out)


def outcome_kernel(prog: Any, **kw: Any) -> Outcome:
    from pybpf.kernel import KernelError
    try:
        r = prog.test_run(**kw)
    except KernelError as e:
        return ("err", e.errno_name)
    return ("ok", r.retval, r.data_out, r.ctx_out)


# kernel programs a Differ keeps loaded: the hypothesis tests make thousands of distinct
# programs, and keeping each one's fd took a whole-suite process past 1,700 open fds
MAX_LOADED = 64


@dataclass
class Differ:
    """Loads programs (kernel and VM) and compares test runs; the last MAX_LOADED
    programs stay loaded for reuse, older ones are closed."""

    progs: "OrderedDict[tuple, tuple[Any, VM]]" = field(default_factory=OrderedDict,
                                                       repr=False)

    def __repr__(self) -> str:
        return f"Differ({len(self.progs)} programs)"

    def load(self, prog_type: ProgType, src: str | bytes, eat: int = 0) -> tuple[Any, VM]:
        from pybpf.kernel import prog_load
        code = assemble(src) if isinstance(src, str) else bytes(src)
        key = (int(prog_type), code, eat)
        if key in self.progs:
            self.progs.move_to_end(key)
            return self.progs[key]
        prog = prog_load(prog_type, code, "GPL", expected_attach_type=eat)
        vm = VM(code, helpers=helpers_for(prog_type))
        self.progs[key] = (prog, vm)
        while len(self.progs) > MAX_LOADED:
            _, (old, _vm) = self.progs.popitem(last=False)
            old.close()
        return self.progs[key]

    def close(self) -> None:
        while self.progs:
            _, (prog, _vm) = self.progs.popitem()
            prog.close()

    def run(self, prog_type: ProgType, src: str | bytes, eat: int = 0,
            **kw: Any) -> tuple[Outcome, Outcome]:
        prog, vm = self.load(prog_type, src, eat)
        return outcome_kernel(prog, **kw), outcome_vm(vm, prog_type, eat, **kw)

    def same(self, prog_type: ProgType, src: str | bytes, eat: int = 0,
             **kw: Any) -> Outcome:
        k, v = self.run(prog_type, src, eat, **kw)
        assert v == k, f"\nkernel: {fmt(k)}\nvm:     {fmt(v)}\nprogram:\n{src}\nargs: {kw}"
        return k


def fmt(o: Outcome) -> str:
    return "(" + ", ".join(x.hex() if isinstance(x, bytes) else repr(x) for x in o) + ")"


@pytest.fixture(scope="session")
def differ() -> Iterator[Differ]:
    from tests.conftest import kernel_available
    ok, reason = kernel_available()
    if not ok:
        pytest.skip(f"bpf(2) unavailable: {reason}")
    d = Differ()
    yield d
    d.close()


CGROUP_EAT = AttachType.CGROUP_INET_INGRESS


@pytest.fixture(scope="session")
def pair() -> Any:
    """data/tracing/helpers.o in the kernel and on the VM (test_progtypes_task.Pair),
    shared by the task and string helper tests."""
    from tests.conftest import kernel_available

    from .test_progtypes_task import Pair
    ok, reason = kernel_available()
    if not ok:
        pytest.skip(f"bpf(2) unavailable: {reason}")
    p = Pair()
    yield p
    p.close()


@pytest.fixture(scope="session")
def page() -> Any:
    """A page of this process between two inaccessible ones (GuardedPage)."""
    from .test_progtypes_task import GuardedPage
    return GuardedPage()


@pytest.fixture(scope="module")
def on_cpu0() -> Any:
    """Run the module's tests on CPU 0: per-CPU maps and BPF_F_CURRENT_CPU then
    mean CPU 0 in the kernel, as on the VM. The old affinity comes back after."""
    from tests.conftest import on_cpu
    with on_cpu(0):
        yield
