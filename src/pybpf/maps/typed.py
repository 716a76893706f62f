"""`TypedMap`: a map's keys and values as Python data instead of bytes, through the
codecs its object gave it (BTF types: ints, dicts for structs, lists for arrays, str
for char arrays; see pybpf.btf.values), on either backend.

    stats = obj.maps["rate_table"].typed
    dict(stats)                      # {3232235786: {"window_start_ns": ..., "count": 7}}
    stats[0x0A000001] = {"count": 1} # unset members are 0
    obj.maps["fw_stats"].typed.sum(0)     # a per-CPU value summed over the CPUs

A side the object has no BTF type for stays bytes. Struct keys decode to `Record`s
(dicts that can be dict keys) and arrays in keys to tuples, so `dict(typed)` works.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any, Iterator, Protocol

from ..uapi import BPF_ANY

if TYPE_CHECKING:
    from .base import Map

__all__ = ["TypedMap", "Record", "percpu_sum", "Codec"]


class Codec(Protocol):
    """What a typed view needs of a key or value type (pybpf.btf.TypeCodec is one)."""

    size: int

    @property
    def typed(self) -> bool: ...

    def decode(self, data: bytes) -> Any: ...

    def encode(self, value: Any, *, text_ints: bool = False,
               base: bytes | None = None) -> bytes: ...


class RawCodec:
    """The codec of a side without a type: bytes as they are (ints little-endian)."""

    typed = False

    def __init__(self, size: int) -> None:
        self.size = size

    def decode(self, data: bytes) -> Any:
        return bytes(data)

    def encode(self, value: Any, *, text_ints: bool = False,
               base: bytes | None = None) -> bytes:
        from .spec import to_bytes
        return to_bytes(value, self.size, "value")


class Record(dict):
    """A decoded struct used as a key: a dict that is hashable (treat it as frozen)."""

    def __hash__(self) -> int:  # type: ignore[override]  # dict's is None
        return hash(tuple(self.items()))


def _hashable(v: Any) -> Any:
    if isinstance(v, dict):
        return Record((k, _hashable(x)) for k, x in v.items())
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    return v


def percpu_sum(values: list[Any]) -> Any:
    """One value from per-CPU values: numbers add up (bools: any), structs member by
    member, arrays element by element; anything else (strings, enum names) is the
    common value, or the list of the CPUs' values when they differ."""
    if not values:
        return None
    first = values[0]
    if all(isinstance(v, bool) for v in values):
        return any(values)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return sum(values)
    if all(isinstance(v, dict) for v in values) and all(v.keys() == first.keys()
                                                       for v in values):
        return {k: percpu_sum([v[k] for v in values]) for k in first}
    if all(isinstance(v, (list, tuple)) for v in values) and \
            len({len(v) for v in values}) == 1:
        return [percpu_sum([v[i] for v in values]) for i in range(len(first))]
    return first if all(v == first for v in values) else list(values)


class TypedMap(MutableMapping):
    """A typed view of `m` (see the module docstring). Per-CPU values are lists, one
    per possible CPU; writing one value to a per-CPU map writes it on every CPU, as
    the byte API does. Writing a partial struct to an existing key keeps the members it
    does not name (`m.typed[k] = {"count": 0}`)."""

    def __init__(self, m: "Map", key_codec: Codec | None = None,
                 value_codec: Codec | None = None) -> None:
        self.map = m
        self.key_codec: Codec = key_codec or getattr(m, "key_codec", None) or \
            RawCodec(m.key_size)
        self.value_codec: Codec = value_codec or getattr(m, "value_codec", None) or \
            RawCodec(m.value_size)

    # --- conversions ---------------------------------------------------------------------
    def encode_key(self, key: Any, *, text_ints: bool = False) -> bytes:
        return self.key_codec.encode(key, text_ints=text_ints)

    def decode_key(self, raw: bytes) -> Any:
        return _hashable(self.key_codec.decode(raw))

    def decode_value(self, raw: Any) -> Any:
        if isinstance(raw, list):
            return [self.value_codec.decode(r) for r in raw]
        return self.value_codec.decode(raw)

    def encode_value(self, value: Any, *, base: Any = None, text_ints: bool = False) -> Any:
        """Bytes for the map (per-CPU: a list of bytes, or one value for every CPU)."""
        if self.map.percpu and isinstance(value, (list, tuple)) and \
                len(value) == self.map.ncpus and not self._is_one_value(value):
            bases = base if isinstance(base, list) else [None] * len(value)
            return [self.value_codec.encode(v, text_ints=text_ints, base=b)
                    for v, b in zip(value, bases)]
        if isinstance(base, list):
            return [self.value_codec.encode(value, text_ints=text_ints, base=b) for b in base]
        return self.value_codec.encode(value, text_ints=text_ints, base=base)

    def _is_one_value(self, value: Any) -> bool:
        """Whether a list given for a per-CPU map is one value (the value type is an
        array) rather than one value per CPU."""
        if not self.value_codec.typed:
            return False
        try:
            self.value_codec.encode(list(value))
        except Exception:  # noqa: BLE001 - not a value of the type: a list per CPU
            return False
        return True

    # --- mapping protocol ------------------------------------------------------------------
    def __getitem__(self, key: Any) -> Any:
        return self.decode_value(self.map.lookup(self.encode_key(key)))

    def __setitem__(self, key: Any, value: Any) -> None:
        self.put(key, value)

    def put(self, key: Any, value: Any, flags: int = BPF_ANY, *,
            text_ints: bool = False) -> None:
        """BPF_MAP_UPDATE_ELEM with `flags`; a partial struct keeps the members of the
        current value it does not name (absent key: they are 0)."""
        k = self.encode_key(key, text_ints=text_ints)
        base = None
        if isinstance(value, dict) and self.value_codec.typed:
            try:
                base = self.map.lookup(k)
            except KeyError:  # no current value: the members not named are 0
                base = None
        self.map.update(k, self.encode_value(value, base=base, text_ints=text_ints), flags)

    def __delitem__(self, key: Any) -> None:
        self.map.delete(self.encode_key(key))

    def __iter__(self) -> Iterator[Any]:
        for raw in self.map.keys():
            yield self.decode_key(raw)

    def __len__(self) -> int:
        return len(self.map)

    def __contains__(self, key: object) -> bool:
        try:
            k = self.encode_key(key)
        except Exception:  # noqa: BLE001 - not a key of this type
            return False
        return k in self.map

    def items(self) -> Iterator[tuple[Any, Any]]:  # type: ignore[override]  # lazy, not a view
        for raw_k, raw_v in self.map.items():
            yield self.decode_key(raw_k), self.decode_value(raw_v)

    def values(self) -> Iterator[Any]:  # type: ignore[override]  # lazy, not a view
        for _, v in self.items():
            yield v

    # --- per-CPU ---------------------------------------------------------------------------
    def sum(self, key: Any) -> Any:
        """The value of `key` summed over the CPUs (see percpu_sum); a map that is not
        per-CPU gives its value."""
        v = self[key]
        return percpu_sum(v) if self.map.percpu else v

    def summed(self) -> dict[Any, Any]:
        """{key: value summed over the CPUs} for every key."""
        return {k: percpu_sum(v) if self.map.percpu else v for k, v in self.items()}

    def __repr__(self) -> str:
        return f"<typed {self.map!r}>"
