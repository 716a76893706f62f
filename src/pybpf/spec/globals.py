"""A spec's global variables as typed data: the codec of a data section from the
object's BTF, and the bytes of a typed value for `ObjectSpec.set_global`. Pure data (no
backend), so the spec itself can use it; pybpf.objects.typed builds on it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..btf.codec import DatasecCodec, SectionVar, datasec_vars
from ..errors import PyBPFError
from .errors import GlobalValueError, UnknownGlobalError

if TYPE_CHECKING:
    from .objectspec import ObjectSpec

__all__ = ["is_read_only", "section_codec", "find_global", "encode_global"]


def is_read_only(section: str) -> bool:
    """Whether a data section is constant once loaded (frozen, BPF_F_RDONLY_PROG)."""
    return section.startswith(".rodata") or section == ".kconfig"


def section_codec(spec: ObjectSpec, section: str) -> DatasecCodec:
    """The codec of data section `section`'s value: its globals, typed by BTF."""
    symbols = {g.name: (g.offset, g.size) for g in spec.globals.values() if g.map == section}
    own = {g.name: g.type_id for g in spec.globals.values() if g.map == section and g.type_id}
    variables = [SectionVar(v.name, v.offset, v.size, own.get(v.name, v.type_id))
                 for v in datasec_vars(spec.btf, section, symbols)]
    return DatasecCodec(spec.btf, variables, spec.maps[section].value_size)


def find_global(spec: ObjectSpec, name: str) -> Any:
    try:
        return spec.globals[name]
    except KeyError:
        known = ", ".join(sorted(spec.globals)) or "none"
        raise UnknownGlobalError(name, f"no global variable {name!r} (globals: {known})") from None


def encode_global(spec: ObjectSpec, name: str, value: Any, *, text_ints: bool = False) -> bytes:
    """The bytes of global `name` holding `value` (an int, bool, enum name, str for a
    char array, dict for a struct, list for an array, or bytes), typed by BTF; a
    partial struct keeps the members it does not name. GlobalValueError names the
    variable when the value does not fit."""
    var = find_global(spec, name)
    codec = section_codec(spec, var.map)
    try:
        return codec.encode_var(name, value, text_ints=text_ints, base=spec._data(var.map))
    except PyBPFError as e:
        raise GlobalValueError(name, f"global {e}") from None
