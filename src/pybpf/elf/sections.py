"""libbpf's `SEC()` naming convention: which program type, expected attach type and load
flags a section name stands for, and how its program attaches (which hook, and the
target the name gives). The tables are data (the conventions, not code), read in
order: the first matching pattern wins, so longer prefixes come first.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from ..errors import PyBPFError

from ..uapi import BPF_F_SLEEPABLE, BPF_F_XDP_HAS_FRAGS
from ..uapi import AttachType as A
from ..uapi import ProgType as P


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


# --- attaching: which hook a section's program goes to, and its target ----------------

class AttachKind(enum.Enum):
    """The hook a program attaches to when `Program.attach()` reads its section name."""

    XDP = "xdp"  # a network interface (given by the caller)
    TC = "tc"  # a network interface (given), on the section's direction
    CGROUP = "cgroup"  # a cgroup v2 directory (given)
    UPROBE = "uprobe"  # <binary>:<function>[+<offset>] from the section
    TRACEPOINT = "tracepoint"  # <category>/<name> from the section
    RAW_TRACEPOINT = "raw_tracepoint"  # <name> from the section
    TRACING = "tracing"  # a kernel function or hook in vmlinux BTF (fentry, lsm, ...)
    SOCKET = "socket"  # a socket (given to attach_socket)
    NETFILTER = "netfilter"  # a netfilter hook (given: "local_in", ...)
    NETNS = "netns"  # a network namespace (given, or the caller's): sk_lookup, flow_dissector
    SOCKMAP = "sockmap"  # a sockmap or sockhash (given): sk_msg, sk_skb
    PERF_EVENT = "perf_event"  # a sampling event (given, default cpu-clock) on every CPU
    KPROBE = "kprobe"  # <function>[+<offset>] from the section (kprobe, kretprobe, ksyscall)
    KPROBE_MULTI = "kprobe_multi"  # a glob of kernel functions from the section
    USDT = "usdt"  # <binary>:<provider>:<name> from the section
    ITER = "iter"  # a BPF iterator (iter/<target>; a map or task the caller may give)

    @property
    def takes_target(self) -> bool:
        """True when the caller names where (an interface, a cgroup, a netfilter hook,
        a namespace, a sockmap, a perf event); the other kinds attach where the section
        name says."""
        return self in (AttachKind.XDP, AttachKind.TC, AttachKind.CGROUP,
                        AttachKind.NETFILTER, AttachKind.NETNS, AttachKind.SOCKMAP,
                        AttachKind.PERF_EVENT)


class AttachTargetError(PyBPFError, ValueError):
    """A section name whose attach target cannot be read (a tracepoint without its
    category, a uprobe without <binary>:<function>, ...)."""


@dataclass(frozen=True)
class AttachDef:
    """Sections of `pattern` attach as `kind` (None: not from the name). As libbpf's
    attach handlers do, `pattern` is matched against the section's first component
    (the text before the first '/'); with match "exact" against the whole name, with
    "bare" against a first component that has nothing after its '/'."""

    pattern: str
    kind: AttachKind | None
    match: str = "slash"  # "exact" | "slash" | "bare"


_K = AttachKind
_AD = AttachDef
ATTACH_DEFS: tuple[AttachDef, ...] = (
    _AD("xdp/devmap", None, "exact"),  # run by a devmap/cpumap, not attached
    _AD("xdp/cpumap", None, "exact"),
    _AD("xdp.frags/devmap", None, "exact"),
    _AD("xdp.frags/cpumap", None, "exact"),
    _AD("xdp", _K.XDP),
    _AD("xdp.frags", _K.XDP),
    _AD("tc", _K.TC),
    _AD("tcx", _K.TC),
    _AD("classifier", _K.TC),
    _AD("ingress", _K.TC, "bare"),  # iproute2's bare direction names
    _AD("egress", _K.TC, "bare"),
    _AD("cgroup_skb", _K.CGROUP),
    _AD("cgroup", _K.CGROUP),
    _AD("sockops", _K.CGROUP),
    _AD("uprobe", _K.UPROBE),
    _AD("uprobe.s", _K.UPROBE),
    _AD("uretprobe", _K.UPROBE),
    _AD("uretprobe.s", _K.UPROBE),
    _AD("tracepoint", _K.TRACEPOINT),
    _AD("tp", _K.TRACEPOINT),
    _AD("raw_tp", _K.RAW_TRACEPOINT),
    _AD("raw_tracepoint", _K.RAW_TRACEPOINT),
    *(_AD(k, _K.TRACING) for base in ("tp_btf", "fentry", "fexit", "fmod_ret", "lsm")
      for k in (base, base + ".s")),
    _AD("socket", _K.SOCKET),
    _AD("netfilter", _K.NETFILTER),
    _AD("sk_lookup", _K.NETNS),
    _AD("flow_dissector", _K.NETNS),
    _AD("sk_msg", _K.SOCKMAP),
    _AD("sk_skb", _K.SOCKMAP),
    _AD("perf_event", _K.PERF_EVENT),
    *(_AD(k, _K.KPROBE) for k in ("kprobe", "kretprobe", "ksyscall", "kretsyscall")),
    _AD("kprobe.multi", _K.KPROBE_MULTI),
    _AD("kretprobe.multi", _K.KPROBE_MULTI),
    _AD("usdt", _K.USDT),
    _AD("usdt.s", _K.USDT),
    _AD("iter", _K.ITER),
    _AD("iter.s", _K.ITER),
)

UPROBE_KINDS = ("uprobe", "uprobe.s", "uretprobe", "uretprobe.s")
_UPROBE_FUNC = re.compile(r"([A-Za-z0-9_.@]+)(?:\+(0[xX][0-9a-fA-F]+|[0-9]+))?")


def attach_kind(section: str) -> AttachKind | None:
    """How a program of `section` attaches (None: not from its name)."""
    first, _, rest = section.partition("/")
    for d in ATTACH_DEFS:
        if d.match == "exact":
            ok = section == d.pattern
        else:
            ok = first == d.pattern and (d.match == "slash" or not rest)
        if ok:
            return d.kind
    return None


@dataclass(frozen=True)
class UprobeTarget:
    """SEC("u[ret]probe[.s]/<binary>:<function>[+<offset>]") read: `binary` as written
    (a path, or a name looked up on the host when attaching)."""

    binary: str
    function: str
    offset: int
    retprobe: bool


def uprobe_target(section: str) -> UprobeTarget:
    """Split a uprobe section as libbpf reads it (the binary ends at the first ':';
    uretprobes take no offset)."""
    kind, _, rest = section.partition("/")
    if kind not in UPROBE_KINDS:
        raise AttachTargetError(f"section {section!r} is not a uprobe section")
    binary, sep, func = rest.partition(":")
    if not binary or not sep or not func:
        raise AttachTargetError(
            f"section {section!r} names no <binary>:<function> to attach to; use "
            "attach_uprobe(path, symbol=..., offset=...)")
    m = _UPROBE_FUNC.fullmatch(func)
    if m is None:
        raise AttachTargetError(f"section {section!r}: {func!r} is not <function>[+<offset>]")
    offset = int(m.group(2), 0) if m.group(2) else 0
    retprobe = kind.startswith("uretprobe")
    if retprobe and offset:
        raise AttachTargetError(f"section {section!r}: uretprobes take no offset")
    return UprobeTarget(binary, m.group(1), offset, retprobe)


def is_uretprobe(section: str) -> bool:
    """SEC("uretprobe[.s]...")."""
    return section.split("/", 1)[0] in ("uretprobe", "uretprobe.s")


def tracepoint_target(section: str) -> tuple[str, str]:
    """(category, name) of SEC("tracepoint/<category>/<name>") (or "tp/...")."""
    category, _, name = section.partition("/")[2].partition("/")
    if not category or not name or "/" in name:
        raise AttachTargetError(f"section {section!r} does not name a tracepoint as "
                                "tracepoint/<category>/<name>")
    return category, name


def raw_tracepoint_target(section: str) -> str:
    """The name of SEC("raw_tp/<name>") (or "raw_tracepoint/...")."""
    rest = section.partition("/")[2]
    if not rest:
        raise AttachTargetError(f"section {section!r} names no raw tracepoint")
    return rest


def tracing_target(section: str) -> str:
    """The BTF hook of SEC("fentry/<function>"), tp_btf/, fexit/, fmod_ret/, lsm/."""
    return section.partition("/")[2]


def tc_direction(section: str) -> str:
    """The direction a tc section names: tc/egress, tcx/ingress, a bare "egress"...;
    ingress when it names none."""
    kind, _, rest = section.partition("/")
    if rest in ("ingress", "egress"):
        return rest
    return kind if kind in ("ingress", "egress") else "ingress"


@dataclass(frozen=True)
class KprobeTarget:
    """SEC("k[ret]probe/<function>[+<offset>]") or SEC("k[ret]syscall/<syscall>") read;
    `syscall` True when `function` names a system call (its kernel function has an
    architecture prefix, found when attaching)."""

    function: str
    offset: int
    retprobe: bool
    syscall: bool = False


def kprobe_target(section: str) -> KprobeTarget:
    """Split a kprobe section as libbpf reads it (kretprobes take no offset)."""
    kind, _, rest = section.partition("/")
    if kind not in ("kprobe", "kretprobe", "ksyscall", "kretsyscall"):
        raise AttachTargetError(f"section {section!r} is not a kprobe section")
    retprobe = kind in ("kretprobe", "kretsyscall")
    m = _UPROBE_FUNC.fullmatch(rest)
    if not rest or m is None:
        raise AttachTargetError(f"section {section!r} names no kernel function as "
                                f"{kind}/<function>{'' if retprobe else '[+<offset>]'}")
    offset = int(m.group(2), 0) if m.group(2) else 0
    if offset and (retprobe or kind == "ksyscall"):
        raise AttachTargetError(f"section {section!r}: {kind} takes no offset")
    return KprobeTarget(m.group(1), offset, retprobe, kind.endswith("syscall"))


def kprobe_multi_target(section: str) -> tuple[str, bool]:
    """(glob pattern, retprobe) of SEC("k[ret]probe.multi/<pattern>")."""
    kind, _, pattern = section.partition("/")
    if kind not in ("kprobe.multi", "kretprobe.multi") or not pattern:
        raise AttachTargetError(f"section {section!r} names no functions as "
                                "kprobe.multi/<glob>")
    return pattern, kind == "kretprobe.multi"


@dataclass(frozen=True)
class UsdtTarget:
    """SEC("usdt/<binary>:<provider>:<name>") read (the binary as written)."""

    binary: str
    provider: str
    name: str


def usdt_target(section: str) -> UsdtTarget:
    """Split a USDT section as libbpf reads it: the provider and name are the last two
    ':'-separated parts, the binary the rest (a path may hold ':')."""
    kind, _, rest = section.partition("/")
    parts = rest.rsplit(":", 2)
    if kind not in ("usdt", "usdt.s") or len(parts) != 3 or not all(parts):
        raise AttachTargetError(f"section {section!r} names no USDT probe as "
                                "usdt/<binary>:<provider>:<name>; use attach_usdt()")
    return UsdtTarget(*parts)


# sk_msg / sk_skb sections -> the sockmap attach type (a bare sk_skb names none)
SOCKMAP_SECTION_ATTACH = {
    "sk_msg": A.SK_MSG_VERDICT, "sk_skb/stream_parser": A.SK_SKB_STREAM_PARSER,
    "sk_skb/stream_verdict": A.SK_SKB_STREAM_VERDICT, "sk_skb/verdict": A.SK_SKB_VERDICT,
}


def sockmap_attach_type(section: str) -> int | None:
    """The sockmap attach type a sk_msg / sk_skb section names (None: a bare sk_skb)."""
    for prefix, at in SOCKMAP_SECTION_ATTACH.items():
        if section == prefix or section.startswith(prefix + "/") or (
                prefix == "sk_msg" and section.startswith("sk_msg")):
            return int(at)
    return None
