"""A small rtnetlink client over socket(AF_NETLINK, NETLINK_ROUTE), in pure Python.

Just what attaching needs: interface lookup and link dumps with their XDP state
(RTM_GETLINK, IFLA_XDP), setting or clearing an XDP program (RTM_SETLINK, IFLA_XDP),
and tc's clsact qdisc with cls_bpf filters (RTM_{NEW,DEL,GET}{QDISC,TFILTER}).
Errors carry the kernel's extended-ack message (NETLINK_EXT_ACK), e.g. "Native and
generic XDP can't be active at the same time.".

Written here rather than taken from pyroute2: the handful of messages is ~300 lines,
the errors must be pybpf KernelErrors with the kernel's own wording, and the kernel
backend stays dependency-free (pyroute2's IPRoute pulls in a large, threaded
framework whose API has changed between releases).
"""

from __future__ import annotations

import errno as _errno
import itertools
import os
import socket
import struct
from dataclasses import dataclass, field
from typing import Iterator

from ..uapi import (  # noqa: F401  (the rtnetlink UAPI, re-exported for the link modules)
    CLONE_NEWNET, ETH_P_ALL, IFLA_IFNAME, IFLA_XDP, IFLA_XDP_ATTACHED, IFLA_XDP_DRV_PROG_ID,
    IFLA_XDP_EXPECTED_FD, IFLA_XDP_FD, IFLA_XDP_FLAGS, IFLA_XDP_HW_PROG_ID, IFLA_XDP_PROG_ID,
    IFLA_XDP_SKB_PROG_ID, NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_ROUTE, NLA_F_NESTED,
    NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CREATE, NLM_F_EXCL, NLM_F_MATCH, NLM_F_MULTI,
    NLM_F_REPLACE, NLM_F_REQUEST, NLM_F_ROOT, NLMSG_DONE, NLMSG_ERROR, NLMSGERR_ATTR_MSG,
    RTM_DELLINK, RTM_DELQDISC, RTM_DELTFILTER, RTM_GETLINK, RTM_GETQDISC, RTM_GETTFILTER,
    RTM_NEWLINK, RTM_NEWQDISC, RTM_NEWTFILTER, RTM_SETLINK, TC_H_CLSACT, TC_H_MIN_EGRESS,
    TC_H_MIN_INGRESS, TC_H_ROOT, TCA_BPF_CLASSID, TCA_BPF_FD, TCA_BPF_FLAG_ACT_DIRECT,
    TCA_BPF_FLAGS, TCA_BPF_ID, TCA_BPF_NAME, TCA_BPF_TAG, TCA_KIND, TCA_OPTIONS,
    XDP_ATTACHED_DRV, XDP_ATTACHED_HW, XDP_ATTACHED_MULTI, XDP_ATTACHED_NONE, XDP_ATTACHED_SKB,
    XDP_FLAGS_DRV_MODE, XDP_FLAGS_HW_MODE, XDP_FLAGS_REPLACE, XDP_FLAGS_SKB_MODE,
    XDP_FLAGS_UPDATE_IF_NOEXIST,
)
from .errors import KernelError, kernel_error

SOL_NETLINK = 270  # linux/socket.h (a #define of the kernel's, not in the UAPI headers)
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLA_TYPE_MASK = 0x3FFF  # ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER), as a 16-bit type
XDP_MODE_FLAGS = {"skb": XDP_FLAGS_SKB_MODE, "drv": XDP_FLAGS_DRV_MODE,
                  "hw": XDP_FLAGS_HW_MODE}


def tc_h_make(major: int, minor: int) -> int:
    """TC_H_MAKE: a 32-bit handle from its major (upper 16 bits) and minor halves."""
    return (major & 0xFFFF0000) | (minor & 0x0000FFFF)


# --- attributes ---------------------------------------------------------------------------

