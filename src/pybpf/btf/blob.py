"""The BTF container (`Btf`), the string section, and the wire format: `parse` turns a raw
.BTF blob (or a split blob over a base) into typed objects, `Btf.to_bytes` encodes them
back.

Parsing indexes the type section eagerly (one pass reading each type's header to find
where the next one starts: that is where truncation and absurd vlen are caught) and decodes
each type on first access, so /sys/kernel/btf/vmlinux opens in a fraction of a second.
`parse(..., lazy=False)`, the default, then decodes and checks everything: every string
offset and type id in range, no reference cycle outside pointers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Callable, Iterable

from ..uapi import BTF_MAGIC, BTF_VERSION
from .encode import encode_type
from .errors import BTFError
from .types import (
    MODIFIERS, Array, BtfKind, BtfType, Const, Datasec, DeclTag, Enum, Enum64, Enumerator,
    Float, Func, FuncLinkage, FuncProto, Fwd, Int, IntEncoding, Member, Param, Ptr, Restrict,
    Struct, Typedef, TypeTag, Union_, Var, VarLinkage, VarSecinfo, Void, Volatile,
)
from .wire import HDR, I32, TYPE, U32, U32X2, U32X3

__all__ = ["BTF_MAGIC", "BTF_VERSION", "Header", "StringTable", "Btf", "parse", "encode",
           "load_file", "load_vmlinux", "VMLINUX_PATH", "MAX_RESOLVE_DEPTH", "VOID"]

HEADER_SIZE = 24
VMLINUX_PATH = "/sys/kernel/btf/vmlinux"
# How many typedefs/modifiers/arrays a chain may have before it counts as a loop (the
# kernel's limit is 32; real chains are a handful long).
MAX_RESOLVE_DEPTH = 64
MAX_TYPE_ID = 0x7FFFFFFF

VOID = Void()

_HDR, _TYPE, _U32, _I32, _2U32, _3U32 = HDR, TYPE, U32, I32, U32X2, U32X3

# Bytes each kind carries after its 12-byte header: (fixed, per vlen record).
_EXTRA: dict[int, tuple[int, int]] = {
    BtfKind.INT: (4, 0), BtfKind.PTR: (0, 0), BtfKind.ARRAY: (12, 0),
    BtfKind.STRUCT: (0, 12), BtfKind.UNION: (0, 12), BtfKind.ENUM: (0, 8),
    BtfKind.FWD: (0, 0), BtfKind.TYPEDEF: (0, 0), BtfKind.VOLATILE: (0, 0),
    BtfKind.CONST: (0, 0), BtfKind.RESTRICT: (0, 0), BtfKind.FUNC: (0, 0),
    BtfKind.FUNC_PROTO: (0, 8), BtfKind.VAR: (4, 0), BtfKind.DATASEC: (0, 12),
    BtfKind.FLOAT: (0, 0), BtfKind.DECL_TAG: (4, 0), BtfKind.TYPE_TAG: (0, 0),
    BtfKind.ENUM64: (0, 12),
}
_KFLAG_KINDS = frozenset({BtfKind.STRUCT, BtfKind.UNION, BtfKind.ENUM, BtfKind.ENUM64,
                          BtfKind.FWD, BtfKind.DECL_TAG, BtfKind.TYPE_TAG})
_VLEN_KINDS = frozenset({BtfKind.STRUCT, BtfKind.UNION, BtfKind.ENUM, BtfKind.ENUM64,
                         BtfKind.FUNC_PROTO, BtfKind.DATASEC, BtfKind.FUNC})


@dataclass(frozen=True)
class Header:
    """The fixed part of a BTF header (offsets relative to the end of the header)."""

    magic: int
    version: int
    flags: int
    hdr_len: int
    type_off: int
    type_len: int
    str_off: int
    str_len: int


def _decode_str(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


class StringTable:
    """A BTF string section: NUL-terminated strings addressed by byte offset. In split
    BTF, offsets below `start` belong to the base's table."""

    def __init__(self, data: bytes = b"\0", base: StringTable | None = None) -> None:
        self.base = base
        self.start = base.size if base is not None else 0
        self._data = bytearray(data)
        self._cache: dict[int, str] = {}
        self._index: dict[bytes, int] | None = None

    @property
    def size(self) -> int:
        """Offset one past the last byte (base included)."""
        return self.start + len(self._data)

    @property
    def data(self) -> bytes:
        """This table's own bytes (the string section of the blob)."""
        return bytes(self._data)

    def get(self, off: int) -> str:
        """The string at `off`; BTFError when `off` is outside the section."""
        s = self._cache.get(off)
        if s is not None:
            return s
        if off < self.start:
            assert self.base is not None
            return self.base.get(off)
        local = off - self.start
        if local >= len(self._data) or off < 0:
            raise BTFError(f"string offset {off:#x} out of the string section "
                           f"(size {self.size:#x})")
        end = self._data.find(b"\0", local)
        if end < 0:
            raise BTFError(f"string at offset {off:#x} is not NUL-terminated")
        s = _decode_str(bytes(self._data[local:end]))
        self._cache[off] = s
        return s

    def _build_index(self) -> dict[bytes, int]:
        index: dict[bytes, int] = {}
        pos = 0
        data = bytes(self._data)
        for piece in data.split(b"\0")[:-1] if data.endswith(b"\0") else data.split(b"\0"):
            index.setdefault(piece, self.start + pos)
            pos += len(piece) + 1
        return index

    def find(self, s: str) -> int | None:
        """The offset of an existing copy of `s` (base first), or None."""
        if s == "":
            return 0
        if self.base is not None:
            off = self.base.find(s)
            if off is not None:
                return off
        if self._index is None:
            self._index = self._build_index()
        return self._index.get(s.encode("utf-8", "surrogateescape"))

    def add(self, s: str) -> int:
        """The offset of `s`, appended if it is not in the table yet."""
        off = self.find(s)
        if off is not None:
            return off
        raw = s.encode("utf-8", "surrogateescape")
        if b"\0" in raw:
            raise BTFError(f"string {s!r} contains a NUL byte")
        if self._index is None:
            self._index = self._build_index()
        off = self.size
        self._data += raw + b"\0"
        self._index[raw] = off
        return off


