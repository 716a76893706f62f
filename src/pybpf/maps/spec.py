"""MapSpec: what a map is, before it exists. A plain, deterministic dataclass (no fds,
no memory) that normalises the map type to the kernel's number and checks the shape the
way BPF_MAP_CREATE does, so a bad spec fails before anything is created on either
backend. `spec.create("vm" | "kernel")` makes the map.

A spec made in Python is checked when made; a spec read from an object file is made
with `check=False` and checked when the object is instantiated (`validate()`), so the
user can fix it in between (`spec.maps["x"] = spec.maps["x"].with_(max_entries=64)`)."""

from __future__ import annotations

import builtins
import mmap
import re
from dataclasses import InitVar, dataclass, field, fields, replace
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Callable, NoReturn

from ..uapi import MapFlag, MapType
from .errors import MapInvalidError, MapSpecError, MapSpecNotSupportedError, MapSpecTooBigError

if TYPE_CHECKING:
    from .base import Map

PAGE_SIZE = mmap.PAGESIZE  # the kernel's page size (ring buffers, mmapable arrays)
KMALLOC_MAX_SIZE = 1 << 22          # x86-64: MAX_PAGE_ORDER 10 + PAGE_SHIFT 12
PCPU_MIN_UNIT_SIZE = 32 << 10       # per-CPU values are bounded by the percpu unit size
HTAB_ELEM_HEADER = 48               # sizeof(struct htab_elem) on x86-64
LPM_DATA_SIZE_MIN, LPM_DATA_SIZE_MAX = 1, 256
ARRAY_VALUE_SIZE_MAX = (1 << 31) - 1  # INT_MAX (array_map_alloc_check, Linux 6.18)
RINGBUF_MAX_DATA_SZ = (1 << 32) - 3 * PAGE_SIZE  # rounded down to a power of two below

BPF_F_ACCESS_MASK = (MapFlag.RDONLY | MapFlag.RDONLY_PROG | MapFlag.WRONLY
                     | MapFlag.WRONLY_PROG)
ARRAY_CREATE_FLAG_MASK = (MapFlag.NUMA_NODE | MapFlag.MMAPABLE | BPF_F_ACCESS_MASK
                          | MapFlag.PRESERVE_ELEMS | MapFlag.INNER_MAP)
HTAB_CREATE_FLAG_MASK = (MapFlag.NO_PREALLOC | MapFlag.NO_COMMON_LRU | MapFlag.NUMA_NODE
                         | BPF_F_ACCESS_MASK | MapFlag.ZERO_SEED)
LPM_CREATE_FLAG_MASK = MapFlag.NO_PREALLOC | MapFlag.NUMA_NODE | BPF_F_ACCESS_MASK
QUEUE_STACK_CREATE_FLAG_MASK = MapFlag.NUMA_NODE | BPF_F_ACCESS_MASK
BLOOM_CREATE_FLAG_MASK = MapFlag.NUMA_NODE | MapFlag.ZERO_SEED | BPF_F_ACCESS_MASK
RINGBUF_CREATE_FLAG_MASK = MapFlag.NUMA_NODE

ARRAY_TYPES = frozenset({MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.PROG_ARRAY,
                         MapType.PERF_EVENT_ARRAY, MapType.CGROUP_ARRAY,
                         MapType.ARRAY_OF_MAPS})
HASH_TYPES = frozenset({MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH,
                        MapType.LRU_PERCPU_HASH, MapType.HASH_OF_MAPS})
PERCPU_TYPES = frozenset({MapType.PERCPU_ARRAY, MapType.PERCPU_HASH,
                          MapType.LRU_PERCPU_HASH, MapType.PERCPU_CGROUP_STORAGE})
MAP_IN_MAP_TYPES = frozenset({MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS})
FD_VALUE_TYPES = frozenset({MapType.PROG_ARRAY, MapType.PERF_EVENT_ARRAY,
                            MapType.CGROUP_ARRAY, MapType.ARRAY_OF_MAPS,
                            MapType.HASH_OF_MAPS})
KEYLESS_TYPES = frozenset({MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER,
                           MapType.RINGBUF, MapType.USER_RINGBUF})



