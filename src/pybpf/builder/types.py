"""Key and value types of maps given in Python, turned into BTF (pybpf.btf.Builder):
scalar names ("u32", "__u64", "s16", "int", ...), ctypes types (c_uint32, Structure
subclasses, arrays), and `Struct` / `Array` descriptions."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Any, Union

from ..btf import Builder
from .errors import OperandError

__all__ = ["Struct", "Array", "TypeDesc", "TypeTable", "SCALARS"]


@dataclass(frozen=True)
class Struct:
    """A C struct: `Struct("proto_stats", [("packets", "u64"), ("bytes", "u64")])`,
    laid out as C would."""

    name: str
    fields: tuple = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(tuple(f) for f in self.fields))


@dataclass(frozen=True)
class Array:
    """A C array `elem[n]`."""

    elem: Any
    n: int


TypeDesc = Union[str, Struct, Array, type]

# name -> (C name of the INT, size, signed); the __uN / uN spellings become typedefs
SCALARS: dict[str, tuple[str, int, bool]] = {
    "u8": ("unsigned char", 1, False), "u16": ("unsigned short", 2, False),
    "u32": ("unsigned int", 4, False), "u64": ("unsigned long long", 8, False),
    "s8": ("signed char", 1, True), "s16": ("short", 2, True), "s32": ("int", 4, True),
    "s64": ("long long", 8, True),
}
_C_NAMES = {c: (c, size, signed) for c, size, signed in SCALARS.values()}
_C_NAMES.update({"char": ("char", 1, False), "unsigned long": ("unsigned long", 8, False),
                 "long": ("long", 8, True), "bool": ("_Bool", 1, False),
                 "_Bool": ("_Bool", 1, False)})
_CTYPES = {ctypes.c_uint8: "u8", ctypes.c_uint16: "u16", ctypes.c_uint32: "u32",
           ctypes.c_uint64: "u64", ctypes.c_int8: "s8", ctypes.c_int16: "s16",
           ctypes.c_int32: "s32", ctypes.c_int64: "s64", ctypes.c_bool: "bool",
           ctypes.c_char: "char"}


class TypeTable:
    """Turns type descriptions into BTF type ids of one Btf, each type added once."""

    def __init__(self) -> None:
        self.builder = Builder()
        self._ids: dict[Any, int] = {}

    @property
    def btf(self) -> Any:
        return self.builder.btf

    def size_of(self, type_id: int) -> int:
        return self.builder.btf.size_of(type_id)

    def add(self, desc: Any, what: str = "type") -> int:
        try:
            key = desc if not isinstance(desc, list) else tuple(desc)
            hash(key)
        except TypeError:
            key = None
        if key is not None and key in self._ids:
            return self._ids[key]
        tid = self._add(desc, what)
        if key is not None:
            self._ids[key] = tid
        return tid

    def _add(self, desc: Any, what: str) -> int:
        b = self.builder
        if isinstance(desc, str):
            name = desc.strip()
            bare = name.removeprefix("__")
            if bare in SCALARS:
                c, size, signed = SCALARS[bare]
                base = self.add(c)
                return b.typedef(name, base)
            if name in _C_NAMES:
                c, size, signed = _C_NAMES[name]
                return b.int(c, size, signed, bool_=c == "_Bool", char=c == "char")
            raise OperandError(f"{what}: unknown type {desc!r} (u8/u16/u32/u64, s8..s64, "
                               "__u32 & co., int, char, bool, a ctypes type, Struct or Array)")
        if isinstance(desc, Struct):
            members = []
            for f in desc.fields:
                if len(f) != 2 or not isinstance(f[0], str):
                    raise OperandError(f"{what}: struct {desc.name} field {f!r} is not a "
                                       "(name, type) pair")
                members.append((f[0], self.add(f[1], f"{what} {desc.name}.{f[0]}")))
            return b.struct(desc.name, members)
        if isinstance(desc, Array):
            if not isinstance(desc.n, int) or desc.n < 0:
                raise OperandError(f"{what}: array length {desc.n!r}")
            return b.array(self.add(desc.elem, what), desc.n)
        if isinstance(desc, type):
            if desc in _CTYPES:
                return self.add(_CTYPES[desc], what)
            if issubclass(desc, ctypes.Array):
                return b.array(self.add(desc._type_, what),
                               desc._length_)  # type: ignore[arg-type]  # an int on the class
            if issubclass(desc, (ctypes.Structure, ctypes.Union)):
                if any(len(f) != 2 for f in desc._fields_) or \
                        getattr(desc, "_pack_", False):
                    raise OperandError(f"{what}: {desc.__name__} has bitfields or _pack_, "
                                       "which the builder does not lay out; use Struct")
                members = [(f[0], self.add(f[1], f"{what} {desc.__name__}.{f[0]}"))
                           for f in desc._fields_]
                if issubclass(desc, ctypes.Union):
                    return b.union(desc.__name__, members)
                return b.struct(desc.__name__, members, size=ctypes.sizeof(desc))
        raise OperandError(f"{what}: {desc!r} is no type description (a scalar name, a "
                           "ctypes type, Struct or Array)")
