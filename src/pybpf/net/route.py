"""bpf_fib_lookup over a NetNamespace: `struct bpf_fib_lookup` (64 bytes, kernel
layout) and the IPv4 / IPv6 forwarding lookups of net/core/filter.c
(bpf_ipv4_fib_lookup, bpf_ipv6_fib_lookup): device and forwarding checks, the FIB
(default rules: local+main then default for IPv4, local then main for IPv6; or one
table with BPF_FIB_LOOKUP_DIRECT/TBID), route types, MTU check, source address,
gateway and neighbour.

Not modelled: policy routing rules other than the defaults, multipath routes,
nexthop objects, lightweight tunnels, route exceptions (learned PMTU), VRFs, and
IPv6 source-specific (subtree) routes.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Literal

from ..uapi import (BPF_FIB_LKUP_RET_BLACKHOLE, BPF_FIB_LKUP_RET_FRAG_NEEDED,
                    BPF_FIB_LKUP_RET_FWD_DISABLED, BPF_FIB_LKUP_RET_NOT_FWDED,
                    BPF_FIB_LKUP_RET_NO_NEIGH, BPF_FIB_LKUP_RET_NO_SRC_ADDR,
                    BPF_FIB_LKUP_RET_PROHIBIT, BPF_FIB_LKUP_RET_SUCCESS,
                    BPF_FIB_LKUP_RET_UNREACHABLE, BPF_FIB_LOOKUP_DIRECT, BPF_FIB_LOOKUP_MARK,
                    BPF_FIB_LOOKUP_OUTPUT,
                    BPF_FIB_LOOKUP_SKIP_NEIGH, BPF_FIB_LOOKUP_SRC, BPF_FIB_LOOKUP_TBID)
from .netdev import IFF_LOOPBACK, IFF_POINTOPOINT
from .netns import (
    AF_INET,
    AF_INET6,
    RT_SCOPE_HOST,
    RT_SCOPE_LINK,
    RT_TABLE_DEFAULT,
    RT_TABLE_LOCAL,
    RT_TABLE_MAIN,
    RTN_BLACKHOLE,
    RTN_PROHIBIT,
    RTN_THROW,
    RTN_UNICAST,
    RTN_UNREACHABLE,
    Address,
    NetNamespace,
    Route,
)

FIB_LOOKUP_SIZE = 64
BPF_FIB_LOOKUP_MASK = (BPF_FIB_LOOKUP_DIRECT | BPF_FIB_LOOKUP_OUTPUT | BPF_FIB_LOOKUP_SKIP_NEIGH
                       | BPF_FIB_LOOKUP_TBID | BPF_FIB_LOOKUP_SRC | BPF_FIB_LOOKUP_MARK)


IP_MAX_MTU = 0xFFFF
IP6_MAX_MTU = 0xFFFF + 40

# offsets in struct bpf_fib_lookup
OFF_FAMILY, OFF_TOT_LEN, OFF_IFINDEX, OFF_TOS, OFF_SRC, OFF_DST, OFF_TBID, OFF_SMAC, \
    OFF_DMAC = 0, 6, 8, 12, 16, 32, 48, 52, 58


@dataclass
class FibParams:
    """A view of a struct bpf_fib_lookup buffer with its fields by name."""

    buf: bytearray

    def _u(self, off: int, n: int, order: Literal["little", "big"] = "little") -> int:
        return int.from_bytes(self.buf[off:off + n], order)

    def _set(self, off: int, n: int, v: int) -> None:
        self.buf[off:off + n] = v.to_bytes(n, "little")

    family = property(lambda s: s.buf[0])
    tot_len = property(lambda s: s._u(OFF_TOT_LEN, 2))
    ifindex = property(lambda s: s._u(OFF_IFINDEX, 4))
    tos = property(lambda s: s.buf[OFF_TOS])
    tbid = property(lambda s: s._u(OFF_TBID, 4))

    def src(self, n: int) -> bytes:
        return bytes(self.buf[OFF_SRC:OFF_SRC + n])

    def dst(self, n: int) -> bytes:
        return bytes(self.buf[OFF_DST:OFF_DST + n])

    def set_mtu_result(self, mtu: int) -> None:
        self._set(OFF_TOT_LEN, 2, mtu & 0xFFFF)

    def set_result(self, ifindex: int, metric: int) -> None:
        self._set(OFF_IFINDEX, 4, ifindex)
        self._set(OFF_TOS, 4, metric & 0xFFFF_FFFF)


def _covers(r: Route, addr: bytes) -> bool:
    a = int.from_bytes(addr, "big")
    d = int.from_bytes(r.dst, "big")
    bits = 8 * len(addr)
    mask = ((1 << r.plen) - 1) << (bits - r.plen) if r.plen else 0
    return (a & mask) == (d & mask)


def _route_error(r: Route) -> int:
    """fib_props[type].error: the lookup's errno for a reject route (0 otherwise)."""
    return {RTN_BLACKHOLE: -errno.EINVAL, RTN_UNREACHABLE: -errno.EHOSTUNREACH,
            RTN_PROHIBIT: -errno.EACCES, RTN_THROW: -errno.EAGAIN}.get(r.type, 0)