class Btf:
    """A set of BTF types keyed by id: 0 is void, 1.. are the types in blob order. Split
    BTF (a kernel module's) continues a `base`'s ids and strings.

    `len(btf)` is the number of ids including void and the base (libbpf's type_cnt), so
    valid ids are `range(1, len(btf))` and this blob's own are `range(btf.start_id,
    len(btf))`. Types are immutable dataclasses; `add` appends one, `btf[id] = t`
    replaces one (sanitizing does that)."""

    def __init__(self, base: Btf | None = None) -> None:
        self.base = base
        self.start_id = len(base) if base is not None else 1
        self.strings: StringTable = StringTable(b"\0" if base is None else b"",
                                                base.strings if base is not None else None)
        self._types: list[BtfType | None] = []
        self._raw: bytes = b""
        self._offsets: list[int] = []
        self._names: dict[str, list[int]] | None = None
        self._align_cache: dict[int, int] = {}
        self.header: Header | None = None

    # --- access -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.start_id + len(self._types)

    def __getitem__(self, type_id: int) -> BtfType:
        if type_id == 0:
            return VOID
        idx = type_id - self.start_id
        if idx >= 0:
            if idx >= len(self._types):
                raise BTFError(f"type id {type_id} out of range (last is {len(self) - 1})")
            t = self._types[idx]
            if t is None:
                t = self._decode(type_id)
            return t
        if self.base is not None and type_id > 0:
            return self.base[type_id]
        raise BTFError(f"type id {type_id} out of range (last is {len(self) - 1})")

    def __setitem__(self, type_id: int, t: BtfType) -> None:
        idx = type_id - self.start_id
        if not 0 <= idx < len(self._types):
            raise BTFError(f"cannot replace type id {type_id}: not one of this BTF's own "
                           f"({self.start_id}..{len(self) - 1})")
        if self._names is not None:
            old = self[type_id]
            if old.name != t.name:
                self._names = None
        self._align_cache.clear()
        self._types[idx] = t

    def __iter__(self) -> Iterator[BtfType]:
        for type_id in range(self.start_id, len(self)):
            yield self[type_id]

    def items(self, *, with_base: bool = False) -> Iterator[tuple[int, BtfType]]:
        """(id, type) for this BTF's own types (and the base's first, if asked)."""
        if with_base and self.base is not None:
            yield from self.base.items(with_base=True)
        for type_id in range(self.start_id, len(self)):
            yield type_id, self[type_id]

    def add(self, t: BtfType) -> int:
        """Append a type; returns its id."""
        if isinstance(t, Void):
            raise BTFError("void is type id 0 and cannot be added")
        type_id = len(self)
        if type_id > MAX_TYPE_ID:
            raise BTFError("too many types")
        self._types.append(t)
        if self._names is not None and t.name:
            self._names.setdefault(t.name, []).append(type_id)
        return type_id

    def extend(self, types: Iterable[BtfType]) -> list[int]:
        return [self.add(t) for t in types]

    def name_of(self, type_id: int) -> str:
        return self[type_id].name

    def find(self, name: str, kind: BtfKind | None = None) -> list[int]:
        """Ids of the types named `name` (of `kind` if given), base types first."""
        ids: list[int] = []
        if self.base is not None:
            ids.extend(self.base.find(name, kind))
        own = self.names().get(name, [])
        if kind is None:
            ids.extend(own)
        else:
            ids.extend(i for i in own if self._kind_of(i) == kind)
        return ids

    def find_one(self, name: str, kind: BtfKind | None = None) -> int:
        """The id of the one type named `name` (of `kind`); BTFError if none or several."""
        ids = self.find(name, kind)
        what = f"{kind.name} " if kind is not None else ""
        if not ids:
            raise BTFError(f"no {what}type named {name!r}")
        if len(ids) > 1:
            raise BTFError(f"{len(ids)} {what}types named {name!r}: ids {ids[:8]}")
        return ids[0]

    def names(self) -> dict[str, list[int]]:
        """Name -> ids of this BTF's own named types (built once, kept up to date)."""
        if self._names is None:
            names: dict[str, list[int]] = {}
            for type_id in range(self.start_id, len(self)):
                name = self._name_fast(type_id)
                if name:
                    names.setdefault(name, []).append(type_id)
            self._names = names
        return self._names

    def _name_fast(self, type_id: int) -> str:
        idx = type_id - self.start_id
        t = self._types[idx]
        if t is not None:
            return t.name
        name_off = _U32.unpack_from(self._raw, self._offsets[idx])[0]
        return self._str(name_off, type_id)

    def _kind_of(self, type_id: int) -> BtfKind:
        if type_id == 0:
            return BtfKind.UNKN
        idx = type_id - self.start_id
        if idx < 0:
            assert self.base is not None
            return self.base._kind_of(type_id)
        t = self._types[idx]
        if t is not None:
            return t.kind
        info = _U32.unpack_from(self._raw, self._offsets[idx] + 4)[0]
        return BtfKind((info >> 24) & 0x1F)

    # --- resolution -------------------------------------------------------------------------

    def skip_mods(self, type_id: int) -> int:
        """Follow const/volatile/restrict/type tags to the qualified type's id."""
        for _ in range(MAX_RESOLVE_DEPTH):
            t = self[type_id]
            if t.kind not in MODIFIERS:
                return type_id
            type_id = t.type  # type: ignore[union-attr]  # a modifier (hot: no isinstance)
        raise BTFError(f"modifier chain from type [{type_id}] too long or a loop")

    def resolve(self, type_id: int) -> int:
        """Follow modifiers and typedefs to the underlying type's id."""
        start = type_id
        for _ in range(MAX_RESOLVE_DEPTH):
            t = self[type_id]
            if t.kind not in MODIFIERS and t.kind != BtfKind.TYPEDEF:
                return type_id
            type_id = t.type  # type: ignore[union-attr]  # modifier/typedef (hot path)
        raise BTFError(f"typedef/modifier chain from type [{start}] too long or a loop")

    def size_of(self, type_id: int) -> int:
        """The byte size of a type (libbpf's btf__resolve_size): arrays multiply out,
        modifiers/typedefs/vars pass through; BTFError for void, functions, forward
        declarations and loops."""
        start = type_id
        nelems = 1
        for _ in range(MAX_RESOLVE_DEPTH):
            t = self[type_id]
            k = t.kind
            if k in (BtfKind.INT, BtfKind.STRUCT, BtfKind.UNION, BtfKind.ENUM,
                     BtfKind.ENUM64, BtfKind.DATASEC, BtfKind.FLOAT):
                return nelems * t.size  # type: ignore[union-attr]  # these kinds are sized
            if k == BtfKind.PTR:
                return nelems * 8
            if k in MODIFIERS or k in (BtfKind.TYPEDEF, BtfKind.VAR, BtfKind.DECL_TAG):
                type_id = t.type  # type: ignore[union-attr]  # these kinds refer to a type
                continue
            if k == BtfKind.ARRAY:
                nelems *= t.nelems  # type: ignore[union-attr]  # kind ARRAY: an Array
                if nelems > 0xFFFFFFFF:
                    raise BTFError(f"size of type [{start}] overflows 32 bits")
                type_id = t.type  # type: ignore[union-attr]  # kind ARRAY: an Array
                continue
            raise BTFError(f"type [{start}] has no size ({k.name} [{type_id}])")
        raise BTFError(f"size of type [{start}]: chain too long or a loop")

    def align_of(self, type_id: int) -> int:
        """The alignment C gives a type on BPF/x86-64: natural for scalars (16 for
        __int128), the largest member's for composites, 1 for a composite whose layout
        shows it is packed (a misaligned member, or a size that is not a multiple)."""
        return self._align(type_id, 0)

    def _align(self, type_id: int, depth: int) -> int:
        if depth > MAX_RESOLVE_DEPTH:
            raise BTFError(f"alignment of type [{type_id}]: nesting too deep or a loop")
        cache = self._align_cache
        got = cache.get(type_id)
        if got is not None:
            return got
        rid = self.resolve(type_id)
        t = self[rid]
        if isinstance(t, (Int, Enum, Enum64, Float)):
            size = t.size
            align = size if size in (1, 2, 4, 8, 16) else (4 if size > 4 else 1)
        elif isinstance(t, Ptr):
            align = 8
        elif isinstance(t, Array):
            align = self._align(t.type, depth + 1)
        elif isinstance(t, (Struct, Union_)):
            align = 1
            packed = False
            for m in t.members:
                a = self._align(m.type, depth + 1)
                align = max(align, a)
                if not m.bitfield_size and m.offset % (a * 8):
                    packed = True
            if packed or t.size % align:
                align = 1
        else:
            align = 1
        cache[type_id] = align
        return align

    # --- decoding ---------------------------------------------------------------------------

    def _str(self, off: int, type_id: int) -> str:
        try:
            return self.strings.get(off)
        except BTFError as e:
            raise BTFError(f"type [{type_id}]: {e}") from None

    def _decode(self, type_id: int, count: int | None = None) -> BtfType:
        idx = type_id - self.start_id
        t = decode_type(self, self._raw, self._offsets[idx], type_id, count)
        self._types[idx] = t
        return t

    def decode_all(self) -> None:
        """Decode every type now (parse(lazy=False) does this)."""
        count = len(self)
        types = self._types
        start = self.start_id
        for idx, t in enumerate(types):
            if t is None:
                self._decode(start + idx, count)

    def validate(self) -> None:
        """Decode everything and check there is no reference loop that does not pass
        through a pointer or a function prototype (which a resolver would never leave)."""
        self.decode_all()
        check_loops(self)

    def copy(self) -> Btf:
        """An independent copy (same ids; the base, if any, is shared)."""
        new = Btf(self.base)
        new.header = self.header
        new.strings = StringTable(self.strings.data, self.strings.base)
        new._raw = self._raw
        new._offsets = self._offsets
        new._types = list(self._types)
        return new

    # --- encoding ---------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The BTF blob: header, type section, string section (little-endian)."""
        return encode(self)

    def __repr__(self) -> str:
        split = f" base={len(self.base) - 1} types" if self.base is not None else ""
        return f"<Btf {len(self) - self.start_id} types{split}>"


