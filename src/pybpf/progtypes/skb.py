"""Programs on an sk_buff: socket filters, tc classifiers/actions, cgroup skb and LWT.

`struct __sk_buff` is a table (SKB_FIELDS) with, per program type, the loads and stores
the kernel's `*_is_valid_access` allow (skb_spec()); loads and stores are answered from
an `SkBuff` model the way `bpf_convert_ctx_access` rewrites them. The packet helpers
change the model as net/core/filter.c does, and `test_run_skb` builds the skb like
bpf_prog_test_run_skb: an Ethernet frame run through eth_type_trans on the loopback
device, data at the L2 header for tc and at the L3 header otherwise.
"""

from __future__ import annotations

import errno
import hashlib
from dataclasses import dataclass, field
from typing import Callable

from ..uapi import ProgType
from ..vm import VM, CallContext, Memory, Region
from . import csum as C
from . import route, sockets
from .common import (M32, M64, context_of, destination, map_region, neg, read_mem, s32,
                     write_mem, zero_mem)
from .ctx import (
    ANY,
    DW,
    NARROW,
    W4,
    ContextAccess,
    ContextSpec,
    CtxField,
    FieldKind,
    narrow,
    sizes,
    table,
    with_permissions,
)
from .errors import TestRunError
from .netdev import IFF_LOWER_UP, IFF_UP, LOOPBACK_IFINDEX, Devices, NetDevice
from .netns import NetNamespace, Transmit, fresh_netns
from .runbase import (
    ETH_HLEN,
    PAGE_SIZE,
    PacketAccess,
    RunArgs,
    TestRunResult,
    ctx_finish,
    ctx_init,
    data_finish,
    timed,
)

SK_BUFF_SIZE = 192        # sizeof(struct __sk_buff)
NET_SKB_PAD = 64
NET_IP_ALIGN = 0
SHINFO_SIZE = 320
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
AF_UNSPEC, AF_INET, AF_INET6 = 0, 2, 10

PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST = 0, 1, 2, 3
CHECKSUM_NONE, CHECKSUM_UNNECESSARY, CHECKSUM_COMPLETE, CHECKSUM_PARTIAL = 0, 1, 2, 3
BPF_F_TEST_SKB_CHECKSUM_COMPLETE = 1 << 2

# helper flags (include/uapi/linux/bpf.h)
BPF_F_RECOMPUTE_CSUM = 1 << 0
BPF_F_INVALIDATE_HASH = 1 << 1
BPF_F_HDR_FIELD_MASK = 0xF
BPF_F_PSEUDO_HDR = 1 << 4
BPF_F_MARK_MANGLED_0 = 1 << 5
BPF_F_MARK_ENFORCE = 1 << 6
BPF_F_IPV6 = 1 << 7
BPF_F_INGRESS = 1 << 0
BPF_HDR_START_MAC, BPF_HDR_START_NET = 0, 1
BPF_ADJ_ROOM_NET, BPF_ADJ_ROOM_MAC = 0, 1
ADJ_FIXED_GSO = 1 << 0
ADJ_ENCAP_L3_IPV4 = 1 << 1
ADJ_ENCAP_L3_IPV6 = 1 << 2
ADJ_ENCAP_L4_GRE = 1 << 3
ADJ_ENCAP_L4_UDP = 1 << 4
ADJ_NO_CSUM_RESET = 1 << 5
ADJ_ENCAP_L2_ETH = 1 << 6
ADJ_DECAP_L3_IPV4 = 1 << 7
ADJ_DECAP_L3_IPV6 = 1 << 8
ADJ_ENCAP_L2_SHIFT = 56
ADJ_ENCAP_L3_MASK = ADJ_ENCAP_L3_IPV4 | ADJ_ENCAP_L3_IPV6
ADJ_DECAP_L3_MASK = ADJ_DECAP_L3_IPV4 | ADJ_DECAP_L3_IPV6
ADJ_MASK = (ADJ_FIXED_GSO | ADJ_ENCAP_L3_MASK | ADJ_ENCAP_L4_GRE | ADJ_ENCAP_L4_UDP
            | ADJ_ENCAP_L2_ETH | (0xFF << ADJ_ENCAP_L2_SHIFT) | ADJ_DECAP_L3_MASK)
SKB_GSO_TCPV4, SKB_GSO_DODGY, SKB_GSO_TCPV6 = 1 << 0, 1 << 1, 1 << 4
TC_ACT_SHOT, TC_ACT_REDIRECT = 2, 7
BPF_SKB_CLOCK_REALTIME, BPF_SKB_CLOCK_MONOTONIC, BPF_SKB_CLOCK_TAI = 0, 1, 2


def be16(v: int) -> int:
    """htons as the kernel stores it: the u16 a little-endian load of the field gives."""
    return ((v & 0xFF) << 8) | ((v >> 8) & 0xFF)


# --- struct __sk_buff as data ------------------------------------------------------------

_V = FieldKind.VALUE


def _n(name: str, off: int, target: str, tsize: int) -> tuple:
    """A narrow-readable u32 field (bpf_skb_is_valid_access' default case)."""
    return (name, off, 4, _V, target, NARROW, frozenset(), tsize, 4)


SKB_FIELDS: tuple[CtxField, ...] = table([
    _n("len", 0, "sk_buff->len", 4),
    _n("pkt_type", 4, "sk_buff->pkt_type (3 bits)", 1),
    _n("mark", 8, "sk_buff->mark", 4),
    _n("queue_mapping", 12, "sk_buff->queue_mapping", 2),
    _n("protocol", 16, "sk_buff->protocol (__be16)", 2),
    _n("vlan_present", 20, "sk_buff->vlan_all != 0", 4),
    _n("vlan_tci", 24, "sk_buff->vlan_tci", 2),
    _n("vlan_proto", 28, "sk_buff->vlan_proto (__be16)", 2),
    _n("priority", 32, "sk_buff->priority", 4),
    _n("ingress_ifindex", 36, "sk_buff->skb_iif", 4),
    _n("ifindex", 40, "sk_buff->dev->ifindex (0 without dev)", 4),
    _n("tc_index", 44, "sk_buff->tc_index", 2),
    ("cb", 48, 20, FieldKind.MEMORY, "qdisc_skb_cb->data[20]", ANY),
    _n("hash", 68, "sk_buff->hash", 4),
    _n("tc_classid", 72, "qdisc_skb_cb->tc_classid", 2),
    ("data", 76, 4, FieldKind.PACKET, "sk_buff->data", W4),
    ("data_end", 80, 4, FieldKind.PACKET_END, "bpf_skb_data_end->data_end", W4),
    _n("napi_id", 84, "sk_buff->napi_id (0 below MIN_NAPI_ID)", 4),
    _n("family", 88, "sk->skc_family", 2),
    ("remote_ip4", 92, 4, _V, "sk->skc_daddr", W4),
    ("local_ip4", 96, 4, _V, "sk->skc_rcv_saddr", W4),
    *[(f"remote_ip6[{i}]", 100 + 4 * i, 4, _V, f"sk->skc_v6_daddr.s6_addr32[{i}]", W4)
      for i in range(4)],
    *[(f"local_ip6[{i}]", 116 + 4 * i, 4, _V, f"sk->skc_v6_rcv_saddr.s6_addr32[{i}]", W4)
      for i in range(4)],
    _n("remote_port", 132, "sk->skc_dport << 16", 2),
    _n("local_port", 136, "sk->skc_num", 2),
    ("data_meta", 140, 4, FieldKind.PACKET_META, "bpf_skb_data_end->data_meta", W4),
    ("flow_keys", 144, 8, FieldKind.POINTER, "flow dissector only"),
    ("tstamp", 152, 8, _V, "sk_buff->tstamp", DW, frozenset(), 8),
    _n("wire_len", 160, "qdisc_skb_cb->pkt_len", 4),
    _n("gso_segs", 164, "skb_shinfo->gso_segs", 2),
    ("sk", 168, 8, FieldKind.POINTER, "sk_buff->sk (struct bpf_sock *)", DW),
    _n("gso_size", 176, "skb_shinfo->gso_size", 2),
    ("tstamp_type", 180, 1, _V, "sk_buff->tstamp_type"),
    ("hwtstamp", 184, 8, _V, "skb_shinfo->hwtstamps.hwtstamp", DW, frozenset(), 8),
])

_SOCK_FIELDS = frozenset(["family", "remote_ip4", "local_ip4", "remote_port", "local_port",
                          *[f"remote_ip6[{i}]" for i in range(4)],
                          *[f"local_ip6[{i}]" for i in range(4)]])
