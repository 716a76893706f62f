"""What pybpf's event readers (the kernel's RingBuffer and PerfBuffer, and
pybpf.maps.RingBufReader over either backend) share: one epoll fd that is readable
when records may be waiting, and on top of a reader's `consume()` (every record
available now, without waiting) the three ways to wait for more:

* blocking: `poll(timeout)` returns the records available, waiting up to `timeout`
  seconds for the first; `for rec in reader` yields records until close();
* asyncio: `async for rec in reader`, or `reader.add_to_loop(loop, callback)`, which
  registers the epoll fd with `loop.add_reader` and calls `callback(rec)` per record.

A wakeup can be missed (a producer asked for BPF_RB_NO_WAKEUP, or wrote while nobody
was waiting), so every wait is cut into slices after which the ring is read again.
"""

from __future__ import annotations

import asyncio
import collections
import select
import time
from abc import ABC, abstractmethod
from typing import Any, Callable, Generic, Iterator, TypeVar

from .errors import PyBPFError

R = TypeVar("R")


class EventWaiter(ABC, Generic[R]):
    """The waiting half of a reader; subclasses provide `consume()`, register the fds
    to wait on with `_watch(fd)`, and may override `_closed_error` (the exception a
    closed reader raises) and `_drain(fd)` (what clears an fd's readiness)."""

    #: seconds after which a wait re-reads the ring even without a wakeup
    wake_slice: float = 0.1

    def __init__(self) -> None:
        self._epoll: select.epoll | None = select.epoll()
        self._pending: collections.deque[R] = collections.deque()
        self._loop_handle: tuple[asyncio.AbstractEventLoop, int] | None = None

    def _watch(self, fd: int) -> None:
        assert self._epoll is not None
        self._epoll.register(fd, select.EPOLLIN)

    # --- to be provided -----------------------------------------------------------------
    @abstractmethod
    def consume(self) -> list[R]:
        """Every record available now (no waiting)."""

    @property
    def closed(self) -> bool:
        return self._epoll is None

    def _closed_error(self, what: str) -> Exception:
        """The exception a closed reader raises from `what`."""
        return PyBPFError(f"{what}: the reader is closed")

    def _drain(self, fd: int) -> None:
        """Take a wakeup off `fd` (level-triggered readiness), if it needs it."""

    # --- blocking -------------------------------------------------------------------------
    def fileno(self) -> int:
        """An fd readable when records may be waiting (for select, epoll, asyncio)."""
        if self._epoll is None:
            raise self._closed_error("fileno")
        return self._epoll.fileno()

    def wait(self, timeout: float | None) -> bool:
        """Wait up to `timeout` seconds (None: forever) for a wakeup; True if one came."""
        if self._epoll is None:
            raise self._closed_error("wait")
        try:
            events = self._epoll.poll(-1 if timeout is None else max(timeout, 0.0))
        except InterruptedError:  # pragma: no cover - PEP 475 retries
            return False
        for fd, _ in events:
            self._drain(fd)
        return bool(events)

    def poll(self, timeout: float | None = 0.0) -> list[R]:
        """The records available, waiting up to `timeout` seconds for some (0: do not
        wait, None: until there are some)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            recs = self.consume()
            if recs:
                return recs
            if deadline is None:
                step = self.wake_slice
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                step = min(left, self.wake_slice)
            self.wait(step)

    def __iter__(self) -> Iterator[R]:
        """Records as they come, until the reader is closed (by another thread, or
        by the loop's body)."""
        while True:
            if not self._pending:
                try:
                    self._pending.extend(self.poll(self.wake_slice))
                except PyBPFError:
                    if self.closed:
                        return
                    raise
                continue
            yield self._pending.popleft()

    # --- asyncio --------------------------------------------------------------------------
    def __aiter__(self) -> "EventWaiter[R]":
        return self

    async def __anext__(self) -> R:
        while True:
            if self._pending:
                return self._pending.popleft()
            if self.closed:
                raise StopAsyncIteration
            recs = self.consume()
            if recs:
                self._pending.extend(recs)
                continue
            await self._wait_async(self.wake_slice)

    async def _wait_async(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not fut.done():
                fut.set_result(None)

        fd = self.fileno()
        loop.add_reader(fd, ready)
        try:
            await asyncio.wait_for(fut, seconds)
        except asyncio.TimeoutError:
            pass
        finally:
            loop.remove_reader(fd)
        self.wait(0)  # take the level-triggered readiness off the epoll fd

    def add_to_loop(self, loop: asyncio.AbstractEventLoop,
                    callback: Callable[[R], Any]) -> None:
        """Call `callback(record)` from `loop` for each record as it arrives (through
        loop.add_reader on the epoll fd); remove_from_loop() stops it."""
        self.remove_from_loop()
        fd = self.fileno()

        def ready() -> None:
            self.wait(0)
            for rec in self.consume():
                callback(rec)

        loop.add_reader(fd, ready)
        self._loop_handle = (loop, fd)
        for rec in self.consume():  # records that came before the reader was added
            callback(rec)

    def remove_from_loop(self) -> None:
        if self._loop_handle is not None:
            loop, fd = self._loop_handle
            self._loop_handle = None
            if not loop.is_closed():
                loop.remove_reader(fd)

    # --- lifecycle ------------------------------------------------------------------------
    def _close_wait(self) -> None:
        self.remove_from_loop()
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None
