"""Hostile objects for the loader: real objects (examples/*.o, the test objects) with
byte, word and bit mutations, truncations and splices, and structure-aware ones that
rewrite a field of a section header, a symbol, a relocation or the BTF header. Each goes
through `pybpf.load`, `obj show`'s description, and instantiation and a test run on the
VM when it loads."""

from __future__ import annotations

import random
import struct
from typing import Any

from .case import Case, Env

_WORDS = (0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF)
_QWORDS = _WORDS + (1 << 32, 1 << 40, 1 << 50, (1 << 63) - 1, 1 << 63, (1 << 64) - 1)
_SHDR = struct.Struct("<IIQQQQIIQQ")  # name type flags addr offset size link info align entsize
_SHDR_FIELDS = {"type": (4, 4), "flags": (8, 8), "offset": (24, 8), "size": (32, 8),
                "link": (40, 4), "info": (44, 4), "align": (48, 8), "entsize": (56, 8),
                "name": (0, 4)}


def sections(data: bytes) -> list[tuple[int, tuple[int, ...]]]:
    """(header offset, fields) of each section header of a 64-bit little-endian ELF, as
    far as the headers can be read."""
    if len(data) < 64 or data[:4] != b"\x7fELF":
        return []
    shoff = int.from_bytes(data[0x28:0x30], "little")
    shnum = int.from_bytes(data[0x3C:0x3E], "little")
    out = []
    for i in range(min(shnum, 4096)):
        off = shoff + i * 64
        if off + 64 > len(data):
            break
        out.append((off, _SHDR.unpack_from(data, off)))
    return out


def generate(rng: random.Random, seed: int, env: Env) -> Case:
    if not env.objects:
        return Case("loader", seed, "none", b"\x7fELF", {})
    idx = rng.randrange(len(env.objects))
    data = bytearray(env.objects[idx])
    kind = rng.choices(["bytes", "fields", "mixed", "compressed"], [3, 4, 2, 1])[0]
    steps = []
    if kind == "compressed":
        steps.append(_compress_section(rng, data))
    for _ in range(rng.randrange(1, 5)):
        if kind == "bytes" or (kind == "mixed" and rng.random() < 0.5):
            steps.append(_mutate_bytes(rng, data))
        else:
            steps.append(_mutate_field(rng, data))
    return Case("loader", seed, kind, bytes(data),
                {"seed_object": env.object_names[idx], "steps": steps,
                 "run": rng.random() < 0.5, "data": rng.choice([0, 14, 64, 1500])})


def _mutate_bytes(rng: random.Random, data: bytearray) -> str:
    if not data:
        return "empty"
    what = rng.choice(["byte", "word", "flip", "truncate", "splice", "header"])
    pos = rng.randrange(len(data))
    if what == "header":
        shoff = int.from_bytes(data[0x28:0x30], "little") if len(data) >= 0x30 else 0
        lo, hi = (shoff, len(data)) if 0 < shoff < len(data) else (0, min(64, len(data)))
        pos = rng.randrange(lo, max(lo + 1, hi))
        what = "word"
    if what == "byte":
        data[pos] = rng.randrange(256)
    elif what == "word":
        data[pos:pos + 4] = rng.choice(_WORDS).to_bytes(4, "little")
    elif what == "flip":
        data[pos] ^= 1 << rng.randrange(8)
    elif what == "truncate":
        del data[pos:]
    else:
        n = rng.randrange(1, 65)
        if rng.random() < 0.5:
            del data[pos:pos + n]
        else:
            data[pos:pos] = rng.randbytes(n)
    return f"{what}@{pos}"


def _compress_section(rng: random.Random, data: bytearray) -> str:
    """Make one section SHF_COMPRESSED (zlib, its data appended at the end of the file):
    its own content or a run of zeros, under a compression header whose ch_size is
    right, a little off, or far past what the data inflates to."""
    import zlib
    shdrs = sections(bytes(data))
    if not shdrs:
        return _mutate_bytes(rng, data)
    off, hdr = rng.choice(shdrs[1:] or shdrs)
    content = bytes(data[hdr[4]:hdr[4] + hdr[5]]) if rng.random() < 0.6 else \
        bytes(rng.choice([0, 1, 4096, 1 << 20, 16 << 20]))
    size = rng.choice([len(content), len(content), max(0, len(content) - 1), len(content) + 1,
                       1 << 32, 3 << 30, (1 << 64) - 1])
    packed = struct.pack("<IIQQ", rng.choice([1, 1, 1, 2, 0]), 0, size,
                         rng.choice([1, 8])) + zlib.compress(content, 9)
    if rng.random() < 0.2:
        packed = packed[:rng.randrange(len(packed))]
    new_off = len(data) + (-len(data) % 8)
    data += bytes(new_off - len(data)) + packed
    data[off + 8:off + 16] = (hdr[2] | 0x800).to_bytes(8, "little")
    data[off + 24:off + 32] = new_off.to_bytes(8, "little")
    data[off + 32:off + 40] = len(packed).to_bytes(8, "little")
    return f"compressed@{off}:{len(content)}->{size:#x}"


