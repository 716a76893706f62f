"""`pybpf map dump|lookup|update|delete`: a kernel map's elements, as bpftool shows them.

Keys and values are decoded by the map's BTF where it has one (btf_id with key and
value type ids, read from the kernel with BTF_GET_FD_BY_ID), so a struct prints as its
members; without BTF they are hex bytes. JSON uses bpftool's keys: {"key": ["0x00",
...], "value": [...]} (per-CPU maps: "values": [{"cpu", "value"}]) with "formatted":
{"key", "value"} holding the BTF-decoded data.

A KEY or VALUE on the command line is bytes as bpftool takes them (`0x01 2 0 0`, or
`hex 01020000`), or with BTF one value in the type's terms (`42`, `10.0.0.1` for a u32,
JSON such as `{"packets": 1}`), or a plain integer (little-endian, the key's size).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator

from ..cpus import possible_cpus
from ..errors import PyBPFError
from ..kernel.abi import MapType
from ..kernel.errors import KernelError, KernelKeyError
from ..kernel.info import MapDetail, btf_detail_by_id
from ..kernel.maps import Map

# maps that hold no elements to iterate by key (bpftool refuses them too)
NOT_DUMPABLE = {MapType.QUEUE: "a queue", MapType.STACK: "a stack",
                MapType.RINGBUF: "a ring buffer", MapType.USER_RINGBUF: "a user ring buffer",
                MapType.BLOOM_FILTER: "a bloom filter", MapType.STRUCT_OPS: "struct_ops"}


class MapViewError(PyBPFError):
    """A map that cannot be shown this way, or a key/value that does not fit it."""


def hexbytes(b: bytes) -> list[str]:
    return [f"{x:#04x}" for x in b]


def _jsonable(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray)):
        return hexbytes(bytes(v))
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


@dataclass
class MapView:
    """An open map with its BTF (when it has one) for decoding and encoding."""

    map: Map
    detail: MapDetail
    btf: Any = None

    @classmethod
    def open(cls, detail: MapDetail) -> "MapView":
        from ..btf import BTFError, parse
        m = Map.from_id(detail.info.id)
        btf = None
        if detail.info.btf_id and (detail.info.btf_key_type_id or
                                   detail.info.btf_value_type_id):
            try:
                btf = parse(btf_detail_by_id(detail.info.btf_id, data=True).data, lazy=True)
            except (KernelError, BTFError):
                btf = None
        return cls(m, detail, btf)

    def close(self) -> None:
        self.map.close()

    def __enter__(self) -> "MapView":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def name(self) -> str:
        return self.detail.info.name or f"id {self.detail.info.id}"

    # decoding
    def _decode(self, type_id: int, data: bytes) -> Any:
        from ..btf import BTFError, decode_value
        if self.btf is None or not type_id:
            return None
        from ..btf import Datasec
        try:
            value = _jsonable(decode_value(self.btf, type_id, data))
            t = self.btf[type_id]
        except BTFError:
            return None
        if isinstance(t, Datasec) and isinstance(value, dict):
            # bpftool: {".rodata": [{"var": value}, ...]}
            return {t.name: [{k: v} for k, v in value.items()]}
        return value

    def record(self, key: bytes, value: bytes | list[bytes]) -> dict[str, Any]:
        """One element with bpftool's JSON keys."""
        i = self.detail.info
        rec: dict[str, Any] = {"key": hexbytes(key)}
        fmt: dict[str, Any] = {}
        kdec = self._decode(i.btf_key_type_id, key)
        if kdec is not None:
            fmt["key"] = kdec
        if isinstance(value, list):
            rec["values"] = [{"cpu": c, "value": hexbytes(v)} for c, v in enumerate(value)]
            decoded = [self._decode(i.btf_value_type_id, v) for v in value]
            if all(d is not None for d in decoded):
                fmt["values"] = [{"cpu": c, "value": d} for c, d in enumerate(decoded)]
        else:
            rec["value"] = hexbytes(value)
            vdec = self._decode(i.btf_value_type_id, value)
            if vdec is not None:
                fmt["value"] = vdec
        if fmt:
            rec["formatted"] = fmt
        return rec

    # reading
    def _check_dumpable(self) -> None:
        t = self.detail.info.type
        if t in NOT_DUMPABLE:
            what = NOT_DUMPABLE[MapType(t)]
            raise MapViewError(f"map {self.name} is {what} (BPF_MAP_TYPE_{MapType(t).name}): "
                               "it has no keys to dump or look up")

    def _value(self, key: bytes) -> bytes | list[bytes] | None:
        try:
            if self.map.percpu:
                return self.map.lookup_percpu(key)
            return self.map.lookup(key)
        except KernelKeyError:
            return None

    def elements(self) -> Iterator[dict[str, Any]]:
        """Every element (keys that vanish during the walk are skipped)."""
        self._check_dumpable()
        key = self.map.next_key()
        seen = 0
        while key is not None and seen <= max(self.detail.info.max_entries, 1):
            value = self._value(key)
            if value is not None:
                yield self.record(key, value)
            seen += 1
            key = self.map.next_key(key)

    def lookup(self, key: bytes) -> dict[str, Any]:
        self._check_dumpable()
        value = self._value(key)
        if value is None:
            raise MapViewError(f"map {self.name}: no element with key {key.hex(' ')}")
        return self.record(key, value)

    # parsing command-line keys and values
    def parse(self, words: list[str], what: str) -> bytes:
        i = self.detail.info
        size = i.key_size if what == "key" else i.value_size
        type_id = i.btf_key_type_id if what == "key" else i.btf_value_type_id
        return parse_bytes(words, size, what, self.btf, type_id)

    def update(self, key: bytes, value: bytes, flags: int) -> None:
        if self.map.percpu:  # the same value on every CPU, as bpftool does
            slot = (len(value) + 7) // 8 * 8
            value = (value + bytes(slot - len(value))) * possible_cpus()
            from ..kernel.maps import map_update_elem
            map_update_elem(self.map, key, value, flags)
            return
        self.map.update(key, value, flags)

    def delete(self, key: bytes) -> None:
        try:
            self.map.delete(key)
        except KernelKeyError:
            raise MapViewError(f"map {self.name}: no element with key {key.hex(' ')}") from None


