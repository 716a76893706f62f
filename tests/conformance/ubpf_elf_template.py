"""A template BPF ELF object for uBPF's `elf/*.data` vectors (`-- pyelf` sections).

Each vector is Python statements that mutate one named part of a small relocatable
object (`ehdr.e_shnum = 1024`, `sqrti_rel.r_offset = 500`, ...) before it is written
out. This module builds that object from the ELF64 layouts (our own construction, not
uBPF's test_elf.py): an ET_REL, EM_BPF, ELFCLASS64 little-endian file with `.text`,
`.rel.text`, `.symtab`, `.strtab` and `.shstrtab`. `.text` computes sqrti(1764) = 42
through a call to the undefined symbol `sqrti`, relocated by R_BPF_64_32 as clang emits
extern calls (`call -1`, src_reg = BPF_PSEUDO_CALL).

`template()` returns the namespace the statements run in: the parts by name plus
`order`, the names of the parts written one after another by `serialize()`. Integer
fields may also be given a name from the ELF spec (`'ELFCLASS32'`, `'SHT_NULL'`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

# Names the vectors may assign instead of numbers (ELF gABI values).
ELF_NAMES: dict[str, int] = {
    "ELFCLASSNONE": 0, "ELFCLASS32": 1, "ELFCLASS64": 2,
    "ELFDATANONE": 0, "ELFDATA2LSB": 1, "ELFDATA2MSB": 2,
    "EV_NONE": 0, "EV_CURRENT": 1,
    "ELFOSABI_NONE": 0, "ELFOSABI_SYSV": 0, "ELFOSABI_HPUX": 1, "ELFOSABI_NETBSD": 2,
    "ELFOSABI_LINUX": 3, "ELFOSABI_GNU": 3, "ELFOSABI_SOLARIS": 6, "ELFOSABI_FREEBSD": 9,
    "ET_NONE": 0, "ET_REL": 1, "ET_EXEC": 2, "ET_DYN": 3, "ET_CORE": 4,
    "EM_NONE": 0, "EM_BPF": 247,
    "SHT_NULL": 0, "SHT_PROGBITS": 1, "SHT_SYMTAB": 2, "SHT_STRTAB": 3, "SHT_RELA": 4,
    "SHT_NOBITS": 8, "SHT_REL": 9,
    "R_BPF_NONE": 0, "R_BPF_64_64": 1, "R_BPF_64_32": 10,
}

SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4
STB_GLOBAL = 1
STT_NOTYPE = 0
STT_FUNC = 2
R_BPF_64_32 = 10

EHDR_SIZE = 64
SHDR_SIZE = 64
SYM_SIZE = 24
REL_SIZE = 16

SQRTI_ARG = 1764  # isqrt(1764) == 42 == 0x2a


def _num(value: int | str) -> int:
    """A field value: an int, or an ELF spec name from ELF_NAMES."""
    if isinstance(value, str):
        return ELF_NAMES[value]
    return int(value)


@dataclass
class Ident:
    """e_ident: the 16 identification bytes (EI_MAG0..3 are the magic)."""

    EI_MAG: bytes = b"\x7fELF"
    EI_CLASS: int | str = "ELFCLASS64"
    EI_DATA: int | str = "ELFDATA2LSB"
    EI_VERSION: int | str = "EV_CURRENT"
    EI_OSABI: int | str = "ELFOSABI_NONE"
    EI_ABIVERSION: int = 0

    def serialize(self) -> bytes:
        head = bytes([_num(self.EI_CLASS), _num(self.EI_DATA), _num(self.EI_VERSION),
                      _num(self.EI_OSABI), _num(self.EI_ABIVERSION)])
        return (self.EI_MAG + head).ljust(16, b"\0")


@dataclass
class Ehdr:
    """Elf64_Ehdr."""

    e_ident: Ident = field(default_factory=Ident)
    e_type: int | str = "ET_REL"
    e_machine: int | str = "EM_BPF"
    e_version: int | str = "EV_CURRENT"
    e_entry: int = 0
    e_phoff: int = 0
    e_shoff: int = 0
    e_flags: int = 0
    e_ehsize: int = EHDR_SIZE
    e_phentsize: int = 0
    e_phnum: int = 0
    e_shentsize: int = SHDR_SIZE
    e_shnum: int = 0
    e_shstrndx: int = 0

    def serialize(self) -> bytes:
        return self.e_ident.serialize() + struct.pack(
            "<HHIQQQIHHHHHH", _num(self.e_type), _num(self.e_machine), _num(self.e_version),
            self.e_entry, self.e_phoff, self.e_shoff, self.e_flags, self.e_ehsize,
            self.e_phentsize, self.e_phnum, self.e_shentsize, self.e_shnum, self.e_shstrndx)


@dataclass
class Shdr:
    """Elf64_Shdr."""

    sh_name: int = 0
    sh_type: int | str = "SHT_NULL"
    sh_flags: int = 0
    sh_addr: int = 0
    sh_offset: int = 0
    sh_size: int = 0
    sh_link: int = 0
    sh_info: int = 0
    sh_addralign: int = 0
    sh_entsize: int = 0

    def serialize(self) -> bytes:
        return struct.pack("<IIQQQQIIQQ", self.sh_name, _num(self.sh_type), self.sh_flags,
                           self.sh_addr, self.sh_offset, self.sh_size, self.sh_link,
                           self.sh_info, self.sh_addralign, self.sh_entsize)


@dataclass
class Sym:
    """Elf64_Sym."""

    st_name: int = 0
    st_info: int = 0
    st_other: int = 0
    st_shndx: int = 0
    st_value: int = 0
    st_size: int = 0

    def serialize(self) -> bytes:
        return struct.pack("<IBBHQQ", self.st_name, self.st_info, self.st_other,
                           self.st_shndx, self.st_value, self.st_size)


@dataclass
class Rel:
    """Elf64_Rel: r_info is (symbol index << 32) | type."""

    r_offset: int = 0
    r_info: int = 0

    def serialize(self) -> bytes:
        return struct.pack("<QQ", self.r_offset, self.r_info)


def _insn(opcode: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", opcode, (src << 4) | dst, off, imm)


def _strtab(names: list[str]) -> tuple[bytes, dict[str, int]]:
    """A string table holding `names`, and each name's offset."""
    out, offsets = bytearray(b"\0"), {}
    for name in names:
        offsets[name] = len(out)
        out += name.encode() + b"\0"
    return bytes(out), offsets


