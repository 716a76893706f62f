"""The kernel as a backend: maps and programs made through bpf(2) (pybpf.kernel),
programs checked by the kernel's verifier and attached to its hooks. Imports nothing
of the VM side (pybpf.vm, pybpf.helpers, pybpf.progtypes, the VM maps)."""

from __future__ import annotations

import errno
import threading
from typing import TYPE_CHECKING, Any, Callable

from .. import isa
from ..backend import Capabilities, LoadedProgram, TestRunResult, test_run_result
from ..errors import PyBPFError
from ..isa import Instruction
from .errors import ObjectError

if TYPE_CHECKING:
    from ..maps import Map, MapSpec
    from .instance import Object
    from ..spec import ObjectSpec, ProgramSpec

__all__ = ["KernelBackend", "KERNEL_BACKEND"]


class KernelBackend:
    """The running kernel, through bpf(2) in pure Python."""

    name = "kernel"
    caps = Capabilities(attach=True, pin=True, verifier_log=True, set_world=False,
                        custom_helpers=False, insn_budget=False, fd_handles=True,
                        host_bpf=True)

    def create_map(self, spec: "MapSpec") -> "Map":
        from ..maps.kernelmap import KernelMap
        return KernelMap.create(spec)

    def create_object_map(self, spec: "MapSpec", obj: "Object") -> "Map":
        """A map of an object: created with the object's BTF (key and value types, so
        bpftool and `pybpf map dump` decode its elements) where the object has BTF the
        kernel takes, as libbpf creates them."""
        from ..maps.kernelmap import KernelMap
        spec.validate()
        btf = _kernel_btf(obj.spec, obj) if spec.value_type is not None else None
        return KernelMap.create(spec.resolved(), btf=btf, warnings=obj.warnings)

    def open_pinned_map(self, path: str) -> "Map":
        from ..maps.kernelmap import open_pinned_kernel_map
        return open_pinned_kernel_map(path)

    def create_pinned_map(self, name: str, spec: "MapSpec", root: str,
                          obj: "Object") -> "tuple[Map, str]":
        """A pinned map is created with the object's BTF too (see create_object_map)."""
        from ..maps.pinbyname import pin_or_reuse
        btf = _kernel_btf(obj.spec, obj) if spec.value_type is not None else None
        return pin_or_reuse(name, spec, root, obj.spec.sha1, btf=btf, warnings=obj.warnings)

    def instantiate(self, spec: "ObjectSpec", **kw: Any) -> "Object":
        from . import instance  # looked up at call time: the pytest plugin wraps it
        return instance.instantiate(spec, self, **kw)

    def load_program(self, spec: "ObjectSpec", pspec: "ProgramSpec", code: bytes,
                     obj: "Object", cache: dict[str, Any]) -> LoadedProgram:
        from .. import kernel
        from ..kernel.errors import verifier_error
        from ..kernel.packetrun import PacketTestRun
        attach_btf_id, attach_type = _attach_btf_id(pspec, cache)
        btf = _kernel_btf(spec, obj) if pspec.func_info or pspec.line_info else None
        lines = _line_records(pspec, code, obj) if btf is not None else None

        def load(line_info: "list[tuple[int, int, int, int]] | None") -> Any:
            return kernel.prog_load(pspec.type, code, pspec.license or spec.license or "GPL",
                                    log_level=cache.get("log_level", 0),
                                    expected_attach_type=attach_type,
                                    name=kernel_name(pspec.name),
                                    kern_version=pspec.kern_version,
                                    prog_flags=pspec.flags, attach_btf_id=attach_btf_id,
                                    prog_btf_fd=btf if btf is not None else 0,
                                    func_info=[(f.pc, f.type_id) for f in pspec.func_info]
                                    if btf is not None and pspec.func_info else None,
                                    line_info=line_info)
        try:
            try:
                handle = load(lines)
            except kernel.KernelVerifierError as e:
                # line info is for people reading dumps: a program the kernel takes
                # without it still loads (the warning says why it went)
                if not lines or e.errno != errno.EINVAL or "line_info" not in e.log:
                    raise
                obj.warnings.append(f"program {pspec.name}: the kernel refused its line "
                                    f"info ({e.reason}); loaded without it")
                handle = load(None)
        except kernel.KernelVerifierError as e:
            raise verifier_error(e.errno, e.log, e.cmd,
                                 f"program {pspec.name} ({pspec.section})") from None

        def run(*, data_in: bytes | None, ctx_in: bytes | None, repeat: int,
                data_size_out: int | None, ctx_size_out: int | None,
                flags: int) -> TestRunResult:
            res = handle.test_run(data_in, ctx_in=ctx_in, repeat=repeat,
                                  data_size_out=data_size_out, ctx_size_out=ctx_size_out,
                                  flags=flags)
            return TestRunResult(res.retval, res.data_out, res.ctx_out, res.duration)

        return LoadedProgram(handle, run, attach_btf_id=attach_btf_id,
                             verifier_log=handle.log if cache.get("log_level") else None,
                             packet=_packet_run(handle),
                             packet_runner=lambda keep: PacketTestRun(handle,
                                                                      keep_output=keep))

    def resolve_ksym(self, pspec: "ProgramSpec", ext: Any, insn: Instruction,
                     warnings: list[str]) -> Instruction:
        """A kernel symbol by its id in the kernel's BTF: a kfunc call (src 2) or a
        BTF-id lddw (src 3)."""
        from ..btf import BtfKind, load_vmlinux
        kind = BtfKind.FUNC if ext.kind == "call" else BtfKind.VAR
        ids = load_vmlinux().find(ext.name, kind)
        if not ids:
            raise ObjectError(f"program {pspec.name}: kernel symbol {ext.name} is not in the "
                              f"kernel's BTF as a {kind.name}")
        if ext.kind == "call":
            return Instruction(insn.opcode, 0, isa.BPF_PSEUDO_KFUNC_CALL, 0, ids[0])
        return Instruction(insn.opcode, insn.dst, isa.BPF_PSEUDO_BTF_ID, 0, ids[0], 0)

    def run_raw(self, code: bytes, mem: bytes | None, *, helpers: Any = None,
                insn_budget: int | None = None) -> int:
        from ..kernel import run_raw
        return run_raw(code, mem)

    def links(self) -> Any:
        from .. import kernel
        return kernel

    def printk_reader(self, obj: "Object") -> "KernelPrintk":
        """What reads bpf_printk's messages: a trace instance of the host's tracefs
        (PyBPFError when there is none to make)."""
        return KernelPrintk()

    def perf_reader(self, m: "Map") -> Any:
        """What reads a perf event array: a PerfBuffer of one event per online CPU the
        map has a slot for, attached to it."""
        from ..kernel import PerfBuffer
        from ..cpus import online_cpus
        buf = PerfBuffer([c for c in online_cpus() if c < m.max_entries], pages=4)
        try:
            buf.attach(m)
        except BaseException:
            buf.close()
            raise
        return buf

    def features(self, helpers: bool = True) -> dict[str, Any]:
        """What this kernel's BPF supports (pybpf.kernel.features_report)."""
        from ..kernel import features_report
        return features_report(helpers=helpers)

    def __repr__(self) -> str:
        return "<Backend kernel>"


