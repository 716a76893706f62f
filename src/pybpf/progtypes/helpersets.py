"""Which helpers each program type may call, as data: the kernel's `*_func_proto`
callbacks for a privileged loader (CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN), recorded from
Linux 6.18 by asking its verifier about every helper ID for every type (a call the
verifier answers with "unknown func" or "cannot use helper" is not allowed; the test
suite re-checks the table against the running kernel).

`default_helpers()` assembles the helpers every VM program gets (pybpf.helpers' base
helpers, the task and probe-read helpers, the map helpers, bpf_csum_diff);
`helpers_for(prog_type, base)` builds the VM registry of a program type: the base
registry's helpers that the type may call, plus the type's own implementations.
"""

from __future__ import annotations

from typing import Callable, Mapping

from ..helper_ids import HELPER_IDS
from ..helpers.base import register_base_helpers, register_loop_helper
from ..helpers.registry import HelperRegistry
from ..helpers.strings import register_string_helpers
from ..uapi import ProgType
from .common import csum_diff
from .task import format_memory, register_task_helpers

BASE: frozenset[str] = frozenset({
    "cgrp_storage_delete", "cgrp_storage_get", "copy_from_user", "copy_from_user_task",
    "current_task_under_cgroup", "dynptr_data", "dynptr_from_mem", "dynptr_read",
    "dynptr_write", "find_vma", "for_each_map_elem", "get_branch_snapshot",
    "get_cgroup_classid", "get_current_ancestor_cgroup_id", "get_current_cgroup_id",
    "get_current_comm", "get_current_pid_tgid", "get_current_task",
    "get_current_task_btf", "get_current_uid_gid", "get_ns_current_pid_tgid",
    "get_numa_node_id", "get_prandom_u32", "get_smp_processor_id", "get_task_stack",
    "jiffies64", "kptr_xchg", "ktime_get_boot_ns", "ktime_get_ns", "ktime_get_tai_ns",
    "loop", "map_delete_elem", "map_lookup_elem", "map_lookup_percpu_elem",
    "map_peek_elem", "map_pop_elem", "map_push_elem", "map_update_elem", "per_cpu_ptr",
    "perf_event_output", "perf_event_read", "perf_event_read_value",
    "probe_read_kernel", "probe_read_kernel_str", "probe_read_user",
    "probe_read_user_str", "ringbuf_discard", "ringbuf_discard_dynptr",
    "ringbuf_output", "ringbuf_query", "ringbuf_reserve", "ringbuf_reserve_dynptr",
    "ringbuf_submit", "ringbuf_submit_dynptr", "send_signal", "send_signal_thread",
    "snprintf", "snprintf_btf", "spin_lock", "spin_unlock", "strncmp", "strtol",
    "strtoul", "tail_call", "task_pt_regs", "task_storage_delete", "task_storage_get",
    "this_cpu_ptr", "timer_cancel", "timer_init", "timer_set_callback", "timer_start",
    "trace_printk", "trace_vprintk", "user_ringbuf_drain"
})

# what the tracing types (kprobe, tracepoint, raw tracepoints) add, alike for all four
_TRACING = frozenset({
    "get_attach_cookie", "get_func_ip", "get_stack", "get_stackid", "probe_read",
    "probe_read_str"
})

