"""Hostile BTF blobs: generated from scratch (reference cycles, long modifier and
FUNC_PROTO chains, huge and nested arrays, names whose offsets run past the string
section or have no terminating NUL, wrong vlen and header fields) and the real objects'
.BTF sections mutated. Each is parsed and rendered as `btf dump` does (raw, C, JSON),
with every type's name and size asked for."""

from __future__ import annotations

import random
import struct
from typing import Any

from .case import Case, Env
from .gen_elf import sections

_KINDS = {"int": 1, "ptr": 2, "array": 3, "struct": 4, "union": 5, "enum": 6, "fwd": 7,
          "typedef": 8, "volatile": 9, "const": 10, "restrict": 11, "func": 12,
          "func_proto": 13, "var": 14, "datasec": 15, "float": 16, "decl_tag": 17,
          "type_tag": 18, "enum64": 19}
_HUGE = (0, 1, 2, 0xFF, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF)


class _Blob:
    """Raw BTF types and strings, written without any checks."""

    def __init__(self) -> None:
        self.types: list[bytes] = []
        self.strings = bytearray(b"\0")

    def name(self, s: str) -> int:
        off = len(self.strings)
        self.strings += s.encode() + b"\0"
        return off

    def add(self, kind: str, name_off: int = 0, vlen: int = 0, size_or_type: int = 0,
            extra: bytes = b"", kflag: int = 0) -> int:
        info = (vlen & 0xFFFF) | (_KINDS[kind] << 24) | (kflag << 31)
        self.types.append(struct.pack("<III", name_off & 0xFFFF_FFFF, info,
                                      size_or_type & 0xFFFF_FFFF) + extra)
        return len(self.types)  # its id

    def encode(self, rng: random.Random | None = None, hostile_header: bool = False) -> bytes:
        types = b"".join(self.types)
        strings = bytes(self.strings)
        hdr = [0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings)]
        if hostile_header and rng is not None:
            i = rng.randrange(4, 8)
            hdr[i] = rng.choice(_HUGE + (hdr[i] + 1, max(0, hdr[i] - 1), hdr[i] + 12))
        return struct.pack("<HBBIIIII", *hdr) + types + strings


def _int(b: _Blob, name: str = "int", size: int = 4) -> int:
    return b.add("int", b.name(name), 0, size, struct.pack("<I", (1 << 24) | size * 8))


def generate(rng: random.Random, seed: int, env: Env) -> Case:
    kind = rng.choice(["cycle", "chain", "proto_chain", "arrays", "strings", "random",
                       "mutated", "mutated"])
    if kind == "mutated":
        data = _mutated(rng, env)
    else:
        b = _Blob()
        {"cycle": _cycle, "chain": _chain, "proto_chain": _proto_chain, "arrays": _arrays,
         "strings": _strings, "random": _random_types}[kind](rng, b)
        data = b.encode(rng, hostile_header=rng.random() < 0.1)
    return Case("btf", seed, kind, data, {"format": rng.choice(["raw", "c", "json"])})


def _cycle(rng: random.Random, b: _Blob) -> None:
    """A loop of references: modifiers, typedefs, a struct holding itself, an array of
    itself, a FUNC_PROTO returning itself."""
    n = rng.randrange(1, 6)
    first = len(b.types) + 1
    for i in range(n):
        nxt = first + (i + 1) % n
        k = rng.choice(["ptr", "const", "volatile", "typedef", "type_tag", "restrict",
                        "struct", "array", "func_proto", "union"])
        if k in ("struct", "union"):
            b.add(k, b.name(f"s{i}"), 1, 8, struct.pack("<III", b.name("m"), nxt, 0))
        elif k == "array":
            b.add(k, 0, 0, 0, struct.pack("<III", nxt, nxt, rng.choice([1, 2, 0xFFFF_FFFF])))
        elif k == "func_proto":
            b.add(k, 0, 1, nxt, struct.pack("<II", 0, nxt))
        else:
            b.add(k, b.name(f"t{i}") if k in ("typedef", "type_tag") else 0, 0, nxt)


def _chain(rng: random.Random, b: _Blob) -> None:
    """A long chain of modifiers and typedefs over an int (deeper than any resolve
    limit)."""
    prev = _int(b)
    for i in range(rng.choice([10, 63, 64, 65, 200, 1000, 5000])):
        k = rng.choice(["ptr", "const", "volatile", "typedef", "restrict", "type_tag"])
        prev = b.add(k, b.name(f"t{i}") if k in ("typedef", "type_tag") else 0, 0, prev)
    if rng.random() < 0.5:
        b.add("var", b.name("v"), 0, prev, struct.pack("<I", 1))


def _proto_chain(rng: random.Random, b: _Blob) -> None:
    """FUNC_PROTOs each returning and taking the previous one (and anonymous structs
    nesting the previous): names that double at each level."""
    prev = _int(b)
    for _ in range(rng.choice([5, 20, 40, 64, 200])):
        if rng.random() < 0.7:
            prev = b.add("func_proto", 0, 2, prev, struct.pack("<IIII", 0, prev, 0, prev))
            if rng.random() < 0.3:
                prev = b.add("ptr", 0, 0, prev)
        else:
            prev = b.add("struct", 0, 2, 16, struct.pack("<IIIIII", b.name("a"), prev, 0,
                                                          b.name("b"), prev, 64))
    b.add("typedef", b.name("top"), 0, prev)


