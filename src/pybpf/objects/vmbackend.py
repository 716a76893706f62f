"""The VM as a backend: maps are VM maps, programs run on the interpreter with the
helper set and the test run of their program type. Imports nothing of the kernel
backend (pybpf.kernel)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Iterator

from .. import isa
from ..backend import Capabilities, LoadedProgram, TestRunResult, test_run_result
from ..errors import PyBPFError
from ..isa import Instruction

if TYPE_CHECKING:
    from ..maps import Map, MapSpec
    from .instance import Object
    from ..spec import ObjectSpec, ProgramSpec

__all__ = ["VMBackend", "VM_BACKEND", "vm_features", "vm_helper_status"]


class VMBackend:
    """pybpf's own user-space VM (no root); pybpf's verifier checks every program
    before it may run (instantiate(verify=False) skips it, for experiments)."""

    name = "vm"
    caps = Capabilities(attach=False, pin=False, verifier_log=True, set_world=True,
                        custom_helpers=True, insn_budget=True, fd_handles=False,
                        host_bpf=False)

    def create_map(self, spec: "MapSpec") -> "Map":
        from ..maps.vmmaps import create_vm_map
        return create_vm_map(spec)

    def open_pinned_map(self, path: str) -> "Map":
        from ..maps.vmmaps import open_pinned_vm_map
        return open_pinned_vm_map(path)

    def create_pinned_map(self, name: str, spec: "MapSpec", root: str,
                          obj: "Object") -> "tuple[Map, str]":
        raise PyBPFError(f"map {name}: the VM pins no maps in a bpffs")

    def instantiate(self, spec: "ObjectSpec", **kw: Any) -> "Object":
        from . import instance  # looked up at call time: the pytest plugin wraps it
        return instance.instantiate(spec, self, **kw)

    def load_program(self, spec: "ObjectSpec", pspec: "ProgramSpec", code: bytes,
                     obj: "Object", cache: dict[str, Any]) -> LoadedProgram:
        from .. import progtypes
        from ..helpers import default_helpers
        from ..vm import CORE_POISON_HELPER
        try:
            helpers = progtypes.helpers_for(pspec.type, default_helpers())
        except PyBPFError:
            helpers = default_helpers()
        # helpers the VM lacks fail when called (HelperError), not at load: the object's
        # other programs stay usable
        missing = sorted({i.imm for i in isa.decode(code) if i.opcode == isa.OPCODE_CALL
                          and i.src == 0 and i.imm not in helpers
                          and i.imm != CORE_POISON_HELPER})
        if missing:
            from ..helpers import helper_name
            obj.warnings.append(f"program {pspec.name}: the VM does not provide "
                                f"{', '.join(helper_name(h) for h in missing)}; calls to "
                                "them fail")
        log = None
        if cache.get("verify", True):
            from .vmverify import verify_for_vm
            log = verify_for_vm(spec, pspec, code, obj, cache.get("log_level", 0))
        from ..jit.engine import make_vm
        vm = make_vm(code, engine=cache.get("engine"), helpers=helpers,
                     maps=list(obj.maps.values()), check_helpers=False)
        world: dict[str, Any] = {}

        def run(*, data_in: bytes | None, ctx_in: bytes | None, repeat: int,
                data_size_out: int | None, ctx_size_out: int | None,
                flags: int) -> TestRunResult:
            res = progtypes.test_run(vm, pspec.type, data_in=data_in, ctx_in=ctx_in,
                                     repeat=repeat, data_size_out=data_size_out,
                                     ctx_size_out=ctx_size_out, flags=flags,
                                     expected_attach_type=pspec.expected_attach_type,
                                     netns=world.get("netns"))
            return TestRunResult(res.retval, res.data_out, res.ctx_out, res.duration)

        return LoadedProgram(vm, run, netns=world, verifier_log=log,
                             packet=_packet_run(vm, pspec))

    def resolve_ksym(self, pspec: "ProgramSpec", ext: Any, insn: Instruction,
                     warnings: list[str]) -> Instruction:
        """The VM has no kernel symbols: a kfunc call fails when reached (it keeps the
        function's id in this machine's kernel BTF, where readable, so that the
        verifier checks it as the kernel would), a ksym address reads as 0."""
        warnings.append(f"program {pspec.name}: kernel symbol {ext.name} does not exist on "
                        "the VM" + (" (calling it fails)" if ext.kind == "call" else
                                    " (its address reads as 0)"))
        if ext.kind == "call":
            from ..verifier.kfunc import kernel_func_id
            return Instruction(insn.opcode, 0, isa.BPF_PSEUDO_KFUNC_CALL, 0,
                               kernel_func_id(ext.name))
        return Instruction.lddw(insn.dst, 0)

    def run_raw(self, code: bytes, mem: bytes | None, *, helpers: Any = None,
                insn_budget: int | None = None, engine: str | None = None) -> int:
        from ..jit.engine import run
        from ..vm import DEFAULT_INSN_BUDGET
        return run(code, mem, engine=engine, helpers=helpers,
                   insn_budget=insn_budget or DEFAULT_INSN_BUDGET)

    def links(self) -> Any:
        raise PyBPFError("the VM has no kernel hooks to attach to")

    def printk_reader(self, obj: "Object") -> "VMPrintk":
        """What reads bpf_printk's messages: each program's own trace pipe."""
        return VMPrintk(obj)

    def perf_reader(self, m: "Map") -> "VMPerf":
        """What reads a perf event array: its per-CPU slots, each given an event."""
        return VMPerf(m)

    def features(self, helpers: bool = True) -> dict[str, Any]:
        """What the VM supports, as data (see vm_features; it costs nothing to list
        the helpers, so `helpers` changes nothing)."""
        return vm_features()

    def __repr__(self) -> str:
        return "<Backend vm>"


class VMPrintk:
    """bpf_printk messages since it was made, from each program's trace pipe."""

    def __init__(self, obj: "Object") -> None:
        self._programs = obj.programs
        self._marks = {n: p.handle.trace_pipe.written for n, p in obj.programs.items()
                       if hasattr(p.handle, "trace_pipe")}

    def read(self) -> list[str]:
        """The messages written since the last read, without their newlines."""
        out: list[str] = []
        for n, p in self._programs.items():
            pipe = getattr(p.handle, "trace_pipe", None)
            if pipe is None or n not in self._marks:
                continue
            out.extend(m.rstrip("\n") for m in pipe.since(self._marks[n]))
            self._marks[n] = pipe.written
        return out

    def close(self) -> None:
        self._marks.clear()