EXTRA: dict[ProgType, frozenset[str]] = {
    ProgType.SOCKET_FILTER: frozenset({
        "get_netns_cookie", "get_socket_cookie", "get_socket_uid",
        "ktime_get_coarse_ns", "skb_load_bytes", "skb_load_bytes_relative",
        "skc_to_mptcp_sock", "skc_to_tcp6_sock", "skc_to_tcp_request_sock",
        "skc_to_tcp_sock", "skc_to_tcp_timewait_sock", "skc_to_udp6_sock",
        "skc_to_unix_sock"
    }),
    ProgType.SCHED_CLS: frozenset({
        "check_mtu", "clone_redirect", "csum_diff", "csum_level", "csum_update",
        "fib_lookup", "get_hash_recalc", "get_listener_sock", "get_netns_cookie",
        "get_route_realm", "get_socket_cookie", "get_socket_uid", "ktime_get_coarse_ns",
        "l3_csum_replace", "l4_csum_replace", "redirect", "redirect_neigh",
        "redirect_peer", "set_hash", "set_hash_invalid", "sk_assign", "sk_fullsock",
        "sk_lookup_tcp", "sk_lookup_udp", "sk_release", "sk_storage_delete",
        "sk_storage_get", "skb_adjust_room", "skb_ancestor_cgroup_id",
        "skb_cgroup_classid", "skb_cgroup_id", "skb_change_head", "skb_change_proto",
        "skb_change_tail", "skb_change_type", "skb_ecn_set_ce", "skb_get_tunnel_key",
        "skb_get_tunnel_opt", "skb_get_xfrm_state", "skb_load_bytes",
        "skb_load_bytes_relative", "skb_pull_data", "skb_set_tstamp",
        "skb_set_tunnel_key", "skb_set_tunnel_opt", "skb_store_bytes",
        "skb_under_cgroup", "skb_vlan_pop", "skb_vlan_push", "skc_lookup_tcp",
        "skc_to_mptcp_sock", "skc_to_tcp6_sock", "skc_to_tcp_request_sock",
        "skc_to_tcp_sock", "skc_to_tcp_timewait_sock", "skc_to_udp6_sock",
        "skc_to_unix_sock", "tcp_check_syncookie", "tcp_gen_syncookie",
        "tcp_raw_check_syncookie_ipv4", "tcp_raw_check_syncookie_ipv6",
        "tcp_raw_gen_syncookie_ipv4", "tcp_raw_gen_syncookie_ipv6", "tcp_sock"
    }),
    ProgType.XDP: frozenset({
        "check_mtu", "csum_diff", "fib_lookup", "ktime_get_coarse_ns", "redirect",
        "redirect_map", "sk_lookup_tcp", "sk_lookup_udp", "sk_release",
        "skc_lookup_tcp", "skc_to_mptcp_sock", "skc_to_tcp6_sock",
        "skc_to_tcp_request_sock", "skc_to_tcp_sock", "skc_to_tcp_timewait_sock",
        "skc_to_udp6_sock", "skc_to_unix_sock", "tcp_check_syncookie",
        "tcp_gen_syncookie", "tcp_raw_check_syncookie_ipv4",
        "tcp_raw_check_syncookie_ipv6", "tcp_raw_gen_syncookie_ipv4",
        "tcp_raw_gen_syncookie_ipv6", "xdp_adjust_head", "xdp_adjust_meta",
        "xdp_adjust_tail", "xdp_get_buff_len", "xdp_load_bytes", "xdp_store_bytes"
    }),
    ProgType.CGROUP_SKB: frozenset({
        "get_listener_sock", "get_local_storage", "get_netns_cookie",
        "get_socket_cookie", "get_socket_uid", "ktime_get_coarse_ns",
        "sk_ancestor_cgroup_id", "sk_cgroup_id", "sk_fullsock", "sk_lookup_tcp",
        "sk_lookup_udp", "sk_release", "sk_storage_delete", "sk_storage_get",
        "skb_ancestor_cgroup_id", "skb_cgroup_id", "skb_ecn_set_ce", "skb_load_bytes",
        "skb_load_bytes_relative", "skc_lookup_tcp", "skc_to_mptcp_sock",
        "skc_to_tcp6_sock", "skc_to_tcp_request_sock", "skc_to_tcp_sock",
        "skc_to_tcp_timewait_sock", "skc_to_udp6_sock", "skc_to_unix_sock", "tcp_sock"
    }),
    ProgType.LWT_IN: frozenset({
        "csum_diff", "get_hash_recalc", "get_route_realm", "ktime_get_coarse_ns",
        "lwt_push_encap", "skb_load_bytes", "skb_pull_data", "skb_under_cgroup",
        "skc_to_mptcp_sock", "skc_to_tcp6_sock", "skc_to_tcp_request_sock",
        "skc_to_tcp_sock", "skc_to_tcp_timewait_sock", "skc_to_udp6_sock",
        "skc_to_unix_sock"
    }),
    ProgType.LWT_OUT: frozenset({
        "csum_diff", "get_hash_recalc", "get_route_realm", "ktime_get_coarse_ns",
        "skb_load_bytes", "skb_pull_data", "skb_under_cgroup", "skc_to_mptcp_sock",
        "skc_to_tcp6_sock", "skc_to_tcp_request_sock", "skc_to_tcp_sock",
        "skc_to_tcp_timewait_sock", "skc_to_udp6_sock", "skc_to_unix_sock"
    }),
    ProgType.LWT_XMIT: frozenset({
        "clone_redirect", "csum_diff", "csum_level", "csum_update", "get_hash_recalc",
        "get_route_realm", "ktime_get_coarse_ns", "l3_csum_replace", "l4_csum_replace",
        "lwt_push_encap", "redirect", "set_hash_invalid", "skb_change_head",
        "skb_change_tail", "skb_get_tunnel_key", "skb_get_tunnel_opt", "skb_load_bytes",
        "skb_pull_data", "skb_set_tunnel_key", "skb_set_tunnel_opt", "skb_store_bytes",
        "skb_under_cgroup", "skc_to_mptcp_sock", "skc_to_tcp6_sock",
        "skc_to_tcp_request_sock", "skc_to_tcp_sock", "skc_to_tcp_timewait_sock",
        "skc_to_udp6_sock", "skc_to_unix_sock"
    }),
    ProgType.KPROBE: _TRACING,
    ProgType.TRACEPOINT: _TRACING,
    ProgType.RAW_TRACEPOINT: _TRACING,
    ProgType.RAW_TRACEPOINT_WRITABLE: _TRACING,
    ProgType.PERF_EVENT: frozenset({
        "get_attach_cookie", "get_func_ip", "get_stack", "get_stackid",
        "perf_prog_read_value", "probe_read", "probe_read_str", "read_branch_records"
    }),
}
EXTRA[ProgType.SCHED_ACT] = EXTRA[ProgType.SCHED_CLS]  # tc actions get the classifiers' set
_SKC_TO = frozenset({
    "skc_to_mptcp_sock", "skc_to_tcp6_sock", "skc_to_tcp_request_sock", "skc_to_tcp_sock",
    "skc_to_tcp_timewait_sock", "skc_to_udp6_sock", "skc_to_unix_sock"
})
EXTRA.update({
    ProgType.CGROUP_SOCK: frozenset({
        "get_local_storage", "get_netns_cookie", "get_retval", "get_socket_cookie",
        "ktime_get_coarse_ns", "set_retval", "sk_storage_get"
    }),
    ProgType.SK_SKB: _SKC_TO | {
        "get_socket_cookie", "get_socket_uid", "ktime_get_coarse_ns", "sk_lookup_tcp",
        "sk_lookup_udp", "sk_redirect_hash", "sk_redirect_map", "sk_release",
        "skb_adjust_room", "skb_change_head", "skb_change_tail", "skb_load_bytes",
        "skb_pull_data", "skb_store_bytes", "skc_lookup_tcp"
    },
    ProgType.SK_MSG: _SKC_TO | {
        "get_netns_cookie", "ktime_get_coarse_ns", "msg_apply_bytes", "msg_cork_bytes",
        "msg_pop_data", "msg_pull_data", "msg_push_data", "msg_redirect_hash",
        "msg_redirect_map", "sk_storage_delete", "sk_storage_get"
    },
    ProgType.SK_LOOKUP: _SKC_TO | {"ktime_get_coarse_ns", "sk_assign", "sk_release"},
    ProgType.FLOW_DISSECTOR: _SKC_TO | {"ktime_get_coarse_ns", "skb_load_bytes"},
    ProgType.NETFILTER: frozenset(),
})
# BASE helpers a type's func_proto does not give (flow dissector and netfilter have no
# perf_event_output)
WITHOUT: dict[ProgType, frozenset[str]] = {
    ProgType.FLOW_DISSECTOR: frozenset({"perf_event_output"}),
    ProgType.NETFILTER: frozenset({"perf_event_output"}),
}
# what bpf_base_func_proto (and the skc_to_* casts) give only with CAP_PERFMON: a loader
# without it gets "program of this type cannot use helper" for these, whatever the type
PERFMON_HELPERS: frozenset[str] = _SKC_TO | {
    "copy_from_user", "copy_from_user_task", "find_vma", "get_branch_snapshot",
    "get_current_comm", "get_current_task", "get_current_task_btf", "get_task_stack",
    "per_cpu_ptr", "perf_event_read", "perf_event_read_value", "probe_read_kernel",
    "probe_read_kernel_str", "probe_read_user", "probe_read_user_str", "send_signal",
    "send_signal_thread", "snprintf", "snprintf_btf", "task_pt_regs", "this_cpu_ptr",
    "trace_printk", "trace_vprintk"
}

