"""Tracepoints (BPF_PROG_TYPE_TRACEPOINT): a PERF_TYPE_TRACEPOINT perf event opened for
the event id read from tracefs, with the program attached to it.

One perf event is enough for a tracepoint: the kernel keeps the BPF programs of a
tracepoint in one array per event (`trace_event_call.prog_array`) that runs on every
CPU once any perf event of that tracepoint exists, and it refuses the same program
twice on one tracepoint (EEXIST). So, as libbpf does, the event is opened with
pid = -1 on one CPU (the first online one) and the program still sees every CPU.
"""

from __future__ import annotations

from ...cpus import online_cpus
from .. import abi
from ..fd import FD, Owner
from ..tracefs import tracepoint_id
from .perf_event import PerfEventLink, attach_perf_event, perf_event_open


def attach_tracepoint(prog: "int | FD | Owner", category: str, name: str, *,
                      use_link: bool | None = None, cpu: int | None = None) -> PerfEventLink:
    """Attach a BPF_PROG_TYPE_TRACEPOINT program to tracepoint category:name (all CPUs,
    all processes). `cpu` picks the CPU the perf event is opened on (default: the first
    online one; the program runs on every CPU either way)."""
    tp_id = tracepoint_id(category, name)
    attr = abi.PerfEventAttr(type=abi.PERF_TYPE_TRACEPOINT, size=abi.PERF_ATTR_SIZE_VER8,
                             config=tp_id, sample_period=1, sample_type=abi.PERF_SAMPLE_RAW,
                             wakeup_events=1, disabled=1)
    event = perf_event_open(attr, pid=-1, cpu=online_cpus()[0] if cpu is None else cpu)
    return attach_perf_event(prog, event, use_link=use_link, target=f"{category}:{name}")
