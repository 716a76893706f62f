/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * hist.h - log2 histogram buckets for the example programs that keep histograms
 * (sockfilter_proto.c, tp_syscalls.c).  Include after common.h.
 */
#ifndef PYBPF_EXAMPLES_HIST_H
#define PYBPF_EXAMPLES_HIST_H

/* Buckets in a log2 histogram of __u64 values: one per possible floor(log2). */
#define LOG2_BUCKETS	64

/*
 * floor(log2(v)) for v > 0, and 0 for v = 0: the log2 histogram bucket of v (bucket k
 * holds 2^k .. 2^(k+1) - 1, bucket 0 also holds 0), 0..63.  Five halving steps on the
 * bit width, each a compare and a shift, so there is no loop for the verifier to walk.
 */
static __always_inline __u32 log2_bucket(__u64 v)
{
	__u32 r = 0, s;

	s = (v > 0xffffffffULL) << 5; v >>= s; r += s;
	s = (v > 0xffff) << 4; v >>= s; r += s;
	s = (v > 0xff) << 3; v >>= s; r += s;
	s = (v > 0xf) << 2; v >>= s; r += s;
	s = (v > 0x3) << 1; v >>= s; r += s;
	return r + (__u32)(v >> 1);
}

#endif
