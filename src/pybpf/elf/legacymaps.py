"""Maps defined before BTF, in the `maps` section (or one `maps/<name>` section per
map, as gobpf, cilium/ebpf and PREVAIL read them): libbpf's and samples/bpf's
`struct bpf_map_def` and iproute2's (and cilium's) `struct bpf_elf_map`, with the
map-in-map and tail-call conventions each loader applies to them.

- `struct bpf_map_def` {type, key_size, value_size, max_entries, map_flags,
  inner_map_idx, numa_node} (libbpf reads the first five): a map of maps takes as its
  inner map the `inner_map_idx`-th definition, counted in offset order (samples/bpf's
  bpf_load.c) and, across `maps/<name>` sections, in section order (PREVAIL).
- `struct bpf_elf_map` {type, size_key, size_value, max_elem, flags, id, pinning,
  inner_id, inner_idx}: a map of maps takes as its inner map the map whose `id` is its
  `inner_id`; that map (id set, no inner_id, inner_idx not -1) is also stored in it at
  key `inner_idx`; a program in section "<id>/<key>" goes into the prog_array whose `id`
  is <id>, at <key> (iproute2's tail-call sections, e.g. cilium's "2/1"). Its `pinning`
  PIN_OBJECT_NS (1) and PIN_GLOBAL_NS (2) become Pinning.IPROUTE2_OBJECT_NS and
  Pinning.IPROUTE2_GLOBAL_NS (pinned, as iproute2 does, at <bpffs>/tc/<object sha1>/<name>
  and <bpffs>/tc/globals/<name>); custom values (subdirectories iproute2 looks up in
  /etc/iproute2/bpf_pinning on the loading machine) are not pinned, with a warning.

Which struct a definition is comes from its BTF type name when the object has BTF,
else from its size (36 bytes: bpf_elf_map). Shorter definitions read as zeros past
their end, as both loaders do. A 28-byte definition without BTF is either samples/bpf's
bpf_map_def or iproute2's bpf_elf_map before map-in-map (ending at `pinning`): it is
read as the former, and its sixth word also serves as the tail-call `id`. A struct
`____btf_map_<name>` {key; value;} in BTF (iproute2's BPF_ANNOTATE_KV_PAIR, which libbpf
also reads) types the map's keys and values.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Any, Callable

from ..maps.spec import Pinning
from ..uapi import MapType

BPF_MAP_DEF = ("type", "key_size", "value_size", "max_entries", "map_flags",
               "inner_map_idx", "numa_node")
BPF_ELF_MAP = ("type", "size_key", "size_value", "max_elem", "flags", "id", "pinning",
               "inner_id", "inner_idx")
ELF_MAP_SIZE = 4 * len(BPF_ELF_MAP)
OLD_ELF_MAP_SIZE = 28  # iproute2's bpf_elf_map before inner_id and inner_idx
MIN_DEF_SIZE = 16  # type, key, value and max_entries: the least either loader reads
MAP_TYPE_PROG_ARRAY = int(MapType.PROG_ARRAY)
MAP_IN_MAP_TYPES = (int(MapType.ARRAY_OF_MAPS), int(MapType.HASH_OF_MAPS))
NO_INDEX = 0xFFFFFFFF  # inner_idx -1: not stored in the outer map
PIN_OBJECT_NS, PIN_GLOBAL_NS = 1, 2  # iproute2's bpf_elf.h
_TAIL_SECTION = re.compile(r"(\d+)/(\d+)")


def _err(msg: str) -> Exception:
    from . import ELFError
    return ELFError(msg)


@dataclass(frozen=True)
class LegacyMap:
    """One legacy map definition, its fields by the struct's member names."""

    name: str
    offset: int
    layout: str  # "bpf_map_def" or "bpf_elf_map"
    fields: dict[str, int]
    present: int = 0  # how many of the struct's fields the definition holds

    @property
    def names_inner(self) -> bool:
        """Whether the definition is long enough to hold its inner-map field."""
        field_name = "inner_id" if self.layout == "bpf_elf_map" else "inner_map_idx"
        names = BPF_ELF_MAP if self.layout == "bpf_elf_map" else BPF_MAP_DEF
        return self.present > names.index(field_name)

    @property
    def is_map_in_map(self) -> bool:
        return self.fields["type"] in MAP_IN_MAP_TYPES


