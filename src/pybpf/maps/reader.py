"""RingBufReader: the consumer side of a BPF ring buffer, one class for both backends.

It reads the kernel's user-space layout directly: consumer_pos (a page it may write),
producer_pos (read-only) and the data area mapped twice, so a record that wraps is
contiguous (the walk is pybpf.ringwalk's). For a kernel map that is an mmap of the map
fd (consumer page read-write at offset 0, producer page + data read-only at offset
page_size) and wakeups come from epoll on the map fd; for a VM map it is the map's
shared memory and wakeups come from an eventfd the map signals on commit. Waiting
(poll, iteration, asyncio) is pybpf.eventwait's.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from ..backend import get_backend
from ..eventwait import EventWaiter
from ..ringwalk import RingPositions, take_records
from ..uapi import MapType
from .base import Map
from .errors import MapInvalidError



class RingBufReader(RingPositions, EventWaiter[bytes]):
    """Reads records (bytes) from a ring buffer map. `poll(timeout)` returns the
    records available, waiting up to `timeout` seconds (None: forever) for the first;
    `callback`, if given, is also called with each record. `for rec in reader` and
    `async for rec in reader` yield records as they come (pybpf.eventwait)."""

    def __init__(self, ringbuf: Map, callback: Callable[[bytes], Any] | None = None) -> None:
        if ringbuf.spec.type != MapType.RINGBUF:
            raise MapInvalidError(f"{ringbuf!r} is not a ring buffer", op="reader")
        super().__init__()
        self.map = ringbuf
        self.callback = callback
        # a ring buffer (checked above): both backends' have memory()
        self._cons, self._prod, self._data, self._fd = \
            ringbuf.memory()  # type: ignore[attr-defined]  # see above
        self._size = ringbuf.max_entries
        self._is_vm = not get_backend(ringbuf.backend).caps.fd_handles
        # a wakeup may be skipped (BPF_RB_NO_WAKEUP, a producer in another process):
        # waits are cut into slices after which the positions are checked again
        self.wake_slice = 0.01 if self._is_vm else 0.1
        if self._fd is not None:
            self._watch(self._fd)

    def _closed_error(self, what: str) -> Exception:
        return MapInvalidError("the reader is closed", op=what)

    def _drain(self, fd: int) -> None:
        if self._is_vm:  # the VM ring's eventfd: read its count to clear it
            try:
                os.eventfd_read(fd)
            except (BlockingIOError, OSError):
                pass

    # --- reading ---------------------------------------------------------------------
    def consume(self) -> list[bytes]:
        """Every committed record available now (no waiting)."""
        if self.closed:
            raise self._closed_error("consume")
        out = take_records(self._cons, self._prod, self._data, self._size).records
        if self.callback is not None:
            for rec in out:
                self.callback(rec)
        return out

    # --- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        self._close_wait()

    def __enter__(self) -> "RingBufReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
