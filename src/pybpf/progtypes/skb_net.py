"""The networking helpers of skb programs: fib_lookup, the socket lookups, socket
cookie, clone_redirect, tunnel metadata (set/get_tunnel_key) and perf event output."""

from __future__ import annotations

import errno
from typing import Callable

from ..net import route, sockets
from ..net.netdev import IFF_LOWER_UP, IFF_UP, NetDevice
from ..net.netns import Transmit
from ..vm import CallContext
from . import socklookup
from ..uapi import (BPF_F_DONT_FRAGMENT, BPF_F_INGRESS, BPF_F_NO_TUNNEL_KEY, BPF_F_SEQ_NUMBER,
                    BPF_F_TUNINFO_FLAGS, BPF_F_TUNINFO_IPV6, BPF_F_ZERO_CSUM_TX)
from .common import M32, M64, destination, neg, read_mem, s32, write_mem, zero_mem
from .runbase import ETH_HLEN
from .skb_context import skb_of
from .skbuff import VLAN_HLEN, SkBuff, TunnelInfo

# --- networking helpers ----------------------------------------------------------------------

def skb_fib_lookup(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """bpf_fib_lookup(skb, params, plen, flags) in skb->dev's namespace: the MTU is
    checked against params->tot_len when it is set, else the skb must be forwardable
    by the resulting device (its length within mtu + hard_header_len + VLAN_HLEN, the
    device up), and mtu_result is that device's MTU."""
    s = skb_of(ctx, r1)
    plen = s32(r3)
    if plen < route.FIB_LOOKUP_SIZE:
        return neg(errno.EINVAL)
    buf = bytearray(read_mem(ctx, r2, route.FIB_LOOKUP_SIZE))
    p = route.FibParams(buf)
    check_mtu = p.tot_len != 0
    rc = route.fib_lookup(s.netns, buf, plen, r4 & M32, check_mtu)
    if rc == route.BPF_FIB_LKUP_RET_SUCCESS and not check_mtu:
        dev = s.netns.devices[p.ifindex]
        if not (dev.up and (s.len <= dev.mtu + dev.hard_header_len + VLAN_HLEN
                            or s.is_gso())):
            rc = route.BPF_FIB_LKUP_RET_FRAG_NEEDED
        p.set_mtu_result(dev.mtu)
    write_mem(ctx, r2, bytes(buf))
    return rc & M64


def _skb_sk_lookup(proto: int, full: bool) -> Callable[..., int]:
    def helper(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
        s = skb_of(ctx, r1)
        dif = s.dev.ifindex if s.dev is not None else 0
        return socklookup.lookup_helper(ctx, s.netns.sockets_of, dif, r2, r3, r4, r5, proto,
                                     full)
    helper.__doc__ = (f"bpf_{'sk' if full else 'skc'}_lookup_"
                      f"{'tcp' if proto == sockets.IPPROTO_TCP else 'udp'}(skb, tuple, "
                      "size, netns, flags): skb->dev's namespace, dif = its ifindex.")
    return helper


_COOKIES = iter(range(1, 1 << 64))


def get_socket_cookie(ctx: CallContext, r1: int, *_: int) -> int:
    """bpf_get_socket_cookie(skb): the cookie of skb->sk, given from a process-wide
    counter on first use (the kernel's is a global counter, so only its properties
    compare: non-zero, stable for one socket, new for each test run's socket); 0
    without a socket."""
    s = skb_of(ctx, r1)
    if s.sk is None:
        return 0
    if not s.sk.cookie:
        s.sk.cookie = next(_COOKIES)
    return s.sk.cookie


BPF_F_REDIRECT_INTERNAL = 1 << 3  # kernel-internal bit, refused from programs
NET_RX_DROP = 1
NET_XMIT_DROP = 1
NET_XMIT_CN = 2


def _veth_drops(s: SkBuff, peer: NetDevice | None) -> bool:
    """veth_xmit drops (NET_XMIT_DROP) a packet shorter than an Ethernet header, or
    one its peer would not take (__dev_forward_skb: the peer down, or the packet
    longer than its MTU + hard header + VLAN header)."""
    if s.len < ETH_HLEN:
        return True
    if peer is None:
        return False
    return not peer.up or s.len > peer.mtu + peer.hard_header_len + VLAN_HLEN


def clone_redirect(ctx: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    """bpf_clone_redirect(skb, ifindex, flags): send a copy of the packet out of (or,
    with BPF_F_INGRESS, into) a device of the namespace; the copy is recorded in
    netns.transmitted. EINVAL for other flags or an unknown device, EBADMSG for a GSO
    skb without a GSO type, ERANGE without a link-layer header. Out of a device that
    is down or has no carrier: NET_XMIT_CN (its noop qdisc drops the copy); out of a
    veth that drops it: NET_XMIT_DROP; into a device that is down: NET_RX_DROP."""
    s = skb_of(ctx, r1)
    flags = r3
    if flags & (~BPF_F_INGRESS | BPF_F_REDIRECT_INTERNAL) & M64:
        return neg(errno.EINVAL)
    if s.is_gso() and not s.gso_type:
        return neg(errno.EBADMSG)
    dev = s.netns.devices.get(r2 & M32)
    if dev is None:
        return neg(errno.EINVAL)
    mac = s.mac_header if s.mac_header is not None else s.data
    if mac >= s.network_header or s.len == 0:
        return neg(errno.ERANGE)
    s.compute_data_pointers()
    ingress = bool(flags & BPF_F_INGRESS)
    if ingress and not dev.flags & IFF_UP:
        return NET_RX_DROP
    if not ingress and dev.flags & (IFF_UP | IFF_LOWER_UP) != IFF_UP | IFF_LOWER_UP:
        return NET_XMIT_CN
    if not ingress and dev.kind == "veth" and _veth_drops(s, s.netns.devices.get(dev.peer)):
        return NET_XMIT_DROP
    s.netns.transmitted.append(Transmit(dev.ifindex, s.packet(), ingress))
    return 0


# --- tunnel metadata (bpf_skb_set_tunnel_key / bpf_skb_get_tunnel_key) -----------------------

TUNNEL_KEY_SIZE = 44          # sizeof(struct bpf_tunnel_key)
# compat sizes: offsetof(local_ipv6[0]), offsetof(tunnel_label), offsetof(tunnel_ext),
# offsetof(remote_ipv6[1])
TUNNEL_KEY_COMPAT = (28, 24, 22, 8)
IP_TUNNEL_CSUM_BIT, IP_TUNNEL_KEY_BIT, IP_TUNNEL_SEQ_BIT = 0, 2, 3
IP_TUNNEL_DONT_FRAGMENT_BIT, IP_TUNNEL_NOCACHE_BIT = 8, 13
IPV6_FLOWLABEL_MASK = 0x000F_FFFF


def skb_set_tunnel_key(ctx: CallContext, r1: int, r2: int, r3: int, r4: int,
                       *_: int) -> int:
    """bpf_skb_set_tunnel_key(skb, key, size, flags): attach TX tunnel metadata (the
    older, shorter layouts of struct bpf_tunnel_key are zero-extended)."""
    s = skb_of(ctx, r1)
    size, flags = r3 & M32, r4
    if flags & ~(BPF_F_TUNINFO_IPV6 | BPF_F_ZERO_CSUM_TX | BPF_F_DONT_FRAGMENT
                 | BPF_F_SEQ_NUMBER | BPF_F_NO_TUNNEL_KEY):
        return neg(errno.EINVAL)
    if size != TUNNEL_KEY_SIZE and size not in TUNNEL_KEY_COMPAT:
        return neg(errno.EINVAL)
    key = read_mem(ctx, r2, size).ljust(TUNNEL_KEY_SIZE, b"\0")
    label = int.from_bytes(key[24:28], "little")
    ext = int.from_bytes(key[22:24], "little")
    ipv6 = bool(flags & BPF_F_TUNINFO_IPV6)
    if (not ipv6 and label) or ext:
        return neg(errno.EINVAL)
    bits = 1 << IP_TUNNEL_NOCACHE_BIT
    if flags & BPF_F_DONT_FRAGMENT:
        bits |= 1 << IP_TUNNEL_DONT_FRAGMENT_BIT
    if not flags & BPF_F_ZERO_CSUM_TX:
        bits |= 1 << IP_TUNNEL_CSUM_BIT
    if flags & BPF_F_SEQ_NUMBER:
        bits |= 1 << IP_TUNNEL_SEQ_BIT
    if not flags & BPF_F_NO_TUNNEL_KEY:
        bits |= 1 << IP_TUNNEL_KEY_BIT
    tun_id = int.from_bytes(key[0:4], "little")
    if ipv6:
        s.tunnel = TunnelInfo(True, tun_id, key[20], key[21], bits, bytes(key[28:44]),
                              bytes(key[4:20]), label & IPV6_FLOWLABEL_MASK)
    else:
        s.tunnel = TunnelInfo(False, tun_id, key[20], key[21], bits, bytes(key[28:32]),
                              bytes(key[4:8]))
    return 0


def skb_get_tunnel_key(ctx: CallContext, r1: int, r2: int, r3: int, r4: int,
                       *_: int) -> int:
    """bpf_skb_get_tunnel_key(skb, key, size, flags): the skb's tunnel metadata into
    `key` (remote = the tunnel's source, local = its destination); on failure the
    buffer is zeroed: EINVAL without metadata or for unknown flags or sizes, EPROTO
    for the other address family."""
    s = skb_of(ctx, r1)
    size, flags = r3 & M32, r4
    destination(ctx, r2, size)
    t = s.tunnel
    err = 0
    if t is None or flags & ~(BPF_F_TUNINFO_IPV6 | BPF_F_TUNINFO_FLAGS):
        err = errno.EINVAL
    elif t.ipv6 != bool(flags & BPF_F_TUNINFO_IPV6):
        err = errno.EPROTO
    elif size != TUNNEL_KEY_SIZE and (size not in TUNNEL_KEY_COMPAT
                                      or (size == 8 and t.ipv6)):
        err = errno.EINVAL
    if err:
        zero_mem(ctx, r2, size)
        return neg(err)
    assert t is not None
    out = bytearray(read_mem(ctx, r2, size).ljust(TUNNEL_KEY_SIZE, b"\0"))
    out[0:4] = (t.tun_id & M32).to_bytes(4, "little")
    out[20], out[21] = t.tos, t.ttl
    if flags & BPF_F_TUNINFO_FLAGS:
        be = sum(1 << i for i in range(16) if t.flags >> i & 1)
        out[22:24] = be.to_bytes(2, "big")
    else:
        out[22:24] = bytes(2)
    if t.ipv6:
        out[4:20] = t.src
        out[28:44] = t.dst
        out[24:28] = t.label.to_bytes(4, "little")
    else:
        out[4:8], out[8:20] = t.src, bytes(12)
        out[28:32], out[32:44] = t.dst, bytes(12)
        out[24:28] = bytes(4)
    write_mem(ctx, r2, bytes(out[:size]))
    return 0


def skb_event_output(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_perf_event_output from an skb program (bpf_skb_event_output): flags' upper
    half appends that many bytes from skb->data (-EFAULT past skb->len)."""
    from ..maps.helpers import perf_event_output
    s = skb_of(ctx, r1)

    def head(n: int) -> bytes | None:
        return bytes(s.buf[s.data:s.data + n]) if n <= s.len else None
    return perf_event_output(ctx, r1, r2, r3, r4, r5, head)
