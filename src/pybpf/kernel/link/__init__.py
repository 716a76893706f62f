"""pybpf.kernel.link: attaching loaded programs to kernel hooks, one module per kind.

* `base`: `Link` (a BPF link: detach on close, pin, update, info), `FinalizedAttachment`
  (attachments that are not BPF links), `LinkInfo`, `link_create`.
* `perf_event`: perf_event_open(2) and programs on perf events (perf link or ioctls).
* `tracepoint`, `uprobe`: perf events of the tracepoint and uprobe PMUs.
* `raw_tracepoint`: BPF_RAW_TRACEPOINT_OPEN (raw tracepoints, tp_btf, fentry/fexit/lsm).
* `socket_filter`: SO_ATTACH_BPF on a socket.
* `xdp`, `tc`, `cgroup`: network hooks (BPF links, or netlink on older kernels);
  `netbase`: what they share (privilege errors, link-kind feature probes).
* `netfilter`: netfilter hooks; `netns`: sk_lookup and flow_dissector on a network
  namespace; `sockmap`: sk_msg / sk_skb on a sockmap or sockhash.
* `sampling`: perf_event programs on per-CPU sampling events (cpu-clock, ...);
  `kprobe`: kprobes, kretprobes (kprobe PMU) and kprobe.multi links; `usdt`: USDT
  probes (a uprobe per site, argument specs for usdt.bpf.h, semaphores).

Every attach returns a `Link` that detaches on close(), at the end of a `with` block,
or when it is garbage-collected.
"""

from __future__ import annotations

from .base import (
    UPDATABLE_LINK_KINDS,
    FinalizedAttachment,
    Link,
    LinkInfo,
    link_create,
    link_info_of,
    link_kind,
    link_kind_direction,
)
from .cgroup import CGROUP_ATTACH_TYPES, CgroupLink, attach_cgroup, cgroup2_root
from .kprobe import (
    KprobeLink,
    KprobeMultiLink,
    attach_kprobe,
    attach_kprobe_multi,
    kprobe_pmu_type,
    resolve_kprobe_pattern,
    syscall_kprobe_function,
)
from .netbase import kernel_feature, privilege_text
from .netbase import NF_HOOKS, NF_PROTOCOLS, nf_names
from .netfilter import NetfilterLink, attach_netfilter
from .netns import (
    NETNS_ATTACH_TYPES,
    NetnsLink,
    NetnsProgAttachment,
    attach_netns,
    open_netns,
    prog_attach,
    prog_detach,
)
from .sampling import PERF_EVENTS, attach_perf_sampling
from .sockmap import (
    SOCKMAP_ATTACH_TYPES,
    SockmapLink,
    SockmapProgAttachment,
    attach_sockmap,
)
from .perf_event import (
    PerfEventLink,
    attach_perf_event,
    perf_event_open,
    sys_perf_event_open_number,
)
from .raw_tracepoint import RawTracepointLink, attach_raw_tracepoint, attach_tracing
from .socket_filter import SocketFilter, attach_socket
from .tc import TC_DIRECTIONS, TcFilterAttachment, TcxLink, attach_tc
from .tracepoint import attach_tracepoint
from .uprobe import (
    UprobeError,
    UprobeLink,
    attach_uprobe,
    elf_symbol_offset,
    uprobe_pmu_type,
    uprobe_retprobe_bit,
)
from .usdt import UsdtLink, attach_usdt
from .xdp import XDP_MODES, XdpLink, XdpNetlinkAttachment, attach_xdp, xdp_state

__all__ = [
    "UPDATABLE_LINK_KINDS", "FinalizedAttachment", "Link", "LinkInfo", "link_create",
    "link_info_of", "link_kind", "link_kind_direction",
    "CGROUP_ATTACH_TYPES", "CgroupLink", "attach_cgroup", "cgroup2_root",
    "kernel_feature", "privilege_text",
    "KprobeLink", "KprobeMultiLink", "attach_kprobe", "attach_kprobe_multi",
    "kprobe_pmu_type", "resolve_kprobe_pattern", "syscall_kprobe_function",
    "UsdtLink", "attach_usdt",
    "NF_HOOKS", "NF_PROTOCOLS", "nf_names", "NetfilterLink", "attach_netfilter",
    "NETNS_ATTACH_TYPES", "NetnsLink", "NetnsProgAttachment", "attach_netns", "open_netns",
    "prog_attach", "prog_detach",
    "PERF_EVENTS", "attach_perf_sampling",
    "SOCKMAP_ATTACH_TYPES", "SockmapLink", "SockmapProgAttachment", "attach_sockmap",
    "PerfEventLink", "attach_perf_event", "perf_event_open",
    "sys_perf_event_open_number",
    "RawTracepointLink", "attach_raw_tracepoint", "attach_tracing",
    "SocketFilter", "attach_socket",
    "TC_DIRECTIONS", "TcFilterAttachment", "TcxLink", "attach_tc",
    "attach_tracepoint",
    "UprobeError", "UprobeLink", "attach_uprobe", "elf_symbol_offset", "uprobe_pmu_type",
    "uprobe_retprobe_bit",
    "XDP_MODES", "XdpLink", "XdpNetlinkAttachment", "attach_xdp", "xdp_state",
]