@dataclass
class LegacyMaps:
    """The legacy maps as MapSpecs, their initial slots, and their definitions."""

    specs: dict[str, Any] = field(default_factory=dict)
    values: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    defs: list[LegacyMap] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def tail_call_slot(self, section: str) -> tuple[str, int] | None:
        """(prog_array name, key) for an iproute2 tail-call section "<id>/<key>"."""
        m = _TAIL_SECTION.fullmatch(section)
        if m is None:
            return None
        map_id, key = int(m.group(1)), int(m.group(2))
        for d in self.defs:
            if d.fields.get("id") == map_id and d.fields["type"] == MAP_TYPE_PROG_ARRAY:
                return d.name, key
        return None


def _btf_struct_name(btf: Any, var_name: str) -> str:
    """The struct name of the BTF variable `var_name` ("" when unknown)."""
    if btf is None:
        return ""
    try:
        from ..btf.types import BtfKind
        ids = btf.find(var_name, BtfKind.VAR)
        if len(ids) != 1:
            return ""
        return str(btf[btf.resolve(btf[ids[0]].type)].name)
    except Exception:  # noqa: BLE001 - BTF is a hint here; the size decides without it
        return ""


def _kv_types(btf: Any, name: str) -> tuple[int | None, int | None]:
    """The key and value type ids BPF_ANNOTATE_KV_PAIR gives map `name`, if any."""
    if btf is None:
        return None, None
    try:
        from ..btf.types import BtfKind
        ids = btf.find(f"____btf_map_{name}", BtfKind.STRUCT)
        if len(ids) != 1:
            return None, None
        members = {m.name: m.type for m in btf[ids[0]].members}
        return members.get("key") or None, members.get("value") or None
    except Exception:  # noqa: BLE001 - a type annotation is optional decoration
        return None, None


def _layout(struct_name: str, size: int) -> str:
    if struct_name == "bpf_elf_map":
        return "bpf_elf_map"
    if struct_name in ("bpf_map_def", "bpf_load_map_def"):
        return "bpf_map_def"
    return "bpf_elf_map" if size == ELF_MAP_SIZE else "bpf_map_def"


