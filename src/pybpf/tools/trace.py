"""`pybpf trace syscalls`: system call counts per syscall and per process, failed
calls, and a log2 histogram of syscall latency, from the tracepoint example
(examples/tp_syscalls.c) attached in the kernel to raw_syscalls:sys_enter and
sys_exit. A process filter (--pid) is the object's `.rodata` `target_tgid`, set before
loading, so the verifier sees it as a constant."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from . import ToolError, example_object
from .hist import buckets_from_map, format_log2_hist, hist_json
from .live import Screen, run_intervals, table
from .syscalls import syscall_name

OBJECT = "tp_syscalls"


def comm(pid: int) -> str:
    """The command name of process `pid` (/proc/<pid>/comm), "?" once it is gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def _u32_u64(m: Any) -> dict[int, int]:
    return {int.from_bytes(k, "little"): int.from_bytes(v[:8], "little") for k, v in m.items()}


@dataclass
class SyscallSnapshot:
    counts: dict[int, int]  # syscall number -> calls
    errors: dict[int, int]  # syscall number -> calls that returned < 0
    pids: dict[int, int]  # tgid -> calls
    latency: list[int]  # log2 buckets of ns

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def top_syscalls(self, n: int) -> list[tuple[int, int, int]]:
        """(number, count, errors), most calls first."""
        rows = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
        return [(nr, c, self.errors.get(nr, 0)) for nr, c in rows]

    def top_pids(self, n: int) -> list[tuple[int, int]]:
        return sorted(self.pids.items(), key=lambda kv: (-kv[1], kv[0]))[:n]

    def as_dict(self, n: int) -> dict[str, Any]:
        return {"total": self.total,
                "syscalls": [{"nr": nr, "name": syscall_name(nr), "count": c, "errors": e}
                             for nr, c, e in self.top_syscalls(n)],
                "processes": [{"pid": p, "comm": comm(p), "count": c}
                              for p, c in self.top_pids(n)]}

    def format(self, n: int) -> str:
        sys_rows: list[list[object]] = [[syscall_name(nr), nr, c, e]
                                        for nr, c, e in self.top_syscalls(n)]
        pid_rows: list[list[object]] = [[p, comm(p), c] for p, c in self.top_pids(n)]
        return (table(["SYSCALL", "NR", "COUNT", "ERRORS"], sys_rows) + "\n"
                + table(["PID", "COMM", "COUNT"], pid_rows, "rlr"))


def read_stats(obj: Any) -> SyscallSnapshot:
    return SyscallSnapshot(_u32_u64(obj.maps["syscall_counts"]),
                           _u32_u64(obj.maps["syscall_errors"]),
                           _u32_u64(obj.maps["pid_counts"]),
                           buckets_from_map(obj.maps["latency_hist"]))


def trace_syscalls(out: TextIO, *, duration: float | None = 5.0, interval: float = 1.0,
                   pid: int | None = None, top: int = 10, latency: bool = False,
                   as_json: bool = False, count: int | None = None,
                   tty: bool | None = None) -> SyscallSnapshot:
    """Count syscalls (of every process, or of `pid`) for `duration` seconds, showing
    the top `top` syscalls and processes every `interval` (with `latency`, the latency
    histogram too), and the latency histogram at the end. Returns the final counts."""
    from .. import load
    from ..errors import PyBPFError
    from ..kernel import TracefsError
    from .perms import kernel_gate
    kernel_gate("pybpf trace", ["CAP_BPF", "CAP_PERFMON"])
    if pid is not None and (pid <= 0 or not os.path.isdir(f"/proc/{pid}")):
        raise ToolError(f"no process with pid {pid}")
    spec = load(str(example_object(OBJECT)))
    if pid is not None:
        spec.set_global("target_tgid", pid)
    screen = Screen(out, tty)
    who = f"pid {pid} ({comm(pid)})" if pid is not None else "all processes"
    with spec.instantiate("kernel") as obj:
        try:
            for prog in obj.programs.values():
                prog.attach()
        except TracefsError as e:
            raise ToolError(f"cannot attach to the raw_syscalls tracepoints: {e}") from None
        except PyBPFError as e:
            raise ToolError(f"cannot attach to the raw_syscalls tracepoints: {e}") from None
        box: list[SyscallSnapshot] = []

        def tick(n: int, elapsed: float) -> None:
            snap = read_stats(obj)
            box[:] = [snap]
            if as_json:
                out.write(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                      "elapsed": round(elapsed, 3), "pid": pid,
                                      **snap.as_dict(top)}) + "\n")
                out.flush()
                return
            body = snap.format(top)
            if latency:
                body += "\n" + format_log2_hist(snap.latency, "nsecs")
            screen.frame(f"pybpf trace syscalls, {who}: {snap.total} calls in "
                         f"{elapsed:.1f} s", body)

        run_intervals(tick, interval=interval, duration=duration, count=count)
        final = box[0] if box else read_stats(obj)
    if as_json:
        out.write(json.dumps({"final": True, "pid": pid, **final.as_dict(top),
                              "latency_ns": hist_json(final.latency)}) + "\n")
    else:
        hist = format_log2_hist(final.latency, "nsecs")
        out.write("\nsyscall latency:\n" + hist if hist else "\nno syscalls seen\n")
    out.flush()
    return final