def _fib4_table_lookup(ns: NetNamespace, tables: set[int], dst: bytes, tos: int,
                       oif: int) -> tuple[int, Route | None]:
    """fib_table_lookup: longest prefix first; in a prefix local before main, then by
    tos and priority; reject routes end the lookup; a nexthop on another device than a
    given oif is passed over (and shorter prefixes are tried)."""
    cands = [r for r in ns.routes if r.family == AF_INET and r.table in tables
             and _covers(r, dst)]
    cands.sort(key=lambda r: (-r.plen, -r.table, -r.tos, r.metric))
    for r in cands:
        if r.tos and r.tos != (tos & 0xFC):
            continue
        err = _route_error(r)
        if err:
            return err, None
        dev = ns.device(r.oif)
        if dev is None or not dev.up:
            continue
        if oif and r.oif != oif:
            continue
        return 0, r
    return -errno.EAGAIN, None


def _inet_select_addr(ns: NetNamespace, ifindex: int, dst: bytes, scope: int) -> bytes:
    """inet_select_addr: a primary address of the device within `scope` (one in the
    gateway's subnet first), else one of any device's that is not link scope."""
    v4 = [a for a in ns.addresses if a.family == AF_INET and not a.secondary]
    found = b""
    for a in (a for a in v4 if a.ifindex == ifindex):
        if min(a.scope, RT_SCOPE_HOST) > scope:
            continue
        if dst == bytes(4) or _same_net(a, dst):
            return a.addr
        if not found:
            found = a.addr
    if found:
        return found
    for i in sorted(ns.devices):
        for a in (a for a in v4 if a.ifindex == i):
            if a.scope != RT_SCOPE_LINK and a.scope <= scope:
                return a.addr
    return bytes(4)


def _same_net(a: Address, addr: bytes) -> bool:
    bits = 8 * len(addr)
    mask = ((1 << a.prefixlen) - 1) << (bits - a.prefixlen) if a.prefixlen else 0
    return (int.from_bytes(a.addr, "big") & mask) == (int.from_bytes(addr, "big") & mask)


def _neigh_result(ns: NetNamespace, p: FibParams, r: Route, family: int,
                  addr: bytes) -> int:
    dev = ns.devices[r.oif]
    if family == AF_INET and dev.flags & (IFF_LOOPBACK | IFF_POINTOPOINT):
        addr = bytes(4)
    n = ns.neighbour(r.oif, family, addr)
    if n is None or not n.valid:
        return BPF_FIB_LKUP_RET_NO_NEIGH
    p.buf[OFF_DMAC:OFF_DMAC + 6] = n.lladdr[:6].ljust(6, b"\0")
    p.buf[OFF_SMAC:OFF_SMAC + 6] = dev.address
    return 0


def _set_fwd_params(p: FibParams, mtu: int) -> int:
    p.buf[OFF_TBID:OFF_TBID + 4] = bytes(4)  # h_vlan_proto, h_vlan_TCI
    if mtu:
        p.set_mtu_result(mtu)
    return BPF_FIB_LKUP_RET_SUCCESS


