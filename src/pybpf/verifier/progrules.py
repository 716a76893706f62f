"""Rules by program type and license: the return range at exit, the capability a type
needs, GPL compatibility."""

from __future__ import annotations

from typing import Any

from ..uapi import ProgType


def return_range(prog_type: Any, attach_type: int) -> tuple[int, int] | None:
    """check_return_code's range for the program type (None: any scalar)."""
    from ..uapi import AttachType as _AT  # noqa: F401 (names for readers)
    P = ProgType
    if prog_type in (P.CGROUP_SOCK, P.SOCK_OPS, P.CGROUP_DEVICE, P.CGROUP_SYSCTL,
                     P.CGROUP_SOCKOPT):
        return 0, 1
    if prog_type == P.CGROUP_SKB:
        return (0, 3) if attach_type == 1 else (0, 1)  # BPF_CGROUP_INET_EGRESS
    if prog_type == P.CGROUP_SOCK_ADDR:
        if attach_type in (29, 30, 31, 32, 45, 46, 47):  # recvmsg/getpeername/getsockname
            return 1, 1
        if attach_type in (8, 9):  # INET4/6_BIND
            return 0, 3
        return 0, 1
    if prog_type == P.SK_LOOKUP:
        return 0, 1
    if prog_type == P.NETFILTER:
        return 0, 1
    return None


_PERFMON_TYPES = {ProgType.KPROBE, ProgType.TRACEPOINT, ProgType.PERF_EVENT,
                  ProgType.RAW_TRACEPOINT, ProgType.RAW_TRACEPOINT_WRITABLE, ProgType.TRACING,
                  ProgType.LSM, ProgType.STRUCT_OPS, ProgType.EXT}
_NET_ADMIN_TYPES = {ProgType.SCHED_CLS, ProgType.SCHED_ACT, ProgType.XDP, ProgType.LWT_IN,
                    ProgType.LWT_OUT, ProgType.LWT_XMIT, ProgType.LWT_SEG6LOCAL,
                    ProgType.SK_SKB, ProgType.SK_MSG, ProgType.FLOW_DISSECTOR,
                    ProgType.CGROUP_DEVICE, ProgType.CGROUP_SOCK, ProgType.CGROUP_SOCK_ADDR,
                    ProgType.CGROUP_SOCKOPT, ProgType.CGROUP_SYSCTL, ProgType.SOCK_OPS,
                    ProgType.EXT, ProgType.NETFILTER}


def prog_type_capability(t: int) -> str | None:
    """The capability bpf_prog_load requires for the type beyond CAP_BPF (its
    is_perfmon_prog_type / is_net_admin_prog_type), or "bpf_capable" without CAP_BPF."""
    if t in _PERFMON_TYPES:
        return "perfmon"
    if t in _NET_ADMIN_TYPES:
        return "net_admin"
    return None


def _type_name(t: int) -> str:
    try:
        return ProgType(t).name.lower()
    except ValueError:
        return str(t)


def unwind_path(p: Any) -> tuple[tuple[int, bool], ...]:
    """The branch decisions of a path, first to last: (insn, jump taken)."""
    out = []
    while p:
        out.append((p[0], p[1]))
        p = p[2]
    return tuple(reversed(out))


def license_is_gpl_compatible(lic: str) -> bool:
    return lic in ("GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL",
                   "Dual MIT/GPL", "Dual MPL/GPL")
