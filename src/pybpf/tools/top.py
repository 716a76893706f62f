"""`pybpf top`: packets and bytes per IP protocol, and a log2 histogram of packet
sizes, counted by the socket filter example (examples/sockfilter_proto.c).

* From a capture (`top_pcap`): the filter runs once per packet through test_run, on
  the VM or in the kernel, exactly as `pybpf run FILE.o --pcap` runs it, so it sees the
  skb BPF_PROG_TEST_RUN builds: data from the network header, `skb->len` the frame
  length minus the 14-byte Ethernet header. Frames the kernel will not build an skb
  from (shorter than 14 + 20 bytes of IPv4) are counted as errors.
* Live (`top_live`): the object is loaded in the kernel and the filter attached to an
  AF_PACKET raw socket (ETH_P_ALL, one interface or all), where it sees whole frames
  (`skb->len` includes the link-layer header) in both directions. On `lo` a packet
  socket sees each packet twice, leaving and arriving: the filter skips the leaving
  copy (skb->pkt_type PACKET_OUTGOING on ifindex 1), as libpcap does, so each
  packet counts once.
"""

from __future__ import annotations

import errno as _errno
import json
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TextIO

from . import ToolError, example_object
from .hist import buckets_from_map, format_log2_hist, hist_json
from .live import Screen, run_intervals, table

OBJECT = "sockfilter_proto"
PROGRAM = "count_by_proto"
ETH_P_ALL = 0x0003

# IANA protocol keywords (lower case), the ones a capture commonly holds
PROTO_NAMES: dict[int, str] = {
    0: "hopopt", 1: "icmp", 2: "igmp", 4: "ipv4", 6: "tcp", 8: "egp", 17: "udp",
    41: "ipv6", 43: "ipv6-route", 44: "ipv6-frag", 46: "rsvp", 47: "gre", 50: "esp",
    51: "ah", 58: "ipv6-icmp", 59: "ipv6-nonxt", 60: "ipv6-opts", 89: "ospf", 103: "pim",
    112: "vrrp", 115: "l2tp", 132: "sctp", 136: "udplite", 137: "mpls-in-ip",
    143: "ethernet", 255: "reserved",
}


def _etc_protocols() -> dict[int, str]:
    names: dict[int, str] = {}
    try:
        text = Path("/etc/protocols").read_text()
    except OSError:
        return names
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) >= 2 and parts[1].isdigit():
            names.setdefault(int(parts[1]), parts[0].lower())
    return names


def proto_name(proto: int) -> str:
    """"tcp" for 6, ...: the IANA keyword, else /etc/protocols, else "proto-<n>"."""
    if proto in PROTO_NAMES:
        return PROTO_NAMES[proto]
    return _etc_protocols().get(proto, f"proto-{proto}")


@dataclass(frozen=True)
class ProtoRow:
    proto: int
    packets: int
    bytes: int

    @property
    def name(self) -> str:
        return proto_name(self.proto)

    def as_dict(self) -> dict[str, Any]:
        return {"proto": self.proto, "name": self.name, "packets": self.packets,
                "bytes": self.bytes}


@dataclass
class Snapshot:
    """What the filter's maps hold: rows sorted by bytes (then packets, number)."""

    rows: list[ProtoRow]
    size_hist: list[int]

    @property
    def packets(self) -> int:
        return sum(r.packets for r in self.rows)


def read_stats(obj: Any) -> Snapshot:
    """proto_stats and size_hist of an instantiated sockfilter_proto object."""
    rows = []
    for key, value in obj.maps["proto_stats"].items():
        vals = value if isinstance(value, list) else [value]
        packets = sum(int.from_bytes(v[0:8], "little") for v in vals)
        nbytes = sum(int.from_bytes(v[8:16], "little") for v in vals)
        if packets or nbytes:
            rows.append(ProtoRow(int.from_bytes(key, "little"), packets, nbytes))
    rows.sort(key=lambda r: (-r.bytes, -r.packets, r.proto))
    return Snapshot(rows, buckets_from_map(obj.maps["size_hist"]))


def format_rows(rows: list[ProtoRow], rates: dict[int, tuple[float, float]] | None = None) -> str:
    """The per-protocol table (with packets/s and bytes/s columns when `rates`)."""
    headers = ["PROTO", "NUM", "PACKETS", "BYTES"]
    out = []
    for r in rows:
        line: list[object] = [r.name, r.proto, r.packets, r.bytes]
        if rates is not None:
            pps, bps = rates.get(r.proto, (0.0, 0.0))
            line += [f"{pps:.1f}", f"{bps:.1f}"]
        out.append(line)
    if rates is not None:
        headers += ["PKT/S", "BYTES/S"]
    return table(headers, out)


# --- from a capture ---------------------------------------------------------------------------

