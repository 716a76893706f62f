"""Reading BPF ELF objects (clang -target bpf, libbpf conventions) into an ObjectSpec.

pyelftools parses the ELF; this module applies libbpf's conventions on top: programs
by `SEC()` name and function symbol (a name no convention knows gives a program of
unknown type, for the user to set), sub-programs from `.text` linked in behind each
program that calls them (`.text` is the program itself when nothing else is, as for uBPF
and PREVAIL), maps from `.maps` (BTF-defined), `maps` (legacy `bpf_map_def` and
iproute2's `bpf_elf_map`, see legacymaps.py), and global data sections, relocations
turned into map references, and externs recorded for instantiation. Anything malformed
raises ELFError, naming the construct (section, symbol, map, relocation and its offset).
"""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import PyBPFError
from .. import isa
from ..spec import (CoreRelo, ExternRef, FuncInfo, GlobalVar, MapRef, ObjectSpec,
                            ProgramSpec)
from .btfmaps import datasec_type
from .compressed import MAX_INFLATED_TOTAL, SHF_COMPRESSED, inflate
from .hidden import hidden_funcs_static
from .legacymaps import parse_legacy_maps
from .sections import classify_section

EM_BPF = 247
SHT_NULL = 0
SHT_PROGBITS = 1
SHT_SYMTAB = 2
SHT_NOBITS = 8
MAX_BSS_SIZE = 64 << 20
"""The largest zero-initialised (SHT_NOBITS, `.bss`) section pybpf allocates: it costs
its size in memory at load, whatever the file's size (a `.bss` becomes an array map's
value; the kernel's own limit on one is 4 MiB, KMALLOC_MAX_SIZE)."""
SHT_REL = 9
SHF_EXECINSTR = 0x4
SHN_UNDEF = 0

R_BPF_NONE = 0
R_BPF_64_64 = 1
R_BPF_64_ABS64 = 2
R_BPF_64_ABS32 = 3
R_BPF_64_NODYLD32 = 4
R_BPF_64_32 = 10
RELOC_NAMES = {0: "R_BPF_NONE", 1: "R_BPF_64_64", 2: "R_BPF_64_ABS64", 3: "R_BPF_64_ABS32",
               4: "R_BPF_64_NODYLD32", 10: "R_BPF_64_32"}

DATA_PREFIXES = (".data", ".rodata", ".bss")
ELF_MAGIC = b"\x7fELF"


class ELFError(PyBPFError):
    """An object file that is not a loadable BPF ELF object, or uses a construct pybpf
    does not support (the message names it)."""


@dataclass
class _Symbol:
    name: str
    value: int
    size: int
    type: str  # STT_FUNC, STT_OBJECT, STT_SECTION, STT_NOTYPE
    bind: str
    shndx: int
    visibility: str = "STV_DEFAULT"  # STV_HIDDEN: a __hidden global, static to loaders


@dataclass
class _Func:
    """A function in an executable section: raw 8-byte slots and its relocations."""

    name: str
    section: str
    shndx: int
    start: int  # slot index in the section
    end: int
    is_global: bool
    relocs: dict[int, tuple[int, _Symbol]] = field(default_factory=dict)  # slot -> (type, sym)


@dataclass
class _Elf:
    """The parts of the ELF the BPF conventions need, read once."""

    sections: list[tuple[str, int, int, bytes]]  # name, sh_type, sh_flags, data
    symbols: list[_Symbol]
    relocs: dict[int, list[tuple[int, int, int]]]  # target shndx -> (offset, type, sym index)


