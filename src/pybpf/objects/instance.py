"""Objects on a backend: an ObjectSpec's maps created and programs loaded, on the VM or
in the kernel, behind one API (`obj.programs[name].test_run(...)`, `obj.maps[name]`)."""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable

from .. import isa
from ..backend import BACKEND_NAMES, Backend, TestRunResult, get_backend
from ..elf import sections
from ..errors import ErrnoError, PyBPFError
from ..isa import BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE, Instruction
from .attach import ProgramAttach, parse_uprobe_section, resolve_binary_path
from .errors import AttachNotSupportedError, ObjectError, UnknownProgramTypeError
from ..spec import ObjectSpec, ProgramSpec

BACKENDS = BACKEND_NAMES  # the backends' names, as instantiate() takes them
UPROBE_KINDS = sections.UPROBE_KINDS
DEFAULT_PIN_ROOT = "/sys/fs/bpf"  # libbpf's default for LIBBPF_PIN_BY_NAME

__all__ = ["AttachNotSupportedError", "BACKENDS", "DEFAULT_PIN_ROOT", "Object", "ObjectError",
           "Program", "TestRunResult", "UPROBE_KINDS", "UnknownProgramTypeError",
           "check_program_type", "instantiate", "parse_uprobe_section", "patch_program",
           "resolve_binary_path", "select_programs", "tail_call_targets",
           "check_map_specs"]


def check_program_type(pspec: ProgramSpec) -> None:
    """Refuse to load or run a program of unknown type (ProgType.UNSPEC), saying how to
    set it (libbpf likewise refuses a program without a type)."""
    if pspec.type == 0:
        where = ("is the object's .text (it has no SEC() program section)"
                 if pspec.section == ".text" else
                 f"is in section {pspec.section!r}, which is not a known SEC() name")
        raise UnknownProgramTypeError(
            f"program {pspec.name} {where}, so its program type is unknown; set it before "
            "loading, e.g. in Python "
            f"`spec.programs[{pspec.name!r}].type = \"xdp\"` (a ProgType, number or name) or "
            "on the command line `--type xdp`")