def nla(kind: int, payload: bytes) -> bytes:
    """One netlink attribute (struct nlattr + payload), padded to 4 bytes."""
    raw = struct.pack("=HH", 4 + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


def nla_u32(kind: int, value: int) -> bytes:
    return nla(kind, struct.pack("=I", value & 0xFFFFFFFF))


def nla_s32(kind: int, value: int) -> bytes:
    return nla(kind, struct.pack("=i", value))


def nla_str(kind: int, value: str) -> bytes:
    return nla(kind, value.encode() + b"\0")


def nla_nested(kind: int, *children: bytes) -> bytes:
    return nla(kind | NLA_F_NESTED, b"".join(children))


def parse_attrs(data: bytes) -> dict[int, bytes]:
    """The attributes of a message body: {type: payload} (the last one wins); a
    truncated attribute ends the parse."""
    out: dict[int, bytes] = {}
    off = 0
    while off + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, off)
        if length < 4 or off + length > len(data):
            break
        out[kind & NLA_TYPE_MASK] = data[off + 4:off + length]
        off += (length + 3) & ~3
    return out


def attr_u32(attrs: dict[int, bytes], kind: int, default: int = 0) -> int:
    raw = attrs.get(kind)
    return struct.unpack_from("=I", raw)[0] if raw and len(raw) >= 4 else default


def attr_str(attrs: dict[int, bytes], kind: int) -> str:
    return attrs.get(kind, b"").split(b"\0", 1)[0].decode(errors="replace")


# --- the socket -----------------------------------------------------------------------------

class NetlinkError(KernelError):
    """An rtnetlink request the kernel refused; `detail` holds its extended-ack message."""


def _netlink_error(err: int, what: str, msg: str) -> KernelError:
    detail = f"{what}: {msg}" if msg else what
    cls = type(kernel_error(err, "netlink"))
    if cls is KernelError:
        return NetlinkError(err, "netlink", detail)
    # the errno's class (KernelPermissionError, ...) and NetlinkError together
    combo = type(f"Netlink{cls.__name__.removeprefix('Kernel')}", (NetlinkError, cls), {})
    return combo(err, "netlink", detail)


def _setns(fd: int) -> None:
    import ctypes
    from .syscall import libc
    if libc().setns(ctypes.c_int(fd), ctypes.c_int(CLONE_NEWNET)) != 0:
        err = ctypes.get_errno()
        raise kernel_error(err, "setns", "network namespace")


def current_netns() -> int:
    """An fd (the caller owns it) on the calling thread's network namespace."""
    return os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)


def _netlink_socket(netns: int | None) -> socket.socket:
    """A NETLINK_ROUTE socket in the namespace `netns` (an fd; None: the caller's). A
    socket stays in the namespace it was made in, so the thread enters `netns` only to
    create it (needs CAP_SYS_ADMIN) and returns at once."""
    def make() -> socket.socket:
        return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                             NETLINK_ROUTE)
    if netns is None:
        return make()
    here = current_netns()
    try:
        if os.fstat(here).st_ino == os.fstat(netns).st_ino:
            return make()
        _setns(netns)
        try:
            return make()
        finally:
            _setns(here)
    finally:
        os.close(here)


class RtNetlink:
    """One NETLINK_ROUTE socket (in the caller's network namespace, or in `netns`, an
    fd) with extended acks; `request()` sends a message and returns the replies (a
    dump's messages, or [] for an acknowledged change)."""

    def __init__(self, netns: int | None = None) -> None:
        self.sock = _netlink_socket(netns)
        try:
            self.sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
            self.sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        except OSError:
            pass  # old kernels: errors come without a message
        self.sock.bind((0, 0))
        self._seq = itertools.count(1)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "RtNetlink":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, msg_type: int, flags: int, body: bytes, what: str) -> list[tuple[int, bytes]]:
        """Send one request; [(type, payload)] of the replies. A refusal raises the
        errno's KernelError with the kernel's extack text and `what`."""
        seq = next(self._seq)
        header = struct.pack("=IHHII", 16 + len(body), msg_type, flags | NLM_F_REQUEST, seq, 0)
        self.sock.sendto(header + body, (0, 0))
        replies: list[tuple[int, bytes]] = []
        while True:
            data = self.sock.recv(1 << 20)
            off = 0
            while off + 16 <= len(data):
                length, kind, mflags, mseq, _ = struct.unpack_from("=IHHII", data, off)
                if length < 16 or off + length > len(data):
                    break
                payload = data[off + 16:off + length]
                off += (length + 3) & ~3
                if mseq != seq:
                    continue
                if kind == NLMSG_DONE:
                    return replies
                if kind == NLMSG_ERROR:
                    err = -struct.unpack_from("=i", payload)[0]
                    if err == 0:
                        return replies
                    text = ""
                    if mflags & NLM_F_ACK_TLVS:
                        # with NETLINK_CAP_ACK the request's header (16 bytes) follows
                        # the error number, without its payload
                        text = attr_str(parse_attrs(payload[4 + 16:]), NLMSGERR_ATTR_MSG)
                    raise _netlink_error(err, what, text)
                replies.append((kind, payload))
                if not mflags & NLM_F_MULTI:
                    return replies


