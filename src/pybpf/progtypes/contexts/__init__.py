"""The context of every program type the VM models, as data: which bytes a program may
load and store, at which sizes, what the kernel rewrites each access to, and what the
return value means. Importing this package loads no VM, helper or map module: a
verifier reads the ctx access rules from `context_spec()`.

* `skb`: struct __sk_buff of socket filters, tc, cgroup skb and LWT.
* `xdp`: struct xdp_md.
* `sock`: struct bpf_sock (skb->sk, the socket-lookup helpers' result).
* `tracing`: raw tracepoint arguments, pt_regs (kprobe/uprobe), bpf_perf_event_data,
  tracepoint records.

Tables the verifier reads for types the VM does not run (KERNEL_ONLY_TYPES):
* `sk_skb`: struct __sk_buff of sk_skb and the flow dissector.
* `sk_msg`: struct sk_msg_md.  * `sk_lookup`: struct bpf_sk_lookup.
* `netfilter`: struct bpf_nf_ctx.  * `sockets`: struct bpf_sock of cgroup/sock.
"""

from __future__ import annotations

from ...uapi import AttachType, ProgType
from ..ctx import ContextSpec
from ..errors import UnsupportedProgType
from .skb import SKB_PROG_TYPES, skb_spec
from .tracing import TRACING_TYPES, TracepointFormat, tracing_spec
from .xdp import xdp_spec

MODELLED_TYPES = frozenset([ProgType.XDP, *SKB_PROG_TYPES, *TRACING_TYPES])
# context tables for the verifier only: the VM runs no program of these types
KERNEL_ONLY_TYPES = frozenset([ProgType.SK_SKB, ProgType.SK_MSG, ProgType.FLOW_DISSECTOR,
                               ProgType.SK_LOOKUP, ProgType.NETFILTER, ProgType.CGROUP_SOCK])


def context_spec(prog_type: ProgType | int, attach_type: AttachType | int | None = None, *,
                 arch: str | None = None, tracepoint: TracepointFormat | None = None,
                 expected_attach_type: int = 0) -> ContextSpec:
    """The context table of `prog_type` as a program loaded with `attach_type` (the
    expected attach type; None: none) sees it. `arch` picks the pt_regs layout of kprobe
    and perf_event programs (default: this machine's); `tracepoint` the record of a
    tracepoint program (default: the generic rule); `expected_attach_type` is the name
    pybpf.progtypes.context_spec took it by before. UnsupportedProgType for a type the
    verifier has no context table of."""
    prog_type = ProgType(prog_type)
    if prog_type == ProgType.XDP:
        return xdp_spec(int(attach_type if attach_type is not None else expected_attach_type))
    if prog_type in SKB_PROG_TYPES:
        return skb_spec(prog_type)
    if prog_type in TRACING_TYPES:
        return tracing_spec(prog_type, arch=arch, tracepoint=tracepoint)
    if prog_type == ProgType.CGROUP_SOCK:
        from .sockets import cgroup_sock_spec
        return cgroup_sock_spec(int(attach_type if attach_type is not None
                                    else expected_attach_type))
    if prog_type in KERNEL_ONLY_TYPES:
        return _kernel_only_spec(prog_type)
    raise UnsupportedProgType(f"no context model for {prog_type.name.lower()}")


def _kernel_only_spec(prog_type: ProgType) -> ContextSpec:
    if prog_type == ProgType.SK_SKB:
        from .sk_skb import sk_skb_spec
        return sk_skb_spec()
    if prog_type == ProgType.FLOW_DISSECTOR:
        from .sk_skb import flow_dissector_spec
        return flow_dissector_spec()
    if prog_type == ProgType.SK_MSG:
        from .sk_msg import sk_msg_spec
        return sk_msg_spec()
    if prog_type == ProgType.SK_LOOKUP:
        from .sk_lookup import sk_lookup_spec
        return sk_lookup_spec()
    from .netfilter import netfilter_spec
    return netfilter_spec()


__all__ = ["KERNEL_ONLY_TYPES", "MODELLED_TYPES", "context_spec"]
