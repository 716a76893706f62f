"""The kernel's map types on the VM.

Every VM map keeps its values in a `Slab` (see memory.py) at a stable address, and the
slab is the map's Region (`map:<name>`) in a program's Memory, at a fixed VM address:
segment MAP_SEGMENT_BASE + map id. The map "pointer" a program gets from
`lddw BPF_PSEUDO_MAP_FD` is the start of that segment, so the helpers find the map by
the pointer's segment, and a lookup returns an address inside the region: writes
through it persist in the map.

Each type implements its operations once, returning 0 or a positive errno, and both the
user-space API (which raises the MapError for the errno) and the program helpers (which
return -errno) call them; so user space and programs see the kernel's rules alike.
What each type models and where it deliberately differs from the kernel is said in its
class docstring.
"""

from __future__ import annotations

import bisect
import errno as E
import hashlib
import itertools
import os
import struct
from collections import OrderedDict
from typing import Any, Callable, Generator

from ..uapi import BPF_ANY, BPF_EXIST, BPF_NOEXIST, MapFlag, MapType
from .base import Map, populate
from .errors import (ENOTSUPP, MapBadFDError, MapError, MapInvalidError,
                     MapNotSupportedError, MapPermissionError, map_error)
from .memory import PAGE_SIZE, RingMemory, Slab
from .spec import MAP_IN_MAP_TYPES, MapSpec, round8, specs_equal_for_inner

# VM address of map id N's region: segment MAP_SEGMENT_BASE + N (region mid-segment)
MAP_SEGMENT_BASE = 0x4D50_0000
SEGMENT_HALF = 1 << 31
_IDS = itertools.count(1)  # process-wide, as the kernel's map ids
BPF_F_LOCK = 4
EOPNOTSUPP = E.EOPNOTSUPP

# ring buffer record header
BPF_RINGBUF_BUSY_BIT = 1 << 31
BPF_RINGBUF_DISCARD_BIT = 1 << 30
BPF_RINGBUF_HDR_SZ = 8
RINGBUF_PGOFF = 1          # pages of struct bpf_ringbuf before consumer_pos
RINGBUF_POS_PAGES = 2      # consumer and producer pages
BPF_RB_NO_WAKEUP = 1
BPF_RB_FORCE_WAKEUP = 2
BPF_RB_AVAIL_DATA, BPF_RB_RING_SIZE, BPF_RB_CONS_POS, BPF_RB_PROD_POS = 0, 1, 2, 3
RINGBUF_MAX_RECORD_SZ = 0xFFFF_FFFF // 4

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


def _fail(err: int, op: str, detail: str = "") -> MapError:
    return map_error(err, op, detail)


class _Slots:
    """Value slots 0..max_entries-1 handed out lowest-fresh first, a freed slot reused
    before a fresh one (last freed first): the order of a preallocated free list, in
    memory that follows the slots in use, not max_entries."""

    __slots__ = ("_freed", "_fresh")

    def __init__(self) -> None:
        self._freed: list[int] = []
        self._fresh = 0

    def alloc(self) -> int:
        if self._freed:
            return self._freed.pop()
        self._fresh += 1
        return self._fresh - 1

    def free(self, slot: int) -> None:
        self._freed.append(slot)


GROWN_INITIAL_SLOTS = 16  # value slots a non-preallocated map starts with


class VMMap(Map):
    """A map living in this process for the VM. `fd` is the map's id (unique in the
    process, never reused), which is what programs put in `lddw map_fd(N)`."""

    backend = "vm"
    shareable = False  # whether the memory can be shared with another process (pin)

    def __init__(self, spec: MapSpec, *, backing: str | None = None) -> None:
        super().__init__(spec)
        self._id = next(_IDS)
        self.segment = MAP_SEGMENT_BASE + self._id
        self.pointer = self.segment << 32   # what lddw map_fd gives a program
        self.frozen = False
        self._closed = False
        self._owns_backing = backing is None
        self._pinned_paths: list[str] = []
        self._readable = not spec.flags & MapFlag.WRONLY   # user space, fast paths
        self._writable = not spec.flags & MapFlag.RDONLY
        self.stride = round8(spec.value_size)
        self.slot_bytes = self.stride * self.ncpus
        self._init_memory(backing)
        from ..vm import Region
        label = spec.name or f"{spec.type_name}{self._id}"
        self.region = Region(f"map:{label}", self.pointer + SEGMENT_HALF, self._view,
                             not spec.flags & MapFlag.RDONLY_PROG)
        self.base = self.region.base

    # --- memory --------------------------------------------------------------------------
    # A non-preallocated map (BPF_F_NO_PREALLOC hashes, LPM tries, devmap_hash: the
    # kernel allocates their elements on update) starts with room for a few values and
    # doubles its memory as slots are used, so its memory follows what it stores; a
    # preallocated one has all max_entries slots from the start (an anonymous mapping,
    # whose pages the host commits as they are written).
    grows = False

    def _memory_size(self) -> int:
        return self.max_entries * self.slot_bytes

    def _initial_size(self) -> int:
        if self.grows:
            return min(self.max_entries, GROWN_INITIAL_SLOTS) * self.slot_bytes
        return self._memory_size()

    def _ensure_slot(self, slot: int) -> int:
        """Make value slot `slot` addressable, growing a non-preallocated map's memory
        (the values move to a new block at the same VM addresses); 0, or ENOMEM when
        the values would pass the VM's 2 GiB per map."""
        need = (slot + 1) * self.slot_bytes
        have = len(self._view)
        if need <= have:
            return 0
        size = min(max(need, 2 * have), self._memory_size())
        if size > SEGMENT_HALF:
            size = max(need, SEGMENT_HALF)
            if size > SEGMENT_HALF:
                return E.ENOMEM
        old = self.slab
        try:
            slab = Slab.anonymous(size)
        except (MemoryError, OSError):
            return E.ENOMEM
        slab.view[:have] = self._view
        self.slab = slab
        self._view = slab.view
        self._address = slab.address
        self.region.buf = slab.view
        old.close()
        return 0

    def _init_memory(self, backing: str | None) -> None:
        size = self._initial_size()
        if size > SEGMENT_HALF:
            raise MapNotSupportedError(f"{size} bytes of values is more than the VM's 2 GiB "
                                       "per map", op="create")
        try:
            if backing is not None:
                self.slab = Slab(size, backing)
            elif self.shareable:
                self.slab = Slab.shared(size, self.spec.type_name)
            else:
                self.slab = Slab.anonymous(size)
        except (MemoryError, OSError) as e:
            if backing is not None and not isinstance(e, MemoryError) \
                    and getattr(e, "errno", None) != E.ENOMEM:
                raise
            raise _fail(E.ENOMEM, "create", f"cannot map {size} bytes for the values") from e
        self._view = self.slab.view
        self._backing_path = self.slab.path
        self._address = self.slab.address

    def _release_memory(self) -> None:
        self.slab.close()

    @property
    def backing_path(self) -> str | None:
        """The shared file behind this map's memory (None: private memory)."""
        return self._backing_path

    @property
    def address(self) -> int:
        """The host address of the map's value memory (stable until close; a
        non-preallocated map's moves when it grows)."""
        return self._address

    # --- identity / lifecycle -----------------------------------------------------------
    @property
    def fd(self) -> int:
        self._check_open()
        return self._id

    @property
    def id(self) -> int:
        return self._id

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._readable = self._writable = False
        path = self.backing_path
        self._release_memory()
        if path and self._owns_backing and not self._pinned_paths:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def pin(self, path: "str | os.PathLike[str]") -> None:
        """Write a descriptor file at `path` naming the spec and the shared backing file,
        so `Map.from_pinned(path)` in another process opens the same memory. Only maps
        with shared memory (BPF_F_MMAPABLE arrays, ring buffers) can be pinned."""
        from .pin import pin_vm_map
        self._check_open()
        pin_vm_map(self, os.fspath(path))
        self._pinned_paths.append(os.fspath(path))

    # --- user-space permission checks, as map_get_sys_perms -----------------------------
    def _can_read(self, op: str) -> None:
        if self._closed:
            self._check_open()
        if self.spec.flags & MapFlag.WRONLY:
            raise MapPermissionError("the map is BPF_F_WRONLY for user space", op=op)

    def _can_write(self, op: str) -> None:
        if self._closed:
            self._check_open()
        if self.frozen:
            raise MapPermissionError("the map is frozen", op=op)
        if self.spec.flags & MapFlag.RDONLY:
            raise MapPermissionError("the map is BPF_F_RDONLY for user space", op=op)

    def _freeze_raw(self) -> None:
        self._can_write("freeze")
        self.frozen = True
        self._writable = False
        for path in self._pinned_paths:
            from .pin import rewrite_frozen
            rewrite_frozen(path, True)

    # --- operations each type implements (0 or a positive errno) ----------------------------
    def _op_lookup(self, key: bytes) -> int:
        """Offset of key's value in the slab (this CPU's copy for per-CPU maps), or -1."""
        return -1

    def _op_update(self, key: bytes | None, value: Any, flags: int, prog: bool) -> int:
        return ENOTSUPP

    def _op_delete(self, key: bytes | None) -> int:
        return ENOTSUPP

    def _op_next(self, key: bytes | None) -> tuple[int, bytes | None]:
        return ENOTSUPP, None

    def _op_pop(self, delete: bool) -> tuple[int, bytes | None]:
        return ENOTSUPP, None

    def _touch(self, key: bytes) -> None:
        """A program looked the key up (LRU maps note the use)."""

    def _user_value(self, off: int) -> bytes:
        return bytes(self._view[off:off + (self.slot_bytes if self.percpu else
                                           self.value_size)])

    # --- user-space raw interface ---------------------------------------------------------
    def _lookup_raw(self, key: bytes | None, flags: int) -> bytes:
        if flags:
            raise _fail(E.EINVAL, "lookup", "flags must be 0 (no BPF_F_LOCK: no spin lock)")
        self._can_read("lookup")
        off = self._op_lookup(key) if key is not None else -1
        if off < 0:
            raise _fail(E.ENOENT, "lookup", f"key {key.hex()}" if key else "")
        return self._user_value(off)

    def _update_raw(self, key: bytes | None, value: Any, flags: int) -> None:
        self._can_write("update")
        if flags & BPF_F_LOCK:
            raise _fail(E.EINVAL, "update", "BPF_F_LOCK needs a bpf_spin_lock in the value")
        err = self._op_update(key, value, flags, False)
        if err:
            raise _fail(err, "update", f"key {key.hex()}" if key else "")

    def _delete_raw(self, key: bytes | None) -> None:
        self._can_write("delete")
        err = self._op_delete(key)
        if err:
            raise _fail(err, "delete", f"key {key.hex()}" if key else "")

    def _next_key_raw(self, key: bytes | None) -> bytes | None:
        self._can_read("next_key")
        err, nxt = self._op_next(key)
        if err == E.ENOENT:
            return None
        if err:
            raise _fail(err, "next_key")
        return nxt

    def _lookup_and_delete_raw(self, key: bytes | None, flags: int) -> bytes:
        self._can_read("lookup_and_delete")
        self._can_write("lookup_and_delete")
        raise _fail(ENOTSUPP, "lookup_and_delete",
                    f"{self.spec.type_name} maps have no lookup-and-delete")

    def _lookup_batch_raw(self, count: int, token: bytes | None, delete: bool
                          ) -> tuple[list[bytes], list[bytes], bytes | None]:
        raise _fail(ENOTSUPP, "lookup_batch", f"{self.spec.type_name} maps have no batch ops")

    def _update_batch_raw(self, keys: list[bytes], values: list[Any], flags: int) -> int:
        raise _fail(ENOTSUPP, "update_batch", f"{self.spec.type_name} maps have no batch ops")

    def _delete_batch_raw(self, keys: list[bytes]) -> int:
        raise _fail(ENOTSUPP, "delete_batch", f"{self.spec.type_name} maps have no batch ops")

    def _fd_value(self, value: Any) -> Any:
        raise _fail(E.EINVAL, "update", "not an fd map")

    # --- the program side (helpers) -----------------------------------------------------------
    def prog_lookup(self, key: bytes) -> int:
        """bpf_map_lookup_elem: the VM address of the value, or 0."""
        off = self._op_lookup(key)
        if off < 0:
            return 0
        self._touch(key)
        return self.base + off

    def prog_update(self, key: bytes, value: bytes, flags: int) -> int:
        return self._op_update(key, value, flags, True)

    def prog_delete(self, key: bytes) -> int:
        return self._op_delete(key)

    def value_address(self, off: int) -> int:
        """BPF_PSEUDO_MAP_VALUE: the address of byte `off` of the (only) value."""
        raise MapNotSupportedError(f"{self.spec.type_name} maps have no direct value "
                                   "address (only single-entry arrays do)", op="lddw")

    def submaps(self) -> list["VMMap"]:
        """Maps held as values (maps of maps)."""
        return []

    def regions(self) -> list[Any]:
        return [self.region]


