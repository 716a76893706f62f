"""The compiler's types: integers with a width, a sign and a byte order in memory,
structs and arrays laid out as ctypes lays them out, and pointers that say what kind
of memory they reach (map value, packet, context, stack)."""

from __future__ import annotations

import ctypes as C
import sys
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

from llvmlite import ir

if TYPE_CHECKING:
    from ctypes import _CDataType

    # a ctypes type: what u8..u64, be16.., arrays (u8 * 6) and Struct/NetStruct classes are
    CType: TypeAlias = type[_CDataType]


class Ty:
    """Base of the compiler's types."""

    size: int = 0
    align: int = 1

    def llvm(self) -> ir.Type:
        return ir.ArrayType(ir.IntType(8), self.size)


@dataclass(frozen=True)
class IntTy(Ty):
    bits: int
    signed: bool
    be: bool = False  # network byte order when in memory

    @property
    def size(self) -> int:  # type: ignore[override]  # computed from the width; never assigned
        return self.bits // 8

    @property
    def align(self) -> int:  # type: ignore[override]  # computed from the width; never assigned
        return self.bits // 8

    def llvm(self) -> ir.Type:
        return ir.IntType(self.bits)

    @property
    def host(self) -> IntTy:
        return IntTy(self.bits, self.signed) if self.be else self

    @property
    def cname(self) -> str:
        base = f"__{'s' if self.signed else 'u'}{self.bits}"
        return f"__be{self.bits}" if self.be else base

    def __str__(self) -> str:
        return f"be{self.bits}" if self.be else f"{'i' if self.signed else 'u'}{self.bits}"


@dataclass(frozen=True)
class BoolTy(Ty):
    size = 1

    def llvm(self) -> ir.Type:
        return ir.IntType(1)

    def __str__(self) -> str:
        return "bool"


@dataclass(frozen=True)
class FieldInfo:
    name: str
    ty: Ty
    offset: int
    bit_offset: int = 0   # from the least significant bit of the storage unit
    bit_size: int = 0     # 0: not a bit field


@dataclass(eq=False)
class StructTy(Ty):
    name: str
    size: int
    align: int
    fields: dict[str, FieldInfo] = field(default_factory=dict)
    ctype: type[C.Structure] | None = None

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class ArrayTy(Ty):
    elem: Ty
    count: int

    @property
    def size(self) -> int:  # type: ignore[override]  # element size times count; never assigned
        return self.elem.size * self.count

    @property
    def align(self) -> int:  # type: ignore[override]  # the element's; never assigned
        return self.elem.align

    def __str__(self) -> str:
        return f"{self.elem}[{self.count}]"


@dataclass(frozen=True)
class PtrTy(Ty):
    """A pointer to `target`; `kind` is map_value, packet, ctx, stack or mem;
    `nullable`: it may be None until checked."""

    target: Ty
    kind: str = "mem"
    nullable: bool = False
    size = 8
    align = 8

    def llvm(self) -> ir.Type:
        return ir.PointerType()

    def __str__(self) -> str:
        return f"{self.target} *" + (" | None" if self.nullable else "")


@dataclass(frozen=True)
class VoidTy(Ty):
    def llvm(self) -> ir.Type:
        return ir.VoidType()

    def __str__(self) -> str:
        return "None"


U8, U16, U32, U64 = IntTy(8, False), IntTy(16, False), IntTy(32, False), IntTy(64, False)
I8, I16, I32, I64 = IntTy(8, True), IntTy(16, True), IntTy(32, True), IntTy(64, True)
BOOL, VOID = BoolTy(), VoidTy()

_INTS: dict[CType, IntTy] = {
    C.c_uint8: U8, C.c_uint16: U16, C.c_uint32: U32, C.c_uint64: U64,
    C.c_int8: I8, C.c_int16: I16, C.c_int32: I32, C.c_int64: I64,
    C.c_char: I8, C.c_bool: U8, C.c_ubyte: U8, C.c_byte: I8,
}
_SWAPPED = "__ctype_be__" if sys.byteorder == "little" else "__ctype_le__"


class TypeMapError(Exception):
    """A ctypes type the compiler has no BPF type for (the caller adds the position)."""


def from_ctype(ct: object, *, in_be_struct: bool = False) -> Ty:
    """The compiler type of a ctypes type: integers, byte-swapped integers, arrays,
    structures (native or BigEndianStructure). Floats, pointers and unions are refused,
    and so is anything else (`ct` is often a user's annotation, evaluated)."""
    for base, ity in _INTS.items():
        if ct is base:
            return IntTy(ity.bits, ity.signed, in_be_struct and ity.bits > 8)
        swapped = getattr(base, _SWAPPED, None)
        if swapped is not None and ct is swapped and sys.byteorder == "little":
            return IntTy(ity.bits, ity.signed, ity.bits > 8)
    if isinstance(ct, type) and issubclass(ct, C.Array):
        # class attributes of an array type; typeshed has them as instance properties
        count: int = getattr(ct, "_length_")  # noqa: B009 - read through getattr for mypy
        elem: object = getattr(ct, "_type_")  # noqa: B009 - as _length_
        return ArrayTy(from_ctype(elem, in_be_struct=in_be_struct), count)
    if isinstance(ct, type) and issubclass(ct, C.Structure | C.BigEndianStructure):
        return struct_type(ct)
    name = getattr(ct, "__name__", repr(ct))
    raise TypeMapError(f"no BPF type for {name}: use u8..u64, i8..i64, be16/be32/be64, "
                       "arrays of them (u8 * 6) or ctypes structures of them")


# a memo of the layouts (one StructTy per ctypes class, so types compare by identity);
# weak, so the classes of compiled modules do not live on
_STRUCTS: weakref.WeakKeyDictionary[type[C.Structure], StructTy] = weakref.WeakKeyDictionary()


def struct_type(ct: type[C.Structure]) -> StructTy:
    """A StructTy with ctypes' layout of `ct` (fields, offsets, bit fields)."""
    cached = _STRUCTS.get(ct)
    if cached is not None:
        return cached
    be = issubclass(ct, C.BigEndianStructure) and sys.byteorder == "little"
    st = StructTy(ct.__name__, C.sizeof(ct), C.alignment(ct), {}, ct)
    for entry in getattr(ct, "_fields_", ()):
        fname, ftype = entry[0], entry[1]
        desc = getattr(ct, fname)
        fty = from_ctype(ftype, in_be_struct=be)
        if len(entry) == 3:
            bit_size, bit_offset = desc.size >> 16, desc.size & 0xFFFF
            st.fields[fname] = FieldInfo(fname, fty, desc.offset, bit_offset, bit_size)
        else:
            st.fields[fname] = FieldInfo(fname, fty, desc.offset)
    _STRUCTS[ct] = st
    return st


def common_int(a: IntTy, b: IntTy) -> IntTy:
    """C's usual arithmetic conversions: both promoted to at least a signed 32-bit int,
    then the wider; at equal width unsigned wins."""
    a, b = _promote(a), _promote(b)
    if a.bits != b.bits:
        return a if a.bits > b.bits else b
    return IntTy(a.bits, a.signed and b.signed)


def _promote(t: IntTy) -> IntTy:
    return I32 if t.bits < 32 else t.host
