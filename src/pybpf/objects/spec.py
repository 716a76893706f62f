"""The specification of a BPF object: its programs, maps, BTF and global variables,
as read from bytes. Deterministic and machine-independent: no fds, no kernel, no
relocation that needs a target (CO-RE and externs are resolved at instantiation)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..isa import Instruction


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
    """One program: its entry function with every sub-program it calls appended."""

    name: str
    section: str
    type: int  # BPF_PROG_TYPE_*
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

    def instantiate(self, backend: str = "vm", *, btf_target: Any = None) -> Any:
        """Create the maps and load the programs on "vm" or "kernel"; returns an Object."""
        from .instance import instantiate
        return instantiate(self, backend, btf_target=btf_target)

    def global_bytes(self, name: str) -> bytes:
        """The initial bytes of a global variable."""
        var = self._var(name)
        data = self._data(var.map)
        return bytes(data[var.offset:var.offset + var.size])

    def set_global(self, name: str, value: Any) -> None:
        """Set a global's initial value before instantiation (e.g. a `.rodata` config):
        bytes, or a value typed by BTF (int, bool, enum name, str, dict, list; see
        pybpf.objects.typed.encode_global)."""
        var = self._var(name)
        if not isinstance(value, (bytes, bytearray)):
            from .typed import encode_global
            value = encode_global(self, name, value)
        if len(value) != var.size:
            raise ValueError(f"global {name} is {var.size} bytes, got {len(value)}")
        data = bytearray(self._data(var.map))
        data[var.offset:var.offset + var.size] = value
        self.maps[var.map] = self.maps[var.map].with_(contents=[(b"\0\0\0\0", bytes(data))])

    def _var(self, name: str) -> GlobalVar:
        try:
            return self.globals[name]
        except KeyError:
            known = ", ".join(sorted(self.globals)) or "none"
            raise KeyError(f"no global variable {name!r} (globals: {known})") from None

    def _data(self, map_name: str) -> bytes:
        spec = self.maps[map_name]
        contents = list(spec.contents)
        return contents[0][1] if contents else bytes(spec.value_size)
