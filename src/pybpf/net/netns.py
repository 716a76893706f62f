"""A network namespace as data: what the kernel's networking helpers consult when a
program runs (bpf_fib_lookup's devices, addresses, routes, neighbours and forwarding
sysctls; bpf_sk_lookup_*'s sockets; clone_redirect's transmitted packets).

A test run on the VM is given a `NetNamespace` (default: a fresh namespace, loopback
only); `read_netns()` reads the caller's current namespace (`ip -j`, /sys/class/net,
/proc/sys/net and /proc/thread-self/net) so the VM sees what the kernel sees.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .errors import NetnsError
from .netdev import (
    IFF_BROADCAST,
    IFF_LOOPBACK,
    IFF_LOWER_UP,
    IFF_NOARP,
    IFF_POINTOPOINT,
    IFF_UP,
    LOOPBACK,
    LOOPBACK_IFINDEX,
    NetDevice,
)
from .sockets import AF_INET, AF_INET6, Socket, read_sockets

RT_TABLE_DEFAULT, RT_TABLE_MAIN, RT_TABLE_LOCAL = 253, 254, 255

# rtm_type names (ip route's "type") -> RTN_* numbers
RTN = {"unspec": 0, "unicast": 1, "local": 2, "broadcast": 3, "anycast": 4, "multicast": 5,
       "blackhole": 6, "unreachable": 7, "prohibit": 8, "throw": 9, "nat": 10, "xresolve": 11}
RTN_UNICAST, RTN_LOCAL, RTN_BLACKHOLE, RTN_UNREACHABLE, RTN_PROHIBIT, RTN_THROW = 1, 2, 6, 7, 8, 9
# route scopes (rtm_scope)
SCOPE = {"global": 0, "universe": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_HOST = 0, 253, 254
# neighbour states whose link-layer address is usable (NUD_VALID)
NUD = {"INCOMPLETE": 0x01, "REACHABLE": 0x02, "STALE": 0x04, "DELAY": 0x08, "PROBE": 0x10,
       "FAILED": 0x20, "NOARP": 0x40, "PERMANENT": 0x80}
NUD_VALID = 0x80 | 0x40 | 0x02 | 0x10 | 0x04 | 0x08
TABLE_NAMES = {"default": RT_TABLE_DEFAULT, "main": RT_TABLE_MAIN, "local": RT_TABLE_LOCAL}


@dataclass(frozen=True)
class Address:
    """An address assigned to a device (`ip addr`): family, address bytes (network
    order), prefix length, scope (RT_SCOPE_*), secondary/tentative/deprecated."""

    ifindex: int
    family: int
    addr: bytes
    prefixlen: int
    scope: int = RT_SCOPE_UNIVERSE
    secondary: bool = False
    tentative: bool = False
    deprecated: bool = False


@dataclass(frozen=True)
class Route:
    """One route: table, type (RTN_*), destination prefix, gateway (an address of
    `gw_family`, None for a direct route), output device, metric/priority, preferred
    source, MTU metric (and whether it is locked), scope, tos."""

    family: int
    dst: bytes
    plen: int
    table: int = RT_TABLE_MAIN
    type: int = RTN_UNICAST
    gateway: bytes | None = None
    gw_family: int = 0
    oif: int = 0
    metric: int = 0
    prefsrc: bytes | None = None
    mtu: int = 0
    mtu_lock: bool = False
    scope: int = RT_SCOPE_UNIVERSE
    tos: int = 0


@dataclass(frozen=True)
class Neighbour:
    """A neighbour table entry: device, IP address, link-layer address, NUD_* state."""

    ifindex: int
    family: int
    addr: bytes
    lladdr: bytes
    state: int = NUD["PERMANENT"]

    @property
    def valid(self) -> bool:
        return bool(self.state & NUD_VALID)


@dataclass(frozen=True)
class Transmit:
    """A packet a helper sent out of the program (bpf_clone_redirect): the device, the
    bytes from the L2 header, and whether it went to the device's ingress."""

    ifindex: int
    data: bytes
    ingress: bool


