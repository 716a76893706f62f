"""BTF-defined maps: the `.maps` section, where each variable's BTF type (an anonymous
struct of `__uint`/`__type`/`__array` members, in libbpf's convention) describes a map.

pybpf.btf reads each definition; here they become MapSpecs, and the `values` slots
(`__array(values, T)`, filled by relocations against programs or maps) initial values.
"""

from __future__ import annotations

from typing import Any, Callable

from ..btf import BTFError, BtfMapDef, parse_map_def
from ..btf.types import Datasec, Var

R_BPF_64_ABS64 = 2


def _err(msg: str) -> Exception:
    from . import ELFError
    return ELFError(msg)


def _spec(d: BtfMapDef, name: str, make_spec: Callable[..., Any]) -> Any:
    """A MapSpec from a parsed definition (map-in-map and prog_array values are 4-byte
    fds when no sizes are given)."""
    inner = _spec(d.inner, f"{name}.inner", make_spec) if d.inner is not None else None
    fd_values = inner is not None or d.values_proto
    return make_spec(type=d.type, key_size=d.key_size or (4 if fd_values else 0),
                     value_size=d.value_size or (4 if fd_values else 0),
                     max_entries=d.max_entries, flags=d.map_flags, name=name, inner=inner,
                     map_extra=d.map_extra, pinning=d.pinning,
                     key_type=d.key_type_id or None, value_type=d.value_type_id or None)


def _values_offset(btf: Any, var_type: int) -> int:
    """The byte offset of the `values` member of a map definition struct, or -1."""
    st = btf[btf.skip_mods(var_type)]
    for m in getattr(st, "members", ()):
        if m.name == "values":
            return m.offset // 8
    return -1


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
        try:
            maps[var.name] = _spec(parse_map_def(btf, var.type, var.name), var.name, make_spec)
        except BTFError as e:
            raise _err(f"map {var.name}: {e}") from None
        sym = symbols.get(var.name)
        start = sym.value if sym is not None else vs.offset
        values_off = _values_offset(btf, var.type)
        if values_off >= 0:
            layout.append((start, start, start + values_off, var.name))
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


def datasec_type(btf: Any, section: str) -> int | None:
    """The BTF id of data section `section`'s DATASEC (the value type of its map, as
    libbpf creates .data/.rodata/.bss/.kconfig maps; their key type is none), or None."""
    if btf is None:
        return None
    from ..btf.types import BtfKind
    ids = [i for i in btf.find(section, BtfKind.DATASEC) if i >= btf.start_id]
    return ids[0] if len(ids) == 1 else None
