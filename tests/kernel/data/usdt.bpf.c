// USDT: counts the hits of pybpf_test:tick and sums its two arguments (libbpf's
// usdt.bpf.h reads them from the spec pybpf stores in __bpf_usdt_specs).
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
/* usdt.bpf.h's helpers are __hidden global functions, which libbpf verifies as static
 * ones; pybpf loads them as they are, so they are inlined here instead. */
#undef __hidden
#define __hidden __attribute__((always_inline))
#include <bpf/usdt.bpf.h>

__u64 ticks, arg_sum, last_arg1, arg_count;
long last_arg0;

SEC("usdt/./usdt_target:pybpf_test:tick")
int BPF_USDT(on_tick, long seq, long value)
{
	__sync_fetch_and_add(&ticks, 1);
	__sync_fetch_and_add(&arg_sum, value);
	last_arg0 = seq;
	last_arg1 = value;
	arg_count = bpf_usdt_arg_cnt(ctx);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
