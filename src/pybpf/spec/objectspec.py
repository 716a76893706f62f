"""The specification of a BPF object: its programs, maps, BTF and global variables,
as read from bytes. Deterministic and machine-independent: no fds, no kernel, no
relocation that needs a target (CO-RE and externs are resolved at instantiation)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import PyBPFError
from ..isa import Instruction
from ..uapi import ProgType


class ProgramTypeError(PyBPFError, ValueError):
    """A program type that is no BPF_PROG_TYPE_* (by name or number)."""


# the names SEC() and the tools use for some types (tc, socket, ...)
_TYPE_ALIASES = {"TC": "SCHED_CLS", "CLASSIFIER": "SCHED_CLS", "ACTION": "SCHED_ACT",
                 "SOCKET": "SOCKET_FILTER", "RAW_TP": "RAW_TRACEPOINT", "UPROBE": "KPROBE",
                 "PERF": "PERF_EVENT", "UNKNOWN": "UNSPEC"}


def program_type(value: "str | int | ProgType") -> int:
    """The kernel's number for a program type given as ProgType.XDP, 6, "xdp",
    "BPF_PROG_TYPE_XDP" or a SEC()-style alias ("tc", "socket"); 0 (UNSPEC) is the
    unknown type of a program whose section is no known SEC() name."""
    if isinstance(value, bool):
        raise ProgramTypeError(f"a program type is a name or a number, not {value!r}")
    if isinstance(value, int):
        try:
            return int(ProgType(value))
        except ValueError:
            raise ProgramTypeError(f"unknown program type {value}") from None
    if isinstance(value, str):
        key = value.strip().upper().removeprefix("BPF_PROG_TYPE_").replace("-", "_")
        try:
            return int(ProgType[_TYPE_ALIASES.get(key, key)])
        except KeyError:
            names = ", ".join(t.name.lower() for t in ProgType if t.name != "UNSPEC")
            raise ProgramTypeError(f"unknown program type {value!r}; one of: {names}") from None
    raise ProgramTypeError(f"a program type is a name or a number, not "
                           f"{type(value).__name__}")


@dataclass(frozen=True)
class MapRef:
    """An lddw at `pc` (slot index in the linked program) that refers to map `map`:
    kind "fd" (BPF_PSEUDO_MAP_FD) or "value" (BPF_PSEUDO_MAP_VALUE at `offset`)."""

    pc: int
    map: str
    kind: str = "fd"
    offset: int = 0


@dataclass(frozen=True)
class ExternRef:
    """An instruction at `pc` that refers to an extern (`.kconfig` variable or `.ksyms`
    kernel symbol) named `name`, resolved at instantiation."""

    pc: int
    name: str
    section: str  # ".kconfig" or ".ksyms"
    kind: str  # "lddw" (address/value) or "call" (kfunc)
    offset: int = 0


@dataclass(frozen=True)
class CoreRelo:
    """A CO-RE relocation of the instruction at `pc`: BTF type id, access string, kind."""

    pc: int
    type_id: int
    access: str
    kind: int


@dataclass(frozen=True)
class FuncInfo:
    pc: int
    type_id: int


@dataclass(frozen=True)
class LineInfo:
    pc: int
    file: str
    line: str
    line_num: int
    column: int


@dataclass
class ProgramSpec:
    """One program: its entry function with every sub-program it calls appended.
    `type` is BPF_PROG_TYPE_* from the SEC() name, or 0 (ProgType.UNSPEC) when the
    section is no known SEC() name: set it (a ProgType, number or name such as "xdp")
    before instantiating, as with cilium/ebpf's ProgramSpec.Type."""

    name: str
    section: str
    type: int  # BPF_PROG_TYPE_*; assigning a name or ProgType stores the number
    instructions: list[Instruction]
    expected_attach_type: int = 0
    attach_to: str = ""
    flags: int = 0
    license: str = ""
    kern_version: int = 0
    map_refs: list[MapRef] = field(default_factory=list)
    extern_refs: list[ExternRef] = field(default_factory=list)
    core_relos: list[CoreRelo] = field(default_factory=list)
    func_info: list[FuncInfo] = field(default_factory=list)
    line_info: list[LineInfo] = field(default_factory=list)
    functions: list[tuple[str, int]] = field(default_factory=list)  # (name, start pc)
    # False: instantiate() leaves this program out (libbpf's bpf_program__set_autoload)
    autoload: bool = True

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "type":
            value = program_type(value)
        object.__setattr__(self, name, value)

    @property
    def type_known(self) -> bool:
        """False while the type is unknown (an unrecognised SEC() name, not yet set)."""
        return self.type != ProgType.UNSPEC

    @property
    def insn_count(self) -> int:
        return sum(i.slots for i in self.instructions)


