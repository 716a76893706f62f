// kprobe / kretprobe / kprobe.multi on the getppid syscall's kernel function.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 kprobe_hits, kretprobe_hits, multi_hits;

SEC("kprobe/__x64_sys_getppid")
int on_kprobe(void *ctx)
{
	__sync_fetch_and_add(&kprobe_hits, 1);
	return 0;
}

SEC("kretprobe/__x64_sys_getppid")
int on_kretprobe(void *ctx)
{
	__sync_fetch_and_add(&kretprobe_hits, 1);
	return 0;
}

SEC("kprobe.multi/__x64_sys_getppi*")
int on_multi(void *ctx)
{
	__sync_fetch_and_add(&multi_hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
