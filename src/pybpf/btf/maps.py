"""BTF-defined maps: the `.maps` section convention of libbpf's bpf_helpers.h, where

    struct {
        __uint(type, BPF_MAP_TYPE_HASH);     // int (*type)[BPF_MAP_TYPE_HASH]
        __uint(max_entries, 16);
        __type(key, struct key);             // struct key *key
        __type(value, __u64);
        __array(values, struct inner_map);   // struct inner_map *values[]
        __ulong(map_extra, 1ULL << 40);      // enum { ... = 1ULL << 40 } map_extra
    } my_map SEC(".maps");

encodes each attribute in a member's *type*. `parse_map_def` reads one such variable
back into a `BtfMapDef` (the values a loader passes to BPF_MAP_CREATE)."""

from __future__ import annotations

from dataclasses import dataclass

from .blob import Btf
from .errors import BTFError
from .types import Array, Datasec, Enum, Enum64, FuncProto, Ptr, Struct, Var

__all__ = ["BtfMapDef", "parse_map_def", "parse_maps_section"]

_UINT_FIELDS = ("type", "max_entries", "map_flags", "numa_node", "pinning", "key_size",
                "value_size")


@dataclass
class BtfMapDef:
    """One map definition. Sizes come from `key`/`value` types when given that way;
    `inner` is the template of a map-in-map's inner map, `values_proto` set when a
    prog array lists programs (`__array(values, int (void *))`)."""

    name: str
    type: int = 0
    max_entries: int = 0
    map_flags: int = 0
    numa_node: int = 0
    pinning: int = 0
    map_extra: int = 0
    key_size: int = 0
    value_size: int = 0
    key_type_id: int = 0
    value_type_id: int = 0
    inner: BtfMapDef | None = None
    values_proto: int = 0


def _uint(btf: Btf, type_id: int, where: str) -> int:
    """`__uint(name, N)`: a pointer to an array of N elements."""
    t = btf[btf.resolve(type_id)]
    if not isinstance(t, Ptr):
        raise BTFError(f"{where}: expected __uint() (a pointer to an array), got "
                       f"{t.kind.name}")
    arr = btf[btf.resolve(t.type)]
    if not isinstance(arr, Array):
        raise BTFError(f"{where}: expected __uint() (a pointer to an array), got a pointer "
                       f"to {arr.kind.name}")
    return arr.nelems


def _ulong(btf: Btf, type_id: int, where: str) -> int:
    """`__ulong(name, N)`: an enum whose only enumerator is N."""
    t = btf[btf.resolve(type_id)]
    if not isinstance(t, (Enum, Enum64)) or len(t.values) != 1:
        raise BTFError(f"{where}: expected __ulong() (an enum with one value)")
    return t.values[0].value & 0xFFFFFFFFFFFFFFFF


def _type_ptr(btf: Btf, type_id: int, where: str) -> int:
    """`__type(name, T)`: a pointer to T; returns T's id."""
    t = btf[btf.resolve(type_id)]
    if not isinstance(t, Ptr):
        raise BTFError(f"{where}: expected __type() (a pointer), got {t.kind.name}")
    return t.type


def parse_map_def(btf: Btf, type_id: int, name: str = "") -> BtfMapDef:
    """Read the map definition of a `.maps` VAR (or of its struct type). BTFError names
    the map and the member that is not in the expected form, or is unknown."""
    return _parse_map_def(btf, type_id, name, 0)


def _parse_map_def(btf: Btf, type_id: int, name: str, depth: int) -> BtfMapDef:
    t = btf[type_id]
    if isinstance(t, Var):
        name = name or t.name
        type_id = t.type
    where = f"map {name or '(anon)'}"
    st = btf[btf.resolve(type_id)]
    if not isinstance(st, Struct):
        raise BTFError(f"{where}: definition is a {st.kind.name}, not a struct")
    d = BtfMapDef(name)
    for m in st.members:
        mw = f"{where}.{m.name}"
        if m.name in _UINT_FIELDS:
            setattr(d, m.name, _uint(btf, m.type, mw))
        elif m.name == "map_extra":
            d.map_extra = _ulong(btf, m.type, mw)
        elif m.name in ("key", "value"):
            tid = _type_ptr(btf, m.type, mw)
            size = btf.size_of(tid)
            old = getattr(d, f"{m.name}_size")
            if old and old != size:
                raise BTFError(f"{mw}: {m.name}_size {old} conflicts with the "
                               f"{size}-byte {m.name} type")
            setattr(d, f"{m.name}_size", size)
            setattr(d, f"{m.name}_type_id", tid)
        elif m.name == "values":
            arr = btf[btf.resolve(m.type)]
            if not isinstance(arr, Array) or arr.nelems != 0:
                raise BTFError(f"{mw}: expected __array() (a zero-length array of "
                               f"pointers)")
            elem = btf[btf.resolve(arr.type)]
            if not isinstance(elem, Ptr):
                raise BTFError(f"{mw}: __array() elements must be pointers")
            target = btf.resolve(elem.type)
            if isinstance(btf[target], FuncProto):
                d.values_proto = target
            else:
                if depth:
                    raise BTFError(f"{mw}: inner maps cannot have inner maps")
                d.inner = _parse_map_def(btf, target, f"{name}.inner", depth + 1)
            if not d.value_size:
                d.value_size = 4  # map fds / prog fds
        else:
            raise BTFError(f"{where}: unknown map attribute {m.name!r}")
    return d


def parse_maps_section(btf: Btf, section: str = ".maps") -> dict[str, BtfMapDef]:
    """Every map of the `.maps` DATASEC, by variable name (empty when there is none)."""
    out: dict[str, BtfMapDef] = {}
    for _, t in btf.items():
        if isinstance(t, Datasec) and t.name == section:
            for v in t.vars:
                d = parse_map_def(btf, v.type)
                out[d.name] = d
    return out
