// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_frags.c - a multi-buffer XDP program (SEC("xdp.frags")): frames larger
 * than a page's linear area arrive as fragments, which only the byte helpers
 * reach.  The program records the linear and total lengths
 * (bpf_xdp_get_buff_len), sums the whole frame in 64-byte chunks with
 * bpf_xdp_load_bytes + bpf_csum_diff inside a bpf_loop, reads bytes around
 * the linear end, then applies the operation in frags_cfg:
 *
 *   0 READ    nothing more
 *   1 TAIL    bpf_xdp_adjust_tail(arg): shrink into / grow the last fragment
 *   2 STORE   bpf_xdp_store_bytes(arg, 8 bytes of arg2) (across the linear end)
 *   3 HEAD    bpf_xdp_adjust_head(arg)
 *
 * and sums the frame again.  Everything goes to frags_last.
 */
#define PKT_LOAD_BYTES bpf_xdp_load_bytes
#include "clang_common.h"

struct cfg {
	__u32 op;
	__s32 arg;
	__u64 arg2;
};

struct frags_res {
	__u32 linear0, len0, linear1, len1;
	__u32 sum0, sum1, chunks0, chunks1;
	__s64 ret, load_at_end, load_before_end, load_last;
	__u8 at_end[8], before_end[8], last[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct cfg);
	__uint(max_entries, 1);
} frags_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct frags_res);
	__uint(max_entries, 1);
} frags_last SEC(".maps");

struct sum_ctx {
	struct xdp_md *xdp;
	__u32 len;
	__u32 sum;
	__u32 chunks;
};

static long sum_chunk(__u32 i, void *c)
{
	struct sum_ctx *sc = c;
	__u8 buf[64] = {};
	__u32 off = i * 64, n;

	if (off >= sc->len)
		return 1;
	n = sc->len - off;
	if (n >= 64) {
		if (bpf_xdp_load_bytes(sc->xdp, off, buf, 64))
			return 1;
	} else {
		/* the tail chunk: 1..63 bytes, zero-padded to the multiple of 4 */
		if (bpf_xdp_load_bytes(sc->xdp, off, buf, ((n - 1) & 63) + 1))
			return 1;
	}
	sc->sum += (__u32)bpf_csum_diff(0, 0, (void *)buf, 64, 0);
	sc->sum = csum_fold32(sc->sum);
	sc->chunks++;
	return 0;
}

static __always_inline void sum_all(struct xdp_md *ctx, __u32 len, __u32 *sum, __u32 *chunks)
{
	struct sum_ctx sc = { .xdp = ctx, .len = len };

	bpf_loop(256, sum_chunk, &sc, 0);
	*sum = sc.sum;
	*chunks = sc.chunks;
}

SEC("xdp.frags")
int xdp_frags_main(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct cfg *cfg = bpf_map_lookup_elem(&frags_cfg, &zero);
	struct frags_res *r = bpf_map_lookup_elem(&frags_last, &zero);
	__u32 linear;

	if (!cfg || !r)
		return XDP_ABORTED;
	__builtin_memset(r, 0, sizeof(*r));
	linear = ctx->data_end - ctx->data;
	r->linear0 = linear;
	r->len0 = bpf_xdp_get_buff_len(ctx);
	sum_all(ctx, r->len0, &r->sum0, &r->chunks0);
	r->load_at_end = bpf_xdp_load_bytes(ctx, linear, r->at_end, 8);
	r->load_before_end = bpf_xdp_load_bytes(ctx, linear > 4 ? linear - 4 : 0,
						r->before_end, 8);
	r->load_last = bpf_xdp_load_bytes(ctx, r->len0 > 8 ? r->len0 - 8 : 0, r->last, 8);

	switch (cfg->op) {
	case 1:
		r->ret = bpf_xdp_adjust_tail(ctx, cfg->arg);
		break;
	case 2: {
		__u64 v = cfg->arg2;
		r->ret = bpf_xdp_store_bytes(ctx, cfg->arg, &v, 8);
		break;
	}
	case 3:
		r->ret = bpf_xdp_adjust_head(ctx, cfg->arg);
		break;
	default:
		break;
	}
	r->linear1 = ctx->data_end - ctx->data;
	r->len1 = bpf_xdp_get_buff_len(ctx);
	sum_all(ctx, r->len1, &r->sum1, &r->chunks1);
	return r->ret ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
