"""pybpf.maps.keyindex: the key index a hash map and an LPM trie keep in plain memory
stays exact under the Python Map API (what native code then probes): every key is
found by a probe as native code does it, tombstones never fill the index, the links
give the iteration order and the LRU order, growth keeps everything."""

from __future__ import annotations

import random
import zlib
from collections import OrderedDict
from typing import Any

from pybpf.jit.layout import INDEX_EMPTY, INDEX_TOMB, NIL, Key
from pybpf.maps import MapSpec


def probe(ix: Any, key: bytes) -> int:
    """The slot of `key` by the index, as @ki_find walks it (-1: absent)."""
    mask = ix.h[Key.IMASK]
    i = zlib.crc32(key) & mask
    while ix.index[i] != INDEX_EMPTY:
        e = ix.index[i]
        if e != INDEX_TOMB and ix.key(e - 1) == key:
            return e - 1
        i = (i + 1) & mask
    return -1


def order(ix: Any, head: Key, link: int) -> list[int]:
    out, s = [], ix.h[head]
    while s != NIL:
        out.append(s)
        s = ix.links[s * 4 + link]
    return out


def check(m: Any, model: "OrderedDict[bytes, None]") -> None:
    ix = m.key_index
    assert ix.h[Key.USED] <= (ix.h[Key.IMASK] + 1) * 3 // 4
    for k, slot in m._slots.items():
        assert probe(ix, k) == slot
    assert [ix.key(s) for s in order(ix, Key.FIRST, 0)] == list(m._slots) == list(model)


def test_insert_delete_churn_keeps_the_index_exact() -> None:
    rng = random.Random(1)
    m = MapSpec("hash", 4, 8, 8).create("vm")
    model: OrderedDict[bytes, None] = OrderedDict()
    try:
        for _ in range(3000):
            k = rng.randrange(12).to_bytes(4, "little")
            if k in model:
                m.delete(k)
                del model[k]
            elif len(model) < 8:
                m.update(k, bytes(8))
                model[k] = None
            check(m, model)
        for k in [i.to_bytes(4, "little") for i in range(12)]:
            assert (probe(m.key_index, k) >= 0) == (k in model)
    finally:
        m.close()


def test_lru_order_follows_updates_and_program_lookups() -> None:
    m = MapSpec("lru_hash", 4, 8, 4).create("vm")
    try:
        keys = [i.to_bytes(4, "little") for i in range(4)]
        for k in keys:
            m.update(k, bytes(8))
        m.update(keys[0], bytes(8))  # an update makes it the most recent
        m.prog_lookup(keys[1])  # so does a program's lookup
        m.lookup(keys[2])  # a user-space lookup does not
        ix = m.key_index
        assert [ix.key(s) for s in order(ix, Key.LRU_HEAD, 2)] == \
            [keys[2], keys[3], keys[0], keys[1]]
        m.update((9).to_bytes(4, "little"), bytes(8))  # evicts keys[2]
        assert keys[2] not in m and m.evictions == 1
        check(m, OrderedDict.fromkeys([keys[0], keys[1], keys[3], (9).to_bytes(4, "little")]))
    finally:
        m.close()


def test_a_grown_map_and_trie_keep_their_keys() -> None:
    h = MapSpec("percpu_hash", 8, 8, 300, flags=1).create("vm")  # BPF_F_NO_PREALLOC
    t = MapSpec("lpm_trie", 8, 8, 300, flags=1).create("vm")
    try:
        model: OrderedDict[bytes, None] = OrderedDict()
        for i in range(300):
            k = (i * 7919).to_bytes(8, "little")
            h.update(k, [bytes(8)] * h.ncpus)
            model[k] = None
            t.update((24).to_bytes(4, "little") + bytes([10, i >> 8, i & 255, 0]), bytes(8))
        assert h.key_index.h[Key.SLOTS] >= 300
        assert h.key_index.h[Key.IMASK] + 1 >= 2 * h.key_index.h[Key.SLOTS]
        check(h, model)
        ix = t.key_index
        for ck, slot in t._canon_slots.items():
            assert probe(ix, ck) == slot
        assert list(ix.lens[:ix.h[Key.NLENS]]) == [24]
    finally:
        h.close()
        t.close()
