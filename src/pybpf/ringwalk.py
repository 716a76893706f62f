"""The consumer's walk over a BPF ring buffer's user-space layout, one for both
backends (the kernel's mmap of the map fd, a VM ring's shared memory).

consumer_pos (a u64 the reader writes) and producer_pos (a u64 it only reads) count
bytes; the data area is mapped twice in a row, so a record that wraps reads as one
slice. Each record is an 8-byte header (u32 length with BPF_RINGBUF_BUSY_BIT while
reserved and BPF_RINGBUF_DISCARD_BIT when discarded, u32 page offset) then the data,
padded to 8 bytes. The walk stops at a record still BUSY (its producer has not
committed yet), skips discarded ones, and advances consumer_pos past each record at
once, as libbpf does, so the producer may reuse the space.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from .uapi import BPF_RINGBUF_BUSY_BIT, BPF_RINGBUF_DISCARD_BIT, BPF_RINGBUF_HDR_SZ

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_LEN_MASK = ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT) & 0xFFFF_FFFF


@dataclass
class RingTake:
    """What one walk took: the committed records, oldest first, and how many
    discarded records it stepped over."""

    records: list[bytes] = field(default_factory=list)
    discarded: int = 0


def take_records(cons: Any, prod: Any, data: Any, size: int) -> RingTake:
    """Every committed record between consumer_pos (u64 at offset 0 of `cons`) and
    producer_pos (u64 at offset 0 of `prod`) in the `data` area of `size` bytes (a
    power of two), advancing consumer_pos past each."""
    take = RingTake()
    mask = size - 1
    pos = _U64.unpack_from(cons, 0)[0]
    while pos < _U64.unpack_from(prod, 0)[0]:
        off = pos & mask
        hdr = _U32.unpack_from(data, off)[0]
        if hdr & BPF_RINGBUF_BUSY_BIT:
            break  # reserved, not yet submitted or discarded
        length = hdr & _LEN_MASK
        pos += (length + BPF_RINGBUF_HDR_SZ + 7) & ~7
        if hdr & BPF_RINGBUF_DISCARD_BIT:
            take.discarded += 1
        else:
            start = off + BPF_RINGBUF_HDR_SZ
            take.records.append(bytes(data[start:start + length]))
        _U64.pack_into(cons, 0, pos)
    return take


class RingPositions:
    """consumer_pos / producer_pos of a reader holding the two position buffers as
    `_cons` and `_prod` (the kernel's RingBuffer, maps.RingBufReader)."""

    _cons: Any
    _prod: Any

    @property
    def consumer_pos(self) -> int:
        return _U64.unpack_from(self._cons, 0)[0]

    @property
    def producer_pos(self) -> int:
        return _U64.unpack_from(self._prod, 0)[0]

    def available(self) -> int:
        """Bytes written and not yet consumed (records with their headers)."""
        return self.producer_pos - self.consumer_pos