@dataclass(frozen=True)
class GlobalVar:
    """A global variable in a data section (`.data`, `.rodata`, `.bss`, ...)."""

    name: str
    map: str  # the map (data section) holding it
    offset: int
    size: int
    type_id: int = 0


@dataclass
class ObjectSpec:
    """Everything in one object file, before it meets a backend."""

    programs: dict[str, ProgramSpec] = field(default_factory=dict)
    maps: dict[str, Any] = field(default_factory=dict)  # name -> pybpf.maps.MapSpec
    # initial slots of prog_array / map-in-map maps: (index, program or map name)
    map_values: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    globals: dict[str, GlobalVar] = field(default_factory=dict)
    btf: Any = None  # pybpf.btf.BTF, when the object has .BTF
    btf_ext: Any = None
    license: str = ""
    kern_version: int = 0
    sections: list[tuple[str, str, int]] = field(default_factory=list)  # (name, type, size)
    symbol_offsets: dict[str, int] = field(default_factory=dict)  # data symbols' st_value
    path: str = ""
    warnings: list[str] = field(default_factory=list)  # what the loader passed over
    # SHA-1 of the object file (hex): iproute2's object id, the directory of its
    # PIN_OBJECT_NS maps (<bpffs>/tc/<sha1>/<name>)
    sha1: str = ""

    def instantiate(self, backend: Any = "vm", *, btf_target: Any = None,
                    programs: Any = None, pin_root: Any = None, log_level: int = 0,
                    tail_calls: bool = True, verify: bool = True,
                    engine: str | None = None) -> Any:
        """Create the maps and load the programs on "vm" or "kernel" (a name or a
        pybpf.backend.Backend); returns an Object. On the VM pybpf's verifier checks
        every program before it can run, as the kernel's does at load (a refusal is a
        VerifierError with .log .pc .error, on either backend); `verify=False` runs them
        unchecked, for experiments (the kernel always verifies).
        `programs`: the names of the programs to load (default: those whose `autoload`
        is true), with the tail-call targets they need unless `tail_calls` is False;
        `pin_root`: the bpffs under which pinned maps live (kernel; /sys/fs/bpf);
        `log_level`: keep each kernel program's verifier log (`verifier_log`);
        `engine` (VM): "auto" (default: the interpreter, native code once a program is
        hot), "interp" or "jit" (pybpf.jit.engine).
        The backend does it (Backend.instantiate, i.e. pybpf.objects.instance.instantiate),
        so the spec, pure data, imports nothing that runs it."""
        from ..backend import get_backend
        return get_backend(backend).instantiate(
            self, btf_target=btf_target, programs=programs, pin_root=pin_root,
            log_level=log_level, tail_calls=tail_calls, verify=verify,
            **({'engine': engine} if engine is not None else {}))

    def global_bytes(self, name: str) -> bytes:
        """The initial bytes of a global variable."""
        var = self._var(name)
        data = self._data(var.map)
        return bytes(data[var.offset:var.offset + var.size])

    def set_global(self, name: str, value: Any) -> None:
        """Set a global's initial value before instantiation (e.g. a `.rodata` config):
        bytes, or a value typed by BTF (int, bool, enum name, str, dict, list; see
        pybpf.spec.globals.encode_global). Errors (GlobalVarError) name the variable."""
        from .errors import GlobalValueError
        var = self._var(name)
        if isinstance(value, memoryview):
            value = bytes(value)
        if not isinstance(value, (bytes, bytearray)):
            from .globals import encode_global
            value = encode_global(self, name, value)
        if len(value) != var.size:
            raise GlobalValueError(name, f"global {name} is {var.size} bytes, got "
                                         f"{len(value)}")
        data = bytearray(self._data(var.map))
        data[var.offset:var.offset + var.size] = value
        self.maps[var.map] = self.maps[var.map].with_(contents=[(b"\0\0\0\0", bytes(data))])

    def _var(self, name: str) -> GlobalVar:
        from .errors import UnknownGlobalError
        try:
            return self.globals[name]
        except KeyError:
            known = ", ".join(sorted(self.globals)) or "none"
            raise UnknownGlobalError(name, f"no global variable {name!r} (globals: "
                                           f"{known})") from None

    def _data(self, map_name: str) -> bytes:
        spec = self.maps[map_name]
        contents = list(spec.contents)
        return contents[0][1] if contents else bytes(spec.value_size)
