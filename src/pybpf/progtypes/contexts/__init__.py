"""The context of every program type the VM models, as data: which bytes a program may
load and store, at which sizes, what the kernel rewrites each access to, and what the
return value means. Importing this package loads no VM, helper or map module: a
verifier reads the ctx access rules from `context_spec()`.

* `skb`: struct __sk_buff of socket filters, tc, cgroup skb and LWT.
* `xdp`: struct xdp_md.
* `sock`: struct bpf_sock (skb->sk, the socket-lookup helpers' result).
* `tracing`: raw tracepoint arguments, pt_regs (kprobe/uprobe), bpf_perf_event_data,
  tracepoint records.
"""

from __future__ import annotations

from ...uapi import AttachType, ProgType
from ..ctx import ContextSpec
from ..errors import UnsupportedProgType
from .skb import SKB_PROG_TYPES, skb_spec
from .tracing import TRACING_TYPES, TracepointFormat, tracing_spec
from .xdp import xdp_spec

MODELLED_TYPES = frozenset([ProgType.XDP, *SKB_PROG_TYPES, *TRACING_TYPES])


def context_spec(prog_type: ProgType | int, attach_type: AttachType | int | None = None, *,
                 arch: str | None = None, tracepoint: TracepointFormat | None = None,
                 expected_attach_type: int = 0) -> ContextSpec:
    """The context table of `prog_type` as a program loaded with `attach_type` (the
    expected attach type; None: none) sees it. `arch` picks the pt_regs layout of kprobe
    and perf_event programs (default: this machine's); `tracepoint` the record of a
    tracepoint program (default: the generic rule); `expected_attach_type` is the name
    pybpf.progtypes.context_spec took it by before. UnsupportedProgType for a type the
    VM has no context model of."""
    prog_type = ProgType(prog_type)
    if prog_type == ProgType.XDP:
        return xdp_spec(int(attach_type if attach_type is not None else expected_attach_type))
    if prog_type in SKB_PROG_TYPES:
        return skb_spec(prog_type)
    if prog_type in TRACING_TYPES:
        return tracing_spec(prog_type, arch=arch, tracepoint=tracepoint)
    raise UnsupportedProgType(f"no context model for {prog_type.name.lower()}")


__all__ = ["MODELLED_TYPES", "context_spec"]
