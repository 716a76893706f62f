"""Programs on cgroups: a cgroup link (BPF_LINK_CREATE on the cgroup directory's fd) for
every cgroup attach type (cgroup_skb ingress/egress, sock, sock_addr, sock_ops, device,
sysctl, sockopt)."""

from __future__ import annotations

import errno as _errno
import os

from ..abi import AttachType
from ..errors import KernelError, NotSupportedError, kernel_error
from ..fd import FD, Owner
from .base import Link, link_create, link_kind_direction
from .netbase import _NOT_SUPPORTED, _privilege, kernel_feature

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