def _ingress_check(ns: NetNamespace, p: FibParams, forwarding: dict[int, bool]) -> int:
    """The input device must exist (-ENODEV) and forward this family (FWD_DISABLED)."""
    dev = ns.device(p.ifindex)
    if dev is None:
        return -errno.ENODEV
    if not forwarding.get(dev.ifindex, False):
        return BPF_FIB_LKUP_RET_FWD_DISABLED
    return 0


def _direct_table(ns: NetNamespace, p: FibParams, flags: int, family: int) -> int | None:
    """BPF_FIB_LOOKUP_DIRECT's table: main, or with BPF_FIB_LOOKUP_TBID the request's
    (0 is main; the tbid field is cleared); None when no such table exists."""
    tbid = RT_TABLE_MAIN
    if flags & BPF_FIB_LOOKUP_TBID:
        tbid = p.tbid or RT_TABLE_MAIN  # fib_get_table: table 0 is main
        p.buf[OFF_TBID:OFF_TBID + 4] = bytes(4)
    return tbid if tbid in ns.tables(family) else None


def ipv4_fib_lookup(ns: NetNamespace, p: FibParams, flags: int, check_mtu: bool) -> int:
    """bpf_ipv4_fib_lookup: a BPF_FIB_LKUP_RET_* code or -errno; fills `p` as the
    kernel does (also on the way to some failures)."""
    rc = _ingress_check(ns, p, ns.forwarding4)
    if rc:
        return rc
    oif = p.ifindex if flags & BPF_FIB_LOOKUP_OUTPUT else 0
    dst = p.dst(4)
    if flags & BPF_FIB_LOOKUP_DIRECT:
        tbid = _direct_table(ns, p, flags, AF_INET)
        if tbid is None:
            return BPF_FIB_LKUP_RET_NOT_FWDED
        # without custom rules the local table shares the main table's trie
        tables = {RT_TABLE_LOCAL, RT_TABLE_MAIN} if tbid in (RT_TABLE_LOCAL, RT_TABLE_MAIN) \
            else {tbid}
        err, r = _fib4_table_lookup(ns, tables, dst, p.tos, oif)
    else:
        # fib_lookup without custom rules: main (sharing local's trie), then on any
        # error the default table if it exists
        err, r = _fib4_table_lookup(ns, {RT_TABLE_LOCAL, RT_TABLE_MAIN}, dst, p.tos, oif)
        if err and RT_TABLE_DEFAULT in ns.tables(AF_INET):
            err, r = _fib4_table_lookup(ns, {RT_TABLE_DEFAULT}, dst, p.tos, oif)
    if err:
        return {-errno.EINVAL: BPF_FIB_LKUP_RET_BLACKHOLE,
                -errno.EHOSTUNREACH: BPF_FIB_LKUP_RET_UNREACHABLE,
                -errno.EACCES: BPF_FIB_LKUP_RET_PROHIBIT}.get(err, BPF_FIB_LKUP_RET_NOT_FWDED)
    assert r is not None
    if r.type != RTN_UNICAST:
        return BPF_FIB_LKUP_RET_NOT_FWDED
    out = ns.devices[r.oif]
    mtu = 0
    if check_mtu:
        if ns.ip_fwd_use_pmtu or r.mtu_lock:
            mtu = r.mtu
        if not mtu:
            mtu = min(out.mtu, IP_MAX_MTU)
        if p.tot_len > mtu:
            p.set_mtu_result(mtu)
            return BPF_FIB_LKUP_RET_FRAG_NEEDED
    p.set_result(r.oif, r.metric)
    if flags & BPF_FIB_LOOKUP_SRC:
        src = r.prefsrc or _inet_select_addr(
            ns, r.oif, r.gateway if r.gw_family == AF_INET and r.gateway else bytes(4),
            r.scope)
        p.buf[OFF_SRC:OFF_SRC + 4] = src
    gw_family = r.gw_family
    if gw_family == AF_INET6:
        p.buf[OFF_FAMILY] = AF_INET6
        p.buf[OFF_DST:OFF_DST + 16] = r.gateway or bytes(16)
    elif gw_family == AF_INET:
        p.buf[OFF_DST:OFF_DST + 4] = r.gateway or bytes(4)
    if not flags & BPF_FIB_LOOKUP_SKIP_NEIGH:
        if gw_family == AF_INET6:
            rc = _neigh_result(ns, p, r, AF_INET6, p.dst(16))
        else:
            rc = _neigh_result(ns, p, r, AF_INET, p.dst(4))
        if rc:
            return rc
    return _set_fwd_params(p, mtu)