class Program(ProgramAttach):
    """A program instantiated on a backend."""

    def __init__(self, spec: ProgramSpec, backend: "Backend | str", code: bytes, handle: Any,
                 runner: Callable[..., TestRunResult],
                 world: dict[str, Any] | None = None) -> None:
        self.spec = spec
        self.name = spec.name
        self.type = spec.type
        self.platform: Backend = get_backend(backend)
        self.code = code  # the instructions as loaded (map references patched)
        self.handle = handle  # pybpf.kernel.Program or pybpf.vm.VM
        self._runner = runner
        self._base_runner = runner  # _runner until something wraps it (RunCapture)
        self._packet: Callable[[bytes], TestRunResult | None] | None = None  # see below
        self._packet_runner: Callable[[bool], Any] | None = None
        self.links: list[Any] = []  # attachments made through attach*(), closed with us
        # VM test-run surroundings (set_netns), shared with the runner
        self._world: dict[str, Any] = world if world is not None else {}
        self.attach_btf_id = 0  # kernel: the vmlinux BTF id it was loaded for (tp_btf, ...)
        # kernel, instantiated with a log_level: the verifier's log of the accepted
        # program; None otherwise (the VM has no verifier)
        self.verifier_log: str | None = None

    @property
    def backend(self) -> str:
        """The name of the backend the program is on ("vm" or "kernel"); `platform` is
        the Backend itself. Assigning a name (or a Backend) moves only this record."""
        return self.platform.name

    @backend.setter
    def backend(self, value: "Backend | str") -> None:
        self.platform = get_backend(value)

    @property
    def fd(self) -> int:
        """The kernel fd (kernel), or the VM's program id (vm)."""
        return int(getattr(self.handle, "fd", getattr(self.handle, "prog_id", -1)))

    def test_run(self, data_in: bytes | None = None, *, ctx_in: bytes | None = None,
                 repeat: int = 1, data_size_out: int | None = None,
                 ctx_size_out: int | None = None, flags: int = 0) -> TestRunResult:
        """BPF_PROG_TEST_RUN semantics on either backend."""
        packet = self._packet
        if packet is not None and ctx_in is None and repeat == 1 and not flags and \
                data_size_out is None and ctx_size_out is None and \
                type(data_in) is bytes and self._runner is self._base_runner and \
                self._world.get("netns") is None:
            # a plain packet in the default surroundings: the backend's short way
            res = packet(data_in)
            if res is not None:
                return res
        return self._runner(data_in=data_in, ctx_in=ctx_in, repeat=repeat,
                            data_size_out=data_size_out, ctx_size_out=ctx_size_out, flags=flags)

    def run_batch(self, packets: Iterable[Any], **kw: Any) -> Any:
        """Run once per packet (bytes or pybpf.pcap.Packet) of a list or a stream, as
        test_run each: a pybpf.objects.runner.BatchResult of verdict counts (and output
        frames with keep_frames=True). On the VM the per-run state is made once; see
        runner.run_batch for the options."""
        from .runner import run_batch
        return run_batch(self, packets, **kw)

    def set_clock(self, clock_ns: "Callable[[], int] | None") -> bool:
        """On the VM, make bpf_ktime_get_ns & co. return `clock_ns()` (None: the host's
        clock); returns False in the kernel, whose clock cannot be set."""
        if not self.platform.caps.set_world:
            return False
        self.handle.clock_ns = clock_ns
        return True

    def set_task(self, task: Any) -> bool:
        """On the VM, run as `task` (a pybpf.progtypes.Task: what bpf_get_current_* and
        the probe reads see; None: the calling host thread, as the kernel's test run
        does); returns False in the kernel, where the task is the caller's."""
        if not self.platform.caps.set_world:
            return False
        self.handle.task = task
        return True

    def set_netns(self, netns: Any) -> bool:
        """On the VM, let the networking helpers (fib_lookup, sk_lookup, redirects) see
        `netns` (a pybpf.net.netns.NetNamespace, e.g. read_netns() for the
        caller's; None: loopback only); returns False in the kernel, which uses the
        caller's namespace."""
        if not self.platform.caps.set_world:
            return False
        self._world["netns"] = netns
        return True

    def detach(self) -> None:
        """Close every attachment made through attach*()."""
        while self.links:
            self.links.pop().close()

    def close(self) -> None:
        self.detach()
        close = getattr(self.handle, "close", None)
        if close is not None:
            close()

    def __repr__(self) -> str:
        return f"<Program {self.name} type={self.type} on {self.backend}>"


class Object:
    """An instantiated object: `programs` and `maps` by name. Close it (or use `with`).
    `skipped` names the programs left out (instantiate(programs=...), autoload False);
    `pinned` maps the names of maps pinned by name to their paths (kernel)."""

    def __init__(self, spec: ObjectSpec, backend: "Backend | str") -> None:
        self.spec = spec
        self.platform: Backend = get_backend(backend)
        self.programs: dict[str, Program] = {}
        self.maps: dict[str, Any] = {}
        self.warnings: list[str] = []
        self.skipped: list[str] = []
        self.pinned: dict[str, str] = {}

    @property
    def backend(self) -> str:
        """The name of the backend the object is on ("vm" or "kernel"); `platform` is
        the Backend itself."""
        return self.platform.name

    def unpin_maps(self) -> None:
        """Remove the pins of the maps pinned by name (libbpf's bpf_object__unpin_maps);
        the maps stay usable while this object holds them."""
        while self.pinned:
            _, path = self.pinned.popitem()
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    @property
    def globals(self) -> Any:
        """The `.bss`/`.data`/`.rodata` variables, typed by BTF (pybpf.objects.typed)."""
        from .typed import Globals
        if "_globals" not in self.__dict__:
            self.__dict__["_globals"] = Globals(self)
        return self.__dict__["_globals"]

    def close(self) -> None:
        for p in self.programs.values():
            p.close()
        for m in self.maps.values():
            m.close()
        btf = self.__dict__.get("btf")
        if btf is not None:
            btf.close()

    def __enter__(self) -> "Object":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<Object {os.path.basename(self.spec.path) or '?'} on {self.backend}: "
                f"{len(self.programs)} programs, {len(self.maps)} maps>")


