"""An object's maps and globals as typed Python data, from the object's BTF.

* `attach_types(obj)` gives each map of an instantiated object the codecs of its BTF
  key and value types, so `obj.maps[name].typed` decodes them (data sections decode to
  a dict of their variables).
* `Globals` (`obj.globals`): the `.bss`/`.data`/`.rodata` variables after
  instantiation, read and written like a libbpf skeleton's
  (`obj.globals.rate_limit_pps`, `obj.globals["name"] = 5`). `.rodata` (and `.kconfig`)
  are read-only once loaded, on both backends: the verifier has used their values.
* `encode_global(spec, name, value)`: a typed value's bytes for `ObjectSpec.set_global`.
"""

from __future__ import annotations

from typing import Any, Iterator

from ..btf.codec import DatasecCodec, TypeCodec
from ..errors import PyBPFError
from ..spec import ObjectSpec
from ..spec.globals import find_global, encode_global, is_read_only, section_codec
from .errors import GlobalValueError, GlobalVarError, ReadOnlyGlobalError, UnknownGlobalError

__all__ = ["attach_types", "section_codec", "Globals", "GlobalError", "UnknownGlobalError",
           "ReadOnlyGlobalError", "GlobalValueError", "encode_global", "is_read_only"]

_FD_VALUE_MAPS = ("prog_array", "array_of_maps", "hash_of_maps", "perf_event_array",
                  "ringbuf", "user_ringbuf")


GlobalError = GlobalVarError  # the name this module used first


def attach_types(obj: Any) -> None:
    """Set the key and value codecs of every map of `obj` from its spec's BTF."""
    spec: ObjectSpec = obj.spec
    sections = {g.map for g in spec.globals.values()}
    for name, m in obj.maps.items():
        mspec = spec.maps.get(name)
        if mspec is None:
            continue
        try:
            if name in sections:
                m.value_codec = section_codec(spec, name)
                continue
            if mspec.type_name in _FD_VALUE_MAPS:
                continue
            btf = spec.btf
            if isinstance(mspec.key_type, int) and mspec.key_type > 0 and btf is not None:
                m.key_codec = TypeCodec(btf, mspec.key_type, mspec.key_size)
            if isinstance(mspec.value_type, int) and mspec.value_type > 0 and btf is not None:
                m.value_codec = TypeCodec(btf, mspec.value_type, mspec.value_size)
        except PyBPFError as e:  # BTF that cannot type the map: it stays bytes
            obj.warnings.append(f"map {name}: no typed access ({e})")


class Globals:
    """The global variables of an instantiated object (see the module docstring).
    Reading gives the value now in the map; writing updates the variable's section
    (the whole section value is written back: write while no program runs)."""

    def __init__(self, obj: Any) -> None:
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_codecs", {})

    def _codec(self, section: str) -> DatasecCodec:
        codecs = self._codecs
        if section not in codecs:
            codecs[section] = section_codec(self._obj.spec, section)
        return codecs[section]

    def _section_bytes(self, section: str) -> bytes:
        m = self._obj.maps[section]
        return bytes(m.lookup(b"\0\0\0\0"))

    def __getitem__(self, name: str) -> Any:
        var = find_global(self._obj.spec, name)
        raw = self._section_bytes(var.map)
        try:
            return self._codec(var.map).decode_var(name, raw)
        except PyBPFError as e:
            raise GlobalValueError(name, f"global {name}: {e}") from None

    def __setitem__(self, name: str, value: Any) -> None:
        var = find_global(self._obj.spec, name)
        if is_read_only(var.map):
            raise ReadOnlyGlobalError(
                name, f"global {name} is in {var.map}, which is read-only once the object is "
                f"loaded (the verifier has used its value); set it before instantiate() "
                f"with spec.set_global({name!r}, ...)")
        codec = self._codec(var.map)
        raw = bytearray(self._section_bytes(var.map))
        try:
            new = codec.encode_var(name, value, base=bytes(raw))
        except PyBPFError as e:
            raise GlobalValueError(name, f"global {e}") from None
        raw[var.offset:var.offset + var.size] = new
        self._obj.maps[var.map].update(b"\0\0\0\0", bytes(raw))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except UnknownGlobalError as e:
            raise AttributeError(str(e)) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __contains__(self, name: object) -> bool:
        return name in self._obj.spec.globals

    def __iter__(self) -> Iterator[str]:
        return iter(self._obj.spec.globals)

    def __len__(self) -> int:
        return len(self._obj.spec.globals)

    def __dir__(self) -> list[str]:
        return sorted(set(self._obj.spec.globals) | set(type(self).__dict__))

    def keys(self) -> list[str]:
        return list(self._obj.spec.globals)

    def section(self, name: str) -> dict[str, Any]:
        """Every variable of data section `name` ({} when it has none)."""
        if name not in self._obj.maps:
            return {}
        raw = self._section_bytes(name)
        codec = self._codec(name)
        out = {}
        for var in codec.vars:
            try:
                out[var] = codec.decode_var(var, raw)
            except PyBPFError:
                out[var] = raw[codec.vars[var].offset:
                               codec.vars[var].offset + codec.vars[var].size]
        return out

    def to_dict(self, sections: tuple[str, ...] | None = None) -> dict[str, dict[str, Any]]:
        """{section: {variable: value}} for the data sections (all, or those named)."""
        names = sorted({g.map for g in self._obj.spec.globals.values()})
        return {s: self.section(s) for s in names
                if sections is None or any(s == p or s.startswith(p + ".") for p in sections)}

    def __repr__(self) -> str:
        return f"<globals of {self._obj!r}: {', '.join(self.keys())}>"
