/* Global functions (BTF_FUNC_GLOBAL), verified once against their BTF prototype: the
 * programs of tests/verifier/test_global_funcs.py, each compared with the kernel.
 * Build: clang -O2 -g -target bpf -I/usr/include/$(uname -m)-linux-gnu -c globalfuncs.c */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

__noinline int g_scalar(int x) { return x * 2 + 1; }
__noinline int g_ctx(struct xdp_md *ctx) { return ctx->data_end - ctx->data; }
__noinline int g_mem(int *p) { if (!p) return 0; return *p; }
__noinline int g_mem_nonull_check(int *p) { return *p; }
__noinline int g_adjust(struct xdp_md *ctx) { return bpf_xdp_adjust_head(ctx, 0); }
__noinline int g_big(char *p) { return p[40]; }

SEC("xdp") int ok_scalar(struct xdp_md *ctx) { return g_scalar(ctx->ingress_ifindex) & 1; }
SEC("xdp") int ok_ctx(struct xdp_md *ctx) { return g_ctx(ctx) > 10 ? 1 : 2; }
SEC("xdp") int ok_mem(struct xdp_md *ctx) { int v = 3; return g_mem(&v) == 3 ? 2 : 1; }
SEC("xdp") int bad_mem_deref(struct xdp_md *ctx) { int v = 3; return g_mem_nonull_check(&v) & 1; }
SEC("xdp") int ok_null_arg(struct xdp_md *ctx) { return g_mem((int *)0) ? 1 : 2; }
SEC("xdp") int stale_pkt(struct xdp_md *ctx) {
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    if (data + 1 > end) return 1;
    g_adjust(ctx);
    return *(unsigned char *)data;
}
SEC("xdp") int ok_pkt_reload(struct xdp_md *ctx) {
    g_adjust(ctx);
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    if (data + 1 > end) return 1;
    return *(unsigned char *)data & 1;
}
SEC("xdp") int bad_small_arg(struct xdp_md *ctx) { char buf[8] = {}; return g_big(buf) & 1; }
SEC("xdp") int bad_pkt_as_mem(struct xdp_md *ctx) {
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    if (data + 2 > end) return 1;
    return g_mem(data) & 1;
}
SEC("xdp") int ok_pkt_as_mem(struct xdp_md *ctx) {
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    if (data + 4 > end) return 1;
    return g_mem(data) & 1;
}
struct pair { int a; int b; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int); __type(value, int); } arr SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 1); __type(key, int); __type(value, int); } jt SEC(".maps");
const volatile int ro_val = 5;

__noinline void g_void(int x) { bpf_printk("%d", x); }
__noinline int g_voidp(void *p) { return p != 0; }
__noinline int g_six(int a, int b, int c, int d, int e) { return a + b + c + d + e; }
__noinline long g_retptr(int *p) { return (long)p; }
__noinline int g_pair(struct pair *p) { if (!p) return 0; return p->a + p->b; }
__noinline int g_write(int *p) { if (!p) return 0; *p = 1; return 0; }
__noinline int g_tail(struct xdp_md *ctx) { bpf_tail_call(ctx, &jt, 0); return 0; }
__noinline int g_inner(struct xdp_md *ctx) { return bpf_xdp_adjust_head(ctx, 0); }
__noinline int g_outer(struct xdp_md *ctx) { return g_inner(ctx) + 1; }
static __noinline int s_calls_global(struct xdp_md *ctx) { return g_inner(ctx); }
__noinline int g_ctxoff(struct xdp_md *ctx) { return ctx->ingress_ifindex; }

SEC("xdp") int ok_void(struct xdp_md *ctx) { g_void(1); return 2; }
SEC("xdp") int ok_voidp(struct xdp_md *ctx) { int v = 0; return g_voidp(&v) ? 2 : 1; }
SEC("xdp") int t_retptr(struct xdp_md *ctx) { int v = 0; return g_retptr(&v) ? 2 : 1; }
SEC("xdp") int t_pair_map(struct xdp_md *ctx) {
    int k = 0; int *v = bpf_map_lookup_elem(&arr, &k);
    if (!v) return 1;
    return g_pair((struct pair *)v) & 1;   /* 8 bytes from a 4-byte value */
}
SEC("xdp") int t_map_ok(struct xdp_md *ctx) {
    int k = 0; int *v = bpf_map_lookup_elem(&arr, &k);
    return g_write(v) & 1;     /* maybe-null map value into nullable mem */
}
SEC("xdp") int t_rodata(struct xdp_md *ctx) { return g_write((int *)&ro_val) & 1; }
SEC("xdp") int t_tail_pkt(struct xdp_md *ctx) {
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    if (data + 1 > end) return 1;
    g_tail(ctx);
    return *(unsigned char *)data & 1;
}
SEC("xdp") int t_nested_pkt(struct xdp_md *ctx) {
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    if (data + 1 > end) return 1;
    g_outer(ctx);
    return *(unsigned char *)data & 1;
}
SEC("xdp") int t_static_pkt(struct xdp_md *ctx) {
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    if (data + 1 > end) return 1;
    s_calls_global(ctx);
    return *(unsigned char *)data & 1;
}
SEC("xdp") int t_ctx_scalar(struct xdp_md *ctx) { return g_ctxoff((struct xdp_md *)(long)ctx->ingress_ifindex) & 1; }
SEC("xdp") int t_ok_plain(struct xdp_md *ctx) { return 2; }
SEC("tc") int t_tc_ctx(struct __sk_buff *skb) { return g_ctxoff((struct xdp_md *)skb) & 1; }
struct fwd;
typedef int myint;
enum color { RED, GREEN };
__noinline int g_scalar_l(long x) { return x & 1; }
__noinline int g_ctx_if(struct xdp_md *ctx) { return ctx->ingress_ifindex & 1; }
__noinline int g_fwd(struct fwd *p) { return p != 0; }
__noinline myint g_td(myint x, enum color c) { return x + c; }
__noinline int g_arr(int (*p)[4]) { if (!p) return 0; return (*p)[3]; }
__noinline int g_pp(int **p) { return p != 0; }

SEC("xdp") int t_ptr_as_scalar(struct xdp_md *ctx) { return g_scalar_l((long)ctx) & 1; }
SEC("xdp") int t_ctx_off(struct xdp_md *ctx) { return g_ctx_if((struct xdp_md *)((char *)ctx + 4)); }
SEC("xdp") int t_fwd(struct xdp_md *ctx) { return g_fwd(0) ? 1 : 2; }
SEC("xdp") int t_td(struct xdp_md *ctx) { return g_td(ctx->ingress_ifindex, GREEN) & 1; }
SEC("xdp") int t_arr_small(struct xdp_md *ctx) { int a[3] = {}; return g_arr((int (*)[4])a) & 1; }
SEC("xdp") int t_arr_ok(struct xdp_md *ctx) { int a[4] = {}; return g_arr(&a) & 1; }
SEC("xdp") int t_pp(struct xdp_md *ctx) { int *q = 0; return g_pp(&q) & 1; }
SEC("xdp") int t_pkt_end(struct xdp_md *ctx) { return g_pp((int **)(long)ctx->data_end) & 1; }
SEC("xdp") int t_ctx_ok(struct xdp_md *ctx) { return g_ctx_if(ctx); }
