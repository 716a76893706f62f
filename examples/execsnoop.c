// SPDX-License-Identifier: GPL-2.0
/*
 * execsnoop.c - one event per execve and per openat, into a BPF ring buffer
 * (execsnoop and opensnoop in one object).
 *
 * Shows: two tracepoint programs on syscalls:sys_enter_execve and
 * syscalls:sys_enter_openat reading their records through a struct that
 * mirrors /sys/kernel/tracing/events/syscalls/sys_enter_<name>/format (no
 * vmlinux.h), bpf_ringbuf_reserve + bpf_ringbuf_submit with a record holding a
 * string read from user memory (bpf_probe_read_user_str), the current task's
 * ids and name, `.rodata` filters and a `.bss` counter of records the ring
 * had no room for.
 *
 * sys_enter_execve: a struct event (kind EVENT_EXEC) with the file name the
 *                   process asks to execute.
 * sys_enter_openat: a struct event (kind EVENT_OPEN) with the path, flags and
 *                   directory fd, when trace_open is true.
 * Both: pid (thread group) and tid, uid, the calling task's comm; only
 * target_tgid when it is not 0.  A full ring adds 1 to lost_events.
 * examples/execsnoop.py reads the ring with pybpf.kernel.RingBuffer.
 */
#include "common.h"

#define FILENAME_LEN 256

enum event_kind {
	EVENT_EXEC = 1,
	EVENT_OPEN = 2,
};

struct event {
	__u32 kind;		/* enum event_kind */
	__u32 pid;		/* thread group id */
	__u32 tid;
	__u32 uid;
	__s32 flags;		/* openat: the open flags */
	__s32 dfd;		/* openat: the directory fd (AT_FDCWD = -100) */
	char comm[16];
	char filename[FILENAME_LEN];
};

/* The common fields of every trace event record (8 bytes). */
struct trace_common {
	__u16 common_type;
	__u8 common_flags;
	__u8 common_preempt_count;
	__s32 common_pid;
};

/* syscalls/sys_enter_<name>: __syscall_nr at offset 8, each argument 8 bytes from 16. */
struct sys_enter_record {
	struct trace_common common;
	__s32 syscall_nr;
	__u32 pad;
	unsigned long args[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* the record type in BTF, for decoders (see ringbuf_events.c) */
const struct event *unused_event __attribute__((unused));

const volatile __u32 target_tgid = 0;	/* 0: every process */
const volatile bool trace_open = true;

__u64 lost_events;	/* .bss */

static __always_inline int emit(__u32 kind, const char *filename, __s32 flags, __s32 dfd)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct event *ev;

	if (target_tgid && tgid != target_tgid)
		return 0;
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		__sync_fetch_and_add(&lost_events, 1);
		return 0;
	}
	ev->kind = kind;
	ev->pid = tgid;
	ev->tid = (__u32)pid_tgid;
	ev->uid = (__u32)bpf_get_current_uid_gid();
	ev->flags = flags;
	ev->dfd = dfd;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	if (bpf_probe_read_user_str(ev->filename, sizeof(ev->filename), filename) < 0)
		ev->filename[0] = 0;
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int trace_execve(struct sys_enter_record *ctx)
{
	return emit(EVENT_EXEC, (const char *)ctx->args[0], 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int trace_openat(struct sys_enter_record *ctx)
{
	if (!trace_open)
		return 0;
	return emit(EVENT_OPEN, (const char *)ctx->args[1], (__s32)ctx->args[2],
		    (__s32)ctx->args[0]);
}

char LICENSE[] SEC("license") = "GPL";
