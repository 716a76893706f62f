"""Socket filters (BPF_PROG_TYPE_SOCKET_FILTER): setsockopt(SOL_SOCKET, SO_ATTACH_BPF),
removed with SO_DETACH_BPF by a finalizer that holds the socket."""

from __future__ import annotations

import errno as _errno
import socket
import weakref
from typing import Any

from ..errors import kernel_error
from ..fd import FD, Owner, fd_of
from ..objects import prog_id_of
from .base import FinalizedAttachment, LinkInfo

# setsockopt(SOL_SOCKET, ...) (asm-generic/socket.h; the same on x86 and arm64)
SO_ATTACH_BPF = 50
SO_DETACH_BPF = 27  # = SO_DETACH_FILTER


def _detach_socket(sock: socket.socket) -> None:
    if sock.fileno() < 0:
        return  # the socket is closed, and its filter with it
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_DETACH_BPF, 0)
    except OSError:
        pass


class SocketFilter(FinalizedAttachment):
    """A program attached to a socket with SO_ATTACH_BPF. close() (or `with`, or gc)
    removes it with SO_DETACH_BPF, unless the socket is already closed. Not a BPF
    link: it has no id and cannot be pinned; update() swaps the program atomically
    (SO_ATTACH_BPF replaces the socket's filter)."""

    kind = "socket_filter"

    def __init__(self, sock: socket.socket, prog_id: int = 0) -> None:
        self.socket = sock
        self.target = f"socket fd {sock.fileno()}"
        self._prog_id = prog_id
        self._finalizer = weakref.finalize(self, _detach_socket, sock)

    @property
    def fd(self) -> int:
        return self.socket.fileno()

    def fileno(self) -> int:
        return self.socket.fileno()

    def info(self) -> LinkInfo:
        return LinkInfo(0, 0, self._prog_id, bytes(48), self.kind, self.target)

    def update(self, new_prog: Any, *, old_prog: Any = None) -> None:
        if self.closed:
            raise kernel_error(_errno.EBADF, "setsockopt(SO_ATTACH_BPF)", "detached")
        if old_prog is not None and prog_id_of(old_prog) != self._prog_id:
            raise kernel_error(_errno.EPERM, "setsockopt(SO_ATTACH_BPF)",
                               f"{self.target} does not run the program given as old_prog")
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, SO_ATTACH_BPF, fd_of(new_prog))
        except OSError as e:
            raise kernel_error(e.errno or _errno.EINVAL, "setsockopt(SO_ATTACH_BPF)",
                               self.target) from None
        self._prog_id = prog_id_of(new_prog)

    def pin(self, path: Any) -> None:
        raise self._not_a_link("BPF_OBJ_PIN")

    def __enter__(self) -> "SocketFilter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SocketFilter on fd {self.socket.fileno()}{' closed' if self.closed else ''}>"


def attach_socket(prog: "int | FD | Owner", sock: socket.socket) -> SocketFilter:
    """Attach a socket filter program to `sock` (any socket: UDP, TCP, AF_PACKET...)
    with setsockopt(SOL_SOCKET, SO_ATTACH_BPF, prog fd)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_BPF, fd_of(prog))
    except OSError as e:
        raise kernel_error(e.errno or _errno.EINVAL, "setsockopt(SO_ATTACH_BPF)",
                           f"socket fd {sock.fileno()}") from None
    return SocketFilter(sock, prog_id_of(prog))
