// bpf_spin_lock in map values: what the 6.18 verifier accepts and refuses (the lock's
// place in the value from BTF, one lock at a time, the same lock unlocked, no calls or
// exit while it is held, no direct access to the lock). Each program is one case of
// tests/verifier/test_spinlock.py's table.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct counter {
	struct bpf_spin_lock lock;
	__u32 pad;
	__u64 count;
	__u64 bytes;
};

struct nested {
	__u64 first;
	struct counter c;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct counter);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, struct counter);
} by_port SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nested);
} deep SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} plain SEC(".maps");

static __always_inline struct counter *get(__u32 key)
{
	return bpf_map_lookup_elem(&counters, &key);
}

SEC("tc")
int ok_lock(struct __sk_buff *skb)
{
	struct counter *c = get(0);

	if (!c)
		return 0;
	bpf_spin_lock(&c->lock);
	c->count++;
	c->bytes += skb->len;
	bpf_spin_unlock(&c->lock);
	return 0;
}

SEC("tc")
int ok_hash_lock(struct __sk_buff *skb)
{
	__u32 key = skb->protocol;
	struct counter *c = bpf_map_lookup_elem(&by_port, &key);

	if (!c)
		return 0;
	bpf_spin_lock(&c->lock);
	if (skb->len > 100)
		c->bytes += skb->len;
	else
		c->count++;
	bpf_spin_unlock(&c->lock);
	return 0;
}

SEC("tc")
int ok_nested(struct __sk_buff *skb)
{
	__u32 key = 0;
	struct nested *n = bpf_map_lookup_elem(&deep, &key);

	if (!n)
		return 0;
	bpf_spin_lock(&n->c.lock);
	n->c.count++;
	bpf_spin_unlock(&n->c.lock);
	return 0;
}

SEC("tc")
int bad_exit_locked(struct __sk_buff *skb)
{
	struct counter *c = get(0);

	if (!c)
		return 0;
	bpf_spin_lock(&c->lock);
	c->count++;
	return 0;
}

SEC("tc")
int bad_exit_one_branch(struct __sk_buff *skb)
{
	struct counter *c = get(0);

	if (!c)
		return 0;
	bpf_spin_lock(&c->lock);
	if (skb->len > 100)
		return 1;
	bpf_spin_unlock(&c->lock);
	return 0;
}

SEC("tc")
int bad_call_locked(struct __sk_buff *skb)
{
	struct counter *c = get(0);

	if (!c)
		return 0;
	bpf_spin_lock(&c->lock);
	c->count += bpf_get_prandom_u32();
	bpf_spin_unlock(&c->lock);
	return 0;
}

SEC("tc")
int bad_unlock_only(struct __sk_buff *skb)
{
	struct counter *c = get(0);

	if (!c)
		return 0;
	bpf_spin_unlock(&c->lock);
	return 0;
}

SEC("tc")
int bad_two_locks(struct __sk_buff *skb)
{
	struct counter *a = get(0), *b = get(1);

	if (!a || !b)
		return 0;
	bpf_spin_lock(&a->lock);
	bpf_spin_lock(&b->lock);
	bpf_spin_unlock(&b->lock);
	bpf_spin_unlock(&a->lock);
	return 0;
}

SEC("tc")
int bad_other_unlock(struct __sk_buff *skb)
{
	struct counter *a = get(0), *b = get(1);

	if (!a || !b)
		return 0;
	bpf_spin_lock(&a->lock);
	a->count++;
	bpf_spin_unlock(&b->lock);
	return 0;
}

SEC("tc")
int bad_lock_offset(struct __sk_buff *skb)
{
	struct counter *c = get(0);

	if (!c)
		return 0;
	bpf_spin_lock((struct bpf_spin_lock *)&c->count);
	bpf_spin_unlock((struct bpf_spin_lock *)&c->count);
	return 0;
}

SEC("tc")
int bad_no_lock_in_value(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&plain, &key);

	if (!v)
		return 0;
	bpf_spin_lock((struct bpf_spin_lock *)v);
	bpf_spin_unlock((struct bpf_spin_lock *)v);
	return 0;
}

SEC("tc")
int bad_read_lock(struct __sk_buff *skb)
{
	struct counter *c = get(0);

	if (!c)
		return 0;
	return *(volatile __u32 *)&c->lock;
}

SEC("tc")
int bad_write_over_lock(struct __sk_buff *skb)
{
	struct counter *c = get(0);

	if (!c)
		return 0;
	*(volatile __u64 *)c = 0;
	return 0;
}

SEC("tc")
int bad_var_lock(struct __sk_buff *skb)
{
	struct counter *c = get(0);
	__u32 i = skb->len & 1;

	if (!c)
		return 0;
	bpf_spin_lock((struct bpf_spin_lock *)((char *)c + i * 4));
	bpf_spin_unlock((struct bpf_spin_lock *)((char *)c + i * 4));
	return 0;
}

SEC("tc")
int bad_lock_stack(struct __sk_buff *skb)
{
	struct bpf_spin_lock l = {};

	bpf_spin_lock(&l);
	bpf_spin_unlock(&l);
	return 0;
}

static __attribute__((noinline)) int bump(struct counter *c)
{
	c->count++;
	return 0;
}

SEC("tc")
int static_call_locked(struct __sk_buff *skb)
{
	struct counter *c = get(0);

	if (!c)
		return 0;
	bpf_spin_lock(&c->lock);
	bump(c);
	bpf_spin_unlock(&c->lock);
	return 0;
}

static __attribute__((noinline)) int unlock_in_callee(struct counter *c)
{
	bpf_spin_unlock(&c->lock);
	return 0;
}

SEC("tc")
int ok_unlock_in_static(struct __sk_buff *skb)
{
	struct counter *c = get(0);

	if (!c)
		return 0;
	bpf_spin_lock(&c->lock);
	unlock_in_callee(c);
	return 0;
}

SEC("socket")
int sockfilter_lock(struct __sk_buff *skb)
{
	struct counter *c = get(0);

	if (!c)
		return 0;
	bpf_spin_lock(&c->lock);
	c->count++;
	bpf_spin_unlock(&c->lock);
	return 0;
}



__attribute__((noinline)) int global_bump(struct counter *c)
{
	if (c)
		c->count++;
	return 0;
}

SEC("tc")
int bad_global_call_locked(struct __sk_buff *skb)
{
	struct counter *c = get(0);

	if (!c)
		return 0;
	bpf_spin_lock(&c->lock);
	global_bump(c);
	bpf_spin_unlock(&c->lock);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
