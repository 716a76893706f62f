// A flow dissector for Ethernet/IPv4/UDP and TCP: fills bpf_flow_keys, counts its runs.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

__u64 runs, ipv4_udp;

SEC("flow_dissector")
int dissect(struct __sk_buff *skb)
{
	struct bpf_flow_keys *keys = skb->flow_keys;
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct iphdr *ip;
	struct udphdr *l4;
	__u16 nhoff, thoff;

	__sync_fetch_and_add(&runs, 1);
	if (keys->n_proto != bpf_htons(ETH_P_IP))
		return BPF_DROP;
	nhoff = keys->nhoff;
	if (nhoff > 64)		/* bounded, so the verifier can range-check the packet */
		return BPF_DROP;
	ip = data + nhoff;
	if ((void *)(ip + 1) > end || ip->ihl < 5)
		return BPF_DROP;
	keys->addr_proto = ETH_P_IP;
	keys->ipv4_src = ip->saddr;
	keys->ipv4_dst = ip->daddr;
	keys->ip_proto = ip->protocol;
	thoff = nhoff + ip->ihl * 4;
	keys->thoff = thoff;
	if (ip->frag_off & bpf_htons(0x3fff)) {
		keys->is_frag = 1;
		return BPF_OK;
	}
	if (ip->protocol != IPPROTO_UDP && ip->protocol != IPPROTO_TCP)
		return BPF_OK;
	if (thoff > 128)
		return BPF_DROP;
	l4 = data + thoff;
	if ((void *)(l4 + 1) > end)
		return BPF_DROP;
	keys->sport = l4->source;
	keys->dport = l4->dest;
	if (ip->protocol == IPPROTO_UDP)
		__sync_fetch_and_add(&ipv4_udp, 1);
	return BPF_OK;
}

char LICENSE[] SEC("license") = "GPL";
