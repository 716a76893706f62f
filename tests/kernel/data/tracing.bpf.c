// BTF-typed programs (attach_btf_id from vmlinux BTF): tp_btf, fentry, fexit, lsm; each
// counts its runs.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 sys_enters, unlinkat_entries, unlinkat_exits, file_opens;

SEC("tp_btf/sys_enter")
int tp_sys_enter(void *ctx)
{
	__sync_fetch_and_add(&sys_enters, 1);
	return 0;
}

SEC("fentry/do_unlinkat")
int fentry_unlinkat(void *ctx)
{
	__sync_fetch_and_add(&unlinkat_entries, 1);
	return 0;
}

SEC("fexit/do_unlinkat")
int fexit_unlinkat(void *ctx)
{
	__sync_fetch_and_add(&unlinkat_exits, 1);
	return 0;
}

SEC("lsm/file_open")
int lsm_file_open(void *ctx)
{
	__sync_fetch_and_add(&file_opens, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
