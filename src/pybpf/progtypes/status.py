"""Every program type with its status on the VM (for `pybpf features --backend vm`)."""

from __future__ import annotations

from typing import Any

from ..uapi import ProgType
from .contexts import context_spec
from .helpersets import allowed_helpers, helpers_for
from .testrun import KERNEL_ONLY_TEST_RUN

_STATUS = {
    ProgType.SOCKET_FILTER: "modelled", ProgType.SCHED_CLS: "modelled",
    ProgType.SCHED_ACT: "modelled", ProgType.XDP: "modelled", ProgType.CGROUP_SKB: "modelled",
    ProgType.LWT_IN: "modelled", ProgType.LWT_OUT: "modelled", ProgType.LWT_XMIT: "modelled",
    ProgType.RAW_TRACEPOINT: "modelled", ProgType.KPROBE: "context",
    ProgType.TRACEPOINT: "context", ProgType.PERF_EVENT: "context",
    ProgType.RAW_TRACEPOINT_WRITABLE: "context",
}


def describe() -> list[dict[str, Any]]:
    """Every program type with its status on the VM: `modelled` (context, helpers and
    test_run as the kernel), `context` (context and helpers; the kernel has no test_run
    for it, nor has the VM's test_run), `unsupported`; plus the context struct, the
    meaning of the return value, the kernel's test_run support and the helpers the VM
    implements for it (for `pybpf features --backend vm`)."""
    out = []
    for pt in ProgType:
        if pt == ProgType.UNSPEC:
            continue
        status = _STATUS.get(pt, "unsupported")
        entry: dict[str, Any] = {"prog_type": pt.name.lower(), "id": int(pt),
                                 "status": status}
        if status != "unsupported":
            spec = context_spec(pt)
            entry["context"] = spec.struct
            entry["context_size"] = spec.size
            entry["retval"] = spec.retval
            reg = helpers_for(pt)
            entry["helpers_vm"] = sorted(h.name for h in reg.values())
            entry["helpers_allowed"] = len(allowed_helpers(pt))
        if status == "modelled":
            entry["test_run"] = "vm and kernel"
        elif pt in KERNEL_ONLY_TEST_RUN:
            entry["test_run"] = "kernel only"
        else:
            entry["test_run"] = "not supported by the kernel (ENOTSUPP)"
        out.append(entry)
    return out
