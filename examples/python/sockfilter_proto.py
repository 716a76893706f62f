"""sockfilter_proto.c written again in restricted Python: a socket filter that counts
packets and bytes per IP protocol and keeps a log2 histogram of packet sizes.

    pybpf compile examples/python/sockfilter_proto.py -o sockfilter_proto.o"""

import ctypes

from pybpf.frontend.python import (
    ETH_P_IP,
    ETH_P_IPV6,
    PACKET_OUTGOING,
    SKF_NET_OFF,
    ArrayMap,
    SkBuff,
    atomic_add,
    htons,
    load_byte,
    socket_filter,
    u32,
    u64,
)

LICENSE = "GPL"
LOG2_BUCKETS = 64
LOOPBACK_IFINDEX = 1


class ProtoStats(ctypes.Structure):
    _fields_ = [("packets", u64), ("bytes", u64)]


size_hist = ArrayMap(u32, u64, LOG2_BUCKETS)
proto_stats = ArrayMap(u32, ProtoStats, 256)


def log2_bucket(v: u64) -> u32:
    """floor(log2(v)), 0 for 0 and 1: five halving steps, no loop."""
    r: u32 = 0
    s: u32 = (v > 0xFFFFFFFF) << 5
    v >>= s
    r += s
    s = (v > 0xFFFF) << 4
    v >>= s
    r += s
    s = (v > 0xFF) << 3
    v >>= s
    r += s
    s = (v > 0xF) << 2
    v >>= s
    r += s
    s = (v > 0x3) << 1
    v >>= s
    r += s
    return r + u32(v >> 1)


@socket_filter
def count_by_proto(skb: SkBuff) -> int:
    # a packet socket sees each loopback packet twice: count the arrival only
    if skb.pkt_type == PACKET_OUTGOING and skb.ifindex == LOOPBACK_IFINDEX:
        return 0
    slot = size_hist.lookup(log2_bucket(skb.len))
    if slot is not None:
        atomic_add(slot[0], 1)
    proto: u32 = 0
    if skb.protocol == htons(ETH_P_IP):    # skb->protocol is in network order
        proto = u32(load_byte(skb, SKF_NET_OFF + 9))       # iphdr.protocol
    elif skb.protocol == htons(ETH_P_IPV6):
        proto = u32(load_byte(skb, SKF_NET_OFF + 6))       # ipv6hdr.nexthdr
    else:
        return skb.len
    st = proto_stats.lookup(proto)
    if st is not None:
        atomic_add(st.packets, 1)
        atomic_add(st.bytes, skb.len)
    return skb.len



if __name__ == "__main__":
    import sys

    from pybpf.tools.pyexample import main
    sys.exit(main(__file__))
