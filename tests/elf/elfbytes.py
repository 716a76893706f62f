"""Byte-level edits of ELF64 little-endian objects for the loader's tests: section
headers by name, a section replaced by a compressed one."""

from __future__ import annotations

import struct
from pathlib import Path

from pybpf.elf.compressed import CHDR64, SHF_COMPRESSED

DATA = Path(__file__).resolve().parent / "data"
LINKING = (DATA / "linking.o").read_bytes()


def section_headers(obj: bytes) -> dict[str, int]:
    """Section name -> file offset of its section header (ELF64 little-endian)."""
    shoff = struct.unpack_from("<Q", obj, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", obj, 0x3A)
    str_off = struct.unpack_from("<Q", obj, shoff + shstrndx * shentsize + 0x18)[0]
    out = {}
    for i in range(1, shnum):
        hdr = shoff + i * shentsize
        name_off = struct.unpack_from("<I", obj, hdr)[0]
        end = obj.index(b"\0", str_off + name_off)
        out[obj[str_off + name_off:end].decode()] = hdr
    return out


def with_compressed(obj: bytes, name: str, payload: bytes, ch_size: int,
                    ch_type: int = 1) -> bytes:
    """`obj` with section `name` replaced by an SHF_COMPRESSED one: a compression header
    claiming `ch_size` and `payload`, appended to the file."""
    hdr = section_headers(obj)[name]
    out = bytearray(obj) + bytes(-len(obj) % 8)
    off = len(out)
    out += CHDR64.pack(ch_type, 0, ch_size, 1) + payload
    flags = struct.unpack_from("<Q", out, hdr + 8)[0]
    struct.pack_into("<Q", out, hdr + 8, flags | SHF_COMPRESSED)
    struct.pack_into("<QQ", out, hdr + 0x18, off, CHDR64.size + len(payload))
    return bytes(out)


def section_body(obj: bytes, name: str) -> bytes:
    hdr = section_headers(obj)[name]
    off, size = struct.unpack_from("<QQ", obj, hdr + 0x18)
    return obj[off:off + size]
