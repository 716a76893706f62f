"""BPF iterators: a tracing program loaded for SEC("iter/<target>") (expected attach
type BPF_TRACE_ITER, attach_btf_id the kernel function `bpf_iter_<target>`) becomes a
link with BPF_LINK_CREATE; each BPF_ITER_CREATE on that link is a fresh file whose
read() runs the program over the target (every task, every map, the elements of one
map...) and returns what it wrote with bpf_seq_printf / bpf_seq_write.

    link = attach_iter(prog)                     # iter/task, iter/bpf_map, ...
    link = attach_iter(prog, map=pairs)          # iter/bpf_map_elem over one map
    text = link.read()                           # one whole pass, as bytes
    with link.open() as f: f.readline()          # or as a file
    pinned: link.pin("/sys/fs/bpf/tasks")        # `cat` the pin runs it too

Targets that take an argument: `map` (bpf_map_elem, bpf_sk_storage_map, sockmap),
`task_tid` / `task_pid` / `task_pid_fd` (task, task_file, task_vma: one thread or one
process), `cgroup_fd` or `cgroup_id` with `order` (cgroup).
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import struct
from typing import IO, Any

from . import abi
from .abi import AttachType, BpfCmd
from .errors import KernelError, kernel_error
from .eventreader import fd_number
from .fd import FD, Owner, fd_of
from .link.base import Link, link_create
from .syscall import bpf

__all__ = ["IterLink", "attach_iter", "iter_create", "read_iter", "CGROUP_ITER_ORDERS"]

# enum bpf_cgroup_iter_order
CGROUP_ITER_ORDERS = {"self_only": 1, "descendants_pre": 2, "descendants_post": 3,
                      "ancestors_up": 4}
_MAX_READ = 64 << 20  # a pass longer than this is cut (an iterator that never ends)


def _iter_info(map: Any, task_tid: int, task_pid: int, task_pid_fd: int, cgroup_fd: int,
               cgroup_id: int, order: str | None) -> bytes:
    """struct bpf_iter_link_info (16 bytes: one union of map / cgroup / task)."""
    chosen = [n for n, v in (("map", map is not None), ("task", task_tid or task_pid or
                             task_pid_fd), ("cgroup", cgroup_fd or cgroup_id)) if v]
    if len(chosen) > 1:
        raise ValueError(f"an iterator takes one target argument, not {' and '.join(chosen)}")
    if map is not None:
        return struct.pack("<I12x", fd_number(map))
    if task_tid or task_pid or task_pid_fd:
        return struct.pack("<III4x", task_tid, task_pid, task_pid_fd)
    if cgroup_fd or cgroup_id or order:
        try:
            o = CGROUP_ITER_ORDERS[order or "descendants_pre"]
        except KeyError:
            raise ValueError(f"unknown cgroup iterator order {order!r} (one of "
                             f"{', '.join(CGROUP_ITER_ORDERS)})") from None
        return struct.pack("<IIQ", o, cgroup_fd, cgroup_id)
    return b""


class IterLink(Link):
    """The link of an iterator program; open() or read() runs it."""

    kind = "iter"

    def open(self) -> IO[bytes]:
        """A new pass of the iterator as a binary file (BPF_ITER_CREATE)."""
        return os.fdopen(iter_create(self).detach(), "rb", buffering=0)

    def read(self, limit: int = _MAX_READ) -> bytes:
        """One whole pass: everything the program writes, up to `limit` bytes."""
        chunks: list[bytes] = []
        size = 0
        with self.open() as f:
            while size < limit:
                try:
                    chunk = f.read(min(1 << 16, limit - size))
                except OSError as e:
                    raise kernel_error(e.errno or _errno.EIO, "read",
                                       f"iterator {self.target}: {e.strerror}") from None
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        return b"".join(chunks)

    def text(self) -> str:
        return self.read().decode(errors="replace")


def attach_iter(prog: "int | FD | Owner", *, map: Any = None, task_tid: int = 0,
                task_pid: int = 0, task_pid_fd: int = 0, cgroup_fd: int = 0,
                cgroup_id: int = 0, order: str | None = None,
                target: str = "") -> IterLink:
    """BPF_LINK_CREATE of an iterator program (BPF_TRACE_ITER) with its target's
    argument, if any (see the module docstring). `target` names it in the handle."""
    info = _iter_info(map, task_tid, task_pid, task_pid_fd, cgroup_fd, cgroup_id, order)
    extra = b""
    keep: Any = None
    if info:
        keep = ctypes.create_string_buffer(info, len(info))
        extra = struct.pack("<QI", ctypes.addressof(keep), len(info))
    try:
        link = link_create(prog, 0, AttachType.TRACE_ITER, extra=extra,
                           detail=f"iterator {target}".strip())
    except KernelError as e:
        if e.errno == _errno.EPERM:
            raise kernel_error(e.errno, "BPF_LINK_CREATE",
                               f"iterator {target}: refused (iterator links need CAP_BPF "
                               "and CAP_PERFMON, or CAP_SYS_ADMIN; kernel lockdown "
                               "refuses them too)") from None
        raise
    finally:
        del keep
    return IterLink(link._fd, "iter", target)


def iter_create(link: "int | FD | Owner") -> FD:
    """BPF_ITER_CREATE: an fd reading one pass of the iterator link."""
    attr = abi.IterCreateAttr(link_fd=fd_of(link))
    return FD(bpf(BpfCmd.ITER_CREATE, attr, "iterator"), "iter")


def read_iter(prog: "int | FD | Owner", **kw: Any) -> bytes:
    """Attach an iterator program, read one pass, detach."""
    with attach_iter(prog, **kw) as link:
        return link.read()
