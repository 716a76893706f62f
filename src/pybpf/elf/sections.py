"""libbpf's `SEC()` naming convention: which program type, expected attach type and load
flags a section name stands for. The table is data (the conventions, not code), read
in order: the first matching pattern wins, so longer prefixes come first.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..uapi import AttachType as A
from ..uapi import ProgType as P

BPF_F_SLEEPABLE = 1 << 4
BPF_F_XDP_HAS_FRAGS = 1 << 5

# How a pattern matches: "exact" the whole name; "prefix/" the name or name + "/..."
# (the part after the slash is the attach target); "prefix+" anything starting with it.


@dataclass(frozen=True)
class SectionDef:
    pattern: str
    prog_type: int
    attach_type: int = 0
    flags: int = 0
    match: str = "slash"  # "exact" | "slash" | "prefix"


_D = SectionDef
SECTION_DEFS: tuple[SectionDef, ...] = (
    _D("socket", P.SOCKET_FILTER, match="prefix"),
    _D("sk_reuseport/migrate", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT_OR_MIGRATE, match="exact"),
    _D("sk_reuseport", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT, match="exact"),
    _D("kprobe.multi", P.KPROBE, A.TRACE_KPROBE_MULTI),
    _D("kretprobe.multi", P.KPROBE, A.TRACE_KPROBE_MULTI),
    _D("kprobe.session", P.KPROBE, A.TRACE_KPROBE_SESSION),
    _D("uprobe.multi.s", P.KPROBE, A.TRACE_UPROBE_MULTI, BPF_F_SLEEPABLE),
    _D("uretprobe.multi.s", P.KPROBE, A.TRACE_UPROBE_MULTI, BPF_F_SLEEPABLE),
    _D("uprobe.multi", P.KPROBE, A.TRACE_UPROBE_MULTI),
    _D("uretprobe.multi", P.KPROBE, A.TRACE_UPROBE_MULTI),
    _D("uprobe.session.s", P.KPROBE, A.TRACE_UPROBE_SESSION, BPF_F_SLEEPABLE),
    _D("uprobe.session", P.KPROBE, A.TRACE_UPROBE_SESSION),
    _D("kprobe", P.KPROBE),
    _D("uprobe.s", P.KPROBE, flags=BPF_F_SLEEPABLE),
    _D("uprobe", P.KPROBE),
    _D("kretprobe", P.KPROBE),
    _D("uretprobe.s", P.KPROBE, flags=BPF_F_SLEEPABLE),
    _D("uretprobe", P.KPROBE),
    _D("ksyscall", P.KPROBE),
    _D("kretsyscall", P.KPROBE),
    _D("usdt.s", P.KPROBE, flags=BPF_F_SLEEPABLE, match="prefix"),
    _D("usdt", P.KPROBE, match="prefix"),
    _D("tc/ingress", P.SCHED_CLS, A.TCX_INGRESS, match="exact"),
    _D("tc/egress", P.SCHED_CLS, A.TCX_EGRESS, match="exact"),
    _D("tcx/ingress", P.SCHED_CLS, A.TCX_INGRESS, match="exact"),
    _D("tcx/egress", P.SCHED_CLS, A.TCX_EGRESS, match="exact"),
    _D("netkit/primary", P.SCHED_CLS, A.NETKIT_PRIMARY, match="exact"),
    _D("netkit/peer", P.SCHED_CLS, A.NETKIT_PEER, match="exact"),
    _D("tc", P.SCHED_CLS, match="prefix"),
    _D("classifier", P.SCHED_CLS, match="prefix"),
    _D("action", P.SCHED_ACT, match="prefix"),
    _D("tracepoint", P.TRACEPOINT),
    _D("tp", P.TRACEPOINT),
    _D("raw_tracepoint.w", P.RAW_TRACEPOINT_WRITABLE),
    _D("raw_tp.w", P.RAW_TRACEPOINT_WRITABLE),
    _D("raw_tracepoint", P.RAW_TRACEPOINT),
    _D("raw_tp", P.RAW_TRACEPOINT),
    _D("tp_btf", P.TRACING, A.TRACE_RAW_TP),
    _D("fentry.s", P.TRACING, A.TRACE_FENTRY, BPF_F_SLEEPABLE),
    _D("fmod_ret.s", P.TRACING, A.MODIFY_RETURN, BPF_F_SLEEPABLE),
    _D("fexit.s", P.TRACING, A.TRACE_FEXIT, BPF_F_SLEEPABLE),
    _D("fentry", P.TRACING, A.TRACE_FENTRY),
    _D("fmod_ret", P.TRACING, A.MODIFY_RETURN),
    _D("fexit", P.TRACING, A.TRACE_FEXIT),
    _D("freplace", P.EXT),
    _D("lsm.s", P.LSM, A.LSM_MAC, BPF_F_SLEEPABLE),
    _D("lsm_cgroup", P.LSM, A.LSM_CGROUP),
    _D("lsm", P.LSM, A.LSM_MAC),
    _D("iter.s", P.TRACING, A.TRACE_ITER, BPF_F_SLEEPABLE),
    _D("iter", P.TRACING, A.TRACE_ITER),
    _D("syscall", P.SYSCALL, flags=BPF_F_SLEEPABLE, match="exact"),
    _D("xdp.frags/devmap", P.XDP, A.XDP_DEVMAP, BPF_F_XDP_HAS_FRAGS, match="exact"),
    _D("xdp/devmap", P.XDP, A.XDP_DEVMAP, match="exact"),
    _D("xdp.frags/cpumap", P.XDP, A.XDP_CPUMAP, BPF_F_XDP_HAS_FRAGS, match="exact"),
    _D("xdp/cpumap", P.XDP, A.XDP_CPUMAP, match="exact"),
    _D("xdp.frags", P.XDP, A.XDP, BPF_F_XDP_HAS_FRAGS, match="exact"),
    _D("xdp", P.XDP, A.XDP, match="prefix"),
    _D("perf_event", P.PERF_EVENT, match="prefix"),
    _D("lwt_in", P.LWT_IN, match="prefix"),
    _D("lwt_out", P.LWT_OUT, match="prefix"),
    _D("lwt_xmit", P.LWT_XMIT, match="prefix"),
    _D("lwt_seg6local", P.LWT_SEG6LOCAL, match="prefix"),
    _D("sockops", P.SOCK_OPS, A.CGROUP_SOCK_OPS, match="prefix"),
    _D("sk_skb/stream_parser", P.SK_SKB, A.SK_SKB_STREAM_PARSER, match="prefix"),
    _D("sk_skb/stream_verdict", P.SK_SKB, A.SK_SKB_STREAM_VERDICT, match="prefix"),
    _D("sk_skb/verdict", P.SK_SKB, A.SK_SKB_VERDICT, match="prefix"),
    _D("sk_skb", P.SK_SKB, match="prefix"),
    _D("sk_msg", P.SK_MSG, A.SK_MSG_VERDICT, match="prefix"),
    _D("lirc_mode2", P.LIRC_MODE2, A.LIRC_MODE2, match="prefix"),
    _D("flow_dissector", P.FLOW_DISSECTOR, A.FLOW_DISSECTOR, match="prefix"),
    _D("cgroup_skb/ingress", P.CGROUP_SKB, A.CGROUP_INET_INGRESS, match="prefix"),
    _D("cgroup_skb/egress", P.CGROUP_SKB, A.CGROUP_INET_EGRESS, match="prefix"),
    _D("cgroup/skb", P.CGROUP_SKB, match="prefix"),
    _D("cgroup/sock_create", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE, match="prefix"),
    _D("cgroup/sock_release", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_RELEASE, match="prefix"),
    _D("cgroup/sock", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE, match="prefix"),
    _D("cgroup/post_bind4", P.CGROUP_SOCK, A.CGROUP_INET4_POST_BIND, match="prefix"),
    _D("cgroup/post_bind6", P.CGROUP_SOCK, A.CGROUP_INET6_POST_BIND, match="prefix"),
    _D("cgroup/bind4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_BIND, match="prefix"),
    _D("cgroup/bind6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_BIND, match="prefix"),
    _D("cgroup/connect4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_CONNECT, match="prefix"),
    _D("cgroup/connect6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_CONNECT, match="prefix"),
    _D("cgroup/connect_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_CONNECT, match="prefix"),
    _D("cgroup/sendmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_SENDMSG, match="prefix"),
    _D("cgroup/sendmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_SENDMSG, match="prefix"),
    _D("cgroup/sendmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_SENDMSG, match="prefix"),
    _D("cgroup/recvmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_RECVMSG, match="prefix"),
    _D("cgroup/recvmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_RECVMSG, match="prefix"),
    _D("cgroup/recvmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_RECVMSG, match="prefix"),
    _D("cgroup/getpeername4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETPEERNAME, match="prefix"),
    _D("cgroup/getpeername6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETPEERNAME, match="prefix"),
    _D("cgroup/getpeername_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETPEERNAME,
       match="prefix"),
    _D("cgroup/getsockname4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETSOCKNAME, match="prefix"),
    _D("cgroup/getsockname6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETSOCKNAME, match="prefix"),
    _D("cgroup/getsockname_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETSOCKNAME,
       match="prefix"),
    _D("cgroup/sysctl", P.CGROUP_SYSCTL, A.CGROUP_SYSCTL, match="prefix"),
    _D("cgroup/getsockopt", P.CGROUP_SOCKOPT, A.CGROUP_GETSOCKOPT, match="prefix"),
    _D("cgroup/setsockopt", P.CGROUP_SOCKOPT, A.CGROUP_SETSOCKOPT, match="prefix"),
    _D("cgroup/dev", P.CGROUP_DEVICE, A.CGROUP_DEVICE, match="prefix"),
    _D("struct_ops.s", P.STRUCT_OPS, flags=BPF_F_SLEEPABLE, match="prefix"),
    _D("struct_ops", P.STRUCT_OPS, match="prefix"),
    _D("sk_lookup", P.SK_LOOKUP, A.SK_LOOKUP, match="prefix"),
    _D("netfilter", P.NETFILTER, A.NETFILTER, match="prefix"),
)


@dataclass(frozen=True)
class SectionInfo:
    """What a program's section name says about it."""

    prog_type: int
    attach_type: int
    flags: int
    attach_to: str  # the part after the first '/' (tracepoint name, function, ...)


def classify_section(name: str) -> SectionInfo | None:
    """The program type a section name stands for, or None when no convention fits
    (such sections are not programs, or need an explicit type)."""
    for d in SECTION_DEFS:
        if d.match == "exact":
            ok = name == d.pattern
        elif d.match == "prefix":
            ok = name.startswith(d.pattern)
        else:
            ok = name == d.pattern or name.startswith(d.pattern + "/")
        if ok:
            target = name[len(d.pattern) + 1:] if name.startswith(d.pattern + "/") else ""
            return SectionInfo(int(d.prog_type), int(d.attach_type), d.flags, target)
    return None
