"""pybpf.progtypes: the program types' run-time world on the VM.

Each program type's context is data (`contexts`: a table of fields with offsets, sizes,
allowed accesses and what the kernel rewrites them to, importable without the VM); the
family modules give the helpers that change its packet and BPF_PROG_TEST_RUN with the
kernel's rules:

* `xdp`: struct xdp_md over an xdp_buff (headroom, metadata, multi-buffer fragments).
* `skb`: struct __sk_buff for socket filters, tc (sched_cls/sched_act), cgroup skb and
  LWT, over an sk_buff built as the kernel's test run builds it (`skbuff`: the model;
  `skb_context`, `skb_helpers`, `skb_net`: the context, packet and networking helpers).
* `tracing`: raw tracepoints, tracepoints, perf events, kprobes (pt_regs of x86-64 and
  arm64), with caller-supplied context bytes.
* `helpersets`: which helpers each type may call (and a registry per type).

`test_run(program, prog_type, ...)` is the VM's BPF_PROG_TEST_RUN: same arguments and
defaults as `pybpf.kernel.prog_test_run`, same results, and `TestRunError` with the
kernel's errno where the kernel refuses.

The public names below are loaded on first use, so that importing one module of the
package (the context tables above all) does not load the VM.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> the module (relative to this package) that defines it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(["ContextAccess", "ContextSpec", "CtxField", "FieldKind"], ".ctx"),
    **dict.fromkeys(["ENOTSUPP", "ContextAccessError", "ProgTypeError", "TestRunError",
                     "UnsupportedProgType", "errno_name"], ".errors"),
    **dict.fromkeys(["context_spec"], ".contexts"),
    **dict.fromkeys(["SKB_PROG_TYPES", "skb_spec"], ".contexts.skb"),
    **dict.fromkeys(["XdpAction", "xdp_spec"], ".contexts.xdp"),
    **dict.fromkeys(["PT_REGS_ARM64", "PT_REGS_X86_64", "PtRegsLayout", "TracepointFormat",
                     "kprobe_spec", "parse_format", "perf_event_data", "perf_event_spec",
                     "pt_regs", "raw_tp_spec", "syscall_tracepoint", "tracepoint_format",
                     "tracepoint_spec"], ".contexts.tracing"),
    **dict.fromkeys(["allowed_helpers", "helpers_for", "is_allowed"], ".helpersets"),
    **dict.fromkeys(["LOOPBACK", "NetDevice", "host_devices", "loopback_only"],
                    "..net.netdev"),
    **dict.fromkeys(["RunArgs", "TestRunResult"], ".runbase"),
    **dict.fromkeys(["SkBuff"], ".skbuff"),
    **dict.fromkeys(["Task"], ".task"),
    **dict.fromkeys(["run_context"], ".tracing"),
    **dict.fromkeys(["XdpBuff"], ".xdp"),
    **dict.fromkeys(["KERNEL_ONLY_TEST_RUN", "packet_runner", "test_run"], ".testrun"),
    **dict.fromkeys(["describe"], ".status"),
}


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = sorted(_EXPORTS)