def _read(data: bytes, path: str = "") -> _Elf:
    if data[:4] != ELF_MAGIC:
        what = f"{path}: " if path else ""
        head = f"starts with {data[:4].hex(' ')}" if data else "is empty"
        raise ELFError(f"{what}not an ELF object (it {head}, not the ELF magic 7f 45 4c 46)")
    where = "the ELF header"
    try:
        from elftools.common.exceptions import ELFError as PyELFError
        from elftools.elf.elffile import ELFFile
        from elftools.elf.relocation import RelocationSection
        from elftools.elf.sections import SymbolTableSection
    except ImportError as e:  # pragma: no cover
        raise ELFError("pyelftools is needed to read ELF objects (pip install pyelftools)") from e
    try:
        elf = ELFFile(io.BytesIO(data))
        if elf.elfclass != 64:
            raise ELFError(f"not a 64-bit ELF object (class {elf.elfclass})")
        if not elf.little_endian:
            raise ELFError("big-endian BPF objects are not supported")
        if elf["e_ident"]["EI_VERSION"] != "EV_CURRENT":  # libelf: not ELF_K_ELF
            raise ELFError(f"not a proper ELF object: ELF version "
                           f"{elf['e_ident']['EI_VERSION']}, expected 1 (EV_CURRENT)")
        if elf["e_machine"] not in ("EM_BPF", EM_BPF):
            raise ELFError(f"not a BPF object: machine is {elf['e_machine']}")
        if elf["e_type"] not in ("ET_REL",):
            raise ELFError(f"not a relocatable object (type {elf['e_type']})")
        symtab_idx = -1
        for idx in range(elf.num_sections()):
            where = f"section header {idx}"
            if elf.get_section(idx).header["sh_type"] == "SHT_SYMTAB":
                symtab_idx = idx
                break
        sections: list[tuple[str, int, int, bytes]] = []
        symbols: list[_Symbol] = []
        relocs: dict[int, list[tuple[int, int, int]]] = {}
        inflated = 0  # bytes of compressed sections inflated so far
        for idx in range(elf.num_sections()):
            where = f"section {idx}"
            sec = elf.get_section(idx)
            where = f"section {idx} ({sec.name or '?'})"
            sh_type = sec.header["sh_type"]
            type_num = {"SHT_PROGBITS": SHT_PROGBITS, "SHT_SYMTAB": SHT_SYMTAB,
                        "SHT_NOBITS": SHT_NOBITS, "SHT_REL": SHT_REL,
                        "SHT_NULL": SHT_NULL}.get(sh_type, -1) \
                if isinstance(sh_type, str) else sh_type
            off, size = sec.header["sh_offset"], sec.header["sh_size"]
            if type_num not in (SHT_NULL, SHT_NOBITS) and off + size > len(data):
                raise ELFError(f"section {idx} ({sec.name or '?'}): offset {off} + size {size} "
                               f"is past the end of the {len(data)}-byte file")
            if type_num in (SHT_NOBITS, SHT_NULL):
                body = b""
            elif sec.header["sh_flags"] & SHF_COMPRESSED:  # inflated with a cap, not by
                # pyelftools, which trusts the size the compression header claims
                body = inflate(sec.name, memoryview(data)[off:off + size],
                               MAX_INFLATED_TOTAL - inflated, ELFError)
                inflated += len(body)
            else:
                body = sec.data()
            if type_num == SHT_NOBITS:
                if size > MAX_BSS_SIZE:
                    raise ELFError(f"section {sec.name or idx}: {size} bytes of zero-initialised "
                                   f"data (SHT_NOBITS) is more than pybpf allocates "
                                   f"(MAX_BSS_SIZE, {MAX_BSS_SIZE >> 20} MiB)")
                body = bytes(size)
            flags = sec.header["sh_flags"]
            if type_num != SHT_PROGBITS:  # only SHT_PROGBITS holds code (as in libbpf)
                flags &= ~SHF_EXECINSTR
            sections.append((sec.name, type_num, flags, body))
            if type_num == SHT_SYMTAB:
                assert isinstance(sec, SymbolTableSection)  # pyelftools' class for the type
                strtab_size = elf.get_section(sec.header["sh_link"]).header["sh_size"]
                for i, sym in enumerate(sec.iter_symbols()):
                    where = f"symbol {i} of {sec.name or 'the symbol table'}"
                    if sym["st_name"] >= max(strtab_size, 1):
                        raise ELFError(f"symbol {i}: name offset {sym['st_name']} is outside "
                                       f"the {strtab_size}-byte string table")
                    shndx = sym["st_shndx"]
                    symbols.append(_Symbol(sym.name, sym["st_value"], sym["st_size"],
                                           sym["st_info"]["type"], sym["st_info"]["bind"],
                                           shndx if isinstance(shndx, int) else SHN_UNDEF,
                                           str(sym["st_other"]["visibility"])))
            elif type_num == SHT_REL:
                if sec.header["sh_link"] != symtab_idx:
                    raise ELFError(f"relocation section {sec.name}: sh_link "
                                   f"{sec.header['sh_link']} is not the symbol table "
                                   f"(section {symtab_idx})")
                target = sec.header["sh_info"]
                entries = relocs.setdefault(target, [])
                assert isinstance(sec, RelocationSection)  # pyelftools' class for the type
                for k, rel in enumerate(sec.iter_relocations()):
                    where = f"relocation {k} of {sec.name or 'a relocation section'}"
                    entries.append((rel["r_offset"], rel["r_info_type"], rel["r_info_sym"]))
        where = "the symbol table"
        _check_symbols(sections, symbols)
        return _Elf(sections, symbols, relocs)
    except ELFError:
        raise
    except (PyELFError, struct.error, ValueError, KeyError, IndexError, TypeError,
            AttributeError, UnicodeDecodeError, OverflowError, MemoryError, AssertionError,
            RecursionError, zlib.error, EOFError) as e:
        raise ELFError(f"malformed ELF at {where}: {type(e).__name__}: {e}") from None