def _kind_name(kind: int) -> str:
    try:
        return BtfKind(kind).name
    except ValueError:
        return f"kind {kind}"


def decode_type(btf: Btf, raw: bytes, off: int, type_id: int,
                count: int | None = None) -> BtfType:
    """Decode the type at `off` of the type section (its extent was checked by indexing);
    referenced ids must be below `count` (default: len(btf))."""
    try:
        return _decode_type(raw, off, len(btf) if count is None else count,
                            btf.strings.get)
    except BTFError as e:
        raise BTFError(f"type [{type_id}]: {e}") from None


def _check_ref(ref: int, count: int, what: str) -> int:
    if ref >= count:
        raise BTFError(f"{what} type id {ref} out of range (last is {count - 1})")
    return ref


def _decode_type(raw: bytes, off: int, count: int, get: Callable[[int], str]) -> BtfType:
    name_off, info, size_type = _TYPE.unpack_from(raw, off)
    kind = (info >> 24) & 0x1F
    vlen = info & 0xFFFF
    kflag = bool(info >> 31)
    name = get(name_off)
    p = off + 12
    K = BtfKind
    if kind == K.STRUCT or kind == K.UNION:
        members: list[Member] = []
        append = members.append
        for i, (m_name, m_type, m_off) in enumerate(
                _3U32.iter_unpack(raw[p:p + 12 * vlen])):
            if m_type >= count:
                _check_ref(m_type, count, f"member {i}")
            if kflag:
                append(Member(get(m_name), m_type, m_off & 0xFFFFFF, m_off >> 24))
            else:
                append(Member(get(m_name), m_type, m_off, 0))
        cls = Struct if kind == K.STRUCT else Union_
        return cls(name, size_type, tuple(members), kflag)
    if kind == K.PTR:
        return Ptr(_check_ref(size_type, count, "referenced"), name)
    if kind == K.FUNC_PROTO:
        params = []
        for i, (a_name, a_type) in enumerate(_2U32.iter_unpack(raw[p:p + 8 * vlen])):
            if a_type >= count:
                _check_ref(a_type, count, f"param {i}")
            params.append(Param(get(a_name), a_type))
        return FuncProto(_check_ref(size_type, count, "return"), tuple(params), name)
    if kind == K.FUNC:
        if vlen > FuncLinkage.EXTERN:
            raise BTFError(f"FUNC {name!r}: unknown linkage {vlen}")
        return Func(name, _check_ref(size_type, count, "prototype"), FuncLinkage(vlen))
    if kind == K.INT:
        word = _U32.unpack_from(raw, p)[0]
        enc = (word >> 24) & 0xF
        if word & 0xF000FF00:
            raise BTFError(f"INT reserved bits set in {word:#010x}")
        if enc & ~7:
            raise BTFError(f"INT unknown encoding {enc:#x}")
        return Int(name, size_type, IntEncoding(enc), word & 0xFF, (word >> 16) & 0xFF)
    if kind == K.ARRAY:
        elem, index, nelems = _3U32.unpack_from(raw, p)
        return Array(_check_ref(elem, count, "element"), _check_ref(index, count, "index"),
                     nelems, name)
    if kind == K.ENUM:
        values = []
        for e_name, e_val in _2U32.iter_unpack(raw[p:p + 8 * vlen]):
            if kflag and e_val & 0x80000000:
                e_val -= 1 << 32
            values.append(Enumerator(get(e_name), e_val))
        return Enum(name, size_type, tuple(values), kflag)
    if kind == K.ENUM64:
        values = []
        for e_name, lo, hi in _3U32.iter_unpack(raw[p:p + 12 * vlen]):
            v = hi << 32 | lo
            if kflag and v & (1 << 63):
                v -= 1 << 64
            values.append(Enumerator(get(e_name), v))
        return Enum64(name, size_type, tuple(values), kflag)
    if kind == K.FWD:
        return Fwd(name, kflag)
    if kind == K.TYPEDEF:
        return Typedef(name, _check_ref(size_type, count, "referenced"))
    if kind == K.VOLATILE:
        return Volatile(_check_ref(size_type, count, "referenced"), name)
    if kind == K.CONST:
        return Const(_check_ref(size_type, count, "referenced"), name)
    if kind == K.RESTRICT:
        return Restrict(_check_ref(size_type, count, "referenced"), name)
    if kind == K.VAR:
        linkage = _U32.unpack_from(raw, p)[0]
        if linkage > VarLinkage.EXTERN:
            raise BTFError(f"VAR {name!r}: unknown linkage {linkage}")
        return Var(name, _check_ref(size_type, count, "referenced"), VarLinkage(linkage))
    if kind == K.DATASEC:
        vars_ = []
        for i, (v_type, v_off, v_size) in enumerate(_3U32.iter_unpack(raw[p:p + 12 * vlen])):
            vars_.append(VarSecinfo(_check_ref(v_type, count, f"variable {i}"), v_off, v_size))
        return Datasec(name, size_type, tuple(vars_))
    if kind == K.FLOAT:
        return Float(name, size_type)
    if kind == K.DECL_TAG:
        comp = _I32.unpack_from(raw, p)[0]
        return DeclTag(name, _check_ref(size_type, count, "referenced"), comp, kflag)
    if kind == K.TYPE_TAG:
        return TypeTag(name, _check_ref(size_type, count, "referenced"), kflag)
    raise BTFError(f"unknown kind {kind}")  # indexing rejects these


