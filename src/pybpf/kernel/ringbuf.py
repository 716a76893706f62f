"""Reading a kernel BPF ring buffer (BPF_MAP_TYPE_RINGBUF) from its map fd.

The map's user-space layout: page 0 holds consumer_pos (mapped read-write: the reader
advances it), page 1 producer_pos, then the data area mapped twice in a row (read-only);
pybpf.ringwalk takes the records. The map fd is readable (epoll) while data is
waiting.

Lost records: the kernel keeps no count of records a program could not write (a full
ring makes bpf_ringbuf_reserve return NULL and bpf_ringbuf_output -EAGAIN in the
program) and exposes none, so a program that wants them counted counts them itself,
as examples/ringbuf_events.c does in `lost_events`; pass `lost=` a function reading that
counter and `reader.lost` reports it (None without one).

    with RingBuffer(obj.maps["events"]) as rb:
        for rec in rb.poll(1.0): ...          # blocking
        async for rec in rb: ...              # asyncio
"""

from __future__ import annotations

import mmap
from typing import Any, Callable

from ..ringwalk import RingPositions, take_records
from ..uapi import MapType
from .errors import kernel_error
from .eventreader import EventReader, ReaderClosedError, fd_number
from .maps import map_get_info

__all__ = ["RingBuffer", "RingBufferStats"]



class RingBufferStats:
    """What a reader has seen: records taken, bytes taken, records discarded."""

    def __init__(self) -> None:
        self.records = 0
        self.bytes = 0
        self.discarded = 0

    def __repr__(self) -> str:
        return (f"RingBufferStats(records={self.records}, bytes={self.bytes}, "
                f"discarded={self.discarded})")


class RingBuffer(RingPositions, EventReader[bytes]):
    """The consumer of the ring buffer map `ringbuf` (a map object or fd; the fd must
    stay open while reading). `callback(record)` is called for each record consume()
    takes; `lost()` returns the program's own count of records it could not write."""

    def __init__(self, ringbuf: Any, callback: Callable[[bytes], Any] | None = None, *,
                 lost: Callable[[], int] | None = None) -> None:
        super().__init__()
        self._maps: list[mmap.mmap] = []
        self.callback = callback
        self._lost = lost
        self.stats = RingBufferStats()
        try:
            fd = fd_number(ringbuf)
            info = map_get_info(fd)
            if info.type != MapType.RINGBUF:
                raise kernel_error(22, "ring buffer", f"map {info.name or info.id} is a "
                                   f"{_type_name(info.type)} map, not a ring buffer")
            self.size = info.max_entries
            self.name = info.name
            page = mmap.PAGESIZE
            try:
                self._cons = mmap.mmap(fd, page, mmap.MAP_SHARED,
                                       mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
                self._maps.append(self._cons)
                self._prod = mmap.mmap(fd, page + 2 * self.size, mmap.MAP_SHARED,
                                       mmap.PROT_READ, offset=page)
                self._maps.append(self._prod)
            except OSError as e:
                raise kernel_error(e.errno or 22, "mmap", f"ring buffer {self.name}: "
                                   f"{e.strerror}") from None
            self._data = memoryview(self._prod)[page:]
            self._watch(fd)
        except BaseException:
            self.close()
            raise

    @property
    def lost(self) -> int | None:
        """The program's count of records it could not write (see the module
        docstring); None when no `lost` function was given."""
        return None if self._lost is None else int(self._lost())

    # --- reading --------------------------------------------------------------------------
    def consume(self) -> list[bytes]:
        """Every committed record available now, oldest first (no waiting)."""
        if self.closed:
            raise ReaderClosedError("ring buffer consume")
        take = take_records(self._cons, self._prod, self._data, self.size)
        out = take.records
        self.stats.discarded += take.discarded
        self.stats.records += len(out)
        self.stats.bytes += sum(map(len, out))
        if self.callback is not None:
            for rec in out:
                self.callback(rec)
        return out

    # --- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        self._close_wait()
        if hasattr(self, "_data"):
            self._data.release()
            del self._data
        for m in self._maps:
            try:
                m.close()
            except BufferError:  # a consume() in another thread holds a slice: GC frees it
                pass
        self._maps.clear()

    def __enter__(self) -> "RingBuffer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self.size} bytes"
        return f"<RingBuffer {self.name} {state}>"


def _type_name(t: Any) -> str:
    return t.name.lower() if isinstance(t, MapType) else f"type {t}"

