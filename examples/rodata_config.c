// SPDX-License-Identifier: GPL-2.0
/*
 * rodata_config.c - global variables: `.rodata` configuration, `.data`
 * settings and `.bss` counters.
 *
 * Shows: `const volatile` globals in `.rodata` (the loader patches them before
 * loading and freezes the map, so the verifier knows their values and prunes
 * dead branches such as the debug printk), initialised mutable globals in
 * `.data` and zero-initialised globals in `.bss` (each one array map with a
 * single value, accessed through ld_imm64 with BPF_PSEUDO_MAP_VALUE),
 * atomic fetch-and-add on globals, and bpf_printk's format string in
 * `.rodata` too.
 *
 * For every frame: packets_total += 1.  An untagged IPv4 TCP or UDP packet
 * (not a non-first fragment, IHL >= 5, L4 ports present) whose destination
 * port is match_port (default 53) is a match: bytes_matched += frame length,
 * and the number of earlier matches is fetched-and-incremented from
 * packets_matched; while that number is below max_matches (`.data`, default
 * 100, userspace may change it at run time) the verdict is match_verdict
 * (default XDP_DROP), after that XDP_PASS.  IPv4 TCP/UDP packets that do not
 * match are counted in tcp_packets / udp_packets.  Everything else passes.
 */
#include "common.h"

/* .rodata */
const volatile __u16 match_port = 53;
const volatile __u32 match_verdict = XDP_DROP;
const volatile bool debug = false;

/* .data */
__u32 max_matches = 100;
__u32 config_version = 1;

/* .bss */
__u64 packets_total;
__u64 packets_matched;
__u64 bytes_matched;
__u64 tcp_packets;
__u64 udp_packets;

SEC("xdp")
int xdp_config(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct udphdr *ports;
	struct iphdr *iph;
	__u64 earlier;

	__sync_fetch_and_add(&packets_total, 1);

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end || iph->ihl < 5)
		return XDP_PASS;
	if (iph->protocol != IPPROTO_TCP && iph->protocol != IPPROTO_UDP)
		return XDP_PASS;
	if (iph->frag_off & bpf_htons(IP_OFFSET_MASK))
		return XDP_PASS;
	ports = (void *)iph + iph->ihl * 4;
	if ((void *)(ports + 1) > data_end)
		return XDP_PASS;

	if (bpf_ntohs(ports->dest) != match_port) {
		if (iph->protocol == IPPROTO_TCP)
			__sync_fetch_and_add(&tcp_packets, 1);
		else
			__sync_fetch_and_add(&udp_packets, 1);
		return XDP_PASS;
	}

	__sync_fetch_and_add(&bytes_matched, data_end - data);
	earlier = __sync_fetch_and_add(&packets_matched, 1);
	if (debug)
		bpf_printk("rodata_config: match %llu from %x (v%u)", earlier,
			   bpf_ntohl(iph->saddr), config_version);
	if (earlier < max_matches)
		return match_verdict;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
