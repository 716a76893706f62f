// SPDX-License-Identifier: GPL-2.0
/*
 * tp_syscalls.c - count system calls per syscall number and per process, and
 * failed system calls per syscall number, and keep a log2 histogram of syscall
 * latency, from the raw_syscalls tracepoints.
 *
 * Shows: BPF_PROG_TYPE_TRACEPOINT (SEC("tracepoint/<category>/<name>")), two
 * programs in two sections sharing maps, reading the tracepoint record
 * through a struct that mirrors
 * /sys/kernel/tracing/events/raw_syscalls/sys_{enter,exit}/format (no
 * vmlinux.h), hash maps with the lookup / insert-if-absent / atomic-add
 * pattern, bpf_get_current_pid_tgid, bpf_ktime_get_ns, a `.rodata` filter, and a
 * loop-free log2 (log2_bucket() in hist.h) for histogram buckets.
 *
 * sys_enter: syscall_counts[id] += 1 and pid_counts[tgid] += 1, and
 *            start[pid_tgid] = bpf_ktime_get_ns() (one slot per thread).
 * sys_exit:  syscall_errors[id] += 1 when ret < 0 (a -errno); if the thread has a
 *            start time, latency_hist[log2(now - start)] += 1 (ns; 64 __u64
 *            buckets, bucket k = 2^k .. 2^(k+1) - 1 ns) and the slot is deleted.
 * When target_tgid is not 0 only that process (thread group) is counted.
 * A negative id (the tracepoint reports -1 for some invalid calls) is not counted
 * and stores no start time.
 */
#include "common.h"
#include "hist.h"

/* The common fields of every trace event record (8 bytes). */
struct trace_common {
	__u16 common_type;
	__u8 common_flags;
	__u8 common_preempt_count;
	__s32 common_pid;
};

/* raw_syscalls/sys_enter: id at offset 8, args[6] at offset 16. */
struct sys_enter_record {
	struct trace_common common;
	long id;
	unsigned long args[6];
};

/* raw_syscalls/sys_exit: id at offset 8, ret at offset 16. */
struct sys_exit_record {
	struct trace_common common;
	long id;
	long ret;
};

const volatile __u32 target_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);			/* syscall number */
	__type(value, __u64);
	__uint(max_entries, 1024);
} syscall_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);			/* tgid (the process id) */
	__type(value, __u64);
	__uint(max_entries, 4096);
} pid_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);			/* syscall number */
	__type(value, __u64);
	__uint(max_entries, 1024);
} syscall_errors SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);			/* pid_tgid: the thread */
	__type(value, __u64);			/* bpf_ktime_get_ns() at sys_enter */
	__uint(max_entries, 10240);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);			/* floor(log2(latency in ns)) */
	__type(value, __u64);			/* syscalls */
	__uint(max_entries, LOG2_BUCKETS);
} latency_hist SEC(".maps");

/* map[key] += 1, inserting the key when it is absent. */
static __always_inline void bump(void *map, __u32 key)
{
	__u64 one = 1, *val;

	val = bpf_map_lookup_elem(map, &key);
	if (val) {
		__sync_fetch_and_add(val, 1);
		return;
	}
	/* Another CPU may insert it first: then add to its entry instead. */
	if (bpf_map_update_elem(map, &key, &one, BPF_NOEXIST)) {
		val = bpf_map_lookup_elem(map, &key);
		if (val)
			__sync_fetch_and_add(val, 1);
	}
}

static __always_inline int wanted(__u64 pid_tgid)
{
	return target_tgid == 0 || (__u32)(pid_tgid >> 32) == target_tgid;
}

SEC("tracepoint/raw_syscalls/sys_enter")
int count_sys_enter(struct sys_enter_record *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	long id = ctx->id;
	__u64 ts;

	if (id < 0 || !wanted(pid_tgid))
		return 0;
	bump(&syscall_counts, (__u32)id);
	bump(&pid_counts, (__u32)(pid_tgid >> 32));
	ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&start, &pid_tgid, &ts, BPF_ANY);
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int count_sys_exit(struct sys_exit_record *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	long id = ctx->id;
	__u64 *ts;

	if (!wanted(pid_tgid))
		return 0;
	ts = bpf_map_lookup_elem(&start, &pid_tgid);
	if (ts) {
		__u64 delta = bpf_ktime_get_ns() - *ts;

		bpf_map_delete_elem(&start, &pid_tgid);
		COUNTER_ADD(latency_hist, log2_bucket(delta), 1);
	}
	if (id >= 0 && ctx->ret < 0)
		bump(&syscall_errors, (__u32)id);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
