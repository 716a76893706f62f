"""tracefs: where it is mounted (mounting it if needed) and the ids of tracepoints."""

from __future__ import annotations

import ctypes
import errno as _errno
import os
from pathlib import Path

from .errors import KernelError
from .syscall import libc

TRACEFS_ROOTS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")


class TracefsError(KernelError):
    """tracefs is not mounted (and cannot be), or has no such event."""


def _mount_tracefs() -> None:
    """Mount tracefs at /sys/kernel/tracing (needs CAP_SYS_ADMIN); errors are ignored,
    the caller reports what is still missing."""
    if os.path.isdir("/sys/kernel/tracing"):
        libc().mount(b"tracefs", b"/sys/kernel/tracing", b"tracefs", ctypes.c_ulong(0), None)


def tracefs_root() -> str:
    """Where tracefs is: /sys/kernel/tracing (mounted there if needed), else the
    debugfs path /sys/kernel/debug/tracing."""
    for root in TRACEFS_ROOTS:
        if os.path.isdir(os.path.join(root, "events")):
            return root
    _mount_tracefs()
    for root in TRACEFS_ROOTS:
        if os.path.isdir(os.path.join(root, "events")):
            return root
    raise TracefsError(_errno.ENOENT, "tracefs",
                       "tracefs is not mounted at /sys/kernel/tracing or "
                       "/sys/kernel/debug/tracing and could not be mounted")


def tracepoint_id(category: str, name: str) -> int:
    """The id of tracepoint category:name (tracefs events/<category>/<name>/id)."""
    if not category or not name or "/" in category + name or ".." in (category, name):
        raise TracefsError(_errno.EINVAL, "tracefs", f"bad tracepoint name {category}:{name}")
    path = os.path.join(tracefs_root(), "events", category, name, "id")
    try:
        return int(Path(path).read_text().strip())
    except FileNotFoundError:
        raise TracefsError(_errno.ENOENT, "tracefs",
                           f"no tracepoint {category}:{name} ({path})") from None
    except OSError as e:
        raise TracefsError(e.errno or _errno.EIO, "tracefs", f"{path}: {e.strerror}") from None
