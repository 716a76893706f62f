"""One frozen dataclass per BTF kind. Types refer to each other by type id (an int; 0 is
void), names are Python strings; the `Btf` container maps ids to these objects.

The fields mirror the wire format (`struct btf_type` and its trailing records) closely
enough that encoding is exact, but with the packed words unpacked: an INT's encoding,
offset and bits; a member's bit offset and bitfield size; a FUNC's linkage (which the wire
format keeps in vlen); a FWD's or ENUM's kind_flag as `union` / `signed`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import ClassVar, Union

from ..uapi import BtfKind

__all__ = [
    "BtfKind", "IntEncoding", "FuncLinkage", "VarLinkage",
    "Void", "Int", "Ptr", "Array", "Member", "Struct", "Union_", "Enumerator", "Enum",
    "Fwd", "Typedef", "Volatile", "Const", "Restrict", "Func", "Param", "FuncProto",
    "Var", "VarSecinfo", "Datasec", "Float", "DeclTag", "TypeTag", "Enum64",
    "BtfType", "Composite", "AnyEnum", "MODIFIERS", "KIND_NAMES",
]


class IntEncoding(IntFlag):
    """BTF_INT_* encoding bits of an INT (bpftool prints them as SIGNED/CHAR/BOOL)."""

    NONE = 0
    SIGNED = 1
    CHAR = 2
    BOOL = 4


class FuncLinkage(IntEnum):
    """enum btf_func_linkage: kept in a FUNC's vlen."""

    STATIC = 0
    GLOBAL = 1
    EXTERN = 2


class VarLinkage(IntEnum):
    """enum of BTF_VAR_*: the u32 after a VAR."""

    STATIC = 0
    GLOBAL = 1  # BTF_VAR_GLOBAL_ALLOCATED
    EXTERN = 2  # BTF_VAR_GLOBAL_EXTERN


@dataclass(frozen=True, slots=True)
class Void:
    """Type id 0: void (the absent type), never stored in a blob."""

    kind: ClassVar[BtfKind] = BtfKind.UNKN
    name: str = ""


@dataclass(frozen=True, slots=True)
class Int:
    """BTF_KIND_INT. `bits` defaults to the full size; `offset` is the deprecated in-type
    bit offset (always 0 from modern compilers)."""

    kind: ClassVar[BtfKind] = BtfKind.INT
    name: str
    size: int
    encoding: IntEncoding = IntEncoding.NONE
    bits: int = -1
    offset: int = 0

    def __post_init__(self) -> None:
        if self.bits == -1:
            object.__setattr__(self, "bits", self.size * 8)
        if not isinstance(self.encoding, IntEncoding):
            object.__setattr__(self, "encoding", IntEncoding(self.encoding))

    @property
    def signed(self) -> bool:
        return bool(self.encoding & IntEncoding.SIGNED)


@dataclass(frozen=True, slots=True)
class Ptr:
    """BTF_KIND_PTR to `type`."""

    kind: ClassVar[BtfKind] = BtfKind.PTR
    type: int
    name: str = ""


@dataclass(frozen=True, slots=True)
class Array:
    """BTF_KIND_ARRAY of `nelems` elements of `type`, indexed by `index_type` (an INT)."""

    kind: ClassVar[BtfKind] = BtfKind.ARRAY
    type: int
    index_type: int
    nelems: int
    name: str = ""


@dataclass(frozen=True, slots=True)
class Member:
    """A struct/union member: `offset` in bits from the start of the composite;
    `bitfield_size` is non-zero only for bitfields (and needs the composite's kind_flag)."""

    name: str
    type: int
    offset: int = 0
    bitfield_size: int = 0


@dataclass(frozen=True, slots=True)
class Struct:
    """BTF_KIND_STRUCT. `kind_flag` says members encode bitfield sizes; left as None it
    is set when some member is a bitfield."""

    kind: ClassVar[BtfKind] = BtfKind.STRUCT
    name: str
    size: int
    members: tuple[Member, ...] = ()
    kind_flag: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "members", tuple(self.members))
        if self.kind_flag is None:
            object.__setattr__(self, "kind_flag",
                               any(m.bitfield_size for m in self.members))


@dataclass(frozen=True, slots=True)
class Union_:
    """BTF_KIND_UNION (`Union_` because `Union` is typing's); same layout as Struct."""

    kind: ClassVar[BtfKind] = BtfKind.UNION
    name: str
    size: int
    members: tuple[Member, ...] = ()
    kind_flag: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "members", tuple(self.members))
        if self.kind_flag is None:
            object.__setattr__(self, "kind_flag",
                               any(m.bitfield_size for m in self.members))


@dataclass(frozen=True, slots=True)
class Enumerator:
    """One enumerator: its value is signed or unsigned as its enum says."""

    name: str
    value: int


@dataclass(frozen=True, slots=True)
class Enum:
    """BTF_KIND_ENUM (values fit 32 bits). `signed` is the kind_flag."""

    kind: ClassVar[BtfKind] = BtfKind.ENUM
    name: str
    size: int = 4
    values: tuple[Enumerator, ...] = ()
    signed: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(self.values))


@dataclass(frozen=True, slots=True)
class Enum64:
    """BTF_KIND_ENUM64 (values fit 64 bits). `signed` is the kind_flag."""

    kind: ClassVar[BtfKind] = BtfKind.ENUM64
    name: str
    size: int = 8
    values: tuple[Enumerator, ...] = ()
    signed: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(self.values))


