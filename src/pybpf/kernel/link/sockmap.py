"""sk_msg and sk_skb programs on a sockmap or sockhash: they run for the sockets in the
map (sk_msg on sendmsg/sendfile, sk_skb stream parser/verdict and verdict on received
data). A sockmap link (BPF_LINK_CREATE with the map's fd, Linux 6.10+), or the older
BPF_PROG_ATTACH to the map, removed with BPF_PROG_DETACH on close."""

from __future__ import annotations

import errno as _errno
import os
import weakref
from typing import Any

from ..abi import AttachType
from ..errors import KernelError, NotSupportedError, kernel_error
from ..fd import FD, Owner, fd_of
from ..objects import prog_id_of
from .base import FinalizedAttachment, Link, LinkInfo, link_create, link_kind_direction
from .netbase import _NOT_SUPPORTED, _privilege, kernel_feature
from .netns import _prog_detach, prog_attach

SOCKMAP_ATTACH_TYPES = (AttachType.SK_MSG_VERDICT, AttachType.SK_SKB_STREAM_PARSER,
                        AttachType.SK_SKB_STREAM_VERDICT, AttachType.SK_SKB_VERDICT)


def _map_label(sockmap: Any) -> str:
    name = getattr(sockmap, "name", "")
    name = name if isinstance(name, str) else ""
    return f"map {name}" if name else f"map fd {fd_of(sockmap)}"


class SockmapLink(Link):
    """A program on a sockmap/sockhash through a sockmap link."""

    kind = "sockmap"

    def __init__(self, link: Link, label: str, attach_type: AttachType) -> None:
        super().__init__(link._fd, "sockmap", f"{label} {link_kind_direction(attach_type)}")
        self.attach_type = attach_type


class SockmapProgAttachment(FinalizedAttachment):
    """A program attached to a sockmap with BPF_PROG_ATTACH: BPF_PROG_DETACH on close(),
    `with` exit or gc (the map's fd is held until then)."""

    kind = "sockmap"

    def __init__(self, prog: FD, sockmap: FD, label: str, attach_type: AttachType) -> None:
        self._fd = prog
        self.target = f"{label} {link_kind_direction(attach_type)}"
        self.attach_type = attach_type
        self._finalizer = weakref.finalize(self, _prog_detach, sockmap, prog, attach_type)

    def info(self) -> LinkInfo:
        return LinkInfo(0, 0, prog_id_of(self._fd), bytes(48), self.kind, self.target)

    def pin(self, path: Any) -> None:
        raise self._not_a_link("BPF_OBJ_PIN")


def attach_sockmap(prog: "int | Owner", sockmap: "int | Owner | FD", attach_type: int, *,
                   use_link: bool | None = None
                   ) -> "SockmapLink | SockmapProgAttachment":
    """Attach an sk_msg (AttachType.SK_MSG_VERDICT) or sk_skb (SK_SKB_STREAM_PARSER,
    SK_SKB_STREAM_VERDICT, SK_SKB_VERDICT) program to a sockmap or sockhash. `use_link`
    True: a sockmap link only; False: BPF_PROG_ATTACH only; None: the link, else
    PROG_ATTACH where the kernel has no sockmap links."""
    try:
        at = AttachType(attach_type)
    except ValueError:
        raise ValueError(f"unknown attach type {attach_type}") from None
    if at not in SOCKMAP_ATTACH_TYPES:
        raise ValueError(f"attach type {at.name} does not attach to a sockmap (sk_msg "
                         "verdict, sk_skb stream parser/verdict and verdict do)")
    label = _map_label(sockmap)
    sockmap = getattr(sockmap, "kmap", sockmap)  # pybpf.maps' KernelMap wraps the fd
    what = f"{link_kind_direction(at)} on {label}"
    if use_link is not False:
        try:
            return SockmapLink(link_create(prog, sockmap, at, detail=what), label, at)
        except KernelError as e:
            if e.errno in (_errno.EPERM, _errno.EACCES):
                raise _privilege(e, what, "CAP_NET_ADMIN and CAP_BPF") from None
            if e.errno == _errno.EBUSY:
                raise kernel_error(e.errno, e.cmd, f"{what}: a program of this kind is "
                                   "already attached to the map") from None
            if e.errno not in _NOT_SUPPORTED or use_link or kernel_feature("sockmap_link"):
                if use_link and e.errno in _NOT_SUPPORTED and \
                        not kernel_feature("sockmap_link"):
                    raise NotSupportedError(e.errno, e.cmd, f"{what}: sockmap links need "
                                            "Linux 6.10") from None
                raise
    try:
        prog_attach(prog, sockmap, at, detail=what)
    except KernelError as e:
        raise _privilege(e, what, "CAP_NET_ADMIN and CAP_BPF") from None
    mapfd = FD(os.dup(fd_of(sockmap)), "map")
    return SockmapProgAttachment(FD(os.dup(fd_of(prog)), "prog"), mapfd, label, at)