SHN_LORESERVE = 0xFF00


def _check_symbols(sections: list[tuple[str, int, int, bytes]], symbols: list[_Symbol]) -> None:
    """Every symbol of a section lies within it (value, and value + size for objects
    and functions), as libbpf's linker checks: what a symbol locates (a global, a
    function, a map, an offset written into an instruction) then stays in the file's
    bounds. A section index past the section headers is refused too; a section of type
    SHT_NULL has no contents to check against."""
    for sym in symbols:
        if sym.shndx == SHN_UNDEF or sym.shndx >= SHN_LORESERVE:
            continue
        label = f"symbol {sym.name or '(unnamed)'}"
        if sym.shndx >= len(sections):
            raise ELFError(f"{label} is in section {sym.shndx}, which does not exist (the "
                           f"object has {len(sections)})")
        sec_name, sec_type, _, body = sections[sym.shndx]
        if sec_type == SHT_NULL:  # an inactive header: nothing is located there, and a
            continue  # symbol in it serves nothing (uBPF: "text section not found")
        extent = sym.size if sym.type in ("STT_OBJECT", "STT_FUNC") else 0
        if sym.value > len(body) or sym.value + extent > len(body):
            span = f"offset {sym.value}" + (f" + size {extent}" if extent else "")
            raise ELFError(f"{label}: {span} is outside section {sec_name or sym.shndx} "
                           f"({len(body)} bytes)")


def _is_legacy_maps_section(name: str) -> bool:
    """`maps`, or `maps/<name>` (one map per section: gobpf, cilium/ebpf, PREVAIL)."""
    return name == "maps" or name.startswith("maps/")


def _is_data_section(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in DATA_PREFIXES)


def _bytes_of(path_or_bytes: "str | Path | bytes", name: str) -> tuple[bytes, str]:
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return bytes(path_or_bytes), name
    path = str(path_or_bytes)
    try:
        return Path(path).read_bytes(), path
    except OSError as e:
        raise ELFError(f"cannot read {path}: {e.strerror}") from None


_BUILD_ERRORS = (struct.error, ValueError, KeyError, IndexError, TypeError, ZeroDivisionError,
                 UnicodeDecodeError, OverflowError, RecursionError, MemoryError)


def load(path_or_bytes: "str | Path | bytes", *, name: str = "",
         map_parser: Callable[..., Any] | None = None) -> ObjectSpec:
    """Read a BPF ELF object into an ObjectSpec (deterministic, no kernel needed)."""
    data, path = _bytes_of(path_or_bytes, name)
    builder = _Builder(_read(data, path), path)
    builder.spec.sha1 = hashlib.sha1(data).hexdigest()  # iproute2's object id
    try:
        return builder.build()
    except ELFError:
        raise
    except _BUILD_ERRORS as e:
        raise ELFError(f"malformed BPF object at {builder.where}: {type(e).__name__}: "
                       f"{e}") from None


def load_text(path_or_bytes: "str | Path | bytes", *, name: str = "") -> ProgramSpec:
    """The object's `.text` linked as one program entered at its first instruction:
    the convention of loaders without SEC() program types (uBPF). The object is
    checked as by load(); calls to undefined functions stay ExternRefs (kind "call")
    for the caller to bind, e.g. to helpers by name."""
    data, path = _bytes_of(path_or_bytes, name)
    builder = _Builder(_read(data, path), path)
    try:
        builder.build()
        prog = builder.text_program()
        if prog is None:
            raise ELFError("text section not found: no SHT_PROGBITS executable .text with code")
        return prog
    except ELFError:
        raise
    except _BUILD_ERRORS as e:
        raise ELFError(f"malformed BPF object at {builder.where}: {type(e).__name__}: "
                       f"{e}") from None