# --- interfaces and XDP -------------------------------------------------------------------------

IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change


@dataclass(frozen=True)
class XdpState:
    """An interface's XDP attachment as RTM_GETLINK reports it. `mode` is "none",
    "skb", "drv", "hw" or "multi"; the prog ids are per mode."""

    mode: str
    prog_id: int = 0
    skb_prog_id: int = 0
    drv_prog_id: int = 0
    hw_prog_id: int = 0

    def prog_ids(self) -> dict[str, int]:
        """{mode: prog id} of every program attached (bpftool's "mode"s)."""
        if self.mode == "multi":
            return {m: i for m, i in (("generic", self.skb_prog_id), ("driver", self.drv_prog_id),
                                      ("offload", self.hw_prog_id)) if i}
        name = {"skb": "generic", "drv": "driver", "hw": "offload"}.get(self.mode)
        return {name: self.prog_id} if name and self.prog_id else {}


_ATTACHED_NAMES = {XDP_ATTACHED_NONE: "none", XDP_ATTACHED_DRV: "drv",
                   XDP_ATTACHED_SKB: "skb", XDP_ATTACHED_HW: "hw",
                   XDP_ATTACHED_MULTI: "multi"}


@dataclass(frozen=True)
class Interface:
    """One network interface: index, name and XDP state."""

    index: int
    name: str
    xdp: XdpState = field(default_factory=lambda: XdpState("none"))


def _parse_xdp(raw: bytes | None) -> XdpState:
    if not raw:
        return XdpState("none")
    a = parse_attrs(raw)
    attached = a.get(IFLA_XDP_ATTACHED, b"\0")[0]
    return XdpState(_ATTACHED_NAMES.get(attached, str(attached)), attr_u32(a, IFLA_XDP_PROG_ID),
                    attr_u32(a, IFLA_XDP_SKB_PROG_ID), attr_u32(a, IFLA_XDP_DRV_PROG_ID),
                    attr_u32(a, IFLA_XDP_HW_PROG_ID))


def _parse_link(payload: bytes) -> Interface:
    _, _, index, _, _ = IFINFOMSG.unpack_from(payload)
    attrs = parse_attrs(payload[IFINFOMSG.size:])
    return Interface(index, attr_str(attrs, IFLA_IFNAME), _parse_xdp(attrs.get(IFLA_XDP)))


def interfaces(netns: int | None = None) -> list[Interface]:
    """Every interface of the caller's network namespace, or of `netns` (RTM_GETLINK)."""
    with RtNetlink(netns) as nl:
        replies = nl.request(RTM_GETLINK, NLM_F_DUMP, IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0),
                             "RTM_GETLINK dump")
    return [_parse_link(p) for kind, p in replies if kind == RTM_NEWLINK]


def interface(ifindex: int, netns: int | None = None) -> Interface:
    """One interface by index (a NetlinkError ENODEV if none)."""
    with RtNetlink(netns) as nl:
        replies = nl.request(RTM_GETLINK, 0, IFINFOMSG.pack(socket.AF_UNSPEC, 0, ifindex, 0, 0),
                             f"interface index {ifindex}")
    for kind, p in replies:
        if kind == RTM_NEWLINK:
            return _parse_link(p)
    raise _netlink_error(_errno.ENODEV, f"interface index {ifindex}", "")


