"""Memory for VM maps: fixed blocks at stable host addresses.

A `Slab` is one mmap: anonymous and private for most maps, or a shared file (under
/dev/shm) for maps another process may open (BPF_F_MMAPABLE arrays, ring buffers).
`view` is a memoryview the VM uses as a Region's buffer, `address` the block's real
address (what a native JIT would use). Nothing is ever resized or moved, so both stay
valid until close().

A `RingMemory` is the ring buffer's layout as the kernel maps it to user space: the
consumer page, the producer page, then the data area mapped twice back to back (so a
record that wraps is still contiguous), all over one shared file.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import tempfile
import weakref
from dataclasses import dataclass, field

from .spec import PAGE_SIZE

SHM_DIR = "/dev/shm"

_PROT_NONE = 0
_PROT_RW = mmap.PROT_READ | mmap.PROT_WRITE
_MAP_SHARED = mmap.MAP_SHARED
_MAP_PRIVATE = mmap.MAP_PRIVATE
_MAP_ANONYMOUS = getattr(mmap, "MAP_ANONYMOUS", 0x20)
_MAP_FIXED = 0x10
_MAP_FAILED = ctypes.c_void_p(-1).value


def _libc() -> ctypes.CDLL:
    lib = ctypes.CDLL(None, use_errno=True)
    lib.mmap.restype = ctypes.c_void_p
    lib.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                         ctypes.c_int, ctypes.c_long]
    lib.munmap.restype = ctypes.c_int
    lib.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    return lib


def shm_dir() -> str:
    """Where shared backing files go: /dev/shm, or the temp dir without it."""
    return SHM_DIR if os.path.isdir(SHM_DIR) and os.access(SHM_DIR, os.W_OK) \
        else tempfile.gettempdir()


def new_backing_file(size: int, tag: str) -> str:
    """Create a zero-filled shared file of `size` bytes; returns its path."""
    fd, path = tempfile.mkstemp(prefix=f"pybpf-map-{os.getpid()}-{tag}-", dir=shm_dir())
    try:
        os.ftruncate(fd, size)
    finally:
        os.close(fd)
    return path


def _address_of(buf: mmap.mmap) -> int:
    c = ctypes.c_char.from_buffer(buf)
    addr = ctypes.addressof(c)
    del c
    return addr


@dataclass(eq=False)
class Slab:
    """`size` bytes at a fixed address; shared through `path` when file-backed."""

    size: int
    path: str | None = None
    _mm: mmap.mmap | None = field(default=None, repr=False)
    view: memoryview = field(init=False, repr=False)
    address: int = field(init=False)

    def __post_init__(self) -> None:
        length = max(self.size, 1)
        if self.path is None:
            self._mm = mmap.mmap(-1, length, flags=_MAP_PRIVATE | _MAP_ANONYMOUS)
        else:
            fd = os.open(self.path, os.O_RDWR)
            try:
                if os.fstat(fd).st_size < length:
                    raise ValueError(f"backing file {self.path} is smaller than {length}")
                self._mm = mmap.mmap(fd, length, flags=_MAP_SHARED)
            finally:
                os.close(fd)
        self.address = _address_of(self._mm)
        self.view = memoryview(self._mm)[:self.size]

    @classmethod
    def anonymous(cls, size: int) -> "Slab":
        return cls(size)

    @classmethod
    def shared(cls, size: int, tag: str) -> "Slab":
        """A new zero-filled shared slab backed by a fresh file."""
        return cls(size, new_backing_file(max(size, 1), tag))

    def close(self) -> None:
        """Unmap (if nothing else still exports the buffer)."""
        if self._mm is None:
            return
        try:
            self.view.release()
            self._mm.close()
        except BufferError:  # a Region of a running program still holds it
            return
        self._mm = None


@dataclass(eq=False)
class RingMemory:
    """consumer page | producer page | data (size) | data again, over one shared file
    of 2 pages + size bytes, as the kernel lays out a BPF ring buffer for mmap. The
    mapping is undone when the last view of it is gone (never under a live view)."""

    size: int
    path: str
    base: int = field(init=False)
    total: int = field(init=False)
    consumer: memoryview = field(init=False, repr=False)
    producer: memoryview = field(init=False, repr=False)
    data: memoryview = field(init=False, repr=False)   # 2 * size bytes: the double map

    def __post_init__(self) -> None:
        lib = _libc()
        size, hdr = self.size, 2 * PAGE_SIZE
        self.total = hdr + 2 * size
        fd = os.open(self.path, os.O_RDWR)
        try:
            if os.fstat(fd).st_size < hdr + size:
                raise ValueError(f"ring buffer file {self.path} is too small")
            base = lib.mmap(None, self.total, _PROT_NONE, _MAP_PRIVATE | _MAP_ANONYMOUS,
                            -1, 0)
            if base in (None, _MAP_FAILED):
                raise OSError(ctypes.get_errno(), "mmap reserve failed")
            for addr, length, off in ((base, hdr + size, 0), (base + hdr + size, size, hdr)):
                got = lib.mmap(addr, length, _PROT_RW, _MAP_SHARED | _MAP_FIXED, fd, off)
                if got != addr:
                    err = ctypes.get_errno()
                    lib.munmap(base, self.total)
                    raise OSError(err, "mmap of the ring buffer failed")
        finally:
            os.close(fd)
        self.base = base
        whole = (ctypes.c_char * self.total).from_address(base)
        weakref.finalize(whole, lib.munmap, base, self.total)
        mv = memoryview(whole).cast("B")
        del whole  # the views keep it (and so the mapping) alive
        self.consumer = mv[:PAGE_SIZE]
        self.producer = mv[PAGE_SIZE:hdr]
        self.data = mv[hdr:]
        mv.release()

    @classmethod
    def create(cls, size: int, tag: str) -> "RingMemory":
        path = new_backing_file(2 * PAGE_SIZE + size, tag)
        try:
            return cls(size, path)
        except BaseException:  # not mapped: the file is no one's
            os.unlink(path)
            raise

    @property
    def data_address(self) -> int:
        return self.base + 2 * PAGE_SIZE

    def close(self) -> None:
        """Drop this object's views; the memory is unmapped once no view is left."""
        for name in ("consumer", "producer", "data"):
            v = getattr(self, name, None)
            if v is not None:
                try:
                    v.release()
                except BufferError:
                    pass