def template() -> dict[str, Any]:
    """The namespace a `-- pyelf` section runs in: the object's parts by name and
    `order` (the part names serialize() writes, in file order)."""
    text = (_insn(0xB7, dst=1, imm=SQRTI_ARG)  # r1 = 1764
            + _insn(0x85, src=1, imm=-1)  # call sqrti (R_BPF_64_32, like clang's extern call)
            + _insn(0x95))  # exit: r0 = sqrti(1764)
    strtab, str_off = _strtab(["sqrti", "entry"])
    shstrtab, sec_off = _strtab([".text", ".rel.text", ".symtab", ".strtab", ".shstrtab"])

    # Symbols: the null symbol, the undefined helper, the global entry function in .text
    # (section 1). Locals first, as ELF requires; there is only the null one.
    null_sym = Sym()
    sqrti_sym = Sym(st_name=str_off["sqrti"], st_info=(STB_GLOBAL << 4) | STT_NOTYPE)
    entry_sym = Sym(st_name=str_off["entry"], st_info=(STB_GLOBAL << 4) | STT_FUNC,
                    st_shndx=1, st_value=0, st_size=len(text))
    sqrti_rel = Rel(r_offset=8, r_info=(1 << 32) | R_BPF_64_32)

    # File layout: header, .text, .rel.text, .symtab, .strtab, .shstrtab, section headers.
    text_off = EHDR_SIZE
    rel_off = text_off + len(text)
    symtab_off = rel_off + REL_SIZE
    strtab_off = symtab_off + 3 * SYM_SIZE
    shstrtab_off = strtab_off + len(strtab)
    shoff = (shstrtab_off + len(shstrtab) + 7) & ~7
    pad = bytes(shoff - shstrtab_off - len(shstrtab))

    null_shdr = Shdr()
    text_shdr = Shdr(sh_name=sec_off[".text"], sh_type="SHT_PROGBITS",
                     sh_flags=SHF_ALLOC | SHF_EXECINSTR, sh_offset=text_off,
                     sh_size=len(text), sh_addralign=8)
    rel_shdr = Shdr(sh_name=sec_off[".rel.text"], sh_type="SHT_REL", sh_offset=rel_off,
                    sh_size=REL_SIZE, sh_link=3, sh_info=1, sh_addralign=8,
                    sh_entsize=REL_SIZE)
    symtab_shdr = Shdr(sh_name=sec_off[".symtab"], sh_type="SHT_SYMTAB",
                       sh_offset=symtab_off, sh_size=3 * SYM_SIZE, sh_link=4, sh_info=1,
                       sh_addralign=8, sh_entsize=SYM_SIZE)
    strtab_shdr = Shdr(sh_name=sec_off[".strtab"], sh_type="SHT_STRTAB",
                       sh_offset=strtab_off, sh_size=len(strtab), sh_addralign=1)
    shstrtab_shdr = Shdr(sh_name=sec_off[".shstrtab"], sh_type="SHT_STRTAB",
                         sh_offset=shstrtab_off, sh_size=len(shstrtab), sh_addralign=1)
    ehdr = Ehdr(e_shoff=shoff, e_shnum=6, e_shstrndx=5)

    ns: dict[str, Any] = {
        "ehdr": ehdr, "text": text, "sqrti_rel": sqrti_rel, "null_sym": null_sym,
        "sqrti_sym": sqrti_sym, "entry_sym": entry_sym, "strtab": strtab,
        "shstrtab": shstrtab, "pad": pad, "null_shdr": null_shdr, "text_shdr": text_shdr,
        "rel_shdr": rel_shdr, "symtab_shdr": symtab_shdr, "strtab_shdr": strtab_shdr,
        "shstrtab_shdr": shstrtab_shdr}
    ns["order"] = ["ehdr", "text", "sqrti_rel", "null_sym", "sqrti_sym", "entry_sym",
                   "strtab", "shstrtab", "pad", "null_shdr", "text_shdr", "rel_shdr",
                   "symtab_shdr", "strtab_shdr", "shstrtab_shdr"]
    return ns


