"""One BTF type in its wire format (`struct btf_type` and the kind's trailing data),
the inverse of the decoder in blob.py; blob.encode joins them into a blob."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import BTFError
from .types import (Array, BtfKind, BtfType, Const, Datasec, DeclTag, Enum, Enum64, Float, Func,
                    FuncProto, Fwd, Int, Ptr, Restrict, Struct, Typedef, TypeTag, Union_, Var,
                    Volatile)
from .wire import I32 as _I32, TYPE as _TYPE, U32 as _U32, U32X2 as _2U32, U32X3 as _3U32

if TYPE_CHECKING:
    from .blob import StringTable

__all__ = ["encode_type"]


def _u32(v: int, what: str) -> int:
    if not 0 <= v <= 0xFFFFFFFF:
        raise BTFError(f"{what} {v} does not fit in 32 bits")
    return v


def encode_type(t: BtfType, strings: StringTable, type_id: int = 0) -> bytes:
    """One type's wire bytes (adding its names to `strings`)."""
    K = BtfKind
    k = t.kind
    where = f"type [{type_id}] {k.name}"
    name_off = strings.add(t.name)
    kflag = 0
    vlen = 0
    size_type = 0
    tail = b""
    if k == K.INT:
        assert isinstance(t, Int)
        if not 0 <= t.bits <= 255 or not 0 <= t.offset <= 255:
            raise BTFError(f"{where}: bits {t.bits} / offset {t.offset} out of range")
        size_type = t.size
        tail = _U32.pack(int(t.encoding) << 24 | t.offset << 16 | t.bits)
    elif k in (K.PTR, K.TYPEDEF, K.VOLATILE, K.CONST, K.RESTRICT):
        assert isinstance(t, (Ptr, Typedef, Volatile, Const, Restrict))
        size_type = t.type
    elif k == K.TYPE_TAG:
        assert isinstance(t, TypeTag)
        size_type, kflag = t.type, int(t.attribute)
    elif k == K.ARRAY:
        assert isinstance(t, Array)
        tail = _3U32.pack(_u32(t.type, f"{where} element"), _u32(t.index_type, f"{where} index"),
                          _u32(t.nelems, f"{where} nelems"))
    elif k in (K.STRUCT, K.UNION):
        assert isinstance(t, (Struct, Union_))
        kflag = int(bool(t.kind_flag))
        size_type = t.size
        vlen = len(t.members)
        parts = []
        for m in t.members:
            if kflag:
                if not 0 <= m.offset <= 0xFFFFFF or not 0 <= m.bitfield_size <= 255:
                    raise BTFError(f"{where}: member {m.name!r} offset {m.offset} / bitfield "
                                   f"size {m.bitfield_size} do not fit kind_flag encoding")
                moff = m.bitfield_size << 24 | m.offset
            else:
                if m.bitfield_size:
                    raise BTFError(f"{where}: bitfield member {m.name!r} needs kind_flag")
                moff = m.offset
            parts.append(_3U32.pack(strings.add(m.name), _u32(m.type, f"{where} member"),
                                    _u32(moff, f"{where} member offset")))
        tail = b"".join(parts)
    elif k == K.ENUM:
        assert isinstance(t, Enum)
        kflag = int(t.signed)
        size_type = t.size
        vlen = len(t.values)
        parts = []
        for e in t.values:
            if not -(1 << 31) <= e.value < (1 << 32):
                raise BTFError(f"{where}: enumerator {e.name!r} value {e.value} does not fit "
                               f"32 bits")
            parts.append(_2U32.pack(strings.add(e.name), e.value & 0xFFFFFFFF))
        tail = b"".join(parts)
    elif k == K.ENUM64:
        assert isinstance(t, Enum64)
        kflag = int(t.signed)
        size_type = t.size
        vlen = len(t.values)
        parts = []
        for e in t.values:
            if not -(1 << 63) <= e.value < (1 << 64):
                raise BTFError(f"{where}: enumerator {e.name!r} value {e.value} does not fit "
                               f"64 bits")
            v = e.value & 0xFFFFFFFFFFFFFFFF
            parts.append(_3U32.pack(strings.add(e.name), v & 0xFFFFFFFF, v >> 32))
        tail = b"".join(parts)
    elif k == K.FWD:
        assert isinstance(t, Fwd)
        kflag = int(t.union)
    elif k == K.FUNC:
        assert isinstance(t, Func)
        size_type, vlen = t.type, int(t.linkage)
    elif k == K.FUNC_PROTO:
        assert isinstance(t, FuncProto)
        size_type = t.return_type
        vlen = len(t.params)
        tail = b"".join(_2U32.pack(strings.add(p.name), _u32(p.type, f"{where} param"))
                        for p in t.params)
    elif k == K.VAR:
        assert isinstance(t, Var)
        size_type = t.type
        tail = _U32.pack(int(t.linkage))
    elif k == K.DATASEC:
        assert isinstance(t, Datasec)
        size_type = t.size
        vlen = len(t.vars)
        tail = b"".join(_3U32.pack(_u32(v.type, f"{where} var"), _u32(v.offset, f"{where} offset"),
                                   _u32(v.size, f"{where} size")) for v in t.vars)
    elif k == K.FLOAT:
        assert isinstance(t, Float)
        size_type = t.size
    elif k == K.DECL_TAG:
        assert isinstance(t, DeclTag)
        size_type, kflag = t.type, int(t.attribute)
        if not -(1 << 31) <= t.component_idx < (1 << 31):
            raise BTFError(f"{where}: component_idx {t.component_idx} out of range")
        tail = _I32.pack(t.component_idx)
    else:
        raise BTFError(f"{where}: cannot encode")
    if vlen > 0xFFFF:
        raise BTFError(f"{where}: {vlen} members/values/params, at most 65535 fit")
    info = kflag << 31 | int(k) << 24 | vlen
    return _TYPE.pack(name_off, info, _u32(size_type, f"{where} size/type")) + tail
