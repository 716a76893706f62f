"""The XDP redirect maps on the VM: devmap and devmap_hash (network devices of
pybpf.net), cpumap and xskmap."""

from __future__ import annotations

import bisect
import errno as E
import os
from typing import Any, Iterator

from ..uapi import BPF_EXIST, BPF_NOEXIST
from .arraymap import ArrayMap
from .errors import MapNotSupportedError, map_error
from .spec import MapSpec
from .vmbase import Slots, VMMap

# --- XDP redirect maps ---------------------------------------------------------------------

def _current_devices() -> Any:
    from ..net.netns import read_devices
    return read_devices()


class _RedirectArray(VMMap):
    """What devmap, cpumap and xskmap share: u32 indexes below max_entries, each slot
    empty or holding a target; BPF_NOEXIST is EEXIST, other flags above BPF_EXIST
    EINVAL, an index past the end E2BIG on update and EINVAL on delete (which succeeds
    on an empty slot); next_key walks every index as for arrays."""

    def __init__(self, spec: MapSpec, *, backing: str | None = None) -> None:
        super().__init__(spec, backing=backing)
        self._used: set[int] = set()  # the slots holding a target
        self.region.writable = False  # the kernel makes these maps BPF_F_RDONLY_PROG

    def _op_lookup(self, key: bytes) -> int:
        idx = int.from_bytes(key, "little")
        if idx >= self.max_entries or idx not in self._used:
            return -1
        return idx * self.stride

    def _check_update(self, key: bytes | None, flags: int) -> tuple[int, int]:
        idx = int.from_bytes(key or b"", "little")
        if flags > BPF_EXIST:
            return E.EINVAL, idx
        if idx >= self.max_entries:
            return E.E2BIG, idx
        if flags == BPF_NOEXIST:
            return E.EEXIST, idx
        return 0, idx

    def _store(self, idx: int, value: bytes | None) -> None:
        off = idx * self.stride
        if value is not None:
            self._used.add(idx)
        else:
            self._used.discard(idx)
        self._view[off:off + self.value_size] = value if value is not None \
            else bytes(self.value_size)

    def _op_delete(self, key: bytes | None) -> int:
        idx = int.from_bytes(key or b"", "little")
        if idx >= self.max_entries:
            return E.EINVAL
        self._store(idx, None)
        return 0

    _op_next = ArrayMap._op_next

    def __len__(self) -> int:
        return len(self._used)

    def items(self) -> Iterator[tuple[bytes, Any]]:  # type: ignore[override]  # lazy
        """The slots holding a target, in index order: what walking every index with
        next_key and skipping the empty ones gives, in O(stored), not O(max_entries)."""
        for idx in sorted(self._used):
            key = idx.to_bytes(self.spec.key_size, "little")
            try:
                yield key, self.lookup(key)
            except KeyError:  # deleted meanwhile
                continue

    def redirect_target(self, key: int) -> bool:
        """__*_map_lookup_elem of bpf_redirect_map: is there a target at `key`?"""
        return key < self.max_entries and key in self._used

    def prog_update(self, key: bytes, value: bytes, flags: int) -> int:
        raise MapNotSupportedError(f"programs cannot update {self.spec.type_name} maps")

    def prog_delete(self, key: bytes) -> int:
        raise MapNotSupportedError(f"programs cannot delete from {self.spec.type_name} maps")


class DevMap(_RedirectArray):
    """devmap: slots hold a device of the namespace (value u32 ifindex, or struct
    bpf_devmap_val {ifindex, prog fd}); an unknown ifindex is EINVAL; ifindex 0 empties
    the slot. A program fd > 0 is EINVAL: the VM attaches no program to devmap
    entries (a lookup reports prog id 0). `devices` is the namespace checked (None: the
    calling thread's, as the kernel checks the caller's)."""

    devices: Any = None

    def _device_exists(self, ifindex: int) -> bool:
        devs = self.devices if self.devices is not None else _current_devices()
        return ifindex in devs

    def _entry(self, value: bytes) -> tuple[int, bytes | None]:
        ifindex = int.from_bytes(value[:4], "little")
        fd = int.from_bytes(value[4:8], "little", signed=True) if self.value_size == 8 else -1
        if not ifindex:
            return (E.EINVAL if fd > 0 else 0), None
        if not self._device_exists(ifindex):
            return E.EINVAL, None
        if fd > 0:
            return E.EINVAL, None
        return 0, ifindex.to_bytes(4, "little") + bytes(self.value_size - 4)

    def _op_update(self, key: bytes | None, value: Any, flags: int, prog: bool) -> int:
        err, idx = self._check_update(key, flags)
        if err:
            return err
        err, entry = self._entry(bytes(value))
        if err:
            return err
        self._store(idx, entry)
        return 0