# --- parsing ---------------------------------------------------------------------------------

def parse_header(data: bytes) -> Header:
    """Check and return the header; BTFError names the bad field."""
    if len(data) < HEADER_SIZE:
        raise BTFError(f"BTF truncated: {len(data)} bytes, the header alone is {HEADER_SIZE}")
    if data[:2] == b"\xeb\x9f":
        raise BTFError("big-endian BTF is not supported (magic 0xeb9f byte-swapped)")
    hdr = Header(*_HDR.unpack_from(data, 0))
    if hdr.magic != BTF_MAGIC:
        raise BTFError(f"bad BTF magic {hdr.magic:#06x} (expected {BTF_MAGIC:#06x})")
    if hdr.version != BTF_VERSION:
        raise BTFError(f"unsupported BTF version {hdr.version}")
    if hdr.flags:
        raise BTFError(f"unsupported BTF header flags {hdr.flags:#x}")
    if hdr.hdr_len < HEADER_SIZE or hdr.hdr_len > len(data):
        raise BTFError(f"bad BTF header length {hdr.hdr_len} (blob is {len(data)} bytes)")
    if any(data[HEADER_SIZE:hdr.hdr_len]):
        raise BTFError(f"BTF header has {hdr.hdr_len - HEADER_SIZE} bytes of unknown "
                       f"non-zero fields")
    body = len(data) - hdr.hdr_len
    for what, off, size in (("type", hdr.type_off, hdr.type_len),
                            ("string", hdr.str_off, hdr.str_len)):
        if off + size > body:
            raise BTFError(f"BTF {what} section [{off:#x}, {off + size:#x}) runs past the "
                           f"end of the blob ({body:#x} bytes after the header)")
    if hdr.type_off % 4 or hdr.type_len % 4:
        raise BTFError(f"BTF type section at {hdr.type_off:#x} length {hdr.type_len:#x} "
                       f"is not 4-byte aligned")
    if (hdr.type_len and hdr.str_len and hdr.type_off < hdr.str_off + hdr.str_len
            and hdr.str_off < hdr.type_off + hdr.type_len):
        raise BTFError("BTF type and string sections overlap")
    return hdr


