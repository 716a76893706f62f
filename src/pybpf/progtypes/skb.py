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
from typing import Callable

from ..net import csum as C
from ..net import sockets
from ..net.netdev import LOOPBACK_IFINDEX, Devices, NetDevice
from ..net.netns import NetNamespace, fresh_netns
from ..net.sockets import AF_INET, AF_INET6
from ..uapi import BPF_F_TEST_SKB_CHECKSUM_COMPLETE, ProgType
from ..vm import VM, Memory
from . import socklookup
from .contexts.skb import LWT_TYPES, SK_BUFF_SIZE, SKB_PROG_TYPES, TC_TYPES, skb_spec
from .errors import TestRunError
from .runbase import (
    ETH_HLEN,
    PAGE_SIZE,
    RunArgs,
    TestRunResult,
    ctx_finish,
    ctx_init,
    data_finish,
    timed,
)
from .skb_context import SkbContext
from .skb_helpers import (
    csum_diff,
    csum_level,
    csum_update,
    get_cgroup_classid,
    get_hash_recalc,
    get_route_realm,
    get_socket_uid,
    l3_csum_replace,
    l4_csum_replace,
    set_hash,
    set_hash_invalid,
    skb_adjust_room,
    skb_change_head,
    skb_change_proto,
    skb_change_tail,
    skb_change_type,
    skb_load_bytes,
    skb_load_bytes_relative,
    skb_pull_data,
    skb_set_tstamp,
    skb_store_bytes,
    skb_vlan_pop,
    skb_vlan_push,
    tc_redirect,
)
from .skb_net import (
    _skb_sk_lookup,
    clone_redirect,
    get_socket_cookie,
    skb_event_output,
    skb_fib_lookup,
    skb_get_tunnel_key,
    skb_set_tunnel_key,
)
from .skbuff import (CHECKSUM_COMPLETE, ETH_P_802_2, ETH_P_802_3, ETH_P_802_3_MIN, ETH_P_IP,
                     ETH_P_IPV6, GSO_LEGACY_MAX_SIZE, GSO_MAX_SEGS, NET_IP_ALIGN, NET_SKB_PAD,
                     PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST, SHINFO_SIZE, SkBuff,
                     Sock, be16)

HELPERS: dict[str, Callable[..., int]] = {
    "perf_event_output": skb_event_output,
    "fib_lookup": skb_fib_lookup,
    "sk_lookup_tcp": _skb_sk_lookup(sockets.IPPROTO_TCP, True),
    "sk_lookup_udp": _skb_sk_lookup(sockets.IPPROTO_UDP, True),
    "skc_lookup_tcp": _skb_sk_lookup(sockets.IPPROTO_TCP, False),
    "sk_release": socklookup.sk_release,
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

# The program types of this module and their context (pybpf.progtypes.contexts.skb), and
# the sk_buff model (pybpf.progtypes.skbuff), as the helper sets and test_run ask them here.
__all__ = ["CTX_IN_ALLOWED", "HELPERS", "INEXACT", "SKB_PROG_TYPES", "SkBuff", "csum_diff",
           "eth_type_trans", "skb_spec", "test_run_skb"]

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


def skb_of(data: bytes | bytearray, prog_type: ProgType, dev: NetDevice,
           netns: NetNamespace, buf: bytearray | None = None) -> SkBuff:
    """The sk_buff bpf_prog_test_run_skb makes of the frame `data` (14 bytes to a
    page's worth, checked by the caller) arriving on `dev`, before ctx_in applies: a
    buffer of the kernel's size (`buf`, zeroed, when given), eth_type_trans, the test
    socket's addresses from an IP header, data at the L2 header for tc and at the L3
    header otherwise, the data pointers for the types with direct packet access.
    TestRunError where the kernel refuses the frame."""
    size = len(data)
    headroom = NET_SKB_PAD + NET_IP_ALIGN
    if buf is None:
        buf = bytearray(headroom + ((size + 63) & ~63) + SHINFO_SIZE)
    buf[headroom:headroom + size] = data
    sk = Sock()
    s = SkBuff(buf, headroom, size, None, sk=sk, netns=netns)
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
    if prog_type in TC_TYPES:
        s.push(ETH_HLEN)
    # data_end is valid for cgroup skb too (observed on Linux 6.18)
    if prog_type in TC_TYPES or prog_type in LWT_TYPES or prog_type == ProgType.CGROUP_SKB:
        s.compute_data_pointers()
    return s


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
    dev = devices.get(LOOPBACK_IFINDEX)
    if ctx is not None and _u32(ctx, 40) > 1:
        dev = devices.get(_u32(ctx, 40))
        if dev is None:
            raise TestRunError(errno.ENODEV, f"no device with ifindex {_u32(ctx, 40)}")
    assert dev is not None
    s = skb_of(args.data_in, prog_type, dev, netns)
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
    # the skb and its context refer to each other (on_change, the packet window): break
    # that here so the run's model is freed at once, not left to the cyclic collector
    s.on_change = None
    access.packet.window = _NO_WINDOW
    access.vm_memory = None
    memory.regions.clear()
    return TestRunResult(retval, data_out, ctx_out, duration)


def _NO_WINDOW() -> tuple[int, int]:
    """The packet window of a finished run: nothing."""
    return 0, 0
