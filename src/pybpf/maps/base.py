"""`Map`: one Python API over VM maps and kernel maps.

A Map is a MutableMapping over bytes keys and values, in the kernel's terms: iteration
follows BPF_MAP_GET_NEXT_KEY, `m[k] = v` is BPF_MAP_UPDATE_ELEM with BPF_ANY, errors
are the kernel's errnos as MapError subclasses (a missing key is a KeyError). Keys and
values may be given as ints (little-endian, sized). Per-CPU maps take and return one
value per possible CPU. Backends implement the `_raw` methods over bytes in the
kernel's user-space layout; everything else lives here, so both behave the same.
"""

from __future__ import annotations

from abc import abstractmethod

import os
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Iterator, TypeVar

from ..backend import get_backend
from ..uapi import BPF_ANY, MapType
from .errors import MapClosedError, MapInvalidError, MapKeyError
from .spec import FD_VALUE_TYPES, MapSpec, round8, to_bytes

if TYPE_CHECKING:
    from .typed import TypedMap

_MISSING: Any = object()


def possible_cpus() -> int:
    """Per-CPU maps hold one value per possible CPU, on both backends."""
    from ..cpus import possible_cpus as _possible
    return _possible()


@dataclass(frozen=True)
class Batch:
    """One batch of a batched lookup: keys, values (per-CPU maps: lists), and the token
    for the next call (None once the map has been walked to its end)."""

    keys: list[bytes]
    values: list[Any]
    next_batch: bytes | None


