"""The BPF ring buffer on the VM: the kernel's memory layout (consumer and producer
pages, records with an 8-byte header, the data pages mapped twice) shared with user
space readers, reserve/commit/discard and the wakeup eventfd."""

from __future__ import annotations

import errno as E
import os

from ..uapi import (BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP, BPF_RINGBUF_BUSY_BIT,
                    BPF_RINGBUF_DISCARD_BIT, BPF_RINGBUF_HDR_SZ)
from .errors import ENOTSUPP, MapNotSupportedError, map_error
from .memory import RingMemory
from .vmbase import U32, U64, VMMap

# ring buffer record header
RINGBUF_PGOFF = 1          # pages of struct bpf_ringbuf before consumer_pos
RINGBUF_POS_PAGES = 2      # consumer and producer pages
BPF_RB_AVAIL_DATA, BPF_RB_RING_SIZE, BPF_RB_CONS_POS, BPF_RB_PROD_POS = 0, 1, 2, 3
RINGBUF_MAX_RECORD_SZ = 0xFFFF_FFFF // 4

# --- ring buffer ----------------------------------------------------------------------------

class RingBufMap(VMMap):
    """ringbuf: max_entries bytes of data (a power of two and a page multiple) in a
    shared file laid out as the kernel maps it to user space: consumer page
    (consumer_pos), producer page (producer_pos, then pending_pos as in the kernel's
    struct), data mapped twice. Records are the kernel's: an 8-byte header
    {u32 len with BPF_RINGBUF_BUSY_BIT while reserved and BPF_RINGBUF_DISCARD_BIT when
    discarded; u32 pg_off}, the sample, padded to 8 bytes. Reservation uses the
    kernel's rules: a record must not take the producer more than size - 1 bytes ahead
    of the consumer nor of the oldest record not yet committed. Readers in this
    process are woken through an eventfd; readers in other processes poll."""

    shareable = True

    def _memory_size(self) -> int:
        return self.max_entries

    def _init_memory(self, backing: str | None) -> None:
        try:
            if backing is None:
                self.ring = RingMemory.create(self.max_entries, "ringbuf")
            else:
                self.ring = RingMemory(self.max_entries, backing)
        except (MemoryError, OSError) as e:  # e.g. the double map past an RLIMIT_AS
            if backing is not None and not isinstance(e, MemoryError) \
                    and getattr(e, "errno", None) != E.ENOMEM:
                raise
            raise map_error(E.ENOMEM, "create", f"cannot map the {self.max_entries}-byte ring "
                                            "buffer (mapped twice)") from e
        self.mask = self.max_entries - 1
        self._view = self.ring.data
        self._consumer = self.ring.consumer
        self._producer = self.ring.producer
        self._backing_path = self.ring.path
        self._address = self.ring.data_address
        self._wakeup_fd = -1

    def _release_memory(self) -> None:
        if self._wakeup_fd >= 0:
            os.close(self._wakeup_fd)
            self._wakeup_fd = -1
        self.ring.close()

    # positions
    @property
    def consumer_pos(self) -> int:
        return U64.unpack_from(self._consumer, 0)[0]

    @property
    def producer_pos(self) -> int:
        return U64.unpack_from(self._producer, 0)[0]

    @property
    def pending_pos(self) -> int:
        return U64.unpack_from(self._producer, 8)[0]

    def wakeup_fd(self) -> int:
        """An eventfd that becomes readable when a record is committed with a wakeup."""
        if self._wakeup_fd < 0:
            self._wakeup_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        return self._wakeup_fd

    def reserve(self, size: int) -> int:
        """Reserve a record of `size` bytes: the offset of its sample in the data area,
        or -1 when it does not fit (the kernel's __bpf_ringbuf_reserve)."""
        if size > RINGBUF_MAX_RECORD_SZ:
            return -1
        length = (size + BPF_RINGBUF_HDR_SZ + 7) & ~7
        if length > self.max_entries:
            return -1
        cons = self.consumer_pos
        pend = self.pending_pos
        prod = self.producer_pos
        view = self._view
        while pend < prod:
            hdr_len = U32.unpack_from(view, pend & self.mask)[0]
            if hdr_len & BPF_RINGBUF_BUSY_BIT:
                break
            pend += ((hdr_len & ~BPF_RINGBUF_DISCARD_BIT) + BPF_RINGBUF_HDR_SZ + 7) & ~7
        U64.pack_into(self._producer, 8, pend)
        new_prod = prod + length
        if new_prod - cons > self.mask or new_prod - pend > self.mask:
            return -1
        hdr = prod & self.mask
        pg_off = (hdr >> 12) + RINGBUF_PGOFF + RINGBUF_POS_PAGES
        U32.pack_into(view, hdr, size | BPF_RINGBUF_BUSY_BIT)
        U32.pack_into(view, hdr + 4, pg_off)
        U64.pack_into(self._producer, 0, new_prod)
        return hdr + BPF_RINGBUF_HDR_SZ

    def commit(self, sample_off: int, flags: int, discard: bool) -> None:
        """Submit or discard the record whose sample is at `sample_off`."""
        hdr = sample_off - BPF_RINGBUF_HDR_SZ
        length = U32.unpack_from(self._view, hdr)[0]
        new_len = length ^ BPF_RINGBUF_BUSY_BIT
        if discard:
            new_len |= BPF_RINGBUF_DISCARD_BIT
        U32.pack_into(self._view, hdr, new_len)
        if flags & BPF_RB_FORCE_WAKEUP or (
                (self.consumer_pos & self.mask) == hdr and not flags & BPF_RB_NO_WAKEUP):
            self._wake()

    def _wake(self) -> None:
        if self._wakeup_fd >= 0:
            try:
                os.eventfd_write(self._wakeup_fd, 1)
            except BlockingIOError:
                pass

    def is_reserved(self, sample_off: int) -> bool:
        hdr = sample_off - BPF_RINGBUF_HDR_SZ
        if hdr < 0 or hdr >= self.max_entries or hdr & 7:
            return False
        return bool(U32.unpack_from(self._view, hdr)[0] & BPF_RINGBUF_BUSY_BIT)

    def output(self, data: bytes, flags: int = 0) -> int:
        """bpf_ringbuf_output: 0, -EINVAL for bad flags, -EAGAIN when full."""
        if flags & ~(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP):
            return -E.EINVAL
        off = self.reserve(len(data))
        if off < 0:
            return -E.EAGAIN
        self._view[off:off + len(data)] = data
        self.commit(off, flags, False)
        return 0

    def query(self, flags: int) -> int:
        """bpf_ringbuf_query."""
        if flags == BPF_RB_AVAIL_DATA:
            return self.producer_pos - self.consumer_pos
        if flags == BPF_RB_RING_SIZE:
            return self.max_entries
        if flags == BPF_RB_CONS_POS:
            return self.consumer_pos
        if flags == BPF_RB_PROD_POS:
            return self.producer_pos
        return 0

    def memory(self) -> tuple[memoryview, memoryview, memoryview, int | None]:
        """(consumer page, producer page, data twice, wakeup fd) for a reader."""
        self._check_open()
        return self._consumer, self._producer, self._view, self.wakeup_fd()

    def _lookup_raw(self, key: bytes | None, flags: int) -> bytes:
        self._can_read("lookup")
        raise map_error(ENOTSUPP, "lookup", "ring buffers are read with a RingBufReader")

    def _op_next(self, key: bytes | None) -> tuple[int, bytes | None]:
        return ENOTSUPP, None

    def __len__(self) -> int:
        self._can_read("next_key")
        raise map_error(ENOTSUPP, "next_key", "ring buffers cannot be iterated")

    def prog_lookup(self, key: bytes) -> int:
        raise MapNotSupportedError("programs use bpf_ringbuf_* on ring buffers")