@dataclass(frozen=True, slots=True)
class Fwd:
    """BTF_KIND_FWD: a forward declaration of a struct (or a union, the kind_flag)."""

    kind: ClassVar[BtfKind] = BtfKind.FWD
    name: str
    union: bool = False


@dataclass(frozen=True, slots=True)
class Typedef:
    """BTF_KIND_TYPEDEF `name` for `type`."""

    kind: ClassVar[BtfKind] = BtfKind.TYPEDEF
    name: str
    type: int


@dataclass(frozen=True, slots=True)
class Volatile:
    """BTF_KIND_VOLATILE `type`."""

    kind: ClassVar[BtfKind] = BtfKind.VOLATILE
    type: int
    name: str = ""


@dataclass(frozen=True, slots=True)
class Const:
    """BTF_KIND_CONST `type`."""

    kind: ClassVar[BtfKind] = BtfKind.CONST
    type: int
    name: str = ""


@dataclass(frozen=True, slots=True)
class Restrict:
    """BTF_KIND_RESTRICT `type`."""

    kind: ClassVar[BtfKind] = BtfKind.RESTRICT
    type: int
    name: str = ""


@dataclass(frozen=True, slots=True)
class Func:
    """BTF_KIND_FUNC `name` whose `type` is a FUNC_PROTO."""

    kind: ClassVar[BtfKind] = BtfKind.FUNC
    name: str
    type: int
    linkage: FuncLinkage = FuncLinkage.STATIC

    def __post_init__(self) -> None:
        if not isinstance(self.linkage, FuncLinkage):
            object.__setattr__(self, "linkage", FuncLinkage(self.linkage))


@dataclass(frozen=True, slots=True)
class Param:
    """A FUNC_PROTO parameter (a last one with type 0 and no name means `...`)."""

    name: str
    type: int


@dataclass(frozen=True, slots=True)
class FuncProto:
    """BTF_KIND_FUNC_PROTO: return type (0 = void) and parameters."""

    kind: ClassVar[BtfKind] = BtfKind.FUNC_PROTO
    return_type: int
    params: tuple[Param, ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", tuple(self.params))

    @property
    def variadic(self) -> bool:
        return bool(self.params) and self.params[-1].type == 0 and not self.params[-1].name


@dataclass(frozen=True, slots=True)
class Var:
    """BTF_KIND_VAR: a global or static variable of `type`."""

    kind: ClassVar[BtfKind] = BtfKind.VAR
    name: str
    type: int
    linkage: VarLinkage = VarLinkage.STATIC

    def __post_init__(self) -> None:
        if not isinstance(self.linkage, VarLinkage):
            object.__setattr__(self, "linkage", VarLinkage(self.linkage))


@dataclass(frozen=True, slots=True)
class VarSecinfo:
    """One variable (or extern function) of a DATASEC: where it sits in the section."""

    type: int
    offset: int = 0
    size: int = 0


@dataclass(frozen=True, slots=True)
class Datasec:
    """BTF_KIND_DATASEC: an ELF data section and the variables in it."""

    kind: ClassVar[BtfKind] = BtfKind.DATASEC
    name: str
    size: int = 0
    vars: tuple[VarSecinfo, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "vars", tuple(self.vars))


@dataclass(frozen=True, slots=True)
class Float:
    """BTF_KIND_FLOAT of `size` bytes (2, 4, 8, 12 or 16)."""

    kind: ClassVar[BtfKind] = BtfKind.FLOAT
    name: str
    size: int


@dataclass(frozen=True, slots=True)
class DeclTag:
    """BTF_KIND_DECL_TAG on `type` (component_idx -1) or on its member/param
    `component_idx`. `attribute` is the kind_flag (an __attribute__ tag, kernel 6.13+)."""

    kind: ClassVar[BtfKind] = BtfKind.DECL_TAG
    name: str
    type: int
    component_idx: int = -1
    attribute: bool = False


@dataclass(frozen=True, slots=True)
class TypeTag:
    """BTF_KIND_TYPE_TAG `name` on `type`; `attribute` is the kind_flag."""

    kind: ClassVar[BtfKind] = BtfKind.TYPE_TAG
    name: str
    type: int
    attribute: bool = False


BtfType = Union[Void, Int, Ptr, Array, Struct, Union_, Enum, Fwd, Typedef, Volatile, Const,
                Restrict, Func, FuncProto, Var, Datasec, Float, DeclTag, TypeTag, Enum64]
Composite = Union[Struct, Union_]
AnyEnum = Union[Enum, Enum64]

# Kinds that only qualify the type they point to (skipped when resolving a type).
MODIFIERS = frozenset({BtfKind.VOLATILE, BtfKind.CONST, BtfKind.RESTRICT, BtfKind.TYPE_TAG})

KIND_NAMES: dict[BtfKind, str] = {k: k.name for k in BtfKind}

KIND_CLASSES: dict[BtfKind, type] = {
    cls.kind: cls for cls in (Void, Int, Ptr, Array, Struct, Union_, Enum, Fwd, Typedef,
                              Volatile, Const, Restrict, Func, FuncProto, Var, Datasec,
                              Float, DeclTag, TypeTag, Enum64)
}