# --- instantiation -----------------------------------------------------------------------

def instantiate(spec: ObjectSpec, backend: "Backend | str" = "vm", *, btf_target: Any = None,
                programs: "Iterable[str] | str | None" = None,
                pin_root: "str | os.PathLike[str] | None" = None,
                log_level: int = 0, tail_calls: bool = True, verify: bool = True,
                engine: str | None = None) -> Object:
    """Create the maps, resolve every reference and load the programs.

    `programs`: the names of the programs to load (default: every program whose
    `autoload` is true), with the programs the object's prog_array slots hold unless
    `tail_calls` is False (see select_programs); the others are left out
    (`obj.skipped`), as with libbpf's bpf_program__set_autoload or cilium/ebpf's
    selective loading, so one program the backend refuses does not stop the rest.
    `pin_root`: the bpffs directory under which maps are pinned and reused on the
    kernel backend (default /sys/fs/bpf): LIBBPF_PIN_BY_NAME maps at <root>/<name>,
    iproute2's PIN_GLOBAL_NS at <root>/tc/globals/<name> and PIN_OBJECT_NS at
    <root>/tc/<sha1 of the object>/<name>. `log_level`: the kernel's verifier log
    level (0-7: BPF_LOG_LEVEL1 1, BPF_LOG_LEVEL2 2, BPF_LOG_STATS 4) for every
    program; with a level, each loaded program keeps its log as `verifier_log` (a
    rejection carries it either way). Map specs are checked first: a bad one raises
    MapSpecError naming the map before anything is created. `verify`: on the VM, run
    pybpf's verifier on every program before it may run (False: run it unchecked; the
    kernel always verifies)."""
    platform = get_backend(backend)
    if not isinstance(log_level, int) or isinstance(log_level, bool) or \
            not 0 <= log_level <= 7:
        raise ValueError(f"log_level must be 0..7 (1: the verifier's log, 2: every "
                         f"instruction's state, 4: statistics), not {log_level!r}")
    selected = select_programs(spec, programs, tail_calls=tail_calls)
    check_map_specs(spec)
    root = os.fspath(pin_root) if pin_root is not None else DEFAULT_PIN_ROOT
    obj = Object(spec, platform)
    obj.skipped = [n for n in spec.programs if n not in selected]
    target: dict[str, Any] = {"log_level": log_level, "verify": bool(verify),
                              "engine": engine}  # VM: auto/interp/jit (pybpf.jit.engine)
    try:
        for name, mspec in spec.maps.items():
            if name == ".kconfig":  # this machine's kernel config, known only now
                from .kconfig import kconfig_value
                mspec = mspec.with_(contents=[(b"\0\0\0\0", kconfig_value(spec))])
            obj.maps[name] = _create_map(name, mspec, platform, root, obj)
        from .typed import attach_types
        attach_types(obj)  # obj.maps[name].typed: keys and values by their BTF types
        for name in selected:
            pspec = spec.programs[name]
            check_program_type(pspec)
            try:
                if pspec.core_relos and "core" not in target:
                    target["core"] = _core_target(btf_target)
                code = patch_program(spec, pspec, obj.maps, target.get("core"), platform,
                                     obj.warnings)
                loaded = platform.load_program(spec, pspec, code, obj, target)
                prog = Program(pspec, platform, code, loaded.handle, loaded.run, loaded.netns)
                prog._packet, prog._packet_runner = loaded.packet, loaded.packet_runner
                prog.attach_btf_id = loaded.attach_btf_id
                prog.verifier_log = loaded.verifier_log
                obj.programs[name] = prog
            except PyBPFError as e:
                _name_program(e, pspec)
                raise
        for map_name, slots in spec.map_values.items():
            m = obj.maps[map_name]
            for index, ref in slots:
                target_obj = obj.programs.get(ref) or obj.maps.get(ref)
                if target_obj is None and ref in obj.skipped:
                    obj.warnings.append(f"map {map_name} slot {index}: program {ref} is not "
                                        "loaded, the slot stays empty")
                    continue
                if target_obj is None:
                    raise ObjectError(f"map {map_name} slot {index} refers to {ref}, which is "
                                      "neither a program nor a map of this object")
                if not 0 <= index < m.max_entries:  # a hostile .rel.maps offset
                    raise ObjectError(f"map {map_name} slot {index} is beyond its "
                                      f"{m.max_entries} entries")
                m.update(index.to_bytes(4, "little"), getattr(target_obj, "handle", target_obj))
    except BaseException:
        obj.close()
        raise
    return obj


