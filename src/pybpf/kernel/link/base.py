"""What every attachment shares: `Link` (a BPF link fd that detaches on close, pin,
update, info), `FinalizedAttachment` (the attachments that are not BPF links), the
decoded `LinkInfo`, and BPF_LINK_CREATE itself."""

from __future__ import annotations

import ctypes
import dataclasses
import errno as _errno
import os
import socket
import struct
import weakref
from dataclasses import dataclass, field
from typing import Any

from .. import abi
from ..abi import AttachType, BpfCmd, LinkType
from ..errors import ENOTSUPP, KernelError, NotSupportedError, kernel_error
from ..fd import FD, Owner, fd_of
from ..objects import fd_kind, link_get_fd_by_id, obj_get, obj_get_info_by_fd, obj_pin
from ..syscall import bpf
from .netbase import nf_names


@dataclass(frozen=True)
class LinkInfo:
    """BPF_OBJ_GET_INFO_BY_FD of a link: the common fields, the raw type union, and
    decoded from it `kind` (bpftool's link type name: "xdp", "tcx", "cgroup", ...) and
    `target` (what it is attached to: an interface, a cgroup, a tracepoint...)."""

    type: LinkType | int
    id: int
    prog_id: int
    extra: bytes = field(repr=False)
    kind: str = ""
    target: str = ""

    @property
    def cgroup_id(self) -> int:
        return struct.unpack_from("<Q", self.extra, 0)[0]

    @property
    def attach_type(self) -> AttachType | int:
        """The attach type, for the link types that report one (cgroup, tcx, netkit,
        netns, tracing); 0 for the others."""
        offsets: dict[int, int] = {LinkType.CGROUP: 8, LinkType.TCX: 4, LinkType.NETKIT: 4,
                                   LinkType.NETNS: 4, LinkType.TRACING: 0,
                                   LinkType.SOCKMAP: 4}
        off = offsets.get(self.type)
        if off is None:
            return 0
        return _enum(AttachType, struct.unpack_from("<I", self.extra, off)[0])

    @property
    def ifindex(self) -> int:
        """The interface of an XDP, tcx or netkit link (0 once detached)."""
        if self.type in (LinkType.XDP, LinkType.TCX, LinkType.NETKIT):
            return struct.unpack_from("<I", self.extra, 0)[0]
        return 0


def _enum(cls: Any, value: int) -> Any:
    try:
        return cls(value)
    except ValueError:
        return value


def link_kind(link_type: int) -> str:
    """bpftool's name of a link type ("raw_tracepoint", "xdp", "tcx", ...)."""
    t = _enum(LinkType, link_type)
    return t.name.lower() if isinstance(t, LinkType) else f"type {link_type}"


def _ifname(ifindex: int) -> str:
    if not ifindex:
        return "(detached)"
    try:
        return socket.if_indextoname(ifindex)
    except OSError:
        return f"ifindex {ifindex}"


def _link_target(t: Any, extra: bytes, name: bytes) -> str:
    """What a link is attached to, from its info union (and the name buffer)."""
    u32 = lambda off: struct.unpack_from("<I", extra, off)[0]  # noqa: E731
    if t in (LinkType.XDP,):
        return _ifname(u32(0))
    if t in (LinkType.TCX, LinkType.NETKIT):
        direction = link_kind_direction(_enum(AttachType, u32(4)))
        return f"{_ifname(u32(0))} {direction}"
    if t is LinkType.CGROUP:
        cg = struct.unpack_from("<Q", extra, 0)[0]
        return f"cgroup id {cg} {link_kind_direction(_enum(AttachType, u32(8)))}" if cg \
            else "(detached)"
    if t is LinkType.RAW_TRACEPOINT:
        return name.split(b"\0", 1)[0].decode(errors="replace")
    if t is LinkType.TRACING:
        return f"btf id {u32(8)} (btf obj {u32(4)})"
    if t is LinkType.NETNS:
        return f"netns ino {u32(0)} {link_kind_direction(_enum(AttachType, u32(4)))}"
    if t is LinkType.SOCKMAP:
        return f"map id {u32(0)} {link_kind_direction(_enum(AttachType, u32(4)))}"
    if t is LinkType.KPROBE_MULTI:
        count, flags = struct.unpack_from("<II", extra, 8)
        return f"{'kretprobe' if flags & 1 else 'kprobe'}.multi {count} functions"
    if t is LinkType.NETFILTER:
        pf, hook, prio = struct.unpack_from("<IIi", extra, 0)
        return " ".join(nf_names(pf, hook)) + f" prio {prio}"
    if t is LinkType.PERF_EVENT:
        ptype = u32(0)
        if ptype == 5:  # BPF_PERF_EVENT_TRACEPOINT: { u64 tp_name; u32 name_len; }
            return "tracepoint " + name.split(b"\0", 1)[0].decode(errors="replace")
        if ptype in (1, 2):  # uprobe / uretprobe: { u64 file_name; u32 name_len; u32 offset }
            off = u32(20)
            path = name.split(b"\0", 1)[0].decode(errors="replace")
            return f"{'uretprobe' if ptype == 2 else 'uprobe'} {path}:{off:#x}"
        if ptype in (3, 4):  # kprobe / kretprobe: { u64 func_name; u32 name_len; u32 offset }
            off = u32(20)
            func = name.split(b"\0", 1)[0].decode(errors="replace")
            return f"{'kretprobe' if ptype == 4 else 'kprobe'} {func}" + \
                (f"+{off:#x}" if off else "")
        if ptype == 6:  # a perf event: { u64 config; u32 type }
            config, etype = struct.unpack_from("<QI", extra, 8)
            return f"perf event type {etype} config {config}"
        return f"perf event type {ptype}"
    return ""


