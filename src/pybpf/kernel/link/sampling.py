"""perf_event programs (BPF_PROG_TYPE_PERF_EVENT) on sampling events: one perf event
per CPU (pid -1, every task on that CPU) of a software or hardware event ("cpu-clock",
"cycles", ...), each overflow (every `sample_period` events, or `sample_freq` times a
second) running the program. One handle holds every CPU's event and link."""

from __future__ import annotations

import errno as _errno
import os
from typing import Iterable

from ...cpus import online_cpus
from .. import abi
from ..errors import KernelError, NotSupportedError, kernel_error
from ..fd import FD, Owner
from ..objects import prog_id_of
from .base import Link
from .perf_event import PerfEventLink, _link_event, perf_event_open

PERF_TYPE_HARDWARE, PERF_TYPE_SOFTWARE = 0, 1
# perf's event names -> (type, config) (linux/perf_event.h enums)
PERF_EVENTS: dict[str, tuple[int, int]] = {
    "cpu-clock": (PERF_TYPE_SOFTWARE, 0), "task-clock": (PERF_TYPE_SOFTWARE, 1),
    "page-faults": (PERF_TYPE_SOFTWARE, 2), "context-switches": (PERF_TYPE_SOFTWARE, 3),
    "cpu-migrations": (PERF_TYPE_SOFTWARE, 4), "minor-faults": (PERF_TYPE_SOFTWARE, 5),
    "major-faults": (PERF_TYPE_SOFTWARE, 6),
    "cycles": (PERF_TYPE_HARDWARE, 0), "cpu-cycles": (PERF_TYPE_HARDWARE, 0),
    "instructions": (PERF_TYPE_HARDWARE, 1), "cache-references": (PERF_TYPE_HARDWARE, 2),
    "cache-misses": (PERF_TYPE_HARDWARE, 3), "branches": (PERF_TYPE_HARDWARE, 4),
    "branch-misses": (PERF_TYPE_HARDWARE, 5), "bus-cycles": (PERF_TYPE_HARDWARE, 6),
}


def _paranoid() -> str:
    try:
        with open("/proc/sys/kernel/perf_event_paranoid") as f:
            return f.read().strip()
    except OSError:
        return "?"


def attach_perf_sampling(prog: "int | Owner", event: str = "cpu-clock", *,
                         sample_period: int | None = None, sample_freq: int | None = None,
                         cpus: Iterable[int] | None = None, pid: int = -1) -> PerfEventLink:
    """Attach a perf_event program to sampling event `event` (a name of PERF_EVENTS, or
    (type, config)) on every CPU of `cpus` (default: the online ones). Give
    `sample_period` (events between samples; for cpu-clock, nanoseconds) or
    `sample_freq` (samples a second; default 99, as perf record -F 99). `pid` -1 samples
    every task; a pid samples that task only (on the CPUs given)."""
    if isinstance(event, tuple):
        ptype, config = event
        name = f"type {ptype} config {config}"
    else:
        if event not in PERF_EVENTS:
            raise ValueError(f"perf event {event!r}: one of {', '.join(PERF_EVENTS)}")
        (ptype, config), name = PERF_EVENTS[event], event
    if sample_period is not None and sample_freq is not None:
        raise ValueError("give sample_period or sample_freq, not both")
    if sample_period is None and sample_freq is None:
        sample_freq = 99
    if (sample_period or sample_freq or 0) <= 0:
        raise ValueError("the sample period or frequency must be positive")
    cpu_list = list(online_cpus() if cpus is None else cpus)
    if not cpu_list:
        raise ValueError("no CPU to sample on")
    events: list[FD] = []
    links: list[Link] = []
    try:
        for cpu in cpu_list:
            attr = abi.PerfEventAttr(type=ptype, size=abi.PERF_ATTR_SIZE_VER8, config=config,
                                     disabled=1)
            if sample_freq is not None:
                attr.sample_freq = sample_freq
                attr.freq = 1
            else:
                attr.sample_period = sample_period or 1
            try:
                ev = perf_event_open(attr, pid=pid, cpu=cpu)
            except KernelError as e:
                raise _sampling_error(e, name, cpu) from None
            events.append(ev)
            links += _link_event(prog, ev, None)
    except BaseException:
        for link in links:
            link.close()
        for ev in events:
            ev.close()
        raise
    how = f"{sample_freq} Hz" if sample_freq is not None else f"period {sample_period}"
    who = "" if pid < 0 else f" pid {pid}"
    handle = PerfEventLink(events, links, f"{name} {how} on cpus "
                                          f"{','.join(map(str, cpu_list))}{who}")
    handle._prog_id = prog_id_of(prog)
    return handle


def _sampling_error(e: KernelError, name: str, cpu: int) -> KernelError:
    what = f"perf event {name} on cpu {cpu}"
    if e.errno in (_errno.EACCES, _errno.EPERM):
        return kernel_error(e.errno, e.cmd, f"{what}: needs CAP_PERFMON (or CAP_SYS_ADMIN); "
                            f"this process (euid {os.geteuid()}); sysctl "
                            f"kernel.perf_event_paranoid={_paranoid()}")
    if e.errno in (_errno.ENOENT, _errno.EOPNOTSUPP, _errno.ENODEV):
        return NotSupportedError(e.errno, e.cmd, f"{what}: this machine has no such event "
                                 "(no PMU for it: hardware counters are often missing in "
                                 "virtual machines; software events such as cpu-clock work)")
    if e.errno == _errno.EINVAL and cpu not in online_cpus():
        return kernel_error(e.errno, e.cmd, f"{what}: cpu {cpu} is not online")
    return e