def allowed_helpers(prog_type: ProgType) -> frozenset[str]:
    """Names (without `bpf_`) of the helpers `prog_type` may call; empty for a type not
    in the table."""
    pt = ProgType(prog_type)
    extra = EXTRA.get(pt)
    if extra is None:
        return frozenset()
    return (BASE - WITHOUT.get(pt, frozenset())) | extra


def is_allowed(prog_type: ProgType, helper: int | str, *, perfmon: bool = True) -> bool:
    """May `prog_type` call `helper` (an ID or a name with or without `bpf_`)? Without
    `perfmon` (a loader lacking CAP_PERFMON) the PERFMON_HELPERS are not allowed."""
    name = (helper if isinstance(helper, str) else _NAMES.get(helper, "")).removeprefix("bpf_")
    if not perfmon and name in PERFMON_HELPERS:
        return False
    return name in allowed_helpers(prog_type)


_NAMES = {v: k for k, v in HELPER_IDS.items()}


def default_helpers() -> HelperRegistry:
    """A fresh registry with pybpf's context-free kernel helpers (pybpf.helpers), the
    task and probe-read helpers (pybpf.progtypes.task), bpf_csum_diff, bpf_loop and the
    map helpers (pybpf.maps), under kernel IDs. What `pybpf.helpers.default_helpers()`
    and a VM given no helpers use. The map helpers are imported here, when a set is
    made: importing the program types does not load the VM maps."""
    from ..maps.helpers import register_map_helpers
    reg = register_base_helpers(HelperRegistry(), format_memory)
    reg.register_named({"csum_diff": csum_diff})
    register_string_helpers(reg)
    register_task_helpers(reg)
    register_loop_helper(reg)
    return register_map_helpers(reg)


