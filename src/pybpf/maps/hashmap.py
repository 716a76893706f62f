"""Hash maps on the VM: hash and percpu_hash (preallocated or grown), and the LRU
variants that evict the least recently used entry when full."""

from __future__ import annotations

import errno as E
from typing import Any, Generator

from ..jit.layout import NIL, Key, KeyFlag
from ..uapi import BPF_EXIST, BPF_F_LOCK, BPF_NOEXIST, MapFlag
from .errors import map_error
from .spec import MapSpec
from .keyindexed import KeyIndexedMap
from .vmbase import GenericBatch, VMMap

# --- hash maps --------------------------------------------------------------------------

class HashMap(KeyIndexedMap):
    """hash / percpu_hash: a slab of max_entries value slots (grown as values are stored
    with BPF_F_NO_PREALLOC) plus a dict key -> slot (user space's fast lookup) and a
    key index (pybpf.maps.keyindex: the slots' keys, an index over them, the orders and
    the free slots in plain memory, which the JIT's helpers probe and change too). Full
    maps refuse new keys with E2BIG. Iteration is in insertion order (the kernel's is
    bucket order, which depends on a random hash seed): links between slots give
    next_key in O(1), and a key not in the map gives the first key.
    Replacing a value writes it in place (the kernel's preallocated hash swaps in a fresh
    element, so a program still holding the old pointer sees the old value there).
    Programs update per-CPU values on CPU 0; a new per-CPU element made by a program has
    zeros on the other CPUs, as in the kernel. Batched lookups walk insertion order with
    a position token; the kernel walks buckets and fails with ENOSPC when one bucket
    holds more elements than `count`, which the VM never does."""

    def __init__(self, spec: MapSpec, *, backing: str | None = None) -> None:
        self.grows = bool(spec.flags & MapFlag.NO_PREALLOC)
        super().__init__(spec, backing=backing)
        self._slots: dict[bytes, int] = {}  # also kept by native code: never replaced
        self._cursors: list[list[int]] = []  # lazy walks in progress (for_each)
        self._user_len = self.slot_bytes if self.percpu else self.value_size
        self._in_place = type(self) is HashMap  # no bookkeeping on replace
        flags = (KeyFlag.LRU if self._lru else 0) | (KeyFlag.PERCPU if self.percpu else 0)
        self._make_key_index(spec.key_size, self.capacity, flags, self._slots)

    _lru = False

    @property
    def capacity(self) -> int:
        return self.max_entries

    # linked order
    def _unlink(self, slot: int) -> None:
        ix = self.key_index
        for cursor in self._cursors:  # a walk about to visit `slot` goes on to its successor
            if cursor[0] == slot:
                cursor[0] = ix.next(slot)
        ix.unlink(slot)

    def _op_lookup(self, key: bytes) -> int:
        slot = self._slots.get(key)
        return -1 if slot is None else slot * self.slot_bytes

    def _lookup_raw(self, key: bytes | None, flags: int) -> bytes:
        slot = self._slots.get(key)  # type: ignore[arg-type]  # None only for keyless maps
        if slot is None or flags or not self._readable:
            return VMMap._lookup_raw(self, key, flags)
        off = slot * self.slot_bytes
        return bytes(self._view[off:off + self._user_len])

    def _update_raw(self, key: bytes | None, value: Any, flags: int) -> None:
        slot = self._slots.get(key)  # type: ignore[arg-type]  # None only for keyless maps
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
            ix = self.key_index
            slot = ix.alloc()
            if self.grows:
                err = self._ensure_slot(slot)
                if err:
                    ix.free(slot)
                    return err
            self._slots[key] = slot
            ix.insert(key, slot)
            ix.link(slot)
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
        slot = self._slots.pop(key, None)  # type: ignore[arg-type]  # None only for keyless maps
        if slot is None:
            return E.ENOENT
        self.key_index.remove(key, slot)  # type: ignore[arg-type]  # keyed maps: bytes
        self._unlink(slot)
        self.key_index.free(slot)
        return 0

    def walk(self) -> Generator[bytes, None, None]:
        """The keys in next_key order, lazily: a key deleted before the walk reaches it
        is skipped, a key added meanwhile is visited when reached (as the kernel's
        bucket walk may), and the walk holds no copy of the keys."""
        ix = self.key_index
        cursor = [ix.first()]
        self._cursors.append(cursor)
        ix.h[Key.WALKS] += 1
        try:
            while cursor[0] != NIL:
                slot = cursor[0]
                cursor[0] = ix.next(slot)
                yield ix.key(slot)
        finally:
            self._cursors.remove(cursor)
            ix.h[Key.WALKS] -= 1

    def _op_next(self, key: bytes | None) -> tuple[int, bytes | None]:
        ix = self.key_index
        slot = None if key is None else self._slots.get(key)
        nxt = ix.first() if slot is None else ix.next(slot)
        return (0, ix.key(nxt)) if nxt != NIL else (E.ENOENT, None)

    def __len__(self) -> int:
        self._can_read("next_key")
        return len(self._slots)

    def _lookup_and_delete_raw(self, key: bytes | None, flags: int) -> bytes:
        self._can_read("lookup_and_delete")
        self._can_write("lookup_and_delete")
        if flags:
            raise map_error(E.EINVAL, "lookup_and_delete", "flags must be 0")
        off = self._op_lookup(key) if key is not None else -1
        if off < 0:
            raise map_error(E.ENOENT, "lookup_and_delete", f"key {key.hex()}" if key else "")
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
        ix = self.key_index
        k = ix.first()
        for _ in range(start):
            if k == NIL:
                break
            k = ix.next(k)
        while k != NIL and len(keys) < count:
            keys.append(ix.key(k))
            values.append(self._user_value(k * self.slot_bytes))
            k = ix.next(k)
        if delete:
            for dk in keys:
                self._op_delete(dk)
        if k == NIL:
            return keys, values, None
        return keys, values, (start if delete else start + len(keys)).to_bytes(8, "little")

    _update_batch_raw = GenericBatch._update_batch_raw
    _delete_batch_raw = GenericBatch._delete_batch_raw

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

    _lru = True

    def __init__(self, spec: MapSpec, *, backing: str | None = None) -> None:
        ncpu = self._possible_cpus()
        if spec.flags & MapFlag.NO_COMMON_LRU:
            rounded = -(-spec.max_entries // ncpu) * ncpu
            if rounded >= 1 << 32:
                rounded = spec.max_entries // ncpu * ncpu
            self._capacity = max(1, rounded // ncpu)
        else:
            self._capacity = spec.max_entries
        super().__init__(spec, backing=backing)

    @staticmethod
    def _possible_cpus() -> int:
        from .base import possible_cpus
        return possible_cpus()

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def evictions(self) -> int:
        """Keys evicted to make room (by Python or native code)."""
        return self.key_index.h[Key.EVICTIONS]

    def _touch(self, key: bytes) -> None:
        slot = self._slots.get(key)
        if slot is not None:
            self.key_index.touch(slot)

    def _evict_for(self, key: bytes) -> bool:
        ix = self.key_index
        self._op_delete(ix.key(ix.least_recent()))
        ix.h[Key.EVICTIONS] += 1
        return True
