/* CO-RE test programs: local definitions of kernel types (with ___flavor suffixes and
 * fields in a different order than the kernel's) read through preserve_access_index,
 * so every access becomes a CO-RE relocation that pybpf.btf.core resolves against
 * /sys/kernel/btf/vmlinux. No maps, no global data, no subprograms: after CO-RE the
 * programs load as they are. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define __core __attribute__((preserve_access_index))

/* the UAPI socket filter context, a few fields in another order */
struct __sk_buff___local {
	__u32 protocol;
	__u32 mark;
	__u32 len;
	__u32 ifindex;
	__u32 no_such_field;
} __core;

struct list_head___local {
	struct list_head___local *next, *prev;
} __core;

struct task_struct___local {
	char comm[16];
	unsigned int sched_migrated : 1;
	unsigned int sched_reset_on_fork : 1;
	int tgid;
	int pid;
	struct task_struct___local *real_parent;
	struct list_head___local children;
	int no_such_field;
} __core;

struct task_struct___missing {
	int pid;
} __core;

struct no_such_type___local {
	int x;
} __core;

enum bpf_func_id___local {
	BPF_FUNC_get_current_task___local = 1,
	BPF_FUNC_no_such_helper___local = 2,
};

typedef int pid_t___local;

/* socket filter: skb->len + skb->protocol, via relocated ctx loads */
SEC("socket")
int skb_len_proto(struct __sk_buff___local *skb)
{
	__u32 v = skb->len * 65536 + (skb->protocol & 0xffff);
	if (bpf_core_field_exists(skb->no_such_field))
		v += skb->no_such_field; /* dead in the kernel: poisoned, then removed */
	return v;
}

/* raw tracepoint (test-run on the caller's task): pid and parent's tgid */
SEC("raw_tp/sys_enter")
int task_tgid(void *ctx)
{
	struct task_struct___local *t = (void *)bpf_get_current_task();
	return BPF_CORE_READ(t, tgid);
}

SEC("raw_tp/sys_enter")
int task_parent_tgid(void *ctx)
{
	struct task_struct___local *t = (void *)bpf_get_current_task();
	return BPF_CORE_READ(t, real_parent, tgid);
}

SEC("raw_tp/sys_enter")
int task_comm0(void *ctx)
{
	struct task_struct___local *t = (void *)bpf_get_current_task();
	return BPF_CORE_READ(t, comm[0]);
}

/* every relocation kind, its value returned (one program per value would be overkill: the
 * test checks the relocation results, and that the kernel accepts the patched program) */
SEC("raw_tp/sys_enter")
int all_kinds(void *ctx)
{
	struct task_struct___local *t = (void *)bpf_get_current_task();
	__u64 acc = 0;

	acc += bpf_core_field_offset(t->pid);				/* FIELD_BYTE_OFFSET */
	acc += bpf_core_field_size(t->comm);				/* FIELD_BYTE_SIZE */
	acc += bpf_core_field_exists(t->pid);				/* FIELD_EXISTS */
	acc += bpf_core_field_exists(t->no_such_field);			/* FIELD_EXISTS (0) */
	acc += BPF_CORE_READ_BITFIELD_PROBED(t, sched_migrated);	/* SIGNED, LSHIFT, RSHIFT */
	acc += bpf_core_field_offset(t->children.prev);			/* nested member */
	acc += bpf_core_type_exists(struct task_struct___local);	/* TYPE_EXISTS */
	acc += bpf_core_type_exists(struct no_such_type___local);	/* TYPE_EXISTS (0) */
	acc += bpf_core_type_size(struct task_struct___local);		/* TYPE_SIZE */
	acc += bpf_core_type_id_local(struct task_struct___local);	/* TYPE_ID_LOCAL */
	acc += bpf_core_type_id_kernel(struct task_struct___local);	/* TYPE_ID_TARGET */
	acc += bpf_core_type_exists(pid_t___local);			/* typedef */
	acc += bpf_core_enum_value_exists(enum bpf_func_id___local,
					  BPF_FUNC_get_current_task___local);	/* ENUMVAL_EXISTS */
	acc += bpf_core_enum_value_exists(enum bpf_func_id___local,
					  BPF_FUNC_no_such_helper___local);	/* ENUMVAL_EXISTS (0) */
	acc += bpf_core_enum_value(enum bpf_func_id___local,
				   BPF_FUNC_get_current_task___local);	/* ENUMVAL_VALUE */
	return acc;
}

/* TYPE_MATCHES (bpf_core_type_matches) needs clang 15; the tests build those relocation
 * records by hand against this object's BTF (struct task_struct___missing, list_head___local). */
struct task_struct___missing *keep_missing;
struct list_head___local *keep_list;

char _license[] SEC("license") = "GPL";
