"""Ownership of kernel file descriptors.

Every fd a bpf(2) command returns is wrapped at once in an `FD`, which closes it
exactly once: explicitly (`close()`, `with`), or through a `weakref.finalize` when
the object is garbage-collected or the interpreter exits. So dropping an object
never leaks its fd.
"""

from __future__ import annotations

import os
import weakref
from typing import Any


def _close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


class FD:
    """An owned file descriptor. `kind` says what it refers to ("map", "prog", ...)."""

    __slots__ = ("_fd", "_finalizer", "kind", "__weakref__")

    def __init__(self, fd: int, kind: str = "fd") -> None:
        if fd < 0:
            raise ValueError(f"invalid file descriptor {fd}")
        self._fd = fd
        self.kind = kind
        self._finalizer = weakref.finalize(self, _close_fd, fd)

    @property
    def fd(self) -> int:
        """The descriptor number; ValueError once closed."""
        if not self._finalizer.alive:
            raise ValueError(f"I/O operation on closed {self.kind} fd")
        return self._fd

    def fileno(self) -> int:
        return self.fd

    def __int__(self) -> int:
        return self.fd

    def __index__(self) -> int:
        return self.fd

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def close(self) -> None:
        """Close the fd (idempotent)."""
        self._finalizer()

    def detach(self) -> int:
        """Give up ownership: return the fd, which the caller must now close."""
        fd = self.fd
        self._finalizer.detach()
        return fd

    def dup(self) -> "FD":
        """A new owned fd for the same kernel object."""
        return FD(os.dup(self.fd), self.kind)

    def __enter__(self) -> "FD":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd={self._fd}"
        return f"<FD {self.kind} {state}>"


class Owner:
    """Base of objects that own one FD (Map, Program, BTF, Link): close(), context
    manager, fileno(). The FD's finalizer closes it if the owner is dropped."""

    _fd: FD

    @property
    def fd(self) -> int:
        return self._fd.fd

    def fileno(self) -> int:
        return self._fd.fd

    @property
    def closed(self) -> bool:
        return self._fd.closed

    def close(self) -> None:
        self._fd.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def fd_of(obj: "int | FD | Owner") -> int:
    """The fd number of an FD, an owner (Map, Program, ...) or a plain int."""
    if isinstance(obj, (FD, Owner)):
        return obj.fd
    if isinstance(obj, int):
        return obj
    raise TypeError(f"expected an fd, FD or kernel object, got {type(obj).__name__}")