# --- IPv6 ----------------------------------------------------------------------------------

IPV6_ADDR_SCOPE_LINKLOCAL, IPV6_ADDR_SCOPE_SITELOCAL, IPV6_ADDR_SCOPE_GLOBAL = 0x02, 0x05, 0x0E


def _v6_strict(a: bytes) -> bool:
    """rt6_need_strict: multicast, link-local or loopback (never forwarded)."""
    return a[0] == 0xFF or (a[0] == 0xFE and a[1] & 0xC0 == 0x80) or a == bytes(15) + b"\x01"


def _v6_scope(a: bytes) -> int:
    if a[0] == 0xFF:
        return a[1] & 0x0F
    if (a[0] == 0xFE and a[1] & 0xC0 == 0x80) or a == bytes(15) + b"\x01":
        return IPV6_ADDR_SCOPE_LINKLOCAL
    if a[0] == 0xFE and a[1] & 0xC0 == 0xC0:
        return IPV6_ADDR_SCOPE_SITELOCAL
    return IPV6_ADDR_SCOPE_GLOBAL


# the kernel's default address label policy (net/ipv6/addrlabel.c)
_LABELS: list[tuple[bytes, int, int]] = [
    (bytes(15) + b"\x01", 128, 0), (bytes(16), 0, 1), (b"\xfc" + bytes(15), 7, 5),
    (bytes(16), 96, 3), (bytes(10) + b"\xff\xff" + bytes(4), 96, 4),
    (b"\x20\x02" + bytes(14), 16, 2), (b"\x20\x01" + bytes(14), 32, 6),
    (b"\x20\x01\x00\x10" + bytes(12), 28, 7), (b"\x20\x01\x00\x20" + bytes(12), 28, 8),
    (b"\x3f\xfe" + bytes(14), 16, 12), (b"\xfe\xc0" + bytes(14), 10, 11),
]


def _label(a: bytes) -> int:
    best, plen = 1, -1
    for prefix, n, label in _LABELS:
        if n > plen and _covers(Route(AF_INET6, prefix, n), a):
            best, plen = label, n
    return best


def _common_prefix(a: bytes, b: bytes) -> int:
    x = int.from_bytes(a, "big") ^ int.from_bytes(b, "big")
    return 128 - x.bit_length()


def ipv6_dev_get_saddr(ns: NetNamespace, ifindex: int, dst: bytes) -> bytes | None:
    """ipv6_dev_get_saddr (RFC 6724 rules 1, 2, 3, 5, 6 and 8 as the kernel orders
    them): the best source address for `dst` leaving through `ifindex`."""
    dscope = _v6_scope(dst)
    only_oif = dst[0] == 0xFF or dscope <= IPV6_ADDR_SCOPE_LINKLOCAL
    best, best_key = None, None
    for a in ns.addresses:
        if a.family != AF_INET6 or a.tentative or a.addr == bytes(16) or a.addr[0] == 0xFF:
            continue
        if only_oif and a.ifindex != ifindex:
            continue
        s = _v6_scope(a.addr)
        key = (a.addr == dst, -s if s >= dscope else s - 128, not a.deprecated,
               a.ifindex == ifindex, _label(a.addr) == _label(dst),
               min(_common_prefix(a.addr, dst), a.prefixlen))
        if best_key is None or key > best_key:
            best, best_key = a.addr, key
    return best


