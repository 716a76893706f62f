// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_firewall.c - an XDP DDoS-mitigation firewall.
 *
 * Shows: an LPM-trie map (BPF_F_NO_PREALLOC) keyed by IPv4 prefix, an LRU
 * hash, a per-CPU array of counters, `.rodata` configuration (const volatile),
 * bpf_ktime_get_ns, a BPF-to-BPF call into a static __noinline sub-program in
 * `.text`, and bounds-checked parsing of Ethernet, 802.1Q and IPv4/IPv6.
 *
 * Verdicts, in this order:
 *   1. Frames that cannot be parsed are dropped and counted as MALFORMED:
 *      an Ethernet header or VLAN tag cut short, an EtherType 0x0800 frame
 *      whose IPv4 header is cut short, has version != 4, IHL < 5, an IHL
 *      longer than the frame, a total length below the header length or a
 *      total length longer than the frame; an 0x86DD frame whose 40-byte
 *      IPv6 header is cut short.
 *   2. IPv6 passes (counted PASS_IPV6); other EtherTypes (ARP, ...) pass
 *      (counted PASS_OTHER).  One 802.1Q/802.1ad tag is skipped.
 *   3. IPv4 whose source address matches a prefix in `blocklist` is dropped
 *      (DROP_BLOCKLIST).  Such packets do not touch the rate limiter.
 *   4. Rate limit per IPv4 source, a fixed window restarted by the source's
 *      own packets: the first packet of a source opens a window of
 *      rate_window_ns (1 s); within a window the first rate_limit_pps packets
 *      pass and every further packet is dropped (DROP_RATELIMIT); the first
 *      packet that arrives rate_window_ns or later after the window opened
 *      opens a new window (and is its first packet).  So when a replay of a
 *      capture takes less than rate_window_ns of bpf_ktime_get_ns time (or a
 *      VM's clock follows the capture timestamps and a source's packets fall
 *      within one second), a source's drops are max(0, n - rate_limit_pps)
 *      where n is its number of non-blocklisted, well-formed IPv4 packets.
 *   5. Everything else passes (PASS).
 *
 * IPv4 checksums are not verified.  The rate table is updated without
 * locking; with several CPUs the count is approximate, which a rate limiter
 * tolerates.
 */
#include "common.h"

/* Configuration, patched in by the loader before the program is loaded. */
const volatile __u64 rate_limit_pps = 100;
const volatile __u64 rate_window_ns = 1000000000ULL;

/* Key of the LPM trie: prefixlen in bits, then the address in network order. */
struct ipv4_lpm_key {
	__u32 prefixlen;
	__u32 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ipv4_lpm_key);
	__type(value, __u32);			/* a rule id, for userspace */
	__uint(max_entries, 4096);
} blocklist SEC(".maps");

struct rate_state {
	__u64 window_start_ns;
	__u64 count;				/* packets passed in this window */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);			/* IPv4 source, network order */
	__type(value, struct rate_state);
	__uint(max_entries, 16384);
} rate_table SEC(".maps");

enum fw_stat {
	FW_PASS = 0,
	FW_DROP_BLOCKLIST = 1,
	FW_DROP_RATELIMIT = 2,
	FW_MALFORMED = 3,
	FW_PASS_IPV6 = 4,
	FW_PASS_OTHER = 5,
	FW_STAT_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, FW_STAT_MAX);
} fw_stats SEC(".maps");

static __always_inline int verdict(enum fw_stat stat, int action)
{
	__u32 key = stat;
	__u64 *cnt = bpf_map_lookup_elem(&fw_stats, &key);

	if (cnt)
		*cnt += 1;
	return action;
}

/*
 * Returns 1 when saddr is over its limit.  A real sub-program (not inlined)
 * so the object carries a BPF-to-BPF call relocation into `.text`.
 */
static __noinline int over_rate_limit(__u32 saddr)
{
	__u64 now = bpf_ktime_get_ns();
	struct rate_state *st;

	st = bpf_map_lookup_elem(&rate_table, &saddr);
	if (!st) {
		struct rate_state fresh = { .window_start_ns = now, .count = 1 };

		if (rate_limit_pps == 0)
			return 1;
		bpf_map_update_elem(&rate_table, &saddr, &fresh, BPF_ANY);
		return 0;
	}
	if (now - st->window_start_ns >= rate_window_ns) {
		st->window_start_ns = now;
		st->count = 0;
	}
	if (st->count >= rate_limit_pps)
		return 1;
	st->count++;
	return 0;
}

SEC("xdp")
int xdp_firewall(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv4_lpm_key key;
	struct iphdr *iph;
	__u32 hlen, tot_len;
	__u16 proto;
	void *l3;

	if ((void *)(eth + 1) > data_end)
		return verdict(FW_MALFORMED, XDP_DROP);
	proto = eth->h_proto;
	l3 = eth + 1;

	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_hdr *vh = l3;

		if ((void *)(vh + 1) > data_end)
			return verdict(FW_MALFORMED, XDP_DROP);
		proto = vh->h_vlan_encapsulated_proto;
		l3 = vh + 1;
	}

	if (proto == bpf_htons(ETH_P_IPV6)) {
		if (l3 + sizeof(struct ipv6hdr) > data_end)
			return verdict(FW_MALFORMED, XDP_DROP);
		return verdict(FW_PASS_IPV6, XDP_PASS);
	}
	if (proto != bpf_htons(ETH_P_IP))
		return verdict(FW_PASS_OTHER, XDP_PASS);

	iph = l3;
	if ((void *)(iph + 1) > data_end)
		return verdict(FW_MALFORMED, XDP_DROP);
	if (iph->version != 4 || iph->ihl < 5)
		return verdict(FW_MALFORMED, XDP_DROP);
	hlen = iph->ihl * 4;
	if (l3 + hlen > data_end)
		return verdict(FW_MALFORMED, XDP_DROP);
	tot_len = bpf_ntohs(iph->tot_len);
	if (tot_len < hlen || l3 + tot_len > data_end)
		return verdict(FW_MALFORMED, XDP_DROP);

	key.prefixlen = 32;
	key.addr = iph->saddr;
	if (bpf_map_lookup_elem(&blocklist, &key))
		return verdict(FW_DROP_BLOCKLIST, XDP_DROP);

	if (over_rate_limit(iph->saddr))
		return verdict(FW_DROP_RATELIMIT, XDP_DROP);

	return verdict(FW_PASS, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