def tail_call_targets(spec: ObjectSpec) -> list[str]:
    """The programs the object's prog_array slots hold (iproute2's "<id>/<key>"
    sections, `.maps` initialisers), in the object's order."""
    held = {ref for slots in spec.map_values.values() for _, ref in slots}
    return [n for n in spec.programs if n in held]


def select_programs(spec: ObjectSpec, programs: "Iterable[str] | str | None", *,
                    tail_calls: bool = True) -> list[str]:
    """The names of the programs to load, in the object's order: `programs` (names;
    an unknown one is an ObjectError listing the object's), or by default every
    program whose `autoload` is true. With `tail_calls`, the named programs come with
    the tail-call targets the object's prog_array slots hold (whose `autoload` is
    true), as cilium/ebpf loads the programs a map's contents name: a dispatcher is
    loaded with what it jumps to."""
    if programs is None:
        return [n for n, p in spec.programs.items() if getattr(p, "autoload", True)]
    if isinstance(programs, str):
        wanted = [programs]
    else:
        try:
            wanted = list(programs)
        except TypeError:
            raise TypeError(f"programs must be program names, not "
                            f"{type(programs).__name__}") from None
    for n in wanted:
        if not isinstance(n, str) or n not in spec.programs:
            known = ", ".join(spec.programs) or "none"
            raise ObjectError(f"no program {n!r} in this object (programs: {known})")
    if tail_calls:
        wanted += [n for n in tail_call_targets(spec)
                   if getattr(spec.programs[n], "autoload", True)]
    return [n for n in spec.programs if n in wanted]


def check_map_specs(spec: ObjectSpec) -> None:
    """Validate every map spec (read unchecked from the object) before anything is
    created: MapSpecError names the map and the field."""
    from ..maps import MapSpec, MapSpecError
    for name, mspec in spec.maps.items():
        if not isinstance(mspec, MapSpec):
            raise ObjectError(f"map {name!r}: spec.maps values are MapSpecs, not "
                              f"{type(mspec).__name__}")
        try:
            mspec.validate()
        except MapSpecError as e:
            if mspec.name != name:  # a spec put there by hand: name the map as the object does
                raise type(e)(f"map {name!r}: {e.detail}", op=e.op) from None
            raise


def _create_map(name: str, mspec: Any, backend: Backend, root: str, obj: Object) -> Any:
    """Create one map; maps pinned by name or in an iproute2 namespace (kernel) are
    pinned under `root`, or the compatible map already pinned there is reused. A failed
    creation names the map."""
    from ..maps import MapError
    from ..maps.spec import Pinning
    try:
        if mspec.pinning == Pinning.NONE:
            create = getattr(backend, "create_object_map", None)  # kernel: with the BTF
            return create(mspec, obj) if create is not None else mspec.create(backend)
        if not backend.caps.pin:
            how = {Pinning.BY_NAME: "LIBBPF_PIN_BY_NAME",
                   Pinning.IPROUTE2_GLOBAL_NS: "iproute2's PIN_GLOBAL_NS",
                   Pinning.IPROUTE2_OBJECT_NS: "iproute2's PIN_OBJECT_NS"}[mspec.pinning]
            obj.warnings.append(f"map {name}: {how} pins only in the kernel; on the VM the "
                                "map is this object's own")
            return mspec.create(backend)
        m, path = backend.create_pinned_map(name, mspec, root, obj)
        obj.pinned[name] = path
        return m
    except MapError as e:
        if f"map {name!r}" not in e.detail and not e.detail.startswith(f"map {name}"):
            e.detail = f"map {name!r}: {e.detail}" if e.detail else f"map {name!r}"
            e.args = (e._message(),)
        raise


