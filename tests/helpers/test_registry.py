"""pybpf.helpers: the registry knows no domain, the base helpers register by name, and
the default set (assembled in pybpf.progtypes.helpersets) is the one a VM always got."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf.helpers import (HelperRegistry, default_helpers, helper_name, helpers_named,
                           register_base_helpers, register_loop_helper,
                           register_string_helpers)
from pybpf.progtypes.task import format_memory, register_task_helpers

ROOT = Path(__file__).resolve().parents[2]

# what default_helpers() gave before the registry was split from the implementations,
# in registration order (the order `pybpf features` and helpers_for follow), and the
# helpers added since (bpf_spin_lock/unlock)
DEFAULT_SET = [
    "trace_printk", "trace_vprintk", "snprintf", "ktime_get_ns", "ktime_get_boot_ns",
    "ktime_get_coarse_ns", "ktime_get_tai_ns", "jiffies64", "get_prandom_u32",
    "get_smp_processor_id", "get_numa_node_id", "csum_diff", "strncmp", "strtol", "strtoul",
    "get_current_pid_tgid", "get_current_uid_gid", "get_current_comm", "probe_read_user",
    "probe_read_user_str", "probe_read_kernel", "probe_read_kernel_str", "loop",
    "map_lookup_elem", "map_update_elem", "map_delete_elem", "map_push_elem", "map_pop_elem",
    "map_peek_elem", "map_lookup_percpu_elem", "ringbuf_output", "ringbuf_reserve",
    "ringbuf_submit", "ringbuf_discard", "ringbuf_query", "perf_event_output",
    "spin_lock", "spin_unlock", "for_each_map_elem", "tail_call",
]
FRAME = {"loop", "for_each_map_elem", "tail_call"}


def test_default_set_is_unchanged() -> None:
    reg = default_helpers()
    assert [reg[h].name for h in reg] == ["bpf_" + n for n in DEFAULT_SET]
    assert list(reg) == helpers_named(DEFAULT_SET)
    assert {reg[h].name.removeprefix("bpf_") for h in reg if reg[h].frame} == FRAME
    assert default_helpers() is not reg  # a fresh registry each call


def test_sets_compose_from_their_domains() -> None:
    reg = register_base_helpers(HelperRegistry(), format_memory)
    register_string_helpers(reg)
    register_task_helpers(reg)
    register_loop_helper(reg)
    names = {reg[h].name.removeprefix("bpf_") for h in reg}
    assert names == set(DEFAULT_SET) - {"csum_diff"} - {
        n for n in DEFAULT_SET if n.startswith(("map_", "ringbuf_", "perf_", "spin_"))
    } - {"for_each_map_elem", "tail_call"}


def test_helper_names() -> None:
    assert helper_name(1) == "bpf_map_lookup_elem"
    assert helper_name(0) == "helper#0" and helper_name(99999) == "helper#99999"
    with pytest.raises(KeyError):
        helpers_named(["no_such_helper"])