def _mutate_field(rng: random.Random, data: bytearray) -> str:
    shdrs = sections(bytes(data))
    if not shdrs:
        return _mutate_bytes(rng, data)
    off, hdr = rng.choice(shdrs)
    sh_type, sh_offset, sh_size, sh_entsize = hdr[1], hdr[4], hdr[5], hdr[9]
    r = rng.random()
    if r < 0.45:  # a section header field
        name = rng.choice(list(_SHDR_FIELDS))
        at, width = _SHDR_FIELDS[name]
        if name == "flags" and rng.random() < 0.5:
            value = hdr[2] ^ rng.choice([0x800, 0x2, 0x4, 0x1])  # SHF_COMPRESSED, ALLOC, ...
        elif name == "size" and rng.random() < 0.5:
            value = max(0, sh_size + rng.choice([-8, -1, 1, 8, 16, 4096]))
        else:
            value = rng.choice(_QWORDS if width == 8 else _WORDS)
        value &= (1 << (8 * width)) - 1
        data[off + at:off + at + width] = value.to_bytes(width, "little")
        return f"shdr@{off}.{name}={value:#x}"
    if sh_offset >= len(data) or sh_size == 0:
        return _mutate_bytes(rng, data)
    end = min(len(data), sh_offset + sh_size)
    if sh_type == 2 and sh_entsize == 24:  # SYMTAB: st_name info other shndx value size
        sym = sh_offset + 24 * rng.randrange(max(1, (end - sh_offset) // 24))
        at, width = rng.choice([(0, 4), (4, 1), (6, 2), (8, 8), (16, 8)])
        value = rng.choice(_QWORDS) & ((1 << (8 * width)) - 1)
        data[sym + at:sym + at + width] = value.to_bytes(width, "little")
        return f"sym@{sym}+{at}={value:#x}"
    if sh_type in (4, 9):  # RELA / REL: offset, info (sym << 32 | type)
        ent = 24 if sh_type == 4 else 16
        rel = sh_offset + ent * rng.randrange(max(1, (end - sh_offset) // ent))
        at, width = rng.choice([(0, 8), (8, 4), (12, 4)])
        value = rng.choice(_QWORDS) & ((1 << (8 * width)) - 1)
        data[rel + at:rel + at + width] = value.to_bytes(width, "little")
        return f"rel@{rel}+{at}={value:#x}"
    if data[sh_offset:sh_offset + 2] == b"\x9f\xeb":  # .BTF / .BTF.ext header words
        at = rng.choice([8, 12, 16, 20, 24, 28])
        value = rng.choice(_WORDS)
        data[sh_offset + at:sh_offset + at + 4] = value.to_bytes(4, "little")
        return f"btfhdr@{sh_offset}+{at}={value:#x}"
    pos = rng.randrange(sh_offset, end)
    data[pos:pos + 4] = rng.choice(_WORDS).to_bytes(4, "little")
    return f"content@{pos}"


def execute(case: Case, env: Env) -> Any:
    """`pybpf.load`, then what `obj show` prints, then instantiation on the VM and a test
    run of one program."""
    from ..elf import load
    from ..objects.show import describe, format_show
    spec = load(case.data)
    format_show(describe(spec))
    if not case.meta.get("run"):
        return None
    # unverified: the campaign proves the VM safe for programs no verifier checked
    obj = spec.instantiate("vm", verify=False)
    try:
        for name in sorted(obj.programs)[:1]:
            n = int(case.meta.get("data", 0))
            try:
                obj.programs[name].test_run(bytes(range(256)) * (n // 256) + bytes(n % 256)
                                            if n else None)
            except Exception as e:  # noqa: BLE001 - only pybpf errors are answers
                from ..errors import PyBPFError
                if not isinstance(e, PyBPFError):
                    raise
    finally:
        obj.close()
    return None
