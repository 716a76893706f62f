"""BPF maps: the typed map commands and the `Map` object that owns a map fd.

Keys and values are bytes of exactly key_size / value_size (an int is accepted and
encoded little-endian, as a C integer of that size). Per-CPU maps read and write
one value slot per possible CPU, each rounded up to 8 bytes, as the kernel does.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from ..cpus import possible_cpus
from . import abi
from .abi import BpfCmd, MapType
from .errors import KernelKeyError, kernel_error
from .fd import FD, Owner, fd_of
from .objects import map_get_fd_by_id, obj_get, obj_get_info_by_fd, obj_pin
from .syscall import bpf, bpf_raw, cmd_name

PERCPU_TYPES = frozenset({MapType.PERCPU_HASH, MapType.PERCPU_ARRAY,
                          MapType.LRU_PERCPU_HASH, MapType.PERCPU_CGROUP_STORAGE})


def to_bytes(v: "bytes | bytearray | memoryview | int", size: int, what: str = "key") -> bytes:
    """`v` as exactly `size` bytes: bytes-like as is, int as little-endian."""
    if isinstance(v, int):
        try:
            return v.to_bytes(size, "little", signed=v < 0)
        except OverflowError:
            raise ValueError(f"{what} {v} does not fit in {size} bytes") from None
    b = bytes(v)
    if len(b) != size:
        raise ValueError(f"{what} is {len(b)} bytes, the map needs {size}")
    return b


def _buf(data: bytes | None, size: int) -> ctypes.Array:
    buf = ctypes.create_string_buffer(max(size, 1))
    if data:
        ctypes.memmove(buf, data, len(data))
    return buf


def _addr(buf: ctypes.Array | None) -> int:
    return ctypes.addressof(buf) if buf is not None else 0


# --- typed commands --------------------------------------------------------------------------

# map types whose BTF key/value types libbpf never passes (their values are fds, stack
# traces, or have no key); the kernel refuses or ignores them
NO_BTF_TYPES = frozenset({MapType.PERF_EVENT_ARRAY, MapType.CGROUP_ARRAY,
                          MapType.STACK_TRACE, MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS,
                          MapType.DEVMAP, MapType.DEVMAP_HASH, MapType.CPUMAP,
                          MapType.XSKMAP, MapType.SOCKMAP, MapType.SOCKHASH, MapType.QUEUE,
                          MapType.STACK, MapType.ARENA, MapType.STRUCT_OPS})


def btf_type_ids(spec: Any) -> tuple[int, int]:
    """(btf_key_type_id, btf_value_type_id) BPF_MAP_CREATE gets for `spec` (a MapSpec):
    its
    key_type and value_type when they are BTF type ids (a key may be 0, as for data
    sections), (0, 0) without a value type or for types libbpf creates without BTF."""
    def type_id(t: Any) -> int:
        return t if isinstance(t, int) and not isinstance(t, bool) and 0 < t < 1 << 31 else 0
    value_id = type_id(spec.value_type)
    if not value_id or int(spec.type) in NO_BTF_TYPES:
        return 0, 0
    return type_id(spec.key_type), value_id


def map_create(map_type: int, key_size: int, value_size: int, max_entries: int, *,
               map_flags: int = 0, name: str = "", inner_map_fd: "int | FD | Owner" = 0,
               numa_node: int = 0, map_ifindex: int = 0, btf_fd: "int | FD | Owner" = 0,
               btf_key_type_id: int = 0, btf_value_type_id: int = 0,
               btf_vmlinux_value_type_id: int = 0, map_extra: int = 0) -> FD:
    """BPF_MAP_CREATE; returns the owned fd."""
    attr = abi.MapCreateAttr(
        map_type=map_type, key_size=key_size, value_size=value_size,
        max_entries=max_entries, map_flags=map_flags, inner_map_fd=fd_of(inner_map_fd),
        numa_node=numa_node, map_name=name.encode()[:abi.BPF_OBJ_NAME_LEN - 1],
        map_ifindex=map_ifindex, btf_fd=fd_of(btf_fd), btf_key_type_id=btf_key_type_id,
        btf_value_type_id=btf_value_type_id,
        btf_vmlinux_value_type_id=btf_vmlinux_value_type_id, map_extra=map_extra)
    return FD(bpf(BpfCmd.MAP_CREATE, attr, _type_detail(map_type)), "map")


def _type_detail(map_type: int) -> str:
    try:
        return f"map type {MapType(map_type).name.lower()}"
    except ValueError:
        return f"map type {map_type}"


def _elem(cmd: int, fd: int, key: bytes | None, value: ctypes.Array | None, flags: int,
          detail: str = "") -> None:
    # A zero-size key (queue, stack, bloom filter) must be passed as NULL.
    kbuf = _buf(key, len(key)) if key else None
    attr = abi.MapElemAttr(map_fd=fd, key=_addr(kbuf), value=_addr(value), flags=flags)
    bpf(cmd, attr, f"{detail} {key.hex()}" if detail and key else "")


def map_lookup_elem(fd: "int | FD | Owner", key: bytes, value_size: int,
                    flags: int = 0) -> bytes:
    """BPF_MAP_LOOKUP_ELEM: the value (value_size bytes); KernelKeyError if absent."""
    out = _buf(None, value_size)
    _elem(BpfCmd.MAP_LOOKUP_ELEM, fd_of(fd), key, out, flags, "key")
    return out.raw[:value_size]


def map_update_elem(fd: "int | FD | Owner", key: bytes, value: bytes,
                    flags: int = abi.BPF_ANY) -> None:
    """BPF_MAP_UPDATE_ELEM with BPF_ANY / BPF_NOEXIST / BPF_EXIST (| BPF_F_LOCK)."""
    _elem(BpfCmd.MAP_UPDATE_ELEM, fd_of(fd), key, _buf(value, len(value)), flags,
          "key")


def map_delete_elem(fd: "int | FD | Owner", key: bytes, flags: int = 0) -> None:
    """BPF_MAP_DELETE_ELEM; KernelKeyError if absent."""
    _elem(BpfCmd.MAP_DELETE_ELEM, fd_of(fd), key, None, flags, "key")


def map_get_next_key(fd: "int | FD | Owner", key: bytes | None, key_size: int) -> bytes | None:
    """BPF_MAP_GET_NEXT_KEY: the key after `key` (the first key for None), None at end."""
    out = _buf(None, key_size)
    try:
        _elem(BpfCmd.MAP_GET_NEXT_KEY, fd_of(fd), key, out, 0)
    except KernelKeyError:
        return None
    return out.raw[:key_size]


def map_lookup_and_delete_elem(fd: "int | FD | Owner", key: bytes | None, value_size: int,
                               flags: int = 0) -> bytes:
    """BPF_MAP_LOOKUP_AND_DELETE_ELEM (key None for queue/stack maps: pop)."""
    out = _buf(None, value_size)
    _elem(BpfCmd.MAP_LOOKUP_AND_DELETE_ELEM, fd_of(fd), key, out, flags,
          "key")
    return out.raw[:value_size]


def map_freeze(fd: "int | FD | Owner") -> None:
    """BPF_MAP_FREEZE: no more writes from user space."""
    bpf(BpfCmd.MAP_FREEZE, abi.MapElemAttr(map_fd=fd_of(fd)))


@dataclass(frozen=True)
class Batch:
    """One batch of a batched lookup: the keys and values read, and the token for
    the next call (None when the map has been walked to its end)."""

    keys: list[bytes]
    values: list[bytes]
    next_batch: bytes | None


def _lookup_batch(cmd: int, fd: int, key_size: int, value_size: int, count: int,
                  in_batch: bytes | None, elem_flags: int, flags: int) -> Batch:
    token_size = max(key_size, 8)  # hash maps use a u32 bucket token, arrays a key
    in_buf = _buf(in_batch, token_size) if in_batch is not None else None
    out_buf = _buf(None, token_size)
    keys = _buf(None, key_size * count)
    values = _buf(None, value_size * count)
    attr = abi.MapBatchAttr(in_batch=_addr(in_buf), out_batch=_addr(out_buf),
                            keys=_addr(keys), values=_addr(values), count=count,
                            map_fd=fd, elem_flags=elem_flags, flags=flags)
    ret, err = bpf_raw(cmd, attr)
    done = False
    if ret < 0:
        if err != _errno.ENOENT:
            raise kernel_error(err, cmd_name(cmd))
        done = True  # ENOENT: the walk is over; `count` says how many came back
    n = attr.count
    kraw, vraw = keys.raw, values.raw
    return Batch([kraw[i * key_size:(i + 1) * key_size] for i in range(n)],
                 [vraw[i * value_size:(i + 1) * value_size] for i in range(n)],
                 None if done else out_buf.raw[:token_size])


def map_lookup_batch(fd: "int | FD | Owner", key_size: int, value_size: int, count: int,
                     in_batch: bytes | None = None, *, elem_flags: int = 0,
                     flags: int = 0) -> Batch:
    """BPF_MAP_LOOKUP_BATCH of up to `count` elements from `in_batch` (None: start).
    `value_size` is the per-element size as seen by user space (per-CPU: all CPUs)."""
    return _lookup_batch(BpfCmd.MAP_LOOKUP_BATCH, fd_of(fd), key_size, value_size, count,
                         in_batch, elem_flags, flags)


def map_lookup_and_delete_batch(fd: "int | FD | Owner", key_size: int, value_size: int,
                                count: int, in_batch: bytes | None = None, *,
                                elem_flags: int = 0, flags: int = 0) -> Batch:
    """BPF_MAP_LOOKUP_AND_DELETE_BATCH (hash maps)."""
    return _lookup_batch(BpfCmd.MAP_LOOKUP_AND_DELETE_BATCH, fd_of(fd), key_size,
                         value_size, count, in_batch, elem_flags, flags)


def _batch_write(cmd: int, fd: int, keys: Sequence[bytes], values: Sequence[bytes] | None,
                 elem_flags: int, flags: int) -> int:
    kbuf = _buf(b"".join(keys), sum(len(k) for k in keys))
    vbuf = _buf(b"".join(values), sum(len(v) for v in values)) if values is not None else None
    attr = abi.MapBatchAttr(keys=_addr(kbuf), values=_addr(vbuf), count=len(keys),
                            map_fd=fd, elem_flags=elem_flags, flags=flags)
    ret, err = bpf_raw(cmd, attr)
    if ret < 0:
        exc = kernel_error(err, cmd_name(cmd), f"{attr.count} of {len(keys)} elements done")
        exc.done = attr.count  # type: ignore[attr-defined]  # elements done, for the caller
        raise exc
    return attr.count


def map_update_batch(fd: "int | FD | Owner", keys: Sequence[bytes], values: Sequence[bytes],
                     *, elem_flags: int = abi.BPF_ANY, flags: int = 0) -> int:
    """BPF_MAP_UPDATE_BATCH; returns how many were written. On failure the error has
    `done` = the number written before it."""
    if len(keys) != len(values):
        raise ValueError("update_batch needs as many values as keys")
    return _batch_write(BpfCmd.MAP_UPDATE_BATCH, fd_of(fd), keys, values, elem_flags, flags)


def map_delete_batch(fd: "int | FD | Owner", keys: Sequence[bytes], *, elem_flags: int = 0,
                     flags: int = 0) -> int:
    """BPF_MAP_DELETE_BATCH; returns how many were deleted."""
    return _batch_write(BpfCmd.MAP_DELETE_BATCH, fd_of(fd), keys, None, elem_flags, flags)


# --- info --------------------------------------------------------------------------------

@dataclass(frozen=True)
class MapInfo:
    """BPF_OBJ_GET_INFO_BY_FD of a map."""

    type: MapType | int
    id: int
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int
    name: str
    ifindex: int
    btf_id: int
    btf_key_type_id: int
    btf_value_type_id: int
    btf_vmlinux_value_type_id: int
    map_extra: int


def map_get_info(fd: "int | FD | Owner") -> MapInfo:
    i = obj_get_info_by_fd(fd, abi.BpfMapInfo())
    try:
        mtype: MapType | int = MapType(i.type)
    except ValueError:
        mtype = i.type
    return MapInfo(mtype, i.id, i.key_size, i.value_size, i.max_entries, i.map_flags,
                   i.name.decode(errors="replace"), i.ifindex, i.btf_id, i.btf_key_type_id,
                   i.btf_value_type_id, i.btf_vmlinux_value_type_id, i.map_extra)


# --- the Map object -------------------------------------------------------------------

class Map(Owner):
    """A BPF map that owns its fd. Mapping-like: `m[key]`, `m[key] = v`, `del m[key]`,
    `key in m`, iteration over keys, `items()`."""

    def __init__(self, fd: FD, map_type: int, key_size: int, value_size: int,
                 max_entries: int, map_flags: int = 0, name: str = "") -> None:
        self._fd = fd
        try:
            self.map_type: MapType | int = MapType(map_type)
        except ValueError:
            self.map_type = map_type
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.map_flags = map_flags
        self.name = name

    # construction
    @classmethod
    def create(cls, map_type: int, key_size: int, value_size: int, max_entries: int, *,
               map_flags: int = 0, name: str = "", **kw: int) -> "Map":
        """BPF_MAP_CREATE. Extra keywords are the other map_create() fields."""
        fd = map_create(map_type, key_size, value_size, max_entries, map_flags=map_flags,
                        name=name, **kw)
        return cls(fd, map_type, key_size, value_size, max_entries, map_flags, name)

    @classmethod
    def from_fd(cls, fd: FD) -> "Map":
        """Wrap (and take ownership of) an fd, reading the map's shape from the kernel
        (KernelInvalidError, and the fd closed, when it is not a map)."""
        from .objects import fd_kind
        kind = fd_kind(fd)
        if kind not in ("map", "unknown"):
            fd.close()
            raise kernel_error(_errno.EINVAL, "BPF_OBJ_GET_INFO_BY_FD",
                               f"the object is a {kind}, not a map")
        i = map_get_info(fd)
        return cls(fd, i.type, i.key_size, i.value_size, i.max_entries, i.map_flags, i.name)

    @classmethod
    def from_id(cls, map_id: int) -> "Map":
        return cls.from_fd(map_get_fd_by_id(map_id))

    @classmethod
    def from_pin(cls, path: str | os.PathLike[str], file_flags: int = 0) -> "Map":
        return cls.from_fd(obj_get(path, file_flags))

    # shape
    @property
    def percpu(self) -> bool:
        return self.map_type in PERCPU_TYPES

    @property
    def value_buffer_size(self) -> int:
        """Bytes of one value as user space reads/writes it (all CPUs for per-CPU maps)."""
        if self.percpu:
            return ((self.value_size + 7) // 8 * 8) * possible_cpus()
        return self.value_size

    def _key(self, key: "bytes | int") -> bytes:
        return to_bytes(key, self.key_size, "key")

    def _value(self, value: "bytes | int") -> bytes:
        if self.percpu and isinstance(value, (bytes, bytearray, memoryview)) \
                and len(value) == self.value_size:
            slot = (self.value_size + 7) // 8 * 8
            return (bytes(value) + bytes(slot - self.value_size)) * possible_cpus()
        return to_bytes(value, self.value_buffer_size, "value")

    # element operations
    def lookup(self, key: "bytes | int", flags: int = 0) -> bytes:
        """The value for `key`; KernelKeyError (a KeyError) if absent."""
        return map_lookup_elem(self, self._key(key), self.value_buffer_size, flags)

    def get(self, key: "bytes | int", default: bytes | None = None) -> bytes | None:
        try:
            return self.lookup(key)
        except KernelKeyError:
            return default

    def lookup_percpu(self, key: "bytes | int") -> list[bytes]:
        """Per-CPU maps: the value on each possible CPU."""
        raw = self.lookup(key)
        slot = (self.value_size + 7) // 8 * 8
        return [raw[i * slot:i * slot + self.value_size] for i in range(possible_cpus())]

    def update(self, key: "bytes | int", value: "bytes | int",
               flags: int = abi.BPF_ANY) -> None:
        """Insert or replace (flags BPF_ANY / BPF_NOEXIST / BPF_EXIST)."""
        map_update_elem(self, self._key(key), self._value(value), flags)

    def delete(self, key: "bytes | int") -> None:
        map_delete_elem(self, self._key(key))

    def lookup_and_delete(self, key: "bytes | int | None" = None, flags: int = 0) -> bytes:
        """Read and remove one element (key None: pop a queue/stack map)."""
        k = None if key is None else self._key(key)
        return map_lookup_and_delete_elem(self, k, self.value_buffer_size, flags)

    def next_key(self, key: "bytes | int | None" = None) -> bytes | None:
        """The key after `key` (None: the first key); None at the end."""
        return map_get_next_key(self, None if key is None else self._key(key), self.key_size)

    def freeze(self) -> None:
        """Make the map read-only for user space (BPF_MAP_FREEZE)."""
        map_freeze(self)

    # batches
    def lookup_batch(self, count: int = 64, in_batch: bytes | None = None, *,
                     elem_flags: int = 0) -> Batch:
        return map_lookup_batch(self, self.key_size, self.value_buffer_size, count,
                                in_batch, elem_flags=elem_flags)

    def lookup_and_delete_batch(self, count: int = 64, in_batch: bytes | None = None, *,
                                elem_flags: int = 0) -> Batch:
        return map_lookup_and_delete_batch(self, self.key_size, self.value_buffer_size,
                                           count, in_batch, elem_flags=elem_flags)

    def iter_batches(self, count: int = 64, *, delete: bool = False) -> Iterator[Batch]:
        """Every batch from the start of the map to its end."""
        token: bytes | None = None
        fn = self.lookup_and_delete_batch if delete else self.lookup_batch
        while True:
            b = fn(count, token)
            if b.keys or b.next_batch is None:
                yield b
            if b.next_batch is None:
                return
            token = b.next_batch

    def update_batch(self, items: "Sequence[tuple[bytes | int, bytes | int]]", *,
                     elem_flags: int = abi.BPF_ANY) -> int:
        keys = [self._key(k) for k, _ in items]
        values = [self._value(v) for _, v in items]
        return map_update_batch(self, keys, values, elem_flags=elem_flags)

    def delete_batch(self, keys: "Sequence[bytes | int]") -> int:
        return map_delete_batch(self, [self._key(k) for k in keys])

    # mapping protocol
    def __getitem__(self, key: "bytes | int") -> bytes:
        return self.lookup(key)

    def __setitem__(self, key: "bytes | int", value: "bytes | int") -> None:
        self.update(key, value)

    def __delitem__(self, key: "bytes | int") -> None:
        self.delete(key)

    def __contains__(self, key: object) -> bool:
        try:
            self.lookup(key)  # type: ignore[arg-type]  # `in` takes any object; lookup checks
        except KernelKeyError:
            return False
        return True

    def keys(self) -> Iterator[bytes]:
        """Every key, by BPF_MAP_GET_NEXT_KEY."""
        k = self.next_key()
        while k is not None:
            yield k
            k = self.next_key(k)

    __iter__ = keys

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        for k in self.keys():
            try:
                yield k, self.lookup(k)
            except KernelKeyError:  # deleted meanwhile
                continue

    def values(self) -> Iterator[bytes]:
        for _, v in self.items():
            yield v

    # objects
    def info(self) -> MapInfo:
        return map_get_info(self)

    @property
    def id(self) -> int:
        return self.info().id

    def pin(self, path: str | os.PathLike[str]) -> None:
        obj_pin(self, path)

    def __repr__(self) -> str:
        t = self.map_type.name.lower() if isinstance(self.map_type, MapType) else self.map_type
        state = "closed" if self.closed else f"fd={self._fd.fd}"
        return (f"<Map {t} {self.name!r} key={self.key_size} value={self.value_size} "
                f"max={self.max_entries} {state}>")
