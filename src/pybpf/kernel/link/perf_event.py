"""Perf events and programs on them: perf_event_open(2), and attaching a program to
an open event through a perf link (BPF_LINK_CREATE, attach type BPF_PERF_EVENT) or, on
kernels without perf links (< 5.15), the ioctls PERF_EVENT_IOC_SET_BPF + ENABLE.
Tracepoints and uprobes are perf events of their own PMUs built on this."""

from __future__ import annotations

import ctypes
import dataclasses
import errno as _errno
import fcntl
import platform
from typing import Any

from .. import abi
from ..abi import AttachType
from ..errors import ENOTSUPP, KernelError, NotSupportedError, kernel_error
from ..fd import FD, Owner, fd_of
from ..objects import prog_id_of
from ..syscall import libc
from .base import Link, LinkInfo, link_create

# --- perf_event_open(2) ---------------------------------------------------------------------


# __NR_perf_event_open per architecture (arch syscall tables; arm64/riscv use the
# asm-generic table).
SYS_PERF_EVENT_OPEN_BY_MACHINE: dict[str, int] = {
    "x86_64": 298, "amd64": 298,
    "aarch64": 241, "arm64": 241, "riscv64": 241, "loongarch64": 241,
    "i386": 336, "i686": 336,
    "armv7l": 364,
    "ppc64le": 319, "ppc64": 319,
    "s390x": 331,
}


# ioctl numbers: _IO('$', 0), _IO('$', 1), _IOW('$', 8, __u32)
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_DISABLE = 0x2401
PERF_EVENT_IOC_SET_BPF = 0x40042408


def sys_perf_event_open_number(machine: str | None = None) -> int | None:
    """perf_event_open(2)'s syscall number on `machine` (default: this one)."""
    return SYS_PERF_EVENT_OPEN_BY_MACHINE.get((machine or platform.machine()).lower())


def perf_event_open(attr: abi.PerfEventAttr, pid: int = -1, cpu: int = 0, group_fd: int = -1,
                    flags: int = abi.PERF_FLAG_FD_CLOEXEC) -> FD:
    """perf_event_open(2); the new event's owned fd, or the KernelError for errno."""
    nr = sys_perf_event_open_number()
    if nr is None:
        raise NotSupportedError(_errno.ENOSYS, "perf_event_open",
                                f"unknown syscall number on {platform.machine()}")
    lib = libc()
    while True:
        ret = lib.syscall(ctypes.c_long(nr), ctypes.c_void_p(ctypes.addressof(attr)),
                          ctypes.c_int(pid), ctypes.c_int(cpu), ctypes.c_int(group_fd),
                          ctypes.c_ulong(flags))
        if ret >= 0:
            return FD(ret, "perf_event")
        err = ctypes.get_errno()
        if err != _errno.EINTR:
            raise kernel_error(err, "perf_event_open", f"type {attr.type} config {attr.config}")


# --- handles -----------------------------------------------------------------------------------

class PerfEventLink(Link):
    """A program attached to perf events: the events' fds and, where BPF_LINK_CREATE
    worked, the links. close() (or `with`, or gc) detaches: the links are closed first,
    then the events (closing an event detaches an ioctl-attached program). With a
    link it is a BPF link (info, pin); attached by ioctl it is not."""

    kind = "perf_event"

    def __init__(self, events: list[FD], links: list[Link], target: str) -> None:
        self.events = events
        self.links = links
        self.target = target
        self._fd = links[0]._fd if links else events[0]
        self._prog_id = 0

    @property
    def is_bpf_link(self) -> bool:
        return bool(self.links)

    def info(self) -> LinkInfo:
        if self.links:
            info = self.links[0].info()
            return dataclasses.replace(info, target=self.target)
        return LinkInfo(0, 0, self._prog_id, bytes(48), self.kind, self.target)

    def detach(self) -> None:
        if self.links:
            self.links[0].detach()
        else:
            self.close()

    def update(self, new_prog: Any, *, old_prog: Any = None) -> None:
        raise NotSupportedError(_errno.EOPNOTSUPP, "BPF_LINK_UPDATE",
                                f"a perf event link ({self.target}) cannot change its "
                                "program: detach and attach the new one")

    def pin(self, path: Any) -> None:
        if not self.links:
            raise self._not_a_link("BPF_OBJ_PIN")
        Link.pin(self, path)

    @property
    def uses_links(self) -> bool:
        """True if attached by BPF_LINK_CREATE, False if by PERF_EVENT_IOC_SET_BPF."""
        return bool(self.links)

    @property
    def closed(self) -> bool:
        return all(e.closed for e in self.events)

    def close(self) -> None:
        for link in self.links:
            link.close()
        for ev in self.events:
            ev.close()

    def __enter__(self) -> "PerfEventLink":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        how = "link" if self.links else "ioctl"
        return f"<PerfEventLink {self.target} via {how}{' closed' if self.closed else ''}>"


# --- attaching ---------------------------------------------------------------------------------

def _ioctl(fd: FD, request: int, arg: int) -> None:
    try:
        fcntl.ioctl(fd.fd, request, arg)
    except OSError as e:
        raise kernel_error(e.errno or _errno.EINVAL, "ioctl(perf_event)",
                           f"request {request:#x}") from None


def _link_event(prog: "int | FD | Owner", event: FD, use_link: bool | None,
                cookie: int = 0) -> list[Link]:
    """Attach `prog` to the open perf `event` and enable it: through BPF_LINK_CREATE
    (with the link's bpf_cookie), or where the kernel has no perf links and no cookie
    is asked for, PERF_EVENT_IOC_SET_BPF. On failure the event is closed."""
    links: list[Link] = []
    try:
        if use_link is not False:
            try:
                links.append(link_create(prog, event, AttachType.PERF_EVENT, bpf_cookie=cookie))
            except KernelError as e:
                # EINVAL/EOPNOTSUPP: no perf link on this kernel; anything else is real
                if use_link or cookie or e.errno not in (_errno.EINVAL, _errno.EOPNOTSUPP,
                                                         ENOTSUPP):
                    raise
        if not links:
            _ioctl(event, PERF_EVENT_IOC_SET_BPF, fd_of(prog))
        _ioctl(event, PERF_EVENT_IOC_ENABLE, 0)
    except BaseException:
        for link in links:
            link.close()
        event.close()
        raise
    return links


def attach_perf_event(prog: "int | FD | Owner", event: FD, *, use_link: bool | None = None,
                      target: str = "perf_event") -> PerfEventLink:
    """Attach a program to an open perf event (which takes ownership of `event`) and
    enable it. `use_link`: True = BPF_LINK_CREATE only, False = the ioctls only,
    None = the link, falling back to the ioctls where the kernel has no perf links."""
    handle = PerfEventLink([event], _link_event(prog, event, use_link), target)
    handle._prog_id = prog_id_of(prog)
    return handle
