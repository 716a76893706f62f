"""Maps without keys on the VM: queue and stack (push, pop, peek) and the bloom
filter (push, peek)."""

from __future__ import annotations

import errno as E
import hashlib
import os
from typing import Any

from ..uapi import BPF_ANY, BPF_EXIST, BPF_NOEXIST, MapFlag, MapType
from .errors import MapNotSupportedError, map_error
from .spec import MapSpec
from .vmbase import EOPNOTSUPP, VMMap

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
        raise map_error(E.EINVAL, "next_key", "queue and stack maps cannot be iterated")

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
            raise map_error(E.EINVAL, "peek", "flags must be 0")
        self._can_read("peek")
        err, value = self._op_pop(False)
        if err:
            raise map_error(err, "peek", "the map is empty")
        return value  # type: ignore[return-value]  # err 0: a value

    def _lookup_and_delete_raw(self, key: bytes | None, flags: int) -> bytes:
        self._can_read("pop")
        self._can_write("pop")
        if flags:
            raise map_error(E.EINVAL, "pop", "flags must be 0")
        err, value = self._op_pop(True)
        if err:
            raise map_error(err, "pop", "the map is empty")
        return value  # type: ignore[return-value]  # err 0: a value

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
            raise map_error(E.ENOENT, "peek", "the value is not in the filter")

    def _lookup_raw(self, key: bytes | None, flags: int) -> bytes:
        raise map_error(E.EINVAL, "lookup", "a bloom filter is tested with peek(value)")

    def _op_delete(self, key: bytes | None) -> int:
        return EOPNOTSUPP

    def _op_next(self, key: bytes | None) -> tuple[int, bytes | None]:
        return EOPNOTSUPP, None

    def __len__(self) -> int:
        self._can_read("next_key")
        raise map_error(EOPNOTSUPP, "next_key", "bloom filters cannot be iterated")

    def prog_lookup(self, key: bytes) -> int:
        raise MapNotSupportedError("use bpf_map_peek_elem on bloom filters")
