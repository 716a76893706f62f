"""Program contexts as data: each program type's context struct is a table of fields
(offset, size, allowed load and store sizes, what the kernel rewrites the access to), and
one generic RegionAccess applies such a table on the VM the way the kernel's
`convert_ctx_accesses` does, including its narrow-load arithmetic.

The tables are meant to be reused by a verifier: `ContextSpec.check()` answers "may this
program type load/store `size` bytes at `off`?" exactly as the kernel's `is_valid_access`
callbacks do for the modelled types.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from dataclasses import dataclass, field
from enum import Enum
from typing import Iterable, Iterator, Mapping

from ..isa import M32, M64
from .errors import ContextAccessError


class FieldKind(Enum):
    """How a context field behaves when loaded."""

    VALUE = "value"            # a scalar the kernel converts (narrow loads shift and mask)
    MEMORY = "memory"          # plain bytes (cb[], raw arguments): any aligned size inside
    PACKET = "packet"          # PTR_TO_PACKET (data)
    PACKET_END = "packet_end"  # PTR_TO_PACKET_END (data_end)
    PACKET_META = "packet_meta"  # PTR_TO_PACKET_META (data_meta)
    POINTER = "pointer"        # PTR_TO_SOCK_COMMON_OR_NULL (skb->sk)
    SOCKET = "socket"          # PTR_TO_SOCKET (sk_msg_md->sk)
    SOCKET_OR_NULL = "socket_or_null"  # PTR_TO_SOCKET_OR_NULL (bpf_sk_lookup->sk)
    FLOW_KEYS = "flow_keys"    # PTR_TO_FLOW_KEYS (flow dissector's skb->flow_keys)
    BTF_ID = "btf_id"          # trusted PTR_TO_BTF_ID of the kernel struct `btf_struct`


POINTER_KINDS = frozenset({FieldKind.PACKET, FieldKind.PACKET_END, FieldKind.PACKET_META,
                           FieldKind.POINTER, FieldKind.SOCKET, FieldKind.SOCKET_OR_NULL,
                           FieldKind.FLOW_KEYS, FieldKind.BTF_ID})


@dataclass(frozen=True)
class CtxField:
    """One field of a context struct as a program type sees it.

    `read_sizes`/`write_sizes` are the access widths the kernel accepts (empty: no access);
    `target` names what the access is rewritten to; `target_size` is the width the
    rewritten load reads (the kernel's `target_size`): a narrow load smaller than it is
    shifted and masked, one at least as wide returns the converted value unmasked.
    `ctx_field_size` is the width the verifier records for narrow loads (0: loads are
    not narrowed, e.g. cb[] which is plain memory). `btf_struct` names the kernel struct
    a BTF_ID field points to."""

    name: str
    offset: int
    size: int
    kind: FieldKind
    target: str
    read_sizes: frozenset[int] = frozenset()
    write_sizes: frozenset[int] = frozenset()
    target_size: int = 0
    ctx_field_size: int = 0
    # where in the field a narrow access (smaller than the field) may start, relative
    # to its offset; empty: at any aligned offset (bpf_sock's exact-offset cases)
    narrow_at: frozenset[int] = frozenset()
    btf_struct: str = ""

    @property
    def end(self) -> int:
        return self.offset + self.size

    @property
    def readable(self) -> bool:
        return bool(self.read_sizes)

    @property
    def writable(self) -> bool:
        return bool(self.write_sizes)


@dataclass(frozen=True)
class ContextSpec:
    """A program type's view of its context: the struct's name and size, its fields with
    their per-type permissions, and the meaning of the program's return value."""

    struct: str
    size: int
    fields: tuple[CtxField, ...]
    retval: str = ""
    _by_offset: dict[int, CtxField] = field(default_factory=dict, compare=False, repr=False)
    # accesses found valid, by (off, size, write): a run's context loads check once
    _valid: dict[tuple[int, int, bool], CtxField] = field(default_factory=dict, compare=False,
                                                          repr=False)
    _words: dict[int, CtxField | None] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for f in self.fields:
            for o in range(f.offset, f.end):
                self._by_offset[o] = f

    def __iter__(self) -> Iterator[CtxField]:
        return iter(self.fields)

    def __getitem__(self, name: str) -> CtxField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def field_at(self, off: int) -> CtxField | None:
        return self._by_offset.get(off)

    def word_field(self, off: int) -> CtxField | None:
        """The field a 4-byte load at `off` reads when the load is valid and gives a
        scalar, a packet pointer or plain bytes, else None (ContextAccess.native_words)."""
        if off in self._words:
            return self._words[off]
        try:
            f: CtxField | None = self.check(off, 4, False)
        except ValueError:
            f = None
        if f is not None and f.kind not in _WORD_KINDS:
            f = None
        self._words[off] = f
        return f

    def check(self, off: int, size: int, write: bool, *, ldsx: bool = False) -> CtxField:
        """The field an access of `size` bytes at `off` reaches, or ValueError with the
        verifier's reason when the program type may not make it."""
        if not ldsx:
            known = self._valid.get((off, size, write))
            if known is not None:
                return known
        kind = "write" if write else "read"
        if off < 0 or off >= self.size:
            raise ValueError(f"{kind} outside {self.struct} (size {self.size})")
        if size not in (1, 2, 4, 8) or off % size:
            raise ValueError(f"misaligned {size}-byte {kind}")
        f = self.field_at(off)
        if f is None:
            raise ValueError(f"{kind} of padding in {self.struct}")
        if off + size > f.end:
            raise ValueError(f"{size}-byte {kind} crosses the end of {f.name}")
        sizes = f.write_sizes if write else f.read_sizes
        if not sizes:
            raise ValueError(f"{f.name} is not {'writable' if write else 'readable'} "
                             "for this program type")
        if size not in sizes:
            allowed = "/".join(str(s) for s in sorted(sizes))
            raise ValueError(f"{size}-byte {kind} of {f.name} (allowed: {allowed})")
        if f.narrow_at and size < f.size and off - f.offset not in f.narrow_at:
            raise ValueError(f"narrow {kind} of {f.name} not at its start")
        if ldsx and f.kind in POINTER_KINDS:
            raise ValueError(f"sign-extending load of pointer field {f.name}")
        if not ldsx:
            self._valid[(off, size, write)] = f
        return f

    def max_size(self) -> int:
        """The highest field end (the kernel's notion of the context size)."""
        return max((f.end for f in self.fields), default=0)

    def describe(self) -> list[dict[str, object]]:
        """The table as plain data (for `pybpf features` and documentation)."""
        return [{"name": f.name, "offset": f.offset, "size": f.size, "kind": f.kind.value,
                 "target": f.target, "read": sorted(f.read_sizes),
                 "write": sorted(f.write_sizes), "target_size": f.target_size or f.size}
                for f in self.fields]


def narrow(value: int, f: CtxField, off: int, size: int) -> int:
    """The kernel's result for a load of `size` bytes at ctx offset `off` of field `f`
    whose full converted value is `value` (verifier.c convert_ctx_accesses: the load is
    widened to the recorded field size, converted, then shifted and masked if `size` is
    below the target size; a load at least as wide as the target is not masked)."""
    cfs = f.ctx_field_size
    if not cfs or size >= cfs:
        return value & M64
    target = f.target_size or f.size
    if size >= target:
        return value & M64
    shift = (off & (cfs - 1)) * 8
    if cfs <= 4:
        return ((value & M32) >> shift) & ((1 << (size * 8)) - 1)
    return ((value & M64) >> shift) & ((1 << (size * 8)) - 1)


def sizes(*s: int) -> frozenset[int]:
    return frozenset(s)


NARROW = sizes(1, 2, 4)
W4 = sizes(4)
DW = sizes(8)
ANY = sizes(1, 2, 4, 8)


_WORD_KINDS = frozenset({FieldKind.VALUE, FieldKind.MEMORY, FieldKind.PACKET,
                         FieldKind.PACKET_END, FieldKind.PACKET_META})


class ContextAccess(ABC):
    """A RegionAccess that applies a ContextSpec: every load and store is checked against
    the table, then answered by the family's model through `read_value`/`write_value`
    (VALUE and pointer fields) or the raw bytes of `memory` (MEMORY fields)."""

    def __init__(self, spec: ContextSpec, region_name: str = "ctx") -> None:
        self.spec = spec
        self.region_name = region_name
        self.base = 0  # the region's VM address, set once mapped
        self.memory = bytearray(spec.size)  # backing bytes of MEMORY fields

    # -- to be provided by the family ---------------------------------------------------
    @abstractmethod
    def read_value(self, f: CtxField) -> int:
        ...

    @abstractmethod
    def write_value(self, f: CtxField, value: int, size: int) -> None:
        ...

    def plain_window(self, buf: object) -> None:
        """As pybpf.vm.WindowAccess: no span of a context is plain memory (every field
        is checked and rewritten), so a JIT leaves each access to load and store."""
        return None

    def native_words(self, offsets: Iterable[int]) -> list[tuple[int, int]]:
        """(offset, value) of the 4-byte loads at `offsets` whose value changes only in
        a store to the context or a helper (a scalar, packet pointer or plain bytes),
        as `load` gives them now: what a JIT serves from words it makes again after
        either (the other offsets: loads that fail, or give a pointer to an object)."""
        word_field = self.spec.word_field
        if type(self).load is not ContextAccess.load:  # a family's own loads: as they are
            return [(off, self.load(off, 4, -1)) for off in offsets
                    if word_field(off) is not None]
        out = []
        for off in offsets:
            f = word_field(off)
            if f is not None:  # (load without the check word_field made)
                out.append((off, int.from_bytes(self.memory[off:off + 4], "little")
                            if f.kind is FieldKind.MEMORY
                            else narrow(self.read_value(f), f, off, 4)))
        return out

    # -- RegionAccess -------------------------------------------------------------------
    def _check(self, off: int, size: int, write: bool, pc: int) -> CtxField:
        try:
            return self.spec.check(off, size, write)
        except ValueError as e:
            raise ContextAccessError(pc, "store" if write else "load", self.base + off, size,
                                     self.region_name, off, str(e)) from None

    def load(self, off: int, size: int, pc: int) -> int:
        f = self._check(off, size, False, pc)
        if f.kind is FieldKind.MEMORY:
            return int.from_bytes(self.memory[off:off + size], "little")
        return narrow(self.read_value(f), f, off, size)

    def store(self, off: int, size: int, value: int, pc: int) -> None:
        f = self._check(off, size, True, pc)
        if f.kind is FieldKind.MEMORY:
            self.memory[off:off + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(
                size, "little")
            return
        self.write_value(f, value, size)


def table(rows: Iterable[tuple]) -> tuple[CtxField, ...]:
    """Fields from rows (name, offset, size, kind, target, read, write, target_size,
    ctx_field_size, narrow_at) with trailing items optional."""
    out = []
    for row in rows:
        name, off, size, kind, target, *rest = row
        read = rest[0] if len(rest) > 0 else frozenset()
        write = rest[1] if len(rest) > 1 else frozenset()
        tsize = rest[2] if len(rest) > 2 else 0
        cfs = rest[3] if len(rest) > 3 else 0
        at = rest[4] if len(rest) > 4 else frozenset()
        out.append(CtxField(name, off, size, kind, target, read, write, tsize, cfs, at))
    return tuple(out)


def with_permissions(fields: Iterable[CtxField],
                     perms: Mapping[str, tuple[frozenset[int], frozenset[int]]],
                     default: tuple[frozenset[int], frozenset[int]] | None = None
                     ) -> tuple[CtxField, ...]:
    """Copies of `fields` with (read_sizes, write_sizes) replaced per field name; fields
    not named keep theirs (or get `default`)."""
    out = []
    for f in fields:
        p = perms.get(f.name, default)
        if p is not None:
            f = CtxField(f.name, f.offset, f.size, f.kind, f.target, p[0], p[1],
                         f.target_size, f.ctx_field_size, f.narrow_at)
        out.append(f)
    return tuple(out)
