"""VM maps whose keys live in a KeyIndex (hash maps, LPM tries): the index made with
the map (MapError ENOMEM, the values' memory released, when it cannot be mapped),
grown with the value slab, closed with it."""

from __future__ import annotations

from typing import Any

from ..jit.layout import Key
from .errors import MapError
from .keyindex import KeyIndex, grow_key_index, new_key_index
from .vmbase import VMMap


class KeyIndexedMap(VMMap):
    """A VMMap with a `key_index` native lookups share."""

    key_index: KeyIndex

    def _make_key_index(self, key_size: int, capacity: int, flags: int, slots: Any,
                        **kw: Any) -> None:
        try:
            self.key_index = new_key_index(key_size, len(self._view) // self.slot_bytes,
                                           capacity, flags, slots, **kw)
        except MapError:  # the values' memory goes too (a shared map's file)
            VMMap._release_memory(self)
            raise

    def _ensure_slot(self, slot: int) -> int:
        err = VMMap._ensure_slot(self, slot)
        slots = len(self._view) // self.slot_bytes
        if not err and slots > self.key_index.h[Key.SLOTS]:
            err = grow_key_index(self.key_index, slots)
        return err

    def _release_memory(self) -> None:
        VMMap._release_memory(self)
        self.key_index.close()