def set_xdp(ifindex: int, prog_fd: int, flags: int = 0, expected_fd: int | None = None,
            what: str = "", netns: int | None = None) -> None:
    """RTM_SETLINK with IFLA_XDP: attach `prog_fd` (-1 detaches) with XDP_FLAGS_*;
    `expected_fd` (with XDP_FLAGS_REPLACE) makes it atomic against the program there."""
    xdp = [nla_s32(IFLA_XDP_FD, prog_fd)]
    if flags:
        xdp.append(nla_u32(IFLA_XDP_FLAGS, flags))
    if expected_fd is not None:
        xdp.append(nla_s32(IFLA_XDP_EXPECTED_FD, expected_fd))
    body = IFINFOMSG.pack(socket.AF_UNSPEC, 0, ifindex, 0, 0) + nla_nested(IFLA_XDP, *xdp)
    with RtNetlink(netns) as nl:
        nl.request(RTM_SETLINK, NLM_F_ACK, body, what or f"IFLA_XDP on ifindex {ifindex}")


# --- tc: clsact qdisc and cls_bpf filters --------------------------------------------------------

TCMSG = struct.Struct("=BxxxiIII")  # family, ifindex, handle, parent, info


def _tcmsg(ifindex: int, handle: int, parent: int, info: int) -> bytes:
    return TCMSG.pack(socket.AF_UNSPEC, ifindex, handle, parent, info)


@dataclass(frozen=True)
class TcFilter:
    """A cls_bpf filter as a dump reports it."""

    ifindex: int
    parent: int
    handle: int
    priority: int
    protocol: int
    kind: str
    prog_id: int
    name: str
    direct_action: bool

    @property
    def direction(self) -> str:
        minor = self.parent & 0xFFFF
        return {TC_H_MIN_INGRESS: "ingress", TC_H_MIN_EGRESS: "egress"}.get(minor, hex(self.parent))


def qdiscs(ifindex: int, netns: int | None = None) -> list[tuple[str, int, int]]:
    """(kind, handle, parent) of the interface's qdiscs."""
    with RtNetlink(netns) as nl:
        replies = nl.request(RTM_GETQDISC, NLM_F_DUMP, _tcmsg(0, 0, 0, 0), "RTM_GETQDISC dump")
    out = []
    for kind, p in replies:
        if kind != RTM_NEWQDISC:
            continue
        _, idx, handle, parent, _ = TCMSG.unpack_from(p)
        if idx == ifindex:
            out.append((attr_str(parse_attrs(p[TCMSG.size:]), TCA_KIND), handle, parent))
    return out


def has_clsact(ifindex: int, netns: int | None = None) -> bool:
    return any(kind == "clsact" for kind, _, _ in qdiscs(ifindex, netns))


def add_clsact(ifindex: int, what: str = "", netns: int | None = None) -> None:
    """Create the clsact qdisc (EEXIST if there is one)."""
    body = _tcmsg(ifindex, 0xFFFF0000, TC_H_CLSACT, 0) + nla_str(TCA_KIND, "clsact")
    with RtNetlink(netns) as nl:
        nl.request(RTM_NEWQDISC, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body,
                   what or f"clsact qdisc on ifindex {ifindex}")


def del_clsact(ifindex: int, netns: int | None = None) -> None:
    body = _tcmsg(ifindex, 0xFFFF0000, TC_H_CLSACT, 0) + nla_str(TCA_KIND, "clsact")
    with RtNetlink(netns) as nl:
        nl.request(RTM_DELQDISC, NLM_F_ACK, body, f"clsact qdisc on ifindex {ifindex}")


def _filter_parent(direction: str) -> int:
    minor = {"ingress": TC_H_MIN_INGRESS, "egress": TC_H_MIN_EGRESS}[direction]
    return tc_h_make(TC_H_CLSACT, minor)


