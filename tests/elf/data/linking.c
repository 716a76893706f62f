// A legacy-maps object with global data, a .text sub-program called from two programs
// and a bpf_loop callback (a function pointer): fixtures for the ELF loader.
#define SEC(n) __attribute__((section(n), used))
typedef unsigned int __u32; typedef unsigned long long __u64;
struct bpf_map_def { __u32 type, key_size, value_size, max_entries, map_flags; };
struct bpf_map_def SEC("maps") counts = { 1 /*hash*/, 4, 8, 16, 0 };
struct bpf_map_def SEC("maps") arr = { 2 /*array*/, 4, 4, 4, 0 };
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *) 1;
static long (*bpf_loop)(__u32 nr, void *fn, void *ctx, __u64 flags) = (void *) 181;
volatile const __u32 cfg_port = 80;
__u64 hits = 3;
__u64 zeroed;
static __attribute__((noinline)) int helper_add(int a, int b) { return a + b + (int)cfg_port; }
static long cb(__u32 i, void *ctx) { (*(__u64 *)ctx) += i; return 0; }
SEC("xdp") int prog_a(void *ctx) {
    __u32 k = 1; __u64 *v = bpf_map_lookup_elem(&counts, &k);
    if (v) (*v)++;
    hits++; zeroed = 2;
    __u64 acc = 0; bpf_loop(4, cb, &acc, 0);
    return helper_add(1, 2) + (int)acc;
}
SEC("xdp") int prog_b(void *ctx) { __u32 k = 0; __u32 *v = bpf_map_lookup_elem(&arr, &k); return v ? *v + helper_add(3, 4) : 1; }
SEC("socket") int sock(void *ctx) { return 0; }
char _license[] SEC("license") = "GPL";
