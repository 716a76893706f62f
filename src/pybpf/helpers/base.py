"""The helpers with no program-type context every type has: the clocks, random numbers,
the CPU and NUMA node, and bpf_loop."""

from __future__ import annotations

import time
from typing import Any, Callable

from ..isa import M32, M64
from ..uapi import BPF_MAX_LOOPS
from .printf import EINVAL
from .printk import FormatMemory, printk_helpers
from .registry import CallContext, FrameHelperFn, HelperContext, HelperFn, HelperRegistry

E2BIG = 7


def _clock(ctx: HelperContext, default: Callable[[], int]) -> int:
    """The VM's clock when one is set (`VM.clock_ns`, e.g. following a capture's
    timestamps, or frozen for reproducible runs), else the host's."""
    clock = getattr(getattr(ctx, "vm", None), "clock_ns", None)
    return (clock() if clock is not None else default()) & M64


def _ktime_get_ns(ctx: HelperContext, *_: int) -> int:
    return _clock(ctx, time.monotonic_ns)


def _ktime_get_boot_ns(ctx: HelperContext, *_: int) -> int:
    return _clock(ctx, lambda: time.clock_gettime_ns(getattr(time, "CLOCK_BOOTTIME",
                                                              time.CLOCK_MONOTONIC)))


def _ktime_get_tai_ns(ctx: HelperContext, *_: int) -> int:
    return _clock(ctx, lambda: time.clock_gettime_ns(getattr(time, "CLOCK_TAI",
                                                              time.CLOCK_REALTIME)))


def _jiffies64(ctx: HelperContext, *_: int) -> int:
    # HZ=1000-style jiffies from the clock (the kernel's value is config dependent)
    return _clock(ctx, time.monotonic_ns) // 1_000_000


def _get_prandom_u32(ctx: HelperContext, *_: int) -> int:
    return ctx.rng.getrandbits(32)


def _zero(ctx: HelperContext, *_: int) -> int:
    return 0


def _loop(ctx: CallContext, nr_loops: int, callback: int, callback_ctx: int, flags: int,
          _r5: int, mem: Any, tops: tuple, n: int, budget: int) -> tuple[int, int]:
    """bpf_loop(nr_loops, callback, ctx, flags): callback(i, ctx) for i = 0.. until it
    returns 1; the number of calls made, -E2BIG past 1 << 23 loops, -EINVAL for flags."""
    if flags:
        return (-EINVAL) & M64, n
    nr = nr_loops & M32
    if nr > BPF_MAX_LOOPS:
        return (-E2BIG) & M64, n
    vm = ctx.vm
    pc = ctx.pc
    done = 0
    try:
        for i in range(nr):
            done += 1
            r0, n = vm.call_function(ctx, mem, tops[1:], callback, (i, callback_ctx, 0, 0, 0),
                                     n, budget)
            if r0 & M64:
                break
    finally:
        ctx.pc = pc
    return done, n


BASE_HELPERS: dict[str, HelperFn] = {
    "ktime_get_ns": _ktime_get_ns,
    "ktime_get_boot_ns": _ktime_get_boot_ns,
    "ktime_get_coarse_ns": _ktime_get_ns,
    "ktime_get_tai_ns": _ktime_get_tai_ns,
    "jiffies64": _jiffies64,
    "get_prandom_u32": _get_prandom_u32,
    "get_smp_processor_id": _zero,
    "get_numa_node_id": _zero,
}


def register_base_helpers(reg: HelperRegistry, format_memory: FormatMemory) -> HelperRegistry:
    """Add the printk helpers (reading strings through `format_memory`), the clocks,
    bpf_get_prandom_u32 and the CPU / NUMA node ids to `reg`."""
    reg.register_named(printk_helpers(format_memory))
    reg.register_named(BASE_HELPERS)
    return reg


def register_loop_helper(reg: HelperRegistry) -> HelperRegistry:
    """Add bpf_loop (a frame helper: it runs the program's callback)."""
    frame: dict[str, FrameHelperFn] = {"loop": _loop}
    reg.register_named(frame, frame=True)
    return reg