def _byte(word: str) -> int | None:
    try:
        v = int(word, 0) if not (len(word) == 2 and all(c in "0123456789abcdefABCDEF"
                                                        for c in word)) else int(word, 16)
    except ValueError:
        return None
    return v if 0 <= v <= 255 else None


def parse_bytes(words: list[str], size: int, what: str, btf: Any = None,
                type_id: int = 0) -> bytes:
    """KEY or VALUE words as `size` bytes: `hex 0a000001`, one word per byte (bpftool's
    syntax, hex pairs or numbers), a value in the BTF type's terms, or an integer."""
    if not words:
        raise MapViewError(f"no {what} given")
    if words[0] == "hex":
        try:
            data = bytes.fromhex("".join(words[1:]))
        except ValueError:
            raise MapViewError(f"{what}: not hex: {' '.join(words[1:])!r}") from None
        return _sized(data, size, what)
    if len(words) == size and len(words) > 1:
        parsed = [_byte(w) for w in words]
        if all(b is not None for b in parsed):
            return bytes(parsed)  # type: ignore[arg-type]  # none is None
    text = " ".join(words)
    if btf is not None and type_id:
        from ..btf import BTFError, encode_value
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        try:
            return encode_value(btf, type_id, value, text_ints=True, path=what)
        except BTFError as e:
            raise MapViewError(f"{what} {text!r} does not fit the map's BTF type: {e}") from None
    if len(words) == 1:
        try:
            n = int(words[0], 0)
        except ValueError:
            n = None
        if n is not None:
            try:
                return n.to_bytes(size, "little", signed=n < 0)
            except OverflowError:
                raise MapViewError(f"{what} {n} does not fit in {size} bytes") from None
    raise MapViewError(f"{what} {text!r}: give {size} bytes (one per word, or `hex ...`) "
                       "or an integer")


def _sized(data: bytes, size: int, what: str) -> bytes:
    if len(data) != size:
        raise MapViewError(f"{what} is {len(data)} bytes, the map's {what} is {size}")
    return data


def format_element(rec: dict[str, Any]) -> str:
    """bpftool's plain layout: the formatted data as JSON where there is BTF, else
    "key: 00 01  value: ..." (per-CPU: one "value (CPU NN):" line per CPU)."""
    fmt = rec.get("formatted")
    if fmt is not None and ("value" in fmt or "values" in fmt):
        return json.dumps(fmt, indent=4)
    hx = lambda xs: " ".join(x[2:] for x in xs)  # noqa: E731
    if "values" in rec:
        lines = [f"key:\n{hx(rec['key'])}"]
        lines += [f"value (CPU {v['cpu']:02d}): {hx(v['value'])}" for v in rec["values"]]
        return "\n".join(lines)
    return f"key: {hx(rec['key'])}  value: {hx(rec['value'])}"
