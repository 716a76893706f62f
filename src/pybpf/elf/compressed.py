"""SHF_COMPRESSED sections, inflated with a cap: the size a section's compression
header (Elf64_Chdr) claims is never trusted, so a small object cannot make the loader
allocate gigabytes (a "compression bomb"). The limits are named constants below."""

from __future__ import annotations

import struct
import zlib

from ..errors import PyBPFError

SHF_COMPRESSED = 0x800
ELFCOMPRESS_ZLIB = 1
ELFCOMPRESS_ZSTD = 2
CHDR64 = struct.Struct("<IIQQ")  # ch_type, ch_reserved, ch_size, ch_addralign

MAX_SECTION_SIZE = 64 << 20
"""The most bytes one compressed section may inflate to. Nothing a BPF object holds
needs more: a program of the kernel's 1M-instruction limit is 8 MiB of code and the
kernel takes at most 16 MiB of BTF (BTF_MAX_SIZE)."""

MAX_INFLATED_TOTAL = 128 << 20
"""The most bytes all the compressed sections of one object may inflate to together."""

ZLIB_MAX_RATIO = 1032
"""deflate cannot expand its input more than this (a 258-byte match costs at least two
bits): a section claiming more than this times its compressed bytes is a lie."""

SECTION_NEEDS = {"license": 128, "version": 4}
"""What named sections can need at most: the kernel reads a license string of up to 128
bytes (with its NUL), and `version` is one u32."""

_CHUNK = 1 << 16  # compressed bytes fed to zlib at a time


def inflate(name: str, raw: memoryview, budget: int,
            error: type[PyBPFError]) -> bytes:
    """The contents of compressed section `name` (`raw`: its bytes in the file, header
    included), at most `budget` bytes (what is left of MAX_INFLATED_TOTAL). Raises
    `error` naming the section for a bad header, an unsupported compression, a claimed
    or actual size past a limit, or data that does not inflate to the claimed size."""
    what = f"compressed section {name or '?'}"
    if len(raw) < CHDR64.size:
        raise error(f"{what}: {len(raw)} bytes, too short for its "
                    f"{CHDR64.size}-byte compression header")
    ch_type, _, ch_size, _ = CHDR64.unpack_from(raw, 0)
    if ch_type == ELFCOMPRESS_ZSTD:
        raise error(f"{what} is zstd-compressed (ELFCOMPRESS_ZSTD), which pybpf does not "
                    "read; decompress it first (objcopy --decompress-debug-sections)")
    if ch_type != ELFCOMPRESS_ZLIB:
        raise error(f"{what}: unknown compression type {ch_type} (pybpf reads "
                    "ELFCOMPRESS_ZLIB)")
    body = raw[CHDR64.size:]
    need = SECTION_NEEDS.get(name)
    limit, why = MAX_SECTION_SIZE, "the largest section pybpf inflates (MAX_SECTION_SIZE)"
    if need is not None and need < limit:
        limit, why = need, f"what a {name} section can need"
    if budget < limit:
        limit, why = budget, ("what is left of the object's allowance for compressed "
                              "sections (MAX_INFLATED_TOTAL)")
    if ch_size > limit:
        raise error(f"{what} claims {ch_size} bytes inflated, more than {limit}, "
                    f"{why}")
    if ch_size > len(body) * ZLIB_MAX_RATIO:
        raise error(f"{what} claims {ch_size} bytes inflated from {len(body)} compressed "
                    f"bytes, more than zlib can expand them ({ZLIB_MAX_RATIO}x)")
    inflater = zlib.decompressobj()
    out = bytearray()
    pos = 0
    try:
        while not inflater.eof:
            chunk: bytes | memoryview = inflater.unconsumed_tail
            if not chunk:
                chunk = body[pos:pos + _CHUNK]
                pos += len(chunk)
                if not chunk:
                    break
            # never more than one byte past the claim: enough to see it is a lie
            out += inflater.decompress(chunk, ch_size + 1 - len(out))
            if len(out) > ch_size:
                raise error(f"{what} inflates to more than the {ch_size} bytes its header "
                            "claims")
    except zlib.error as e:
        raise error(f"{what}: its data is not zlib ({e})") from None
    if len(out) != ch_size:
        raise error(f"{what} inflates to {len(out)} bytes, not the {ch_size} its header "
                    "claims" + ("" if inflater.eof else " (the zlib stream is cut short)"))
    return bytes(out)
