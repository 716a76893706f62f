"""Building BTF by hand: a `Builder` appends types to a `Btf` and returns their ids,
computing what C would (struct member offsets and padding with bitfields, sizes,
DATASEC layouts, whether an enum needs ENUM64), so tests and tools can write

    b = Builder()
    u32 = b.int("unsigned int", 4)
    key = b.struct("key", [("saddr", u32), ("proto", b.int("unsigned char", 1))])
    blob = b.btf.to_bytes()
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence, Union

from .blob import Btf
from .errors import BTFError
from .types import (
    Array, Const, Datasec, DeclTag, Enum, Enum64, Enumerator, Float, Func, FuncLinkage,
    FuncProto, Fwd, Int, IntEncoding, Member, Param, Ptr, Restrict, Struct, Typedef,
    TypeTag, Union_, Var, VarLinkage, VarSecinfo, Volatile,
)

__all__ = ["Builder", "MemberSpec"]

# Aliases: the Builder has methods named int and float, which would shadow the builtins
# in its annotations.
TypeId = int
Num = int

# ("name", type_id) or ("name", type_id, bitfield_bits); name "" for anonymous members
MemberSpec = Union[tuple[str, int], tuple[str, int, int]]


def _roundup(v: int, a: int) -> int:
    return -(-v // a) * a


class Builder:
    """Appends types to `btf` (a new one unless given) and returns their type ids."""

    def __init__(self, btf: Btf | None = None) -> None:
        self.btf = btf if btf is not None else Btf()
        self._index_type = 0

    # --- scalars ---------------------------------------------------------------------------

    def int(self, name: str, size: Num, signed: bool = False, *, char: bool = False,
            bool_: bool = False, bits: Num | None = None) -> TypeId:
        """An INT of `size` bytes (1, 2, 4, 8 or 16); at most one of signed/char/bool (the
        kernel accepts a single encoding bit)."""
        if size not in (1, 2, 4, 8, 16):
            raise BTFError(f"INT {name!r}: size {size} (1, 2, 4, 8 or 16)")
        if signed + char + bool_ > 1:
            raise BTFError(f"INT {name!r}: signed, char and bool exclude each other")
        enc = IntEncoding.NONE
        if signed:
            enc |= IntEncoding.SIGNED
        if char:
            enc |= IntEncoding.CHAR
        if bool_:
            enc |= IntEncoding.BOOL
        return self.btf.add(Int(name, size, enc, size * 8 if bits is None else bits))

    def float(self, name: str, size: Num) -> TypeId:
        return self.btf.add(Float(name, size))

    def enum(self, name: str, values: Mapping[str, Num] | Sequence[str | tuple[str, Num]],
             size: Num | None = None, signed: bool | None = None) -> TypeId:
        """An ENUM, or ENUM64 when a value needs more than 32 bits. `values` maps names to
        values, or lists names (numbered from 0, or after the previous explicit value)."""
        items: list[tuple[str, Num]] = []
        if isinstance(values, Mapping):
            items = list(values.items())
        else:
            nxt = 0
            for v in values:
                if isinstance(v, tuple):
                    items.append(v)
                    nxt = v[1] + 1
                else:
                    items.append((v, nxt))
                    nxt += 1
        if signed is None:
            signed = any(v < 0 for _, v in items)
        wide = any(not (-(1 << 31) <= v < (1 << 32)) for _, v in items)
        if size is None:
            size = 8 if wide else 4
        enumerators = tuple(Enumerator(n, v) for n, v in items)
        if wide or size == 8:
            return self.btf.add(Enum64(name, size, enumerators, signed))
        return self.btf.add(Enum(name, size, enumerators, signed))

    # --- references ------------------------------------------------------------------------

    def ptr(self, target: TypeId) -> TypeId:
        return self.btf.add(Ptr(target))

    def const(self, target: TypeId) -> TypeId:
        return self.btf.add(Const(target))

    def volatile(self, target: TypeId) -> TypeId:
        return self.btf.add(Volatile(target))

    def restrict(self, target: TypeId) -> TypeId:
        return self.btf.add(Restrict(target))

    def typedef(self, name: str, target: TypeId) -> TypeId:
        return self.btf.add(Typedef(name, target))

    def type_tag(self, name: str, target: TypeId) -> TypeId:
        return self.btf.add(TypeTag(name, target))

    def decl_tag(self, name: str, target: TypeId, component_idx: Num = -1) -> TypeId:
        return self.btf.add(DeclTag(name, target, component_idx))

    def fwd(self, name: str, union: bool = False) -> TypeId:
        return self.btf.add(Fwd(name, union))

    def index_type(self) -> TypeId:
        """The INT arrays are indexed by (`__ARRAY_SIZE_TYPE__`, as clang names it)."""
        if not self._index_type:
            self._index_type = self.int("__ARRAY_SIZE_TYPE__", 4)
        return self._index_type

    def array(self, elem: TypeId, nelems: Num, index_type: TypeId | None = None) -> TypeId:
        idx = index_type if index_type is not None else self.index_type()
        return self.btf.add(Array(elem, idx, nelems))

    # --- composites ------------------------------------------------------------------------

    def _layout(self, members: Iterable[MemberSpec], union: bool, packed: bool,
                size: Num | None, what: str) -> tuple[tuple[Member, ...], Num]:
        btf = self.btf
        out = []
        cur = 0  # bits
        end = 0
        align = 1
        for spec in members:
            name, type_id = spec[0], spec[1]
            bits = spec[2] if len(spec) > 2 else 0
            msize = btf.size_of(type_id)
            malign = 1 if packed else btf.align_of(type_id)
            align = max(align, malign)
            if union:
                off = 0
            elif bits:
                unit = msize * 8
                if bits > unit:
                    raise BTFError(f"{what}: bitfield {name!r} of {bits} bits is wider than "
                                   f"its type")
                if packed or cur // unit == (cur + bits - 1) // unit:
                    off = cur
                else:
                    off = _roundup(cur, unit)
            else:
                off = _roundup(cur, malign * 8)
            width = bits or msize * 8
            out.append(Member(name, type_id, off, bits))
            if not union:
                cur = off + width
            end = max(end, off + width)
        natural = _roundup(_roundup(end, 8) // 8, align)
        if size is None:
            size = natural
        elif size * 8 < end:
            raise BTFError(f"{what}: size {size} is smaller than its members "
                           f"({_roundup(end, 8) // 8})")
        return tuple(out), size

    def struct(self, name: str, members: Iterable[MemberSpec], *, packed: bool = False,
               size: Num | None = None) -> TypeId:
        """A STRUCT laid out as C would (bitfields packed into their type's storage unit,
        members aligned naturally unless `packed`); `size` overrides the padded size."""
        ms, sz = self._layout(members, False, packed, size, f"struct {name or '(anon)'}")
        return self.btf.add(Struct(name, sz, ms))

    def union(self, name: str, members: Iterable[MemberSpec], *,
              size: Num | None = None) -> TypeId:
        ms, sz = self._layout(members, True, False, size, f"union {name or '(anon)'}")
        return self.btf.add(Union_(name, sz, ms))

    # --- functions and data ----------------------------------------------------------------

    def func_proto(self, ret: TypeId, params: Iterable[tuple[str, TypeId]] = (), *,
                   variadic: bool = False) -> TypeId:
        ps = [Param(n, t) for n, t in params]
        if variadic:
            ps.append(Param("", 0))
        return self.btf.add(FuncProto(ret, tuple(ps)))

    def func(self, name: str, proto: TypeId,
             linkage: FuncLinkage | str = FuncLinkage.GLOBAL) -> TypeId:
        if isinstance(linkage, str):
            linkage = FuncLinkage[linkage.upper()]
        return self.btf.add(Func(name, proto, linkage))

    def var(self, name: str, type_id: TypeId,
            linkage: VarLinkage | str = VarLinkage.GLOBAL) -> TypeId:
        if isinstance(linkage, str):
            linkage = VarLinkage[linkage.upper()]
        return self.btf.add(Var(name, type_id, linkage))

    def datasec(self, name: str, variables: Iterable[TypeId | tuple[TypeId, Num]],
                size: Num | None = None) -> TypeId:
        """A DATASEC of VAR ids, each at an explicit offset ((var, offset)) or laid out
        after the previous one with its natural alignment."""
        btf = self.btf
        out = []
        cur = 0
        for v in variables:
            vid, off = (v if isinstance(v, tuple) else (v, None))
            vt = btf[vid]
            if not isinstance(vt, (Var, Func)):
                raise BTFError(f"DATASEC {name!r}: [{vid}] {vt.kind.name} is not a VAR")
            vsize = btf.size_of(vt.type) if isinstance(vt, Var) else 0
            if off is None:
                off = _roundup(cur, btf.align_of(vt.type) if isinstance(vt, Var) else 1)
            out.append(VarSecinfo(vid, off, vsize))
            cur = max(cur, off + vsize)
        return btf.add(Datasec(name, cur if size is None else size, tuple(out)))