_NONE = (frozenset(), frozenset())

# Per program type: fields the type may not touch, fields it may write (net/core/filter.c
# sk_filter_/cg_skb_/tc_cls_act_/lwt_is_valid_access over bpf_skb_is_valid_access).
SKB_ACCESS: dict[ProgType, tuple[frozenset[str], frozenset[str]]] = {
    ProgType.SOCKET_FILTER: (
        frozenset(["tc_classid", "data", "data_meta", "data_end", "tstamp", "wire_len",
                   "hwtstamp"]) | _SOCK_FIELDS,
        frozenset(["cb"])),
    ProgType.CGROUP_SKB: (
        frozenset(["tc_classid", "data_meta", "wire_len"]),
        frozenset(["mark", "priority", "cb", "tstamp"])),
    ProgType.SCHED_CLS: (
        _SOCK_FIELDS,
        frozenset(["mark", "tc_index", "priority", "tc_classid", "cb", "tstamp",
                   "queue_mapping"])),
    ProgType.SCHED_ACT: (
        _SOCK_FIELDS,
        frozenset(["mark", "tc_index", "priority", "tc_classid", "cb", "tstamp",
                   "queue_mapping"])),
    ProgType.LWT_IN: (
        frozenset(["tc_classid", "data_meta", "tstamp", "wire_len", "hwtstamp"])
        | _SOCK_FIELDS, frozenset(["mark", "priority", "cb"])),
    ProgType.LWT_OUT: (
        frozenset(["tc_classid", "data_meta", "tstamp", "wire_len", "hwtstamp"])
        | _SOCK_FIELDS, frozenset(["mark", "priority", "cb"])),
    ProgType.LWT_XMIT: (
        frozenset(["tc_classid", "data_meta", "tstamp", "wire_len", "hwtstamp"])
        | _SOCK_FIELDS, frozenset(["mark", "priority", "cb"])),
}

SKB_PROG_TYPES = frozenset(SKB_ACCESS)
TC_TYPES = frozenset([ProgType.SCHED_CLS, ProgType.SCHED_ACT])
LWT_TYPES = frozenset([ProgType.LWT_IN, ProgType.LWT_OUT, ProgType.LWT_XMIT])

RETVAL = {
    ProgType.SOCKET_FILTER: "bytes of the packet to keep (0 drops; more than the length "
                            "keeps it whole)",
    ProgType.SCHED_CLS: "TC_ACT_*: UNSPEC -1, OK 0, RECLASSIFY 1, SHOT 2, PIPE 3, STOLEN 4, "
                        "QUEUED 5, REPEAT 6, REDIRECT 7 (direct-action mode)",
    ProgType.SCHED_ACT: "TC_ACT_* (as sched_cls)",
    ProgType.CGROUP_SKB: "1 allow, 0 deny (egress may add congestion-notification bits "
                         "2/3)",
    ProgType.LWT_IN: "BPF_OK 0, BPF_DROP 2, BPF_REDIRECT 7",
    ProgType.LWT_OUT: "BPF_OK 0, BPF_DROP 2",
    ProgType.LWT_XMIT: "BPF_OK 0, BPF_DROP 2, BPF_REDIRECT 7, BPF_LWT_REROUTE 128",
}


def skb_spec(prog_type: ProgType) -> ContextSpec:
    """struct __sk_buff as `prog_type` may access it."""
    denied, writable = SKB_ACCESS[prog_type]
    perms: dict[str, tuple[frozenset[int], frozenset[int]]] = {}
    for f in SKB_FIELDS:
        if f.name in denied or f.name == "flow_keys":
            perms[f.name] = _NONE
            continue
        read = f.read_sizes
        if f.name == "tstamp_type":
            read = sizes(1) if prog_type in TC_TYPES else frozenset()
        write: frozenset[int] = frozenset()
        if f.name in writable:
            write = ANY if f.name == "cb" else DW if f.name == "tstamp" else W4
        perms[f.name] = (read, write)
    return ContextSpec("struct __sk_buff", SK_BUFF_SIZE,
                       with_permissions(SKB_FIELDS, perms), RETVAL[prog_type])


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
    tunnel: "TunnelInfo | None" = None   # the metadata dst of bpf_skb_set_tunnel_key

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


# --- the context -----------------------------------------------------------------------------

class SkbContext(ContextAccess):
    """`struct __sk_buff` on the VM for one program type, over an SkBuff."""

    def __init__(self, skb: SkBuff, prog_type: ProgType) -> None:
        super().__init__(skb_spec(prog_type), "ctx(__sk_buff)")
        self.skb = skb
        self.prog_type = prog_type
        self.memory = bytearray(SK_BUFF_SIZE)  # cb[] lives in skb.cb, see load/store
        direct_write = prog_type in TC_TYPES or prog_type == ProgType.LWT_XMIT
        self.packet = PacketAccess("packet", self._window, direct_write)
        self.packet.buf = skb.buf
        self.packet_region: Region | None = None
        self.vm_memory: Memory | None = None
        self.sock_base = 0
        skb.on_change = self.sync

    def _window(self) -> tuple[int, int]:
        s = self.skb
        return s.data - s.meta_len, s.tail

    def sync(self) -> None:
        """After a helper changed the skb: the packet region and the LD_ABS view follow."""
        s = self.skb
        self.packet.buf = s.buf
        if self.packet_region is not None:
            self.packet_region.buf = s.buf
        if self.vm_memory is not None:
            # LD_ABS/LD_IND see head..tail: positive offsets from skb->data, negative
            # SKF_NET_OFF / SKF_LL_OFF ones from the network / MAC header
            self.vm_memory.packet = Region("skb(ld_abs)", 0, memoryview(s.buf)[:s.tail], False)
            self.vm_memory.packet_headers = (s.data, s.mac_header, s.network_header)

    def map(self, memory: Memory) -> int:
        """Map packet, socket and context; returns the context's address (r1)."""
        self.vm_memory = memory
        map_region(memory, "packet", self.skb.buf, self.packet)
        self.packet_region = memory.regions[self.packet.base >> 32]
        if self.skb.sk is not None:
            self.sock_base = map_region(memory, "sk(bpf_sock)", BPF_SOCK_SIZE,
                                        SockContext(self.skb.sk))
        base = map_region(memory, "ctx(__sk_buff)", SK_BUFF_SIZE, self)
        self.sync()
        return base

    # cb[] is plain memory backed by the skb's qdisc cb
    def load(self, off: int, size: int, pc: int) -> int:
        f = self._check(off, size, False, pc)
        if f.kind is FieldKind.MEMORY:
            o = off - f.offset
            return int.from_bytes(self.skb.cb[o:o + size], "little")
        return narrow(self.read_value(f), f, off, size)

    def store(self, off: int, size: int, value: int, pc: int) -> None:
        f = self._check(off, size, True, pc)
        if f.kind is FieldKind.MEMORY:
            o = off - f.offset
            self.skb.cb[o:o + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size,
                                                                                  "little")
            return
        self.write_value(f, value, size)

    def read_value(self, f: CtxField) -> int:
        s = self.skb
        n = f.name
        sk = s.sk or Sock()
        simple = {
            "len": s.len, "pkt_type": s.pkt_type, "mark": s.mark,
            "queue_mapping": s.queue_mapping, "protocol": s.protocol,
            "vlan_present": int(s.vlan_present()), "vlan_tci": s.vlan_tci,
            "vlan_proto": s.vlan_proto, "priority": s.priority, "ingress_ifindex": s.skb_iif,
            "ifindex": s.dev.ifindex if s.dev is not None else 0, "tc_index": s.tc_index,
            "hash": s.hash, "tc_classid": s.tc_classid, "napi_id": 0,
            "tstamp": s.tstamp, "wire_len": s.pkt_len, "gso_segs": s.gso_segs,
            "gso_size": s.gso_size, "tstamp_type": s.tstamp_type, "hwtstamp": s.hwtstamp,
            "family": sk.family,
            "remote_ip4": int.from_bytes(sk.daddr, "little"),
            "local_ip4": int.from_bytes(sk.rcv_saddr, "little"),
            "remote_port": (sk.dport << 16) & M32, "local_port": sk.num,
        }
        if n in simple:
            return simple[n]
        if n.startswith("remote_ip6["):
            i = int(n[11])
            return int.from_bytes(sk.v6_daddr[4 * i:4 * i + 4], "little")
        if n.startswith("local_ip6["):
            i = int(n[10])
            return int.from_bytes(sk.v6_rcv_saddr[4 * i:4 * i + 4], "little")
        base = self.packet.base
        if n == "data":
            return base + s.data
        if n == "data_end":
            return base + s.data_end_ptr if s.data_end_ptr is not None else 0
        if n == "data_meta":
            return base + s.data_meta_ptr if s.data_meta_ptr is not None else 0
        if n == "sk":
            return self.sock_base if s.sk is not None else 0
        raise AssertionError(f"unhandled __sk_buff field {n}")

    def write_value(self, f: CtxField, value: int, size: int) -> None:
        s = self.skb
        n = f.name
        if n == "mark":
            s.mark = value & M32
        elif n == "priority":
            s.priority = value & M32
        elif n == "tc_index":
            s.tc_index = value & 0xFFFF
        elif n == "tc_classid":
            s.tc_classid = value & 0xFFFF
        elif n == "queue_mapping":
            if value < NO_QUEUE_MAPPING:
                s.queue_mapping = value & 0xFFFF
        elif n == "tstamp":
            s.tstamp = value & M64
        else:  # pragma: no cover - the spec admits no other store
            raise AssertionError(f"store to {n}")