@dataclass
class NetNamespace:
    """The network namespace a program runs in. `forwarding4` / `forwarding6` /
    `mtu6` are per ifindex (net.ipv4.conf.<dev>.forwarding, net.ipv6.conf.<dev>.
    forwarding and .mtu); `transmitted` collects packets helpers send."""

    devices: dict[int, NetDevice] = field(default_factory=lambda: {LOOPBACK_IFINDEX: LOOPBACK})
    addresses: list[Address] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    neighbours: list[Neighbour] = field(default_factory=list)
    sockets: list[Socket] = field(default_factory=list)
    forwarding4: dict[int, bool] = field(default_factory=dict)
    forwarding6: dict[int, bool] = field(default_factory=dict)
    mtu6: dict[int, int] = field(default_factory=dict)
    ip_fwd_use_pmtu: bool = False
    bindv6only: bool = False
    transmitted: list[Transmit] = field(default_factory=list)
    peers: dict[int, NetNamespace] = field(default_factory=dict)  # netns ids

    def sockets_of(self, netns_id: int | None) -> list[Socket] | None:
        """This namespace's sockets (None), or those of the peer with that id."""
        if netns_id is None:
            return self.sockets
        peer = self.peers.get(netns_id)
        return None if peer is None else peer.sockets

    def device(self, ifindex: int) -> NetDevice | None:
        return self.devices.get(ifindex)

    def tables(self, family: int) -> set[int]:
        """The routing tables that exist for `family` (the kernel creates local and
        main up front, other tables, default included, with their first route)."""
        out = {RT_TABLE_LOCAL, RT_TABLE_MAIN}
        out |= {r.table for r in self.routes if r.family == family}
        return out

    def neighbour(self, ifindex: int, family: int, addr: bytes) -> Neighbour | None:
        for n in self.neighbours:
            if n.ifindex == ifindex and n.family == family and n.addr == addr:
                return n
        return None


def fresh_netns(devices: dict[int, NetDevice] | None = None) -> NetNamespace:
    """A namespace with just these devices (default: loopback) and no configuration."""
    return NetNamespace(devices=dict(devices) if devices is not None else
                        {LOOPBACK_IFINDEX: LOOPBACK})


# --- reading the caller's namespace ------------------------------------------------------

