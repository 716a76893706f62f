"""Which kernel helpers the program-type tests compare with the kernel, and how, as data.

COVERAGE maps a helper's kernel name (without `bpf_`) to an Entry:

* `method`: "equal" when the tests require the VM's values (return values, packet,
  context, maps) to be equal to the kernel's for the same input; "property: ..." when
  the kernel's value cannot be reproduced (clocks, random numbers, a keyed hash) and the
  tests check the stated property on both backends instead.
* `test`: the test file (relative to tests/) that makes the comparison.
* `objects`: glob patterns (relative to tests/) of the compiled programs that call the
  helper. test_progtypes_clang_coverage.py decodes their call instructions and fails
  for an entry whose helper none of them calls, so the table cannot claim more than
  the programs do. Empty for a suite of hand-assembled programs: then the test file
  itself must contain `call bpf_<helper>`.

To add entries from another suite, add them to COVERAGE with that suite's test file
and objects.
"""

from __future__ import annotations

from typing import NamedTuple


class Entry(NamedTuple):
    method: str
    test: str
    objects: tuple[str, ...]


CLANG_TEST = "progtypes/test_progtypes_clang.py"
CLANG_OBJECTS = ("progtypes/data/clang/*.o",)


def _clang(method: str = "equal") -> Entry:
    return Entry(method, CLANG_TEST, CLANG_OBJECTS)


def _tracing(test: str) -> Entry:
    """raw_tp programs run by BPF_PROG_TEST_RUN in the caller's task and on the VM."""
    return Entry("equal", f"progtypes/{test}", ("progtypes/data/tracing/*.o",))


def _net(test: str, obj: str, method: str = "equal") -> Entry:
    """XDP/tc/lwt programs in a network namespace the test builds, the VM given the
    same namespace (net.netns.read_netns)."""
    return Entry(method, f"progtypes/{test}", (f"progtypes/data/net/{obj}.o",))


def _asm(test: str) -> Entry:
    """Hand-assembled programs run on both backends with the same expectations."""
    return Entry("equal", test, ())


_TIME = ("property: between the host's clock read before and after the run, "
         "non-decreasing within a run and across runs")

