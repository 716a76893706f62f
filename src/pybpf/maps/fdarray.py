"""Maps of file descriptors on the VM: prog_array (tail calls), perf_event_array, and
the maps of maps (array_of_maps, hash_of_maps)."""

from __future__ import annotations

import errno as E
from typing import Any, Iterator

from ..uapi import BPF_ANY
from .arraymap import ArrayMap
from .errors import ENOTSUPP, MapBadFDError, MapInvalidError, MapNotSupportedError, map_error
from .hashmap import HashMap
from .spec import MAP_IN_MAP_TYPES, MapSpec, specs_equal_for_inner
from .vmbase import U64, GenericBatch, VMMap

# --- fd arrays: prog_array, perf_event_array, array_of_maps -----------------------------------

class FdArrayMap(GenericBatch, VMMap):
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
        U64.pack_into(self._view, idx * 8, self._object_id(value))
        return 0

    def _op_delete(self, key: bytes | None) -> int:
        idx = self._index(key or b"")
        if idx >= self.max_entries:
            return E.E2BIG
        if self._objs.get(idx) is None:
            return E.ENOENT
        del self._objs[idx]
        U64.pack_into(self._view, idx * 8, 0)
        return 0

    _op_next = ArrayMap._op_next

    def __len__(self) -> int:
        self._can_read("next_key")
        return self.max_entries

    def items(self) -> Iterator[tuple[bytes, Any]]:  # type: ignore[override]  # lazy
        """The filled slots in index order: what walking every index with next_key and
        skipping the empty ones gives, in O(stored), not O(max_entries) (a 16M-entry
        empty array of maps took minutes to find its first 64 entries)."""
        self._can_read("next_key")
        for idx in sorted(self._objs):
            key = idx.to_bytes(self.spec.key_size, "little")
            try:
                yield key, self.lookup(key)
            except KeyError:  # emptied meanwhile
                continue

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
        raise map_error(ENOTSUPP, "lookup", "perf_event_array values cannot be read back")

    def _lookup_batch_raw(self, count: int, token: bytes | None, delete: bool
                          ) -> tuple[list[bytes], list[bytes], bytes | None]:
        raise map_error(ENOTSUPP, "lookup_batch", "perf_event_array values cannot be read back")

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

    _lookup_batch_raw = GenericBatch._lookup_batch_raw
    _update_batch_raw = GenericBatch._update_batch_raw

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
            self._maps[key] = value  # type: ignore[index]  # keyed maps: bytes
        return err

    def _op_delete(self, key: bytes | None) -> int:
        err = HashMap._op_delete(self, key)
        if not err:
            self._maps.pop(key, None)  # type: ignore[arg-type]  # keyed maps: bytes
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
        raise map_error(ENOTSUPP, "lookup_and_delete", "not for maps of maps")

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
        return self._maps.get(self._key(key))  # type: ignore[arg-type]  # keyed: bytes
