// BTF-typed attach points: tp_btf, fentry, fexit, lsm. Each program's attach_btf_id is
// found in vmlinux BTF at kernel instantiation (btf_trace_<tp>, <func>, bpf_lsm_<hook>).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 sys_enter_hits;

SEC("tp_btf/sys_enter")
int count_sys_enter(void *ctx)
{
	__sync_fetch_and_add(&sys_enter_hits, 1);
	return 0;
}

SEC("fentry/do_unlinkat")
int enter_unlinkat(void *ctx)
{
	return 0;
}

SEC("fexit/do_unlinkat")
int exit_unlinkat(void *ctx)
{
	return 0;
}

SEC("lsm/file_open")
int check_file_open(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
