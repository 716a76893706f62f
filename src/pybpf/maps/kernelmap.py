"""Maps in the kernel behind the maps API: a `pybpf.kernel.Map` (bpf(2) over ctypes)
whose KernelErrors are translated into the same MapError types the VM raises."""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
from typing import Any, Iterator

from ..kernel import KernelError, abi
from ..kernel import Map as _KMap
from ..kernel.fd import FD, Owner, fd_of
from ..kernel.maps import (NO_BTF_TYPES, btf_type_ids, map_create,  # noqa: F401 - API
                           map_delete_elem, map_freeze, map_get_next_key,
                           map_lookup_and_delete_elem, map_lookup_elem, map_update_elem)
from ..kernel.syscall import bpf
from ..uapi import BpfCmd, MapType
from .base import Map, populate
from .errors import MapBadFDError, map_error
from .spec import MAP_IN_MAP_TYPES, MapSpec


@contextlib.contextmanager
def translated(op: str) -> Iterator[None]:
    """Turn a KernelError into the MapError for its errno (keeping `done` of batches)."""
    try:
        yield
    except KernelError as e:
        exc = map_error(e.errno, op, e.detail)
        if hasattr(e, "done"):
            exc.done = e.done  # type: ignore[attr-defined]  # kept from the batch
        raise exc from None


