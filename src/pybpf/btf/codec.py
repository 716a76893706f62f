"""Codecs: one BTF type (or a data section's variables) as a bytes <-> Python data
converter of a fixed size, the piece a typed map view and typed globals share.

`TypeCodec(btf, type_id, size)` decodes and encodes with `decode_value` /
`encode_value`; with no type (a map side without BTF) it passes bytes through and
takes ints (little-endian, sized) or hex text. `DatasecCodec` is a data section
(`.data`, `.bss`, `.rodata`) as a dict of its variables, laid out by the ELF symbols.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .blob import Btf
from .errors import BTFError
from .types import Datasec, Var
from .values import decode_value, encode_value

__all__ = ["TypeCodec", "DatasecCodec", "SectionVar", "datasec_vars"]


@dataclass(frozen=True)
class TypeCodec:
    """Values of `size` bytes as BTF type `type_id` of `btf` (None: untyped bytes)."""

    btf: Btf | None
    type_id: int | None
    size: int

    @property
    def typed(self) -> bool:
        return self.btf is not None and bool(self.type_id)

    def decode(self, data: bytes) -> Any:
        """Python data (bytes when untyped)."""
        if self.btf is None or not self.type_id:  # (not self.typed)
            return bytes(data)
        return decode_value(self.btf, self.type_id, data)

    def encode(self, value: Any, *, text_ints: bool = False, base: bytes | None = None,
               path: str = "") -> bytes:
        """`value` as exactly `size` bytes. Untyped: bytes, an int (little-endian) or hex
        text; typed: what encode_value takes (a partial struct keeps `base`'s bytes).
        Errors begin with `path` (a variable name) when given."""
        where = f"{path}: " if path else ""
        if isinstance(value, (bytes, bytearray, memoryview)):
            raw = bytes(value)
            if len(raw) != self.size:
                raise BTFError(f"{where}{len(raw)} bytes given for a {self.size}-byte value")
            return raw
        if self.btf is None or not self.type_id:  # (not self.typed)
            try:
                return _untyped(value, self.size)
            except BTFError as e:
                raise BTFError(f"{where}{e}") from None
        return encode_value(self.btf, self.type_id, value, text_ints=text_ints,
                            base=base, path=path)


def _untyped(value: Any, size: int) -> bytes:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise BTFError(f"an untyped {size}-byte value takes bytes, an int or hex text, not "
                       f"{type(value).__name__}")
    if isinstance(value, str):
        text = "".join(value.split())  # the bytes in memory order, as bpftool takes them
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise BTFError(f"{value!r} is not hex bytes") from None
        if len(raw) != size:
            raise BTFError(f"{len(raw)} hex bytes given for a {size}-byte value")
        return raw
    try:
        return value.to_bytes(size, "little", signed=value < 0)
    except OverflowError:
        raise BTFError(f"{value} does not fit in {size} bytes") from None


@dataclass(frozen=True)
class SectionVar:
    """A global variable of a data section: where it is and its BTF type (0: none)."""

    name: str
    offset: int
    size: int
    type_id: int = 0


def datasec_vars(btf: Btf | None, section: str, symbols: Mapping[str, tuple[int, int]]
                 ) -> list[SectionVar]:
    """The variables of data section `section` in offset order: each symbol
    (name -> (offset, size), from the ELF symbol table, as clang leaves DATASEC offsets
    at 0) with the type of the DATASEC's VAR of that name, when the BTF has one."""
    types: dict[str, int] = {}
    if btf is not None:
        for _, t in btf.items():
            if isinstance(t, Datasec) and t.name == section:
                for v in t.vars:
                    var = btf[v.type]
                    if isinstance(var, Var):
                        types[var.name] = var.type
    out = []
    for name, (offset, size) in symbols.items():
        tid = types.get(name, 0)
        if tid and btf is not None:
            try:
                if btf.size_of(tid) != size:
                    tid = 0  # the symbol and the type disagree: trust neither as typed
            except BTFError:
                tid = 0
        out.append(SectionVar(name, offset, size, tid))
    return sorted(out, key=lambda v: (v.offset, v.name))


class DatasecCodec:
    """A data section's value (`size` bytes) as {variable: value}; untyped variables
    as bytes. Encoding takes a dict of some variables over `base` (the current value)."""

    def __init__(self, btf: Btf | None, variables: list[SectionVar], size: int) -> None:
        self.btf = btf
        self.size = size
        self.vars = {v.name: v for v in variables}
        for v in variables:
            if v.offset < 0 or v.offset + v.size > size:
                raise BTFError(f"variable {v.name} at {v.offset} ({v.size} bytes) is outside "
                               f"its {size}-byte section")

    @property
    def typed(self) -> bool:
        return True

    def var_codec(self, name: str) -> TypeCodec:
        v = self.vars[name]
        return TypeCodec(self.btf if v.type_id else None, v.type_id or None, v.size)

    def decode_var(self, name: str, data: bytes) -> Any:
        v = self.vars[name]
        return self.var_codec(name).decode(data[v.offset:v.offset + v.size])

    def decode(self, data: bytes) -> dict[str, Any]:
        return {name: self.decode_var(name, data) for name in self.vars}

    def encode(self, value: Any, *, text_ints: bool = False, base: bytes | None = None) -> bytes:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return TypeCodec(None, None, self.size).encode(value)
        if not isinstance(value, Mapping):
            raise BTFError(f"a data section's value is a dict of its variables, not "
                           f"{type(value).__name__}")
        buf = bytearray(base if base is not None else bytes(self.size))
        for name, val in value.items():
            if name not in self.vars:
                raise BTFError(f"the section has no variable {name!r} (variables: "
                               f"{', '.join(self.vars) or 'none'})")
            buf[self.vars[name].offset:self.vars[name].offset + self.vars[name].size] = \
                self.encode_var(name, val, text_ints=text_ints, base=bytes(buf))
        return bytes(buf)

    def encode_var(self, name: str, value: Any, *, text_ints: bool = False,
                   base: bytes | None = None) -> bytes:
        """Variable `name`'s bytes for `value` (a partial struct keeps the bytes it has
        in `base`, the whole section)."""
        v = self.vars[name]
        cur = base[v.offset:v.offset + v.size] if base is not None else None
        return self.var_codec(name).encode(value, text_ints=text_ints, base=cur, path=name)