def _fib6_table_lookup(ns: NetNamespace, table: int, dst: bytes, oif: int) -> Route | None:
    """fib6_table_lookup: the longest matching prefix; among its routes those of the
    lowest metric, the first whose device is `oif` (else the first)."""
    cands = [r for r in ns.routes if r.family == AF_INET6 and r.table == table
             and _covers(r, dst)]
    if not cands:
        return None
    plen = max(r.plen for r in cands)
    node = sorted((r for r in cands if r.plen == plen), key=lambda r: r.metric)
    group = [r for r in node if r.metric == node[0].metric]
    for r in group:
        if not oif or r.oif == oif:
            return r
    return group[0]


def ipv6_fib_lookup(ns: NetNamespace, p: FibParams, flags: int, check_mtu: bool) -> int:
    """bpf_ipv6_fib_lookup (see ipv4_fib_lookup)."""
    dst, src = p.dst(16), p.src(16)
    if _v6_strict(dst) or _v6_strict(src):
        return BPF_FIB_LKUP_RET_NOT_FWDED
    rc = _ingress_check(ns, p, ns.forwarding6)
    if rc:
        return rc
    oif = p.ifindex
    if flags & BPF_FIB_LOOKUP_DIRECT:
        tbid = _direct_table(ns, p, flags, AF_INET6)
        if tbid is None:
            return BPF_FIB_LKUP_RET_NOT_FWDED
        r = _fib6_table_lookup(ns, tbid, dst, oif)
    else:
        r = _fib6_table_lookup(ns, RT_TABLE_LOCAL, dst, oif)
        if r is None:
            r = _fib6_table_lookup(ns, RT_TABLE_MAIN, dst, oif)
    if r is None:
        return BPF_FIB_LKUP_RET_NOT_FWDED
    rc = {RTN_UNICAST: 0, RTN_BLACKHOLE: BPF_FIB_LKUP_RET_BLACKHOLE,
          RTN_UNREACHABLE: BPF_FIB_LKUP_RET_UNREACHABLE,
          RTN_PROHIBIT: BPF_FIB_LKUP_RET_PROHIBIT}.get(r.type, BPF_FIB_LKUP_RET_NOT_FWDED)
    if rc:
        return rc
    out = ns.devices[r.oif]
    mtu = 0
    if check_mtu:
        # ip6_mtu_from_fib6: the route's MTU metric only when locked (observed on
        # Linux 6.18), else the device's IPv6 MTU
        mtu = min((r.mtu if r.mtu_lock else 0) or ns.mtu6.get(r.oif, out.mtu), IP6_MAX_MTU)
        if p.tot_len > mtu:
            p.set_mtu_result(mtu)
            return BPF_FIB_LKUP_RET_FRAG_NEEDED
    if r.gateway:
        p.buf[OFF_DST:OFF_DST + 16] = r.gateway
    p.set_result(r.oif, r.metric)
    if flags & BPF_FIB_LOOKUP_SRC:
        if r.prefsrc:
            p.buf[OFF_SRC:OFF_SRC + 16] = r.prefsrc
        else:
            s = ipv6_dev_get_saddr(ns, r.oif, dst)
            if s is None:
                return BPF_FIB_LKUP_RET_NO_SRC_ADDR
            p.buf[OFF_SRC:OFF_SRC + 16] = s
    if not flags & BPF_FIB_LOOKUP_SKIP_NEIGH:
        rc = _neigh_result(ns, p, r, AF_INET6, p.dst(16))
        if rc:
            return rc
    return _set_fwd_params(p, mtu)


def fib_lookup(ns: NetNamespace, params: bytearray, plen: int, flags: int,
               check_mtu: bool) -> int:
    """The part bpf_xdp_fib_lookup and bpf_skb_fib_lookup share: argument checks, then
    the family's lookup (-EAFNOSUPPORT for other families)."""
    if plen < FIB_LOOKUP_SIZE:
        return -errno.EINVAL
    if flags & ~BPF_FIB_LOOKUP_MASK:
        return -errno.EINVAL
    p = FibParams(params)
    if p.family == AF_INET:
        return ipv4_fib_lookup(ns, p, flags, check_mtu)
    if p.family == AF_INET6:
        return ipv6_fib_lookup(ns, p, flags, check_mtu)
    return -errno.EAFNOSUPPORT