# --- generic batches over next_key, like the kernel's generic_map_*_batch -----------------------

class _GenericBatch:
    """Batched operations in terms of the element operations. The token is the last key
    returned (as the kernel's generic batch for arrays), padded to 8 bytes."""

    key_size: int

    def _lookup_batch_raw(self: Any, count: int, token: bytes | None, delete: bool
                          ) -> tuple[list[bytes], list[bytes], bytes | None]:
        if delete:
            raise _fail(ENOTSUPP, "lookup_and_delete_batch",
                        f"{self.spec.type_name} maps have no lookup-and-delete batch")
        self._can_read("lookup_batch")
        keys: list[bytes] = []
        values: list[bytes] = []
        if count <= 0:
            return keys, values, token or bytes(max(self.key_size, 8))
        prev = None if token is None else token[:self.key_size]
        while len(keys) < count:
            err, k = self._op_next(prev)
            if err or k is None:
                return keys, values, None
            off = self._op_lookup(k)
            if off >= 0:
                keys.append(k)
                values.append(self._user_value(off))
            prev = k
        err, k = self._op_next(prev)
        if err or k is None:
            return keys, values, None
        return keys, values, prev.ljust(max(self.key_size, 8), b"\0")

    def _update_batch_raw(self: Any, keys: list[bytes], values: list[Any], flags: int) -> int:
        self._can_write("update_batch")
        if flags:  # elem_flags: only BPF_F_LOCK, which needs a spin lock in the value
            raise _fail(E.EINVAL, "update_batch", "elem_flags must be 0")
        for i, (k, v) in enumerate(zip(keys, values)):
            err = self._op_update(k, v, flags, False)
            if err:
                exc = _fail(err, "update_batch", f"{i} of {len(keys)} elements done")
                exc.done = i  # type: ignore[attr-defined]
                raise exc
        return len(keys)

    def _delete_batch_raw(self: Any, keys: list[bytes]) -> int:
        self._can_write("delete_batch")
        for i, k in enumerate(keys):
            err = self._op_delete(k)
            if err:
                exc = _fail(err, "delete_batch", f"{i} of {len(keys)} elements done")
                exc.done = i  # type: ignore[attr-defined]
                raise exc
        return len(keys)


# --- arrays -------------------------------------------------------------------------------

