"""Attaching networking programs: XDP and tc on interfaces, and programs on cgroups.

* XDP: a BPF link (BPF_LINK_CREATE, attach type BPF_XDP, Linux 5.9+) with the mode
  flag (skb = generic, drv = native, hw = offloaded), or on kernels without XDP links
  the netlink IFLA_XDP attribute (RTM_SETLINK), which stays attached until removed:
  that attachment is detached on close() and by a finalizer.
* tc: a tcx link (BPF_TCX_INGRESS / BPF_TCX_EGRESS, Linux 6.6+), or on older kernels a
  clsact qdisc and a cls_bpf direct-action filter over netlink; what pybpf created
  (the filter, and the qdisc if it made it) is removed on close().
* cgroups: a cgroup link (BPF_LINK_CREATE on the cgroup directory's fd) for every
  cgroup attach type (cgroup_skb ingress/egress, sock, sock_addr, sock_ops, device,
  sysctl, sockopt).

Failures name what is missing: the interface or cgroup, the capability and sysctl,
or the kernel feature (NotSupportedError).
"""

from __future__ import annotations

import errno as _errno
import functools
import itertools
import os
import weakref
from typing import Any

from . import netlink
from .abi import AttachType
from .errors import ENOTSUPP, KernelError, NotSupportedError, kernel_error
from .fd import FD, Owner, fd_of
from .objects import FinalizedAttachment, Link, LinkInfo, link_create, prog_id_of

XDP_MODES = ("skb", "drv", "hw")
TC_DIRECTIONS = ("ingress", "egress")
_NOT_SUPPORTED = (_errno.EINVAL, _errno.EOPNOTSUPP, ENOTSUPP, _errno.ENOSYS)


def _privilege(e: KernelError, what: str, caps: str) -> KernelError:
    """An EPERM/EACCES rewritten to name the capability and sysctl it lacks."""
    if e.errno not in (_errno.EPERM, _errno.EACCES):
        return e
    return kernel_error(e.errno, e.cmd, privilege_text(what, caps))


def privilege_text(what: str, caps: str) -> str:
    """"<what>: needs <caps>; this process holds ...; kernel.unprivileged_bpf_disabled=N"."""
    from .probe import _sysctl, effective_caps
    have = effective_caps()
    unpriv = _sysctl("kernel.unprivileged_bpf_disabled")
    return (f"{what}: needs {caps}; this process (euid {os.geteuid()}) holds "
            f"{', '.join(have) if have else 'none of them'}; sysctl "
            f"kernel.unprivileged_bpf_disabled={'?' if unpriv is None else unpriv} "
            "(attaching to network hooks is never allowed without the capabilities)")


# --- XDP ----------------------------------------------------------------------------------------

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


# --- tc -----------------------------------------------------------------------------------------

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
    from . import abi
    from .objects import obj_get_info_by_fd
    try:
        info = obj_get_info_by_fd(prog, abi.BpfProgInfo())
        return info.name.decode(errors="replace") or "pybpf"
    except KernelError:
        return "pybpf"


# --- cgroups ------------------------------------------------------------------------------------

CGROUP_ATTACH_TYPES = frozenset(a for a in AttachType if a.name.startswith("CGROUP_")
                                or a is AttachType.CGROUP_SOCK_OPS)


def cgroup2_root() -> str | None:
    """Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or
    /sys/fs/cgroup/unified on hybrid systems), or None."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                if right.split()[:1] == ["cgroup2"]:
                    return left.split()[4]
    except OSError:
        pass
    return None


class CgroupLink(Link):
    """A program attached to a cgroup through a cgroup link."""

    kind = "cgroup"

    def __init__(self, fd: FD, path: str, attach_type: AttachType) -> None:
        from .objects import link_kind_direction
        super().__init__(fd, "cgroup", f"{path} {link_kind_direction(attach_type)}")
        self.path = path
        self.attach_type = attach_type


def attach_cgroup(prog: "int | FD | Owner", path: "str | os.PathLike[str]",
                  attach_type: int) -> CgroupLink:
    """Attach a cgroup program to the cgroup v2 directory `path` as `attach_type`
    (BPF_CGROUP_INET_INGRESS, ..._SOCK_OPS, ..._DEVICE, ...) through a cgroup link
    (the program runs for every process in the cgroup and its descendants)."""
    p = os.fspath(path)
    try:
        at = AttachType(attach_type)
    except ValueError:
        raise ValueError(f"unknown attach type {attach_type}") from None
    if at not in CGROUP_ATTACH_TYPES:
        raise ValueError(f"attach type {at.name} is not a cgroup attach type")
    what = f"cgroup {p} ({at.name.lower()})"
    try:
        cg = FD(os.open(p, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), "cgroup")
    except FileNotFoundError:
        raise kernel_error(_errno.ENOENT, "cgroup", f"no cgroup {p} (cgroup v2 is at "
                                                    f"{cgroup2_root() or 'no mount'})") from None
    except OSError as e:
        raise kernel_error(e.errno or _errno.EINVAL, "cgroup", f"{p}: {e.strerror}") from None
    with cg:
        try:
            link = link_create(prog, cg, at, detail=what)
        except KernelError as e:
            if e.errno in (_errno.EPERM, _errno.EACCES):
                raise _privilege(e, what, "CAP_NET_ADMIN (or CAP_SYS_ADMIN) and CAP_BPF") \
                    from None
            if e.errno == _errno.EBADF:
                raise kernel_error(e.errno, e.cmd, f"{p} is not a cgroup v2 directory "
                                                   f"(cgroup v2 is at {cgroup2_root()})") \
                    from None
            if e.errno in _NOT_SUPPORTED and not kernel_feature("cgroup_link"):
                raise NotSupportedError(e.errno, e.cmd, f"{what}: cgroup links need Linux "
                                                        "5.7") from None
            raise
    return CgroupLink(link._fd, p, at)


# --- feature probes -------------------------------------------------------------------------------

# link kind -> (a type only kernels with it have in their BTF, the release that added it)
_LINK_FEATURES = {
    "xdp_link": (b"bpf_xdp_link", (5, 9)),
    "tcx_link": (b"tcx_link", (6, 6)),
    "cgroup_link": (b"bpf_cgroup_link", (5, 7)),
}


@functools.cache
def kernel_feature(name: str) -> bool:
    """Whether this kernel has link kind `name` ("xdp_link", "tcx_link", "cgroup_link"):
    the kernel's struct for it is named in its BTF (/sys/kernel/btf/vmlinux), or,
    without kernel BTF, the kernel release is at least the one that added it. (A
    BPF_LINK_CREATE probe cannot tell: a bad target and an unknown attach type both
    answer EINVAL, and a good target would attach to a real interface.)"""
    type_name, release = _LINK_FEATURES[name]
    try:
        with open("/sys/kernel/btf/vmlinux", "rb") as f:
            return b"\0" + type_name + b"\0" in f.read()
    except OSError:
        pass
    nums = []
    for part in os.uname().release.split(".")[:2]:
        digits = "".join(itertools.takewhile(str.isdigit, part))
        nums.append(int(digits or 0))
    return tuple(nums) >= release


__all__ = [
    "CGROUP_ATTACH_TYPES", "CgroupLink", "TC_DIRECTIONS", "TcFilterAttachment", "TcxLink",
    "XDP_MODES", "XdpLink", "XdpNetlinkAttachment", "attach_cgroup", "attach_tc",
    "attach_xdp", "cgroup2_root", "kernel_feature", "xdp_state",
]
