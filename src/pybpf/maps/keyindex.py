"""A VM map's keys in plain memory, for native code and Python alike: the key of each
value slot, an open-addressing index over them (CRC-32 of the key, linear probing),
the iteration and LRU orders as links between slots and the stack of freed slots, in
arrays at stable host addresses under a header of u64 words (pybpf.jit.layout.Key).
The JIT's map helpers find, insert and delete keys in these very arrays, so the map's
Python code and native code share one structure; the map's dict key -> slot (Python's
fast lookup) is kept exact by both (native code through the C API)."""

from __future__ import annotations

import ctypes
import errno
import zlib
from typing import Any, Iterable

from ..jit.layout import (INDEX_EMPTY, INDEX_TOMB, LINK_WORDS, NIL, Key, KeyFlag, Link)
from .memory import Slab
from .spec import round8

_NEXT, _PREV, _LRU_NEXT, _LRU_PREV = (int(x) for x in Link)
# header words as plain ints (an IntEnum index costs a conversion each time)
_CAPACITY = int(Key.CAPACITY)
_CHANGES = int(Key.CHANGES)
_COUNTS = int(Key.COUNTS)
_DICT = int(Key.DICT)
_FIRST = int(Key.FIRST)
_FLAGS = int(Key.FLAGS)
_FREED = int(Key.FREED)
_FRESH = int(Key.FRESH)
_IMASK = int(Key.IMASK)
_INDEX = int(Key.INDEX)
_KEYS = int(Key.KEYS)
_KEY_SIZE = int(Key.KEY_SIZE)
_KEY_STRIDE = int(Key.KEY_STRIDE)
_LAST = int(Key.LAST)
_LENS = int(Key.LENS)
_LINKS = int(Key.LINKS)
_LRU_HEAD = int(Key.LRU_HEAD)
_LRU_TAIL = int(Key.LRU_TAIL)
_NLENS = int(Key.NLENS)
_NFREED = int(Key.NFREED)
_SIZE = int(Key.SIZE)
_SLOTS = int(Key.SLOTS)
_USED = int(Key.USED)
MIN_INDEX = 16
SMALL_BLOCK = 1 << 16  # arrays up to this size are heap blocks, bigger ones mappings


class Block:
    """`size` zeroed bytes at a stable address: on the heap when small (a map's arrays
    would otherwise cost the process four mappings a map), else a Slab (pages
    committed as they are written)."""

    __slots__ = ("_slab", "_heap", "view", "address")

    def __init__(self, size: int) -> None:
        size = max(size, 1)
        self._slab: Slab | None = None
        self._heap: Any = None
        if size <= SMALL_BLOCK:
            self._heap = (ctypes.c_char * size)()
            self.view = memoryview(self._heap).cast("B")
            self.address = ctypes.addressof(self._heap)
        else:
            self._slab = Slab.anonymous(size)
            self.view = self._slab.view
            self.address = self._slab.address

    def close(self) -> None:
        if self._slab is not None:
            self._slab.close()


def index_size(slots: int) -> int:
    """Index entries for `slots` value slots: a power of two, at least twice as many."""
    size = MIN_INDEX
    while size < 2 * slots:
        size *= 2
    return size


