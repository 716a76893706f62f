// SPDX-License-Identifier: GPL-2.0
/*
 * helpers.c - raw tracepoint programs that call the task, probe-read, string and
 * formatting helpers with arguments from the test-run context, and write what the
 * helpers return and write into one .bss struct (`io`). The same object runs in the
 * kernel (BPF_PROG_TEST_RUN of raw_tp, in the caller's task) and on the VM, and
 * tests/progtypes/test_progtypes_task.py / test_progtypes_strings.py compare `io`.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define BUF 256

struct io {
	__s64 ret;		/* 0: the helper's return value */
	__u64 res;		/* 8: strtol/strtoul result (pre-filled by the test) */
	__u64 vals[4];		/* 16: other results */
	__u64 data[12];		/* 48: bpf_snprintf arguments */
	char in[BUF];		/* 144: input string / format / kernel source bytes */
	char dst[BUF];		/* 400: destination buffer (pre-filled by the test) */
};

struct io io;

char LICENSE[] SEC("license") = "GPL";

/* ctx->args: none */
SEC("raw_tp/task")
int task_info(struct bpf_raw_tracepoint_args *ctx)
{
	io.vals[0] = bpf_get_current_pid_tgid();
	io.vals[1] = bpf_get_current_uid_gid();
	io.vals[2] = bpf_get_current_comm(io.dst, 16);
	io.vals[3] = bpf_get_current_comm(io.dst + 32, 5);
	io.ret = bpf_get_current_comm(io.dst + 64, 40);
	return 0;
}

/*
 * args: which helper (0-5: user, user_str, kernel, kernel_str, legacy, legacy_str of the
 * address in args[1]; 6-11: kernel, kernel_str, legacy, legacy_str, user, user_str of
 * io.in + args[3]), source address, size (<= 256), offset into io.in
 */
SEC("raw_tp/probe")
int probe(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 which = ctx->args[0];
	const void *src = (const void *)ctx->args[1];
	__u64 size = ctx->args[2];
	__u32 off = ctx->args[3] & 127;
	long r;

	if (size > BUF)
		return 1;
	if (which >= 6)
		src = io.in + off;
	switch (which) {
	case 0: case 10: r = bpf_probe_read_user(io.dst, size, src); break;
	case 1: case 11: r = bpf_probe_read_user_str(io.dst, size, src); break;
	case 2: case 6: r = bpf_probe_read_kernel(io.dst, size, src); break;
	case 3: case 7: r = bpf_probe_read_kernel_str(io.dst, size, src); break;
	case 4: case 8: r = bpf_probe_read(io.dst, size, src); break;
	case 5: case 9: r = bpf_probe_read_str(io.dst, size, src); break;
	default: return 1;
	}
	io.ret = r;
	return 0;
}

/* args: 0 strtol / 1 strtoul, buf_len - 1 (0..63), flags */
SEC("raw_tp/strtox")
int strtox(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 len = (ctx->args[1] & 63) + 1;

	if (ctx->args[0])
		io.ret = bpf_strtoul(io.in, len, ctx->args[2], (unsigned long *)&io.res);
	else
		io.ret = bpf_strtol(io.in, len, ctx->args[2], (long *)&io.res);
	return 0;
}

/* args: which constant string, s1_sz - 1 (0..127) */
SEC("raw_tp/strncmp")
int strncmp_prog(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 sz = (ctx->args[1] & 127) + 1;

	switch (ctx->args[0]) {
	case 0: io.ret = bpf_strncmp(io.in, sz, ""); break;
	case 1: io.ret = bpf_strncmp(io.in, sz, "a"); break;
	case 2: io.ret = bpf_strncmp(io.in, sz, "abc"); break;
	case 3: io.ret = bpf_strncmp(io.in, sz, "abcdefghij"); break;
	case 4: io.ret = bpf_strncmp(io.in, sz, "\x7f\x80\xff"); break;
	default: return 1;
	}
	return 0;
}

/*
 * args: fmt_size - 1 (0..255), arg1, arg2, arg3, pointer mask: bit i set replaces
 * arg i+1 by &io.dst (a kernel address).
 */
SEC("raw_tp/printk")
int printk(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 size = (ctx->args[0] & 255) + 1;
	__u64 mask = ctx->args[4];
	__u64 a1 = ctx->args[1], a2 = ctx->args[2], a3 = ctx->args[3];

	if (mask & 1)
		a1 = (__u64)io.dst;
	if (mask & 2)
		a2 = (__u64)io.dst;
	if (mask & 4)
		a3 = (__u64)io.dst;
	io.ret = bpf_trace_printk(io.in, size, a1, a2, a3);
	return 0;
}

/* args: fmt_size - 1 (0..255), data_len (0..96), pointer mask over io.data as below */
SEC("raw_tp/vprintk")
int vprintk(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 size = (ctx->args[0] & 255) + 1;
	__u64 len = ctx->args[1];
	__u64 mask = ctx->args[2];
	int i;

	if (len > sizeof(io.data))
		return 1;
	for (i = 0; i < 12; i++)
		if (mask & (1ULL << i))
			io.data[i] = (__u64)io.dst;
	io.ret = bpf_trace_vprintk(io.in, size, io.data, len);
	return 0;
}

#define SNPRINTF(id, fmt, n)						\
	case id: {							\
		static const char f[] = fmt;				\
		io.ret = bpf_snprintf(io.dst, size, f, io.data, (n) * 8); \
		break;							\
	}

/* args: which format, str_size (0..256), pointer mask: bit i replaces data[i] by &io.in */
SEC("raw_tp/snprintf")
int snprintf_prog(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 size = ctx->args[1];
	__u64 mask = ctx->args[2];
	int i;

	if (size > BUF)
		return 1;
	for (i = 0; i < 12; i++)
		if (mask & (1ULL << i))
			io.data[i] = (__u64)io.in;
	switch (ctx->args[0]) {
	SNPRINTF(0, "plain text", 0)
	SNPRINTF(1, "%d %i %u %x %X", 5)
	SNPRINTF(2, "%ld %li %lu %lx %lX", 5)
	SNPRINTF(3, "%lld %lli %llu %llx %llX", 5)
	SNPRINTF(4, "[%5d] [%-5d] [%05d] [%+d] [% d] [%-05d]", 6)
	SNPRINTF(5, "[%+u] [%+x] [% x] [%08X] [%-8lx] [%020llu]", 6)
	SNPRINTF(6, "%c%c%c [%3c] [%-3c]", 5)
	SNPRINTF(7, "[%s] [%10s] [%-10s] [%2s]", 4)
	SNPRINTF(8, "%pI4 %pi4 %pI6 %pi6", 4)
	SNPRINTF(9, "%px [%20px] [%-20px] 100%%", 3)
	SNPRINTF(10, "%pks|%pus|%s", 3)
	SNPRINTF(11, "%d%d%d%d%d%d%d%d%d%d%d%d", 12)
	SNPRINTF(12, "%ps %pS %pB", 3)
	default: return 1;
	}
	return 0;
}

/* no args */
SEC("raw_tp/cookie")
int cookie(struct bpf_raw_tracepoint_args *ctx)
{
	io.vals[0] = bpf_get_attach_cookie(ctx);
	return 0;
}