class Pinning(IntEnum):
    """Where the kernel backend pins a map (MapSpec.pinning), relative to the pin root
    (a bpffs, /sys/fs/bpf by default): libbpf's LIBBPF_PIN_NONE and LIBBPF_PIN_BY_NAME
    (`<root>/<name>`), and the namespaces of iproute2's `struct bpf_elf_map`,
    PIN_OBJECT_NS (`<root>/tc/<sha1 of the object file>/<name>`) and PIN_GLOBAL_NS
    (`<root>/tc/globals/<name>`). iproute2 numbers those 1 and 2, libbpf's 1 means by
    name: here they are numbered apart (0x100 + iproute2's number)."""

    NONE = 0
    BY_NAME = 1
    IPROUTE2_OBJECT_NS = 0x101
    IPROUTE2_GLOBAL_NS = 0x102


PIN_NONE = Pinning.NONE
PIN_BY_NAME = Pinning.BY_NAME

_NAME_RE = re.compile(r"[A-Za-z0-9_.]*")


def type_names() -> list[str]:
    """The accepted short names, lower case ("hash", "lru_percpu_hash", ...)."""
    return sorted({t.name.lower() for t in MapType if t.name != "UNSPEC"
                   and not t.name.endswith("_DEPRECATED")})


def map_type(value: "str | int | MapType") -> int:
    """The kernel's number for a map type given as "hash", "BPF_MAP_TYPE_HASH",
    MapType.HASH or 1."""
    if isinstance(value, MapType):
        return int(value)
    if isinstance(value, bool):
        raise MapSpecError(f"map type must be a name or a number, not {value!r}")
    if isinstance(value, int):
        try:
            return int(MapType(value))
        except ValueError:
            raise MapSpecError(f"unknown map type {value}; the kernel's map types are "
                               f"{', '.join(type_names())}", op="create") from None
    if isinstance(value, str):
        name = value.strip().upper().removeprefix("BPF_MAP_TYPE_")
        try:
            t = MapType[name]
        except KeyError:
            t = None
        if t is None or t == MapType.UNSPEC:
            raise MapSpecError(f"unknown map type {value!r}; valid names are "
                               f"{', '.join(type_names())}", op="create")
        return int(t)
    raise MapSpecError(f"map type must be a name or a number, not {type(value).__name__}",
                       op="create")


def type_name(t: int) -> str:
    try:
        return MapType(t).name.lower()
    except ValueError:
        return str(t)


def to_bytes(v: Any, size: int, what: str) -> bytes:
    """`v` as exactly `size` bytes: bytes-like as is, an int little-endian."""
    if isinstance(v, int) and not isinstance(v, bool):
        try:
            return v.to_bytes(size, "little", signed=v < 0)
        except OverflowError:
            raise MapInvalidError(f"{what} {v} does not fit in {size} bytes") from None
    if isinstance(v, (bytes, bytearray, memoryview)):
        b = bytes(v)
        if len(b) != size:
            raise MapInvalidError(f"{what} is {len(b)} bytes, the map needs {size}")
        return b
    raise MapInvalidError(f"{what} must be bytes or an int, not {type(v).__name__}")


def round8(n: int) -> int:
    return (n + 7) & ~7