def _ip_json(*args: str) -> list[dict]:
    try:
        out = subprocess.run(["ip", "-j", *args], check=True, capture_output=True,
                             text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise NetnsError(f"ip {' '.join(args)} failed: {e}") from None
    return json.loads(out or "[]")


def _ip_text(*args: str) -> str:
    try:
        return subprocess.run(["ip", *args], check=True, capture_output=True,
                              text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise NetnsError(f"ip {' '.join(args)} failed: {e}") from None


def _addr(text: str) -> tuple[int, bytes]:
    a = ipaddress.ip_address(text)
    return (AF_INET if a.version == 4 else AF_INET6), a.packed


def _prefix(text: str, family: int) -> tuple[bytes, int]:
    if text == "default":
        return bytes(4 if family == AF_INET else 16), 0
    n = ipaddress.ip_network(text, strict=False)
    return n.network_address.packed, n.prefixlen


def _mac(text: str | None) -> bytes:
    if not text:
        return bytes(6)
    b = bytes(int(x, 16) for x in text.split(":"))
    return b if len(b) == 6 else bytes(6)


def _table(v: object) -> int:
    if v is None:
        return RT_TABLE_MAIN
    s = str(v)
    return TABLE_NAMES[s] if s in TABLE_NAMES else int(s)


def _locked_mtus() -> set[tuple[str, int]]:
    """(dst, table) of routes with `mtu lock` (ip -j does not say which are locked)."""
    out = set()
    for fam in ("-4", "-6"):
        for line in _ip_text(fam, "route", "show", "table", "all").splitlines():
            if "mtu lock" not in line:
                continue
            words = line.split()
            dst = words[1] if words[0] in RTN else words[0]
            m = re.search(r"\btable (\S+)", line)
            out.add((dst, _table(m.group(1)) if m else RT_TABLE_MAIN))
    return out


def _read_int(path: Path, default: int = 0) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return default


_IFF = {"UP": IFF_UP, "BROADCAST": IFF_BROADCAST, "LOOPBACK": IFF_LOOPBACK,
        "POINTOPOINT": IFF_POINTOPOINT, "NOARP": IFF_NOARP, "LOWER_UP": IFF_LOWER_UP}


def read_devices() -> dict[int, NetDevice]:
    """The devices of the calling thread's namespace (`ip -j -d link`; /sys/class/net
    shows the namespace sysfs was mounted in, not the thread's)."""
    out: dict[int, NetDevice] = {}
    links = _ip_json("-d", "link", "show")
    names = {link["ifname"]: int(link["ifindex"]) for link in links}
    for link in links:
        flags = 0
        for f in link.get("flags", []):
            flags |= _IFF.get(f, 0)
        kind = link.get("linkinfo", {}).get("info_kind", "")
        peer = names.get(link.get("link", ""), 0) if "link_netnsid" not in link else 0
        out[int(link["ifindex"])] = NetDevice(
            int(link["ifindex"]), link["ifname"], _mac(link.get("address")),
            _mac(link.get("broadcast")), int(link.get("mtu", 1500)),
            max(int(link.get("num_rx_queues", 1)), 1), 14, flags, kind, peer)
    return out


def read_netns() -> NetNamespace:
    """The calling thread's network namespace as the kernel sees it now."""
    ns = NetNamespace(devices=read_devices())
    names = {d.name: i for i, d in ns.devices.items()}
    for link in _ip_json("addr"):
        ifindex = int(link["ifindex"])
        for a in link.get("addr_info", []):
            fam, addr = _addr(a["local"])
            ns.addresses.append(Address(ifindex, fam, addr, int(a["prefixlen"]),
                                        SCOPE.get(a.get("scope", "global"), 0),
                                        bool(a.get("secondary")), bool(a.get("tentative")),
                                        bool(a.get("deprecated"))))
    locked = _locked_mtus()
    for fam, famarg in ((AF_INET, "-4"), (AF_INET6, "-6")):
        for r in _ip_json("-d", famarg, "route", "show", "table", "all"):
            dst, plen = _prefix(r["dst"], fam)
            gw: bytes | None = None
            gw_family = 0
            if "gateway" in r:
                gw_family, gw = _addr(r["gateway"])
            elif "via" in r:  # IPv6 gateway of an IPv4 route
                gw_family, gw = _addr(r["via"]["host"])
            mtu = 0
            for m in r.get("metrics", []):
                if isinstance(m, dict) and "mtu" in m:
                    mtu = int(m["mtu"])
            table = _table(r.get("table"))
            ns.routes.append(Route(
                fam, dst, plen, table, RTN.get(r.get("type", "unicast"), RTN_UNICAST), gw,
                gw_family, names.get(r.get("dev", ""), 0), int(r.get("metric", 0)),
                _addr(r["prefsrc"])[1] if "prefsrc" in r else None, mtu,
                (r["dst"], table) in locked, SCOPE.get(r.get("scope", "global"), 0),
                int(str(r.get("tos", "0")), 16) if "tos" in r else 0))
    for famarg in ("-4", "-6"):
        for n in _ip_json(famarg, "neigh"):
            if "dst" not in n or "dev" not in n:
                continue
            fam, addr = _addr(n["dst"])
            state = 0
            for s in n.get("state", []):
                state |= NUD.get(s, 0)
            ns.neighbours.append(Neighbour(names.get(n["dev"], 0), fam, addr,
                                           _mac(n.get("lladdr")), state))
    sys4, sys6 = Path("/proc/sys/net/ipv4/conf"), Path("/proc/sys/net/ipv6/conf")
    for i, d in ns.devices.items():
        ns.forwarding4[i] = _read_int(sys4 / d.name / "forwarding") == 1
        ns.forwarding6[i] = _read_int(sys6 / d.name / "forwarding") == 1
        ns.mtu6[i] = _read_int(sys6 / d.name / "mtu", d.mtu)
    ns.ip_fwd_use_pmtu = _read_int(Path("/proc/sys/net/ipv4/ip_forward_use_pmtu")) == 1
    ns.bindv6only = _read_int(Path("/proc/sys/net/ipv6/bindv6only")) == 1
    ns.sockets = read_sockets(Path("/proc/thread-self/net"), ns.bindv6only)
    return ns


def netns_fd(name: str) -> int:
    """An fd of the named namespace (`ip netns add NAME`), for os.setns."""
    try:
        return os.open(f"/run/netns/{name}", os.O_RDONLY)
    except OSError as e:
        raise NetnsError(f"no network namespace {name!r}: {e}") from None