def _arrays(rng: random.Random, b: _Blob) -> None:
    """Huge and nested arrays whose sizes overflow 32 and 64 bits, and a struct of them."""
    idx = _int(b, "unsigned int")
    prev = _int(b, "long", 8)
    for _ in range(rng.randrange(1, 8)):
        prev = b.add("array", 0, 0, 0, struct.pack("<III", prev, idx, rng.choice(_HUGE)))
    b.add("struct", b.name("big"), 2, rng.choice(_HUGE),
          struct.pack("<IIIIII", b.name("a"), prev, 0, b.name("b"), prev,
                      rng.choice(_HUGE)))
    b.add("var", b.name("x"), 0, prev, struct.pack("<I", 1))
    b.add("datasec", b.name(".data"), 1, rng.choice(_HUGE),
          struct.pack("<III", len(b.types), rng.choice(_HUGE), rng.choice(_HUGE)))


def _strings(rng: random.Random, b: _Blob) -> None:
    """Name offsets past the string section, into its middle, and a string section
    without its final NUL."""
    _int(b)
    for _ in range(rng.randrange(1, 6)):
        k = rng.choice(["typedef", "struct", "enum", "fwd", "int"])
        off = rng.choice([len(b.strings) + rng.randrange(0, 100), 0xFFFF_FFFF, 1,
                          len(b.strings) - 1])
        if k == "struct":
            b.add(k, off, 1, 4, struct.pack("<III", off, 1, 0))
        elif k == "enum":
            b.add(k, off, 1, 4, struct.pack("<Ii", off, 1))
        elif k == "int":
            b.add(k, off, 0, 4, struct.pack("<I", 32))
        else:
            b.add(k, off, 0, 1)
    if rng.random() < 0.5:
        b.strings += b"unterminated"


def _random_types(rng: random.Random, b: _Blob) -> None:
    """Types of random kinds with random (often wrong) vlen and references."""
    n = rng.randrange(1, 40)
    for _ in range(n):
        k = rng.choice(list(_KINDS))
        vlen = rng.choice([0, 1, 2, 3, rng.randrange(0x10000)]) if rng.random() < 0.2 else \
            rng.randrange(4)
        ref = rng.randrange(0, n + 3)
        per = {"struct": 12, "union": 12, "enum": 8, "func_proto": 8, "datasec": 12,
               "enum64": 12}.get(k, 0)
        extra = {"int": 4, "array": 12, "var": 4, "decl_tag": 4}.get(k, 0)
        body = rng.randbytes(per * min(vlen, 8) + extra)
        if k == "array":
            body = struct.pack("<III", ref, rng.randrange(n + 3), rng.choice(_HUGE))
        b.add(k, b.name(f"n{rng.randrange(100)}") if rng.random() < 0.7 else 0, vlen,
              ref if k in ("ptr", "typedef", "const", "volatile", "func", "var", "func_proto",
                           "decl_tag", "type_tag", "restrict") else rng.choice([0, 1, 4, 8, 16,
                                                                               0xFFFF_FFFF]),
              body, kflag=rng.randrange(2))


def _mutated(rng: random.Random, env: Env) -> bytes:
    blobs = []
    for obj in env.objects:
        for _, h in sections(obj):
            off, size = h[4], h[5]
            if obj[off:off + 2] == b"\x9f\xeb" and h[1] == 1 and size < (1 << 20):
                blobs.append(obj[off:off + size])
    if not blobs:
        b = _Blob()
        _random_types(rng, b)
        return b.encode()
    data = bytearray(rng.choice(blobs))
    for _ in range(rng.randrange(1, 6)):
        pos = rng.randrange(len(data))
        r = rng.random()
        if r < 0.5:
            data[pos:pos + 4] = rng.choice(_HUGE + (rng.randrange(64),)).to_bytes(4, "little")
        elif r < 0.8:
            data[pos] ^= 1 << rng.randrange(8)
        elif r < 0.9:
            del data[pos:]
            if not data:
                break
        else:
            data[pos:pos] = rng.randbytes(rng.randrange(1, 32))
    return bytes(data)


def execute(case: Case, env: Env) -> Any:
    """Parse, then render as `btf dump` does, then each type's name and size."""
    from .. import btf
    blob = btf.parse(case.data)
    fmt = case.meta.get("format", "raw")
    if fmt == "c":
        btf.dump_c(blob)
    elif fmt == "json":
        [btf.btf_type_json(t) for _, t in blob.items()]
    else:
        btf.dump_raw(blob)
    for type_id, _ in list(blob.items())[:2000]:
        for ask in (blob.name_of, blob.size_of, blob.resolve):
            try:
                ask(type_id)
            except btf.BTFError:
                pass
    return None
