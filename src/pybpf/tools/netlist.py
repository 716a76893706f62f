"""What is attached, as bpftool shows it: `pybpf net list` (XDP, tc and flow dissector
programs of this network namespace, per interface) and `pybpf link list|show`.

The JSON uses bpftool's keys, so scripts written for `bpftool -j net list` and
`bpftool -j link list` keep working: net list is `[{"xdp": [...], "tc": [...],
"flow_dissector": [...]}]` with {"devname", "ifindex", "mode", "id"} per XDP program,
{"devname", "ifindex", "kind": "tcx/ingress", "name", "prog_id", "link_id"} per tcx
program and {"devname", "ifindex", "kind": "clsact/ingress", "name", "id"} per cls_bpf
filter, as bpftool 7.3+ prints them.
"""

from __future__ import annotations

import errno as _errno
import os
from typing import Any

from ..kernel import abi, netlink
from ..kernel.abi import AttachType, LinkType
from ..kernel.errors import KernelError
from ..kernel.link import Link, link_info_of
from ..kernel.objects import (
    link_get_fd_by_id,
    link_ids,
    obj_get_info_by_fd,
    prog_get_fd_by_id,
    prog_query,
)

XDP_MODE_NAMES = {"skb": "generic", "drv": "driver", "hw": "offload"}


def prog_name(prog_id: int) -> str:
    """A loaded program's name ("" if it is gone)."""
    try:
        with prog_get_fd_by_id(prog_id) as fd:
            return obj_get_info_by_fd(fd, abi.BpfProgInfo()).name.decode(errors="replace")
    except KernelError:
        return ""


def _xdp_entries(iface: netlink.Interface) -> list[dict[str, Any]]:
    state = iface.xdp
    return [{"devname": iface.name, "ifindex": iface.index, "mode": mode, "id": prog_id}
            for mode, prog_id in state.prog_ids().items()]


def _tcx_entries(iface: netlink.Interface) -> list[dict[str, Any]]:
    out = []
    for direction, at in (("ingress", AttachType.TCX_INGRESS),
                          ("egress", AttachType.TCX_EGRESS)):
        try:
            q = prog_query(iface.index, at, detail=f"tcx {direction} on {iface.name}")
        except KernelError as e:
            if e.errno in (_errno.EINVAL, _errno.EOPNOTSUPP, 524):
                return []  # no tcx on this kernel
            raise
        for prog_id, link_id in zip(q.prog_ids, q.link_ids):
            entry: dict[str, Any] = {"devname": iface.name, "ifindex": iface.index,
                                     "kind": f"tcx/{direction}", "name": prog_name(prog_id),
                                     "prog_id": prog_id}
            if link_id:
                entry["link_id"] = link_id
            out.append(entry)
    return out


def _clsact_entries(iface: netlink.Interface) -> list[dict[str, Any]]:
    out = []
    for direction in ("ingress", "egress"):
        for f in netlink.bpf_filters(iface.index, direction):
            if f.kind != "bpf":
                continue
            entry: dict[str, Any] = {"devname": iface.name, "ifindex": iface.index,
                                     "kind": f"clsact/{direction}"}
            if f.name:
                entry["name"] = f.name
            entry["id"] = f.prog_id
            out.append(entry)
    return out


def _flow_dissector() -> list[dict[str, Any]]:
    try:
        fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return []
    try:
        q = prog_query(fd, AttachType.FLOW_DISSECTOR)
    except KernelError:
        return []
    finally:
        os.close(fd)
    return [{"id": i} for i in q.prog_ids]


