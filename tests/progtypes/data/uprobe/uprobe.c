// SPDX-License-Identifier: GPL-2.0
/*
 * uprobe.c - a uprobe and a uretprobe (BPF_PROG_TYPE_KPROBE) that record, on each hit,
 * what the program sees: the whole struct pt_regs (x86-64: 168 bytes, read through the
 * ctx), PT_REGS_PARM1..3 / IP / SP / RC, bpf_get_func_ip, bpf_get_attach_cookie,
 * bpf_get_current_pid_tgid, bpf_get_current_comm and bpf_probe_read_user of READ_LEN
 * bytes at the first argument. tests/kernel/test_kernel_uprobe.py attaches them in the
 * kernel to a function the test process calls, then runs the same object on the VM with
 * the recorded pt_regs as ctx and compares the records field by field.
 * x86-64 only (the pt_regs layout and PT_REGS_* are the x86-64 ones).
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <asm/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define READ_LEN 32
#define NREGS 21		/* sizeof(struct pt_regs) / 8 on x86-64 */

struct record {
	__u64 regs[NREGS];	/*   0: struct pt_regs, word by word */
	__u64 parm[3];		/* 168: PT_REGS_PARM1..3 */
	__u64 ip;		/* 192: PT_REGS_IP */
	__u64 sp;		/* 200: PT_REGS_SP */
	__u64 rc;		/* 208: PT_REGS_RC */
	__u64 func_ip;		/* 216: bpf_get_func_ip */
	__u64 cookie;		/* 224: bpf_get_attach_cookie */
	__u64 pid_tgid;		/* 232: bpf_get_current_pid_tgid */
	__s64 comm_ret;		/* 240: bpf_get_current_comm's return */
	char comm[16];		/* 248 */
	__s64 read_ret;		/* 264: bpf_probe_read_user's return */
	__u8 buf[READ_LEN];	/* 272 */
	__u64 hits;		/* 304: how many hits wrote this slot */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);	/* 0: the uprobe, 1: the uretprobe */
	__type(key, __u32);
	__type(value, struct record);
} records SEC(".maps");

char LICENSE[] SEC("license") = "GPL";

static __always_inline int record(struct pt_regs *ctx, __u32 slot)
{
	struct record *r = bpf_map_lookup_elem(&records, &slot);
	const __u64 *words = (const __u64 *)ctx;

	if (!r)
		return 0;
#pragma unroll
	for (int i = 0; i < NREGS; i++)
		r->regs[i] = words[i];
	r->parm[0] = PT_REGS_PARM1(ctx);
	r->parm[1] = PT_REGS_PARM2(ctx);
	r->parm[2] = PT_REGS_PARM3(ctx);
	r->ip = PT_REGS_IP(ctx);
	r->sp = PT_REGS_SP(ctx);
	r->rc = PT_REGS_RC(ctx);
	r->func_ip = bpf_get_func_ip(ctx);
	r->cookie = bpf_get_attach_cookie(ctx);
	r->pid_tgid = bpf_get_current_pid_tgid();
	r->comm_ret = bpf_get_current_comm(r->comm, sizeof(r->comm));
	r->read_ret = bpf_probe_read_user(r->buf, READ_LEN, (const void *)PT_REGS_PARM1(ctx));
	r->hits++;
	return 0;
}

SEC("uprobe")
int probe_entry(struct pt_regs *ctx)
{
	return record(ctx, 0);
}

SEC("uretprobe")
int probe_return(struct pt_regs *ctx)
{
	return record(ctx, 1);
}
