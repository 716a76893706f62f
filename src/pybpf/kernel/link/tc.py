"""tc on interfaces: a tcx link (BPF_TCX_INGRESS / BPF_TCX_EGRESS, Linux 6.6+), or on
older kernels a clsact qdisc and a cls_bpf direct-action filter over netlink; what
pybpf created (the filter, and the qdisc if it made it) is removed on close()."""

from __future__ import annotations

import errno as _errno
import os
import weakref
from typing import Any

from .. import abi, netlink
from ..abi import AttachType
from ..errors import KernelError, NotSupportedError, kernel_error
from ..fd import FD, Owner, fd_of
from ..objects import obj_get_info_by_fd, prog_id_of
from .base import FinalizedAttachment, Link, LinkInfo, link_create
from .netbase import _NOT_SUPPORTED, _privilege, kernel_feature

TC_DIRECTIONS = ("ingress", "egress")


class TcxLink(Link):
    """A tc program attached through a tcx link (Linux 6.6+)."""

    kind = "tcx"

    def __init__(self, fd: FD, ifindex: int, ifname: str, direction: str) -> None:
        super().__init__(fd, "tcx", f"{ifname} {direction}")
        self.ifindex = ifindex
        self.ifname = ifname
        self.direction = direction


class TcFilterAttachment(FinalizedAttachment):
    """A tc program attached as a cls_bpf direct-action filter on a clsact qdisc
    (the netlink path, for kernels without tcx). close() removes the filter and the
    qdisc if pybpf created it and nothing else is attached there."""

    kind = "tc"

    def __init__(self, prog: FD, ifindex: int, ifname: str, direction: str, handle: int,
                 priority: int, created_qdisc: bool) -> None:
        self._fd = prog
        self.ifindex = ifindex
        self.ifname = ifname
        self.direction = direction
        self.handle = handle
        self.priority = priority
        self.created_qdisc = created_qdisc
        self.target = f"{ifname} {direction} (clsact, handle {handle:#x}, prio {priority})"
        self._netns = FD(netlink.current_netns(), "netns")
        self._finalizer = weakref.finalize(self, _tc_detach, ifindex, direction, handle,
                                           priority, created_qdisc, prog, self._netns)

    def info(self) -> LinkInfo:
        return LinkInfo(0, 0, prog_id_of(self._fd), bytes(48), "tc", self.target)

    def update(self, new_prog: "int | FD | Owner", *,
               old_prog: "int | FD | Owner | None" = None) -> None:
        """Replace the filter's program (RTM_NEWTFILTER with NLM_F_REPLACE)."""
        if old_prog is not None and prog_id_of(old_prog) != prog_id_of(self._fd):
            raise kernel_error(_errno.EPERM, "netlink",
                               f"{self.target} does not run the program given as old_prog")
        netlink.add_bpf_filter(self.ifindex, self.direction, fd_of(new_prog),
                               handle=self.handle, priority=self.priority, replace=True,
                               name=_prog_name(new_prog), what=f"cls_bpf filter {self.target}",
                               netns=self._netns.fd)
        new = FD(os.dup(fd_of(new_prog)), "prog")
        self._finalizer.detach()
        self._fd.close()
        self._fd = new
        self._finalizer = weakref.finalize(self, _tc_detach, self.ifindex, self.direction,
                                           self.handle, self.priority, self.created_qdisc, new,
                                           self._netns)

    def pin(self, path: Any) -> None:
        raise self._not_a_link("BPF_OBJ_PIN")


def _tc_detach(ifindex: int, direction: str, handle: int, priority: int, created_qdisc: bool,
               prog: FD, netns: FD) -> None:
    ns = netns.fd
    try:
        netlink.del_bpf_filter(ifindex, direction, handle=handle, priority=priority, netns=ns)
    except (KernelError, OSError):
        pass
    try:
        if created_qdisc and not any(netlink.bpf_filters(ifindex, d, ns)
                                     for d in TC_DIRECTIONS):
            netlink.del_clsact(ifindex, ns)
    except (KernelError, OSError):
        pass
    prog.close()
    netns.close()


def attach_tc(prog: "int | FD | Owner", interface: "str | int", direction: str = "ingress", *,
              use_link: bool | None = None, handle: int = 1,
              priority: int = 1) -> "TcxLink | TcFilterAttachment":
    """Attach a SCHED_CLS program to `interface` on `direction` ("ingress"/"egress").
    `use_link` True: a tcx link only; False: netlink clsact + cls_bpf (direct action,
    at `handle`/`priority`); None: tcx, falling back to netlink on kernels before 6.6."""
    if direction not in TC_DIRECTIONS:
        raise ValueError(f"tc direction {direction!r}: one of {', '.join(TC_DIRECTIONS)}")
    ifindex, ifname = netlink.ifindex_of(interface)
    what = f"tc {direction} on {ifname}"
    if use_link is not False:
        attach_type = AttachType.TCX_INGRESS if direction == "ingress" else AttachType.TCX_EGRESS
        try:
            link = link_create(prog, ifindex, attach_type, detail=what)
            return TcxLink(link._fd, ifindex, ifname, direction)
        except KernelError as e:
            if e.errno in (_errno.EPERM, _errno.EACCES):
                raise _privilege(e, what, "CAP_NET_ADMIN and CAP_BPF") from None
            if e.errno not in _NOT_SUPPORTED or kernel_feature("tcx_link"):
                raise
            if use_link:
                raise NotSupportedError(e.errno, e.cmd, f"{what}: tcx links need Linux 6.6 "
                                                        "(use_link=None falls back to netlink)"
                                        ) from None
    if not 0 < priority < 0x10000 or not 0 < handle <= 0xFFFFFFFF:
        raise ValueError("tc priority is 1..65535 and handle 1..0xffffffff")
    created = False
    try:
        if not netlink.has_clsact(ifindex):
            netlink.add_clsact(ifindex, f"clsact qdisc on {ifname}")
            created = True
        netlink.add_bpf_filter(ifindex, direction, fd_of(prog), handle=handle,
                               priority=priority, name=_prog_name(prog), what=what)
    except KernelError as e:
        if created:
            try:
                netlink.del_clsact(ifindex)
            except KernelError:
                pass
        raise _privilege(e, what, "CAP_NET_ADMIN") from None
    return TcFilterAttachment(FD(os.dup(fd_of(prog)), "prog"), ifindex, ifname, direction,
                              handle, priority, created)


def _prog_name(prog: "int | FD | Owner") -> str:
    try:
        info = obj_get_info_by_fd(prog, abi.BpfProgInfo())
        return info.name.decode(errors="replace") or "pybpf"
    except KernelError:
        return "pybpf"