class ArrayMap(_GenericBatch, VMMap):
    """array / percpu_array: max_entries values, zero-initialised, indexed by a u32 key;
    every index always exists, so delete is EINVAL and iteration gives every index.
    Values are 8-byte aligned (stride round_up(value_size, 8)) as in the kernel, so a
    BPF_F_MMAPABLE array's memory has the kernel's mmap layout; such arrays live in a
    shared file and can be pinned and opened by another process. Programs update
    per-CPU arrays on CPU 0 (the VM's CPU)."""

    def __init__(self, spec: MapSpec, *, backing: str | None = None) -> None:
        self.shareable = bool(spec.flags & MapFlag.MMAPABLE)
        super().__init__(spec, backing=backing)
        self._user_len = self.slot_bytes if self.percpu else self.value_size

    def _memory_size(self) -> int:
        size = self.max_entries * self.slot_bytes
        if self.shareable:  # the kernel rounds mmapable arrays to whole pages
            size = (size + PAGE_SIZE - 1) // PAGE_SIZE * PAGE_SIZE
        return size

    def _op_lookup(self, key: bytes) -> int:
        idx = int.from_bytes(key, "little")
        return idx * self.slot_bytes if idx < self.max_entries else -1

    # fast paths for user space
    def _lookup_raw(self, key: bytes | None, flags: int) -> bytes:
        if flags or not self._readable or key is None:
            return VMMap._lookup_raw(self, key, flags)
        idx = int.from_bytes(key, "little")
        if idx >= self.max_entries:
            raise _fail(E.ENOENT, "lookup", f"key {key.hex()}")
        off = idx * self.slot_bytes
        return bytes(self._view[off:off + self._user_len])

    def _update_raw(self, key: bytes | None, value: Any, flags: int) -> None:
        if flags or not self._writable:
            return VMMap._update_raw(self, key, value, flags)
        idx = int.from_bytes(key, "little")  # type: ignore[arg-type]
        if idx >= self.max_entries:
            raise _fail(E.E2BIG, "update", f"index {idx} >= max_entries {self.max_entries}")
        off = idx * self.slot_bytes
        self._view[off:off + len(value)] = value

    def _op_update(self, key: bytes | None, value: Any, flags: int, prog: bool) -> int:
        if flags & ~BPF_F_LOCK > BPF_EXIST:
            return E.EINVAL
        idx = int.from_bytes(key or b"", "little")
        if idx >= self.max_entries:
            return E.E2BIG
        if flags & ~BPF_F_LOCK == BPF_NOEXIST:
            return E.EEXIST
        if flags & BPF_F_LOCK:
            return E.EINVAL  # no bpf_spin_lock in the value (the VM has no BTF)
        off = idx * self.slot_bytes
        if prog:  # this CPU's copy only
            self._view[off:off + self.value_size] = value
        else:
            self._view[off:off + len(value)] = value
        return 0

    def _op_delete(self, key: bytes | None) -> int:
        return E.EINVAL

    def _op_next(self, key: bytes | None) -> tuple[int, bytes | None]:
        if key is None:
            return 0, bytes(4)
        idx = int.from_bytes(key, "little")
        if idx >= self.max_entries:
            return 0, bytes(4)
        if idx == self.max_entries - 1:
            return E.ENOENT, None
        return 0, (idx + 1).to_bytes(4, "little")

    def __len__(self) -> int:
        self._can_read("next_key")
        return self.max_entries

    _delete_batch_raw = VMMap._delete_batch_raw  # arrays have no delete (ENOTSUPP)

    def prog_lookup_percpu(self, key: bytes, cpu: int) -> int:
        off = self._op_lookup(key)
        if off < 0 or cpu >= self.ncpus:
            return 0
        return self.base + off + cpu * self.stride

    def value_address(self, off: int) -> int:
        if self.spec.type != MapType.ARRAY or self.max_entries != 1:
            raise MapNotSupportedError("a direct value address needs an array with "
                                       "max_entries 1", op="lddw")
        if off >= self.value_size:
            raise MapInvalidError(f"offset {off} is past value_size {self.value_size}",
                                  op="lddw")
        return self.base + off

    @property
    def data(self) -> memoryview:
        """The values as one buffer (BPF_F_MMAPABLE arrays: the kernel's mmap layout)."""
        self._check_open()
        return self._view


# --- hash maps --------------------------------------------------------------------------

class HashMap(VMMap):
    """hash / percpu_hash: a slab of max_entries value slots (grown as values are stored
    with BPF_F_NO_PREALLOC) plus a dict key -> slot and a free list. Full maps refuse new keys with E2BIG. Iteration is in
    insertion order (the kernel's is bucket order, which depends on a random hash seed):
    a linked list gives next_key in O(1), and a key not in the map gives the first key.
    Replacing a value writes it in place (the kernel's preallocated hash swaps in a fresh
    element, so a program still holding the old pointer sees the old value there).
    Programs update per-CPU values on CPU 0; a new per-CPU element made by a program has
    zeros on the other CPUs, as in the kernel. Batched lookups walk insertion order with
    a position token; the kernel walks buckets and fails with ENOSPC when one bucket
    holds more elements than `count`, which the VM never does."""

    def __init__(self, spec: MapSpec, *, backing: str | None = None) -> None:
        self.grows = bool(spec.flags & MapFlag.NO_PREALLOC)
        super().__init__(spec, backing=backing)
        self._slots: dict[bytes, int] = {}
        self._free = _Slots()
        self._cursors: list[list[bytes | None]] = []  # lazy walks in progress (for_each)
        self._nxt: dict[bytes, bytes | None] = {}
        self._prv: dict[bytes, bytes | None] = {}
        self._first: bytes | None = None
        self._last: bytes | None = None
        self._user_len = self.slot_bytes if self.percpu else self.value_size
        self._in_place = type(self) is HashMap  # no bookkeeping on replace

    @property
    def capacity(self) -> int:
        return self.max_entries

    # linked order
    def _link(self, key: bytes) -> None:
        last = self._last
        self._prv[key] = last
        self._nxt[key] = None
        if last is None:
            self._first = key
        else:
            self._nxt[last] = key
        self._last = key

    def _unlink(self, key: bytes) -> None:
        for cursor in self._cursors:  # a walk about to visit `key` goes on to its successor
            if cursor[0] == key:
                cursor[0] = self._nxt[key]
        p = self._prv.pop(key)
        n = self._nxt.pop(key)
        if p is None:
            self._first = n
        else:
            self._nxt[p] = n
        if n is None:
            self._last = p
        else:
            self._prv[n] = p

    def _op_lookup(self, key: bytes) -> int:
        slot = self._slots.get(key)
        return -1 if slot is None else slot * self.slot_bytes

    def _lookup_raw(self, key: bytes | None, flags: int) -> bytes:
        slot = self._slots.get(key)  # type: ignore[arg-type]
        if slot is None or flags or not self._readable:
            return VMMap._lookup_raw(self, key, flags)
        off = slot * self.slot_bytes
        return bytes(self._view[off:off + self._user_len])

    def _update_raw(self, key: bytes | None, value: Any, flags: int) -> None:
        slot = self._slots.get(key)  # type: ignore[arg-type]
        if slot is None or flags or not self._writable or not self._in_place:
            return VMMap._update_raw(self, key, value, flags)
        off = slot * self.slot_bytes
        self._view[off:off + len(value)] = value

    def _evict_for(self, key: bytes) -> bool:
        """Make room for a new key in a full map; False: E2BIG."""
        return False

    def _op_update(self, key: bytes | None, value: Any, flags: int, prog: bool) -> int:
        if flags & ~BPF_F_LOCK > BPF_EXIST:
            return E.EINVAL
        if flags & BPF_F_LOCK:
            return E.EINVAL
        assert key is not None
        slot = self._slots.get(key)
        if slot is not None:
            if flags == BPF_NOEXIST:
                return E.EEXIST
        else:
            if flags == BPF_EXIST:
                return E.ENOENT
            if len(self._slots) >= self.capacity and not self._evict_for(key):
                return E.E2BIG
            slot = self._free.alloc()
            if self.grows:
                err = self._ensure_slot(slot)
                if err:
                    self._free.free(slot)
                    return err
            self._slots[key] = slot
            self._link(key)
            if prog and self.percpu:
                off = slot * self.slot_bytes
                self._view[off:off + self.slot_bytes] = bytes(self.slot_bytes)
        off = slot * self.slot_bytes
        if prog:
            self._view[off:off + self.value_size] = value
        else:
            self._view[off:off + len(value)] = value
        self._touch(key)
        return 0

    def _op_delete(self, key: bytes | None) -> int:
        slot = self._slots.pop(key, None)  # type: ignore[arg-type]
        if slot is None:
            return E.ENOENT
        self._unlink(key)  # type: ignore[arg-type]
        self._free.free(slot)
        self._forget(key)  # type: ignore[arg-type]
        return 0

    def walk(self) -> Generator[bytes, None, None]:
        """The keys in next_key order, lazily: a key deleted before the walk reaches it
        is skipped, a key added meanwhile is visited when reached (as the kernel's
        bucket walk may), and the walk holds no copy of the keys."""
        cursor: list[bytes | None] = [self._first]
        self._cursors.append(cursor)
        try:
            while cursor[0] is not None:
                key = cursor[0]
                cursor[0] = self._nxt[key]
                yield key
        finally:
            self._cursors.remove(cursor)

    def _forget(self, key: bytes) -> None:
        """A key left the map (LRU bookkeeping)."""

    def _op_next(self, key: bytes | None) -> tuple[int, bytes | None]:
        if key is None or key not in self._slots:
            nxt = self._first
        else:
            nxt = self._nxt[key]
        return (0, nxt) if nxt is not None else (E.ENOENT, None)

    def __len__(self) -> int:
        self._can_read("next_key")
        return len(self._slots)

    def _lookup_and_delete_raw(self, key: bytes | None, flags: int) -> bytes:
        self._can_read("lookup_and_delete")
        self._can_write("lookup_and_delete")
        if flags:
            raise _fail(E.EINVAL, "lookup_and_delete", "flags must be 0")
        off = self._op_lookup(key) if key is not None else -1
        if off < 0:
            raise _fail(E.ENOENT, "lookup_and_delete", f"key {key.hex()}" if key else "")
        value = self._user_value(off)
        self._op_delete(key)
        return value

    # batches: the token is the position (u64) of the next element in iteration order
    def _lookup_batch_raw(self, count: int, token: bytes | None, delete: bool
                          ) -> tuple[list[bytes], list[bytes], bytes | None]:
        op = "lookup_and_delete_batch" if delete else "lookup_batch"
        self._can_read(op)
        if delete:
            self._can_write(op)
        start = 0 if token is None else int.from_bytes(token[:8], "little")
        keys: list[bytes] = []
        values: list[bytes] = []
        if count <= 0:
            return keys, values, token or bytes(8)
        k = self._first
        for _ in range(start):
            if k is None:
                break
            k = self._nxt[k]
        while k is not None and len(keys) < count:
            keys.append(k)
            values.append(self._user_value(self._slots[k] * self.slot_bytes))
            k = self._nxt[k]
        if delete:
            for dk in keys:
                self._op_delete(dk)
        if k is None:
            return keys, values, None
        return keys, values, (start if delete else start + len(keys)).to_bytes(8, "little")

    _update_batch_raw = _GenericBatch._update_batch_raw
    _delete_batch_raw = _GenericBatch._delete_batch_raw

    def prog_lookup_percpu(self, key: bytes, cpu: int) -> int:
        off = self._op_lookup(key)
        if off < 0 or cpu >= self.ncpus:
            return 0
        return self.base + off + cpu * self.stride