def _packet_run(handle: Any) -> Callable[[bytes], TestRunResult]:
    """test_run(data) of a plain packet through a PacketTestRun of the calling thread
    (its buffers and bpf(2) arguments made at its first run)."""
    from ..kernel.packetrun import PacketTestRun
    local = threading.local()

    def packet(data: bytes) -> TestRunResult:
        try:
            runner = local.runner
        except AttributeError:
            runner = local.runner = PacketTestRun(handle, keep_output=True)
        retval = runner.run(data)
        return test_run_result(retval, runner.output(), b"", runner.duration)
    return packet


class KernelPrintk:
    """bpf_printk messages from the kernel's trace pipe (pybpf.kernel.TracePrintk)."""

    def __init__(self) -> None:
        from ..kernel.tracepipe import TracePrintk
        self._trace = TracePrintk()

    def read(self) -> list[str]:
        """The messages that arrived since the last read, without their newlines."""
        return [t.rstrip("\n") for t in self._trace.texts()]

    def close(self) -> None:
        self._trace.close()


KERNEL_BACKEND = KernelBackend()


def kernel_name(name: str) -> str:
    """Program names the kernel accepts: 15 characters of [A-Za-z0-9_.]."""
    return "".join(c if c.isalnum() or c in "_." else "_" for c in name)[:15]


