"""Errors of the maps layer: one `MapError` family carrying the kernel's errno, raised
identically by VM maps and kernel maps so code written against one backend handles the
other. A missing key is a `MapKeyError`, which is also a KeyError."""

from __future__ import annotations

import errno as _errno
from typing import Any

from ..errors import ENOTSUPP, ErrnoError

class MapError(ErrnoError):
    """A map operation failed. `errno` is the kernel's error number for it, `op` the
    operation ("update", "lookup", "create", ...), `detail` what it was about."""

    default_errno = _errno.EINVAL

    def __init__(self, detail: str = "", *, errno: int | None = None, op: str = "") -> None:
        self._errno = self.default_errno if errno is None else errno
        self.op = op
        self.detail = detail
        super().__init__(self._message())

    def _what(self) -> str:
        return self.op

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.detail, self._errno, self.op))


def _rebuild(cls: type, detail: str, err: int, op: str) -> "MapError":
    return cls(detail, errno=err, op=op)


class MapKeyError(MapError, KeyError):
    """ENOENT: no such key (or an empty queue/stack, or a bloom filter miss)."""

    default_errno = _errno.ENOENT


class MapFullError(MapError):
    """E2BIG: the map is full, or an index is past max_entries."""

    default_errno = _errno.E2BIG


class MapExistsError(MapError):
    """EEXIST: BPF_NOEXIST on a key that exists."""

    default_errno = _errno.EEXIST


class MapInvalidError(MapError, ValueError):
    """EINVAL: bad flags, an operation the map type refuses (delete from an array), a
    malformed key or value (a ValueError too)."""

    default_errno = _errno.EINVAL


class MapSpecError(MapInvalidError):
    """A MapSpec the kernel would refuse at BPF_MAP_CREATE (EINVAL unless said), found
    by pybpf before any call: the message names the map and the field, without the
    errno text of a failed call (`errno` still says what the kernel would answer)."""

    def _message(self) -> str:
        return self.detail or "invalid map spec"


class MapPinError(MapSpecError):
    """A map an object pins by name that cannot be pinned or reused as asked: the pin
    root is not a bpffs, the name would leave it, or the map pinned there differs
    (the message names each difference)."""


class MapPermissionError(MapError, PermissionError):  # type: ignore[misc]  # errno: ours
    """EPERM / EACCES: writing a frozen or BPF_F_RDONLY map from user space, reading a
    BPF_F_WRONLY one."""

    default_errno = _errno.EPERM


class MapBusyError(MapError):
    """EBUSY / EAGAIN: the map is busy."""

    default_errno = _errno.EBUSY


class MapNoSpaceError(MapError):
    """ENOSPC: an LPM trie is full (the kernel's errno there), or a buffer is too small."""

    default_errno = _errno.ENOSPC


class MapNotSupportedError(MapError):
    """ENOTSUPP / EOPNOTSUPP: the map type does not have this operation."""

    default_errno = ENOTSUPP


class MapSpecTooBigError(MapSpecError, MapFullError):
    """A MapSpec the kernel would refuse with E2BIG (a size past its limits)."""

    default_errno = _errno.E2BIG


class MapSpecNotSupportedError(MapSpecError, MapNotSupportedError):
    """A MapSpec the kernel would refuse with ENOTSUPP (a combination it does not do)."""

    default_errno = ENOTSUPP


class MapBadFDError(MapError):
    """EBADF: a value that should name a map or program does not."""

    default_errno = _errno.EBADF


class MapClosedError(MapError):
    """The map object was closed (EBADF, as for a closed fd)."""

    default_errno = _errno.EBADF


_BY_ERRNO: dict[int, type[MapError]] = {
    _errno.ENOENT: MapKeyError,
    _errno.E2BIG: MapFullError,
    _errno.EEXIST: MapExistsError,
    _errno.EINVAL: MapInvalidError,
    _errno.EPERM: MapPermissionError,
    _errno.EACCES: MapPermissionError,
    _errno.EBUSY: MapBusyError,
    _errno.EAGAIN: MapBusyError,
    _errno.ENOSPC: MapNoSpaceError,
    ENOTSUPP: MapNotSupportedError,
    _errno.EOPNOTSUPP: MapNotSupportedError,
    _errno.EBADF: MapBadFDError,
}


def map_error(err: int, op: str = "", detail: str = "") -> MapError:
    """The MapError subclass for errno `err`."""
    return _BY_ERRNO.get(err, MapError)(detail, errno=err, op=op)


__all__ = ["ENOTSUPP", "MapError", "MapKeyError", "MapFullError", "MapExistsError",
           "MapInvalidError", "MapSpecError", "MapSpecTooBigError", "MapSpecNotSupportedError",
           "MapPinError", "MapPermissionError", "MapBusyError",
           "MapNoSpaceError", "MapNotSupportedError", "MapBadFDError", "MapClosedError",
           "map_error"]
