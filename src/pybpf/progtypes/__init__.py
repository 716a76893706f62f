"""pybpf.progtypes: the program types' run-time world on the VM.

Each family module gives a program type's context as data (a table of fields with
offsets, sizes, allowed accesses and what the kernel rewrites them to), the helpers that
change its packet, and BPF_PROG_TEST_RUN with the kernel's rules:

* `xdp`: struct xdp_md over an xdp_buff (headroom, metadata, multi-buffer fragments).
* `skb`: struct __sk_buff for socket filters, tc (sched_cls/sched_act), cgroup skb and
  LWT, over an sk_buff built as the kernel's test run builds it.
* `tracing`: raw tracepoints, tracepoints, perf events, kprobes (pt_regs of x86-64 and
  arm64), with caller-supplied context bytes.
* `helpersets`: which helpers each type may call (and a registry per type).

`test_run(program, prog_type, ...)` is the VM's BPF_PROG_TEST_RUN: same arguments and
defaults as `pybpf.kernel.prog_test_run`, same results, and `TestRunError` with the
kernel's errno where the kernel refuses.
"""

from __future__ import annotations

from typing import Any

from ..helpers import HelperRegistry
from ..isa import encode
from ..uapi import ProgType
from ..vm import VM
from . import netns as _netns
from . import skb as _skb
from . import tracing as _tracing
from . import xdp as _xdp
from .ctx import ContextAccess, ContextSpec, CtxField, FieldKind
from .errors import (ENOTSUPP, ContextAccessError, ProgTypeError, TestRunError,
                     UnsupportedProgType, errno_name)
from .helpersets import allowed_helpers, helpers_for, is_allowed
from .netdev import LOOPBACK, NetDevice, host_devices, loopback_only
from .runbase import RunArgs, TestRunResult
from .skb import SKB_PROG_TYPES, SkBuff, skb_spec
from .tracing import (PT_REGS_ARM64, PT_REGS_X86_64, PtRegsLayout, TracepointFormat,
                      kprobe_spec, parse_format, perf_event_data, perf_event_spec, pt_regs,
                      raw_tp_spec, run_context, syscall_tracepoint, tracepoint_format,
                      tracepoint_spec)
from .task import Task
from .xdp import XdpAction, XdpBuff, xdp_spec

# Program types whose BPF_PROG_TEST_RUN the kernel implements but the VM does not model.
KERNEL_ONLY_TEST_RUN = frozenset([ProgType.FLOW_DISSECTOR, ProgType.TRACING,
                                  ProgType.STRUCT_OPS, ProgType.SK_LOOKUP, ProgType.SYSCALL,
                                  ProgType.NETFILTER, ProgType.LWT_SEG6LOCAL])
TRACING_TYPES = frozenset([ProgType.KPROBE, ProgType.TRACEPOINT, ProgType.PERF_EVENT,
                           ProgType.RAW_TRACEPOINT, ProgType.RAW_TRACEPOINT_WRITABLE])


def context_spec(prog_type: ProgType, *, expected_attach_type: int = 0,
                 arch: str | None = None,
                 tracepoint: TracepointFormat | None = None) -> ContextSpec:
    """The context table of `prog_type` (what its programs may load and store)."""
    prog_type = ProgType(prog_type)
    if prog_type == ProgType.XDP:
        return xdp_spec(expected_attach_type)
    if prog_type in SKB_PROG_TYPES:
        return skb_spec(prog_type)
    if prog_type in TRACING_TYPES:
        return _tracing.context_spec(prog_type, arch=arch, tracepoint=tracepoint)
    raise UnsupportedProgType(f"no context model for {prog_type.name.lower()}")


def _vm(program: VM | bytes | bytearray, prog_type: ProgType,
        helpers: HelperRegistry | None) -> tuple[VM, bytes]:
    if isinstance(program, VM):
        return program, encode(program.insns)
    code = bytes(program)
    return VM(code, helpers=helpers_for(prog_type, helpers)), code


def test_run(program: VM | bytes | bytearray, prog_type: ProgType | int, *,
             data_in: bytes | None = None, ctx_in: bytes | None = None,
             data_size_out: int | None = None, ctx_size_out: int | None = None,
             repeat: int = 1, flags: int = 0, cpu: int = 0, batch_size: int = 0,
             expected_attach_type: int = 0, devices: dict[int, NetDevice] | None = None,
             helpers: HelperRegistry | None = None, task: Task | None = None,
             netns: "_netns.NetNamespace | None" = None) -> TestRunResult:
    """BPF_PROG_TEST_RUN on the VM. `program` is a VM (built with the type's helpers,
    see helpers_for) or bytecode (a VM is built with `helpers_for(prog_type, helpers)`).
    Arguments and defaults are those of pybpf.kernel.prog_test_run: data_size_out
    defaults to len(data_in) + 4096 (0: no data_out buffer), ctx_size_out to
    len(ctx_in) (0: no ctx_out buffer). `devices` is the network namespace the run
    sees (default: loopback only; host_devices() for this machine's); `netns` the whole
    network namespace the networking helpers consult (netns.read_netns() for the
    caller's), its devices taking the place of `devices`. `task` is the
    task a raw tracepoint runs in (default: `vm.task`, else the calling host thread).
    Raises TestRunError with the kernel's errno where the kernel refuses the run."""
    pt = ProgType(prog_type)
    args = RunArgs.make(data_in, ctx_in, data_size_out, ctx_size_out, repeat, flags, cpu,
                        batch_size)
    if pt == ProgType.XDP:
        vm, _ = _vm(program, pt, helpers)
        return _xdp.test_run_xdp(vm, args, expected_attach_type=expected_attach_type,
                                 devices=devices, netns=netns)
    if pt in SKB_PROG_TYPES:
        vm, _ = _vm(program, pt, helpers)
        return _skb.test_run_skb(vm, pt, args, devices=devices, netns=netns)
    if pt == ProgType.RAW_TRACEPOINT:
        vm, code = _vm(program, pt, helpers)
        return _tracing.test_run_raw_tp(vm, code, args, task)
    if pt in KERNEL_ONLY_TEST_RUN:
        raise UnsupportedProgType(f"test_run of {pt.name.lower()} is not modelled on the VM")
    raise TestRunError(ENOTSUPP, f"the kernel has no test_run for {pt.name.lower()}")


test_run.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported


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


__all__ = [
    "ContextAccess", "ContextAccessError", "ContextSpec", "CtxField", "ENOTSUPP", "FieldKind",
    "KERNEL_ONLY_TEST_RUN", "LOOPBACK", "NetDevice", "PT_REGS_ARM64", "PT_REGS_X86_64",
    "ProgTypeError", "PtRegsLayout", "RunArgs", "SKB_PROG_TYPES", "SkBuff", "Task",
    "TestRunError", "TestRunResult", "TracepointFormat", "UnsupportedProgType", "XdpAction",
    "XdpBuff",
    "allowed_helpers", "context_spec", "describe", "errno_name", "helpers_for",
    "host_devices", "is_allowed", "kprobe_spec", "loopback_only", "parse_format",
    "perf_event_data", "perf_event_spec", "pt_regs", "raw_tp_spec", "run_context",
    "skb_spec", "syscall_tracepoint", "test_run", "tracepoint_format", "tracepoint_spec",
    "xdp_spec",
]
