"""The longest-prefix-match trie on the VM (BPF_MAP_TYPE_LPM_TRIE)."""

from __future__ import annotations

import errno as E
from typing import Any

from ..uapi import BPF_EXIST, BPF_NOEXIST
from ..jit.layout import Key
from .keyindexed import KeyIndexedMap
from .spec import MapSpec
from .vmbase import GenericBatch, Slots

# --- LPM trie -------------------------------------------------------------------------------

class LPMTrieMap(GenericBatch, KeyIndexedMap):
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
        self._free = Slots()
        self._order: list[tuple[int, int]] | None = None
        self._pos: dict[tuple[int, int], int] = {}
        # the prefixes for native lookups: (prefixlen, prefix bits then zeros) -> slot
        self._canon_slots: dict[bytes, int] = {}
        self._make_key_index(spec.key_size, self.max_entries, 0, self._canon_slots,
                             lens=self.max_prefixlen + 1)

    def _canon_key(self, c: tuple[int, int]) -> bytes:
        """The key index's key of prefix `c`: prefixlen, then the prefix's bits and
        zeros (the bits past prefixlen of a lookup key masked off)."""
        plen, top = c
        data = top << (self.max_prefixlen - plen)
        return plen.to_bytes(4, "little") + data.to_bytes(self.key_size - 4, "big")

    def _lens_changed(self) -> None:
        self._sorted_lens = sorted(self._lens, reverse=True)
        ix = self.key_index
        for i, length in enumerate(self._sorted_lens):
            ix.lens[i] = length
        ix.h[Key.NLENS] = len(self._sorted_lens)

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
            ck = self._canon_key(c)
            self._canon_slots[ck] = slot
            self.key_index.insert(ck, slot)
            self._lens_changed()
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
        ck = self._canon_key(c)
        del self._canon_slots[ck]
        self.key_index.remove(ck, old[1])
        self._lens[plen] -= 1
        if not self._lens[plen]:
            del self._lens[plen]
            self._lens_changed()
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
