"""Backends: where an object's maps and programs live (the VM or the kernel).

Code asks a `Backend` what it can do (`caps`) and to do it (make a map, load a
program, run raw bytecode, instantiate an ObjectSpec) instead of comparing the
strings "vm" and "kernel". Users keep naming backends by string: `get_backend(name)`
turns a name into its Backend once, at the API edge.

This module sits low (it imports nothing of pybpf but the error root), so every layer
may ask for a backend; the two implementations are found by name and imported only
when first asked for, so the kernel backend never imports the VM side and the VM
side never imports the kernel backend.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .maps import Map, MapSpec
    from .objects.instance import Object
    from .spec import ObjectSpec, ProgramSpec

__all__ = ["BACKEND_NAMES", "Backend", "Capabilities", "LoadedProgram", "TestRunResult",
           "get_backend", "test_run_result"]

# name -> (module, attribute) of the implementation; imported on first use
_IMPLEMENTATIONS: dict[str, tuple[str, str]] = {
    "vm": ("pybpf.objects.vmbackend", "VM_BACKEND"),
    "kernel": ("pybpf.objects.kernelbackend", "KERNEL_BACKEND"),
}
BACKEND_NAMES: tuple[str, ...] = tuple(_IMPLEMENTATIONS)


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do beyond test runs, each a yes or no the callers ask."""

    attach: bool  # attach programs to kernel hooks (links, netlink, sockets)
    pin: bool  # pin maps in a bpffs
    verifier_log: bool  # a verifier checks every program and keeps its log
    set_world: bool  # a test run's clock, task and network namespace can be set
    custom_helpers: bool  # the helper set of a raw run can be replaced
    insn_budget: bool  # an instruction budget stops a long run (no verifier bound)
    fd_handles: bool  # maps and programs are kernel fds: inserting one takes a reference
    host_bpf: bool  # goes through this host's bpf(2): needs its privileges (CAP_BPF, ...)


@dataclass(frozen=True)
class TestRunResult:
    """What a test run gives on either backend."""

    __test__ = False  # not a pytest test class despite its name

    retval: int
    data_out: bytes
    ctx_out: bytes
    duration: int  # ns per run (mean over `repeat`)


_new = object.__new__
_set = object.__setattr__


def test_run_result(retval: int, data_out: bytes, ctx_out: bytes,
                    duration: int) -> TestRunResult:
    """TestRunResult(retval, data_out, ctx_out, duration) made without the frozen
    dataclass's field-by-field __init__ (a third of its cost), for runs a packet."""
    res = _new(TestRunResult)
    _set(res, "__dict__", {"retval": retval, "data_out": data_out, "ctx_out": ctx_out,
                           "duration": duration})
    return res


test_run_result.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


@dataclass
class LoadedProgram:
    """A program a backend loaded: its `handle` (pybpf.kernel.Program or pybpf.vm.VM)
    and `run`, which gives a TestRunResult with BPF_PROG_TEST_RUN's semantics."""

    handle: Any
    run: Callable[..., TestRunResult]
    attach_btf_id: int = 0
    verifier_log: str | None = None
    netns: dict[str, Any] | None = None  # the VM's test-run surroundings, set_netns
    # test_run(data) with nothing else given, the short way: a TestRunResult, or None
    # where the general `run` must take it (None: no short way)
    packet: Callable[[bytes], TestRunResult | None] | None = None
    # a runner of one packet after another for Program.run_batch: called with
    # keep_output, it gives an object with run(data) -> retval, output() and
    # count(packets, counts, on_error) (pybpf.kernel.packetrun.PacketTestRun); None
    # where the backend has its own (the VM's, pybpf.progtypes.packet_runner)
    packet_runner: Callable[[bool], Any] | None = None


@runtime_checkable
class Backend(Protocol):
    """A place where maps and programs live; see the module docstring."""

    name: str
    caps: Capabilities

    def create_map(self, spec: "MapSpec") -> "Map":
        """Make a map of a validated, resolved MapSpec (contents written, frozen)."""
        ...

    def open_pinned_map(self, path: str) -> "Map":
        """The map of this backend pinned at `path` (Map.from_pinned picks the backend)."""
        ...

    def create_pinned_map(self, name: str, spec: "MapSpec", root: str,
                          obj: "Object") -> "tuple[Map, str]":
        """Pin (or reuse the compatible pinned) map `name` of `obj` under the bpffs
        `root` (iproute2's object namespace is named by the object's sha1)."""
        ...

    def instantiate(self, spec: "ObjectSpec", **kw: Any) -> "Object":
        """Create an ObjectSpec's maps and load its programs here: an Object."""
        ...

    def load_program(self, spec: "ObjectSpec", pspec: "ProgramSpec", code: bytes,
                     obj: "Object", cache: dict[str, Any]) -> LoadedProgram:
        """Load one program's patched bytes (maps already created in `obj`)."""
        ...

    def resolve_ksym(self, pspec: "ProgramSpec", ext: Any, insn: Any,
                     warnings: list[str]) -> Any:
        """The instruction for a `.ksyms` extern (a kfunc call or a BTF-id lddw)."""
        ...

    def run_raw(self, code: bytes, mem: bytes | None, *, helpers: Any = None,
                insn_budget: int | None = None) -> int:
        """Run raw bytecode with r1 = a copy of `mem`, r2 = its length; returns r0."""
        ...

    def links(self) -> Any:
        """The attach API (attach_xdp, attach_tc, ...), where `caps.attach`."""
        ...

    def printk_reader(self, obj: "Object") -> Any:
        """What reads the bpf_printk messages of `obj`'s programs: read() gives the
        new ones, close() ends it."""
        ...

    def perf_reader(self, m: "Map") -> Any:
        """What reads perf event array `m` (each slot given its event): read() gives
        (cpu, record) pairs, close() ends it."""
        ...

    def features(self, helpers: bool = True) -> dict[str, Any]:
        """What the backend supports, as data (`pybpf features` formats it); `helpers`
        False skips per-helper probes where they are costly."""
        ...


def get_backend(backend: "str | Backend") -> Backend:
    """The Backend named `backend` ("vm" or "kernel"), or `backend` itself when it is one
    already; any other name is today's ValueError."""
    if not isinstance(backend, str):
        if isinstance(backend, Backend):
            return backend
        raise ValueError(f"unknown backend {backend!r} (expected 'vm' or 'kernel')")
    where = _IMPLEMENTATIONS.get(backend)
    if where is None:
        raise ValueError(f"unknown backend {backend!r} (expected 'vm' or 'kernel')")
    module, attr = where
    impl: Backend = getattr(importlib.import_module(module), attr)
    return impl