class VMPerf:
    """A VM perf event array read slot by slot: slot i holds "event" i."""

    def __init__(self, m: "Map") -> None:
        from ..maps import possible_cpus
        self.map = m
        self.slots = list(range(min(possible_cpus(), m.max_entries)))
        for i in self.slots:
            m[i] = i

    def read(self) -> "Iterator[tuple[int, bytes]]":
        """(cpu, record) for every record sent since the last read."""
        for cpu in self.slots:
            for rec in self.map.events(cpu):  # type: ignore[attr-defined]  # VM perf maps
                yield cpu, rec

    def close(self) -> None:
        pass


VM_BACKEND = VMBackend()


def _packet_run(vm: Any, pspec: "ProgramSpec") -> "Callable[[bytes], TestRunResult | None] | None":
    """test_run(data) of a plain packet the short way: an XDP program's page, xdp_buff
    and context made now and reused by every run (pybpf.progtypes.xdp.quick_runner;
    it declines, with None, a packet too short or too long for it and a run inside a
    run). None for devmap and cpumap programs and other program types. Program.test_run
    takes it only in the default network namespace."""
    from ..uapi import ProgType
    if pspec.type != ProgType.XDP:
        return None
    from ..progtypes.xdp import quick_runner
    runner = quick_runner(vm, pspec.expected_attach_type)
    return partial(runner.quick, make=test_run_result) if runner is not None else None


def vm_helper_status(prog_types: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every helper pybpf knows a prototype for: its C declaration and the program
    types whose VM registry implements it (from progtypes.describe()'s `helpers_vm`;
    empty: the VM does not run it)."""
    from .. import helper_protos
    types_of: dict[str, list[str]] = {}
    for t in prog_types:
        for name in t.get("helpers_vm", []):
            types_of.setdefault(name, []).append(t["prog_type"])
    out = []
    for p in helper_protos.all_protos():
        types = types_of.get("bpf_" + p.name, [])
        out.append({"id": p.id, "name": "bpf_" + p.name, "proto": p.render(),
                    "status": "vm" if types else "kernel only", "prog_types": types})
    return out


def vm_features() -> dict[str, Any]:
    """What the VM backend supports, as `pybpf features --backend vm` reports it:
    program types (with their helpers), map types, and every helper with its prototype
    and status ("vm" or "kernel only"); the kernel's counterpart is
    pybpf.kernel.features_report."""
    from .. import progtypes
    from ..maps.vmmaps import vm_map_type_names
    prog_types = progtypes.describe()
    return {"backend": "vm", "prog_types": prog_types, "map_types": vm_map_type_names(),
            "helpers": vm_helper_status(prog_types)}