def link_kind_direction(attach_type: Any) -> str:
    """A short name of an attach type ("ingress", "egress", "connect4"...)."""
    if not isinstance(attach_type, AttachType):
        return f"attach type {attach_type}"
    name = attach_type.name.lower()
    for prefix in ("tcx_", "netkit_", "cgroup_inet_", "cgroup_", "trace_"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def link_info_of(obj: "int | FD | Owner") -> LinkInfo:
    """BPF_OBJ_GET_INFO_BY_FD of a link fd, with its kind and target decoded."""
    info = abi.BpfLinkInfo()
    name = ctypes.create_string_buffer(512)
    # first call: the type; second, with the name buffer where the type has one
    obj_get_info_by_fd(obj, info)
    t = _enum(LinkType, info.type)
    if t is LinkType.RAW_TRACEPOINT:
        struct.pack_into("<QI", abi.raw_bytes(info.extra), 0, ctypes.addressof(name), len(name))
        obj_get_info_by_fd(obj, info)
    elif t is LinkType.PERF_EVENT:
        ptype = struct.unpack_from("<I", bytes(info.extra), 0)[0]
        if ptype in (1, 2, 3, 4, 5):
            info = abi.BpfLinkInfo()
            struct.pack_into("<IIQI", abi.raw_bytes(info.extra), 0, ptype, 0,
                             ctypes.addressof(name), len(name))
            try:
                obj_get_info_by_fd(obj, info)
            except KernelError:
                obj_get_info_by_fd(obj, info := abi.BpfLinkInfo())
    extra = bytes(info.extra)
    return LinkInfo(t, info.id, info.prog_id, extra, link_kind(info.type),
                    _link_target(t, extra, name.raw))


# link types whose kernel ops have update_prog (the others refuse BPF_LINK_UPDATE)
UPDATABLE_LINK_KINDS = frozenset({"cgroup", "xdp", "tcx", "netkit", "netns", "iter",
                                  "sockmap", "struct_ops", ""})


class Link(Owner):
    """An attachment of a program to a hook. Closing it (or leaving its `with` block,
    or dropping it) detaches the program, unless it is pinned. For a BPF link this
    object owns the link's fd; the other attachments (netlink XDP, cls_bpf filters,
    perf-event ioctls, socket filters) subclass it with the same interface.

    `kind` and `target` say what it is attached to, as the link's info() does."""

    kind: str = ""
    target: str = ""

    def __init__(self, fd: FD, kind: str = "", target: str = "") -> None:
        self._fd = fd
        if kind:
            self.kind = kind
        if target:
            self.target = target

    @property
    def is_bpf_link(self) -> bool:
        """True when the kernel holds this attachment as a BPF link (it has an id and
        can be pinned)."""
        return True

    def info(self) -> LinkInfo:
        """The kernel's view (BPF_OBJ_GET_INFO_BY_FD): id, prog_id, kind, target. The
        target is the one this handle was attached to when it knows it (an interface
        index names a different device in another network namespace)."""
        info = link_info_of(self)
        if self.target and info.id:
            detached = info.target == "(detached)"
            return dataclasses.replace(info, target=self.target + (" (detached)" if detached
                                                                   else ""))
        return info

    @property
    def id(self) -> int:
        return self.info().id

    @property
    def prog_id(self) -> int:
        return self.info().prog_id

    def detach(self) -> None:
        """Detach now (BPF_LINK_DETACH), keeping the (now defunct) fd: a pinned link is
        detached too. Where the kernel cannot force-detach this kind of link, it is
        closed instead (which detaches it unless it is pinned)."""
        attr = abi.LinkDetachAttr(link_fd=self.fd)
        try:
            bpf(BpfCmd.LINK_DETACH, attr, f"{self.kind or 'link'} {self.target}".strip())
        except KernelError as e:
            if e.errno not in (_errno.EOPNOTSUPP, _errno.EINVAL):
                raise
            self.close()

    def update(self, new_prog: "int | FD | Owner", *,
               old_prog: "int | FD | Owner | None" = None) -> None:
        """BPF_LINK_UPDATE: swap in `new_prog` atomically (the hook never runs without a
        program); with `old_prog`, only if that is the program attached now (EPERM
        otherwise). Kinds that cannot be updated raise NotSupportedError."""
        attr = abi.LinkUpdateAttr(link_fd=self.fd, new_prog_fd=fd_of(new_prog))
        if old_prog is not None:
            attr.flags = abi.BPF_F_REPLACE
            attr.old_prog_fd = fd_of(old_prog)
        try:
            bpf(BpfCmd.LINK_UPDATE, attr, f"{self.kind or 'link'} {self.target}".strip())
        except KernelError as e:
            # links without update_prog answer EINVAL (raw_tp, perf_event, tracing...)
            if e.errno in (_errno.EOPNOTSUPP, ENOTSUPP) or (
                    e.errno == _errno.EINVAL and self.kind not in UPDATABLE_LINK_KINDS):
                raise NotSupportedError(e.errno, "BPF_LINK_UPDATE",
                                        f"a {self.kind or 'link'} link cannot be updated "
                                        "with a new program on this kernel") from None
            raise

    def pin(self, path: str | os.PathLike[str]) -> None:
        """Pin the link at `path` (on a bpffs): it stays attached after this process
        closes it or exits, until the pin is removed (unpin) and every fd closed."""
        obj_pin(self, path)
        self.pinned_path = os.fspath(path)

    pinned_path: str | None = None

    def unpin(self) -> None:
        """Remove the pin made by pin() (the link stays attached while this fd is open)."""
        if self.pinned_path is not None:
            try:
                os.unlink(self.pinned_path)
            except FileNotFoundError:
                pass
            self.pinned_path = None

    @classmethod
    def from_pin(cls, path: str | os.PathLike[str]) -> "Link":
        """Open the link pinned at `path` (BPF_OBJ_GET); closing it does not detach it
        while the pin exists."""
        fd = obj_get(path)
        if fd_kind(fd) != "link":
            kind = fd_kind(fd)
            fd.close()
            raise kernel_error(_errno.EINVAL, "BPF_OBJ_GET",
                               f"{os.fspath(path)} is a pinned {kind}, not a link")
        link = cls(fd)
        info = link.info()
        link.kind, link.target = info.kind, info.target
        link.pinned_path = os.fspath(path)
        return link

    @classmethod
    def from_id(cls, link_id: int) -> "Link":
        """A new fd on the link with this id (BPF_LINK_GET_FD_BY_ID)."""
        link = cls(link_get_fd_by_id(link_id))
        info = link.info()
        link.kind, link.target = info.kind, info.target
        return link

    def _not_a_link(self, what: str) -> NotSupportedError:
        return NotSupportedError(_errno.EOPNOTSUPP, what,
                                 f"{self.kind} attachment {self.target} is not a BPF link")

    def __repr__(self) -> str:
        what = " ".join(x for x in (self.kind, self.target) if x)
        state = "closed" if self.closed else f"fd={self._fd.fd}"
        return f"<{type(self).__name__}{' ' + what if what else ''} {state}>"


class FinalizedAttachment(Link):
    """An attachment that is not a BPF link (netlink XDP, a cls_bpf filter, a socket
    filter): no id, no pin; a finalizer set by the subclass (`self._finalizer`, a
    weakref.finalize) removes it on close(), detach(), or when it is dropped."""

    _finalizer: weakref.finalize

    @property
    def is_bpf_link(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def close(self) -> None:
        self._finalizer()

    def detach(self) -> None:
        self.close()


def link_create(prog: "int | FD | Owner", target: "int | FD | Owner", attach_type: int,
                flags: int = 0, *, target_btf_id: int = 0, bpf_cookie: int = 0,
                relative_fd: int = 0, expected_revision: int = 0,
                extra: bytes = b"", detail: str = "") -> Link:
    """BPF_LINK_CREATE with the generic attr: `target` is the fd (cgroup, netns, ...)
    or an ifindex (pass an int); `extra` sets the raw type-specific union (48 bytes)
    and the keyword fields set its common members."""
    attr = abi.LinkCreateAttr(prog_fd=fd_of(prog), target_fd=fd_of(target),
                              attach_type=attach_type, flags=flags)
    if extra:
        if len(extra) > 48:
            raise ValueError("link_create extra is at most 48 bytes")
        ctypes.memmove(ctypes.addressof(attr.extra), extra, len(extra))
    if target_btf_id:
        attr.extra.target_btf_id = target_btf_id
    if bpf_cookie:
        attr.extra.perf_event.bpf_cookie = bpf_cookie
    if relative_fd or expected_revision:
        attr.extra.cgroup.relative_fd = relative_fd
        attr.extra.cgroup.expected_revision = expected_revision
    return Link(FD(bpf(BpfCmd.LINK_CREATE, attr, detail), "link"))