@dataclass(frozen=True)
class MapSpec:
    """A map's definition. `type` is normalised to the kernel's number (accepts a name,
    "BPF_MAP_TYPE_..." or MapType); `flags` are BPF_F_* map flags; `inner` is the inner
    map's MapSpec for array_of_maps/hash_of_maps; `map_extra` the bloom filter's hash
    count (low 4 bits); `name` may be longer than the kernel's 15 characters (a kernel
    map gets the first 15, as with libbpf); `pinning` a Pinning (libbpf's PIN_NONE or
    PIN_BY_NAME, iproute2's object or global namespace: the kernel backend pins such
    maps under its pin root and reuses a compatible map pinned there); `key_type` /
    `value_type` opaque BTF type references (stored, not interpreted); `contents` initial
    (key, value) pairs written at creation; `freeze` freezes the map after them.
    A perf_event_array with max_entries 0 gets one slot per possible CPU at creation,
    as libbpf does. `check=False` defers the checks to validate() (called by create()
    and at instantiation), for specs read from object files."""

    type: "int | str | MapType"
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    name: str = ""
    inner: "MapSpec | None" = None
    map_extra: int = 0
    pinning: int = 0
    key_type: Any = None
    value_type: Any = None
    contents: tuple = field(default=())
    freeze: bool = False
    check: InitVar[bool] = True

    def __post_init__(self, check: bool) -> None:
        try:
            object.__setattr__(self, "type", map_type(self.type))
        except MapSpecError:
            if check or not isinstance(self.type, int):
                raise  # an unknown number is kept (validate() names it); a bad name is not
        if isinstance(self.flags, int):
            object.__setattr__(self, "flags", int(self.flags))
        if isinstance(self.pinning, int) and not isinstance(self.pinning, bool) and \
                self.pinning in Pinning._value2member_map_:
            object.__setattr__(self, "pinning", Pinning(self.pinning))
        object.__setattr__(self, "contents", tuple(tuple(kv) for kv in self.contents))
        for kv in self.contents:
            if len(kv) != 2:
                raise MapSpecError(self._named("contents must be (key, value) pairs"),
                                   op="create")
        if check:
            self.validate()

    # --- shape ----------------------------------------------------------------------------
    @property
    def type_id(self) -> int:
        """`type` as the kernel's number, which __post_init__ made of a name or MapType."""
        t = self.type
        assert isinstance(t, int), t
        return t

    @property
    def map_type(self) -> MapType:
        return MapType(self.type_id)

    @property
    def type_name(self) -> str:
        return type_name(self.type_id)

    @property
    def percpu(self) -> bool:
        return self.type in PERCPU_TYPES

    @property
    def value_stride(self) -> int:
        """Bytes between two values in the map's memory: value_size rounded up to 8."""
        return round8(self.value_size)

    def with_(self, **changes: Any) -> "MapSpec":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    # --- validation ---------------------------------------------------------------------
    def _named(self, reason: str) -> str:
        return f"map {self.name!r}: {reason}" if self.name else reason

    def _fail(self, reason: str, cls: builtins.type[MapSpecError] = MapSpecError,
              **kw: Any) -> NoReturn:
        raise cls(self._named(reason), op="create", **kw)

    def _bad(self, field_name: str, why: str,
             cls: builtins.type[MapSpecError] = MapSpecError) -> NoReturn:
        """Fail naming the field, its value and the map type:
        "map 'x': max_entries 0 is invalid for hash maps (must be > 0)"."""
        value = getattr(self, field_name)
        shown = hex(value) if field_name == "flags" else value
        self._fail(f"{field_name} {shown} is invalid for {self.type_name} maps ({why})", cls)

    def validate(self) -> None:
        """Raise MapSpecError (MapSpecTooBigError for E2BIG, MapSpecNotSupportedError
        for ENOTSUPP) where BPF_MAP_CREATE would refuse this spec; the message names
        the map and the field."""
        if not isinstance(self.type, int) or isinstance(self.type, bool):
            self._fail(f"type must be a name or a number, not {self.type!r}")
        try:
            map_type(self.type)
        except MapSpecError as e:
            self._fail(e.detail)
        t = self.type
        for f in ("key_size", "value_size", "max_entries", "map_extra", "flags"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0 or v >= 1 << 64:
                self._fail(f"{f} must be a non-negative integer, got {v!r}")
        for f in ("key_size", "value_size", "max_entries", "flags"):
            if getattr(self, f) >= 1 << 32:
                self._bad(f, "key_size, value_size, max_entries and flags are 32-bit")
        if not isinstance(self.name, str) or not _NAME_RE.fullmatch(self.name):
            # the kernel keeps the first 15 characters
            raise MapSpecError(f"map name {self.name!r} must be characters of "
                               "[A-Za-z0-9_.]", op="create")
        if not isinstance(self.pinning, Pinning):
            self._fail(f"pinning {self.pinning!r} is none of LIBBPF_PIN_NONE (0), "
                       "LIBBPF_PIN_BY_NAME (1) or iproute2's namespaces "
                       "(Pinning.IPROUTE2_OBJECT_NS, Pinning.IPROUTE2_GLOBAL_NS)")
        if self.map_extra and t != MapType.BLOOM_FILTER and t != MapType.ARENA:
            self._bad("map_extra", "map_extra is only for bloom filters (and arenas)")
        if self.flags & MapFlag.RDONLY and self.flags & MapFlag.WRONLY:
            self._bad("flags", "BPF_F_RDONLY and BPF_F_WRONLY exclude each other")
        if self.flags & MapFlag.RDONLY_PROG and self.flags & MapFlag.WRONLY_PROG:
            self._bad("flags", "BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG exclude each other")
        if self.inner is not None and t not in MAP_IN_MAP_TYPES:
            self._fail(f"inner is invalid for {self.type_name} maps (only array_of_maps "
                       "and hash_of_maps have an inner map)")
        if t in PERCPU_TYPES and _CHECKS.get(t) is not _check_hash:  # hashes: in order there
            _check_numa(self)
        check = _CHECKS.get(t)
        token = self.flags & MapFlag.TOKEN_FD
        if token and t in _CHECKED_AT_ALLOC:  # the token is looked up before these checks
            self._token_fail()
        if check is not None:  # the kernel takes BPF_F_TOKEN_FD off before these checks
            check(replace(self, flags=self.flags & ~int(MapFlag.TOKEN_FD), check=False)
                  if token else self)
        if token:
            self._token_fail()

    def _token_fail(self) -> None:
        self._bad("flags", "BPF_F_TOKEN_FD needs a BPF token, which a MapSpec does not carry")

    def _flags_within(self, mask: int) -> None:
        extra = self.flags & ~int(mask)  # int: ~IntFlag keeps only the defined bits
        if extra:
            named = [f for f in MapFlag if f.name and f.value & extra
                     and f.value & (f.value - 1) == 0]
            rest = extra & ~sum(f.value for f in named)
            parts = [f"BPF_F_{f.name}" for f in named] + ([hex(rest)] if rest else [])
            self._fail(f"flags {self.flags:#x} are invalid for {self.type_name} maps "
                       f"({'|'.join(parts)} not allowed)")

    # --- creation ------------------------------------------------------------------------
    def resolved(self) -> "MapSpec":
        """The spec as it is created: a perf_event_array with max_entries 0 gets one
        slot per possible CPU (/sys/devices/system/cpu/possible), as libbpf does."""
        if self.type == MapType.PERF_EVENT_ARRAY and self.max_entries == 0:
            from ..cpus import possible_cpus
            return self.with_(max_entries=possible_cpus())
        return self

    def create(self, backend: Any = "vm") -> "Map":
        """Make the map on the VM ("vm") or in the kernel ("kernel"), write `contents`,
        then freeze it if `freeze`. On any failure nothing is left behind. The spec is
        validated first (MapSpecError, before anything is created)."""
        from ..backend import get_backend
        platform = get_backend(backend)
        self.validate()
        return platform.create_map(self.resolved())

    @classmethod
    def from_info(cls, type: int, key_size: int, value_size: int, max_entries: int,
                  flags: int = 0, name: str = "", map_extra: int = 0) -> "MapSpec":
        """The spec of an existing kernel map (BPF_OBJ_GET_INFO_BY_FD). The kernel does
        not report a map of maps' inner template, so such a spec has inner None."""
        if type in MAP_IN_MAP_TYPES:
            spec = object.__new__(cls)
            values = dict(type=int(type), key_size=key_size, value_size=value_size,
                          max_entries=max_entries, flags=flags, name=name, inner=None,
                          map_extra=map_extra, pinning=Pinning.NONE, key_type=None, value_type=None,
                          contents=(), freeze=False)
            for k, v in values.items():
                object.__setattr__(spec, k, v)
            return spec
        return cls(type, key_size, value_size, max_entries, flags, name,
                   map_extra=map_extra)

    # --- serialisation (pin descriptors) -------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON-able data (without contents and BTF references)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("contents", "key_type", "value_type"):
                continue
            v = getattr(self, f.name)
            out[f.name] = v.to_dict() if isinstance(v, MapSpec) else v
        out["type"] = self.type_name
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MapSpec":
        d = dict(data)
        if d.get("inner") is not None:
            d["inner"] = cls.from_dict(d["inner"])
        return cls(**d)

    def __repr__(self) -> str:
        parts = [f"{self.type_name!r}", f"key_size={self.key_size}",
                 f"value_size={self.value_size}", f"max_entries={self.max_entries}"]
        if self.flags:
            parts.append(f"flags={MapFlag(self.flags)!r}")
        if self.name:
            parts.append(f"name={self.name!r}")
        if self.inner is not None:
            parts.append(f"inner={self.inner!r}")
        if self.map_extra:
            parts.append(f"map_extra={self.map_extra}")
        if self.pinning:
            parts.append(f"pinning=Pinning.{self.pinning.name}" if isinstance(
                self.pinning, Pinning) else f"pinning={self.pinning!r}")
        if self.contents:
            parts.append(f"contents=<{len(self.contents)} pairs>")
        if self.freeze:
            parts.append("freeze=True")
        return f"MapSpec({', '.join(parts)})"


# --- per-type checks, after the kernel's map_alloc_check functions ------------------------

def _common(s: MapSpec) -> None:
    if s.max_entries == 0 and s.type != MapType.PERF_EVENT_ARRAY:  # 0: one per CPU
        s._bad("max_entries", "must be > 0")


def _check_array(s: MapSpec) -> None:
    _common(s)
    s._flags_within(ARRAY_CREATE_FLAG_MASK)
    if s.key_size != 4:
        s._bad("key_size", "key_size must be 4 (a u32 index)")
    if s.value_size == 0:
        s._bad("value_size", "must be > 0")
    if s.type != MapType.ARRAY and s.flags & (MapFlag.MMAPABLE | MapFlag.INNER_MAP):
        s._bad("flags", "BPF_F_MMAPABLE and BPF_F_INNER_MAP are only for plain arrays")
    if s.type != MapType.PERF_EVENT_ARRAY and s.flags & MapFlag.PRESERVE_ELEMS:
        s._bad("flags", "BPF_F_PRESERVE_ELEMS is only for perf_event_array")
    if s.type == MapType.PERCPU_ARRAY and s.value_stride > PCPU_MIN_UNIT_SIZE:
        s._bad("value_size", f"per-CPU value_size is at most {PCPU_MIN_UNIT_SIZE}",
               MapSpecTooBigError)
    if s.value_size > ARRAY_VALUE_SIZE_MAX:
        s._bad("value_size", f"value_size is at most {ARRAY_VALUE_SIZE_MAX}",
               MapSpecTooBigError)


def _check_fd_array(s: MapSpec) -> None:
    if s.value_size != 4:
        _common(s)
        s._bad("value_size", "must be 4, an fd")
    if s.flags & (MapFlag.RDONLY_PROG | MapFlag.WRONLY_PROG):
        s._bad("flags", "maps of fds take no BPF_F_RDONLY_PROG or BPF_F_WRONLY_PROG")
    _check_array(s)


def _check_map_in_map(s: MapSpec) -> None:
    if s.inner is None:
        s._fail(f"{s.type_name} needs an inner map spec (inner=MapSpec(...))")
    inner = s.inner
    assert inner is not None
    if inner.type in MAP_IN_MAP_TYPES:
        s._fail("inner is invalid: the inner map cannot itself be a map of maps")
    if inner.type == MapType.PROG_ARRAY:
        s._fail("inner is invalid: a prog_array cannot be an inner map",
                MapSpecNotSupportedError)
    try:
        inner.validate()
    except MapSpecError as e:
        raise type(e)(s._named(f"inner map: {e.detail}"), op="create") from None
    if s.type == MapType.ARRAY_OF_MAPS:
        _check_fd_array(s)
    else:
        _check_hash(s, fd=True)


def _check_numa(s: MapSpec) -> None:
    """Per-CPU maps and per-CPU LRU lists have no NUMA node."""
    percpu_lru = s.type in (MapType.LRU_HASH, MapType.LRU_PERCPU_HASH) and \
        s.flags & MapFlag.NO_COMMON_LRU
    if (s.type in PERCPU_TYPES or percpu_lru) and s.flags & MapFlag.NUMA_NODE:
        s._bad("flags", "per-CPU maps and per-CPU LRU lists take no BPF_F_NUMA_NODE")


def _check_hash(s: MapSpec, fd: bool = False) -> None:
    if fd and s.value_size != 4:
        s._bad("value_size", "must be 4, an fd")
    lru = s.type in (MapType.LRU_HASH, MapType.LRU_PERCPU_HASH)
    s._flags_within(HTAB_CREATE_FLAG_MASK)
    if not lru and s.flags & MapFlag.NO_COMMON_LRU:
        s._bad("flags", "BPF_F_NO_COMMON_LRU is only for LRU maps")
    if lru and s.flags & MapFlag.NO_PREALLOC:
        s._bad("flags", "LRU maps are always preallocated: no BPF_F_NO_PREALLOC",
               MapSpecNotSupportedError)
    _check_numa(s)  # after the LRU checks, as htab_map_alloc_check
    for f in ("max_entries", "key_size", "value_size"):
        if getattr(s, f) == 0:
            s._bad(f, "must be > 0")
    if s.key_size + s.value_size >= KMALLOC_MAX_SIZE - HTAB_ELEM_HEADER:
        s._bad("value_size", f"key_size + value_size must be below "
               f"{KMALLOC_MAX_SIZE - HTAB_ELEM_HEADER}", MapSpecTooBigError)
    if s.percpu and s.value_stride > PCPU_MIN_UNIT_SIZE:
        s._bad("value_size", f"per-CPU value_size is at most {PCPU_MIN_UNIT_SIZE}",
               MapSpecTooBigError)


def _check_lpm(s: MapSpec) -> None:
    if s.max_entries == 0:
        s._bad("max_entries", "must be > 0")
    if not s.flags & MapFlag.NO_PREALLOC:
        s._bad("flags", "LPM tries must be created with BPF_F_NO_PREALLOC")
    s._flags_within(LPM_CREATE_FLAG_MASK)
    if not 4 + LPM_DATA_SIZE_MIN <= s.key_size <= 4 + LPM_DATA_SIZE_MAX:
        s._bad("key_size", f"key_size must be 4 (u32 prefixlen) + 1..{LPM_DATA_SIZE_MAX} "
               "data bytes")
    if not 1 <= s.value_size <= KMALLOC_MAX_SIZE - 64 - LPM_DATA_SIZE_MAX:
        s._bad("value_size", f"must be 1..{KMALLOC_MAX_SIZE - 64 - LPM_DATA_SIZE_MAX}")


def _check_keyless(s: MapSpec) -> None:
    """Maps without keys (queue, stack, bloom filter): key_size 0, values, entries."""
    if s.key_size != 0:
        s._bad("key_size", "needs key_size 0")
    if s.value_size == 0:
        s._bad("value_size", "needs value_size > 0")
    if s.max_entries == 0:
        s._bad("max_entries", "must be > 0")


def _check_queue_stack(s: MapSpec) -> None:
    _check_keyless(s)
    s._flags_within(QUEUE_STACK_CREATE_FLAG_MASK)
    if s.value_size > KMALLOC_MAX_SIZE:
        s._bad("value_size", f"value_size is at most {KMALLOC_MAX_SIZE}", MapSpecTooBigError)


def _check_bloom(s: MapSpec) -> None:
    _check_keyless(s)
    s._flags_within(BLOOM_CREATE_FLAG_MASK)
    if s.map_extra & ~0xF:
        s._bad("map_extra", "it holds the number of hash functions in its low 4 bits only")


def _check_ringbuf(s: MapSpec) -> None:
    s._flags_within(RINGBUF_CREATE_FLAG_MASK)
    n = s.max_entries
    if s.key_size:
        s._bad("key_size", "needs key_size 0")
    if s.value_size:
        s._bad("value_size", "needs value_size 0")
    if n == 0 or n & (n - 1) or n % PAGE_SIZE:
        s._bad("max_entries", "the size in bytes must be a power of two and a multiple of "
               f"the page size ({PAGE_SIZE})")
    if n > RINGBUF_MAX_DATA_SZ:
        s._bad("max_entries", "ring buffer too large", MapSpecTooBigError)


DEV_CREATE_FLAG_MASK = MapFlag.NUMA_NODE | MapFlag.RDONLY | MapFlag.WRONLY


def _check_devmap(s: MapSpec) -> None:
    """dev_map_alloc_check (devmap, devmap_hash) and xsk_map_alloc: u32 keys, values of
    4 bytes (ifindex / socket fd) or, for devmaps, 8 (struct bpf_devmap_val)."""
    sizes = (4,) if s.type == MapType.XSKMAP else (4, 8)
    if s.max_entries == 0:
        s._bad("max_entries", "must be > 0")
    if s.key_size != 4:
        s._bad("key_size", "needs key_size 4")
    if s.value_size not in sizes:
        s._bad("value_size", f"needs value_size {' or '.join(map(str, sizes))}")
    if s.flags & ~int(DEV_CREATE_FLAG_MASK):
        s._bad("flags", "only BPF_F_NUMA_NODE|RDONLY|WRONLY are allowed")


def _cpu_max() -> int:
    try:
        return int(open("/sys/devices/system/cpu/kernel_max").read()) + 1  # NR_CPUS
    except (OSError, ValueError):
        return 8192


def _check_cpumap(s: MapSpec) -> None:
    """cpu_map_alloc: u32 keys, value qsize (4) or struct bpf_cpumap_val (8), at most
    NR_CPUS entries (E2BIG)."""
    if s.max_entries == 0:
        s._bad("max_entries", "must be > 0")
    if s.key_size != 4:
        s._bad("key_size", "needs key_size 4")
    if s.value_size not in (4, 8):
        s._bad("value_size", "needs value_size 4 or 8")
    if s.flags & ~int(MapFlag.NUMA_NODE):
        s._bad("flags", "no flags but BPF_F_NUMA_NODE")
    if s.max_entries > _cpu_max():
        s._bad("max_entries", f"max_entries is at most NR_CPUS ({_cpu_max()})",
               MapSpecTooBigError)


_CHECKED_AT_ALLOC = frozenset({MapType.CPUMAP})  # no map_alloc_check: checked in map_alloc

_CHECKS: dict[int, Callable[[MapSpec], None]] = {
    MapType.DEVMAP: _check_devmap,
    MapType.DEVMAP_HASH: _check_devmap,
    MapType.XSKMAP: _check_devmap,
    MapType.CPUMAP: _check_cpumap,
    MapType.ARRAY: _check_array,
    MapType.PERCPU_ARRAY: _check_array,
    MapType.PROG_ARRAY: _check_fd_array,
    MapType.PERF_EVENT_ARRAY: _check_fd_array,
    MapType.CGROUP_ARRAY: _check_fd_array,
    MapType.ARRAY_OF_MAPS: _check_map_in_map,
    MapType.HASH_OF_MAPS: _check_map_in_map,
    MapType.HASH: _check_hash,
    MapType.PERCPU_HASH: _check_hash,
    MapType.LRU_HASH: _check_hash,
    MapType.LRU_PERCPU_HASH: _check_hash,
    MapType.LPM_TRIE: _check_lpm,
    MapType.QUEUE: _check_queue_stack,
    MapType.STACK: _check_queue_stack,
    MapType.BLOOM_FILTER: _check_bloom,
    MapType.RINGBUF: _check_ringbuf,
}


def specs_equal_for_inner(template: MapSpec, candidate: MapSpec) -> bool:
    """bpf_map_meta_equal: may `candidate` be stored in a map of maps whose inner
    template is `template`? Type, key and value sizes and flags must match; arrays
    must match max_entries too unless the template has BPF_F_INNER_MAP."""
    if (template.type, template.key_size, template.value_size, template.flags) != \
            (candidate.type, candidate.key_size, candidate.value_size, candidate.flags):
        return False
    if template.type == MapType.ARRAY and not template.flags & MapFlag.INNER_MAP:
        return template.max_entries == candidate.max_entries
    return True
