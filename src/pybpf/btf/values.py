"""Map keys and values as Python data, by their BTF type (little-endian, as BPF lays
them out on x86-64):

* integers of 1 to 16 bytes as int (BOOL as bool), signed or not by their encoding;
  bitfields of structs and old-style INT bit offsets included;
* enums as the enumerator's name when the value has one (else the int); encoding takes a
  name or an int;
* structs and unions as dicts (members of anonymous struct/union members appear in the
  enclosing dict, as C spells them); missing struct members are 0, padding is zeroed;
  unknown names raise BTFError naming the member; a union's dict decodes every member
  and encodes the members given, in order;
* arrays as lists; `char` arrays as str (bytes when not NUL-padded UTF-8), and any array
  of 1-byte integers also from bytes; a shorter list or string leaves the rest 0;
* pointers as ints, floats (2, 4, 8 bytes) as float, typedefs/const/volatile resolved;
  a VAR as its type and a DATASEC as a dict of its variables.
"""

from __future__ import annotations

import struct
from typing import Any, Mapping

from .blob import MAX_RESOLVE_DEPTH, Btf
from .errors import BTFError
from .types import (
    Array, Datasec, Enum, Enum64, Float, Int, IntEncoding, Member, Ptr, Struct,
    Union_, Var,
)

__all__ = ["decode_value", "encode_value", "value_size"]

_FLOAT_FMT = {2: "<e", 4: "<f", 8: "<d"}
# Arrays of zero-sized elements decode to at most this many (empty) items.
_MAX_EMPTY_ELEMS = 4096


def value_size(btf: Btf, type_id: int) -> int:
    """The byte size of values of `type_id` (a DATASEC's declared size)."""
    return btf.size_of(type_id)


def _where(path: str) -> str:
    return f"{path}: " if path else ""


def _is_char(t: Int) -> bool:
    return t.size == 1 and (t.name == "char" or bool(t.encoding & IntEncoding.CHAR))


def _check_scalar(t: Int | Enum | Enum64 | Float, path: str) -> None:
    """Reject scalar types whose declared size cannot hold what they claim."""
    if isinstance(t, Int):
        if not 1 <= t.size <= 16 or t.offset + t.bits > t.size * 8:
            raise BTFError(f"{_where(path)}INT {t.name!r}: size {t.size} with {t.bits} bits "
                           f"at bit {t.offset} is not a valid integer layout")
    elif isinstance(t, (Enum, Enum64)):
        if t.size not in (1, 2, 4, 8):
            raise BTFError(f"{_where(path)}enum {t.name!r}: size {t.size} not supported")


def _int_range(bits: int, signed: bool) -> tuple[int, int]:
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def _members(btf: Btf, t: Struct | Union_, base_bits: int, depth: int,
             out: list[tuple[str, Member, int]]) -> None:
    """Named members with absolute bit offsets, anonymous members flattened."""
    if depth > MAX_RESOLVE_DEPTH:
        raise BTFError(f"{t.kind.name} {t.name!r}: anonymous members nested too deep")
    for m in t.members:
        off = base_bits + m.offset
        if m.name:
            out.append((m.name, m, off))
            continue
        inner = btf[btf.resolve(m.type)]
        if isinstance(inner, (Struct, Union_)):
            _members(btf, inner, off, depth + 1, out)


