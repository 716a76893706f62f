"""The sk_buff model of the skb program types: a linear buffer with the header offsets,
checksum state, VLAN tag, hash, marks and the socket a test run attaches, and the
constants of net/core/filter.c and skbuff.h those helpers use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..net import csum as C
from ..net.netdev import NetDevice
from ..net.netns import NetNamespace, fresh_netns
from ..net.sockets import AF_UNSPEC
from ..uapi import (BPF_ADJ_ROOM_ENCAP_L2_MASK, BPF_ADJ_ROOM_ENCAP_L2_SHIFT,
                    BPF_F_ADJ_ROOM_DECAP_L3_IPV4, BPF_F_ADJ_ROOM_DECAP_L3_IPV6,
                    BPF_F_ADJ_ROOM_ENCAP_L2_ETH, BPF_F_ADJ_ROOM_ENCAP_L3_IPV4,
                    BPF_F_ADJ_ROOM_ENCAP_L3_IPV6, BPF_F_ADJ_ROOM_ENCAP_L4_GRE,
                    BPF_F_ADJ_ROOM_ENCAP_L4_UDP, BPF_F_ADJ_ROOM_FIXED_GSO)
from .runbase import PAGE_SIZE, SHINFO_SIZE

NET_SKB_PAD = 64
NET_IP_ALIGN = 0
BPF_SKB_MAX_LEN = 4 * PAGE_SIZE - SHINFO_SIZE  # SKB_MAX_ALLOC
GSO_LEGACY_MAX_SIZE = 65536
GSO_MAX_SEGS = 65535
NO_QUEUE_MAPPING = 0xFFFF
VLAN_HLEN = 4
VLAN_ETH_HLEN = 18
SKB_MAX_CSUM_LEVEL = 3

ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8
ETH_P_802_3 = 0x0001
ETH_P_802_2 = 0x0004
ETH_P_802_3_MIN = 0x0600

PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST = 0, 1, 2, 3
CHECKSUM_NONE, CHECKSUM_UNNECESSARY, CHECKSUM_COMPLETE, CHECKSUM_PARTIAL = 0, 1, 2, 3

# helper flags (include/uapi/linux/bpf.h)
ADJ_ENCAP_L3_MASK = BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L3_IPV6
ADJ_DECAP_L3_MASK = BPF_F_ADJ_ROOM_DECAP_L3_IPV4 | BPF_F_ADJ_ROOM_DECAP_L3_IPV6
# every flag bpf_skb_adjust_room takes (the kernel's BPF_F_ADJ_ROOM_MASK, not UAPI)
ADJ_MASK = (BPF_F_ADJ_ROOM_FIXED_GSO | ADJ_ENCAP_L3_MASK | BPF_F_ADJ_ROOM_ENCAP_L4_GRE
            | BPF_F_ADJ_ROOM_ENCAP_L4_UDP | BPF_F_ADJ_ROOM_ENCAP_L2_ETH
            | (BPF_ADJ_ROOM_ENCAP_L2_MASK << BPF_ADJ_ROOM_ENCAP_L2_SHIFT) | ADJ_DECAP_L3_MASK)
SKB_GSO_TCPV4, SKB_GSO_DODGY, SKB_GSO_TCPV6 = 1 << 0, 1 << 1, 1 << 4


def be16(v: int) -> int:
    """htons as the kernel stores it: the u16 a little-endian load of the field gives."""
    return ((v & 0xFF) << 8) | ((v >> 8) & 0xFF)


# --- the sk_buff model ---------------------------------------------------------------------

@dataclass
class Sock:
    """The fields of the socket a test run attaches (sk_alloc'd, zeroed, family and
    addresses from the packet)."""

    family: int = AF_UNSPEC
    rcv_saddr: bytes = bytes(4)  # local_ip4
    daddr: bytes = bytes(4)      # remote_ip4
    v6_rcv_saddr: bytes = bytes(16)
    v6_daddr: bytes = bytes(16)
    dport: int = 0  # raw __be16
    num: int = 0
    state: int = 7  # TCP_CLOSE after sock_init_data
    uid: int = 0
    cookie: int = 0  # given on first use (__sock_gen_cookie)


@dataclass
class TunnelInfo:
    """The ip_tunnel_info of a metadata dst (TX mode): id, tos, ttl, the tunnel
    flag bits, the outer addresses (src, dst) and the IPv6 flow label."""

    ipv6: bool
    tun_id: int
    tos: int
    ttl: int
    flags: int
    src: bytes
    dst: bytes
    label: int = 0


@dataclass
class SkBuff:
    """An sk_buff with a linear buffer. Header positions are offsets into `buf`, as the
    kernel keeps them relative to skb->head."""

    buf: bytearray
    data: int
    len: int
    dev: NetDevice | None
    mac_header: int | None = None
    network_header: int = 0
    transport_header: int | None = None
    protocol: int = 0          # raw __be16
    pkt_type: int = PACKET_HOST
    mark: int = 0
    priority: int = 0
    skb_iif: int = 0
    queue_mapping: int = 0
    tc_index: int = 0
    tc_classid: int = 0
    pkt_len: int = 0           # qdisc_skb_cb->pkt_len (wire_len)
    cb: bytearray = field(default_factory=lambda: bytearray(20))
    hash: int = 0
    sw_hash: bool = False
    l4_hash: bool = False
    vlan_proto: int = 0        # raw __be16
    vlan_tci: int = 0
    tstamp: int = 0
    tstamp_type: int = 0
    hwtstamp: int = 0
    gso_size: int = 0
    gso_segs: int = 0
    gso_type: int = 0
    encapsulation: bool = False
    ip_summed: int = CHECKSUM_NONE
    csum: int = 0
    csum_level: int = 0
    meta_len: int = 0
    data_end_ptr: int | None = None   # bpf_skb_data_end, set by bpf_compute_data_pointers
    data_meta_ptr: int | None = None
    sk: Sock | None = None
    on_change: Callable[[], None] | None = field(default=None, repr=False)
    netns: NetNamespace = field(default_factory=fresh_netns, repr=False)
    tunnel: TunnelInfo | None = None   # the metadata dst of bpf_skb_set_tunnel_key

    # -- geometry --------------------------------------------------------------------------
    @property
    def tail(self) -> int:
        return self.data + self.len

    def packet(self) -> bytes:
        return bytes(self.buf[self.data:self.tail])

    def headroom(self) -> int:
        return self.data

    def network_offset(self) -> int:
        return self.network_header - self.data

    def mac_header_len(self) -> int:
        return self.network_header - (self.mac_header if self.mac_header is not None else 0)

    def is_gso(self) -> bool:
        return self.gso_size != 0

    def vlan_present(self) -> bool:
        return bool(self.vlan_proto or self.vlan_tci)

    def compute_data_pointers(self) -> None:
        """bpf_compute_data_pointers: cache data_meta/data_end for direct access."""
        self.data_meta_ptr = self.data - self.meta_len
        self.data_end_ptr = self.data + self.len

    def changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def _realloc(self, front: int, back: int) -> None:
        """Give the buffer `front` more bytes of headroom and `back` of tailroom (a new
        bytearray: views of the old one stay valid); header offsets follow."""
        self.buf = bytearray(front) + self.buf + bytearray(back)
        self.data += front
        if self.mac_header is not None:
            self.mac_header += front
        self.network_header += front
        if self.transport_header is not None:
            self.transport_header += front
        if self.data_end_ptr is not None:
            self.data_end_ptr += front
        if self.data_meta_ptr is not None:
            self.data_meta_ptr += front

    def push(self, n: int) -> None:
        """__skb_push (growing the head first if the headroom is short)."""
        if self.data < n:
            self._realloc(n - self.data + NET_SKB_PAD, 0)
        self.data -= n
        self.len += n

    def pull(self, n: int) -> None:
        self.data += n
        self.len -= n

    def put(self, n: int) -> None:
        """__skb_put (growing the tailroom first if short)."""
        if self.tail + n > len(self.buf):
            self._realloc(0, self.tail + n - len(self.buf) + SHINFO_SIZE)
        self.len += n

    def clear_hash(self) -> None:
        self.hash, self.sw_hash, self.l4_hash = 0, False, False

    def checksum(self, off: int, n: int) -> int:
        """skb_checksum(skb, off, n, 0): partial sum of n bytes at data + off."""
        return C.csum_partial(self.buf[self.data + off:self.data + off + n])

    def postpull_rcsum(self, start: int, n: int) -> None:
        """skb_postpull_rcsum for bytes at buffer offset `start` (CHECKSUM_COMPLETE)."""
        if self.ip_summed == CHECKSUM_COMPLETE:
            self.csum = C.csum_block_sub(self.csum,
                                         C.csum_partial(self.buf[start:start + n]), 0)

    def postpush_rcsum(self, start: int, n: int) -> None:
        if self.ip_summed == CHECKSUM_COMPLETE:
            self.csum = C.csum_block_add(self.csum,
                                         C.csum_partial(self.buf[start:start + n]), 0)