class KernelMap(Map):
    """A map in the kernel; `kmap` is the underlying pybpf.kernel.Map (owns the fd)."""

    backend = "kernel"
    pin_path: str | None = None  # where an object pinned it by name (LIBBPF_PIN_BY_NAME)
    reused: bool = False  # True: it was already pinned there, and reused as it was

    def __init__(self, kmap: _KMap, spec: MapSpec) -> None:
        super().__init__(spec)
        self.kmap = kmap
        self._mmaps: list[mmap.mmap] = []

    @classmethod
    def create(cls, spec: MapSpec, *, btf: Any = None,
               warnings: list[str] | None = None) -> "KernelMap":
        """BPF_MAP_CREATE for `spec` (a temporary inner map stands for spec.inner), then
        the contents and freeze; the map is closed again if any of it fails. `btf`: the
        object's BTF loaded in the kernel (fd): the map is described by spec.key_type and
        spec.value_type in it, so bpftool and `pybpf map dump` decode its elements; a
        map the kernel refuses with that BTF (EINVAL) is created without it, as libbpf
        retries, with a note in `warnings`."""
        inner: KernelMap | None = None
        key_id, value_id = btf_type_ids(spec) if btf is not None else (0, 0)

        def make(with_btf: bool) -> FD:
            return map_create(spec.type_id, spec.key_size, spec.value_size,
                              spec.max_entries, map_flags=spec.flags, name=spec.name,
                              inner_map_fd=inner.fd if inner is not None else 0,
                              map_extra=spec.map_extra,
                              btf_fd=btf if with_btf else 0,
                              btf_key_type_id=key_id if with_btf else 0,
                              btf_value_type_id=value_id if with_btf else 0)
        try:
            if spec.inner is not None:
                inner = cls.create(spec.inner.with_(contents=(), freeze=False))
            with translated("create"):
                try:
                    fd = make(value_id != 0)
                except KernelError as e:
                    if not value_id or e.errno != errno.EINVAL:
                        raise
                    if warnings is not None:
                        warnings.append(f"map {spec.name}: the kernel refused its BTF key/"
                                        f"value types [{key_id}]/[{value_id}] (EINVAL); "
                                        "created without BTF")
                    fd = make(False)
        finally:
            if inner is not None:
                inner.close()
        m = cls(_KMap(fd, spec.type_id, spec.key_size, spec.value_size, spec.max_entries,
                      spec.flags, spec.name), spec)
        return populate(m, spec, "kernel")

    @classmethod
    def from_kmap(cls, kmap: _KMap) -> "KernelMap":
        """Wrap an open pybpf.kernel.Map, reading its shape from the kernel."""
        with translated("info"):
            info = kmap.info()
        return cls(kmap, MapSpec.from_info(int(info.type), info.key_size, info.value_size,
                                           info.max_entries, info.map_flags, info.name,
                                           info.map_extra))

    # --- identity / lifecycle -------------------------------------------------------------
    @property
    def fd(self) -> int:
        return self.kmap.fd

    def fileno(self) -> int:
        return self.kmap.fd

    @property
    def id(self) -> int:
        with translated("info"):
            return self.kmap.id

    @property
    def closed(self) -> bool:
        return self.kmap.closed

    def close(self) -> None:
        for m in self._mmaps:
            with contextlib.suppress(BufferError):
                m.close()
        self._mmaps.clear()
        self.kmap.close()

    def pin(self, path: "str | os.PathLike[str]") -> None:
        """Pin in bpffs (mounted at /sys/fs/bpf first if needed)."""
        from ..kernel import ensure_bpffs
        from ..kernel.objects import DEFAULT_BPFFS
        if os.path.abspath(os.fspath(path)).startswith(DEFAULT_BPFFS + "/"):
            with translated("pin"):
                ensure_bpffs()
        with translated("pin"):
            self.kmap.pin(path)

    # --- raw operations -------------------------------------------------------------------
    def _lookup_raw(self, key: bytes | None, flags: int) -> bytes:
        with translated("lookup"):
            return map_lookup_elem(self.kmap, key or b"", self.value_buffer_size, flags)

    def _update_raw(self, key: bytes | None, value: Any, flags: int) -> None:
        with translated("update"):
            map_update_elem(self.kmap, key or b"", value, flags)

    def _delete_raw(self, key: bytes | None) -> None:
        with translated("delete"):
            map_delete_elem(self.kmap, key or b"")

    def _next_key_raw(self, key: bytes | None) -> bytes | None:
        with translated("next_key"):
            return map_get_next_key(self.kmap, key, self.key_size)

    def _lookup_and_delete_raw(self, key: bytes | None, flags: int) -> bytes:
        with translated("lookup_and_delete"):
            return map_lookup_and_delete_elem(self.kmap, key, self.value_buffer_size, flags)

    def _lookup_batch_raw(self, count: int, token: bytes | None, delete: bool
                          ) -> tuple[list[bytes], list[bytes], bytes | None]:
        op = "lookup_and_delete_batch" if delete else "lookup_batch"
        with translated(op):
            fn = self.kmap.lookup_and_delete_batch if delete else self.kmap.lookup_batch
            b = fn(count, token)
        return b.keys, b.values, b.next_batch

    def _update_batch_raw(self, keys: list[bytes], values: list[Any], flags: int) -> int:
        from ..kernel.maps import map_update_batch
        with translated("update_batch"):
            return map_update_batch(self.kmap, keys, values, elem_flags=flags)

    def _delete_batch_raw(self, keys: list[bytes]) -> int:
        from ..kernel.maps import map_delete_batch
        with translated("delete_batch"):
            return map_delete_batch(self.kmap, keys)

    def _freeze_raw(self) -> None:
        with translated("freeze"):
            map_freeze(self.kmap)

    def _bloom_peek(self, value: bytes) -> None:
        import ctypes
        buf = ctypes.create_string_buffer(value, len(value))
        attr = abi.MapElemAttr(map_fd=self.kmap.fd, key=0, value=ctypes.addressof(buf),
                               flags=0)
        with translated("peek"):
            bpf(BpfCmd.MAP_LOOKUP_ELEM, attr)

    def _fd_value(self, value: Any) -> bytes:
        if isinstance(value, KernelMap):
            fd = value.fd
        elif isinstance(value, (FD, Owner)):
            fd = fd_of(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            fd = value
        elif isinstance(value, Map):
            raise MapBadFDError("a VM map cannot be stored in a kernel map", op="update")
        else:
            raise MapBadFDError(f"{self.spec.type_name} values are fds, kernel maps or "
                                f"programs, not {type(value).__name__}", op="update")
        return (fd & 0xFFFF_FFFF).to_bytes(4, "little")

    # --- maps of maps -----------------------------------------------------------------------
    def inner(self, key: Any) -> "KernelMap | None":
        """The inner map at `key` (a new fd on it), None if the slot is empty."""
        if self.spec.type not in MAP_IN_MAP_TYPES:
            raise map_error(22, "inner", "not a map of maps")
        try:
            raw = self.lookup(key)
        except KeyError:
            return None
        with translated("inner"):
            return KernelMap.from_kmap(_KMap.from_id(int.from_bytes(raw, "little")))

    # --- ring buffers --------------------------------------------------------------------
    def memory(self) -> tuple[memoryview, memoryview, memoryview, int | None]:
        """(consumer page, producer page, data twice, fd to poll) of a ring buffer: the
        consumer page mapped read-write at offset 0, the producer page and the data
        (which the kernel maps twice) read-only from offset page_size."""
        if self.spec.type != MapType.RINGBUF:
            raise map_error(22, "mmap", "not a ring buffer")
        ps = mmap.PAGESIZE
        with translated("mmap"):
            try:
                cons = mmap.mmap(self.fd, ps, mmap.MAP_SHARED,
                                 mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
                prod = mmap.mmap(self.fd, ps + 2 * self.max_entries, mmap.MAP_SHARED,
                                 mmap.PROT_READ, offset=ps)
            except OSError as e:
                raise KernelError(e.errno or 22, "mmap") from None
        self._mmaps += [cons, prod]
        pv = memoryview(prod)
        return memoryview(cons), pv[:ps], pv[ps:], self.fd


def open_pinned_kernel_map(path: str) -> KernelMap:
    """The kernel map pinned at `path` in bpffs."""
    with translated("from_pinned"):
        kmap = _KMap.from_pin(path)
    return KernelMap.from_kmap(kmap)