def add_bpf_filter(ifindex: int, direction: str, prog_fd: int, *, handle: int, priority: int,
                   name: str = "", replace: bool = False, what: str = "",
                   netns: int | None = None) -> None:
    """A cls_bpf direct-action filter for all protocols on the clsact hook `direction`
    at (priority, handle); `replace` swaps the program of an existing one."""
    info = tc_h_make(priority << 16, socket.htons(ETH_P_ALL))
    opts = [nla_u32(TCA_BPF_FD, prog_fd), nla_u32(TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT)]
    if name:
        opts.append(nla_str(TCA_BPF_NAME, name))
    body = (_tcmsg(ifindex, handle, _filter_parent(direction), info) + nla_str(TCA_KIND, "bpf")
            + nla_nested(TCA_OPTIONS, *opts))
    flags = NLM_F_ACK | NLM_F_CREATE | (NLM_F_REPLACE if replace else NLM_F_EXCL)
    with RtNetlink(netns) as nl:
        nl.request(RTM_NEWTFILTER, flags, body,
                   what or f"cls_bpf filter on ifindex {ifindex} {direction}")


def del_bpf_filter(ifindex: int, direction: str, *, handle: int, priority: int,
                   netns: int | None = None) -> None:
    info = tc_h_make(priority << 16, socket.htons(ETH_P_ALL))
    body = _tcmsg(ifindex, handle, _filter_parent(direction), info) + nla_str(TCA_KIND, "bpf")
    with RtNetlink(netns) as nl:
        nl.request(RTM_DELTFILTER, NLM_F_ACK, body,
                   f"cls_bpf filter on ifindex {ifindex} {direction}")


def bpf_filters(ifindex: int, direction: str, netns: int | None = None) -> list[TcFilter]:
    """The cls_bpf filters on the interface's clsact hook `direction` ([] without clsact)."""
    body = _tcmsg(ifindex, 0, _filter_parent(direction), 0)
    with RtNetlink(netns) as nl:
        try:
            replies = nl.request(RTM_GETTFILTER, NLM_F_DUMP, body, "RTM_GETTFILTER dump")
        except KernelError as e:
            if e.errno in (_errno.EINVAL, _errno.ENOENT):
                return []  # no clsact qdisc there
            raise
    out = []
    for kind, p in replies:
        if kind != RTM_NEWTFILTER:
            continue
        _, idx, handle, parent, info = TCMSG.unpack_from(p)
        attrs = parse_attrs(p[TCMSG.size:])
        kind_name = attr_str(attrs, TCA_KIND)
        opts = parse_attrs(attrs.get(TCA_OPTIONS, b""))
        if not handle:
            continue  # the per-priority chain head, not a filter
        out.append(TcFilter(idx, parent, handle, info >> 16, socket.ntohs(info & 0xFFFF),
                            kind_name, attr_u32(opts, TCA_BPF_ID), attr_str(opts, TCA_BPF_NAME),
                            bool(attr_u32(opts, TCA_BPF_FLAGS) & TCA_BPF_FLAG_ACT_DIRECT)))
    return out


def ifindex_of(name_or_index: "str | int") -> tuple[int, str]:
    """(ifindex, name) of an interface given by name or index; a missing one raises an
    ENODEV KernelError naming it."""
    if isinstance(name_or_index, bool) or not isinstance(name_or_index, (str, int)):
        raise TypeError(f"an interface is a name or an index, not "
                        f"{type(name_or_index).__name__}")
    try:
        if isinstance(name_or_index, int):
            return name_or_index, socket.if_indextoname(name_or_index)
        if not name_or_index or "\0" in name_or_index or len(name_or_index) >= 16:
            raise OSError(_errno.ENODEV, "bad name")
        return socket.if_nametoindex(name_or_index), name_or_index
    except (OSError, OverflowError):
        where = f"index {name_or_index}" if isinstance(name_or_index, int) else \
            repr(name_or_index)
        ns = os.readlink("/proc/thread-self/ns/net") if os.path.exists(
            "/proc/thread-self/ns/net") else "this network namespace"
        raise kernel_error(_errno.ENODEV, "interface",
                           f"no network interface {where} (in {ns})") from None


def iter_xdp() -> Iterator[Interface]:
    """The interfaces with an XDP program attached."""
    return (i for i in interfaces() if i.xdp.mode != "none")
