"""The special fields of a map value, from the object's BTF (the kernel's btf_record):
a `struct bpf_spin_lock`, `struct bpf_timer` or `struct bpf_wq` member, at any depth of
nested structs. A program may not load or store over them ("bpf_spin_lock cannot be
accessed directly by load/store"), and bpf_spin_lock()'s argument must point at the
value's one lock. A map without BTF types has none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# the struct names that are special fields, and the kernel's name for each
SPECIAL = {"bpf_spin_lock": "bpf_spin_lock", "bpf_timer": "bpf_timer", "bpf_wq": "bpf_wq"}
_MAX_DEPTH = 8  # nested structs followed (the kernel's btf_find_nested_struct depth)


@dataclass(frozen=True)
class Field:
    """One special field: its kernel name, byte offset in the value and size."""

    name: str
    off: int
    size: int


@dataclass(frozen=True)
class MapFields:
    """The special fields of one map's value (empty: none, or no BTF)."""

    typed: bool  # the map has BTF key/value types (bpf_spin_lock needs them)
    fields: tuple[Field, ...] = ()

    def offset_of(self, name: str) -> int | None:
        return next((f.off for f in self.fields if f.name == name), None)

    def has(self, name: str) -> bool:
        return any(f.name == name for f in self.fields)


NONE = MapFields(False)


def _as_btf(btf: Any) -> Any:
    if btf is None or hasattr(btf, "skip_mods"):
        return btf
    from ..btf import parse
    return parse(bytes(btf), lazy=True)


def _walk(btf: Any, type_id: int, base: int, depth: int, out: list[Field]) -> None:
    from ..btf import BtfKind
    t = btf[btf.resolve(type_id)]
    if t.kind not in (BtfKind.STRUCT, BtfKind.UNION) or depth > _MAX_DEPTH:
        return
    for m in t.members:
        mt = btf[btf.resolve(m.type)]
        off = base + m.offset // 8
        if mt.kind == BtfKind.STRUCT and mt.name in SPECIAL:
            out.append(Field(SPECIAL[mt.name], off, mt.size))
        elif mt.kind in (BtfKind.STRUCT, BtfKind.UNION):
            _walk(btf, btf.resolve(m.type), off, depth + 1, out)


class FieldCache:
    """map_fields() for one verification: the BTF parsed once, each map's fields once."""

    def __init__(self, btf: Any) -> None:
        self._raw = btf
        self._btf: Any = None
        self._maps: dict[int, tuple[Any, MapFields]] = {}

    def of(self, mspec: Any) -> MapFields:
        got = self._maps.get(id(mspec))
        if got is not None:
            return got[1]
        value_type = getattr(mspec, "value_type", None)
        if not isinstance(value_type, int) or isinstance(value_type, bool) \
                or value_type <= 0 or self._raw is None:
            fields = NONE
        else:
            try:
                if self._btf is None:
                    self._btf = _as_btf(self._raw)
                out: list[Field] = []
                _walk(self._btf, value_type, 0, 0, out)
                fields = MapFields(True, tuple(sorted(out, key=lambda f: f.off)))
            except Exception:  # noqa: BLE001 - BTF the loader took but that does not resolve
                fields = MapFields(True)
        self._maps[id(mspec)] = (mspec, fields)  # the spec kept: its id stays its own
        return fields
