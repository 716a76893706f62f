"""A minimal ELF64 little-endian reader for the tests: section contents and symbols of
the committed BPF objects (pybpf's own ELF loader lives elsewhere; the BTF tests only
need the .BTF/.BTF.ext bytes, section sizes and symbol values)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"

SHT_SYMTAB = 2
SHT_NOBITS = 8
STV_HIDDEN = 2
STV_INTERNAL = 1


@dataclass(frozen=True)
class Symbol:
    name: str
    value: int
    size: int
    section: str | None  # None: undefined or absolute
    bind: int
    visibility: int


@dataclass
class Elf:
    sections: dict[str, bytes]
    sizes: dict[str, int]
    symbols: list[Symbol]

    def symbol_offsets(self) -> dict[tuple[str, str] | str, int]:
        """(section, name) -> st_value for defined data symbols, and name -> st_value."""
        out: dict[tuple[str, str] | str, int] = {}
        for s in self.symbols:
            if s.section is not None and s.name:
                out[(s.section, s.name)] = s.value
                out.setdefault(s.name, s.value)
        return out


def read_elf(path: Path | str) -> Elf:
    data = Path(path).read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, "ELF64 LE expected"
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    heads = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
             for i in range(shnum)]
    strtab_off = heads[shstrndx][4]

    def cstr(base: int, off: int) -> str:
        end = data.index(b"\0", base + off)
        return data[base + off:end].decode()

    names = [cstr(strtab_off, h[0]) for h in heads]
    sections = {}
    sizes = {}
    for name, h in zip(names, heads):
        sizes[name] = h[5]
        sections[name] = b"" if h[1] == SHT_NOBITS else data[h[4]:h[4] + h[5]]
    symbols = []
    for h in heads:
        if h[1] != SHT_SYMTAB:
            continue
        str_base = heads[h[6]][4]
        for off in range(h[4], h[4] + h[5], 24):
            st_name, info, other, shndx, value, size = struct.unpack_from("<IBBHQQ", data, off)
            sec = names[shndx] if 0 < shndx < len(names) else None
            symbols.append(Symbol(cstr(str_base, st_name), value, size, sec, info >> 4,
                                  other & 3))
    return Elf(sections, sizes, symbols)