def net_list(dev: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """The networking attachments of this namespace (one interface with `dev`)."""
    ifaces = netlink.interfaces()
    if dev is not None:
        ifaces = [i for i in ifaces if i.name == dev]
        if not ifaces:
            netlink.ifindex_of(dev)  # raises, naming it
    tc: list[dict[str, Any]] = []
    for iface in ifaces:
        tc += _tcx_entries(iface) + _clsact_entries(iface)
    return {"xdp": [e for i in ifaces for e in _xdp_entries(i)], "tc": tc,
            "flow_dissector": _flow_dissector()}


def format_net_list(view: dict[str, list[dict[str, Any]]]) -> str:
    """bpftool's plain `net list` layout."""
    lines = ["xdp:"]
    for e in view["xdp"]:
        lines.append(f"{e['devname']}({e['ifindex']}) {e['mode']} id {e['id']}")
    lines += ["", "tc:"]
    for e in view["tc"]:
        name = f" {e['name']}" if e.get("name") else ""
        if "prog_id" in e:
            link = f" link_id {e['link_id']}" if "link_id" in e else ""
            lines.append(f"{e['devname']}({e['ifindex']}) {e['kind']}{name} "
                         f"prog_id {e['prog_id']}{link}")
        else:
            lines.append(f"{e['devname']}({e['ifindex']}) {e['kind']}{name} id {e['id']}")
    lines += ["", "flow_dissector:"]
    for e in view["flow_dissector"]:
        lines.append(f"id {e['id']}")
    return "\n".join(lines) + "\n"


# --- links -------------------------------------------------------------------------------------

def _attach_type_name(value: Any) -> Any:
    return value.name.lower() if isinstance(value, AttachType) else value


def link_record(link_id: int) -> dict[str, Any]:
    """One link as `bpftool -j link show id N` prints it: id, type, prog_id and the
    type's own fields (devname/ifindex, cgroup_id, attach_type, tp_name...)."""
    with link_get_fd_by_id(link_id) as fd:
        info = link_info_of(fd)
    rec: dict[str, Any] = {"id": info.id, "type": info.kind, "prog_id": info.prog_id}
    t = info.type
    if t in (LinkType.XDP, LinkType.TCX, LinkType.NETKIT):
        rec["devname"], _, _ = info.target.partition(" ")
        rec["ifindex"] = info.ifindex
        if t is not LinkType.XDP:
            rec["attach_type"] = _attach_type_name(info.attach_type)
    elif t is LinkType.CGROUP:
        rec["cgroup_id"] = info.cgroup_id
        rec["attach_type"] = _attach_type_name(info.attach_type)
    elif t is LinkType.RAW_TRACEPOINT:
        rec["tp_name"] = info.target
    elif t is LinkType.NETNS:
        rec["netns_ino"] = int.from_bytes(info.extra[0:4], "little")
        rec["attach_type"] = _attach_type_name(info.attach_type)
    elif t is LinkType.TRACING:
        rec["attach_type"] = _attach_type_name(info.attach_type)
        rec["target_obj_id"] = int.from_bytes(info.extra[4:8], "little")
        rec["target_btf_id"] = int.from_bytes(info.extra[8:12], "little")
    elif t is LinkType.PERF_EVENT:
        ptype = int.from_bytes(info.extra[0:4], "little")
        rec["event_type"] = PERF_EVENT_TYPES.get(ptype, ptype)
        if ptype == 5:
            rec["tp_name"] = info.target.removeprefix("tracepoint ")
        elif ptype in (1, 2):
            rec["file"] = info.target.split(" ", 1)[-1].rsplit(":", 1)[0]
            rec["offset"] = int.from_bytes(info.extra[20:24], "little")
    elif info.target:
        rec["target"] = info.target
    return rec


# enum bpf_perf_event_type, as bpftool names them in "event_type"
PERF_EVENT_TYPES = {0: "unspec", 1: "uprobe", 2: "uretprobe", 3: "kprobe", 4: "kretprobe",
                    5: "tracepoint", 6: "event"}


def link_list() -> list[dict[str, Any]]:
    """Every link on the system (links that go away while listed are skipped)."""
    out = []
    for lid in link_ids():
        try:
            out.append(link_record(lid))
        except KernelError:
            continue
    return out


def format_link(rec: dict[str, Any]) -> str:
    """bpftool's plain one-link layout: "<id>: <type>  prog <prog_id>" and the rest."""
    extra = "  ".join(f"{k} {v}" for k, v in rec.items() if k not in ("id", "type", "prog_id"))
    return f"{rec['id']}: {rec['type']}  prog {rec['prog_id']}" + (f"\n\t{extra}" if extra
                                                                    else "")


def link_detach(link_id: int) -> dict[str, Any]:
    """BPF_LINK_DETACH of link `link_id` (even pinned); its record as it was. Link
    kinds the kernel cannot force-detach raise NotSupportedError."""
    from ..kernel.abi import BpfCmd
    from ..kernel.errors import NotSupportedError
    from ..kernel.syscall import bpf
    rec = link_record(link_id)
    with Link.from_id(link_id) as link:
        try:
            bpf(BpfCmd.LINK_DETACH, abi.LinkCreateAttr(prog_fd=link.fd), f"link {link_id}")
        except KernelError as e:
            if e.errno in (_errno.EOPNOTSUPP, _errno.EINVAL):
                raise NotSupportedError(e.errno, e.cmd,
                                        f"link {link_id} ({rec['type']}) cannot be detached "
                                        "by id: the kernel has no forced detach for this "
                                        "kind; close its owner's fd or remove its pin") from None
            raise
    return rec
