"""Array maps on the VM: array and percpu_array, values at fixed slots of the map's slab
(mmap-able with BPF_F_MMAPABLE as the kernel's)."""

from __future__ import annotations

import errno as E
from typing import Any

from ..uapi import BPF_EXIST, BPF_F_LOCK, BPF_NOEXIST, MapFlag, MapType
from .errors import MapInvalidError, MapNotSupportedError, map_error
from .memory import PAGE_SIZE
from .spec import MapSpec
from .vmbase import GenericBatch, VMMap

# --- arrays -------------------------------------------------------------------------------

class ArrayMap(GenericBatch, VMMap):
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
            raise map_error(E.ENOENT, "lookup", f"key {key.hex()}")
        off = idx * self.slot_bytes
        return bytes(self._view[off:off + self._user_len])

    def _update_raw(self, key: bytes | None, value: Any, flags: int) -> None:
        if flags or not self._writable:
            return VMMap._update_raw(self, key, value, flags)
        idx = int.from_bytes(key, "little")  # type: ignore[arg-type]  # keyed maps: bytes
        if idx >= self.max_entries:
            raise map_error(E.E2BIG, "update", f"index {idx} >= max_entries {self.max_entries}")
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
