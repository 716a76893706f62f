"""BTF-defined maps: the `.maps` section, where each variable's BTF type (an anonymous
struct of `__uint`/`__type`/`__array` members, in libbpf's convention) describes a map.

`__uint(name, n)` is a member `int (*name)[n]`; `__type(name, T)` is `T *name`;
`__array(values, T)` is `T *values[]`, whose slots are filled by relocations against
programs (prog_array) or maps (map-in-map).
"""

from __future__ import annotations

from typing import Any, Callable

from ..btf.types import Array, Datasec, Ptr, Struct, Var

UINT_FIELDS = ("type", "key_size", "value_size", "max_entries", "map_flags", "numa_node",
               "pinning", "map_extra")
R_BPF_64_ABS64 = 2


def _err(msg: str) -> Exception:
    from . import ELFError
    return ELFError(msg)


def _uint(btf: Any, member_type: int, where: str) -> int:
    """The n of `int (*name)[n]`."""
    ptr = btf[btf.skip_mods(member_type)]
    if not isinstance(ptr, Ptr):
        raise _err(f"{where}: expected __uint (a pointer to an array), got {type(ptr).__name__}")
    arr = btf[btf.skip_mods(ptr.type)]
    if not isinstance(arr, Array):
        raise _err(f"{where}: expected __uint (a pointer to an array), got a pointer to "
                   f"{type(arr).__name__}")
    return arr.nelems


def _pointee(btf: Any, member_type: int, where: str) -> int:
    ptr = btf[btf.skip_mods(member_type)]
    if not isinstance(ptr, Ptr):
        raise _err(f"{where}: expected __type (a pointer), got {type(ptr).__name__}")
    return ptr.type


def map_def(btf: Any, struct_id: int, name: str, make_spec: Callable[..., Any]) -> tuple[Any, int]:
    """A MapSpec from a map definition struct, and the bit offset of its `values` member
    (-1 without one)."""
    st = btf[btf.skip_mods(struct_id)]
    if not isinstance(st, Struct):
        raise _err(f"map {name}: its BTF type is {type(st).__name__}, not a struct")
    fields: dict[str, int] = {}
    key_type = value_type = None
    key_size = value_size = None
    inner = None
    values_off = -1
    for m in st.members:
        where = f"map {name}, member {m.name}"
        if m.name in UINT_FIELDS:
            fields[m.name] = _uint(btf, m.type, where)
        elif m.name == "key":
            key_type = _pointee(btf, m.type, where)
            key_size = btf.size_of(key_type)
        elif m.name == "value":
            value_type = _pointee(btf, m.type, where)
            value_size = btf.size_of(value_type)
        elif m.name == "values":
            arr = btf[btf.skip_mods(m.type)]
            if not isinstance(arr, Array):
                raise _err(f"{where}: expected __array (an array of pointers)")
            values_off = m.offset
            elem = btf[btf.skip_mods(arr.type)]
            if not isinstance(elem, Ptr):
                raise _err(f"{where}: array elements are not pointers")
            target = btf[btf.skip_mods(elem.type)]
            if isinstance(target, Struct):  # map-in-map: the inner map's definition
                inner, _ = map_def(btf, elem.type, f"{name}.inner", make_spec)
        else:
            raise _err(f"map {name}: unknown map definition member {m.name!r}")
    if "type" not in fields:
        raise _err(f"map {name}: no map type")
    if key_size is not None and "key_size" in fields and fields["key_size"] != key_size:
        raise _err(f"map {name}: key_size {fields['key_size']} contradicts key type size {key_size}")
    if value_size is not None and "value_size" in fields and fields["value_size"] != value_size:
        raise _err(f"map {name}: value_size {fields['value_size']} contradicts value type size "
                   f"{value_size}")
    ksize = key_size if key_size is not None else fields.get("key_size", 0)
    vsize = value_size if value_size is not None else fields.get("value_size", 0)
    mtype = fields["type"]
    if inner is not None or values_off >= 0:
        # map-in-map and prog_array values are 4-byte fds
        vsize = vsize or 4
        ksize = ksize or 4
    spec = make_spec(type=mtype, key_size=ksize, value_size=vsize,
                     max_entries=fields.get("max_entries", 0), flags=fields.get("map_flags", 0),
                     name=name, inner=inner, map_extra=fields.get("map_extra", 0),
                     pinning=fields.get("pinning", 0), key_type=key_type, value_type=value_type)
    return spec, values_off


def parse_btf_maps(btf: Any, elf: Any, shndx: int, make_spec: Callable[..., Any]
                   ) -> tuple[dict[str, Any], dict[str, list[tuple[int, str]]]]:
    """MapSpecs for the variables of `.maps`, and each map's initial `values` slots as
    (index, symbol name of the program or map) from the section's relocations."""
    try:
        sec_id = btf.find_one(".maps")
    except Exception:  # noqa: BLE001 - reported as the ELF problem it is
        raise _err(".maps section has no DATASEC in BTF") from None
    datasec = btf[sec_id]
    if not isinstance(datasec, Datasec):
        raise _err(".maps in BTF is not a DATASEC")
    symbols = {s.name: s for s in elf.symbols if s.shndx == shndx and s.name}
    maps: dict[str, Any] = {}
    values: dict[str, list[tuple[int, str]]] = {}
    layout: list[tuple[int, int, int, str]] = []  # (start, end, values byte offset, name)
    for vs in datasec.vars:
        var = btf[vs.type]
        if not isinstance(var, Var):
            raise _err(f".maps entry {vs.type} is {type(var).__name__}, not a variable")
        spec, values_off = map_def(btf, var.type, var.name, make_spec)
        maps[var.name] = spec
        sym = symbols.get(var.name)
        start = sym.value if sym is not None else vs.offset
        size = btf.size_of(var.type)
        if values_off >= 0:
            layout.append((start, start + size, start + values_off // 8, var.name))
    layout.sort()
    for off, rtype, symi in elf.relocs.get(shndx, ()):
        if rtype != R_BPF_64_ABS64 or not 0 <= symi < len(elf.symbols):
            continue
        # `values` is a flexible array: its slots run past the struct's BTF size
        owners = [entry for entry in layout if entry[0] <= off]
        if not owners:
            raise _err(f"relocation at {off} in .maps belongs to no map with `values`")
        _, _, vbase, name = owners[-1]
        if off < vbase or (off - vbase) % 8:
            raise _err(f"relocation at {off} in .maps is not a `values` slot of {name}")
        values.setdefault(name, []).append(((off - vbase) // 8, elf.symbols[symi].name))
    return maps, values
