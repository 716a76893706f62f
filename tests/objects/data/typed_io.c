// SPDX-License-Identifier: GPL-2.0
/*
 * typed_io.c - typed maps, typed globals and run output, for tests/objects.
 *
 * Every run: runs += 1 (.bss); the first 8 bytes of the packet (when there are 8)
 * are a struct flow_key, looked up in `flows`: found, its packets and bytes grow;
 * absent and mode == MODE_COUNT, it is inserted as {1, len, label}. `per_cpu[0]`
 * counts packets and bytes. One struct event goes to the ring buffer `events` and
 * one to the perf event array `perf_events` (BPF_F_CURRENT_CPU); bpf_printk says
 * "typed_io: run <n> len <len>". The verdict is XDP_DROP when the key is in `flows`
 * with a tag of "drop", or when limits.enabled and len > limits.max_len; else
 * XDP_PASS. `last` (.bss) keeps the last event.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <stdbool.h>

enum mode { MODE_OFF = 0, MODE_COUNT = 1, MODE_LEARN = 2 };

struct limits {
	__u32 max_len;
	__u16 burst;
	bool enabled;
};

struct flow_key {
	__u32 addr;
	__u16 port;
	__u8 proto;
	__u8 pad;
};

struct flow_stats {
	__u64 packets;
	__u64 bytes;
	char tag[8];
};

struct counters {
	__u64 packets;
	__u64 bytes;
};

struct event {
	__u64 run;
	__u32 len;
	enum mode mode;
	char label[8];
};

/* .rodata */
const volatile enum mode mode = MODE_COUNT;
const volatile bool verbose = true;
const volatile struct limits limits = { .max_len = 1000, .burst = 4, .enabled = true };

/* .data */
char label[8] = "new";
__u16 ports[3] = { 53, 80, 443 };

/* .bss */
__u64 runs;
struct event last;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct flow_key);
	__type(value, struct flow_stats);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct counters);
} per_cpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, 64);
} perf_events SEC(".maps");

SEC("xdp")
int typed_io(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 len = data_end - data;
	__u64 n = __sync_fetch_and_add(&runs, 1) + 1;
	struct flow_key key = {};
	struct flow_stats *fs = 0;
	struct counters *c;
	struct event ev = {};
	__u32 zero = 0;
	int verdict = XDP_PASS;

	if (data + sizeof(key) <= data_end) {
		__builtin_memcpy(&key, data, sizeof(key));
		fs = bpf_map_lookup_elem(&flows, &key);
		if (fs) {
			__sync_fetch_and_add(&fs->packets, 1);
			__sync_fetch_and_add(&fs->bytes, len);
			if (fs->tag[0] == 'd' && fs->tag[1] == 'r' && fs->tag[2] == 'o' &&
			    fs->tag[3] == 'p' && fs->tag[4] == 0)
				verdict = XDP_DROP;
		} else if (mode == MODE_COUNT) {
			struct flow_stats init = { .packets = 1, .bytes = len };

			__builtin_memcpy(init.tag, label, sizeof(init.tag));
			bpf_map_update_elem(&flows, &key, &init, BPF_NOEXIST);
		}
	}
	c = bpf_map_lookup_elem(&per_cpu, &zero);
	if (c) {
		c->packets += 1;
		c->bytes += len;
	}
	if (limits.enabled && len > limits.max_len)
		verdict = XDP_DROP;

	ev.run = n;
	ev.len = len;
	ev.mode = mode;
	__builtin_memcpy(ev.label, label, sizeof(ev.label));
	bpf_ringbuf_output(&events, &ev, sizeof(ev), 0);
	bpf_perf_event_output(ctx, &perf_events, BPF_F_CURRENT_CPU, &ev, sizeof(ev));
	last = ev;
	if (verbose)
		bpf_printk("typed_io: run %llu len %u", n, len);
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";
