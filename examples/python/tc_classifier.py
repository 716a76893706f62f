"""tc_classifier.c written again in restricted Python: a tc (cls_bpf, direct-action)
classifier that picks a traffic class by DSCP or port and drops telnet."""

import ctypes

from pybpf.frontend.python import (
    ETH_P_IP,
    ETH_P_IPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    TC_ACT_OK,
    TC_ACT_SHOT,
    ArrayMap,
    Config,
    IPv4Hdr,
    IPv6Hdr,
    SkBuff,
    UdpHdr,
    atomic_add,
    htons,
    tc,
    u8,
    u16,
    u32,
    u64,
)

LICENSE = "GPL"
IP_OFFSET_MASK = 0x1FFF

qdisc_major = Config(u32, 1)
mark_base = Config(u32, 0x100)

CLS_DROPPED, CLS_REALTIME, CLS_INTERACTIVE, CLS_WEB, CLS_BULK = 0, 1, 2, 3, 4
CLS_BEST_EFFORT, CLS_NOT_IP, CLS_SLOTS = 5, 6, 7


class ClassStats(ctypes.Structure):
    _fields_ = [("packets", u64), ("bytes", u64)]


class_stats = ArrayMap(u32, ClassStats, CLS_SLOTS)


def account(slot: u32, length: u32) -> None:
    st = class_stats.lookup(slot)
    if st is not None:
        atomic_add(st.packets, 1)
        atomic_add(st.bytes, length)


@tc
def classify(skb: SkBuff) -> int:
    length = skb.len
    sport: u16 = 0
    dport: u16 = 0
    dscp: u8 = 0
    l4proto: u8 = 0
    l4: u32 = 0                 # offset of the L4 header, 0 when there is none
    if skb.protocol == htons(ETH_P_IP):
        iph = skb.header(IPv4Hdr, 14)
        if iph is None or iph.ihl < 5:
            account(CLS_NOT_IP, length)
            return TC_ACT_OK
        dscp = iph.tos >> 2
        l4proto = iph.protocol
        if not iph.frag_off & IP_OFFSET_MASK:
            l4 = 14 + iph.ihl * 4
    elif skb.protocol == htons(ETH_P_IPV6):
        ip6 = skb.header(IPv6Hdr, 14)
        if ip6 is None:
            account(CLS_NOT_IP, length)
            return TC_ACT_OK
        dscp = (ip6.priority << 2) | (ip6.flow_lbl[0] >> 6)
        l4proto = ip6.nexthdr
        l4 = 14 + 40
    else:
        account(CLS_NOT_IP, length)
        return TC_ACT_OK

    # source and destination ports sit at the same place in TCP and UDP
    if l4 != 0 and (l4proto == IPPROTO_TCP or l4proto == IPPROTO_UDP):
        ports = skb.header(UdpHdr, l4)
        if ports is not None:
            sport = ports.source
            dport = ports.dest

    if l4proto == IPPROTO_TCP and dport == 23:
        account(CLS_DROPPED, length)
        return TC_ACT_SHOT

    minor: u32 = CLS_BEST_EFFORT
    if dscp == 46:
        minor = CLS_REALTIME
    elif dscp == 34 or dscp == 36 or dscp == 38 or sport == 22 or dport == 22:
        minor = CLS_INTERACTIVE
    elif dscp == 8:
        minor = CLS_BULK
    elif l4proto == IPPROTO_TCP and (dport == 80 or dport == 443):
        minor = CLS_WEB
    skb.tc_classid = (qdisc_major << 16) | minor
    skb.mark = mark_base + minor
    account(minor, length)
    return TC_ACT_OK


if __name__ == "__main__":
    import sys

    from pybpf.tools.pyexample import main
    sys.exit(main(__file__))
