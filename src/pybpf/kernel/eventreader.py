"""What the kernel's event readers (RingBuffer, PerfBuffer) share: pybpf.eventwait's
waiting half (poll, iteration, asyncio), raising the kernel's error when closed, and
how an fd argument is read."""

from __future__ import annotations

from typing import Any, TypeVar

from ..eventwait import EventWaiter
from .errors import KernelError

R = TypeVar("R")


class ReaderClosedError(KernelError):
    """The reader was closed."""

    def __init__(self, what: str) -> None:
        super().__init__(9, what, "the reader is closed")  # EBADF


def fd_number(obj: Any) -> int:
    """The fd of an int, an FD / kernel object (`.fd`), or anything with fileno()
    (pybpf.maps' kernel maps)."""
    if isinstance(obj, int):
        return obj
    fd = getattr(obj, "fd", None)
    if isinstance(fd, int):
        return fd
    fileno = getattr(obj, "fileno", None)
    if callable(fileno):
        return int(fileno())
    raise TypeError(f"expected a map fd or map, got {type(obj).__name__}")


class EventReader(EventWaiter[R]):
    """pybpf.eventwait's waiting half for the kernel's readers: a closed reader raises
    ReaderClosedError (a KernelError, EBADF)."""

    def _closed_error(self, what: str) -> Exception:
        return ReaderClosedError(what)
