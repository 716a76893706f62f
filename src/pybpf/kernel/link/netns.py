"""Programs on a network namespace: sk_lookup (BPF_SK_LOOKUP, Linux 5.9+) and
flow_dissector (BPF_FLOW_DISSECTOR) through a netns link (BPF_LINK_CREATE on the
namespace's fd, Linux 5.8+). A flow dissector can also be attached the old way
(BPF_PROG_ATTACH, one per namespace, detached by BPF_PROG_DETACH), which the kernel
still offers where it has no netns links."""

from __future__ import annotations

import errno as _errno
import os
import weakref
from typing import Any, Callable, TypeVar

from .. import abi
from ..abi import AttachType, BpfCmd
from ..errors import KernelError, NotSupportedError, kernel_error
from ..fd import FD, Owner, fd_of
from ..objects import prog_id_of
from ..syscall import bpf
from .base import FinalizedAttachment, Link, LinkInfo, link_create, link_kind_direction
from .netbase import _NOT_SUPPORTED, _privilege, kernel_feature

T = TypeVar("T")
NETNS_ATTACH_TYPES = (AttachType.SK_LOOKUP, AttachType.FLOW_DISSECTOR)
NETNS_RUN_DIR = "/run/netns"  # where `ip netns add` names namespaces


def open_netns(netns: "str | os.PathLike[str] | int | FD | None" = None) -> tuple[FD, str]:
    """An owned fd on a network namespace and its label: None = the calling thread's
    (/proc/thread-self/ns/net), a path (/proc/PID/ns/net, /run/netns/NAME), a bare name
    of `ip netns` (looked up in /run/netns), or an fd (duplicated)."""
    if isinstance(netns, bool):
        raise TypeError("a network namespace is a path, a name, an fd or None, not a bool")
    if isinstance(netns, (int, FD)):
        num = int(netns) if isinstance(netns, int) else netns.fd
        try:
            return FD(os.dup(num), "netns"), f"netns fd {num}"
        except OSError as e:
            raise kernel_error(e.errno or _errno.EBADF, "netns", f"fd {num}: {e.strerror}") \
                from None
    path = "/proc/thread-self/ns/net" if netns is None else \
        os.fspath(netns)
    if "/" not in path:
        path = os.path.join(NETNS_RUN_DIR, path)
    try:
        nsfd = FD(os.open(path, os.O_RDONLY | os.O_CLOEXEC), "netns")
    except OSError as e:
        raise kernel_error(e.errno or _errno.ENOENT, "netns",
                           f"no network namespace {path} ({e.strerror})") from None
    label = "current netns" if netns is None else path
    try:
        label += f" (ino {os.fstat(nsfd.fd).st_ino})"
    except OSError:
        pass
    return nsfd, label


class NetnsLink(Link):
    """A sk_lookup or flow_dissector program on a network namespace (netns link).
    Closing it (unless pinned) detaches the program; update() swaps it."""

    kind = "netns"

    def __init__(self, link: Link, label: str, attach_type: AttachType) -> None:
        super().__init__(link._fd, "netns", f"{label} {link_kind_direction(attach_type)}")
        self.attach_type = attach_type


class NetnsProgAttachment(FinalizedAttachment):
    """A flow dissector attached with BPF_PROG_ATTACH (no link): BPF_PROG_DETACH on
    close(), `with` exit or gc, in the namespace it was attached to."""

    kind = "netns"

    def __init__(self, prog: FD, netns: FD, label: str, attach_type: AttachType) -> None:
        self._fd = prog
        self.target = f"{label} {link_kind_direction(attach_type)}"
        self.attach_type = attach_type
        self._finalizer = weakref.finalize(self, _prog_detach, netns, prog, attach_type)

    def info(self) -> LinkInfo:
        return LinkInfo(0, 0, prog_id_of(self._fd), bytes(48), self.kind, self.target)

    def pin(self, path: Any) -> None:
        raise self._not_a_link("BPF_OBJ_PIN")


def prog_attach(prog: "int | Owner | FD", target: "int | Owner | FD", attach_type: int,
                flags: int = 0, detail: str = "") -> None:
    """BPF_PROG_ATTACH of `prog` to `target` (a map, netns or cgroup fd)."""
    attr = abi.ProgAttachAttr(attach_bpf_fd=fd_of(prog), attach_type=attach_type,
                              attach_flags=flags)
    attr.target_fd = fd_of(target)
    bpf(BpfCmd.PROG_ATTACH, attr, detail)


