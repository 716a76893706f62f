"""xdp_firewall.c written again in restricted Python: an XDP DDoS-mitigation firewall
with an LPM-trie blocklist, a per-source rate limit in an LRU hash (a @noinline
sub-program), per-CPU verdict counters, `.rodata` config and bounds-checked parsing of
Ethernet, 802.1Q and IPv4/IPv6 (the verdicts are listed in ../xdp_firewall.c)."""
import enum

from pybpf.frontend.python import (
    BPF_ANY,
    ETH_P_8021AD,
    ETH_P_8021Q,
    ETH_P_IP,
    ETH_P_IPV6,
    XDP_DROP,
    XDP_PASS,
    Config,
    EthHdr,
    IPv4Hdr,
    IPv6Hdr,
    LPMTrie,
    LRUHash,
    PerCPUArray,
    Struct,
    VlanHdr,
    XdpMd,
    be32,
    bpf_ktime_get_ns,
    noinline,
    u32,
    u64,
    xdp,
)

LICENSE = "GPL"

rate_limit_pps = Config(u64, 100)
rate_window_ns = Config(u64, 1_000_000_000)


class Ipv4LpmKey(Struct):
    """Key of the LPM trie: prefix length in bits, then the address in network order."""
    prefixlen: u32
    addr: be32


class RateState(Struct):
    window_start_ns: u64
    count: u64              # packets passed in this window


class FwStat(enum.IntEnum):
    PASS = 0
    DROP_BLOCKLIST = 1
    DROP_RATELIMIT = 2
    MALFORMED = 3
    PASS_IPV6 = 4
    PASS_OTHER = 5


blocklist = LPMTrie(Ipv4LpmKey, u32, 4096)
rate_table = LRUHash(be32, RateState, 16384)
fw_stats = PerCPUArray(u32, u64, 6)


def verdict(stat: u32, action: u32) -> u32:
    cnt = fw_stats.lookup(stat)
    if cnt is not None:
        cnt[0] += 1
    return action


@noinline
def over_rate_limit(saddr: u32) -> u32:
    now = bpf_ktime_get_ns()
    st = rate_table.lookup(saddr)
    if st is None:
        if rate_limit_pps == 0:
            return 1
        rate_table.update(saddr, RateState(window_start_ns=now, count=1), BPF_ANY)
        return 0
    if now - st.window_start_ns >= rate_window_ns:
        st.window_start_ns = now
        st.count = 0
    if st.count >= rate_limit_pps:
        return 1
    st.count += 1
    return 0


@xdp
def xdp_firewall(ctx: XdpMd) -> int:
    eth = ctx.header(EthHdr)
    if eth is None:
        return verdict(FwStat.MALFORMED, XDP_DROP)
    proto = eth.h_proto
    l3 = 14
    if proto == ETH_P_8021Q or proto == ETH_P_8021AD:
        vh = ctx.header(VlanHdr, 14)
        if vh is None:
            return verdict(FwStat.MALFORMED, XDP_DROP)
        proto = vh.h_vlan_encapsulated_proto
        l3 = 18
    if proto == ETH_P_IPV6:
        if ctx.header(IPv6Hdr, l3) is None:
            return verdict(FwStat.MALFORMED, XDP_DROP)
        return verdict(FwStat.PASS_IPV6, XDP_PASS)
    if proto != ETH_P_IP:
        return verdict(FwStat.PASS_OTHER, XDP_PASS)
    iph = ctx.header(IPv4Hdr, l3)
    if iph is None:
        return verdict(FwStat.MALFORMED, XDP_DROP)
    if iph.version != 4 or iph.ihl < 5:
        return verdict(FwStat.MALFORMED, XDP_DROP)
    hlen = iph.ihl * 4
    if not ctx.has_bytes(l3 + hlen):
        return verdict(FwStat.MALFORMED, XDP_DROP)
    tot_len = iph.tot_len
    if tot_len < hlen or not ctx.has_bytes(l3 + tot_len):
        return verdict(FwStat.MALFORMED, XDP_DROP)
    if blocklist.lookup(Ipv4LpmKey(prefixlen=32, addr=iph.saddr)) is not None:
        return verdict(FwStat.DROP_BLOCKLIST, XDP_DROP)
    if over_rate_limit(iph.saddr):
        return verdict(FwStat.DROP_RATELIMIT, XDP_DROP)
    return verdict(FwStat.PASS, XDP_PASS)


if __name__ == "__main__":
    import sys

    from pybpf.tools.pyexample import main
    sys.exit(main(__file__))
