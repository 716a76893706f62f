"""What every map type on the VM shares (VMMap).

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

import errno as E
import itertools
import os
import struct
from typing import Any

from ..uapi import BPF_F_LOCK, MapFlag
from ..vm.memory import SEGMENT_HALF
from .base import Map
from .errors import ENOTSUPP, MapNotSupportedError, MapPermissionError, map_error
from .memory import Slab
from .spec import MapSpec, round8

# VM address of map id N's region: segment MAP_SEGMENT_BASE + N (region mid-segment)
MAP_SEGMENT_BASE = 0x4D50_0000
_IDS = itertools.count(1)  # process-wide, as the kernel's map ids
EOPNOTSUPP = E.EOPNOTSUPP

U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")


class Slots:
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
    slab: Slab  # the values' memory (_init_memory)
    _view: memoryview

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
            raise map_error(E.ENOMEM, "create", f"cannot map {size} bytes for the values") from e
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
            raise map_error(E.EINVAL, "lookup", "flags must be 0 (no BPF_F_LOCK: no spin lock)")
        self._can_read("lookup")
        off = self._op_lookup(key) if key is not None else -1
        if off < 0:
            raise map_error(E.ENOENT, "lookup", f"key {key.hex()}" if key else "")
        return self._user_value(off)

    def _update_raw(self, key: bytes | None, value: Any, flags: int) -> None:
        self._can_write("update")
        if flags & BPF_F_LOCK:
            raise map_error(E.EINVAL, "update", "BPF_F_LOCK needs a bpf_spin_lock in the value")
        err = self._op_update(key, value, flags, False)
        if err:
            raise map_error(err, "update", f"key {key.hex()}" if key else "")

    def _delete_raw(self, key: bytes | None) -> None:
        self._can_write("delete")
        err = self._op_delete(key)
        if err:
            raise map_error(err, "delete", f"key {key.hex()}" if key else "")

    def _next_key_raw(self, key: bytes | None) -> bytes | None:
        self._can_read("next_key")
        err, nxt = self._op_next(key)
        if err == E.ENOENT:
            return None
        if err:
            raise map_error(err, "next_key")
        return nxt

    def _lookup_and_delete_raw(self, key: bytes | None, flags: int) -> bytes:
        self._can_read("lookup_and_delete")
        self._can_write("lookup_and_delete")
        raise map_error(ENOTSUPP, "lookup_and_delete",
                    f"{self.spec.type_name} maps have no lookup-and-delete")

    def _lookup_batch_raw(self, count: int, token: bytes | None, delete: bool
                          ) -> tuple[list[bytes], list[bytes], bytes | None]:
        raise map_error(ENOTSUPP, "lookup_batch", f"{self.spec.type_name} maps have no batch ops")

    def _update_batch_raw(self, keys: list[bytes], values: list[Any], flags: int) -> int:
        raise map_error(ENOTSUPP, "update_batch", f"{self.spec.type_name} maps have no batch ops")

    def _delete_batch_raw(self, keys: list[bytes]) -> int:
        raise map_error(ENOTSUPP, "delete_batch", f"{self.spec.type_name} maps have no batch ops")

    def _fd_value(self, value: Any) -> Any:
        raise map_error(E.EINVAL, "update", "not an fd map")

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

class GenericBatch:
    """Batched operations in terms of the element operations. The token is the last key
    returned (as the kernel's generic batch for arrays), padded to 8 bytes."""

    key_size: int

    def _lookup_batch_raw(self: Any, count: int, token: bytes | None, delete: bool
                          ) -> tuple[list[bytes], list[bytes], bytes | None]:
        if delete:
            raise map_error(ENOTSUPP, "lookup_and_delete_batch",
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
        assert prev is not None  # count > 0: the loop set it
        return keys, values, prev.ljust(max(self.key_size, 8), b"\0")

    def _update_batch_raw(self: Any, keys: list[bytes], values: list[Any], flags: int) -> int:
        self._can_write("update_batch")
        if flags:  # elem_flags: only BPF_F_LOCK, which needs a spin lock in the value
            raise map_error(E.EINVAL, "update_batch", "elem_flags must be 0")
        for i, (k, v) in enumerate(zip(keys, values)):
            err = self._op_update(k, v, flags, False)
            if err:
                exc = map_error(err, "update_batch", f"{i} of {len(keys)} elements done")
                exc.done = i  # type: ignore[attr-defined]  # for the caller
                raise exc
        return len(keys)

    def _delete_batch_raw(self: Any, keys: list[bytes]) -> int:
        self._can_write("delete_batch")
        for i, k in enumerate(keys):
            err = self._op_delete(k)
            if err:
                exc = map_error(err, "delete_batch", f"{i} of {len(keys)} elements done")
                exc.done = i  # type: ignore[attr-defined]  # for the caller
                raise exc
        return len(keys)