@dataclass
class PcapTop:
    source: str
    backend: str
    packets: int
    snapshot: Snapshot
    errors: dict[str, int] = field(default_factory=dict)
    truncated: str | None = None  # why the capture ended early (its complete packets ran)
    ethernet_added: int = 0  # raw-IP packets given an Ethernet header

    def as_dict(self) -> dict[str, Any]:
        out = {"source": self.source, "backend": self.backend, "packets": self.packets,
               "counted": self.snapshot.packets, "errors": self.errors,
               "protocols": [r.as_dict() for r in self.snapshot.rows],
               "size_histogram": hist_json(self.snapshot.size_hist)}
        if self.truncated:
            out["truncated"] = self.truncated
        if self.ethernet_added:
            out["ethernet_added"] = self.ethernet_added
        return out

    def format(self) -> str:
        raw = " (raw IP, each given an Ethernet header)" if self.ethernet_added else ""
        head = (f"{self.packets} packets{raw} from {self.source} through {PROGRAM} on the "
                f"{self.backend}\n")
        for err, n in self.errors.items():
            head += f"  ({n} not run: {err})\n"
        head += "\n"
        hist = format_log2_hist(self.snapshot.size_hist, "bytes")
        return head + format_rows(self.snapshot.rows) + ("\npacket sizes:\n" + hist
                                                         if hist else "")


def top_pcap(path: str, backend: str = "vm",
             progress: Callable[[int, int], None] | None = None,
             total: int | None = None) -> PcapTop:
    """Run the socket filter over every complete packet of a capture, streamed (raw-IP
    ones given an Ethernet header, as test_run expects), and read its maps. `total`
    (the packet count, if known) is for `progress`."""
    from .. import load
    from ..objects.runner import run_pcap
    from ..pcap import CaptureReader, EthernetFrames, primed
    with CaptureReader(path) as capture:
        frames = EthernetFrames(capture)
        packets = primed(frames)
        spec = load(str(example_object(OBJECT)))
        with spec.instantiate(backend) as obj:
            report = run_pcap(obj.programs[PROGRAM], packets, capture_clock=False,
                              progress=progress, total=total or 0)
            snap = read_stats(obj)
    return PcapTop(path, backend, report.packets, snap, dict(report.errors),
                   capture.truncated, frames.added)


# --- live -------------------------------------------------------------------------------------

def open_packet_socket(interface: str | None) -> socket.socket:
    """An AF_PACKET raw socket receiving every protocol (ETH_P_ALL), bound to
    `interface` or to all interfaces."""
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    except PermissionError:
        raise ToolError("opening a packet socket needs CAP_NET_RAW (run as root)") from None
    except OSError as e:
        raise ToolError(f"cannot open a packet socket: {e.strerror}") from None
    try:
        # the filter counts before the socket queues; keep the queue small, it is not read
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        if interface:
            sock.bind((interface, ETH_P_ALL))
    except OSError as e:
        sock.close()
        if e.errno in (_errno.ENODEV, _errno.ENXIO):
            raise ToolError(f"no such network interface: {interface}") from None
        raise ToolError(f"cannot bind to {interface}: {e.strerror}") from None
    return sock


def _need_kernel(what: str) -> None:
    from .perms import kernel_gate
    kernel_gate(what, ["CAP_BPF"], require=False)


def top_live(out: TextIO, *, interface: str | None = None, interval: float = 1.0,
             duration: float | None = None, count: int | None = None, as_json: bool = False,
             tty: bool | None = None) -> Snapshot:
    """Count live traffic: redraw the per-protocol table every interval, then the
    packet size histogram. Returns the final counts."""
    from .. import load
    _need_kernel("pybpf top --live")
    if interface is not None:
        try:
            socket.if_nametoindex(interface)
        except OSError:
            raise ToolError(f"no such network interface: {interface}") from None
    spec = load(str(example_object(OBJECT)))
    screen = Screen(out, tty)
    where = interface or "all interfaces"
    with spec.instantiate("kernel") as obj, open_packet_socket(interface) as sock:
        obj.programs[PROGRAM].attach_socket(sock)
        last: dict[int, ProtoRow] = {}
        last_t = [0.0]
        snap_box: list[Snapshot] = [Snapshot([], [0] * 64)]

        def tick(n: int, elapsed: float) -> None:
            snap = read_stats(obj)
            snap_box[0] = snap
            dt = max(elapsed - last_t[0], 1e-9)
            rates = {r.proto: ((r.packets - last.get(r.proto, ProtoRow(r.proto, 0, 0)).packets)
                               / dt, (r.bytes - last.get(r.proto, ProtoRow(r.proto, 0, 0)).bytes)
                               / dt) for r in snap.rows}
            last.clear()
            last.update({r.proto: r for r in snap.rows})
            last_t[0] = elapsed
            if as_json:
                out.write(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                      "elapsed": round(elapsed, 3), "interface": interface,
                                      "protocols": [r.as_dict() for r in snap.rows]}) + "\n")
                out.flush()
                return
            screen.frame(f"pybpf top on {where}: {snap.packets} IP packets in "
                         f"{elapsed:.1f} s", format_rows(snap.rows, rates))

        run_intervals(tick, interval=interval, duration=duration, count=count)
        final = snap_box[0]
    if as_json:
        out.write(json.dumps({"final": True, "interface": interface,
                              "protocols": [r.as_dict() for r in final.rows],
                              "size_histogram": hist_json(final.size_hist)}) + "\n")
    else:
        hist = format_log2_hist(final.size_hist, "bytes")
        out.write("\npacket sizes:\n" + hist if hist else "\nno packets\n")
    out.flush()
    return final
