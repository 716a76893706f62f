"""The longest-prefix-match trie on the VM (BPF_MAP_TYPE_LPM_TRIE)."""

from __future__ import annotations

import errno as E
from typing import Any

from ..uapi import BPF_EXIST, BPF_NOEXIST
from ..jit.layout import Key
from .keyindexed import KeyIndexedMap
from .spec import MapSpec
from .vmbase import GenericBatch

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
        # the whole trie lives in the key index, which the JIT's update and delete
        # change too: each entry is its prefix (prefixlen, the key's bits past it zero)
        # -> slot, the slot keeps the key as last written; the index keeps the prefix
        # lengths stored and how many of each
        self._canon_slots: dict[bytes, int] = {}
        self._order: list[int] = []
        self._pos: dict[bytes, int] = {}
        self._order_at = -1  # Key.CHANGES when _order was made
        self._make_key_index(spec.key_size, self.max_entries, 0, self._canon_slots,
                             lens=self.max_prefixlen + 1)

    def _split(self, key: bytes) -> tuple[int, int]:
        return int.from_bytes(key[:4], "little"), int.from_bytes(key[4:], "big")

    def _prefix(self, plen: int, data: int) -> bytes:
        """The key index's key of the entry a key names: prefixlen, then the key's
        first prefixlen bits and zeros."""
        data &= ~((1 << (self.max_prefixlen - plen)) - 1)
        return plen.to_bytes(4, "little") + data.to_bytes(self.key_size - 4, "big")

    def _op_lookup(self, key: bytes) -> int:
        plen, data = self._split(key)
        if plen > self.max_prefixlen:
            return -1
        ix = self.key_index
        for length in ix.lens[:ix.h[Key.NLENS]]:
            if length <= plen:
                slot = self._canon_slots.get(self._prefix(length, data))
                if slot is not None:
                    return slot * self.slot_bytes
        return -1

    def _exact(self, key: bytes) -> bytes | None:
        plen, data = self._split(key)
        if plen > self.max_prefixlen:
            return None
        prefix = self._prefix(plen, data)
        return prefix if prefix in self._canon_slots else None

    def _op_update(self, key: bytes | None, value: Any, flags: int, prog: bool) -> int:
        assert key is not None
        if flags > BPF_EXIST:
            return E.EINVAL
        plen, data = self._split(key)
        if plen > self.max_prefixlen:
            return E.EINVAL
        prefix = self._prefix(plen, data)
        ix = self.key_index
        slot = self._canon_slots.get(prefix)
        if slot is not None:
            if flags == BPF_NOEXIST:
                return E.EEXIST
        else:
            if flags == BPF_EXIST:
                return E.ENOENT
            if len(self._canon_slots) >= self.max_entries:
                return E.ENOSPC
            slot = ix.alloc()
            err = self._ensure_slot(slot)
            if err:
                ix.free(slot)
                return err
            self._canon_slots[prefix] = slot
            ix.insert(prefix, slot)
            ix.link(slot)
            ix.count_length(plen, 1)
        ix.write(slot, bytes(key))
        off = slot * self.slot_bytes
        self._view[off:off + self.value_size] = value
        return 0

    def _op_delete(self, key: bytes | None) -> int:
        assert key is not None
        plen, data = self._split(key)
        if plen > self.max_prefixlen:
            return E.EINVAL
        prefix = self._prefix(plen, data)
        slot = self._canon_slots.pop(prefix, None)
        if slot is None:
            return E.ENOENT
        ix = self.key_index
        ix.remove(prefix, slot)
        ix.unlink(slot)
        ix.free(slot)
        ix.count_length(plen, -1)
        return 0

    def _postorder(self) -> list[int]:
        """The slots in the kernel's iteration order, made again after a change."""
        changes = self.key_index.h[Key.CHANGES]
        if self._order_at != changes:
            def bits(prefix: bytes) -> str:
                plen, data = self._split(prefix)
                top = data >> (self.max_prefixlen - plen)
                return (format(top, f"0{plen}b") if plen else "") + "2"
            prefixes = sorted(self._canon_slots, key=bits)
            self._order = [self._canon_slots[p] for p in prefixes]
            self._pos = {p: i for i, p in enumerate(prefixes)}
            self._order_at = changes
        return self._order

    def _op_next(self, key: bytes | None) -> tuple[int, bytes | None]:
        order = self._postorder()
        i = 0
        if key is not None:
            prefix = self._exact(key)
            if prefix is not None:
                i = self._pos[prefix] + 1
        if i >= len(order):
            return E.ENOENT, None
        return 0, self.key_index.written(order[i])

    def __len__(self) -> int:
        self._can_read("next_key")
        return len(self._canon_slots)
