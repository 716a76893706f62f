// SPDX-License-Identifier: GPL-2.0
/*
 * ringbuf_events.c - one event per packet into a BPF ring buffer.
 *
 * Shows: BPF_MAP_TYPE_RINGBUF with both APIs, bpf_ringbuf_reserve +
 * bpf_ringbuf_submit (zero-copy, fixed-size record written in place) and
 * bpf_ringbuf_output (copy of a record built on the stack), records of two
 * sizes in one ring told apart by their first field, and a `.bss` counter.
 *
 * Every packet passes (XDP_PASS).  For an IPv4 packet (EtherType 0x0800, one
 * 802.1Q tag skipped, a complete 20-byte header) the program reserves a
 * struct pkt_event (kind 1, 24 bytes): len (frame length), saddr/daddr
 * (network byte order), sport/dport (host order, TCP/UDP and not a non-first
 * fragment, else 0), proto, vlan (VLAN id or 0).  Every other frame is
 * sent with bpf_ringbuf_output as a struct other_event (kind 2, 8 bytes):
 * len and the EtherType (host order).  A record that does not fit is
 * counted in `lost_events`; records are never partially written.  Both record
 * types are in the object's BTF, so tools can decode the records.
 */
#include "common.h"

enum event_kind {
	EVENT_IPV4 = 1,
	EVENT_OTHER = 2,
};

struct pkt_event {
	__u8 kind;		/* EVENT_IPV4 */
	__u8 proto;
	__u16 vlan;
	__u32 len;
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u32 pad;
};

struct other_event {
	__u8 kind;		/* EVENT_OTHER */
	__u8 pad;
	__u16 ethertype;
	__u32 len;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);	/* bytes, a power of 2 pages */
} events SEC(".maps");

/*
 * The record types in BTF.  clang emits BTF only for the types of globals, maps
 * and function signatures, not of locals such as `ev`: an unused global pointer
 * to each record type puts it there (as bpf2go's -type and other libbpf users
 * expect), and `pybpf run` then decodes each record as the declared type of its
 * size.
 */
const struct pkt_event *unused_pkt_event __attribute__((unused));
const struct other_event *unused_other_event __attribute__((unused));

__u64 lost_events;	/* .bss */

SEC("xdp")
int xdp_events(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 len = data_end - data;
	struct ethhdr *eth = data;
	struct pkt_event *ev;
	struct iphdr *iph;
	__u16 proto, vlan = 0;
	void *l3;

	if ((void *)(eth + 1) > data_end) {
		proto = 0;
		goto other;
	}
	proto = bpf_ntohs(eth->h_proto);
	l3 = eth + 1;
	if (proto == ETH_P_8021Q) {
		struct vlan_hdr *vh = l3;

		if ((void *)(vh + 1) > data_end)
			goto other;
		vlan = bpf_ntohs(vh->h_vlan_TCI) & 0x0fff;
		proto = bpf_ntohs(vh->h_vlan_encapsulated_proto);
		l3 = vh + 1;
	}
	iph = l3;
	if (proto != ETH_P_IP || (void *)(iph + 1) > data_end)
		goto other;

	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		__sync_fetch_and_add(&lost_events, 1);
		return XDP_PASS;
	}
	ev->kind = EVENT_IPV4;
	ev->proto = iph->protocol;
	ev->vlan = vlan;
	ev->len = len;
	ev->saddr = iph->saddr;
	ev->daddr = iph->daddr;
	ev->sport = 0;
	ev->dport = 0;
	ev->pad = 0;
	if ((iph->protocol == IPPROTO_TCP || iph->protocol == IPPROTO_UDP) &&
	    iph->ihl >= 5 && !(iph->frag_off & bpf_htons(IP_OFFSET_MASK))) {
		struct udphdr *ports = l3 + iph->ihl * 4;

		if ((void *)(ports + 1) <= data_end) {
			ev->sport = bpf_ntohs(ports->source);
			ev->dport = bpf_ntohs(ports->dest);
		}
	}
	bpf_ringbuf_submit(ev, 0);
	return XDP_PASS;

other:
	{
		struct other_event oe = {
			.kind = EVENT_OTHER,
			.ethertype = proto,
			.len = len,
		};

		if (bpf_ringbuf_output(&events, &oe, sizeof(oe), 0))
			__sync_fetch_and_add(&lost_events, 1);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