def serialize(ns: dict[str, Any]) -> bytes:
    """The object file: the parts named in ns["order"], one after another."""
    out = bytearray()
    for name in ns["order"]:
        part = ns[name]
        out += part if isinstance(part, (bytes, bytearray)) else part.serialize()
    return bytes(out)


def build(pyelf: str = "") -> bytes:
    """The template object after running a vector's `-- pyelf` statements on it."""
    ns = template()
    exec(pyelf, {"__builtins__": {}}, ns)  # noqa: S102 - the vectors are Python by design
    return serialize(ns)


class HelperNotFound(LookupError):
    """A call to an undefined function that names no helper (uBPF refuses the load)."""


def bind_helpers(prog: Any, helpers: dict[str, int]) -> bytes:
    """A pybpf ProgramSpec's bytecode with its extern calls bound to helpers by name, as
    uBPF's loader binds R_BPF_64_32 calls to registered functions: `call id`, src 0."""
    from pybpf import isa
    code = bytearray(isa.encode(prog.instructions))
    for ext in prog.extern_refs:
        if ext.kind != "call":
            raise HelperNotFound(f"extern {ext.name!r} is not a function call")
        if ext.name not in helpers:
            raise HelperNotFound(f"function {ext.name!r} not found")
        slot = ext.pc * 8
        code[slot + 1] &= 0x0F  # src_reg 0: a helper call
        struct.pack_into("<i", code, slot + 4, helpers[ext.name])
    return bytes(code)
