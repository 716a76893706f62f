"""The network devices a test run can name (ctx ifindex / ingress_ifindex): the kernel
looks them up in the caller's network namespace, so the VM takes them as data. The
default is a fresh namespace's loopback; `host_devices()` reads the running system's
from /sys/class/net so VM and kernel runs can be compared on the same machine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

LOOPBACK_IFINDEX = 1
BROADCAST = b"\xff" * 6
# net_device flags (include/uapi/linux/if.h)
IFF_UP, IFF_BROADCAST, IFF_LOOPBACK, IFF_POINTOPOINT, IFF_NOARP = 0x1, 0x2, 0x8, 0x10, 0x80
IFF_LOWER_UP = 0x10000  # carrier on


@dataclass(frozen=True)
class NetDevice:
    """What test runs use of a net_device: its ifindex, name, hardware address (for
    eth_type_trans' pkt_type), broadcast address, MTU, and number of rx queues (XDP's
    rx_queue_index must be below it)."""

    ifindex: int
    name: str
    address: bytes = bytes(6)
    broadcast: bytes = BROADCAST
    mtu: int = 1500
    rx_queues: int = 1
    hard_header_len: int = 14
    flags: int = IFF_UP | IFF_BROADCAST | IFF_LOWER_UP
    kind: str = ""   # rtnl link kind ("veth", ...; "" for a physical or loopback device)
    peer: int = 0    # a veth's peer in the same namespace (0: none or elsewhere)

    @property
    def up(self) -> bool:
        return bool(self.flags & IFF_UP)


LOOPBACK = NetDevice(LOOPBACK_IFINDEX, "lo", bytes(6), bytes(6), 65536, 1, 14,
                     IFF_UP | IFF_LOOPBACK | IFF_LOWER_UP)

Devices = Mapping[int, NetDevice]


def loopback_only() -> dict[int, NetDevice]:
    """A fresh network namespace: just `lo` (ifindex 1)."""
    return {LOOPBACK_IFINDEX: LOOPBACK}


def _mac(text: str) -> bytes:
    try:
        b = bytes(int(x, 16) for x in text.strip().split(":"))
    except ValueError:
        return bytes(6)
    return b if len(b) == 6 else bytes(6)


def host_devices(root: str | Path = "/sys/class/net") -> dict[int, NetDevice]:
    """The devices of the caller's network namespace as /sys/class/net shows them (just
    loopback where that cannot be read)."""
    out: dict[int, NetDevice] = {}
    base = Path(root)
    try:
        entries = sorted(base.iterdir())
    except OSError:
        return loopback_only()
    for d in entries:
        try:
            ifindex = int((d / "ifindex").read_text())
            addr = _mac((d / "address").read_text())
            bcast = _mac((d / "broadcast").read_text())
            mtu = int((d / "mtu").read_text())
            rxq = sum(1 for q in (d / "queues").iterdir() if q.name.startswith("rx-"))
            flags = int((d / "flags").read_text(), 16)
            try:
                if (d / "carrier").read_text().strip() == "1":
                    flags |= IFF_LOWER_UP
            except OSError:  # a down device has no carrier to read
                pass
        except (OSError, ValueError):
            continue
        out[ifindex] = NetDevice(ifindex, d.name, addr, bcast, mtu, max(rxq, 1), 14, flags)
    return out or loopback_only()
