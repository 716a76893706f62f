"""The VM's trace pipe: what bpf_trace_printk wrote, bounded as the kernel's ring."""

from __future__ import annotations

import itertools
from collections import deque
from typing import Iterator, overload

# the kernel's default per-CPU trace ring (buffer_size_kb)
TRACE_BUFFER_BYTES = 1408 * 1024


class TracePipe:
    """What bpf_trace_printk wrote on the VM, one message a call, bounded as the
    kernel's trace ring is: it keeps the newest messages whose text totals at most
    `limit` bytes and drops the oldest to make room (the ring's default overwrite
    mode); `dropped` counts the messages lost, as the ring's overrun count. Reads like
    a list of str (iterate, index, slice, len, list()); `written` counts every message
    ever appended, so `since(mark)` gives the ones after a mark even when older ones
    were dropped in between."""

    def __init__(self, limit: int = TRACE_BUFFER_BYTES) -> None:
        self.limit = limit
        self.dropped = 0
        self._messages: deque[str] = deque()
        self._bytes = 0
        self.written = 0  # messages ever appended: a reader's mark that dropping keeps valid

    def append(self, message: str) -> None:
        size = len(message) + 1  # with its newline, as the pipe shows it
        self._messages.append(message)
        self._bytes += size
        self.written += 1
        while self._bytes > self.limit and self._messages:
            self._bytes -= len(self._messages.popleft()) + 1
            self.dropped += 1

    def clear(self) -> None:
        self._messages.clear()
        self._bytes = 0

    def __iter__(self) -> Iterator[str]:
        return iter(self._messages)

    def __len__(self) -> int:
        return len(self._messages)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return list(self._messages)[index]
        return self._messages[index]

    def since(self, mark: int) -> list[str]:
        """The messages kept that were written after the first `mark` (a value of
        `written`)."""
        first = self.written - len(self._messages)  # the number of the oldest kept
        return list(itertools.islice(self._messages, max(0, mark - first), None))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TracePipe):
            return list(self) == list(other)
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    def __repr__(self) -> str:
        return f"TracePipe({list(self._messages)!r}, dropped={self.dropped})"