def _kernel_btf(spec: "ObjectSpec", obj: "Object") -> Any:
    """The object's BTF loaded into the kernel (sanitized as loaders must), once per
    object; None when there is none or the kernel refuses it (programs then load
    without BTF, as libbpf retries)."""
    if "btf" in obj.__dict__:
        return obj.__dict__["btf"]
    obj.__dict__["btf"] = None
    if spec.btf is None:
        return None
    from .. import kernel
    from ..btf import encode, sanitize_for_kernel
    try:
        sizes = {name: size for name, _, size in spec.sections}
        clean = sanitize_for_kernel(spec.btf, sizes, spec.symbol_offsets)
        strings = clean.btf.strings
        for p in spec.programs.values():  # the source lines line info points to
            for li in p.line_info:
                strings.add(li.file)
                strings.add(li.line)
        obj.__dict__["btf"] = kernel.btf_load(encode(clean.btf))
        obj.__dict__["btf_strings"] = strings
    except PyBPFError as e:
        obj.warnings.append(f"BTF not loaded into the kernel: {e}")
    return obj.__dict__["btf"]


def _line_records(pspec: "ProgramSpec", code: bytes,
                  obj: "Object") -> "list[tuple[int, int, int, int]] | None":
    """The program's line info as the kernel takes it (insn, file and line string
    offsets in the loaded BTF, line << 10 | column), or None (with a warning when there
    was some) where it cannot be: the kernel wants one record at the start of every
    function, strictly increasing instructions, none on an lddw's second half."""
    strings = obj.__dict__.get("btf_strings")
    if strings is None or not pspec.line_info:
        return None
    n = len(code) // 8
    second = set()
    pc = 0
    while pc < n:
        if code[pc * 8] == isa.OPCODE_LDDW:
            second.add(pc + 1)
            pc += 2
        else:
            pc += 1
    recs: list[tuple[int, int, int, int]] = []
    for li in sorted(pspec.line_info, key=lambda r: r.pc):
        if (recs and li.pc <= recs[-1][0]) or li.pc >= n or li.pc in second:
            continue
        file_off, line_off = strings.find(li.file), strings.find(li.line)
        if file_off is None or line_off is None:
            continue
        recs.append((li.pc, file_off, line_off,
                     min(li.line_num, 0x3FFFFF) << 10 | min(max(li.column, 0), 0x3FF)))
    starts = {start for _, start in pspec.functions} | {f.pc for f in pspec.func_info}
    missing = sorted(starts - {r[0] for r in recs})
    if missing:
        obj.warnings.append(f"program {pspec.name}: no line info at the start of the "
                            f"function at insn {missing[0]}; loaded without line info")
        return None
    return recs


def _attach_btf_id(pspec: "ProgramSpec", cache: dict[str, Any]) -> tuple[int, int]:
    """(attach_btf_id, expected_attach_type) of a tp_btf/fentry/fexit/fmod_ret/lsm/iter
    program, found in vmlinux BTF (read once per instantiation); (0, the spec's
    expected attach type) for the other program types."""
    from .attachbtf import expected_attach_type, needs_attach_btf_id, resolve_attach_btf_id
    attach_type = expected_attach_type(pspec.type, pspec.expected_attach_type, pspec.section)
    if not needs_attach_btf_id(pspec.type, attach_type):
        return 0, pspec.expected_attach_type
    if "vmlinux" not in cache:
        from ..btf import BTFError, load_vmlinux
        try:
            cache["vmlinux"] = load_vmlinux()
        except BTFError as e:
            raise ObjectError(f"program {pspec.name}: its attach target is found in the "
                              f"kernel's BTF, which cannot be read ({e})") from None
    attach_to = pspec.attach_to or pspec.section.partition("/")[2]
    return resolve_attach_btf_id(cache["vmlinux"], pspec.name, pspec.type, attach_type,
                                 attach_to), attach_type