class _Builder:
    """One pass over an _Elf producing the ObjectSpec."""

    def __init__(self, elf: _Elf, path: str) -> None:
        self.elf = elf
        self.path = path
        self.spec = ObjectSpec(path=path)
        self.sec_names = [s[0] for s in elf.sections]
        self.where = "the object"  # what is being read, for the error if it is malformed
        self.funcs: dict[tuple[int, int], _Func] = {}
        self.legacy: Any = None  # the `maps` section's definitions (legacymaps.LegacyMaps)

    # --- top level ----------------------------------------------------------------
    def build(self) -> ObjectSpec:
        spec = self.spec
        for name, sh_type, flags, body in self.elf.sections:
            kind = "code" if flags & SHF_EXECINSTR else {SHT_PROGBITS: "data", SHT_NOBITS: "bss",
                                                          SHT_SYMTAB: "symtab",
                                                          SHT_REL: "rel"}.get(sh_type, "other")
            spec.sections.append((name, kind, len(body)))
        self.where = "section license"
        spec.license = self._cstring_section("license")
        self.where = "section version"
        version = self._section_data("version")
        if version is not None:
            if len(version) != 4:
                raise ELFError(f"section version is {len(version)} bytes, expected 4")
            spec.kern_version = struct.unpack("<I", version)[0]
        self._load_btf()
        for sym in self.elf.symbols:
            if sym.name and sym.type in ("STT_OBJECT", "STT_NOTYPE") and sym.shndx:
                spec.symbol_offsets.setdefault(sym.name, sym.value)
        self._data_maps()
        self._legacy_maps()
        self._btf_maps()
        self._kconfig()
        self._programs()
        return spec

    def _kconfig(self) -> None:
        """`.kconfig` externs become globals of a `.kconfig` array map laid out as libbpf
        lays it out; its values (the running kernel's) are written at instantiation."""
        btf = self.spec.btf
        if btf is None:
            return
        from ..btf.sanitize import KCONFIG_SEC, _kconfig_layout
        from ..btf.types import Datasec, Var
        for i, t in btf.items():
            if isinstance(t, Datasec) and t.name == KCONFIG_SEC and t.vars:
                offsets, size = _kconfig_layout(btf, t)
                self.spec.maps[KCONFIG_SEC] = self._map_spec(
                    type="array", key_size=4, value_size=max(size, 1), max_entries=1,
                    name=KCONFIG_SEC, flags=1 << 7, freeze=True, value_type=i)
                for v in t.vars:
                    var = btf[v.type]
                    if isinstance(var, Var):
                        self.spec.globals[var.name] = GlobalVar(
                            var.name, KCONFIG_SEC, offsets[var.name], btf.size_of(var.type),
                            var.type)

    def _section_data(self, name: str) -> bytes | None:
        for sname, _, _, body in self.elf.sections:
            if sname == name:
                return body
        return None

    def _cstring_section(self, name: str) -> str:
        body = self._section_data(name)
        if body is None:
            return ""
        return body.split(b"\0", 1)[0].decode("ascii", "replace")

    def _sym_section(self, sym: _Symbol) -> str:
        if 0 < sym.shndx < len(self.sec_names):
            return self.sec_names[sym.shndx]
        return ""

    # --- BTF ------------------------------------------------------------------------------
    def _load_btf(self) -> None:
        raw = self._section_data(".BTF")
        if raw is None:
            return
        self.where = "section .BTF"
        from .. import btf as btfmod
        try:
            self.spec.btf = btfmod.parse(raw)
        except PyBPFError as e:
            if self._needs_btf():
                raise ELFError(f"bad BTF in {self.path or 'object'}: {e}") from None
            # as libbpf: BTF nothing depends on is dropped, not fatal
            self.spec.warnings.append(f"section .BTF ignored (the object does not need it): {e}")
            return
        hidden_funcs_static(self.spec.btf, self.elf.symbols)
        ext = self._section_data(".BTF.ext")
        if ext is not None:
            self.where = "section .BTF.ext"
            try:
                self.spec.btf_ext = btfmod.parse_ext(ext, self.spec.btf)
            except PyBPFError as e:  # libbpf too ignores a bad .BTF.ext
                self.spec.warnings.append(f"section .BTF.ext ignored (no function, line or "
                                          f"CO-RE information): {e}")

    def _needs_btf(self) -> bool:
        """Whether the object cannot do without its BTF, as libbpf decides: BTF-defined
        maps, struct_ops, or externs (.kconfig variables, .ksyms symbols)."""
        return ".maps" in self.sec_names or \
            any(n.startswith(".struct_ops") for n in self.sec_names) or \
            any(s.shndx == SHN_UNDEF and s.name and s.bind == "STB_GLOBAL"
                for s in self.elf.symbols)

    # --- maps ----------------------------------------------------------------------------------
    def _map_spec(self, **kw: Any) -> Any:
        from ..maps import MapSpec
        self.where = f"map {kw.get('name') or '?'}"
        return MapSpec(**kw, check=False)  # checked at instantiation (fixable until then)

    def _data_maps(self) -> None:
        """Each .data/.rodata/.bss(.*) section becomes a one-element array map; .rodata
        is frozen. Its symbols become globals."""
        for idx, (name, _sh_type, flags, body) in enumerate(self.elf.sections):
            if flags & SHF_EXECINSTR or not _is_data_section(name) or not body:
                continue
            self.where = f"section {name}"
            is_ro = name.startswith(".rodata")
            self.spec.maps[name] = self._map_spec(
                type="array", key_size=4, value_size=len(body), max_entries=1, name=name,
                flags=(1 << 7) if is_ro else 0,  # BPF_F_RDONLY_PROG for .rodata
                value_type=datasec_type(self.spec.btf, name),
                contents=[(b"\0\0\0\0", bytes(body))] if any(body) else [],
                freeze=is_ro)
            for sym in self.elf.symbols:
                if sym.shndx == idx and sym.type == "STT_OBJECT" and sym.name:
                    self.spec.globals[sym.name] = GlobalVar(sym.name, name, sym.value, sym.size)

    def _legacy_maps(self) -> None:
        """The `maps` and `maps/<name>` sections: libbpf's and samples/bpf's
        `struct bpf_map_def` or iproute2's `struct bpf_elf_map`, with their map-in-map
        conventions."""
        sections = []
        for idx, (name, _, flags, body) in enumerate(self.elf.sections):
            if not _is_legacy_maps_section(name) or flags & SHF_EXECINSTR:
                continue
            syms = sorted((s for s in self.elf.symbols if s.shndx == idx and s.name
                           and s.type in ("STT_OBJECT", "STT_NOTYPE")), key=lambda s: s.value)
            if syms:
                sections.append((name, body, syms))
        if not sections:
            return
        self.where = f"section {sections[0][0]}"
        self.legacy = parse_legacy_maps(sections, self.spec.btf, self._map_spec)
        self.spec.maps.update(self.legacy.specs)
        self.spec.warnings.extend(self.legacy.warnings)
        for name, slots in self.legacy.values.items():
            self.spec.map_values.setdefault(name, []).extend(slots)

    def _btf_maps(self) -> None:
        idx = self.sec_names.index(".maps") if ".maps" in self.sec_names else -1
        if idx < 0:
            return
        self.where = "section .maps"
        if self.spec.btf is None:
            raise ELFError(".maps section (BTF-defined maps) without usable .BTF")
        from .btfmaps import parse_btf_maps
        maps, values = parse_btf_maps(self.spec.btf, self.elf, idx, self._map_spec)
        self.spec.maps.update(maps)
        self.spec.map_values.update(values)

    # --- programs ------------------------------------------------------------------------------
    def _functions(self) -> dict[tuple[int, int], _Func]:
        funcs: dict[tuple[int, int], _Func] = {}
        for idx, (name, _, flags, body) in enumerate(self.elf.sections):
            if not flags & SHF_EXECINSTR or not body:
                continue
            self.where = f"section {name}"
            if len(body) % 8:
                raise ELFError(f"code section {name} is {len(body)} bytes, not a multiple of 8")
            nslots = len(body) // 8
            syms = sorted({s.value: s for s in self.elf.symbols
                           if s.shndx == idx and s.type == "STT_FUNC"}.values(),
                          key=lambda s: s.value)
            if not syms:  # old LLVM: entry points as global symbols without a type
                syms = sorted({s.value: s for s in self.elf.symbols
                               if s.shndx == idx and s.type == "STT_NOTYPE" and s.name
                               and s.bind == "STB_GLOBAL"}.values(), key=lambda s: s.value)
            entry_name = "text" if name == ".text" else name.replace("/", "_")
            if not syms:  # no function symbols: the whole section is one program
                syms = [_Symbol(entry_name, 0, len(body), "STT_FUNC", "STB_GLOBAL", idx)]
            elif name == ".text" and syms[0].value:  # code before the first function:
                # the entry of loaders that run .text from its first instruction
                syms.insert(0, _Symbol(entry_name, 0, syms[0].value, "STT_FUNC", "STB_LOCAL",
                                       idx))
            for i, sym in enumerate(syms):
                if sym.value % 8 or sym.value // 8 >= nslots:
                    raise ELFError(f"function {sym.name} at offset {sym.value} is outside or "
                                   f"misaligned in {name}")
                end = sym.value + sym.size if sym.size else (
                    syms[i + 1].value if i + 1 < len(syms) else len(body))
                end = min(end, len(body))
                funcs[(idx, sym.value // 8)] = _Func(sym.name, name, idx, sym.value // 8,
                                                     max(end // 8, sym.value // 8 + 1),
                                                     sym.bind != "STB_LOCAL")
            for off, rtype, symi in self.elf.relocs.get(idx, ()):
                self.where = f"relocation at offset {off} of section {name}"
                if rtype in (R_BPF_NONE, R_BPF_64_NODYLD32):
                    continue
                if off % 8 or off // 8 >= nslots:
                    raise ELFError(f"relocation at offset {off} is outside {name}")
                if not 0 <= symi < len(self.elf.symbols):
                    raise ELFError(f"relocation at offset {off} in {name} names symbol {symi}, "
                                   "which does not exist")
                if rtype in (R_BPF_64_ABS64, R_BPF_64_ABS32):
                    # absolute 64/32-bit fields of data sections: in code they would
                    # overwrite an instruction's opcode and registers
                    raise ELFError(f"bad relocation type {RELOC_NAMES[rtype]} in code section "
                                   f"{name} at offset {off} (code takes R_BPF_64_64 for lddw "
                                   "and R_BPF_64_32 for calls)")
                if rtype not in (R_BPF_64_64, R_BPF_64_32):
                    raise ELFError(f"unsupported relocation type {rtype} in {name} at offset {off}")
                owner = self._owner(funcs, idx, off // 8)
                if owner is None:
                    raise ELFError(f"relocation at offset {off} in {name} is in no function")
                owner.relocs[off // 8] = (rtype, self.elf.symbols[symi])
        return funcs

    @staticmethod
    def _owner(funcs: dict[tuple[int, int], _Func], shndx: int, slot: int) -> _Func | None:
        for (sidx, _), f in funcs.items():
            if sidx == shndx and f.start <= slot < f.end:
                return f
        return None

    def _programs(self) -> None:
        """A program per global function of each executable section but `.text` (per
        section when it has no global one). A section name no SEC() convention knows
        gives a program of unknown type (ProgType.UNSPEC), for the user to set as with
        libbpf's bpf_program__set_type or cilium/ebpf's ProgramSpec.Type. With no such
        section, `.text` is the program (uBPF's and PREVAIL's convention)."""
        funcs = self.funcs = self._functions()
        for (shndx, _), func in sorted(funcs.items()):
            if func.section == ".text" or func.section.startswith(".text."):
                continue
            if not func.is_global and any(
                    f.is_global for (s, _), f in funcs.items() if s == shndx):
                continue  # a static helper function inside a program section
            self.where = f"program {func.name} in section {func.section}"
            prog = self._link(func, funcs)
            info = classify_section(func.section)
            if info is not None:
                prog.type, prog.expected_attach_type = info.prog_type, info.attach_type
                prog.attach_to, prog.flags = info.attach_to, info.flags
            self._add_program(prog)
        if not self.spec.programs:
            text = self.text_program()
            if text is not None:
                self._add_program(text)
            else:
                self.spec.warnings.append("the object has no programs (no executable section "
                                          "holds code)")
        self._tail_call_slots()

    def _add_program(self, prog: ProgramSpec) -> None:
        if prog.name in self.spec.programs:
            raise ELFError(f"two programs are named {prog.name} (sections "
                           f"{self.spec.programs[prog.name].section} and {prog.section})")
        self.spec.programs[prog.name] = prog

    def text_program(self) -> ProgramSpec | None:
        """`.text` linked as one program entered at its first instruction (named after
        the function there, else "text"), of unknown type; None without code in .text."""
        idx = next((i for i, (sname, _, flags, body) in enumerate(self.elf.sections)
                    if sname == ".text" and flags & SHF_EXECINSTR and body), -1)
        if idx < 0:
            return None
        entry = self.funcs.get((idx, 0))
        if entry is None:  # pragma: no cover - _functions() always gives .text an entry
            raise ELFError(".text has no function at offset 0 to enter")
        self.where = f"program {entry.name} in section .text"
        return self._link(entry, self.funcs)

    def _tail_call_slots(self) -> None:
        """iproute2's tail-call sections: a program in section "<id>/<key>" goes into the
        `maps` prog_array whose bpf_elf_map id is <id>, at <key>."""
        if self.legacy is None:
            return
        done: set[str] = set()
        for prog in self.spec.programs.values():
            slot = self.legacy.tail_call_slot(prog.section)
            if slot is None or prog.section in done:
                continue
            done.add(prog.section)  # one program per section, as iproute2 loads it
            self.spec.map_values.setdefault(slot[0], []).append((slot[1], prog.name))

    def _link(self, entry: _Func, funcs: dict[tuple[int, int], _Func]) -> ProgramSpec:
        """The entry function followed by every function it reaches through calls (and
        function pointers), with call offsets and map references fixed up."""
        order: list[_Func] = [entry]
        placed: dict[int, int] = {}  # id(func) -> start slot in the program
        slots: list[bytearray] = []
        map_refs: list[MapRef] = []
        extern_refs: list[ExternRef] = []
        functions: list[tuple[str, int]] = []
        core_relos: list[CoreRelo] = []
        line_info: list[Any] = []  # objects.spec.LineInfo
        pending_calls: list[tuple[int, _Func, int]] = []  # (program slot, target func, target slot)
        i = 0
        while i < len(order):
            func = order[i]
            i += 1
            base = len(slots)
            placed[id(func)] = base
            functions.append((func.name, base))
            core_relos.extend(self._core_relos(func, base))
            line_info.extend(self._line_info(func, base))
            body = self.elf.sections[func.shndx][3]
            for s in range(func.start, func.end):
                slots.append(bytearray(body[s * 8:s * 8 + 8]))
            s = func.start
            try:
                while s < func.end:
                    raw = slots[base + s - func.start]
                    opcode, regs = raw[0], raw[1]
                    src = regs >> 4
                    imm = struct.unpack_from("<i", raw, 4)[0]
                    pc = base + s - func.start
                    reloc = func.relocs.get(s)
                    if opcode == isa.OPCODE_CALL and src == isa.BPF_PSEUDO_CALL and \
                            reloc is not None and reloc[1].shndx == SHN_UNDEF:
                        # a call to an extern function: a kfunc (.ksyms)
                        extern_refs.append(ExternRef(pc, reloc[1].name, ".ksyms", "call"))
                    elif opcode == isa.OPCODE_CALL and src == isa.BPF_PSEUDO_CALL:
                        if reloc is not None:
                            sym = reloc[1]
                            tshndx = sym.shndx
                            tslot = sym.value // 8 + imm + 1
                        else:
                            tshndx, tslot = func.shndx, s + imm + 1
                        target = self._owner(funcs, tshndx, tslot)
                        if target is None:
                            raise ELFError(f"call in {func.name} at slot {s} targets no function")
                        if target not in order:
                            order.append(target)
                        pending_calls.append((pc, target, tslot))
                    elif reloc is not None:
                        self._reloc(func, s, pc, raw, reloc, funcs, order, pending_calls,
                                    map_refs, extern_refs)
                    s += 2 if opcode == isa.OPCODE_LDDW else 1
            except _BUILD_ERRORS:
                self.where = (f"instruction at offset {s * 8} of section {func.section} "
                              f"(function {func.name})")
                raise
        self.where = f"the calls of program {entry.name}"
        for pc, target, tslot in pending_calls:
            rel = placed[id(target)] + (tslot - target.start) - pc - 1
            raw = slots[pc]
            if raw[0] == isa.OPCODE_LDDW:  # function pointer (BPF_PSEUDO_FUNC)
                if pc + 1 >= len(slots):
                    raise ELFError(f"program {entry.name}: function pointer lddw at pc {pc} "
                                   "has no second half")
                raw[1] = (raw[1] & 0x0F) | (isa.BPF_PSEUDO_FUNC << 4)
                struct.pack_into("<i", raw, 4, rel)
                struct.pack_into("<i", slots[pc + 1], 4, 0)
            else:
                struct.pack_into("<i", raw, 4, rel)
        code = b"".join(slots)
        try:
            insns = isa.decode(code)
        except isa.InvalidInstruction as e:
            raise ELFError(f"program {entry.name}: {e}") from None
        return ProgramSpec(name=entry.name, section=entry.section, type=0, instructions=insns,
                           license=self.spec.license, kern_version=self.spec.kern_version,
                           map_refs=map_refs, extern_refs=extern_refs, functions=functions,
                           func_info=self._func_info(functions), core_relos=core_relos,
                           line_info=line_info)

    def _core_relos(self, func: _Func, base: int) -> list[CoreRelo]:
        """The function's CO-RE relocation records (.BTF.ext), at their linked pcs."""
        ext = self.spec.btf_ext
        if ext is None:
            return []
        out = []
        for r in ext.core_relos.get(func.section, ()):
            slot = r.insn_off // 8
            if func.start <= slot < func.end:
                out.append(CoreRelo(base + slot - func.start, r.type_id, r.access, int(r.kind)))
        return out

    def _line_info(self, func: _Func, base: int) -> list[Any]:
        """The function's BTF line info records (.BTF.ext: source file, line and column
        per instruction), at their linked pcs, as objects.spec.LineInfo."""
        from ..spec import LineInfo
        ext = self.spec.btf_ext
        if ext is None:
            return []
        out = []
        for r in ext.line_info.get(func.section, ()):
            slot = r.insn_off // 8
            if func.start <= slot < func.end:
                out.append(LineInfo(base + slot - func.start, r.file_name, r.line, r.line_num,
                                    r.line_col))
        return out

    def _func_info(self, functions: list[tuple[str, int]]) -> list[FuncInfo]:
        """A BTF FUNC per linked function, when the object's BTF names them all."""
        btf = self.spec.btf
        if btf is None:
            return []
        from ..btf.types import BtfKind
        out = []
        for name, start in functions:
            ids = btf.find(name, BtfKind.FUNC)
            if len(ids) != 1:
                return []
            out.append(FuncInfo(start, ids[0]))
        return out

    def _reloc(self, func: _Func, s: int, pc: int, raw: bytearray, reloc: tuple[int, _Symbol],
               funcs: dict[tuple[int, int], _Func], order: list[_Func],
               pending_calls: list[tuple[int, _Func, int]], map_refs: list[MapRef],
               extern_refs: list[ExternRef]) -> None:
        rtype, sym = reloc
        opcode = raw[0]
        imm = struct.unpack_from("<i", raw, 4)[0]
        tsec = self._sym_section(sym)
        where = f"{func.name} at slot {s}"
        if sym.shndx == SHN_UNDEF and ".kconfig" in self.spec.maps and \
                self.spec.globals.get(sym.name, None) is not None and \
                self.spec.globals[sym.name].map == ".kconfig":
            offset = self.spec.globals[sym.name].offset + imm
            self._check_value_offset(".kconfig", offset, sym, imm, where)
            map_refs.append(MapRef(pc, ".kconfig", "value", offset))
            return
        if sym.shndx == SHN_UNDEF:  # an extern: .kconfig variable or .ksyms symbol
            section = self._extern_section(sym.name)
            kind = "call" if opcode == isa.OPCODE_CALL else "lddw"
            if kind == "lddw" and opcode != isa.OPCODE_LDDW:
                raise ELFError(f"extern {sym.name} used by a non-lddw instruction in {where}")
            extern_refs.append(ExternRef(pc, sym.name, section, kind, imm))
            return
        if opcode != isa.OPCODE_LDDW:
            raise ELFError(f"relocation {RELOC_NAMES.get(rtype, rtype)} against {sym.name or tsec} "
                           f"on a non-lddw instruction (opcode {opcode:#04x}) in {where}")
        if tsec == ".maps" or _is_legacy_maps_section(tsec):
            name = self._map_name_at(sym, tsec)
            map_refs.append(MapRef(pc, name, "fd"))
            return
        if _is_data_section(tsec):
            if tsec not in self.spec.maps:
                raise ELFError(f"{where} refers to empty data section {tsec}")
            offset = (sym.value if sym.type != "STT_SECTION" else 0) + imm
            self._check_value_offset(tsec, offset, sym, imm, where)
            map_refs.append(MapRef(pc, tsec, "value", offset))
            return
        tidx = sym.shndx
        if not 0 < tidx < len(self.elf.sections):
            raise ELFError(f"relocation {RELOC_NAMES.get(rtype, rtype)} in {where} is against "
                           f"symbol {sym.name or '?'} of section index {tidx}, which does not "
                           "exist")
        if self.elf.sections[tidx][2] & SHF_EXECINSTR:  # a function pointer
            tslot = (sym.value + imm) // 8 if sym.type == "STT_SECTION" else sym.value // 8
            target = self._owner(funcs, tidx, tslot)
            if target is None:
                raise ELFError(f"function pointer in {where} targets no function")
            if target not in order:
                order.append(target)
            pending_calls.append((pc, target, tslot))
            return
        raise ELFError(f"lddw in {where} refers to {sym.name or '?'} in section {tsec!r}, "
                       "which is neither a map, global data nor code")

    def _check_value_offset(self, section: str, offset: int, sym: _Symbol, imm: int,
                            where: str) -> None:
        """A reference into a data section becomes the offset of an lddw's
        BPF_PSEUDO_MAP_VALUE: it must lie inside the map value, as the kernel requires
        (off < value_size), which also keeps it in the instruction's 32-bit field."""
        size = self.spec.maps[section].value_size
        if not 0 <= offset < size:
            raise ELFError(f"{where} refers to symbol {sym.name or section} + {imm}: offset "
                           f"{offset} is outside {section} ({size} bytes)")

    def _map_name_at(self, sym: _Symbol, section: str) -> str:
        if sym.type != "STT_SECTION" and sym.name in self.spec.maps:
            return sym.name
        for m in self.elf.symbols:
            if (self._sym_section(m) == section and m.value == sym.value
                    and m.name in self.spec.maps):
                return m.name
        raise ELFError(f"reference to an unknown map at offset {sym.value} of {section}")

    def _extern_section(self, name: str) -> str:
        btf = self.spec.btf
        if btf is not None and hasattr(btf, "datasec_of_var"):
            found = btf.datasec_of_var(name)
            if found:
                return found
        return ".kconfig" if name.isupper() or name.startswith("CONFIG_") or \
            name == "LINUX_KERNEL_VERSION" else ".ksyms"
