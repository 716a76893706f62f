"""RingBufReader: the consumer side of a BPF ring buffer, one class for both backends.

It reads the kernel's user-space layout directly: consumer_pos (a page it may write),
producer_pos (read-only) and the data area mapped twice, so a record that wraps is
contiguous. For a kernel map that is an mmap of the map fd (consumer page read-write
at offset 0, producer page + data read-only at offset page_size) and wakeups come from
epoll on the map fd; for a VM map it is the map's shared memory and wakeups come from
an eventfd the map signals on commit. Records still reserved (BUSY) stop the walk;
discarded ones are skipped; consumer_pos advances past each record as libbpf does.
"""

from __future__ import annotations

import collections
import os
import select
import struct
import time
from typing import Any, Callable

from ..backend import get_backend
from ..uapi import MapType
from .base import Map
from .errors import MapInvalidError
from .ringbuf import BPF_RINGBUF_BUSY_BIT, BPF_RINGBUF_DISCARD_BIT, BPF_RINGBUF_HDR_SZ

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


class RingBufReader:
    """Reads records (bytes) from a ring buffer map. `poll(timeout)` returns the
    records available, waiting up to `timeout` seconds (None: forever) for the first;
    `callback`, if given, is also called with each record. `async for rec in reader`
    yields records as they come."""

    def __init__(self, ringbuf: Map, callback: Callable[[bytes], Any] | None = None) -> None:
        if ringbuf.spec.type != MapType.RINGBUF:
            raise MapInvalidError(f"{ringbuf!r} is not a ring buffer", op="reader")
        self.map = ringbuf
        self.callback = callback
        # a ring buffer (checked above): both backends' have memory()
        self._cons, self._prod, self._data, self._fd = \
            ringbuf.memory()  # type: ignore[attr-defined]  # see above
        self._mask = ringbuf.max_entries - 1
        self._is_vm = not get_backend(ringbuf.backend).caps.fd_handles
        # a wakeup may be skipped (BPF_RB_NO_WAKEUP, a producer in another process):
        # waits are cut into slices after which the positions are checked again
        self._slice = 0.01 if self._is_vm else 0.1
        self._epoll: select.epoll | None = None
        if self._fd is not None:
            self._epoll = select.epoll()
            self._epoll.register(self._fd, select.EPOLLIN)
        self._pending: collections.deque[bytes] = collections.deque()
        self._closed = False

    # --- positions ---------------------------------------------------------------------
    @property
    def consumer_pos(self) -> int:
        return _U64.unpack_from(self._cons, 0)[0]

    @property
    def producer_pos(self) -> int:
        return _U64.unpack_from(self._prod, 0)[0]

    def available(self) -> int:
        """Bytes between the consumer and the producer (records and headers)."""
        return self.producer_pos - self.consumer_pos

    # --- reading ---------------------------------------------------------------------
    def consume(self) -> list[bytes]:
        """Every committed record available now (no waiting)."""
        if self._closed:
            raise MapInvalidError("the reader is closed", op="consume")
        out: list[bytes] = []
        cons = _U64.unpack_from(self._cons, 0)[0]
        data, mask = self._data, self._mask
        while True:
            prod = _U64.unpack_from(self._prod, 0)[0]
            progressed = False
            while cons < prod:
                off = cons & mask
                hdr = _U32.unpack_from(data, off)[0]
                if hdr & BPF_RINGBUF_BUSY_BIT:
                    break
                length = hdr & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT)
                cons += (length + BPF_RINGBUF_HDR_SZ + 7) & ~7
                if not hdr & BPF_RINGBUF_DISCARD_BIT:
                    start = off + BPF_RINGBUF_HDR_SZ
                    out.append(bytes(data[start:start + length]))
                _U64.pack_into(self._cons, 0, cons)
                progressed = True
            if not progressed or cons < prod:
                break
        if self.callback is not None:
            for rec in out:
                self.callback(rec)
        return out

    def poll(self, timeout: float | None = 0.0) -> list[bytes]:
        """The records available, waiting up to `timeout` seconds for some (0: do not
        wait, None: wait until there are some)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            recs = self.consume()
            if recs:
                return recs
            if deadline is None:
                wait = self._slice
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                wait = min(left, self._slice)
            self._wait(wait)

    def _wait(self, seconds: float) -> None:
        if self._epoll is None:
            time.sleep(min(seconds, 0.002))
            return
        if self._epoll.poll(seconds):
            self._drain_wakeups()

    def _drain_wakeups(self) -> None:
        if self._is_vm and self._fd is not None:
            try:
                os.eventfd_read(self._fd)
            except (BlockingIOError, OSError):
                pass

    def fileno(self) -> int:
        """An fd that is readable when records may be waiting (for select/asyncio)."""
        if self._fd is None:
            raise MapInvalidError("this ring buffer has no wakeup fd", op="fileno")
        return self._fd

    # --- asyncio ---------------------------------------------------------------------
    def __aiter__(self) -> "RingBufReader":
        return self

    async def __anext__(self) -> bytes:
        while True:
            if self._pending:
                return self._pending.popleft()
            if self._closed:
                raise StopAsyncIteration
            recs = self.consume()
            if recs:
                self._pending.extend(recs)
                continue
            await self._wait_async(self._slice)

    async def _wait_async(self, seconds: float) -> None:
        import asyncio
        if self._fd is None:
            await asyncio.sleep(min(seconds, 0.002))
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not fut.done():
                fut.set_result(None)

        loop.add_reader(self._fd, ready)
        try:
            await asyncio.wait_for(fut, seconds)
        except asyncio.TimeoutError:
            pass
        finally:
            loop.remove_reader(self._fd)
        self._drain_wakeups()

    # --- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None

    def __enter__(self) -> "RingBufReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
