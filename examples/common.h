/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * common.h - includes and small definitions shared by the pybpf example
 * programs.  Only UAPI headers (linux-libc-dev) and libbpf's BPF-side
 * headers (libbpf-dev) are used, no vmlinux.h, so the objects stay small.
 */
#ifndef PYBPF_EXAMPLES_COMMON_H
#define PYBPF_EXAMPLES_COMMON_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <stdbool.h>
#include <stddef.h>

/* The UAPI headers have no 802.1Q header; this is its wire layout. */
struct vlan_hdr {
	__be16 h_vlan_TCI;
	__be16 h_vlan_encapsulated_proto;
};

/* IPv4 frag_off: the "more fragments" flag and the 13-bit offset. */
#define IP_MF_FLAG	0x2000
#define IP_OFFSET_MASK	0x1fff

/* Add v to the __u64 slot idx of a (per-CPU) array map of counters. */
#define COUNTER_ADD(map, idx, v)					\
	({								\
		__u32 __k = (idx);					\
		__u64 *__c = bpf_map_lookup_elem(&(map), &__k);		\
		if (__c)						\
			__sync_fetch_and_add(__c, (v));			\
	})

#endif