def prog_detach(prog: "int | Owner | FD", target: "int | Owner | FD", attach_type: int,
                detail: str = "") -> None:
    """BPF_PROG_DETACH of `prog` from `target`."""
    attr = abi.ProgAttachAttr(attach_bpf_fd=fd_of(prog), attach_type=attach_type)
    attr.target_fd = fd_of(target)
    bpf(BpfCmd.PROG_DETACH, attr, detail)


def _prog_detach(target: FD, prog: FD, attach_type: int) -> None:
    try:
        if attach_type == AttachType.FLOW_DISSECTOR:  # the namespace is the thread's
            in_netns(target, lambda: prog_detach(prog, 0, attach_type))
        else:
            prog_detach(prog, target, attach_type)
    except (KernelError, OSError):
        pass  # detached already, or another program is there now
    finally:
        prog.close()
        target.close()


def in_netns(netns: FD, fn: Callable[[], T]) -> T:
    """fn() run with the calling thread in network namespace `netns` (entered with
    setns and left again; not at all when the thread is there already)."""
    from ..netlink import _setns, current_netns
    here = FD(current_netns(), "netns")
    with here:
        if os.fstat(here.fd).st_ino == os.fstat(netns.fd).st_ino:
            return fn()
        _setns(netns.fd)
        try:
            return fn()
        finally:
            _setns(here.fd)


def attach_netns(prog: "int | Owner", attach_type: int,
                 netns: "str | os.PathLike[str] | int | FD | None" = None, *,
                 use_link: bool | None = None) -> "NetnsLink | NetnsProgAttachment":
    """Attach a sk_lookup (AttachType.SK_LOOKUP) or flow_dissector
    (AttachType.FLOW_DISSECTOR) program to network namespace `netns` (see open_netns;
    default the calling thread's) through a netns link. `use_link` False (flow
    dissector only): BPF_PROG_ATTACH; None: the link, else PROG_ATTACH where the
    kernel has no netns links."""
    try:
        at = AttachType(attach_type)
    except ValueError:
        raise ValueError(f"unknown attach type {attach_type}") from None
    if at not in NETNS_ATTACH_TYPES:
        raise ValueError(f"attach type {at.name} does not attach to a network namespace "
                         "(sk_lookup, flow_dissector do)")
    ns, label = open_netns(netns)
    what = f"{link_kind_direction(at)} on {label}"
    with ns:
        if use_link is not False:
            try:
                link = link_create(prog, ns, at, detail=what)
                return NetnsLink(link, label, at)
            except KernelError as e:
                if e.errno in (_errno.EPERM, _errno.EACCES):
                    raise _privilege(e, what, "CAP_NET_ADMIN and CAP_BPF") from None
                if e.errno in (_errno.EEXIST, _errno.E2BIG):
                    raise kernel_error(e.errno, e.cmd, f"{what}: a program of this kind is "
                                       "already attached to this namespace") from None
                if e.errno not in _NOT_SUPPORTED or kernel_feature("netns_link") or use_link:
                    if e.errno in _NOT_SUPPORTED and not kernel_feature("netns_link"):
                        raise NotSupportedError(e.errno, e.cmd, f"{what}: netns links need "
                                                "Linux 5.8") from None
                    raise
                if at is AttachType.SK_LOOKUP:
                    raise NotSupportedError(e.errno, e.cmd, f"{what}: sk_lookup needs "
                                            "netns links (Linux 5.9)") from None
        if at is AttachType.SK_LOOKUP:
            raise ValueError("sk_lookup programs attach only through netns links")
        try:  # BPF_PROG_ATTACH of a flow dissector: target_fd 0, the thread's namespace
            in_netns(ns, lambda: prog_attach(prog, 0, at, detail=what))
        except KernelError as e:
            if e.errno == _errno.EEXIST:
                raise kernel_error(e.errno, e.cmd, f"{what}: a program of this kind is "
                                   "already attached to this namespace") from None
            raise _privilege(e, what, "CAP_NET_ADMIN and CAP_BPF") from None
        return NetnsProgAttachment(FD(os.dup(fd_of(prog)), "prog"), ns.dup(), label, at)