def _index_types(raw: bytes, start_id: int) -> list[int]:
    """Offsets of each type in the type section; checks kinds, vlen and extents."""
    offsets: list[int] = []
    append = offsets.append
    end = len(raw)
    off = 0
    extra = _EXTRA
    unpack = _TYPE.unpack_from
    kflag_kinds = _KFLAG_KINDS
    vlen_kinds = _VLEN_KINDS
    while off < end:
        type_id = start_id + len(offsets)
        if off + 12 > end:
            raise BTFError(f"type [{type_id}] at type-section offset {off:#x}: truncated "
                           f"header ({end - off} of 12 bytes)")
        _, info, _ = unpack(raw, off)
        kind = (info >> 24) & 0x1F
        vlen = info & 0xFFFF
        sizes = extra.get(kind)
        if sizes is None or kind == 0:
            raise BTFError(f"type [{type_id}] at type-section offset {off:#x}: "
                           f"unknown kind {kind}")
        if info & 0x60FF0000:
            raise BTFError(f"type [{type_id}] {_kind_name(kind)} at offset {off:#x}: "
                           f"reserved info bits set ({info:#010x})")
        if info >> 31 and kind not in kflag_kinds:
            raise BTFError(f"type [{type_id}] {_kind_name(kind)} at offset {off:#x}: "
                           f"kind_flag set on a kind that has none")
        if vlen and kind not in vlen_kinds:
            raise BTFError(f"type [{type_id}] {_kind_name(kind)} at offset {off:#x}: "
                           f"vlen {vlen} on a kind that has no members")
        size = 12 + sizes[0] + sizes[1] * vlen
        if off + size > end:
            raise BTFError(f"type [{type_id}] {_kind_name(kind)} at type-section offset "
                           f"{off:#x}: needs {size} bytes (vlen {vlen}), only {end - off} "
                           f"left")
        append(off)
        off += size
    return offsets


