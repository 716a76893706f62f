"""tp_syscalls.c written again in restricted Python: count system calls per syscall
number and per process, failed calls per number, and a log2 histogram of latency,
from the raw_syscalls tracepoints."""

import ctypes

from pybpf.frontend.python import (
    BPF_ANY,
    BPF_NOEXIST,
    ArrayMap,
    Config,
    HashMap,
    atomic_add,
    bpf_get_current_pid_tgid,
    bpf_ktime_get_ns,
    i64,
    tracepoint,
    u8,
    u16,
    u32,
    u64,
)

LICENSE = "GPL"
LOG2_BUCKETS = 64


class SysEnterRecord(ctypes.Structure):
    """/sys/kernel/tracing/events/raw_syscalls/sys_enter/format"""
    _fields_ = [("common_type", u16), ("common_flags", u8), ("common_preempt_count", u8),
                ("common_pid", ctypes.c_int32), ("id", i64), ("args", u64 * 6)]


class SysExitRecord(ctypes.Structure):
    _fields_ = [("common_type", u16), ("common_flags", u8), ("common_preempt_count", u8),
                ("common_pid", ctypes.c_int32), ("id", i64), ("ret", i64)]


target_tgid = Config(u32, 0)

syscall_counts = HashMap(u32, u64, 1024)
pid_counts = HashMap(u32, u64, 4096)
syscall_errors = HashMap(u32, u64, 1024)
start = HashMap(u64, u64, 10240)
latency_hist = ArrayMap(u32, u64, LOG2_BUCKETS)


def bump(counts: HashMap, key: u32) -> None:
    """counts[key] += 1, inserting the key when it is absent."""
    val = counts.lookup(key)
    if val is not None:
        atomic_add(val[0], 1)
        return
    # another CPU may insert it first: then add to its entry instead
    if counts.update(key, u64(1), BPF_NOEXIST) != 0:
        val = counts.lookup(key)
        if val is not None:
            atomic_add(val[0], 1)


def log2_bucket(v: u64) -> u32:
    r: u32 = 0
    s: u32 = (v > 0xFFFFFFFF) << 5
    v >>= s
    r += s
    s = (v > 0xFFFF) << 4
    v >>= s
    r += s
    s = (v > 0xFF) << 3
    v >>= s
    r += s
    s = (v > 0xF) << 2
    v >>= s
    r += s
    s = (v > 0x3) << 1
    v >>= s
    r += s
    return r + u32(v >> 1)


def wanted(pid_tgid: u64) -> bool:
    return target_tgid == 0 or u32(pid_tgid >> 32) == target_tgid


@tracepoint("raw_syscalls/sys_enter")
def count_sys_enter(ctx: SysEnterRecord) -> int:
    pid_tgid = bpf_get_current_pid_tgid()
    id = ctx.id
    if id < 0 or not wanted(pid_tgid):
        return 0
    bump(syscall_counts, u32(id))
    bump(pid_counts, u32(pid_tgid >> 32))
    ts = bpf_ktime_get_ns()
    start.update(pid_tgid, ts, BPF_ANY)
    return 0


@tracepoint("raw_syscalls/sys_exit")
def count_sys_exit(ctx: SysExitRecord) -> int:
    pid_tgid = bpf_get_current_pid_tgid()
    id = ctx.id
    if not wanted(pid_tgid):
        return 0
    ts = start.lookup(pid_tgid)
    if ts is not None:
        delta = bpf_ktime_get_ns() - ts[0]
        start.delete(pid_tgid)
        slot = latency_hist.lookup(log2_bucket(delta))
        if slot is not None:
            atomic_add(slot[0], 1)
    if id >= 0 and ctx.ret < 0:
        bump(syscall_errors, u32(id))
    return 0


if __name__ == "__main__":
    import sys

    from pybpf.tools.pyexample import main
    sys.exit(main(__file__))
