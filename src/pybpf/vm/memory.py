"""The VM's memory: named, bounds-checked regions, each in its own 4 GiB segment of a
64-bit address space, and the loads and stores compiled programs make through it
(MemoryAccessError names the pc, address, size and region of a bad access)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import MemoryAccessError, RegionTooLargeError
from ..isa import M32, M64

# Address-space layout: region i lives in the middle of the 4 GiB segment (i + 1); code addresses
# (values of lddw with BPF_PSEUDO_FUNC) live in CODE_SEGMENT.
CODE_SEGMENT = 0xC0DE
SEGMENT_HALF = 1 << 31
MAX_REGION_SIZE = SEGMENT_HALF  # the largest region: half a segment, as overruns need room
_UNPACK = {1: struct.Struct("<B").unpack_from, 2: struct.Struct("<H").unpack_from,
           4: struct.Struct("<I").unpack_from, 8: struct.Struct("<Q").unpack_from}
_PACK = {1: struct.Struct("<B").pack_into, 2: struct.Struct("<H").pack_into,
         4: struct.Struct("<I").pack_into, 8: struct.Struct("<Q").pack_into}
_SIZE_MASK = {1: 0xFF, 2: 0xFFFF, 4: M32, 8: M64}
_U8, _U16, _U32, _U64 = (_UNPACK[n] for n in (1, 2, 4, 8))
_P8, _P16, _P32, _P64 = (_PACK[n] for n in (1, 2, 4, 8))


class RegionAccess(Protocol):
    """Loads and stores of a region that are not plain memory: a program context whose
    fields the kernel rewrites (e.g. `xdp_md->data` reads as a packet pointer). Raise
    MemoryAccessError for an access the program type does not allow."""

    def load(self, off: int, size: int, pc: int) -> int: ...

    def store(self, off: int, size: int, value: int, pc: int) -> None: ...


class WindowAccess(RegionAccess, Protocol):
    """A RegionAccess whose loads and stores inside a window of the region's buffer
    are plain memory (a packet's data_meta .. data_end): what a JIT may serve itself,
    leaving the rest (and the faults) to load and store."""

    def plain_window(self, buf: Any) -> tuple[int, int, bool] | None:
        """(lo, hi, writable): loads of [lo, hi) of `buf` (the region's buffer), and
        stores when writable, are plain memory now; None when none are."""
        ...


@dataclass(eq=False)
class Region:
    """A named span of addressable memory: `buf` appears at addresses [base, base+size).
    With `access`, loads and stores go through it instead of `buf`."""

    name: str
    base: int
    buf: bytearray | memoryview
    writable: bool = True
    access: RegionAccess | None = None

    @property
    def size(self) -> int:
        return len(self.buf)

    @property
    def end(self) -> int:
        return self.base + len(self.buf)


def check_region_size(name: str, size: int) -> None:
    """RegionTooLargeError for a region past MAX_REGION_SIZE (checked before any copy)."""
    if size > MAX_REGION_SIZE:
        raise RegionTooLargeError(f"region {name} of {size} bytes is larger than the VM's "
                                  f"largest region ({MAX_REGION_SIZE} bytes, 2 GiB)")


@dataclass(eq=False)
class Memory:
    """The regions a program can address. Each region gets its own 4 GiB segment, so
    finding a region is one dict lookup and no overrun can reach a neighbour."""

    regions: dict[int, Region] = field(default_factory=dict)
    packet: Region | None = None  # the data LD_ABS/LD_IND read (socket-filter style)
    # Where skb->data, the MAC header and the network header sit in `packet.buf` (None:
    # buf starts at skb->data and has no headers for SKF_LL_OFF / SKF_NET_OFF loads).
    packet_headers: tuple[int, int | None, int] | None = None

    def map(self, name: str, buf: bytearray | memoryview | bytes, *,
            writable: bool = True, access: RegionAccess | None = None) -> Region:
        """Add a region holding `buf` (bytes are copied into a bytearray). It sits in the
        middle of its own segment, so an overrun or underrun of up to 2 GiB is still
        reported against it."""
        if isinstance(buf, bytes):
            buf = bytearray(buf)
        elif isinstance(buf, memoryview) and (buf.format != "B" or buf.ndim != 1):
            buf = buf.cast("B")  # addressed by bytes, whatever it was a view of
        seg = len(self.regions) + 1
        while seg in self.regions or seg == CODE_SEGMENT:
            seg += 1
        check_region_size(name, len(buf))
        region = Region(name, (seg << 32) + SEGMENT_HALF, buf, writable, access)
        self.regions[seg] = region
        return region

    def find(self, addr: int, size: int, kind: str = "access", pc: int = -1) -> tuple[Region, int]:
        region = self.regions.get(addr >> 32)
        if region is not None:
            off = addr - region.base
            if off >= 0 and off + size <= len(region.buf):
                if kind == "store" and not region.writable:
                    raise MemoryAccessError(pc, kind, addr, size, region.name,
                                            "region is read-only")
                return region, off
        raise self.fault(pc, kind, addr, size)

    def fault(self, pc: int, kind: str, addr: int, size: int) -> MemoryAccessError:
        region = self.regions.get(addr >> 32)
        if region is None:
            return MemoryAccessError(pc, kind, addr, size, None, "address is in no region")
        off = addr - region.base
        return MemoryAccessError(pc, kind, addr, size, region.name,
                                 f"offset {off} outside [0, {region.size})")

    # Hot paths used by compiled programs -------------------------------------------
    def load(self, addr: int, size: int, pc: int) -> int:
        region = self.regions.get(addr >> 32)
        if region is not None:
            off = addr - region.base
            if off >= 0 and off + size <= len(region.buf):
                if region.access is None:
                    return _UNPACK[size](region.buf, off)[0]
                return region.access.load(off, size, pc)
        raise self.fault(pc, "load", addr, size)

    def store(self, addr: int, size: int, value: int, pc: int) -> None:
        region = self.regions.get(addr >> 32)
        if region is not None:
            off = addr - region.base
            if off >= 0 and off + size <= len(region.buf) and region.writable:
                if region.access is None:
                    _PACK[size](region.buf, off, value & _SIZE_MASK[size])
                else:
                    region.access.store(off, size, value & _SIZE_MASK[size], pc)
                return
            if off >= 0 and off + size <= len(region.buf):
                raise MemoryAccessError(pc, "store", addr, size, region.name,
                                        "region is read-only")
        raise self.fault(pc, "store", addr, size)

    def load1(self, addr: int, pc: int) -> int:
        """load(addr, 1, pc), one call shorter (what translated code calls)."""
        region = self.regions.get(addr >> 32)
        if region is not None:
            off = addr - region.base
            if 0 <= off <= len(region.buf) - 1:
                if region.access is None:
                    return region.buf[off]  # bytes index to int, no unpacking
                return region.access.load(off, 1, pc)
        raise self.fault(pc, "load", addr, 1)

    def load2(self, addr: int, pc: int) -> int:
        """load(addr, 2, pc), one call shorter (what translated code calls)."""
        region = self.regions.get(addr >> 32)
        if region is not None:
            off = addr - region.base
            if 0 <= off <= len(region.buf) - 2:
                if region.access is None:
                    return _U16(region.buf, off)[0]
                return region.access.load(off, 2, pc)
        raise self.fault(pc, "load", addr, 2)

    def load4(self, addr: int, pc: int) -> int:
        """load(addr, 4, pc), one call shorter (what translated code calls)."""
        region = self.regions.get(addr >> 32)
        if region is not None:
            off = addr - region.base
            if 0 <= off <= len(region.buf) - 4:
                if region.access is None:
                    return _U32(region.buf, off)[0]
                return region.access.load(off, 4, pc)
        raise self.fault(pc, "load", addr, 4)

    def load8(self, addr: int, pc: int) -> int:
        """load(addr, 8, pc), one call shorter (what translated code calls)."""
        region = self.regions.get(addr >> 32)
        if region is not None:
            off = addr - region.base
            if 0 <= off <= len(region.buf) - 8:
                if region.access is None:
                    return _U64(region.buf, off)[0]
                return region.access.load(off, 8, pc)
        raise self.fault(pc, "load", addr, 8)

    def store1(self, addr: int, value: int, pc: int) -> None:
        """store(addr, 1, value, pc), one call shorter (what translated code calls)."""
        region = self.regions.get(addr >> 32)
        if region is not None and region.writable and region.access is None:
            off = addr - region.base
            if 0 <= off <= len(region.buf) - 1:
                _P8(region.buf, off, value & 0xFF)
                return
        self.store(addr, 1, value, pc)

    def store2(self, addr: int, value: int, pc: int) -> None:
        """store(addr, 2, value, pc), one call shorter (what translated code calls)."""
        region = self.regions.get(addr >> 32)
        if region is not None and region.writable and region.access is None:
            off = addr - region.base
            if 0 <= off <= len(region.buf) - 2:
                _P16(region.buf, off, value & 0xFFFF)
                return
        self.store(addr, 2, value, pc)

    def store4(self, addr: int, value: int, pc: int) -> None:
        """store(addr, 4, value, pc), one call shorter (what translated code calls)."""
        region = self.regions.get(addr >> 32)
        if region is not None and region.writable and region.access is None:
            off = addr - region.base
            if 0 <= off <= len(region.buf) - 4:
                _P32(region.buf, off, value & M32)
                return
        self.store(addr, 4, value, pc)

    def store8(self, addr: int, value: int, pc: int) -> None:
        """store(addr, 8, value, pc), one call shorter (what translated code calls)."""
        region = self.regions.get(addr >> 32)
        if region is not None and region.writable and region.access is None:
            off = addr - region.base
            if 0 <= off <= len(region.buf) - 8:
                _P64(region.buf, off, value & M64)
                return
        self.store(addr, 8, value, pc)

    def read(self, addr: int, size: int, pc: int = -1) -> bytes:
        if size == 0:
            return b""
        region, off = self.find(addr, size, "load", pc)
        return bytes(region.buf[off:off + size])

    def read_upto(self, addr: int, size: int, pc: int = -1) -> bytes:
        """The bytes of [addr, addr + size) that lie in the region holding `addr` (fewer
        where it ends); a fault when `addr` itself is in no region."""
        if size <= 0:
            return b""
        region, off = self.find(addr, 1, "load", pc)
        return bytes(region.buf[off:off + size])

    def check_store(self, addr: int, size: int, pc: int = -1) -> None:
        """Fault unless [addr, addr + size) is writable: what a helper checks of its
        destination before doing any work for it."""
        if size > 0:
            self.find(addr, size, "store", pc)

    def write(self, addr: int, data: bytes, pc: int = -1) -> None:
        if not data:
            return
        region, off = self.find(addr, len(data), "store", pc)
        region.buf[off:off + len(data)] = data