class Map(MutableMapping):
    """A BPF map on one backend ("vm" or "kernel"); see the module docstring."""

    backend: str = ""
    # How keys and values read as Python data (`typed`): set from BTF by the object
    # that created the map (pybpf.btf.TypeCodec), or by the user; None: bytes.
    key_codec: Any = None
    value_codec: Any = None

    def __init__(self, spec: MapSpec) -> None:
        self.spec = spec
        self.ncpus = possible_cpus() if spec.percpu else 1
        # plain attributes for the per-operation fast paths
        self._ksize = spec.key_size
        self._vsize = spec.value_size
        self._percpu = spec.percpu
        self._plain_values = not spec.percpu and spec.type not in FD_VALUE_TYPES

    # --- shape -------------------------------------------------------------------------
    @property
    def type(self) -> MapType:
        return MapType(self.spec.type_id)

    @property
    def key_size(self) -> int:
        return self.spec.key_size

    @property
    def value_size(self) -> int:
        return self.spec.value_size

    @property
    def max_entries(self) -> int:
        return self.spec.max_entries

    @property
    def flags(self) -> int:
        return self.spec.flags

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def percpu(self) -> bool:
        return self.spec.percpu

    @property
    def value_buffer_size(self) -> int:
        """Bytes of one value as user space passes it (all CPUs for per-CPU maps)."""
        return round8(self.value_size) * self.ncpus if self.percpu else self.value_size

    @property
    def typed(self) -> "TypedMap":
        """This map with keys and values as Python data, by their BTF types (see
        pybpf.maps.typed); a side without a type stays bytes."""
        from .typed import TypedMap
        return TypedMap(self)

    # --- backend interface (bytes in the kernel's user-space layout) -----------------------
    @abstractmethod
    def _lookup_raw(self, key: bytes | None, flags: int) -> bytes:
        ...

    @abstractmethod
    def _update_raw(self, key: bytes | None, value: Any, flags: int) -> None:
        ...

    @abstractmethod
    def _delete_raw(self, key: bytes | None) -> None:
        ...

    @abstractmethod
    def _next_key_raw(self, key: bytes | None) -> bytes | None:
        ...

    @abstractmethod
    def _lookup_and_delete_raw(self, key: bytes | None, flags: int) -> bytes:
        ...

    @abstractmethod
    def _lookup_batch_raw(self, count: int, token: bytes | None, delete: bool
                          ) -> tuple[list[bytes], list[bytes], bytes | None]:
        ...

    @abstractmethod
    def _update_batch_raw(self, keys: list[bytes], values: list[Any], flags: int) -> int:
        ...

    @abstractmethod
    def _delete_batch_raw(self, keys: list[bytes]) -> int:
        ...

    @abstractmethod
    def _freeze_raw(self) -> None:
        ...

    @abstractmethod
    def _fd_value(self, value: Any) -> Any:
        """How this backend stores a value of an fd map (a map, a program, an fd)."""
        ...

    @property
    @abstractmethod
    def closed(self) -> bool:
        ...

    @property
    @abstractmethod
    def fd(self) -> int:
        ...

    @property
    @abstractmethod
    def id(self) -> int:
        ...

    @abstractmethod
    def close(self) -> None:
        ...

    @abstractmethod
    def pin(self, path: "str | os.PathLike[str]") -> None:
        ...

    # --- conversions ---------------------------------------------------------------------
    def _key(self, key: Any) -> bytes | None:
        if self.key_size == 0:
            if key is None or key == b"":
                return None
            raise MapInvalidError(f"{self.spec.type_name} maps have no keys")
        if key is None:
            raise MapInvalidError("a key is needed")
        return to_bytes(key, self.key_size, "key")

    def _value(self, value: Any) -> Any:
        if self.spec.type in FD_VALUE_TYPES:
            return self._fd_value(value)
        if not self.percpu:
            return to_bytes(value, self.value_size, "value")
        stride = round8(self.value_size)
        if isinstance(value, (list, tuple)):
            if len(value) != self.ncpus:
                raise MapInvalidError(f"per-CPU value needs {self.ncpus} values (one per "
                                      f"possible CPU), got {len(value)}")
            parts = [to_bytes(v, self.value_size, "value") for v in value]
        elif isinstance(value, (bytes, bytearray, memoryview)) and \
                len(value) == stride * self.ncpus and len(value) != self.value_size:
            return bytes(value)  # already the kernel's user buffer
        else:
            parts = [to_bytes(value, self.value_size, "value")] * self.ncpus
        pad = bytes(stride - self.value_size)
        return b"".join(p + pad for p in parts)

    def _decode(self, raw: bytes) -> Any:
        if not self.percpu:
            return raw
        stride = round8(self.value_size)
        return [raw[i * stride:i * stride + self.value_size] for i in range(self.ncpus)]

    # --- element operations --------------------------------------------------------------
    def lookup(self, key: Any, flags: int = 0) -> Any:
        """The value for `key` (per-CPU maps: a list, one per CPU); MapKeyError (a
        KeyError) if absent. Map-of-maps and prog arrays give the object's id (u32)."""
        if type(key) is not bytes or len(key) != self._ksize:
            key = self._key(key)
        raw = self._lookup_raw(key, flags)
        return self._decode(raw) if self._percpu else raw

    def update(  # type: ignore[override]  # bpf's (key, value, flags), and dict's as well
            self, key: Any = _MISSING, value: Any = _MISSING, flags: int = BPF_ANY,
            **kw: Any) -> None:
        """Insert or replace (flags BPF_ANY / BPF_NOEXIST / BPF_EXIST). Called with a
        mapping or pairs and no value, it is MutableMapping.update."""
        if value is _MISSING:
            pairs = key if key is not _MISSING else {}
            MutableMapping.update(self, pairs, **kw)
            return
        if type(key) is not bytes or len(key) != self._ksize:
            key = self._key(key)
        if type(value) is not bytes or len(value) != self._vsize or not self._plain_values:
            value = self._value(value)
        self._update_raw(key, value, flags)

    def delete(self, key: Any) -> None:
        """Remove `key`; MapKeyError if absent (arrays: MapInvalidError, as the kernel)."""
        self._delete_raw(self._key(key))

    def next_key(self, key: Any = None) -> bytes | None:
        """The key after `key` (None: the first key), None at the end. A key that is not
        in the map gives the first key, as in the kernel."""
        return self._next_key_raw(None if key is None else self._key(key))

    def lookup_and_delete(self, key: Any = None, flags: int = 0) -> Any:
        """BPF_MAP_LOOKUP_AND_DELETE_ELEM: read and remove one element (hash maps), or
        pop a queue/stack (key None)."""
        return self._decode(self._lookup_and_delete_raw(
            None if key is None and self.key_size == 0 else self._key(key), flags))

    # queue / stack / bloom filter
    def push(self, value: Any, flags: int = BPF_ANY) -> None:
        """Queue/stack: push (BPF_EXIST overwrites the oldest when full). Bloom filter:
        add a value."""
        self._update_raw(None, self._value(value), flags)

    def pop(self, key: Any = _MISSING, default: Any = _MISSING) -> Any:
        """Queue/stack: `pop()` removes and returns the next value (MapKeyError when
        empty). With a key it is MutableMapping.pop, done as lookup-and-delete."""
        if key is _MISSING:
            return self.lookup_and_delete(None)
        try:
            if self.spec.type in (MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH,
                                  MapType.LRU_PERCPU_HASH):
                return self.lookup_and_delete(key)
            value = self[key]
            del self[key]
            return value
        except KeyError:
            if default is _MISSING:
                raise
            return default

    def peek(self, value: Any = None) -> Any:
        """Queue/stack: the next value without removing it (MapKeyError when empty).
        Bloom filter: `peek(value)` is True if the value may be in the set, and raises
        MapKeyError if it is certainly not (ENOENT, as the kernel)."""
        if self.spec.type == MapType.BLOOM_FILTER:
            if value is None:
                raise MapInvalidError("a bloom filter peek needs the value to test")
            self._bloom_peek(to_bytes(value, self.value_size, "value"))
            return True
        return self._decode(self._lookup_raw(None, 0))

    def _bloom_peek(self, value: bytes) -> None:
        """Whether `value` may be in a bloom filter (MapKeyError when certainly not):
        the bloom filter maps of each backend answer; peek asks no other map."""
        raise MapInvalidError(f"{self.name}: not a bloom filter")

    def freeze(self) -> None:
        """BPF_MAP_FREEZE: no more writes from user space (programs still may)."""
        self._freeze_raw()

    # --- batches -----------------------------------------------------------------------
    def lookup_batch(self, count: int = 64, in_batch: bytes | None = None) -> Batch:
        """Up to `count` elements from `in_batch` (None: the start)."""
        keys, values, token = self._lookup_batch_raw(count, in_batch, False)
        return Batch(keys, [self._decode(v) for v in values], token)

    def lookup_and_delete_batch(self, count: int = 64, in_batch: bytes | None = None) -> Batch:
        keys, values, token = self._lookup_batch_raw(count, in_batch, True)
        return Batch(keys, [self._decode(v) for v in values], token)

    def iter_batches(self, count: int = 64, *, delete: bool = False) -> Iterator[Batch]:
        """Every batch from the start of the map to its end."""
        token: bytes | None = None
        while True:
            b = (self.lookup_and_delete_batch if delete else self.lookup_batch)(count, token)
            if b.keys or b.next_batch is None:
                yield b
            if b.next_batch is None:
                return
            token = b.next_batch

    def update_batch(self, items: "Iterable[tuple[Any, Any]] | dict", flags: int = BPF_ANY) -> int:
        """BPF_MAP_UPDATE_BATCH; returns how many were written."""
        pairs = list(items.items()) if isinstance(items, dict) else list(items)
        keys = [self._key(k) for k, _ in pairs]
        return self._update_batch_raw(keys,  # type: ignore[arg-type]  # keyless: no batches
                                      [self._value(v) for _, v in pairs], flags)

    def delete_batch(self, keys: Iterable[Any]) -> int:
        """BPF_MAP_DELETE_BATCH; returns how many were deleted."""
        raw = [self._key(k) for k in keys]
        return self._delete_batch_raw(raw)  # type: ignore[arg-type]  # keyless: no batches

    # --- mapping protocol -------------------------------------------------------------
    def __getitem__(self, key: Any) -> Any:
        return self.lookup(key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.update(key, value)

    def __delitem__(self, key: Any) -> None:
        self.delete(key)

    def __contains__(self, key: object) -> bool:
        if self.spec.type == MapType.BLOOM_FILTER:
            try:
                self.peek(key)
            except KeyError:
                return False
            return True
        try:
            self.lookup(key)
        except KeyError:
            return False
        return True

    def keys(self) -> Iterator[bytes]:  # type: ignore[override]  # lazy, not a view
        """Every key, in BPF_MAP_GET_NEXT_KEY order."""
        k = self._next_key_raw(None)
        while k is not None:
            yield k
            k = self._next_key_raw(k)

    def __iter__(self) -> Iterator[bytes]:
        return self.keys()

    def __len__(self) -> int:
        return sum(1 for _ in self.keys())

    def items(self) -> Iterator[tuple[bytes, Any]]:  # type: ignore[override]  # lazy, not a view
        for k in self.keys():
            try:
                yield k, self.lookup(k)
            except KeyError:  # an empty slot of an fd array, or deleted meanwhile
                continue

    def values(self) -> Iterator[Any]:  # type: ignore[override]  # lazy, not a view
        for _, v in self.items():
            yield v

    def clear(self) -> None:
        for k in list(self.keys()):
            try:
                self.delete(k)
            except MapKeyError:
                pass

    __eq__ = object.__eq__   # maps are objects with identity, like files
    __hash__ = object.__hash__

    # --- lifecycle -----------------------------------------------------------------------
    def _check_open(self) -> None:
        if self.closed:
            raise MapClosedError(f"map {self.name or self.spec.type_name} is closed")

    def __enter__(self) -> "Map":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @classmethod
    def from_pinned(cls, path: "str | os.PathLike[str]") -> "Map":
        """Open a pinned map: a kernel map pinned in bpffs, or a VM map's descriptor
        file (for maps with shared memory)."""
        from .pin import open_pinned
        return open_pinned(path)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd={self.fd}"
        name = f" {self.name!r}" if self.name else ""
        return (f"<{self.backend} Map {self.spec.type_name}{name} key={self.key_size} "
                f"value={self.value_size} max={self.max_entries} {state}>")


_M = TypeVar("_M", bound="Map")


def populate(m: _M, spec: MapSpec, backend: str) -> _M:
    """Write a new map's `contents` (inner MapSpecs are created on `backend`), freeze it
    if the spec says so; close it again if any of that fails."""
    try:
        for key, value in spec.contents:
            if isinstance(value, MapSpec) and get_backend(backend).caps.fd_handles:
                with value.create(backend) as sub:  # the kernel holds its own reference
                    m.update(key, sub)
            elif isinstance(value, MapSpec):
                m.update(key, value.create(backend))  # the VM map keeps the object
            elif spec.key_size == 0:
                m.push(value)
            else:
                m.update(key, value)
        if spec.freeze:
            m.freeze()
    except BaseException:
        m.close()
        raise
    return m
