/* SPDX-License-Identifier: MIT */
/*
 * bpf/bpf_endian.h - shipped with pybpf: byte order conversions for little-endian BPF
 * (bpfel).  The byte swaps of constants fold at compile time, so bpf_htons(ETH_P_IP)
 * works in a case label.
 */
#ifndef __PYBPF_BPF_ENDIAN_H
#define __PYBPF_BPF_ENDIAN_H

#define bpf_htons(x) ((__u16)__builtin_bswap16((__u16)(x)))
#define bpf_ntohs(x) ((__u16)__builtin_bswap16((__u16)(x)))
#define bpf_htonl(x) ((__u32)__builtin_bswap32((__u32)(x)))
#define bpf_ntohl(x) ((__u32)__builtin_bswap32((__u32)(x)))
#define bpf_cpu_to_be64(x) ((__u64)__builtin_bswap64((__u64)(x)))
#define bpf_be64_to_cpu(x) ((__u64)__builtin_bswap64((__u64)(x)))

#endif