class LRUHashMap(HashMap):
    """lru_hash / lru_percpu_hash: a hash map that evicts instead of failing when full.
    Modelled as an exact LRU: an update (from anywhere) or a lookup by a program makes a
    key the most recently used (user-space lookups do not, as in the kernel, whose
    syscall lookup leaves the reference bit alone), and a new key in a full map evicts
    exactly the least recently used one. The kernel approximates LRU with per-CPU free
    lists and active/inactive lists with reference bits, and evicts in batches (up to
    its free target at once), so after an overflow it may hold fewer keys and not
    exactly these; below capacity on one CPU both keep everything. With
    BPF_F_NO_COMMON_LRU each CPU has its own list of max_entries / nr_cpus elements;
    everything on the VM runs on CPU 0, so that is the VM map's capacity. The kernel
    also takes a fresh element before it looks at the key or the flags, so in a full
    map replacing a key, or even an update that then fails with EEXIST, can evict
    another key; the VM replaces in place and evicts only to insert."""

    def __init__(self, spec: MapSpec, *, backing: str | None = None) -> None:
        super().__init__(spec, backing=backing)
        self._recent: OrderedDict[bytes, None] = OrderedDict()
        ncpu = self._possible_cpus()
        if spec.flags & MapFlag.NO_COMMON_LRU:
            rounded = -(-self.max_entries // ncpu) * ncpu
            if rounded >= 1 << 32:
                rounded = self.max_entries // ncpu * ncpu
            self._capacity = max(1, rounded // ncpu)
        else:
            self._capacity = self.max_entries
        self.evictions = 0

    @staticmethod
    def _possible_cpus() -> int:
        from .base import possible_cpus
        return possible_cpus()

    @property
    def capacity(self) -> int:
        return self._capacity

    def _touch(self, key: bytes) -> None:
        if key in self._recent:
            self._recent.move_to_end(key)
        else:
            self._recent[key] = None

    def _forget(self, key: bytes) -> None:
        self._recent.pop(key, None)

    def _evict_for(self, key: bytes) -> bool:
        victim = next(iter(self._recent))
        self._op_delete(victim)
        self.evictions += 1
        return True


# --- LPM trie -------------------------------------------------------------------------------

class LPMTrieMap(_GenericBatch, VMMap):
    """lpm_trie: keys are `struct { u32 prefixlen; u8 data[] }` (prefixlen in host
    order, data big-endian, compared from the most significant bit). Lookups (by user
    space too, as in the kernel) return the longest stored prefix that matches the
    first prefixlen bits of the key. An entry is named by its prefix: two keys with the
    same prefixlen and the same leading bits are the same entry, and the stored key is
    the last one written (the kernel keeps the whole data too). Iteration is the
    kernel's post-order: more specific prefixes before the prefixes containing them,
    0-branches before 1-branches. A full trie refuses new prefixes with ENOSPC, as the
    kernel's does."""

    grows = True  # always BPF_F_NO_PREALLOC

    def __init__(self, spec: MapSpec, *, backing: str | None = None) -> None:
        super().__init__(spec, backing=backing)
        self.max_prefixlen = 8 * (spec.key_size - 4)
        self._entries: dict[tuple[int, int], tuple[bytes, int]] = {}
        self._lens: dict[int, int] = {}
        self._sorted_lens: list[int] = []
        self._free = _Slots()
        self._order: list[tuple[int, int]] | None = None
        self._pos: dict[tuple[int, int], int] = {}

    def _split(self, key: bytes) -> tuple[int, int]:
        return int.from_bytes(key[:4], "little"), int.from_bytes(key[4:], "big")

    def _canon(self, plen: int, data: int) -> tuple[int, int]:
        return plen, data >> (self.max_prefixlen - plen)

    def _op_lookup(self, key: bytes) -> int:
        plen, data = self._split(key)
        if plen > self.max_prefixlen:
            return -1
        for length in self._sorted_lens:
            if length <= plen:
                hit = self._entries.get((length, data >> (self.max_prefixlen - length)))
                if hit is not None:
                    return hit[1] * self.slot_bytes
        return -1

    def _exact(self, key: bytes) -> tuple[int, int] | None:
        plen, data = self._split(key)
        if plen > self.max_prefixlen:
            return None
        c = self._canon(plen, data)
        return c if c in self._entries else None

    def _op_update(self, key: bytes | None, value: Any, flags: int, prog: bool) -> int:
        assert key is not None
        if flags > BPF_EXIST:
            return E.EINVAL
        plen, data = self._split(key)
        if plen > self.max_prefixlen:
            return E.EINVAL
        c = self._canon(plen, data)
        old = self._entries.get(c)
        if old is not None:
            if flags == BPF_NOEXIST:
                return E.EEXIST
            slot = old[1]
        else:
            if flags == BPF_EXIST:
                return E.ENOENT
            if len(self._entries) >= self.max_entries:
                return E.ENOSPC
            slot = self._free.alloc()
            err = self._ensure_slot(slot)
            if err:
                self._free.free(slot)
                return err
            self._lens[plen] = self._lens.get(plen, 0) + 1
            self._sorted_lens = sorted(self._lens, reverse=True)
            self._order = None
        self._entries[c] = (bytes(key), slot)
        off = slot * self.slot_bytes
        self._view[off:off + self.value_size] = value
        return 0

    def _op_delete(self, key: bytes | None) -> int:
        assert key is not None
        plen, data = self._split(key)
        if plen > self.max_prefixlen:
            return E.EINVAL
        c = self._canon(plen, data)
        old = self._entries.pop(c, None)
        if old is None:
            return E.ENOENT
        self._free.free(old[1])
        self._lens[plen] -= 1
        if not self._lens[plen]:
            del self._lens[plen]
            self._sorted_lens = sorted(self._lens, reverse=True)
        self._order = None
        return 0

    def _postorder(self) -> list[tuple[int, int]]:
        if self._order is None:
            def sort_key(c: tuple[int, int]) -> str:
                plen, top = c
                return (format(top, f"0{plen}b") if plen else "") + "2"
            self._order = sorted(self._entries, key=sort_key)
            self._pos = {c: i for i, c in enumerate(self._order)}
        return self._order

    def _op_next(self, key: bytes | None) -> tuple[int, bytes | None]:
        order = self._postorder()
        i = 0
        if key is not None:
            c = self._exact(key)
            if c is not None:
                i = self._pos[c] + 1
        if i >= len(order):
            return E.ENOENT, None
        return 0, self._entries[order[i]][0]

    def __len__(self) -> int:
        self._can_read("next_key")
        return len(self._entries)


# --- queue / stack --------------------------------------------------------------------------

class QueueStackMap(VMMap):
    """queue (FIFO) / stack (LIFO): no keys; a ring of max_entries + 1 value slots as in
    the kernel. Push on a full map is E2BIG, or with BPF_EXIST drops the oldest value.
    Pop and peek of an empty map are ENOENT (a program's buffer is zeroed then, as the
    kernel does)."""

    def __init__(self, spec: MapSpec, *, backing: str | None = None) -> None:
        super().__init__(spec, backing=backing)
        self.size = self.max_entries + 1
        self.head = 0
        self.tail = 0
        self.lifo = spec.type == MapType.STACK

    def _memory_size(self) -> int:
        return (self.max_entries + 1) * self.stride

    def __len__(self) -> int:
        self._can_read("next_key")
        raise _fail(E.EINVAL, "next_key", "queue and stack maps cannot be iterated")

    def count(self) -> int:
        """How many values are queued (the VM knows; the kernel does not say)."""
        return (self.head - self.tail) % self.size

    def _op_update(self, key: bytes | None, value: Any, flags: int, prog: bool) -> int:
        if key is not None:
            return E.EINVAL
        if flags & BPF_NOEXIST or flags > BPF_EXIST:
            return E.EINVAL
        if (self.head + 1) % self.size == self.tail:
            if not flags & BPF_EXIST:
                return E.E2BIG
            self.tail = (self.tail + 1) % self.size
        off = self.head * self.stride
        self._view[off:off + self.value_size] = value
        self.head = (self.head + 1) % self.size
        return 0

    def _op_pop(self, delete: bool) -> tuple[int, bytes | None]:
        if self.head == self.tail:
            return E.ENOENT, None
        if self.lifo:
            idx = (self.head - 1) % self.size
            if delete:
                self.head = idx
        else:
            idx = self.tail
            if delete:
                self.tail = (self.tail + 1) % self.size
        off = idx * self.stride
        return 0, bytes(self._view[off:off + self.value_size])

    def _op_delete(self, key: bytes | None) -> int:
        return E.EINVAL

    def _op_next(self, key: bytes | None) -> tuple[int, bytes | None]:
        return E.EINVAL, None

    def _lookup_raw(self, key: bytes | None, flags: int) -> bytes:
        if flags:
            raise _fail(E.EINVAL, "peek", "flags must be 0")
        self._can_read("peek")
        err, value = self._op_pop(False)
        if err:
            raise _fail(err, "peek", "the map is empty")
        return value  # type: ignore[return-value]

    def _lookup_and_delete_raw(self, key: bytes | None, flags: int) -> bytes:
        self._can_read("pop")
        self._can_write("pop")
        if flags:
            raise _fail(E.EINVAL, "pop", "flags must be 0")
        err, value = self._op_pop(True)
        if err:
            raise _fail(err, "pop", "the map is empty")
        return value  # type: ignore[return-value]

    def prog_lookup(self, key: bytes) -> int:
        raise MapNotSupportedError("use bpf_map_peek_elem on queue/stack maps")


# --- bloom filter ---------------------------------------------------------------------------

class BloomFilterMap(VMMap):
    """bloom_filter: no keys; push adds a value, peek answers "maybe present" (0) or
    "certainly absent" (ENOENT): false positives, never false negatives. nr_hashes is
    map_extra's low 4 bits (0 means 5) and the bit array is sized as the kernel sizes it
    (max_entries * nr_hashes * 7 / 5 bits, rounded up to a power of two, at least 64).
    The hash is BLAKE2b keyed with the seed (0 with BPF_F_ZERO_SEED, else random), not
    the kernel's jhash, so which values collide differs from the kernel."""

    def __init__(self, spec: MapSpec, *, backing: str | None = None) -> None:
        self.nr_hashes = (spec.map_extra & 0xF) or 5
        nr_bits = spec.max_entries * self.nr_hashes // 5 * 7
        if nr_bits > 1 << 31:
            nr_bits = 1 << 31
        elif nr_bits <= 64:
            nr_bits = 64
        else:
            nr_bits = 1 << (nr_bits - 1).bit_length()
        self.nr_bits = nr_bits
        self._mask = nr_bits - 1
        super().__init__(spec, backing=backing)
        seed = 0 if spec.flags & MapFlag.ZERO_SEED else int.from_bytes(os.urandom(4), "little")
        self._seed = seed.to_bytes(4, "little")

    def _memory_size(self) -> int:
        return self.nr_bits // 8

    def _bits(self, value: bytes) -> list[int]:
        d = hashlib.blake2b(bytes(value), digest_size=4 * self.nr_hashes, key=self._seed).digest()
        return [int.from_bytes(d[4 * i:4 * i + 4], "little") & self._mask
                for i in range(self.nr_hashes)]

    def _op_update(self, key: bytes | None, value: Any, flags: int, prog: bool) -> int:
        if key is not None or flags != BPF_ANY:
            return E.EINVAL
        view = self._view
        for b in self._bits(value):
            view[b >> 3] |= 1 << (b & 7)
        return 0

    def test(self, value: bytes) -> int:
        """0 if `value` may be in the set, ENOENT if it is not."""
        view = self._view
        for b in self._bits(value):
            if not view[b >> 3] & (1 << (b & 7)):
                return E.ENOENT
        return 0

    def _bloom_peek(self, value: bytes) -> None:
        self._can_read("peek")
        if self.test(value):
            raise _fail(E.ENOENT, "peek", "the value is not in the filter")

    def _lookup_raw(self, key: bytes | None, flags: int) -> bytes:
        raise _fail(E.EINVAL, "lookup", "a bloom filter is tested with peek(value)")

    def _op_delete(self, key: bytes | None) -> int:
        return EOPNOTSUPP

    def _op_next(self, key: bytes | None) -> tuple[int, bytes | None]:
        return EOPNOTSUPP, None

    def __len__(self) -> int:
        self._can_read("next_key")
        raise _fail(EOPNOTSUPP, "next_key", "bloom filters cannot be iterated")

    def prog_lookup(self, key: bytes) -> int:
        raise MapNotSupportedError("use bpf_map_peek_elem on bloom filters")


# --- ring buffer ----------------------------------------------------------------------------

class RingBufMap(VMMap):
    """ringbuf: max_entries bytes of data (a power of two and a page multiple) in a
    shared file laid out as the kernel maps it to user space: consumer page
    (consumer_pos), producer page (producer_pos, then pending_pos as in the kernel's
    struct), data mapped twice. Records are the kernel's: an 8-byte header
    {u32 len with BPF_RINGBUF_BUSY_BIT while reserved and BPF_RINGBUF_DISCARD_BIT when
    discarded; u32 pg_off}, the sample, padded to 8 bytes. Reservation uses the
    kernel's rules: a record must not take the producer more than size - 1 bytes ahead
    of the consumer nor of the oldest record not yet committed. Readers in this
    process are woken through an eventfd; readers in other processes poll."""

    shareable = True

    def _memory_size(self) -> int:
        return self.max_entries

    def _init_memory(self, backing: str | None) -> None:
        try:
            if backing is None:
                self.ring = RingMemory.create(self.max_entries, "ringbuf")
            else:
                self.ring = RingMemory(self.max_entries, backing)
        except (MemoryError, OSError) as e:  # e.g. the double map past an RLIMIT_AS
            if backing is not None and not isinstance(e, MemoryError) \
                    and getattr(e, "errno", None) != E.ENOMEM:
                raise
            raise _fail(E.ENOMEM, "create", f"cannot map the {self.max_entries}-byte ring "
                                            "buffer (mapped twice)") from e
        self.mask = self.max_entries - 1
        self._view = self.ring.data
        self._consumer = self.ring.consumer
        self._producer = self.ring.producer
        self._backing_path = self.ring.path
        self._address = self.ring.data_address
        self._wakeup_fd = -1

    def _release_memory(self) -> None:
        if self._wakeup_fd >= 0:
            os.close(self._wakeup_fd)
            self._wakeup_fd = -1
        self.ring.close()

    # positions
    @property
    def consumer_pos(self) -> int:
        return _U64.unpack_from(self._consumer, 0)[0]

    @property
    def producer_pos(self) -> int:
        return _U64.unpack_from(self._producer, 0)[0]

    @property
    def pending_pos(self) -> int:
        return _U64.unpack_from(self._producer, 8)[0]

    def wakeup_fd(self) -> int:
        """An eventfd that becomes readable when a record is committed with a wakeup."""
        if self._wakeup_fd < 0:
            self._wakeup_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        return self._wakeup_fd

    def reserve(self, size: int) -> int:
        """Reserve a record of `size` bytes: the offset of its sample in the data area,
        or -1 when it does not fit (the kernel's __bpf_ringbuf_reserve)."""
        if size > RINGBUF_MAX_RECORD_SZ:
            return -1
        length = (size + BPF_RINGBUF_HDR_SZ + 7) & ~7
        if length > self.max_entries:
            return -1
        cons = self.consumer_pos
        pend = self.pending_pos
        prod = self.producer_pos
        view = self._view
        while pend < prod:
            hdr_len = _U32.unpack_from(view, pend & self.mask)[0]
            if hdr_len & BPF_RINGBUF_BUSY_BIT:
                break
            pend += ((hdr_len & ~BPF_RINGBUF_DISCARD_BIT) + BPF_RINGBUF_HDR_SZ + 7) & ~7
        _U64.pack_into(self._producer, 8, pend)
        new_prod = prod + length
        if new_prod - cons > self.mask or new_prod - pend > self.mask:
            return -1
        hdr = prod & self.mask
        pg_off = (hdr >> 12) + RINGBUF_PGOFF + RINGBUF_POS_PAGES
        _U32.pack_into(view, hdr, size | BPF_RINGBUF_BUSY_BIT)
        _U32.pack_into(view, hdr + 4, pg_off)
        _U64.pack_into(self._producer, 0, new_prod)
        return hdr + BPF_RINGBUF_HDR_SZ

    def commit(self, sample_off: int, flags: int, discard: bool) -> None:
        """Submit or discard the record whose sample is at `sample_off`."""
        hdr = sample_off - BPF_RINGBUF_HDR_SZ
        length = _U32.unpack_from(self._view, hdr)[0]
        new_len = length ^ BPF_RINGBUF_BUSY_BIT
        if discard:
            new_len |= BPF_RINGBUF_DISCARD_BIT
        _U32.pack_into(self._view, hdr, new_len)
        if flags & BPF_RB_FORCE_WAKEUP or (
                (self.consumer_pos & self.mask) == hdr and not flags & BPF_RB_NO_WAKEUP):
            self._wake()

    def _wake(self) -> None:
        if self._wakeup_fd >= 0:
            try:
                os.eventfd_write(self._wakeup_fd, 1)
            except BlockingIOError:
                pass

    def is_reserved(self, sample_off: int) -> bool:
        hdr = sample_off - BPF_RINGBUF_HDR_SZ
        if hdr < 0 or hdr >= self.max_entries or hdr & 7:
            return False
        return bool(_U32.unpack_from(self._view, hdr)[0] & BPF_RINGBUF_BUSY_BIT)

    def output(self, data: bytes, flags: int = 0) -> int:
        """bpf_ringbuf_output: 0, -EINVAL for bad flags, -EAGAIN when full."""
        if flags & ~(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP):
            return -E.EINVAL
        off = self.reserve(len(data))
        if off < 0:
            return -E.EAGAIN
        self._view[off:off + len(data)] = data
        self.commit(off, flags, False)
        return 0

    def query(self, flags: int) -> int:
        """bpf_ringbuf_query."""
        if flags == BPF_RB_AVAIL_DATA:
            return self.producer_pos - self.consumer_pos
        if flags == BPF_RB_RING_SIZE:
            return self.max_entries
        if flags == BPF_RB_CONS_POS:
            return self.consumer_pos
        if flags == BPF_RB_PROD_POS:
            return self.producer_pos
        return 0

    def memory(self) -> tuple[memoryview, memoryview, memoryview, int | None]:
        """(consumer page, producer page, data twice, wakeup fd) for a reader."""
        self._check_open()
        return self._consumer, self._producer, self._view, self.wakeup_fd()

    def _lookup_raw(self, key: bytes | None, flags: int) -> bytes:
        self._can_read("lookup")
        raise _fail(ENOTSUPP, "lookup", "ring buffers are read with a RingBufReader")

    def _op_next(self, key: bytes | None) -> tuple[int, bytes | None]:
        return ENOTSUPP, None

    def __len__(self) -> int:
        self._can_read("next_key")
        raise _fail(ENOTSUPP, "next_key", "ring buffers cannot be iterated")

    def prog_lookup(self, key: bytes) -> int:
        raise MapNotSupportedError("programs use bpf_ringbuf_* on ring buffers")


# --- fd arrays: prog_array, perf_event_array, array_of_maps -----------------------------------

class FdArrayMap(_GenericBatch, VMMap):
    """The kernel's fd arrays: every index exists for iteration, a slot is empty or
    holds an object. Updates take BPF_ANY only (EINVAL otherwise); deleting an empty
    slot is ENOENT; an index past max_entries is E2BIG."""

    def __init__(self, spec: MapSpec, *, backing: str | None = None) -> None:
        super().__init__(spec, backing=backing)
        self._objs: dict[int, Any] = {}  # the filled slots (memory follows what is stored)

    def _memory_size(self) -> int:
        return self.max_entries * 8

    def _index(self, key: bytes) -> int:
        return int.from_bytes(key, "little")

    def _object_id(self, obj: Any) -> int:
        return int(getattr(obj, "id", 0))

    def _op_lookup(self, key: bytes) -> int:
        idx = self._index(key)
        if idx >= self.max_entries or self._objs.get(idx) is None:
            return -1
        return idx * 8

    def _user_value(self, off: int) -> bytes:
        return bytes(self._view[off:off + 4])

    def _op_update(self, key: bytes | None, value: Any, flags: int, prog: bool) -> int:
        if flags != BPF_ANY:
            return E.EINVAL
        idx = self._index(key or b"")
        if idx >= self.max_entries:
            return E.E2BIG
        if value is None:
            self._objs.pop(idx, None)
        else:
            self._objs[idx] = value
        _U64.pack_into(self._view, idx * 8, self._object_id(value))
        return 0

    def _op_delete(self, key: bytes | None) -> int:
        idx = self._index(key or b"")
        if idx >= self.max_entries:
            return E.E2BIG
        if self._objs.get(idx) is None:
            return E.ENOENT
        del self._objs[idx]
        _U64.pack_into(self._view, idx * 8, 0)
        return 0

    _op_next = ArrayMap._op_next

    def __len__(self) -> int:
        self._can_read("next_key")
        return self.max_entries

    # prog_array and perf_event_array have no batch operations in the kernel
    _lookup_batch_raw = VMMap._lookup_batch_raw
    _update_batch_raw = VMMap._update_batch_raw
    _delete_batch_raw = VMMap._delete_batch_raw

    def get_object(self, key: Any) -> Any:
        """The object stored at `key` (None for an empty slot)."""
        k = self._key(key)
        idx = self._index(k or b"")
        return self._objs.get(idx) if idx < self.max_entries else None

    def prog_lookup(self, key: bytes) -> int:
        raise MapNotSupportedError(f"programs cannot look up {self.spec.type_name} maps")

    def prog_update(self, key: bytes, value: bytes, flags: int) -> int:
        raise MapNotSupportedError(f"programs cannot update {self.spec.type_name} maps")

    def prog_delete(self, key: bytes) -> int:
        raise MapNotSupportedError(f"programs cannot delete from {self.spec.type_name} maps")


class ProgArrayMap(FdArrayMap):
    """prog_array: slots hold VM programs (pybpf.vm.VM); user-space lookup gives the
    program's id, as the kernel does."""

    def _fd_value(self, value: Any) -> Any:
        from ..vm import VM
        if not isinstance(value, VM):
            raise MapBadFDError("VM prog_array values are pybpf.vm.VM programs", op="update")
        return value


class PerfEventArrayMap(FdArrayMap):
    """perf_event_array: the VM has no perf events; a slot holds any int (the "event"
    the user registered) and bpf_perf_event_output appends each sample to that slot's
    list, read with `events(index)`. User-space lookup is ENOTSUPP, as the kernel."""

    def __init__(self, spec: MapSpec, *, backing: str | None = None) -> None:
        super().__init__(spec, backing=backing)
        self._events: dict[int, list[bytes]] = {}

    def _fd_value(self, value: Any) -> Any:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise MapBadFDError("VM perf_event_array values are non-negative ints",
                                op="update")
        return value

    def _object_id(self, obj: Any) -> int:
        return int(obj) & 0xFFFF_FFFF

    def _lookup_raw(self, key: bytes | None, flags: int) -> bytes:
        self._can_read("lookup")
        raise _fail(ENOTSUPP, "lookup", "perf_event_array values cannot be read back")

    def _lookup_batch_raw(self, count: int, token: bytes | None, delete: bool
                          ) -> tuple[list[bytes], list[bytes], bytes | None]:
        raise _fail(ENOTSUPP, "lookup_batch", "perf_event_array values cannot be read back")

    def output(self, index: int, data: bytes) -> int:
        """bpf_perf_event_output into slot `index`: 0, -E2BIG or -ENOENT."""
        if index >= self.max_entries:
            return -E.E2BIG
        if self._objs.get(index) is None:
            return -E.ENOENT
        self._events.setdefault(index, []).append(bytes(data))
        return 0

    def events(self, index: int = 0, *, clear: bool = True) -> list[bytes]:
        """The samples output to slot `index` (and forget them unless clear=False)."""
        out = self._events.get(index, [])
        if clear:
            self._events.pop(index, None)
        return list(out)


class _MapOfMaps:
    """What array_of_maps and hash_of_maps share: values are VM maps compatible with
    the inner spec (bpf_map_meta_equal), user-space lookup gives the inner map's id,
    a program's lookup gives the inner map's pointer."""

    spec: MapSpec

    def _fd_value(self, value: Any) -> Any:
        if not isinstance(value, VMMap):
            raise MapBadFDError("VM map-of-maps values are VM maps", op="update")
        if value.closed:
            raise MapBadFDError("the inner map is closed", op="update")
        assert self.spec.inner is not None
        if value.spec.type in MAP_IN_MAP_TYPES or \
                not specs_equal_for_inner(self.spec.inner, value.spec):
            raise MapInvalidError(f"inner map {value.spec!r} does not match the template "
                                  f"{self.spec.inner!r}", op="update")
        return value


class ArrayOfMapsMap(_MapOfMaps, FdArrayMap):
    """array_of_maps (batched lookup and update as the kernel's generic batch ops)."""

    _lookup_batch_raw = _GenericBatch._lookup_batch_raw
    _update_batch_raw = _GenericBatch._update_batch_raw

    def prog_lookup(self, key: bytes) -> int:
        idx = self._index(key)
        if idx >= self.max_entries or self._objs.get(idx) is None:
            return 0
        return self._objs[idx].pointer

    def submaps(self) -> list[VMMap]:
        return [m for _, m in sorted(self._objs.items()) if not m.closed]

    def inner(self, key: Any) -> VMMap | None:
        return self.get_object(key)


class HashOfMapsMap(_MapOfMaps, HashMap):
    """hash_of_maps: a hash map whose values are VM maps (BPF_NOEXIST / BPF_EXIST as
    for hash maps)."""

    def __init__(self, spec: MapSpec, *, backing: str | None = None) -> None:
        super().__init__(spec, backing=backing)
        self._maps: dict[bytes, VMMap] = {}

    def _op_update(self, key: bytes | None, value: Any, flags: int, prog: bool) -> int:
        err = HashMap._op_update(self, key, value.id.to_bytes(4, "little"), flags, False)
        if not err:
            self._maps[key] = value  # type: ignore[index]
        return err

    def _op_delete(self, key: bytes | None) -> int:
        err = HashMap._op_delete(self, key)
        if not err:
            self._maps.pop(key, None)  # type: ignore[arg-type]
        return err

    def _lookup_batch_raw(self, count: int, token: bytes | None, delete: bool
                          ) -> tuple[list[bytes], list[bytes], bytes | None]:
        keys, values, tok = HashMap._lookup_batch_raw(self, count, token, delete)
        if delete:
            for k in keys:
                self._maps.pop(k, None)
        return keys, values, tok

    def _update_raw(self, key: bytes | None, value: Any, flags: int) -> None:
        VMMap._update_raw(self, key, value, flags)

    def _lookup_and_delete_raw(self, key: bytes | None, flags: int) -> bytes:
        raise _fail(ENOTSUPP, "lookup_and_delete", "not for maps of maps")

    def prog_lookup(self, key: bytes) -> int:
        m = self._maps.get(key)
        return 0 if m is None else m.pointer

    def prog_update(self, key: bytes, value: bytes, flags: int) -> int:
        raise MapNotSupportedError("programs cannot update maps of maps")

    def prog_delete(self, key: bytes) -> int:
        raise MapNotSupportedError("programs cannot delete from maps of maps")

    def submaps(self) -> list[VMMap]:
        return [m for m in self._maps.values() if not m.closed]

    def inner(self, key: Any) -> VMMap | None:
        return self._maps.get(self._key(key))  # type: ignore[arg-type]


# --- XDP redirect maps ---------------------------------------------------------------------

def _current_devices() -> Any:
    from ..net.netns import read_devices
    return read_devices()


class _RedirectArray(VMMap):
    """What devmap, cpumap and xskmap share: u32 indexes below max_entries, each slot
    empty or holding a target; BPF_NOEXIST is EEXIST, other flags above BPF_EXIST
    EINVAL, an index past the end E2BIG on update and EINVAL on delete (which succeeds
    on an empty slot); next_key walks every index as for arrays."""

    def __init__(self, spec: MapSpec, *, backing: str | None = None) -> None:
        super().__init__(spec, backing=backing)
        self._used: set[int] = set()  # the slots holding a target
        self.region.writable = False  # the kernel makes these maps BPF_F_RDONLY_PROG

    def _op_lookup(self, key: bytes) -> int:
        idx = int.from_bytes(key, "little")
        if idx >= self.max_entries or idx not in self._used:
            return -1
        return idx * self.stride

    def _check_update(self, key: bytes | None, flags: int) -> tuple[int, int]:
        idx = int.from_bytes(key or b"", "little")
        if flags > BPF_EXIST:
            return E.EINVAL, idx
        if idx >= self.max_entries:
            return E.E2BIG, idx
        if flags == BPF_NOEXIST:
            return E.EEXIST, idx
        return 0, idx

    def _store(self, idx: int, value: bytes | None) -> None:
        off = idx * self.stride
        if value is not None:
            self._used.add(idx)
        else:
            self._used.discard(idx)
        self._view[off:off + self.value_size] = value if value is not None \
            else bytes(self.value_size)

    def _op_delete(self, key: bytes | None) -> int:
        idx = int.from_bytes(key or b"", "little")
        if idx >= self.max_entries:
            return E.EINVAL
        self._store(idx, None)
        return 0

    _op_next = ArrayMap._op_next

    def __len__(self) -> int:
        return len(self._used)

    def redirect_target(self, key: int) -> bool:
        """__*_map_lookup_elem of bpf_redirect_map: is there a target at `key`?"""
        return key < self.max_entries and key in self._used

    def prog_update(self, key: bytes, value: bytes, flags: int) -> int:
        raise MapNotSupportedError(f"programs cannot update {self.spec.type_name} maps")

    def prog_delete(self, key: bytes) -> int:
        raise MapNotSupportedError(f"programs cannot delete from {self.spec.type_name} maps")


class DevMap(_RedirectArray):
    """devmap: slots hold a device of the namespace (value u32 ifindex, or struct
    bpf_devmap_val {ifindex, prog fd}); an unknown ifindex is EINVAL; ifindex 0 empties
    the slot. A program fd > 0 is EINVAL: the VM attaches no program to devmap
    entries (a lookup reports prog id 0). `devices` is the namespace checked (None: the
    calling thread's, as the kernel checks the caller's)."""

    devices: Any = None

    def _device_exists(self, ifindex: int) -> bool:
        devs = self.devices if self.devices is not None else _current_devices()
        return ifindex in devs

    def _entry(self, value: bytes) -> tuple[int, bytes | None]:
        ifindex = int.from_bytes(value[:4], "little")
        fd = int.from_bytes(value[4:8], "little", signed=True) if self.value_size == 8 else -1
        if not ifindex:
            return (E.EINVAL if fd > 0 else 0), None
        if not self._device_exists(ifindex):
            return E.EINVAL, None
        if fd > 0:
            return E.EINVAL, None
        return 0, ifindex.to_bytes(4, "little") + bytes(self.value_size - 4)

    def _op_update(self, key: bytes | None, value: Any, flags: int, prog: bool) -> int:
        err, idx = self._check_update(key, flags)
        if err:
            return err
        err, entry = self._entry(bytes(value))
        if err:
            return err
        self._store(idx, entry)
        return 0


class DevMapHash(DevMap):
    """devmap_hash: the same values keyed by any u32, in roundup_pow_of_two(max_entries)
    buckets (key & (n - 1)), newest first in a bucket, which is next_key's order. A
    full map is E2BIG; ifindex 0 is EINVAL; delete of a missing key ENOENT."""

    def __init__(self, spec: MapSpec, *, backing: str | None = None) -> None:
        super().__init__(spec, backing=backing)
        self.n_buckets = 1 << max(self.max_entries - 1, 0).bit_length()
        # only non-empty buckets are kept, with their numbers sorted for next_key
        self._buckets: dict[int, list[int]] = {}
        self._nonempty: list[int] = []
        self._slot: dict[int, int] = {}
        self._free = _Slots()

    grows = True  # elements are allocated on update, as the kernel's

    def _bucket(self, idx: int) -> list[int]:
        b = idx & (self.n_buckets - 1)
        bucket = self._buckets.get(b)
        if bucket is None:
            bucket = self._buckets[b] = []
            bisect.insort(self._nonempty, b)
        return bucket

    def _drop_if_empty(self, idx: int) -> None:
        b = idx & (self.n_buckets - 1)
        if not self._buckets[b]:
            del self._buckets[b]
            del self._nonempty[bisect.bisect_left(self._nonempty, b)]

    def _op_lookup(self, key: bytes) -> int:
        slot = self._slot.get(int.from_bytes(key, "little"))
        return -1 if slot is None else slot * self.stride

    def _op_update(self, key: bytes | None, value: Any, flags: int, prog: bool) -> int:
        idx = int.from_bytes(key or b"", "little")
        if flags > BPF_EXIST or not int.from_bytes(bytes(value)[:4], "little"):
            return E.EINVAL
        old = self._slot.get(idx)
        if old is not None and flags & BPF_NOEXIST:
            return E.EEXIST
        err, entry = self._entry(bytes(value))
        if err:
            return err
        if old is not None:
            bucket = self._bucket(idx)
            bucket.remove(idx)
            slot = old
        else:
            if len(self._slot) >= self.max_entries:
                return E.E2BIG
            slot = self._free.alloc()
            err = self._ensure_slot(slot)
            if err:
                self._free.free(slot)
                return err
            self._slot[idx] = slot
            bucket = self._bucket(idx)
        bucket.insert(0, idx)
        self._store(slot, entry)
        return 0

    def _op_delete(self, key: bytes | None) -> int:
        idx = int.from_bytes(key or b"", "little")
        slot = self._slot.pop(idx, None)
        if slot is None:
            return E.ENOENT
        self._buckets[idx & (self.n_buckets - 1)].remove(idx)
        self._drop_if_empty(idx)
        self._store(slot, None)
        self._free.free(slot)
        return 0

    def _op_next(self, key: bytes | None) -> tuple[int, bytes | None]:
        start = 0
        if key is not None:
            idx = int.from_bytes(key, "little")
            if idx in self._slot:
                b = idx & (self.n_buckets - 1)
                bucket = self._buckets[b]
                pos = bucket.index(idx)
                if pos + 1 < len(bucket):
                    return 0, bucket[pos + 1].to_bytes(4, "little")
                start = b + 1
        i = bisect.bisect_left(self._nonempty, start)
        if i < len(self._nonempty):
            return 0, self._buckets[self._nonempty[i]][0].to_bytes(4, "little")
        return E.ENOENT, None

    def __len__(self) -> int:
        return len(self._slot)

    def redirect_target(self, key: int) -> bool:
        return key in self._slot


def _possible_cpu_set() -> set[int]:
    out: set[int] = set()
    try:
        text = open("/sys/devices/system/cpu/possible").read().strip()
    except OSError:
        return {0}
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


CPUMAP_MAX_QSIZE = 16384


class CpuMap(_RedirectArray):
    """cpumap: slot N is CPU N, holding struct bpf_cpumap_val {qsize, prog fd} (or just
    qsize); qsize 0 empties the slot, above 16384 is EOVERFLOW, a CPU that is not
    possible ENODEV. Program fds > 0 are refused with ENOMEM (the kernel's failed
    entry allocation, for an fd that is not a cpumap program): the VM runs no
    program on cpumap entries."""

    def _op_update(self, key: bytes | None, value: Any, flags: int, prog: bool) -> int:
        err, idx = self._check_update(key, flags)
        if err:
            return err
        v = bytes(value)
        qsize = int.from_bytes(v[:4], "little")
        fd = int.from_bytes(v[4:8], "little", signed=True) if self.value_size == 8 else 0
        if qsize > CPUMAP_MAX_QSIZE:
            return E.EOVERFLOW
        if idx not in _possible_cpu_set():
            return E.ENODEV
        if not qsize:
            self._store(idx, None)
            return 0
        if fd > 0:
            return E.ENOMEM
        self._store(idx, qsize.to_bytes(4, "little") + bytes(self.value_size - 4))
        return 0


AF_XDP = 44


class XskMap(_RedirectArray):
    """xskmap: slots hold AF_XDP sockets given by fd (of this process). A bad fd is
    EBADF, a file that is not a socket ENOTSOCK, a socket of another family
    EOPNOTSUPP; user-space lookups are EOPNOTSUPP. (The VM cannot tell whether an
    AF_XDP socket is bound, which the kernel also requires.)"""

    def _op_update(self, key: bytes | None, value: Any, flags: int, prog: bool) -> int:
        import socket
        import stat
        idx = int.from_bytes(key or b"", "little")
        if flags > BPF_EXIST:
            return E.EINVAL
        if idx >= self.max_entries:
            return E.E2BIG
        fd = int.from_bytes(bytes(value)[:4], "little", signed=True)
        try:
            st = os.fstat(fd)
        except OSError:
            return E.EBADF
        if not stat.S_ISSOCK(st.st_mode):
            return E.ENOTSOCK
        try:
            s = socket.socket(fileno=os.dup(fd))
        except OSError:
            return E.ENOTSOCK
        try:
            family = s.family
        finally:
            s.close()
        if family != AF_XDP:
            return E.EOPNOTSUPP
        if flags == BPF_NOEXIST and idx in self._used:
            return E.EEXIST
        if flags == BPF_EXIST and idx not in self._used:
            return E.ENOENT
        self._store(idx, bytes(value)[:4])
        return 0

    def _lookup_raw(self, key: bytes | None, flags: int) -> bytes:
        self._can_read("lookup")
        raise _fail(E.EOPNOTSUPP, "lookup", "xskmap entries cannot be read from user space")

    def prog_lookup(self, key: bytes) -> int:
        raise MapNotSupportedError("a program's xskmap lookup gives a struct bpf_xdp_sock, "
                                   "which the VM does not model")


_CLASSES: dict[int, Callable[..., VMMap]] = {
    MapType.ARRAY: ArrayMap,
    MapType.PERCPU_ARRAY: ArrayMap,
    MapType.HASH: HashMap,
    MapType.PERCPU_HASH: HashMap,
    MapType.LRU_HASH: LRUHashMap,
    MapType.LRU_PERCPU_HASH: LRUHashMap,
    MapType.LPM_TRIE: LPMTrieMap,
    MapType.QUEUE: QueueStackMap,
    MapType.STACK: QueueStackMap,
    MapType.BLOOM_FILTER: BloomFilterMap,
    MapType.RINGBUF: RingBufMap,
    MapType.PERF_EVENT_ARRAY: PerfEventArrayMap,
    MapType.PROG_ARRAY: ProgArrayMap,
    MapType.ARRAY_OF_MAPS: ArrayOfMapsMap,
    MapType.HASH_OF_MAPS: HashOfMapsMap,
    MapType.DEVMAP: DevMap,
    MapType.DEVMAP_HASH: DevMapHash,
    MapType.CPUMAP: CpuMap,
    MapType.XSKMAP: XskMap,
}

VM_MAP_TYPES = frozenset(_CLASSES)


class VMMapTypeError(MapNotSupportedError):
    """A map type the VM does not implement (the kernel may have it): said as the VM's
    limit, not as a kernel errno, though `errno` stays ENOTSUPP for callers."""

    def _message(self) -> str:
        return f"{self.op}: {self.detail}" if self.op else self.detail


def vm_map_type_names() -> list[str]:
    """The map types the VM implements, by their short names ("array", "hash", ...)."""
    return sorted(MapType(t).name.lower() for t in _CLASSES)


def vm_map_class(spec: MapSpec) -> Callable[..., VMMap]:
    cls = _CLASSES.get(spec.type)  # type: ignore[call-overload]
    if cls is None:
        raise VMMapTypeError(f"{spec.type_name} maps are not implemented on the VM (use "
                             f"--backend kernel / instantiate('kernel'); the VM has "
                             f"{', '.join(vm_map_type_names())})", op="create")
    return cls


def create_vm_map(spec: MapSpec) -> VMMap:
    """A new VM map for `spec`, with its contents written and frozen if asked; closed
    again if any of that fails."""
    return populate(vm_map_class(spec)(spec), spec, "vm")


def attach_vm_map(spec: MapSpec, backing: str, frozen: bool = False) -> VMMap:
    """A VM map over an existing shared backing file (from a pin descriptor)."""
    m = vm_map_class(spec)(spec, backing=backing)
    m.frozen = frozen
    return m