class KeyIndex:
    """The key index of a map with `slots` value slots (growable) holding at most
    `capacity` keys of `key_size` bytes; `table` is the map's dict key -> slot, which
    native code updates in place too (it must stay the same object). An LPM trie's
    index (`lens`: its prefix lengths 0..lens-1) also keeps the key as last written
    beside each prefix, and the stored prefix lengths with their counts."""

    def __init__(self, key_size: int, slots: int, capacity: int, flags: int,
                 table: dict[bytes, int], lens: int = 0) -> None:
        self.key_size = key_size
        self.raw = round8(key_size) if lens else 0  # where a slot's written key starts
        self.stride = round8(key_size) * (2 if lens else 1)
        self.header = (ctypes.c_uint64 * _SIZE)()
        h = self.h = memoryview(self.header).cast("B").cast("Q")
        h[_FLAGS] = flags
        h[_CAPACITY] = capacity
        h[_KEY_SIZE] = key_size
        h[_KEY_STRIDE] = self.stride
        for w in (_FIRST, _LAST, _LRU_HEAD, _LRU_TAIL):
            h[w] = NIL
        self.table = table
        h[_DICT] = id(table)
        self.lru = bool(flags & KeyFlag.LRU)
        self._arrays: list[Block] = []
        self._index_slab: Block | None = None
        self.keys = self.links = self.freed = self.index = memoryview(b"")
        self.lens = self.counts = memoryview(b"")
        if lens:  # LPM: the prefix lengths stored, longest first, and their counts
            self._lens_slab = Block(8 * lens)
            self.lens = self._lens_slab.view[:4 * lens].cast("I")
            self.counts = self._lens_slab.view[4 * lens:].cast("I")
            h[_LENS] = self._lens_slab.address
            h[_COUNTS] = self._lens_slab.address + 4 * lens
        self.resize(slots)

    @property
    def address(self) -> int:
        """Host address of the header (what the JIT's fast map table holds)."""
        return ctypes.addressof(self.header)

    # --- memory ----------------------------------------------------------------------------
    def resize(self, slots: int) -> None:
        """Room for `slots` value slots (a grown map's), the contents kept."""
        h = self.h
        old = h[_SLOTS]
        keys = Block(slots * self.stride)
        links = Block(slots * LINK_WORDS * 4)
        freed = Block(slots * 4)
        keys.view[:old * self.stride] = self.keys[:old * self.stride]
        links.view[:old * LINK_WORDS * 4] = self.links.cast("B")[:old * LINK_WORDS * 4] \
            if old else b""
        freed.view[:old * 4] = self.freed.cast("B")[:old * 4] if old else b""
        self.keys = keys.view
        self.links = links.view.cast("I") if slots else memoryview(b"")
        self.freed = freed.view.cast("I") if slots else memoryview(b"")
        h[_KEYS], h[_LINKS], h[_FREED] = keys.address, links.address, freed.address
        h[_SLOTS] = slots
        retired, self._arrays = self._arrays, [keys, links, freed]
        for slab in retired:
            slab.close()
        if len(self.index) < index_size(slots):
            self.rebuild(self.table.values(), index_size(slots))

    def rebuild(self, live: Iterable[int], size: int | None = None) -> None:
        """The index afresh (no tombstones) over the keys of slots `live`."""
        size = size or len(self.index)
        slab = Block(size * 4)
        index = slab.view.cast("I")
        mask = size - 1
        keys, stride, n = self.keys, self.stride, self.key_size
        used = 0
        for slot in live:
            o = slot * stride
            i = zlib.crc32(keys[o:o + n]) & mask
            while index[i] != INDEX_EMPTY:
                i = (i + 1) & mask
            index[i] = slot + 1
            used += 1
        self.index = index
        h = self.h
        h[_INDEX], h[_IMASK], h[_USED] = slab.address, mask, used
        old, self._index_slab = self._index_slab, slab
        if old is not None:
            old.close()

    def close(self) -> None:
        for slab in [*self._arrays, self._index_slab, getattr(self, "_lens_slab", None)]:
            if slab is not None:
                slab.close()

    # --- keys ----------------------------------------------------------------------------
    def key(self, slot: int) -> bytes:
        o = slot * self.stride
        return bytes(self.keys[o:o + self.key_size])

    def insert(self, key: bytes, slot: int) -> None:
        """`key` (not in the index) stored at `slot`."""
        o = slot * self.stride
        self.keys[o:o + self.key_size] = key
        h = self.h
        mask = h[_IMASK]
        if h[_USED] + 1 > (mask + 1) * 3 // 4:
            self.rebuild(self.table.values())  # `key` is in table already: not again
            if self.table.get(key) == slot:
                return
        index = self.index
        i = zlib.crc32(key) & mask
        while True:
            e = index[i]
            if e == INDEX_EMPTY:
                h[_USED] += 1
                break
            if e == INDEX_TOMB:
                break
            i = (i + 1) & mask
        index[i] = slot + 1

    def remove(self, key: bytes, slot: int) -> None:
        """`key`, stored at `slot`, out of the index (a tombstone)."""
        index, mask = self.index, self.h[_IMASK]
        i = zlib.crc32(key) & mask
        want = slot + 1
        while index[i] != want:
            i = (i + 1) & mask
        index[i] = INDEX_TOMB

    def written(self, slot: int) -> bytes:
        """An LPM trie's key of `slot` as last written (its prefix is key(slot))."""
        o = slot * self.stride + self.raw
        return bytes(self.keys[o:o + self.key_size])

    def write(self, slot: int, key: bytes) -> None:
        o = slot * self.stride + self.raw
        self.keys[o:o + self.key_size] = key

    def count_length(self, plen: int, delta: int) -> None:
        """An LPM trie's entries of prefix length `plen` change by `delta` (+1 or -1):
        a length gained or lost changes the lengths stored, longest first."""
        counts, h = self.counts, self.h
        n = counts[plen] + delta
        counts[plen] = n
        h[_CHANGES] += 1
        if n == (1 if delta > 0 else 0):
            stored = set(self.lens[:h[_NLENS]]) ^ {plen}
            for i, length in enumerate(sorted(stored, reverse=True)):
                self.lens[i] = length
            h[_NLENS] = len(stored)

    # --- slots ---------------------------------------------------------------------------
    def alloc(self) -> int:
        """A free slot: the last freed, else a fresh one (may be past SLOTS: grow)."""
        h = self.h
        n = h[_NFREED]
        if n:
            h[_NFREED] = n - 1
            return self.freed[n - 1]
        h[_FRESH] += 1
        return h[_FRESH] - 1

    def free(self, slot: int) -> None:
        h = self.h
        n = h[_NFREED]
        self.freed[n] = slot
        h[_NFREED] = n + 1

    # --- iteration order ---------------------------------------------------------------
    def first(self) -> int:
        return self.h[_FIRST]

    def next(self, slot: int) -> int:
        return self.links[slot * LINK_WORDS + _NEXT]

    def link(self, slot: int) -> None:
        """`slot` last in iteration order (and most recent for an LRU map)."""
        self._append(slot, _NEXT, _PREV, _FIRST, _LAST)
        if self.lru:
            self._append(slot, _LRU_NEXT, _LRU_PREV, _LRU_HEAD, _LRU_TAIL)

    def unlink(self, slot: int) -> None:
        self._remove(slot, _NEXT, _PREV, _FIRST, _LAST)
        if self.lru:
            self._remove(slot, _LRU_NEXT, _LRU_PREV, _LRU_HEAD, _LRU_TAIL)

    def touch(self, slot: int) -> None:
        """An LRU map's `slot` becomes the most recently used."""
        if self.h[_LRU_TAIL] != slot:
            self._remove(slot, _LRU_NEXT, _LRU_PREV, _LRU_HEAD, _LRU_TAIL)
            self._append(slot, _LRU_NEXT, _LRU_PREV, _LRU_HEAD, _LRU_TAIL)

    def least_recent(self) -> int:
        return self.h[_LRU_HEAD]

    def _append(self, slot: int, nxt: int, prv: int, head: int, tail: int) -> None:
        h, links = self.h, self.links
        last = h[tail]
        links[slot * LINK_WORDS + prv] = last
        links[slot * LINK_WORDS + nxt] = NIL
        if last == NIL:
            h[head] = slot
        else:
            links[last * LINK_WORDS + nxt] = slot
        h[tail] = slot

    def _remove(self, slot: int, nxt: int, prv: int, head: int, tail: int) -> None:
        h, links = self.h, self.links
        p = links[slot * LINK_WORDS + prv]
        n = links[slot * LINK_WORDS + nxt]
        if p == NIL:
            h[head] = n
        else:
            links[p * LINK_WORDS + nxt] = n
        if n == NIL:
            h[tail] = p
        else:
            links[n * LINK_WORDS + prv] = p


__all__ = ["KeyIndex", "index_size"]


def new_key_index(*args: Any, **kw: Any) -> "KeyIndex":
    """A KeyIndex, or MapError ENOMEM when its keys cannot be mapped (a hash map of
    4,096 keys of 1 MiB wants 4 GiB of keys: hostile sizes fail as the kernel's do)."""
    try:
        return KeyIndex(*args, **kw)
    except (MemoryError, OSError) as e:
        from .errors import map_error
        raise map_error(errno.ENOMEM, "create",
                        f"cannot map the key index ({args[0]}-byte keys)") from e


def grow_key_index(index: "KeyIndex", slots: int) -> int:
    """index.resize(slots): 0, or ENOMEM when the larger index cannot be mapped."""
    try:
        index.resize(slots)
    except (MemoryError, OSError):
        return errno.ENOMEM
    return 0
