"""pybpf.kernel: the Linux kernel's BPF through bpf(2), in pure Python over ctypes.

* `abi`: UAPI enums (generated from the kernel's BTF) and the bpf_attr layouts.
* `syscall`: the raw call; `errors`: KernelError and friends.
* `fd`: owned file descriptors (closed on close(), `with`, or garbage collection).
* `maps`, `progs`, `objects`: typed commands and the Map / Program / BTF / Link objects.
* `probe`: available() and bpftool-style feature probes.
* `run`: run_raw(), conformance-style runs returning the full 64-bit r0.
* `link`: attaching, one module per kind (tracepoints, uprobes, USDT, kprobes and
  sampling through perf events, kprobe.multi, raw tracepoints and BTF-typed tracing,
  socket filters, XDP, tc (tcx or clsact), cgroups, netfilter, sk_lookup and
  flow_dissector on a namespace, sk_msg / sk_skb on a sockmap); every attach returns a
  `Link`. `usdt`: USDT notes and argument specs. `netlink`: the rtnetlink messages XDP and tc need;
  `tracefs`: where tracefs is and tracepoint ids.
* `perfbuf`: PerfBuffer, the per-CPU rings bpf_perf_event_output writes to;
  `ringbuf`: RingBuffer, the consumer of a BPF ring buffer map; both wait through
  `eventreader` (poll(timeout), iteration, asyncio). `iter`: BPF iterators read as files.
"""

from __future__ import annotations

from . import abi
from .abi import AttachType, BpfCmd, LinkType, MapFlag, MapType, ProgType
from .perfbuf import PerfBuffer, PerfSample
from .ringbuf import RingBuffer
from .iter import IterLink, attach_iter, read_iter
from .link import (
    CgroupLink,
    Link,
    LinkInfo,
    PerfEventLink,
    RawTracepointLink,
    SocketFilter,
    TcFilterAttachment,
    TcxLink,
    UprobeError,
    UprobeLink,
    XdpLink,
    XdpNetlinkAttachment,
    attach_cgroup,
    attach_kprobe,
    attach_kprobe_multi,
    attach_netfilter,
    attach_netns,
    attach_perf_event,
    attach_perf_sampling,
    attach_sockmap,
    attach_usdt,
    syscall_kprobe_function,
    attach_raw_tracepoint,
    attach_socket,
    attach_tc,
    attach_tracepoint,
    attach_tracing,
    attach_uprobe,
    attach_xdp,
    cgroup2_root,
    link_create,
    perf_event_open,
    xdp_state,
)
from .tracefs import TracefsError, tracepoint_id
from .errors import (
    ENOTSUPP,
    KernelNoDeviceError,
    KernelBTFError,
    KernelBusyError,
    KernelError,
    KernelExistsError,
    KernelInvalidError,
    KernelKeyError,
    KernelNoSpaceError,
    KernelPermissionError,
    KernelTooBigError,
    KernelTestRunError,
    KernelVerifierError,
    NotSupportedError,
    verifier_reason,
)
from .fd import FD, fd_of
from .maps import (
    Batch,
    Map,
    MapInfo,
    map_create,
    map_delete_batch,
    map_delete_elem,
    map_freeze,
    map_get_info,
    map_get_next_key,
    map_lookup_and_delete_batch,
    map_lookup_and_delete_elem,
    map_lookup_batch,
    map_lookup_elem,
    map_update_batch,
    map_update_elem,
    possible_cpus,
)
from .objects import (
    BTF,
    BtfInfo,
    btf_blob,
    btf_get_fd_by_id,
    btf_get_next_id,
    btf_ids,
    btf_int_blob,
    btf_load,
    enable_stats,
    ensure_bpffs,
    fd_kind,
    is_bpffs,
    link_get_fd_by_id,
    link_get_next_id,
    link_ids,
    map_get_fd_by_id,
    map_get_next_id,
    map_ids,
    mount_bpffs,
    obj_get,
    obj_get_info_by_fd,
    obj_pin,
    prog_get_fd_by_id,
    prog_get_next_id,
    prog_ids,
    unmount,
)
from .probe import (
    ProbeResult,
    available,
    features_report,
    format_features,
    probe_all,
    probe_helper,
    probe_helpers,
    probe_map_type,
    probe_map_types,
    probe_prog_type,
    probe_prog_types,
)
from .progs import ProgInfo, Program, TestRunResult, prog_get_info, prog_load, prog_test_run
from .run import RawResult, RawRunner, run_raw
from .syscall import bpf, bpf_raw

__all__ = [
    "abi", "AttachType", "BpfCmd", "LinkType", "MapFlag", "MapType", "ProgType",
    # errors
    "ENOTSUPP", "KernelError", "KernelBTFError", "KernelBusyError", "KernelExistsError",
    "KernelInvalidError", "KernelKeyError", "KernelNoDeviceError", "KernelNoSpaceError",
    "KernelPermissionError",
    "KernelTestRunError", "KernelTooBigError", "KernelVerifierError", "NotSupportedError",
    "verifier_reason",
    # fds and the syscall
    "FD", "fd_of", "bpf", "bpf_raw",
    # maps
    "Batch", "Map", "MapInfo", "map_create", "map_delete_batch", "map_delete_elem",
    "map_freeze", "map_get_info", "map_get_next_key", "map_lookup_and_delete_batch",
    "map_lookup_and_delete_elem", "map_lookup_batch", "map_lookup_elem", "map_update_batch",
    "map_update_elem", "possible_cpus",
    # programs
    "ProgInfo", "Program", "TestRunResult", "prog_get_info", "prog_load", "prog_test_run",
    # other objects
    "BTF", "BtfInfo", "Link", "LinkInfo", "btf_blob", "btf_get_fd_by_id", "btf_get_next_id",
    "btf_ids", "btf_int_blob", "btf_load", "enable_stats", "ensure_bpffs", "fd_kind",
    "is_bpffs", "link_create", "link_get_fd_by_id", "link_get_next_id", "link_ids",
    "map_get_fd_by_id", "map_get_next_id", "map_ids", "mount_bpffs", "obj_get",
    "obj_get_info_by_fd", "obj_pin", "prog_get_fd_by_id", "prog_get_next_id", "prog_ids",
    "unmount",
    # probes
    "ProbeResult", "available", "features_report", "format_features", "probe_all",
    "probe_helper", "probe_helpers", "probe_map_type", "probe_map_types", "probe_prog_type",
    "probe_prog_types",
    # conformance-style runs
    "RawResult", "RawRunner", "run_raw",
    # attaching
    "PerfBuffer", "PerfSample", "RingBuffer", "IterLink", "attach_iter", "read_iter",
    "PerfEventLink", "RawTracepointLink", "SocketFilter", "TracefsError",
    "attach_perf_event",
    "attach_raw_tracepoint", "attach_socket", "attach_tracepoint", "attach_tracing",
    "perf_event_open",
    "UprobeError", "UprobeLink", "attach_uprobe",
    "CgroupLink", "TcFilterAttachment", "TcxLink", "XdpLink", "XdpNetlinkAttachment",
    "attach_cgroup", "attach_tc", "attach_xdp", "cgroup2_root", "xdp_state",
    "attach_kprobe", "attach_kprobe_multi", "attach_netfilter", "attach_netns",
    "attach_perf_sampling", "attach_sockmap", "attach_usdt", "syscall_kprobe_function",
    "tracepoint_id",
]