def parse(data: bytes | bytearray | memoryview, base: Btf | None = None, *,
          lazy: bool = False) -> Btf:
    """Parse a raw .BTF blob. With `base`, the blob is split BTF (ids and string offsets
    continue the base's). `lazy=True` decodes each type on first access instead of now
    (checks then happen at access); the default decodes and validates everything."""
    data = bytes(data)
    hdr = parse_header(data)
    body = hdr.hdr_len
    raw = data[body + hdr.type_off: body + hdr.type_off + hdr.type_len]
    strs = data[body + hdr.str_off: body + hdr.str_off + hdr.str_len]
    if base is None:
        if not strs or strs[0] != 0:
            raise BTFError("BTF string section must start with a NUL byte")
    if strs and strs[-1] != 0:
        raise BTFError("BTF string section does not end with a NUL byte")
    btf = Btf(base)
    btf.header = hdr
    btf.strings = StringTable(strs, base.strings if base is not None else None)
    btf._raw = raw
    btf._offsets = _index_types(raw, btf.start_id)
    if len(btf._offsets) + btf.start_id > MAX_TYPE_ID:
        raise BTFError("too many types")
    btf._types = [None] * len(btf._offsets)
    if not lazy:
        btf.validate()
    return btf


def load_file(path: str | os.PathLike[str], base: Btf | None = None, *,
              lazy: bool = True) -> Btf:
    """Parse a raw BTF file (such as /sys/kernel/btf/<name>); lazy by default."""
    with open(path, "rb") as f:
        return parse(f.read(), base, lazy=lazy)


