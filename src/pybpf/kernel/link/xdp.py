"""XDP on interfaces: a BPF link (BPF_LINK_CREATE, attach type BPF_XDP, Linux 5.9+)
with the mode flag (skb = generic, drv = native, hw = offloaded), or on kernels without
XDP links the netlink IFLA_XDP attribute (RTM_SETLINK), which stays attached until
removed: that attachment is detached on close() and by a finalizer."""

from __future__ import annotations

import errno as _errno
import os
import weakref
from typing import Any

from .. import netlink
from ..abi import AttachType
from ..errors import ENOTSUPP, KernelError, NotSupportedError, kernel_error
from ..fd import FD, Owner, fd_of
from ..objects import prog_id_of
from .base import FinalizedAttachment, Link, LinkInfo, link_create
from .netbase import _NOT_SUPPORTED, _privilege, kernel_feature

XDP_MODES = ("skb", "drv", "hw")


def _mode_flag(mode: str) -> int:
    if mode not in XDP_MODES:
        raise ValueError(f"XDP mode {mode!r}: one of {', '.join(XDP_MODES)}")
    return netlink.XDP_MODE_FLAGS[mode]


def xdp_state(ifindex: int) -> netlink.XdpState:
    """The interface's XDP attachment as the kernel reports it (RTM_GETLINK)."""
    return netlink.interface(ifindex).xdp


class XdpLink(Link):
    """An XDP program attached to an interface through a BPF link. `mode` is the
    mode that took effect, read back from the interface ("skb", "drv" or "hw")."""

    kind = "xdp"

    def __init__(self, fd: FD, ifindex: int, ifname: str, mode: str) -> None:
        super().__init__(fd, "xdp", ifname)
        self.ifindex = ifindex
        self.ifname = ifname
        self.mode = mode


class XdpNetlinkAttachment(FinalizedAttachment):
    """An XDP program attached with netlink IFLA_XDP (kernels without XDP links). It
    outlives the process unless detached: close(), `with` and a finalizer detach it,
    only if it is still the program there (XDP_FLAGS_REPLACE with the expected fd)."""

    kind = "xdp"

    def __init__(self, prog: FD, ifindex: int, ifname: str, mode: str) -> None:
        self._fd = prog  # our own dup of the program's fd
        self.ifindex = ifindex
        self.ifname = ifname
        self.target = ifname
        self.mode = mode
        self._flags = _mode_flag(mode)
        # the namespace the interface is in: detaching from another thread finds it
        self._netns = FD(netlink.current_netns(), "netns")
        self._finalizer = weakref.finalize(self, _netlink_xdp_detach, ifindex, prog,
                                           self._flags, self._netns)

    def info(self) -> LinkInfo:
        return LinkInfo(0, 0, prog_id_of(self._fd), bytes(48), "xdp", self.ifname)

    def update(self, new_prog: "int | FD | Owner", *,
               old_prog: "int | FD | Owner | None" = None) -> None:
        """Swap the program atomically (XDP_FLAGS_REPLACE against ours)."""
        if self.closed:
            raise kernel_error(_errno.EBADF, "netlink", f"XDP on {self.ifname} is detached")
        expected = fd_of(old_prog) if old_prog is not None else self._fd.fd
        netlink.set_xdp(self.ifindex, fd_of(new_prog), self._flags | netlink.XDP_FLAGS_REPLACE,
                        expected_fd=expected, what=f"XDP program on {self.ifname}",
                        netns=self._netns.fd)
        new = FD(os.dup(fd_of(new_prog)), "prog")
        self._finalizer.detach()
        self._fd.close()
        self._fd = new
        self._finalizer = weakref.finalize(self, _netlink_xdp_detach, self.ifindex, new,
                                           self._flags, self._netns)

    def pin(self, path: Any) -> None:
        raise self._not_a_link("BPF_OBJ_PIN")


def _netlink_xdp_detach(ifindex: int, prog: FD, flags: int, netns: FD) -> None:
    try:
        netlink.set_xdp(ifindex, -1, flags | netlink.XDP_FLAGS_REPLACE,
                        expected_fd=prog.fd, netns=netns.fd)
    except (KernelError, OSError, ValueError):
        pass  # gone, or replaced by someone else: not ours to remove
    finally:
        prog.close()
        netns.close()


def attach_xdp(prog: "int | FD | Owner", interface: "str | int", mode: str = "skb", *,
               use_link: bool | None = None) -> "XdpLink | XdpNetlinkAttachment":
    """Attach an XDP program to `interface` (a name or an index) in `mode` ("skb":
    generic, any device; "drv": the driver's native XDP; "hw": offloaded to the NIC).
    `use_link` True: a BPF link only; False: netlink IFLA_XDP only; None: the link,
    falling back to netlink where the kernel has no XDP links. The handle's `mode`
    is the mode the interface reports once attached."""
    flag = _mode_flag(mode)
    ifindex, ifname = netlink.ifindex_of(interface)
    what = f"XDP ({mode} mode) on {ifname}"
    handle: XdpLink | XdpNetlinkAttachment
    if use_link is not False:
        try:
            link = link_create(prog, ifindex, AttachType.XDP, flag, detail=what)
            handle = XdpLink(link._fd, ifindex, ifname, mode)
        except KernelError as e:
            if e.errno in (_errno.EPERM, _errno.EACCES):
                raise _privilege(e, what, "CAP_NET_ADMIN and CAP_BPF") from None
            if use_link or e.errno not in _NOT_SUPPORTED or _has_xdp_link_support():
                raise _xdp_error(e, what, mode) from None
            use_link = False
    if use_link is False:
        try:
            netlink.set_xdp(ifindex, fd_of(prog), flag | netlink.XDP_FLAGS_UPDATE_IF_NOEXIST,
                            what=what)
        except KernelError as e:
            raise _xdp_error(_privilege(e, what, "CAP_NET_ADMIN"), what, mode) from None
        handle = XdpNetlinkAttachment(FD(os.dup(fd_of(prog)), "prog"), ifindex, ifname, mode)
    state = xdp_state(ifindex)
    if state.mode in XDP_MODES:
        handle.mode = state.mode
    return handle


def _xdp_error(e: KernelError, what: str, mode: str) -> KernelError:
    if mode == "hw" and e.errno in (_errno.EINVAL, _errno.EOPNOTSUPP, ENOTSUPP):
        return NotSupportedError(e.errno, e.cmd,
                                 f"{what}: XDP offload refused: the device does not offload "
                                 "XDP programs, or the program was not loaded for this "
                                 "device (prog_ifindex); use mode='drv' or 'skb'")
    if e.errno in (_errno.EOPNOTSUPP, ENOTSUPP) and mode != "skb":
        return NotSupportedError(e.errno, e.cmd,
                                 f"{what}: the device's driver has no "
                                 f"{'native' if mode == 'drv' else 'offloaded'} XDP "
                                 "(use mode='skb')")
    if e.errno in (_errno.EBUSY, _errno.EEXIST):
        return kernel_error(e.errno, e.cmd, f"{what}: another XDP program is attached "
                                            "there (detach it, or update() its link)")
    return e


def _has_xdp_link_support() -> bool:
    """Whether BPF_LINK_CREATE knows BPF_XDP (Linux 5.9+): an invalid ifindex gives
    ENODEV/EINVAL-after-lookup there, and EINVAL for the attach type before."""
    return kernel_feature("xdp_link")