def read_defs(body: bytes, syms: list[Any], btf: Any, section: str = "maps"
              ) -> list[LegacyMap]:
    """The definitions at the symbols of the section (sorted by offset), each `size`
    bytes (its symbol's st_size, else up to the next symbol or the section's end)."""
    defs: list[LegacyMap] = []
    for i, sym in enumerate(syms):
        end = syms[i + 1].value if i + 1 < len(syms) else len(body)
        size = sym.size or end - sym.value
        raw = body[sym.value:sym.value + size]
        if size < MIN_DEF_SIZE or len(raw) < size:
            raise _err(f"map {sym.name} in section {section} is {size} bytes at offset "
                       f"{sym.value}"
                       f"{' (past the end of the section)' if len(raw) < size else ''}: too "
                       f"small for struct bpf_map_def or struct bpf_elf_map (at least "
                       f"{MIN_DEF_SIZE} bytes)")
        struct_name = _btf_struct_name(btf, sym.name)
        layout = _layout(struct_name, size)
        names = BPF_ELF_MAP if layout == "bpf_elf_map" else BPF_MAP_DEF
        n = min(size // 4, len(names))
        words = struct.unpack_from(f"<{n}I", raw) + (0,) * (len(names) - n)
        fields = dict(zip(names, words))
        if not struct_name and size == OLD_ELF_MAP_SIZE:  # maybe an old bpf_elf_map
            fields["id"] = fields["inner_map_idx"]
        defs.append(LegacyMap(sym.name, sym.value, layout, fields, n))
    return defs


def _inner(d: LegacyMap, defs: list[LegacyMap]) -> LegacyMap:
    """The definition a map of maps names as its inner map."""
    f = d.fields
    if d.layout == "bpf_elf_map":
        found = next((o for o in defs if o.fields.get("id") == f["inner_id"] and o is not d
                      and f["inner_id"]), None)
        if found is None:
            raise _err(f"map {d.name} (struct bpf_elf_map) is a map of maps whose inner_id "
                       f"{f['inner_id']} is the id of no other legacy map")
    else:
        idx = f["inner_map_idx"]
        found = defs[idx] if idx < len(defs) else None
        if found is None or found is d:
            raise _err(f"map {d.name} (struct bpf_map_def) is a map of maps whose "
                       f"inner_map_idx {idx} is not another of its {len(defs)} legacy maps")
    if found.is_map_in_map:
        raise _err(f"map {d.name}: its inner map {found.name} is itself a map of maps")
    return found


def _pinning(d: LegacyMap, warnings: list[str]) -> Pinning:
    """The Pinning of an iproute2 definition's `pinning` (iproute2's namespaces)."""
    pinning = d.fields["pinning"]
    if pinning == PIN_GLOBAL_NS:
        return Pinning.IPROUTE2_GLOBAL_NS
    if pinning == PIN_OBJECT_NS:
        return Pinning.IPROUTE2_OBJECT_NS
    if pinning:
        warnings.append(f"map {d.name}: iproute2's custom pinning {pinning} (a subdirectory "
                        "named in /etc/iproute2/bpf_pinning) is not supported; the map is not "
                        "pinned")
    return Pinning.NONE


def _spec(d: LegacyMap, make_spec: Callable[..., Any], btf: Any, warnings: list[str],
          inner: Any = None) -> Any:
    """The MapSpec of a definition. A map of maps' values are inner-map fds, 4 bytes when
    the definition gives no size (samples/bpf's loader always creates them so)."""
    f = d.fields
    key_type, value_type = _kv_types(btf, d.name)
    fd_size = 4 if d.is_map_in_map else 0
    if d.layout == "bpf_elf_map":
        return make_spec(type=f["type"], key_size=f["size_key"],
                         value_size=f["size_value"] or fd_size,
                         max_entries=f["max_elem"], flags=f["flags"], name=d.name,
                         pinning=_pinning(d, warnings), inner=inner, key_type=key_type,
                         value_type=value_type)
    return make_spec(type=f["type"], key_size=f["key_size"],
                     value_size=f["value_size"] or fd_size,
                     max_entries=f["max_entries"], flags=f["map_flags"], name=d.name,
                     inner=inner, key_type=key_type, value_type=value_type)


def parse_legacy_maps(sections: list[tuple[str, bytes, list[Any]]], btf: Any,
                      make_spec: Callable[..., Any]) -> LegacyMaps:
    """MapSpecs for the definitions of the legacy map sections, given as (name, data,
    symbols sorted by offset) in section order (inner maps first, so that a map of
    maps carries its inner map's spec), and iproute2's initial inner-map slots."""
    out = LegacyMaps(defs=[d for name, body, syms in sections
                           for d in read_defs(body, syms, btf, name)])
    for d in out.defs:
        if not d.is_map_in_map:
            out.specs[d.name] = _spec(d, make_spec, btf, out.warnings)
    for d in out.defs:
        if d.is_map_in_map:  # a definition too short to name one gets none, to be set
            template = out.specs[_inner(d, out.defs).name].with_(pinning=0) \
                if d.names_inner else None
            out.specs[d.name] = _spec(d, make_spec, btf, out.warnings, inner=template)
    for d in out.defs:  # iproute2: an inner map with an id and an index is stored
        f = d.fields
        if d.layout != "bpf_elf_map" or not f["id"] or f["inner_id"] or \
                f["inner_idx"] == NO_INDEX:
            continue
        for outer in out.defs:
            if outer.is_map_in_map and outer.layout == "bpf_elf_map" and \
                    outer.fields["inner_id"] == f["id"]:
                out.values.setdefault(outer.name, []).append((f["inner_idx"], d.name))
    # keep the section's order in the object's map listing
    out.specs = {d.name: out.specs[d.name] for d in out.defs}
    return out