def load_vmlinux(path: str | os.PathLike[str] = VMLINUX_PATH) -> Btf:
    """The running kernel's BTF, lazily decoded."""
    try:
        return load_file(path)
    except OSError as e:
        raise BTFError(f"cannot read kernel BTF {os.fspath(path)!r}: {e.strerror}") from None


# --- loops -----------------------------------------------------------------------------------

def _value_refs(t: BtfType) -> Iterable[int]:
    """The ids a type embeds by value (pointers and prototypes do not)."""
    k = t.kind
    if k in MODIFIERS or k in (BtfKind.TYPEDEF, BtfKind.VAR, BtfKind.FUNC, BtfKind.DECL_TAG,
                               BtfKind.ARRAY):
        return (t.type,)  # type: ignore[union-attr]  # these kinds refer to a type
    if isinstance(t, (Struct, Union_)):
        return [m.type for m in t.members]
    if isinstance(t, Datasec):
        return [v.type for v in t.vars]
    return ()


def check_loops(btf: Btf) -> None:
    """BTFError if a type contains itself other than through a pointer or prototype."""
    state: dict[int, int] = {}  # 1 = on the stack, 2 = done
    start = btf.start_id
    for root in range(start, len(btf)):
        if root in state:
            continue
        stack: list[tuple[int, Iterator[int]]] = [(root, iter(_value_refs(btf[root])))]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                continue
            if nxt < start:  # void or a base type (the base was checked on its own)
                continue
            s = state.get(nxt)
            if s == 1:
                path = [n for n, _ in stack]
                cycle = path[path.index(nxt):] + [nxt]
                raise BTFError("reference loop through types "
                               + " -> ".join(f"[{i}] {btf[i].kind.name}" for i in cycle))
            if s is None:
                state[nxt] = 1
                stack.append((nxt, iter(_value_refs(btf[nxt]))))


# --- encoding --------------------------------------------------------------------------------

def encode(btf: Btf) -> bytes:
    """The blob for `btf`: header, type section, string section. Names are looked up in
    the existing string table first (so a parsed blob encodes back byte for byte) and
    appended when new. For split BTF only the split part is encoded."""
    parts = []
    for type_id in range(btf.start_id, len(btf)):
        idx = type_id - btf.start_id
        if btf._types[idx] is None and btf._raw:
            # Undecoded types are unchanged: copy their bytes (names are in the table).
            off = btf._offsets[idx]
            end = btf._offsets[idx + 1] if idx + 1 < len(btf._offsets) else len(btf._raw)
            parts.append(btf._raw[off:end])
            continue
        parts.append(encode_type(btf[type_id], btf.strings, type_id))
    types = b"".join(parts)
    strs = btf.strings.data
    hdr = _HDR.pack(BTF_MAGIC, BTF_VERSION, 0, HEADER_SIZE, 0, len(types), len(types),
                    len(strs))
    return hdr + types + strs