# --- struct bpf_sock (skb->sk) ---------------------------------------------------------------

BPF_SOCK_SIZE = sockets.BPF_SOCK_SIZE
_SOCK_SPEC = sockets.bpf_sock_spec(full=False)  # PTR_TO_SOCK_COMMON


class SockContext(ContextAccess):
    """The test run's socket as `struct bpf_sock` (PTR_TO_SOCK_COMMON: read-only)."""

    def __init__(self, sk: Sock) -> None:
        super().__init__(_SOCK_SPEC, "sk(bpf_sock)")
        self.sk = sk

    def load(self, off: int, size: int, pc: int) -> int:
        # a 4-byte load of dst_port reads the __be16 and the 2 pad bytes
        if off == 48 and size == 4:
            return self.sk.dport
        return super().load(off, size, pc)

    def read_value(self, f: CtxField) -> int:
        sk = self.sk
        n = f.name
        if n.startswith("src_ip6["):
            i = int(n[8])
            return int.from_bytes(sk.v6_rcv_saddr[4 * i:4 * i + 4], "little")
        if n.startswith("dst_ip6["):
            i = int(n[8])
            return int.from_bytes(sk.v6_daddr[4 * i:4 * i + 4], "little")
        return {"bound_dev_if": 0, "family": sk.family,
                "src_ip4": int.from_bytes(sk.rcv_saddr, "little"), "src_port": sk.num,
                "dst_port": sk.dport, "dst_ip4": int.from_bytes(sk.daddr, "little"),
                "state": sk.state, "rx_queue_mapping": M32}[n]

    def write_value(self, f: CtxField, value: int, size: int) -> None:  # pragma: no cover
        raise AssertionError("bpf_sock is read-only here")


# --- helpers -----------------------------------------------------------------------------------

def _skb(ctx: CallContext, r1: int) -> SkBuff:
    return context_of(ctx, r1, SkbContext).skb


def _try_make_writable(s: SkBuff, write_len: int) -> int:
    """bpf_try_make_writable: -ENOMEM past the packet; recomputes the data pointers."""
    err = 0 if (write_len & M32) <= s.len else -errno.ENOMEM
    s.compute_data_pointers()
    return err