COVERAGE: dict[str, Entry] = {
    # maps, ring buffers, control flow
    "map_lookup_elem": _clang(),
    "map_update_elem": _clang(),
    "ringbuf_output": _clang(),
    "ringbuf_reserve": _clang(),
    "ringbuf_submit": _clang(),
    "tail_call": _clang(),
    "loop": _clang(),
    "for_each_map_elem": _clang(),
    # XDP
    "xdp_adjust_head": _clang(),
    "xdp_adjust_tail": _clang(),
    "xdp_adjust_meta": _clang(),
    "xdp_load_bytes": _clang(),
    "xdp_store_bytes": _clang(),
    "xdp_get_buff_len": _clang(),
    "redirect": _clang(),
    # sk_buff
    "csum_diff": _clang(),
    "skb_load_bytes": _clang(),
    "skb_load_bytes_relative": _clang(),
    "skb_store_bytes": _clang(),
    "l3_csum_replace": _clang(),
    "l4_csum_replace": _clang(),
    "csum_update": _clang(),
    "csum_level": _clang(),
    "skb_change_head": _clang(),
    "skb_change_tail": _clang(),
    "skb_change_proto": _clang(),
    "skb_change_type": _clang(),
    "skb_adjust_room": _clang(),
    "skb_pull_data": _clang(),
    "skb_vlan_push": _clang(),
    "skb_vlan_pop": _clang(),
    "set_hash": _clang(),
    "set_hash_invalid": _clang(),
    "get_socket_uid": _clang(),
    "get_hash_recalc": _clang(
        "property: non-zero u32, the same on a second call in the run, in skb->hash "
        "after it and for the same frame in another run (the kernel keys its flow hash "
        "with a per-boot secret); equal to the value bpf_set_hash set"),
    # non-deterministic
    "ktime_get_ns": _clang(_TIME + " (CLOCK_MONOTONIC)"),
    "ktime_get_boot_ns": _clang(_TIME + " (CLOCK_BOOTTIME)"),
    "ktime_get_tai_ns": _clang(_TIME + " (CLOCK_TAI)"),
    "ktime_get_coarse_ns": _clang(
        "property: between CLOCK_MONOTONIC_COARSE before the run and CLOCK_MONOTONIC "
        "after it"),
    "jiffies64": _clang("property: non-decreasing across runs, advancing at most "
                        "1000 per second of host time"),
    "get_prandom_u32": _clang("property: u32, not one value across the runs"),
    "get_smp_processor_id": _clang("property: below the host's CPU count"),
    "get_numa_node_id": _clang("property: 0"),
    # the task, probe reads, strings and formatting (raw tracepoints)
    **{h: _tracing("test_progtypes_task.py") for h in (
        "get_current_pid_tgid", "get_current_uid_gid", "get_current_comm",
        "probe_read_user", "probe_read_user_str", "probe_read_kernel",
        "probe_read_kernel_str", "probe_read", "probe_read_str", "get_attach_cookie")},
    **{h: _tracing("test_progtypes_strings.py") for h in (
        "strtol", "strtoul", "strncmp", "snprintf", "trace_printk", "trace_vprintk")},
    # routing, sockets, redirects, tunnels
    "fib_lookup": _net("test_progtypes_net_fib.py", "fib"),
    "sk_lookup_tcp": _net("test_progtypes_net_sk.py", "sk"),
    "sk_lookup_udp": _net("test_progtypes_net_sk.py", "sk"),
    "skc_lookup_tcp": _net("test_progtypes_net_sk.py", "sk"),
    "sk_release": _net("test_progtypes_net_sk.py", "sk"),
    "skb_set_tunnel_key": _net("test_progtypes_net_tunnel.py", "tunnel"),
    "skb_get_tunnel_key": _net("test_progtypes_net_tunnel.py", "tunnel"),
    "redirect_map": _net("test_progtypes_net_redirect.py", "redirect"),
    "clone_redirect": _net("test_progtypes_net_redirect.py", "redirect"),
    "get_socket_cookie": _net(
        "test_progtypes_net_redirect.py", "redirect",
        "property: non-zero, the same for both calls in a run, another for each run's "
        "socket (the kernel's cookie is a global counter)"),
    # uprobes attached in the kernel to a function this process calls, the VM run with
    # the kernel's pt_regs in a Task of this process. get_attach_cookie is compared
    # there too (a perf link's bpf_cookie, as a second evidence besides its entry above).
    "get_func_ip": Entry("equal", "kernel/test_kernel_uprobe.py", ("progtypes/data/uprobe/*.o",)),
    # perf event output, read from a BPF-output perf event on CPU 0 in the kernel
    "perf_event_output": Entry("equal", "progtypes/test_progtypes_perf.py",
                               ("progtypes/data/perf/*.o",)),
    # skb information and per-CPU lookups
    **{h: Entry("equal", "progtypes/test_progtypes_skbinfo.py",
                ("progtypes/data/skbinfo/*.o",))
       for h in ("get_cgroup_classid", "get_route_realm", "map_lookup_percpu_elem")},
    # map helpers in hand-assembled programs (tests/maps)
    "map_delete_elem": _asm("maps/test_maps_programs.py"),
    "map_push_elem": _asm("maps/test_maps_programs.py"),
    "map_pop_elem": _asm("maps/test_maps_programs.py"),
    "map_peek_elem": _asm("maps/test_maps_programs.py"),
    "ringbuf_discard": _asm("maps/test_maps_ringbuf.py"),
    "ringbuf_query": _asm("maps/test_maps_ringbuf.py"),
    # tc programs locking a counter in an array value, run on both backends
    "spin_lock": Entry("equal", "verifier/test_spinlock.py", ("verifier/data/spinlock.o",)),
    "spin_unlock": Entry("equal", "verifier/test_spinlock.py", ("verifier/data/spinlock.o",)),
    "skb_set_tstamp": _asm("progtypes/test_progtypes_skb.py"),
}