class _Codec:
    def __init__(self, btf: Btf, text_ints: bool = False) -> None:
        self.btf = btf
        self.text_ints = text_ints

    # --- decoding ------------------------------------------------------------------------------

    def decode(self, type_id: int, data: bytes, path: str, depth: int) -> Any:
        btf = self.btf
        if depth > MAX_RESOLVE_DEPTH:
            raise BTFError(f"{_where(path)}types nested too deep or a loop")
        tid = btf.resolve(type_id)
        t = btf[tid]
        if isinstance(t, Int):
            _check_scalar(t, path)
            return self._dec_int(t, int.from_bytes(data, "little"))
        if isinstance(t, Ptr):
            return int.from_bytes(data, "little")
        if isinstance(t, (Enum, Enum64)):
            _check_scalar(t, path)
            return self._dec_enum(t, int.from_bytes(data, "little"))
        if isinstance(t, Float):
            fmt = _FLOAT_FMT.get(t.size)
            if fmt is None or len(data) != t.size:
                raise BTFError(f"{_where(path)}{t.size}-byte float {t.name!r} not supported")
            return struct.unpack(fmt, data)[0]
        if isinstance(t, Array):
            return self._dec_array(t, data, path, depth)
        if isinstance(t, (Struct, Union_)):
            members: list[tuple[str, Member, int]] = []
            _members(btf, t, 0, 0, members)
            out: dict[str, Any] = {}
            for name, m, off in members:
                sub = f"{path}.{name}" if path else name
                if m.bitfield_size:
                    out[name] = self._dec_bits(m, data, off, sub)
                    continue
                size = btf.size_of(m.type)
                start = off // 8
                if off % 8 or start + size > len(data):
                    raise BTFError(f"{_where(sub)}member at bit {off} ({size} bytes) outside "
                                   f"{t.kind.name.lower()} {t.name!r} of {len(data)} bytes")
                out[name] = self.decode(m.type, data[start:start + size], sub, depth + 1)
            return out
        if isinstance(t, Var):
            return self.decode(t.type, data, path, depth + 1)
        if isinstance(t, Datasec):
            out = {}
            for v in t.vars:
                vt = btf[v.type]
                sub = f"{path}.{vt.name}" if path else vt.name
                if v.offset + v.size > len(data):
                    raise BTFError(f"{_where(sub)}variable outside section {t.name!r}")
                if isinstance(vt, Var):
                    out[vt.name] = self.decode(vt.type, data[v.offset:v.offset + v.size], sub,
                                               depth + 1)
            return out
        raise BTFError(f"{_where(path)}no value of type [{tid}] {t.kind.name}")

    def _dec_int(self, t: Int, raw: int) -> int | bool:
        if t.offset or t.bits != t.size * 8:
            raw = (raw >> t.offset) & ((1 << t.bits) - 1) if t.bits else 0
        if t.encoding & IntEncoding.BOOL:
            return bool(raw)
        if t.signed and t.bits and raw >> (t.bits - 1):
            raw -= 1 << t.bits
        return raw

    def _dec_enum(self, t: Enum | Enum64, raw: int) -> int | str:
        bits = t.size * 8
        if t.signed and bits and raw >> (bits - 1):
            raw -= 1 << bits
        for e in t.values:
            if e.value == raw or (e.value & ((1 << bits) - 1)) == (raw & ((1 << bits) - 1)):
                return e.name
        return raw

    def _dec_bits(self, m: Member, data: bytes, off: int, path: str) -> Any:
        btf = self.btf
        nbits = m.bitfield_size
        first, last = off // 8, (off + nbits - 1) // 8
        if last >= len(data):
            raise BTFError(f"{_where(path)}bitfield at bit {off} outside the value")
        raw = int.from_bytes(data[first:last + 1], "little") >> (off % 8)
        raw &= (1 << nbits) - 1
        t = btf[btf.resolve(m.type)]
        if nbits > 128:
            raise BTFError(f"{_where(path)}bitfield of {nbits} bits")
        if isinstance(t, Int):
            if t.encoding & IntEncoding.BOOL:
                return bool(raw)
            if t.signed and raw >> (nbits - 1):
                raw -= 1 << nbits
            return raw
        if isinstance(t, (Enum, Enum64)):
            if t.signed and raw >> (nbits - 1):
                raw -= 1 << nbits
            for e in t.values:
                if e.value == raw:
                    return e.name
            return raw
        raise BTFError(f"{_where(path)}bitfield of type {t.kind.name}")

    def _dec_array(self, t: Array, data: bytes, path: str, depth: int) -> Any:
        btf = self.btf
        elem_id = btf.resolve(t.type)
        et = btf[elem_id]
        if isinstance(et, Int) and _is_char(et):
            raw = bytes(data[:t.nelems])
            nul = raw.find(b"\0")
            text, rest = (raw, b"") if nul < 0 else (raw[:nul], raw[nul:])
            if not any(rest):
                try:
                    return text.decode("utf-8")
                except UnicodeDecodeError:
                    pass
            return raw
        size = btf.size_of(elem_id) if t.nelems else 0
        if t.nelems > max(len(data), _MAX_EMPTY_ELEMS):
            raise BTFError(f"{_where(path)}array of {t.nelems} elements of {size} bytes")
        return [self.decode(elem_id, data[i * size:(i + 1) * size], f"{path}[{i}]", depth + 1)
                for i in range(t.nelems)]

    # --- encoding ------------------------------------------------------------------------------

    def encode(self, type_id: int, value: Any, buf: bytearray, off: int, path: str,
               depth: int) -> None:
        """Write `value` as `type_id` into buf[off:]."""
        btf = self.btf
        if depth > MAX_RESOLVE_DEPTH:
            raise BTFError(f"{_where(path)}types nested too deep or a loop")
        tid = btf.resolve(type_id)
        t = btf[tid]
        if isinstance(t, Int):
            _check_scalar(t, path)
            raw = self._enc_int(t, value, path)
            if t.offset or t.bits != t.size * 8:
                raw = raw << t.offset
            buf[off:off + t.size] = raw.to_bytes(t.size, "little")
            return
        if isinstance(t, Ptr):
            v = self._as_int(value, path)
            if not 0 <= v < 1 << 64:
                if -(1 << 63) <= v < 0:
                    v &= (1 << 64) - 1
                else:
                    raise BTFError(f"{_where(path)}pointer value {v} does not fit 64 bits")
            buf[off:off + 8] = v.to_bytes(8, "little")
            return
        if isinstance(t, (Enum, Enum64)):
            _check_scalar(t, path)
            v = self._enc_enum(t, value, t.size * 8, path)
            buf[off:off + t.size] = (v & ((1 << (t.size * 8)) - 1)).to_bytes(t.size, "little")
            return
        if isinstance(t, Float):
            fmt = _FLOAT_FMT.get(t.size)
            if fmt is None:
                raise BTFError(f"{_where(path)}{t.size}-byte float {t.name!r} not supported")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise BTFError(f"{_where(path)}expected a number for {t.name}, got "
                               f"{type(value).__name__}")
            try:
                buf[off:off + t.size] = struct.pack(fmt, value)
            except (OverflowError, struct.error) as e:
                raise BTFError(f"{_where(path)}{value!r} does not fit {t.name}: {e}") from None
            return
        if isinstance(t, Array):
            self._enc_array(t, value, buf, off, path, depth)
            return
        if isinstance(t, (Struct, Union_)):
            self._enc_composite(t, value, buf, off, path, depth)
            return
        if isinstance(t, Var):
            self.encode(t.type, value, buf, off, path, depth + 1)
            return
        if isinstance(t, Datasec):
            if not isinstance(value, Mapping):
                raise BTFError(f"{_where(path)}expected a dict for section {t.name!r}")
            known: dict[str, tuple[Var, int]] = {}
            for secinfo in t.vars:
                vt = btf[secinfo.type]
                if isinstance(vt, Var):
                    known[vt.name] = (vt, secinfo.offset)
            for name, val in value.items():
                if name not in known:
                    raise BTFError(f"{_where(path)}section {t.name!r} has no variable "
                                   f"{name!r}")
                var, var_off = known[name]
                sub = f"{path}.{name}" if path else str(name)
                self.encode(var.type, val, buf, off + var_off, sub, depth + 1)
            return
        raise BTFError(f"{_where(path)}no value of type [{tid}] {t.kind.name}")

    def _as_int(self, value: Any, path: str, size: int = 0) -> int:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if self.text_ints and isinstance(value, str):
            return _int_from_text(value, size, path)
        raise BTFError(f"{_where(path)}expected an int, got {type(value).__name__} "
                       f"{value!r}")

    def _enc_int(self, t: Int, value: Any, path: str) -> int:
        v = self._as_int(value, path, t.size)
        bits = t.bits
        lo, hi = _int_range(bits, t.signed) if bits else (0, 0)
        if not lo <= v <= hi:
            kind = "signed" if t.signed else "unsigned"
            raise BTFError(f"{_where(path)}{v} does not fit {t.name!r} ({bits}-bit {kind})")
        return v & ((1 << bits) - 1) if bits else 0

    def _enc_enum(self, t: Enum | Enum64, value: Any, bits: int, path: str) -> int:
        if isinstance(value, str):
            for e in t.values:
                if e.name == value:
                    v = e.value
                    break
            else:
                raise BTFError(f"{_where(path)}enum {t.name or '(anon)'!r} has no "
                               f"enumerator {value!r}")
        else:
            v = self._as_int(value, path)
        # accept either reading of the bits (an unsigned enum given -1, ...)
        if not -(1 << (bits - 1)) <= v < (1 << bits):
            raise BTFError(f"{_where(path)}{v} does not fit enum {t.name or '(anon)'!r} "
                           f"({bits} bits)")
        return v

    def _enc_array(self, t: Array, value: Any, buf: bytearray, off: int, path: str,
                   depth: int) -> None:
        btf = self.btf
        elem_id = btf.resolve(t.type)
        et = btf[elem_id]
        n = t.nelems
        if isinstance(et, Int) and et.size == 1 and isinstance(value, (str, bytes,
                                                                        bytearray)):
            raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
            if len(raw) > n:
                raise BTFError(f"{_where(path)}{len(raw)} bytes do not fit {et.name}[{n}]")
            buf[off:off + n] = raw.ljust(n, b"\0")
            return
        if isinstance(value, (str, bytes, bytearray)) or not hasattr(value, "__len__"):
            raise BTFError(f"{_where(path)}expected a list of {n} elements, got "
                           f"{type(value).__name__}")
        if len(value) > n:
            raise BTFError(f"{_where(path)}{len(value)} elements do not fit an array of {n}")
        size = btf.size_of(elem_id) if n else 0
        buf[off:off + n * size] = bytes(n * size)  # a list is the whole array: rest 0
        for i, v in enumerate(value):
            self.encode(elem_id, v, buf, off + i * size, f"{path}[{i}]", depth + 1)

    def _enc_composite(self, t: Struct | Union_, value: Any, buf: bytearray, off: int,
                       path: str, depth: int) -> None:
        btf = self.btf
        what = f"{t.kind.name.lower()} {t.name or '(anon)'}"
        if not isinstance(value, Mapping):
            raise BTFError(f"{_where(path)}expected a dict for {what}, got "
                           f"{type(value).__name__}")
        members: list[tuple[str, Member, int]] = []
        _members(btf, t, 0, 0, members)
        by_name = {name: (m, moff) for name, m, moff in members}
        for name in value:
            if name not in by_name:
                sub = f"{path}.{name}" if path else str(name)
                raise BTFError(f"{sub}: {what} has no member {name!r} (members: "
                               f"{', '.join(by_name) or 'none'})")
        for name, val in value.items():
            m, moff = by_name[name]
            sub = f"{path}.{name}" if path else name
            if m.bitfield_size:
                self._enc_bits(m, val, buf, off, moff, sub)
                continue
            if moff % 8:
                raise BTFError(f"{_where(sub)}member is not byte-aligned (bit {moff})")
            self.encode(m.type, val, buf, off + moff // 8, sub, depth + 1)

    def _enc_bits(self, m: Member, value: Any, buf: bytearray, base: int, off: int,
                  path: str) -> None:
        btf = self.btf
        nbits = m.bitfield_size
        t = btf[btf.resolve(m.type)]
        if isinstance(t, (Enum, Enum64)):
            _check_scalar(t, path)
            v = self._enc_enum(t, value, nbits, path)
            signed = t.signed
        elif isinstance(t, Int):
            v = self._as_int(value, path)
            signed = t.signed
        else:
            raise BTFError(f"{_where(path)}bitfield of type {t.kind.name}")
        lo, hi = _int_range(nbits, signed)
        if not lo <= v <= hi:
            kind = "signed" if signed else "unsigned"
            raise BTFError(f"{_where(path)}{v} does not fit a {nbits}-bit {kind} bitfield")
        v &= (1 << nbits) - 1
        first, last = off // 8, (off + nbits - 1) // 8
        start, end = base + first, base + last + 1
        if end > len(buf):
            raise BTFError(f"{_where(path)}bitfield at bit {off} outside the value")
        cur = int.from_bytes(buf[start:end], "little")
        shift = off % 8
        mask = ((1 << nbits) - 1) << shift
        cur = (cur & ~mask) | (v << shift)
        buf[start:end] = cur.to_bytes(end - start, "little")


def _int_from_text(text: str, size: int, path: str) -> int:
    """An integer written as text (JSON, the command line): decimal or 0x/0o/0b, or for
    a 4-byte integer a dotted IPv4 address, stored in network order (the bytes as
    written), which is how BPF programs keep addresses."""
    s = text.strip()
    if size == 4 and s.count(".") == 3:
        import ipaddress
        try:
            return int.from_bytes(ipaddress.IPv4Address(s).packed, "little")
        except ValueError:
            pass
    try:
        return int(s, 0)
    except ValueError:
        raise BTFError(f"{_where(path)}expected an integer, got {text!r}") from None


def decode_value(btf: Btf, type_id: int, data: bytes | bytearray | memoryview) -> Any:
    """The Python value of `data` (exactly the type's size) as type `type_id`."""
    data = bytes(data)
    size = btf.size_of(type_id)
    if len(data) != size:
        raise BTFError(f"{len(data)} bytes for type [{type_id}] of {size} bytes")
    return _Codec(btf).decode(type_id, data, "", 0)


def encode_value(btf: Btf, type_id: int, value: Any, *, text_ints: bool = False,
                 base: bytes | None = None, path: str = "") -> bytes:
    """The bytes of `value` as type `type_id` (unset members and padding are zero, or
    `base`'s bytes when given: a partial struct then updates only what it names).
    `text_ints` lets integers be given as text ("0x10", "10.0.0.1" for 4 bytes);
    errors name the member under `path` (the variable's name, say)."""
    size = btf.size_of(type_id)
    buf = bytearray(size if base is None else base)
    if len(buf) != size:
        raise BTFError(f"base of {len(buf)} bytes for type [{type_id}] of {size} bytes")
    _Codec(btf, text_ints).encode(type_id, value, buf, 0, path, 0)
    if len(buf) != size:
        raise BTFError(f"value of type [{type_id}] overflowed its {size} bytes")
    return bytes(buf)