def skb_load_bytes(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """bpf_skb_load_bytes(skb, offset, to, len): copy from data + offset; on failure
    zero `to` and return -EFAULT."""
    s = _skb(ctx, r1)
    off, n = r2 & M32, r4 & M32
    destination(ctx, r3, n)
    if off > 0x7FFF_FFFF or off + n > s.len:
        zero_mem(ctx, r3, n)
        return neg(errno.EFAULT)
    write_mem(ctx, r3, bytes(s.buf[s.data + off:s.data + off + n]))
    return 0


def skb_load_bytes_relative(ctx: CallContext, r1: int, r2: int, r3: int, r4: int,
                            r5: int) -> int:
    """bpf_skb_load_bytes_relative(skb, offset, to, len, start_header): from the MAC or
    network header; must end by the packet's tail."""
    s = _skb(ctx, r1)
    off, n, hdr = r2 & M32, r4 & M32, r5 & M32
    destination(ctx, r3, n)
    start: int | None = None
    if off <= 0xFFFF:
        if hdr == BPF_HDR_START_MAC:
            start = s.mac_header
        elif hdr == BPF_HDR_START_NET:
            start = s.network_header
    if start is None or start + off + n > s.tail:
        zero_mem(ctx, r3, n)
        return neg(errno.EFAULT)
    write_mem(ctx, r3, bytes(s.buf[start + off:start + off + n]))
    return 0


def skb_store_bytes(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_store_bytes(skb, offset, from, len, flags)."""
    s = _skb(ctx, r1)
    off, n, flags = r2 & M32, r4 & M32, r5
    if flags & ~(BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH):
        return neg(errno.EINVAL)
    if off > 0x7FFF_FFFF:
        return neg(errno.EFAULT)
    if _try_make_writable(s, off + n):
        return neg(errno.EFAULT)
    src = read_mem(ctx, r3, n)
    p = s.data + off
    if flags & BPF_F_RECOMPUTE_CSUM and s.ip_summed == CHECKSUM_COMPLETE:
        s.csum = C.csum_block_sub(s.csum, C.csum_partial(s.buf[p:p + n]), off)
    s.buf[p:p + n] = src
    if flags & BPF_F_RECOMPUTE_CSUM and s.ip_summed == CHECKSUM_COMPLETE:
        s.csum = C.csum_block_add(s.csum, C.csum_partial(s.buf[p:p + n]), off)
    if flags & BPF_F_INVALIDATE_HASH:
        s.clear_hash()
    return 0


def _sum16(s: SkBuff, off: int) -> int:
    p = s.data + off
    return int.from_bytes(s.buf[p:p + 2], "little")


def _put16(s: SkBuff, off: int, v: int) -> None:
    p = s.data + off
    s.buf[p:p + 2] = (v & 0xFFFF).to_bytes(2, "little")


def l3_csum_replace(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_l3_csum_replace(skb, offset, from, to, flags): incremental header checksum."""
    s = _skb(ctx, r1)
    off, frm, to, flags = r2 & M32, r3, r4, r5
    if flags & ~BPF_F_HDR_FIELD_MASK:
        return neg(errno.EINVAL)
    if off > 0xFFFF or off & 1:
        return neg(errno.EFAULT)
    if _try_make_writable(s, off + 2):
        return neg(errno.EFAULT)
    cur = _sum16(s, off)
    kind = flags & BPF_F_HDR_FIELD_MASK
    if kind == 0:
        if frm:
            return neg(errno.EINVAL)
        _put16(s, off, C.csum_replace_by_diff(cur, to & M32))
    elif kind == 2:
        _put16(s, off, C.csum_replace2(cur, frm & 0xFFFF, to & 0xFFFF))
    elif kind == 4:
        _put16(s, off, C.csum_replace4(cur, frm & M32, to & M32))
    else:
        return neg(errno.EINVAL)
    return 0


def l4_csum_replace(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_l4_csum_replace(skb, offset, from, to, flags): as l3 plus the pseudo-header
    and mangled-zero rules of inet_proto_csum_replace*."""
    s = _skb(ctx, r1)
    off, frm, to, flags = r2 & M32, r3, r4, r5
    pseudo = bool(flags & BPF_F_PSEUDO_HDR)
    mmzero = bool(flags & BPF_F_MARK_MANGLED_0)
    mforce = bool(flags & BPF_F_MARK_ENFORCE)
    ipv6 = bool(flags & BPF_F_IPV6)
    if flags & ~(BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE | BPF_F_PSEUDO_HDR
                 | BPF_F_HDR_FIELD_MASK | BPF_F_IPV6):
        return neg(errno.EINVAL)
    if off > 0xFFFF or off & 1:
        return neg(errno.EFAULT)
    if _try_make_writable(s, off + 2):
        return neg(errno.EFAULT)
    cur = _sum16(s, off)
    if mmzero and not mforce and not cur:
        return 0
    kind = flags & BPF_F_HDR_FIELD_MASK
    complete = s.ip_summed == CHECKSUM_COMPLETE
    if kind == 0:
        if frm:
            return neg(errno.EINVAL)
        diff = to & M32
        _put16(s, off, C.csum_replace_by_diff(cur, diff))
        if complete and pseudo and not ipv6:
            s.csum = ~C.csum_sub(diff, s.csum) & M32
    elif kind == 2:
        _put16(s, off, C.csum_replace2(cur, frm & 0xFFFF, to & 0xFFFF))
        if complete and pseudo:
            s.csum = ~C.csum_add(C.csum_sub(~s.csum & M32, frm & 0xFFFF), to & 0xFFFF) & M32
    elif kind == 4:
        _put16(s, off, C.csum_replace4(cur, frm & M32, to & M32))
        if complete and pseudo:
            s.csum = ~C.csum_add(C.csum_sub(~s.csum & M32, frm & M32), to & M32) & M32
    else:
        return neg(errno.EINVAL)
    if mmzero and not _sum16(s, off):
        _put16(s, off, 0xFFFF)  # CSUM_MANGLED_0
    return 0


def csum_diff(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_csum_diff(from, from_size, to, to_size, seed) as Linux 6.x computes it:
    csum_partial sums folded to 16 bits (csum_from32to16)."""
    from_size, to_size = r2 & M32, r4 & M32
    ret = r5 & M32
    frm = read_mem(ctx, r1, from_size) if from_size else b""
    to = read_mem(ctx, r3, to_size) if to_size else b""
    if from_size and to_size:
        ret = C.csum_sub(C.csum_partial(to, ret), C.csum_partial(frm, 0))
    elif to_size:
        ret = C.csum_partial(to, ret)
    elif from_size:
        ret = ~C.csum_partial(frm, ~ret & M32) & M32
    return C.from32to16(ret)


def csum_update(ctx: CallContext, r1: int, r2: int, *_: int) -> int:
    """bpf_csum_update(skb, csum): fold into skb->csum (CHECKSUM_COMPLETE only)."""
    s = _skb(ctx, r1)
    if s.ip_summed == CHECKSUM_COMPLETE:
        s.csum = C.csum_add(s.csum, r2 & M32)
        return s.csum
    return neg(524)


def csum_level(ctx: CallContext, r1: int, r2: int, *_: int) -> int:
    """bpf_csum_level(skb, level): query/inc/dec/reset CHECKSUM_UNNECESSARY's level."""
    s = _skb(ctx, r1)
    level = r2
    if level == 1:  # INC
        if s.ip_summed == CHECKSUM_UNNECESSARY:
            s.csum_level = min(s.csum_level + 1, SKB_MAX_CSUM_LEVEL)
        elif s.ip_summed == CHECKSUM_NONE:
            s.ip_summed, s.csum_level = CHECKSUM_UNNECESSARY, 0
    elif level == 2:  # DEC
        if s.ip_summed == CHECKSUM_UNNECESSARY:
            if s.csum_level == 0:
                s.ip_summed = CHECKSUM_NONE
            else:
                s.csum_level -= 1
    elif level == 3:  # RESET
        _reset_unnecessary(s)
    elif level == 0:  # QUERY
        return s.csum_level if s.ip_summed == CHECKSUM_UNNECESSARY else neg(errno.EACCES)
    else:
        return neg(errno.EINVAL)
    return 0


def _reset_unnecessary(s: SkBuff) -> None:
    if s.ip_summed == CHECKSUM_UNNECESSARY:
        s.ip_summed, s.csum_level = CHECKSUM_NONE, 0


def skb_pull_data(ctx: CallContext, r1: int, r2: int, *_: int) -> int:
    """bpf_skb_pull_data(skb, len): make len bytes (0: the head) directly accessible;
    the test run's skb is linear, so this only fails past the packet (-ENOMEM)."""
    s = _skb(ctx, r1)
    n = r2 & M32
    err = _try_make_writable(s, n or s.len)
    return neg(-err) if err else 0


def get_hash_recalc(ctx: CallContext, r1: int, *_: int) -> int:
    """bpf_get_hash_recalc(skb): skb->hash, computing it if unset. The kernel's flow
    hash is keyed with a per-boot random seed, so a computed value cannot match it; the
    VM uses a documented stand-in (BLAKE2b of the packet, never 0)."""
    s = _skb(ctx, r1)
    if not s.sw_hash and not s.l4_hash:
        h = int.from_bytes(hashlib.blake2b(s.packet(), digest_size=4).digest(), "little")
        s.hash, s.sw_hash = h or 1, True
    return s.hash


def set_hash(ctx: CallContext, r1: int, r2: int, *_: int) -> int:
    """bpf_set_hash(skb, hash): a software L4 hash."""
    s = _skb(ctx, r1)
    s.hash, s.sw_hash, s.l4_hash = r2 & M32, True, True
    return 0


def set_hash_invalid(ctx: CallContext, r1: int, *_: int) -> int:
    _skb(ctx, r1).clear_hash()
    return 0


def _eth_type_vlan(proto: int) -> bool:
    return proto in (be16(ETH_P_8021Q), be16(ETH_P_8021AD))


def _vlan_pop_one(s: SkBuff) -> int:
    """__skb_vlan_pop: remove the VLAN header after the MAC addresses; -errno or 0."""
    if s.mac_header != s.data:
        return -errno.EINVAL
    if s.len < VLAN_ETH_HLEN:
        return -errno.ENOMEM
    d = s.data
    s.postpull_rcsum(d + 12, VLAN_HLEN)
    tci = int.from_bytes(s.buf[d + 14:d + 16], "big")
    encap = int.from_bytes(s.buf[d + 16:d + 18], "little")
    s.buf[d + VLAN_HLEN:d + VLAN_HLEN + 12] = s.buf[d:d + 12]
    if int.from_bytes(s.buf[d + 16:d + 18], "big") >= ETH_P_802_3_MIN:
        s.protocol = encap
    else:
        raw = s.buf[d + 18:d + 20] if d + 20 <= len(s.buf) else b"\0\0"
        s.protocol = be16(ETH_P_802_3) if raw == b"\xff\xff" else be16(ETH_P_802_2)
    s.pull(VLAN_HLEN)
    s.mac_header = s.data
    if s.network_offset() < ETH_HLEN:
        s.network_header = s.data + ETH_HLEN
    return tci


def skb_vlan_pop(ctx: CallContext, r1: int, *_: int) -> int:
    """bpf_skb_vlan_pop(skb): drop the accelerated tag, or the outer tag in the packet;
    a following tag moves into the accelerated slot."""
    s = _skb(ctx, r1)
    ret = 0
    if s.vlan_present():
        s.vlan_proto = s.vlan_tci = 0
    elif _eth_type_vlan(s.protocol):
        r = _vlan_pop_one(s)
        if r < 0:
            ret = r
    if ret == 0 and _eth_type_vlan(s.protocol):
        proto = s.protocol
        r = _vlan_pop_one(s)
        if r < 0:
            ret = r
        else:
            s.vlan_proto, s.vlan_tci = proto, r
    s.compute_data_pointers()
    s.changed()
    return neg(-ret) if ret else 0


def skb_vlan_push(ctx: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    """bpf_skb_vlan_push(skb, vlan_proto, vlan_tci): set the accelerated tag, first
    moving a present one into the packet."""
    s = _skb(ctx, r1)
    proto = r2 & 0xFFFF
    tci = r3 & 0xFFFF
    if not _eth_type_vlan(proto):
        proto = be16(ETH_P_8021Q)
    ret = 0
    if s.vlan_present():
        if s.mac_header != s.data:
            ret = -errno.EINVAL
        else:
            s.push(VLAN_HLEN)
            d = s.data
            s.buf[d:d + 12] = s.buf[d + VLAN_HLEN:d + VLAN_HLEN + 12]
            if s.mac_header is not None:
                s.mac_header -= VLAN_HLEN
            s.buf[d + 12:d + 14] = s.vlan_proto.to_bytes(2, "little")
            s.buf[d + 14:d + 16] = s.vlan_tci.to_bytes(2, "big")
            s.protocol = s.vlan_proto
            s.network_header -= VLAN_HLEN
            s.postpush_rcsum(d + 12, VLAN_HLEN)
    if not ret:
        s.vlan_proto, s.vlan_tci = proto, tci
    s.compute_data_pointers()
    s.changed()
    return neg(-ret) if ret else 0


def _net_hdr_push(s: SkBuff, off: int, n: int) -> None:
    """bpf_skb_net_hdr_push: n zero bytes at data + off, headers move with the data."""
    same = s.transport_header == s.network_header
    s.push(n)
    d = s.data
    s.buf[d:d + off] = s.buf[d + n:d + n + off]
    s.buf[d + off:d + off + n] = bytes(n)
    if s.mac_header is not None:
        s.mac_header -= n
    s.network_header -= n
    if same:
        s.transport_header = s.network_header


def _net_hdr_pop(s: SkBuff, off: int, n: int) -> int:
    same = s.transport_header == s.network_header
    if off + n > s.len:
        return -errno.ENOMEM
    old = s.data
    s.pull(n)
    s.postpull_rcsum(old + off, n)
    s.buf[s.data:s.data + off] = s.buf[old:old + off]
    if s.mac_header is not None:
        s.mac_header += n
    s.network_header += n
    if same:
        s.transport_header = s.network_header
    return 0


def skb_change_proto(ctx: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    """bpf_skb_change_proto(skb, proto, flags): IPv4 <-> IPv6 header room (20 bytes)
    at the network header; the program writes the new header."""
    s = _skb(ctx, r1)
    proto = r2 & 0xFFFF
    if r3:
        return neg(errno.EINVAL)
    ret = -524
    off = s.mac_header_len()
    if s.protocol == be16(ETH_P_IP) and proto == be16(ETH_P_IPV6):
        _net_hdr_push(s, off, 20)
        if s.is_gso() and s.gso_type & SKB_GSO_TCPV4:
            s.gso_type = (s.gso_type & ~SKB_GSO_TCPV4) | SKB_GSO_TCPV6
        s.protocol = be16(ETH_P_IPV6)
        s.clear_hash()
        ret = 0
    elif s.protocol == be16(ETH_P_IPV6) and proto == be16(ETH_P_IP):
        ret = _net_hdr_pop(s, off, 20)
        if not ret:
            if s.is_gso() and s.gso_type & SKB_GSO_TCPV6:
                s.gso_type = (s.gso_type & ~SKB_GSO_TCPV6) | SKB_GSO_TCPV4
            s.protocol = be16(ETH_P_IP)
            s.clear_hash()
    s.compute_data_pointers()
    s.changed()
    return neg(-ret) if ret else 0


def skb_change_type(ctx: CallContext, r1: int, r2: int, *_: int) -> int:
    """bpf_skb_change_type(skb, type): between host, broadcast, multicast, otherhost."""
    s = _skb(ctx, r1)
    t = r2 & M32
    if s.pkt_type > PACKET_OTHERHOST or t > PACKET_OTHERHOST:
        return neg(errno.EINVAL)
    s.pkt_type = t
    return 0


def _min_len(s: SkBuff) -> int:
    m = 0
    off = s.network_offset()
    if off > 0:
        m = off
    if s.transport_header is not None:
        off = s.transport_header - s.data
        if off > 0:
            m = off
    return m


def skb_change_tail(ctx: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    """bpf_skb_change_tail(skb, len, flags): trim or zero-extend to `len`."""
    s = _skb(ctx, r1)
    new_len = r2 & M32
    if r3 or new_len > BPF_SKB_MAX_LEN or new_len < _min_len(s):
        ret = -errno.EINVAL
    elif s.encapsulation:
        ret = -524
    else:
        ret = 0
        if new_len > s.len:
            if s.ip_summed == CHECKSUM_COMPLETE:
                s.ip_summed = CHECKSUM_NONE
            old = s.len
            s.put(new_len - old)
            s.buf[s.data + old:s.data + new_len] = bytes(new_len - old)
        elif new_len < s.len:
            if s.ip_summed == CHECKSUM_COMPLETE:
                s.ip_summed = CHECKSUM_NONE
            s.len = new_len
        if s.is_gso():
            s.gso_size = s.gso_segs = s.gso_type = 0
    s.compute_data_pointers()
    s.changed()
    return neg(-ret) if ret else 0


def skb_change_head(ctx: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    """bpf_skb_change_head(skb, head_room, flags): push zeroed bytes as a new MAC
    header (for L3 skbs going to an L2 device)."""
    s = _skb(ctx, r1)
    room = r2 & M32
    new_len = (s.len + room) & M32
    # a negative (int) head_room is refused before skb_cow would see it (Linux 6.18)
    if r3 or s32(room) < 0 or (not s.is_gso() and new_len > BPF_SKB_MAX_LEN) \
            or new_len < s.len:
        ret = -errno.EINVAL
    elif _cow_head_too_big(s, room):
        ret = -errno.ENOMEM
    else:
        ret = 0
        s.push(room)
        s.buf[s.data:s.data + room] = bytes(room)
        s.mac_header = s.data
    s.compute_data_pointers()
    s.changed()
    return neg(-ret) if ret else 0


KMALLOC_MAX_SIZE = PAGE_SIZE << 10  # the largest kmalloc: PAGE_SIZE << MAX_PAGE_ORDER


def _cow_head_too_big(s: SkBuff, headroom: int) -> bool:
    """skb_cow(skb, headroom) reallocates the head with ALIGN(missing, NET_SKB_PAD) more
    bytes (pskb_expand_head); past KMALLOC_MAX_SIZE that allocation fails (-ENOMEM).
    Only a GSO skb gets past bpf_skb_change_head's length check with such a size. The
    buffer's end offset is the VM's (the kernel's is its kmalloc size class)."""
    delta = headroom - s.headroom()
    if delta <= 0:
        return False
    nhead = (delta + NET_SKB_PAD - 1) & ~(NET_SKB_PAD - 1)
    size = (len(s.buf) - SHINFO_SIZE + nhead + 63) & ~63  # SKB_DATA_ALIGN
    return size + SHINFO_SIZE > KMALLOC_MAX_SIZE


def _net_base_len(s: SkBuff) -> int:
    if s.protocol == be16(ETH_P_IP):
        return 20
    if s.protocol == be16(ETH_P_IPV6):
        return 40
    return M32


def skb_adjust_room(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """bpf_skb_adjust_room(skb, len_diff, mode, flags): grow or shrink room at the
    network header (BPF_ADJ_ROOM_NET: after it) for encapsulation and decapsulation."""
    s = _skb(ctx, r1)
    diff = s32(r2)
    mode = r3 & M32
    flags = r4
    n = abs(diff)
    shrink = diff < 0
    len_min = _net_base_len(s)
    if flags & ~(ADJ_MASK | ADJ_NO_CSUM_RESET):
        return neg(errno.EINVAL)
    if n > 0xFFF:
        return neg(errno.EFAULT)
    if s.protocol not in (be16(ETH_P_IP), be16(ETH_P_IPV6)):
        return neg(524)
    off = s.mac_header_len()
    if mode == BPF_ADJ_ROOM_NET:
        off += _net_base_len(s)
    elif mode != BPF_ADJ_ROOM_MAC:
        return neg(524)
    if flags & ADJ_DECAP_L3_MASK:
        if not shrink:
            return neg(errno.EINVAL)
        d = flags & ADJ_DECAP_L3_MASK
        if d == ADJ_DECAP_L3_IPV4:
            len_min = 20
        elif d == ADJ_DECAP_L3_IPV6:
            len_min = 40
        else:
            return neg(errno.EINVAL)
    len_cur = s.len - s.network_offset()
    if (shrink and (n >= len_cur or len_cur - n < len_min)) or \
            (not shrink and s.len + n > BPF_SKB_MAX_LEN and not s.is_gso()):
        return neg(524)
    ret = _net_shrink(s, off, n, flags) if shrink else _net_grow(s, off, n, flags)
    if not ret and not flags & ADJ_NO_CSUM_RESET:
        _reset_unnecessary(s)
    s.compute_data_pointers()
    s.changed()
    return neg(-ret) if ret else 0


def _gso_udp_ok(s: SkBuff, flags: int) -> bool:
    tcp = s.gso_type & (SKB_GSO_TCPV4 | SKB_GSO_TCPV6)
    udp_l4 = 1 << 16  # SKB_GSO_UDP_L4
    return not (s.is_gso() and not tcp) or bool(s.gso_type & udp_l4 and flags & ADJ_FIXED_GSO)


def _net_grow(s: SkBuff, off: int, n: int, flags: int) -> int:
    inner_mac_len = (flags >> ADJ_ENCAP_L2_SHIFT) & 0xFF
    encap = bool(flags & ADJ_ENCAP_L3_MASK)
    if not _gso_udp_ok(s, flags):
        return -524
    mac_len = 0
    if encap:
        if s.protocol not in (be16(ETH_P_IP), be16(ETH_P_IPV6)):
            return -524
        if flags & ADJ_ENCAP_L3_IPV4 and flags & ADJ_ENCAP_L3_IPV6:
            return -errno.EINVAL
        if flags & ADJ_ENCAP_L4_GRE and flags & ADJ_ENCAP_L4_UDP:
            return -errno.EINVAL
        if flags & ADJ_ENCAP_L2_ETH and inner_mac_len < ETH_HLEN:
            return -errno.EINVAL
        if s.encapsulation:
            return -errno.EALREADY
        mac_len = s.mac_header_len()
        if inner_mac_len > n:
            return -errno.EINVAL
    _net_hdr_push(s, off, n)
    if encap:
        s.encapsulation = True
        s.network_header = s.data + mac_len
        if flags & (ADJ_ENCAP_L4_GRE | ADJ_ENCAP_L4_UDP):
            nh = 40 if flags & ADJ_ENCAP_L3_IPV6 else 20
            s.transport_header = s.data + mac_len + nh
        if s.protocol == be16(ETH_P_IP) and flags & ADJ_ENCAP_L3_IPV6:
            s.protocol = be16(ETH_P_IPV6)
        elif s.protocol == be16(ETH_P_IPV6) and flags & ADJ_ENCAP_L3_IPV4:
            s.protocol = be16(ETH_P_IP)
    if s.is_gso():
        s.gso_segs = 0
        if not flags & ADJ_FIXED_GSO:
            s.gso_size = max(s.gso_size - n, 0)
    return 0


def _net_shrink(s: SkBuff, off: int, n: int, flags: int) -> int:
    if flags & ~(ADJ_FIXED_GSO | ADJ_DECAP_L3_MASK | ADJ_NO_CSUM_RESET):
        return -errno.EINVAL
    if not _gso_udp_ok(s, flags):
        return -524
    ret = _net_hdr_pop(s, off, n)
    if ret:
        return ret
    if s.protocol == be16(ETH_P_IP) and flags & ADJ_DECAP_L3_IPV6:
        s.protocol = be16(ETH_P_IPV6)
    elif s.protocol == be16(ETH_P_IPV6) and flags & ADJ_DECAP_L3_IPV4:
        s.protocol = be16(ETH_P_IP)
    if s.is_gso():
        if not flags & ADJ_FIXED_GSO:
            s.gso_size = (s.gso_size + n) & 0xFFFF
        s.gso_segs = 0
    return 0


def skb_set_tstamp(ctx: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    """bpf_skb_set_tstamp(skb, tstamp, type): a delivery time for IP packets."""
    s = _skb(ctx, r1)
    if s.protocol not in (be16(ETH_P_IP), be16(ETH_P_IPV6)):
        return neg(errno.EOPNOTSUPP)
    t = r3 & M32
    if t == BPF_SKB_CLOCK_REALTIME:
        s.tstamp, s.tstamp_type = r2 & M64, 0
    elif t in (BPF_SKB_CLOCK_MONOTONIC, BPF_SKB_CLOCK_TAI):
        if not r2:
            return neg(errno.EINVAL)
        s.tstamp, s.tstamp_type = r2 & M64, t
    else:
        return neg(errno.EINVAL)
    return 0


def tc_redirect(ctx: CallContext, r1: int, r2: int, *_: int) -> int:
    """bpf_redirect(ifindex, flags) in tc: TC_ACT_REDIRECT, or TC_ACT_SHOT for bad
    flags (a test run does not perform the redirect)."""
    return TC_ACT_SHOT if r2 & ~BPF_F_INGRESS else TC_ACT_REDIRECT


def get_socket_uid(ctx: CallContext, r1: int, *_: int) -> int:
    """bpf_get_socket_uid(skb): the owning socket's uid (65534 without a socket)."""
    s = _skb(ctx, r1)
    return s.sk.uid if s.sk is not None else 65534


def get_cgroup_classid(ctx: CallContext, r1: int, *_: int) -> int:
    """bpf_get_cgroup_classid(skb): 0 (the test run's task is in the root cgroup)."""
    _skb(ctx, r1)
    return 0


def get_route_realm(ctx: CallContext, r1: int, *_: int) -> int:
    """bpf_get_route_realm(skb): 0 (a test run's skb has no route)."""
    _skb(ctx, r1)
    return 0


# --- networking helpers ----------------------------------------------------------------------

def skb_fib_lookup(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """bpf_fib_lookup(skb, params, plen, flags) in skb->dev's namespace: the MTU is
    checked against params->tot_len when it is set, else the skb must be forwardable
    by the resulting device (its length within mtu + hard_header_len + VLAN_HLEN, the
    device up), and mtu_result is that device's MTU."""
    s = _skb(ctx, r1)
    plen = s32(r3)
    if plen < route.FIB_LOOKUP_SIZE:
        return neg(errno.EINVAL)
    buf = bytearray(read_mem(ctx, r2, route.FIB_LOOKUP_SIZE))
    p = route.FibParams(buf)
    check_mtu = p.tot_len != 0
    rc = route.fib_lookup(s.netns, buf, plen, r4 & M32, check_mtu)
    if rc == route.BPF_FIB_LKUP_RET_SUCCESS and not check_mtu:
        dev = s.netns.devices[p.ifindex]
        if not (dev.up and (s.len <= dev.mtu + dev.hard_header_len + VLAN_HLEN
                            or s.is_gso())):
            rc = route.BPF_FIB_LKUP_RET_FRAG_NEEDED
        p.set_mtu_result(dev.mtu)
    write_mem(ctx, r2, bytes(buf))
    return rc & M64


def _skb_sk_lookup(proto: int, full: bool) -> Callable[..., int]:
    def helper(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
        s = _skb(ctx, r1)
        dif = s.dev.ifindex if s.dev is not None else 0
        return sockets.lookup_helper(ctx, s.netns.sockets_of, dif, r2, r3, r4, r5, proto,
                                     full)
    helper.__doc__ = (f"bpf_{'sk' if full else 'skc'}_lookup_"
                      f"{'tcp' if proto == sockets.IPPROTO_TCP else 'udp'}(skb, tuple, "
                      "size, netns, flags): skb->dev's namespace, dif = its ifindex.")
    return helper


_COOKIES = iter(range(1, 1 << 64))


def get_socket_cookie(ctx: CallContext, r1: int, *_: int) -> int:
    """bpf_get_socket_cookie(skb): the cookie of skb->sk, given from a process-wide
    counter on first use (the kernel's is a global counter, so only its properties
    compare: non-zero, stable for one socket, new for each test run's socket); 0
    without a socket."""
    s = _skb(ctx, r1)
    if s.sk is None:
        return 0
    if not s.sk.cookie:
        s.sk.cookie = next(_COOKIES)
    return s.sk.cookie


BPF_F_REDIRECT_INTERNAL = 1 << 3  # kernel-internal bit, refused from programs
NET_RX_DROP = 1
NET_XMIT_DROP = 1
NET_XMIT_CN = 2


def _veth_drops(s: SkBuff, peer: NetDevice | None) -> bool:
    """veth_xmit drops (NET_XMIT_DROP) a packet shorter than an Ethernet header, or
    one its peer would not take (__dev_forward_skb: the peer down, or the packet
    longer than its MTU + hard header + VLAN header)."""
    if s.len < ETH_HLEN:
        return True
    if peer is None:
        return False
    return not peer.up or s.len > peer.mtu + peer.hard_header_len + VLAN_HLEN


def clone_redirect(ctx: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    """bpf_clone_redirect(skb, ifindex, flags): send a copy of the packet out of (or,
    with BPF_F_INGRESS, into) a device of the namespace; the copy is recorded in
    netns.transmitted. EINVAL for other flags or an unknown device, EBADMSG for a GSO
    skb without a GSO type, ERANGE without a link-layer header. Out of a device that
    is down or has no carrier: NET_XMIT_CN (its noop qdisc drops the copy); out of a
    veth that drops it: NET_XMIT_DROP; into a device that is down: NET_RX_DROP."""
    s = _skb(ctx, r1)
    flags = r3
    if flags & (~BPF_F_INGRESS | BPF_F_REDIRECT_INTERNAL) & M64:
        return neg(errno.EINVAL)
    if s.is_gso() and not s.gso_type:
        return neg(errno.EBADMSG)
    dev = s.netns.devices.get(r2 & M32)
    if dev is None:
        return neg(errno.EINVAL)
    mac = s.mac_header if s.mac_header is not None else s.data
    if mac >= s.network_header or s.len == 0:
        return neg(errno.ERANGE)
    s.compute_data_pointers()
    ingress = bool(flags & BPF_F_INGRESS)
    if ingress and not dev.flags & IFF_UP:
        return NET_RX_DROP
    if not ingress and dev.flags & (IFF_UP | IFF_LOWER_UP) != IFF_UP | IFF_LOWER_UP:
        return NET_XMIT_CN
    if not ingress and dev.kind == "veth" and _veth_drops(s, s.netns.devices.get(dev.peer)):
        return NET_XMIT_DROP
    s.netns.transmitted.append(Transmit(dev.ifindex, s.packet(), ingress))
    return 0


# --- tunnel metadata (bpf_skb_set_tunnel_key / bpf_skb_get_tunnel_key) -----------------------

BPF_F_TUNINFO_IPV6 = 1 << 0
BPF_F_ZERO_CSUM_TX = 1 << 1
BPF_F_DONT_FRAGMENT = 1 << 2
BPF_F_SEQ_NUMBER = 1 << 3
BPF_F_NO_TUNNEL_KEY = 1 << 4
BPF_F_TUNINFO_FLAGS = 1 << 4
TUNNEL_KEY_SIZE = 44          # sizeof(struct bpf_tunnel_key)
# compat sizes: offsetof(local_ipv6[0]), offsetof(tunnel_label), offsetof(tunnel_ext),
# offsetof(remote_ipv6[1])
TUNNEL_KEY_COMPAT = (28, 24, 22, 8)
IP_TUNNEL_CSUM_BIT, IP_TUNNEL_KEY_BIT, IP_TUNNEL_SEQ_BIT = 0, 2, 3
IP_TUNNEL_DONT_FRAGMENT_BIT, IP_TUNNEL_NOCACHE_BIT = 8, 13
IPV6_FLOWLABEL_MASK = 0x000F_FFFF


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


def skb_set_tunnel_key(ctx: CallContext, r1: int, r2: int, r3: int, r4: int,
                       *_: int) -> int:
    """bpf_skb_set_tunnel_key(skb, key, size, flags): attach TX tunnel metadata (the
    older, shorter layouts of struct bpf_tunnel_key are zero-extended)."""
    s = _skb(ctx, r1)
    size, flags = r3 & M32, r4
    if flags & ~(BPF_F_TUNINFO_IPV6 | BPF_F_ZERO_CSUM_TX | BPF_F_DONT_FRAGMENT
                 | BPF_F_SEQ_NUMBER | BPF_F_NO_TUNNEL_KEY):
        return neg(errno.EINVAL)
    if size != TUNNEL_KEY_SIZE and size not in TUNNEL_KEY_COMPAT:
        return neg(errno.EINVAL)
    key = read_mem(ctx, r2, size).ljust(TUNNEL_KEY_SIZE, b"\0")
    label = int.from_bytes(key[24:28], "little")
    ext = int.from_bytes(key[22:24], "little")
    ipv6 = bool(flags & BPF_F_TUNINFO_IPV6)
    if (not ipv6 and label) or ext:
        return neg(errno.EINVAL)
    bits = 1 << IP_TUNNEL_NOCACHE_BIT
    if flags & BPF_F_DONT_FRAGMENT:
        bits |= 1 << IP_TUNNEL_DONT_FRAGMENT_BIT
    if not flags & BPF_F_ZERO_CSUM_TX:
        bits |= 1 << IP_TUNNEL_CSUM_BIT
    if flags & BPF_F_SEQ_NUMBER:
        bits |= 1 << IP_TUNNEL_SEQ_BIT
    if not flags & BPF_F_NO_TUNNEL_KEY:
        bits |= 1 << IP_TUNNEL_KEY_BIT
    tun_id = int.from_bytes(key[0:4], "little")
    if ipv6:
        s.tunnel = TunnelInfo(True, tun_id, key[20], key[21], bits, bytes(key[28:44]),
                              bytes(key[4:20]), label & IPV6_FLOWLABEL_MASK)
    else:
        s.tunnel = TunnelInfo(False, tun_id, key[20], key[21], bits, bytes(key[28:32]),
                              bytes(key[4:8]))
    return 0


def skb_get_tunnel_key(ctx: CallContext, r1: int, r2: int, r3: int, r4: int,
                       *_: int) -> int:
    """bpf_skb_get_tunnel_key(skb, key, size, flags): the skb's tunnel metadata into
    `key` (remote = the tunnel's source, local = its destination); on failure the
    buffer is zeroed: EINVAL without metadata or for unknown flags or sizes, EPROTO
    for the other address family."""
    s = _skb(ctx, r1)
    size, flags = r3 & M32, r4
    destination(ctx, r2, size)
    t = s.tunnel
    err = 0
    if t is None or flags & ~(BPF_F_TUNINFO_IPV6 | BPF_F_TUNINFO_FLAGS):
        err = errno.EINVAL
    elif t.ipv6 != bool(flags & BPF_F_TUNINFO_IPV6):
        err = errno.EPROTO
    elif size != TUNNEL_KEY_SIZE and (size not in TUNNEL_KEY_COMPAT
                                      or (size == 8 and t.ipv6)):
        err = errno.EINVAL
    if err:
        zero_mem(ctx, r2, size)
        return neg(err)
    assert t is not None
    out = bytearray(read_mem(ctx, r2, size).ljust(TUNNEL_KEY_SIZE, b"\0"))
    out[0:4] = (t.tun_id & M32).to_bytes(4, "little")
    out[20], out[21] = t.tos, t.ttl
    if flags & BPF_F_TUNINFO_FLAGS:
        be = sum(1 << i for i in range(16) if t.flags >> i & 1)
        out[22:24] = be.to_bytes(2, "big")
    else:
        out[22:24] = bytes(2)
    if t.ipv6:
        out[4:20] = t.src
        out[28:44] = t.dst
        out[24:28] = t.label.to_bytes(4, "little")
    else:
        out[4:8], out[8:20] = t.src, bytes(12)
        out[28:32], out[32:44] = t.dst, bytes(12)
        out[24:28] = bytes(4)
    write_mem(ctx, r2, bytes(out[:size]))
    return 0


def skb_event_output(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_perf_event_output from an skb program (bpf_skb_event_output): flags' upper
    half appends that many bytes from skb->data (-EFAULT past skb->len)."""
    from ..maps.helpers import perf_event_output
    s = _skb(ctx, r1)

    def head(n: int) -> bytes | None:
        return bytes(s.buf[s.data:s.data + n]) if n <= s.len else None
    return perf_event_output(ctx, r1, r2, r3, r4, r5, head)


HELPERS: dict[str, Callable[..., int]] = {
    "perf_event_output": skb_event_output,
    "fib_lookup": skb_fib_lookup,
    "sk_lookup_tcp": _skb_sk_lookup(sockets.IPPROTO_TCP, True),
    "sk_lookup_udp": _skb_sk_lookup(sockets.IPPROTO_UDP, True),
    "skc_lookup_tcp": _skb_sk_lookup(sockets.IPPROTO_TCP, False),
    "sk_release": sockets.sk_release,
    "get_socket_cookie": get_socket_cookie,
    "clone_redirect": clone_redirect,
    "skb_set_tunnel_key": skb_set_tunnel_key,
    "skb_get_tunnel_key": skb_get_tunnel_key,
    "skb_load_bytes": skb_load_bytes,
    "skb_load_bytes_relative": skb_load_bytes_relative,
    "skb_store_bytes": skb_store_bytes,
    "l3_csum_replace": l3_csum_replace,
    "l4_csum_replace": l4_csum_replace,
    "csum_diff": csum_diff,
    "csum_update": csum_update,
    "csum_level": csum_level,
    "skb_pull_data": skb_pull_data,
    "get_hash_recalc": get_hash_recalc,
    "set_hash": set_hash,
    "set_hash_invalid": set_hash_invalid,
    "skb_vlan_push": skb_vlan_push,
    "skb_vlan_pop": skb_vlan_pop,
    "skb_change_proto": skb_change_proto,
    "skb_change_type": skb_change_type,
    "skb_change_tail": skb_change_tail,
    "skb_change_head": skb_change_head,
    "skb_adjust_room": skb_adjust_room,
    "skb_set_tstamp": skb_set_tstamp,
    "redirect": tc_redirect,
    "get_socket_uid": get_socket_uid,
    "get_cgroup_classid": get_cgroup_classid,
    "get_route_realm": get_route_realm,
}

# Helpers whose result the VM cannot reproduce exactly (documented stand-ins).
INEXACT = frozenset(["get_hash_recalc"])


# --- BPF_PROG_TEST_RUN ---------------------------------------------------------------------------

def eth_type_trans(s: SkBuff, dev: NetDevice) -> int:
    """Set dev, the MAC header, pkt_type; pull the Ethernet header; the protocol."""
    s.dev = dev
    s.mac_header = s.data
    d = s.data
    dest = bytes(s.buf[d:d + 6])
    s.pull(ETH_HLEN)
    if dest != dev.address:
        if dest[0] & 1:
            s.pkt_type = PACKET_BROADCAST if dest == dev.broadcast else PACKET_MULTICAST
        else:
            s.pkt_type = PACKET_OTHERHOST
    proto = int.from_bytes(s.buf[d + 12:d + 14], "big")
    if proto >= ETH_P_802_3_MIN:
        return be16(proto)
    sap = bytes(s.buf[d + 14:d + 16]) if s.len >= 2 else b""
    return be16(ETH_P_802_3) if sap == b"\xff\xff" else be16(ETH_P_802_2)


# __sk_buff bytes a test run's ctx_in may set (convert___skb_to_skb)
CTX_IN_ALLOWED = (("mark", 8, 12), ("priority", 32, 36), ("ingress_ifindex", 36, 40),
                  ("ifindex", 40, 44), ("cb", 48, 68), ("tstamp", 152, 160),
                  ("wire_len", 160, 164), ("gso_segs", 164, 168), ("gso_size", 176, 180),
                  ("hwtstamp", 184, 192))


def _u32(b: bytes | bytearray, off: int) -> int:
    return int.from_bytes(b[off:off + 4], "little")


def _u64(b: bytes | bytearray, off: int) -> int:
    return int.from_bytes(b[off:off + 8], "little")


def test_run_skb(vm: VM, prog_type: ProgType, args: RunArgs, *,
                 devices: Devices | None = None,
                 netns: NetNamespace | None = None) -> TestRunResult:
    """bpf_prog_test_run_skb on the VM, in `netns` (default: a namespace of `devices`,
    by default loopback only)."""
    if netns is None:
        netns = fresh_netns(dict(devices) if devices is not None else None)
    devices = devices if devices is not None else netns.devices
    if args.flags & ~BPF_F_TEST_SKB_CHECKSUM_COMPLETE or args.cpu or args.batch_size:
        raise TestRunError(errno.EINVAL, "flags/cpu/batch_size not supported for skb "
                                         "programs")
    size = len(args.data_in)
    if size < ETH_HLEN:
        raise TestRunError(errno.EINVAL, f"packet of {size} bytes is shorter than an "
                                         "Ethernet header")
    headroom = NET_SKB_PAD + NET_IP_ALIGN
    if size > PAGE_SIZE - headroom - SHINFO_SIZE:
        raise TestRunError(errno.EINVAL, f"packet of {size} bytes exceeds "
                                         f"{PAGE_SIZE - headroom - SHINFO_SIZE}")
    ctx = ctx_init(args, SK_BUFF_SIZE)
    is_l2 = prog_type in TC_TYPES
    # data_end is valid for cgroup skb too (observed on Linux 6.18)
    direct = is_l2 or prog_type in LWT_TYPES or prog_type == ProgType.CGROUP_SKB
    aligned = (size + 63) & ~63
    buf = bytearray(headroom + aligned + SHINFO_SIZE)
    buf[headroom:headroom + size] = args.data_in
    sk = Sock()
    s = SkBuff(buf, headroom, size, None, sk=sk, netns=netns)
    dev = devices.get(LOOPBACK_IFINDEX)
    if ctx is not None and _u32(ctx, 40) > 1:
        dev = devices.get(_u32(ctx, 40))
        if dev is None:
            raise TestRunError(errno.ENODEV, f"no device with ifindex {_u32(ctx, 40)}")
    assert dev is not None
    s.protocol = eth_type_trans(s, dev)
    s.network_header = s.data
    headlen = s.len
    # Linux 6.18 refuses an IPv4/IPv6 frame shorter than its network header (observed
    # against the kernel: EINVAL, where older kernels only skipped the socket addresses).
    if (s.protocol == be16(ETH_P_IP) and headlen < 20) or \
            (s.protocol == be16(ETH_P_IPV6) and headlen < 40):
        raise TestRunError(errno.EINVAL, "IP frame shorter than its network header")
    if s.protocol == be16(ETH_P_IP):
        sk.family = AF_INET
        if headlen >= 20:
            d = s.data
            sk.rcv_saddr, sk.daddr = bytes(buf[d + 12:d + 16]), bytes(buf[d + 16:d + 20])
    elif s.protocol == be16(ETH_P_IPV6):
        sk.family = AF_INET6
        if headlen >= 40:
            d = s.data
            sk.v6_rcv_saddr, sk.v6_daddr = bytes(buf[d + 8:d + 24]), bytes(buf[d + 24:d + 40])
    if is_l2:
        s.push(ETH_HLEN)
    if direct:
        s.compute_data_pointers()
    # convert___skb_to_skb (without a ctx the qdisc cb, wire_len included, stays zero)
    if ctx is not None:
        s.pkt_len = s.len
        allowed = bytearray(SK_BUFF_SIZE)
        for _, lo, hi in CTX_IN_ALLOWED:
            allowed[lo:hi] = ctx[lo:hi]
        if allowed != ctx:
            bad = next(i for i in range(SK_BUFF_SIZE) if allowed[i] != ctx[i])
            raise TestRunError(errno.EINVAL, f"__sk_buff byte {bad} may not be set in "
                                             "ctx_in")
        s.mark, s.priority, s.skb_iif = _u32(ctx, 8), _u32(ctx, 32), _u32(ctx, 36)
        s.tstamp = _u64(ctx, 152)
        s.cb[:] = ctx[48:68]
        wire_len = _u32(ctx, 160)
        if wire_len:
            if wire_len < s.len or wire_len > GSO_LEGACY_MAX_SIZE:
                raise TestRunError(errno.EINVAL, f"wire_len {wire_len} outside "
                                                 f"[{s.len}, {GSO_LEGACY_MAX_SIZE}]")
            s.pkt_len = wire_len
        if _u32(ctx, 164) > GSO_MAX_SEGS:
            raise TestRunError(errno.EINVAL, f"gso_segs {_u32(ctx, 164)} > {GSO_MAX_SEGS}")
        s.gso_segs = _u32(ctx, 164) & 0xFFFF
        s.gso_size = _u32(ctx, 176) & 0xFFFF
        s.hwtstamp = _u64(ctx, 184)
    complete = bool(args.flags & BPF_F_TEST_SKB_CHECKSUM_COMPLETE)
    if complete:
        off = s.network_offset()
        s.csum = s.checksum(off, s.len - off)
        s.ip_summed = CHECKSUM_COMPLETE
    access = SkbContext(s, prog_type)
    memory = Memory()
    r1 = access.map(memory)
    retval, duration = timed(lambda: vm.execute(memory, r1).r0, args.repeat)
    if not is_l2:
        s.push(ETH_HLEN)
        s.buf[s.data:s.data + ETH_HLEN] = bytes(ETH_HLEN)
    if complete:
        off = s.network_offset()
        if C.csum_fold(s.csum) != C.csum_fold(s.checksum(off, s.len - off)):
            raise TestRunError(errno.EBADMSG, "skb->csum does not match the packet after "
                                              "the run (CHECKSUM_COMPLETE)")
    if ctx is not None:
        ctx[8:12] = s.mark.to_bytes(4, "little")
        ctx[32:36] = s.priority.to_bytes(4, "little")
        ctx[36:40] = s.skb_iif.to_bytes(4, "little")
        ctx[40:44] = (s.dev.ifindex if s.dev else 0).to_bytes(4, "little")
        ctx[152:160] = s.tstamp.to_bytes(8, "little")
        ctx[48:68] = s.cb
        ctx[160:164] = s.pkt_len.to_bytes(4, "little")
        ctx[164:168] = s.gso_segs.to_bytes(4, "little")
        ctx[184:192] = s.hwtstamp.to_bytes(8, "little")
    data_out = data_finish(args, s.packet())
    ctx_out = ctx_finish(args, ctx)
    return TestRunResult(retval, data_out, ctx_out, duration)