def _name_program(e: PyBPFError, pspec: ProgramSpec) -> None:
    """Make an error raised while preparing or loading a program name it (in place,
    keeping its class): "program <name>: ..."."""
    tag = f"program {pspec.name}"
    if tag in str(e):
        return
    if isinstance(e, ErrnoError):
        e.detail = f"{tag} ({pspec.section}): {e.detail}" if e.detail else \
            f"{tag} ({pspec.section})"
        e.args = (str(e),)
    elif len(e.args) == 1 and isinstance(e.args[0], str):
        e.args = (f"{tag}: {e.args[0]}",)
    elif hasattr(e, "add_note"):
        e.add_note(f"while loading {tag} ({pspec.section})")


def _core_target(btf_target: Any) -> Any:
    from .. import btf as btfmod
    if btf_target is None:
        return btfmod.load_vmlinux()
    if isinstance(btf_target, (str, os.PathLike)):
        return btfmod.load_file(btf_target)
    return btf_target


def patch_program(spec: ObjectSpec, pspec: ProgramSpec, maps: dict[str, Any],
                  core_target: Any, backend: "Backend | str" = "kernel",
                  warnings: list[str] | None = None) -> bytes:
    """The program's bytes with map references, CO-RE relocations and externs resolved
    for these maps (whose `fd` the backend understands)."""
    platform = get_backend(backend)
    warnings = warnings if warnings is not None else []
    insns: list[Instruction] = list(pspec.instructions)
    pcs = isa.slot_offsets(insns)
    index = {pc: i for i, pc in enumerate(pcs)}
    for ref in pspec.map_refs:
        i = index[ref.pc]
        m = maps.get(ref.map)
        if m is None:
            raise ObjectError(f"program {pspec.name} refers to map {ref.map}, which does not "
                              "exist in this object")
        old = insns[i]
        if ref.kind == "fd":
            insns[i] = Instruction(old.opcode, old.dst, BPF_PSEUDO_MAP_FD, 0, m.fd, 0)
        else:
            insns[i] = Instruction(old.opcode, old.dst, BPF_PSEUDO_MAP_VALUE, 0, m.fd, ref.offset)
    for ext in pspec.extern_refs:
        insns[index[ext.pc]] = _resolve_extern(pspec, ext, insns[index[ext.pc]], platform,
                                               warnings)
    code = bytearray(isa.encode(insns))
    if pspec.core_relos:
        from ..btf import CoreRelo as BtfCoreRelo
        from ..btf import CoreRelocator, CoreReloKind, patch_insn
        relocator = CoreRelocator(spec.btf, core_target)
        for relo in pspec.core_relos:
            res = relocator.relocate(BtfCoreRelo(relo.pc * 8, relo.type_id, relo.access,
                                                 CoreReloKind(relo.kind)))
            patch_insn(code, relo.pc, res)
    return bytes(code)


def _resolve_extern(pspec: ProgramSpec, ext: Any, insn: Instruction, backend: Backend,
                    warnings: list[str]) -> Instruction:
    """An extern (`.kconfig` ones are map values, see kconfig.py): kernel symbols (.ksyms),
    as the backend resolves them (Backend.resolve_ksym)."""
    if ext.section == ".ksyms":
        return backend.resolve_ksym(pspec, ext, insn, warnings)
    raise ObjectError(f"program {pspec.name} uses extern {ext.name} from {ext.section}, which "
                      "pybpf does not resolve (it knows .kconfig variables and .ksyms symbols)")
