/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Shared by the networking-helper test programs: each program reads its request
 * (helper arguments) from the packet after a 14-byte Ethernet header, calls the
 * helper and writes what the helper returned or filled in back into the packet,
 * so the kernel's and the VM's test runs compare through retval and data_out. */
#ifndef PYBPF_TEST_NET_H
#define PYBPF_TEST_NET_H
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define ETH_HLEN 14
#define PKT(ctx) ((void *)(long)(ctx)->data)
#define PKT_END(ctx) ((void *)(long)(ctx)->data_end)
#endif