class DevMapHash(DevMap):
    """devmap_hash: the same values keyed by any u32, in roundup_pow_of_two(max_entries)
    buckets (key & (n - 1)), newest first in a bucket, which is next_key's order. A
    full map is E2BIG; ifindex 0 is EINVAL; delete of a missing key ENOENT."""

    def __init__(self, spec: MapSpec, *, backing: str | None = None) -> None:
        super().__init__(spec, backing=backing)
        self.n_buckets = 1 << max(self.max_entries - 1, 0).bit_length()
        # only non-empty buckets are kept, with their numbers sorted for next_key
        self._buckets: dict[int, list[int]] = {}
        self._nonempty: list[int] = []
        self._slot: dict[int, int] = {}
        self._free = Slots()

    grows = True  # elements are allocated on update, as the kernel's

    def _bucket(self, idx: int) -> list[int]:
        b = idx & (self.n_buckets - 1)
        bucket = self._buckets.get(b)
        if bucket is None:
            bucket = self._buckets[b] = []
            bisect.insort(self._nonempty, b)
        return bucket

    def _drop_if_empty(self, idx: int) -> None:
        b = idx & (self.n_buckets - 1)
        if not self._buckets[b]:
            del self._buckets[b]
            del self._nonempty[bisect.bisect_left(self._nonempty, b)]

    def _op_lookup(self, key: bytes) -> int:
        slot = self._slot.get(int.from_bytes(key, "little"))
        return -1 if slot is None else slot * self.stride

    def _op_update(self, key: bytes | None, value: Any, flags: int, prog: bool) -> int:
        idx = int.from_bytes(key or b"", "little")
        if flags > BPF_EXIST or not int.from_bytes(bytes(value)[:4], "little"):
            return E.EINVAL
        old = self._slot.get(idx)
        if old is not None and flags & BPF_NOEXIST:
            return E.EEXIST
        err, entry = self._entry(bytes(value))
        if err:
            return err
        if old is not None:
            bucket = self._bucket(idx)
            bucket.remove(idx)
            slot = old
        else:
            if len(self._slot) >= self.max_entries:
                return E.E2BIG
            slot = self._free.alloc()
            err = self._ensure_slot(slot)
            if err:
                self._free.free(slot)
                return err
            self._slot[idx] = slot
            bucket = self._bucket(idx)
        bucket.insert(0, idx)
        self._store(slot, entry)
        return 0

    def _op_delete(self, key: bytes | None) -> int:
        idx = int.from_bytes(key or b"", "little")
        slot = self._slot.pop(idx, None)
        if slot is None:
            return E.ENOENT
        self._buckets[idx & (self.n_buckets - 1)].remove(idx)
        self._drop_if_empty(idx)
        self._store(slot, None)
        self._free.free(slot)
        return 0

    def _op_next(self, key: bytes | None) -> tuple[int, bytes | None]:
        start = 0
        if key is not None:
            idx = int.from_bytes(key, "little")
            if idx in self._slot:
                b = idx & (self.n_buckets - 1)
                bucket = self._buckets[b]
                pos = bucket.index(idx)
                if pos + 1 < len(bucket):
                    return 0, bucket[pos + 1].to_bytes(4, "little")
                start = b + 1
        i = bisect.bisect_left(self._nonempty, start)
        if i < len(self._nonempty):
            return 0, self._buckets[self._nonempty[i]][0].to_bytes(4, "little")
        return E.ENOENT, None

    def __len__(self) -> int:
        return len(self._slot)

    def redirect_target(self, key: int) -> bool:
        return key in self._slot


def _possible_cpu_set() -> set[int]:
    out: set[int] = set()
    try:
        text = open("/sys/devices/system/cpu/possible").read().strip()
    except OSError:
        return {0}
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


CPUMAP_MAX_QSIZE = 16384


class CpuMap(_RedirectArray):
    """cpumap: slot N is CPU N, holding struct bpf_cpumap_val {qsize, prog fd} (or just
    qsize); qsize 0 empties the slot, above 16384 is EOVERFLOW, a CPU that is not
    possible ENODEV. Program fds > 0 are refused with ENOMEM (the kernel's failed
    entry allocation, for an fd that is not a cpumap program): the VM runs no
    program on cpumap entries."""

    def _op_update(self, key: bytes | None, value: Any, flags: int, prog: bool) -> int:
        err, idx = self._check_update(key, flags)
        if err:
            return err
        v = bytes(value)
        qsize = int.from_bytes(v[:4], "little")
        fd = int.from_bytes(v[4:8], "little", signed=True) if self.value_size == 8 else 0
        if qsize > CPUMAP_MAX_QSIZE:
            return E.EOVERFLOW
        if idx not in _possible_cpu_set():
            return E.ENODEV
        if not qsize:
            self._store(idx, None)
            return 0
        if fd > 0:
            return E.ENOMEM
        self._store(idx, qsize.to_bytes(4, "little") + bytes(self.value_size - 4))
        return 0


AF_XDP = 44


class XskMap(_RedirectArray):
    """xskmap: slots hold AF_XDP sockets given by fd (of this process). A bad fd is
    EBADF, a file that is not a socket ENOTSOCK, a socket of another family
    EOPNOTSUPP; user-space lookups are EOPNOTSUPP. (The VM cannot tell whether an
    AF_XDP socket is bound, which the kernel also requires.)"""

    def _op_update(self, key: bytes | None, value: Any, flags: int, prog: bool) -> int:
        import socket
        import stat
        idx = int.from_bytes(key or b"", "little")
        if flags > BPF_EXIST:
            return E.EINVAL
        if idx >= self.max_entries:
            return E.E2BIG
        fd = int.from_bytes(bytes(value)[:4], "little", signed=True)
        try:
            st = os.fstat(fd)
        except OSError:
            return E.EBADF
        if not stat.S_ISSOCK(st.st_mode):
            return E.ENOTSOCK
        try:
            s = socket.socket(fileno=os.dup(fd))
        except OSError:
            return E.ENOTSOCK
        try:
            family = s.family
        finally:
            s.close()
        if family != AF_XDP:
            return E.EOPNOTSUPP
        if flags == BPF_NOEXIST and idx in self._used:
            return E.EEXIST
        if flags == BPF_EXIST and idx not in self._used:
            return E.ENOENT
        self._store(idx, bytes(value)[:4])
        return 0

    def _lookup_raw(self, key: bytes | None, flags: int) -> bytes:
        self._can_read("lookup")
        raise map_error(E.EOPNOTSUPP, "lookup", "xskmap entries cannot be read from user space")

    def prog_lookup(self, key: bytes) -> int:
        raise MapNotSupportedError("a program's xskmap lookup gives a struct bpf_xdp_sock, "
                                   "which the VM does not model")
