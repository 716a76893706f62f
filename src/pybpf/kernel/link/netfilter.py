"""Netfilter hooks (BPF_PROG_TYPE_NETFILTER, Linux 6.4+): a netfilter link
(BPF_LINK_CREATE, attach type BPF_NETFILTER) registers the program as a hook of a
protocol family (ipv4, ipv6) at a hook point (prerouting, local_in, forward,
local_out, postrouting) with a priority, in the network namespace of the calling
thread. The program returns NF_DROP (0) or NF_ACCEPT (1)."""

from __future__ import annotations

import errno as _errno
import struct

from ..abi import AttachType
from ..errors import KernelError, NotSupportedError, kernel_error
from ..fd import Owner
from .base import Link, link_create
from .netbase import _NOT_SUPPORTED, NF_HOOKS, NF_PROTOCOLS, _privilege, kernel_feature, \
    nf_names

BPF_F_NETFILTER_IP_DEFRAG = 1
NF_IP_PRI_FIRST, NF_IP_PRI_LAST = -(2**31), 2**31 - 1


def _lookup(table: dict[str, int], value: "str | int", what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if value in table.values():
            return value
    elif isinstance(value, str):
        key = value.lower().removeprefix("nf_inet_").removeprefix("nfproto_")
        key = key.replace("-", "_").replace("input", "local_in").replace("output",
                                                                          "local_out")
        if key in table:
            return table[key]
    raise ValueError(f"netfilter {what} {value!r}: one of {', '.join(table)}")


class NetfilterLink(Link):
    """A program attached as a netfilter hook. `pf`, `hook` (numbers), `priority` and
    `defrag` say where; info().target reads "ipv4 local_in prio -100"."""

    kind = "netfilter"

    def __init__(self, link: Link, pf: int, hook: int, priority: int, defrag: bool) -> None:
        pfname, hookname = nf_names(pf, hook)
        super().__init__(link._fd, "netfilter", f"{pfname} {hookname} prio {priority}")
        self.pf, self.hook, self.priority, self.defrag = pf, hook, priority, defrag


def attach_netfilter(prog: "int | Owner", hook: "str | int", *, pf: "str | int" = "ipv4",
                     priority: int = -128, defrag: bool = False) -> NetfilterLink:
    """Attach a netfilter program at `hook` ("prerouting", "local_in", "forward",
    "local_out", "postrouting" or NF_INET_* numbers) of protocol family `pf` ("ipv4",
    "ipv6") with `priority` (lower runs first; the kernel refuses NF_IP_PRI_FIRST and
    _LAST, and a second BPF hook at the same priority); `defrag` asks for reassembled
    packets (BPF_F_NETFILTER_IP_DEFRAG). The hook is in the calling thread's network
    namespace."""
    hooknum = _lookup(NF_HOOKS, hook, "hook")
    pfnum = _lookup(NF_PROTOCOLS, pf, "protocol family")
    if not NF_IP_PRI_FIRST < priority < NF_IP_PRI_LAST:
        raise ValueError(f"netfilter priority {priority}: the kernel takes values strictly "
                         f"between {NF_IP_PRI_FIRST} and {NF_IP_PRI_LAST}")
    pfname, hookname = nf_names(pfnum, hooknum)
    what = f"netfilter {pfname} {hookname} priority {priority}"
    flags = BPF_F_NETFILTER_IP_DEFRAG if defrag else 0
    extra = struct.pack("<IIiI", pfnum, hooknum, priority, flags)
    try:
        link = link_create(prog, 0, AttachType.NETFILTER, extra=extra, detail=what)
    except KernelError as e:
        if e.errno in (_errno.EPERM, _errno.EACCES):
            raise _privilege(e, what, "CAP_NET_ADMIN and CAP_BPF") from None
        if e.errno == _errno.EBUSY:
            raise kernel_error(e.errno, e.cmd, f"{what}: another BPF netfilter hook has "
                                               "that priority there") from None
        if e.errno == _errno.EOPNOTSUPP and defrag:
            raise NotSupportedError(e.errno, e.cmd, f"{what}: IP defragmentation for BPF "
                                    "hooks needs the nf_defrag_ipv4/ipv6 modules "
                                    "(CONFIG_NF_DEFRAG_IPV4/6)") from None
        if e.errno in _NOT_SUPPORTED and not kernel_feature("netfilter_link"):
            raise NotSupportedError(e.errno, e.cmd, f"{what}: netfilter links need Linux "
                                    "6.4 with CONFIG_NETFILTER_BPF_LINK") from None
        raise
    return NetfilterLink(link, pfnum, hooknum, priority, defrag)