def _family_helpers(prog_type: ProgType) -> Mapping[str, Callable[..., int]]:
    from . import skb, tracing, xdp
    if prog_type == ProgType.XDP:
        return {**xdp.HELPERS, "csum_diff": csum_diff}
    if prog_type in skb.SKB_PROG_TYPES:
        return skb.HELPERS
    if prog_type in tracing.TRACING_HELPER_TYPES:
        return tracing.type_helpers(prog_type)
    return {}


def helpers_for(prog_type: ProgType, base: HelperRegistry | None = None) -> HelperRegistry:
    """The VM helper registry of `prog_type`: the helpers of `base` (default:
    `default_helpers()`) that the type may call, with the type's packet helpers added
    (they replace same-ID entries of `base`). A call to anything else fails on the VM
    as the kernel's verifier would refuse it."""
    prog_type = ProgType(prog_type)
    allowed = allowed_helpers(prog_type)
    src = base if base is not None else default_helpers()
    reg = HelperRegistry()
    for hid in src:
        h = src[hid]
        if _NAMES.get(hid, h.name.removeprefix("bpf_")) in allowed:
            reg.register(hid, h.fn, h.name, frame=h.frame)
    for name, fn in _family_helpers(prog_type).items():
        if name in allowed:
            reg.register(HELPER_IDS[name], fn, "bpf_" + name)
    return reg
