/* Every BTF kind clang 14 emits: ints of each width and signedness, pointers, arrays,
 * structs and unions with bitfields and anonymous members, enums, forward declarations,
 * typedefs, cv/restrict qualifiers, functions (static and global), variables in .data,
 * .rodata, .bss and a custom section, .maps, floats, decl and type tags, and externs. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define __tag(x) __attribute__((btf_decl_tag(x)))
#define __ttag(x) __attribute__((btf_type_tag(x)))

typedef unsigned int u32_t;
typedef long long s64_t;

enum color { RED, GREEN = 5, BLUE = -1 };
enum big { BIG_A = 1, BIG_B = 0x7fffffff };

struct fwd_only;
union fwd_union;

struct bits {
	unsigned int a : 3;
	signed int b : 5;
	unsigned long long c : 40;
	unsigned char d;
	_Bool e : 1;
	enum color col : 8;
};

struct inner {
	int x;
	char name[16];
};

struct outer {
	struct inner in;
	union {
		__u32 u;
		float f;
		struct {
			__u16 lo, hi;
		};
	};
	struct inner arr[2][3];
	const volatile int *cvp;
	int *restrict rp;
	struct fwd_only *fp;
	union fwd_union *up;
	double d;
	long double ld;
	void (*fn)(int, const char *);
	int __ttag("user") *tagged;
	int tagged_field __tag("field_tag");
	__s8 s8; __u8 u8; __s16 s16; __u16 u16; __s64 s64; __u64 u64;
	__int128 i128;
	unsigned __int128 u128;
	char c; signed char sc; unsigned char uc; short sh; long l; unsigned long ul;
	s64_t s64t; u32_t u32t;
	enum big big;
	int flex[];
} __tag("struct_tag");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct inner);
	__type(value, struct bits);
} hmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct outer);
} amap SEC(".maps");

/* map-in-map and prog array templates, and map_extra as newer bpf_helpers.h spells it */
#ifndef __ulong
#define __ulong(name, val) enum { ___bpf_concat(__unique_value, __COUNTER__) = val } name
#endif

struct inner_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner_map);
} outer_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, 4);
	__array(values, int (void *));
} jmp_table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 64);
	__type(value, __u32);
	__ulong(map_extra, 3);
	__uint(map_flags, 0);
} bloom SEC(".maps");

int data_var = 7;
const volatile int rodata_var = 3;
int bss_var;
static int static_var = 9;
__u64 bss_arr[4];
const volatile char rostr[8] = "hello";
int custom_var SEC(".data.custom") = 11;

extern int LINUX_KERNEL_VERSION __kconfig;
extern _Bool CONFIG_BPF_SYSCALL __kconfig __weak;
extern const void bpf_prog_active __ksym;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_task_release(struct task_struct *) __ksym; /* unnamed parameter */

static __attribute__((noinline)) int helper(struct outer *o, int k __tag("arg_tag"))
{
	return o ? o->in.x + k + static_var : 0;
}

__attribute__((noinline)) int global_fn(struct bits *b, enum color c) __tag("func_tag")
{
	return b->a + b->b + c;
}

SEC("socket")
int prog(void *ctx)
{
	struct outer o = {};
	struct bits b = {};
	__u32 k = 0;
	static int calls; /* a static local: VAR 'prog.calls' */
	struct outer *v = bpf_map_lookup_elem(&amap, &k);
	if (v)
		o.in.x = v->in.x;
	bss_var += data_var + rodata_var + custom_var + (int)bss_arr[1] + rostr[0];
	bss_var += LINUX_KERNEL_VERSION + CONFIG_BPF_SYSCALL;
	bss_var += helper(&o, 1) + global_fn(&b, GREEN);
	bss_var += (long)&bpf_prog_active;
	if (bpf_map_lookup_elem(&outer_map, &k) || bpf_map_lookup_elem(&bloom, &k))
		bpf_tail_call(ctx, &jmp_table, 0);
	static_var++;
	if (bss_var == 12345)
		bpf_rcu_read_lock();
	if (++calls == 54321)
		bpf_task_release(0);
	return bss_var;
}

char _license[] SEC("license") = "GPL";
