"""The packet helpers of skb programs as net/core/filter.c: load/store bytes, checksum
replace and diff, hash, VLAN push/pop, protocol and type changes, head/tail/room
changes, timestamps and the tc redirect."""

from __future__ import annotations

import errno
import hashlib

from ..helper_ids import HELPER_IDS
from ..helpers import HelperRegistry
from ..net import csum as C
from ..vm import CallContext
from ..uapi import (BPF_ADJ_ROOM_ENCAP_L2_SHIFT, BPF_ADJ_ROOM_MAC, BPF_ADJ_ROOM_NET,
                    BPF_F_ADJ_ROOM_DECAP_L3_IPV4, BPF_F_ADJ_ROOM_DECAP_L3_IPV6,
                    BPF_F_ADJ_ROOM_ENCAP_L2_ETH, BPF_F_ADJ_ROOM_ENCAP_L3_IPV4,
                    BPF_F_ADJ_ROOM_ENCAP_L3_IPV6, BPF_F_ADJ_ROOM_ENCAP_L4_GRE,
                    BPF_F_ADJ_ROOM_ENCAP_L4_UDP, BPF_F_ADJ_ROOM_FIXED_GSO,
                    BPF_F_ADJ_ROOM_NO_CSUM_RESET, BPF_F_HDR_FIELD_MASK, BPF_F_INGRESS,
                    BPF_F_INVALIDATE_HASH, BPF_F_IPV6, BPF_F_MARK_ENFORCE, BPF_F_MARK_MANGLED_0,
                    BPF_F_PSEUDO_HDR, BPF_F_RECOMPUTE_CSUM, BPF_HDR_START_MAC, BPF_HDR_START_NET,
                    BPF_SKB_CLOCK_MONOTONIC, BPF_SKB_CLOCK_REALTIME, BPF_SKB_CLOCK_TAI,
                    TC_ACT_REDIRECT, TC_ACT_SHOT)
from .common import M32, M64, csum_diff, destination, neg, read_mem, s32, write_mem, zero_mem
from .runbase import ETH_HLEN, PAGE_SIZE
from .skb_context import skb_of
from .skbuff import (ADJ_DECAP_L3_MASK, ADJ_ENCAP_L3_MASK, ADJ_MASK, BPF_SKB_MAX_LEN,
                     CHECKSUM_COMPLETE, CHECKSUM_NONE, CHECKSUM_UNNECESSARY, ETH_P_802_2,
                     ETH_P_802_3, ETH_P_802_3_MIN, ETH_P_8021AD, ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6,
                     NET_SKB_PAD, PACKET_OTHERHOST, SHINFO_SIZE, SKB_GSO_TCPV4, SKB_GSO_TCPV6,
                     SKB_MAX_CSUM_LEVEL, VLAN_ETH_HLEN, VLAN_HLEN, SkBuff, be16)


def _try_make_writable(s: SkBuff, write_len: int) -> int:
    """bpf_try_make_writable: -ENOMEM past the packet; recomputes the data pointers."""
    err = 0 if (write_len & M32) <= s.len else -errno.ENOMEM
    s.compute_data_pointers()
    return err


def skb_load_bytes(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """bpf_skb_load_bytes(skb, offset, to, len): copy from data + offset; on failure
    zero `to` and return -EFAULT."""
    s = skb_of(ctx, r1)
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
    s = skb_of(ctx, r1)
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
    s = skb_of(ctx, r1)
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
    s = skb_of(ctx, r1)
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
    s = skb_of(ctx, r1)
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


def register_csum_helpers(reg: HelperRegistry) -> HelperRegistry:
    """Add bpf_csum_diff, which every program type may call (it is in the base set,
    default_helpers()), to `reg` under its kernel ID; `reg` returned."""
    reg.register(HELPER_IDS["csum_diff"], csum_diff, "bpf_csum_diff")
    return reg


def csum_update(ctx: CallContext, r1: int, r2: int, *_: int) -> int:
    """bpf_csum_update(skb, csum): fold into skb->csum (CHECKSUM_COMPLETE only)."""
    s = skb_of(ctx, r1)
    if s.ip_summed == CHECKSUM_COMPLETE:
        s.csum = C.csum_add(s.csum, r2 & M32)
        return s.csum
    return neg(524)


def csum_level(ctx: CallContext, r1: int, r2: int, *_: int) -> int:
    """bpf_csum_level(skb, level): query/inc/dec/reset CHECKSUM_UNNECESSARY's level."""
    s = skb_of(ctx, r1)
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
    s = skb_of(ctx, r1)
    n = r2 & M32
    err = _try_make_writable(s, n or s.len)
    return neg(-err) if err else 0


def get_hash_recalc(ctx: CallContext, r1: int, *_: int) -> int:
    """bpf_get_hash_recalc(skb): skb->hash, computing it if unset. The kernel's flow
    hash is keyed with a per-boot random seed, so a computed value cannot match it; the
    VM uses a documented stand-in (BLAKE2b of the packet, never 0)."""
    s = skb_of(ctx, r1)
    if not s.sw_hash and not s.l4_hash:
        h = int.from_bytes(hashlib.blake2b(s.packet(), digest_size=4).digest(), "little")
        s.hash, s.sw_hash = h or 1, True
    return s.hash


def set_hash(ctx: CallContext, r1: int, r2: int, *_: int) -> int:
    """bpf_set_hash(skb, hash): a software L4 hash."""
    s = skb_of(ctx, r1)
    s.hash, s.sw_hash, s.l4_hash = r2 & M32, True, True
    return 0


def set_hash_invalid(ctx: CallContext, r1: int, *_: int) -> int:
    skb_of(ctx, r1).clear_hash()
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
    s = skb_of(ctx, r1)
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
    s = skb_of(ctx, r1)
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
    s = skb_of(ctx, r1)
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
    s = skb_of(ctx, r1)
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
    s = skb_of(ctx, r1)
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
    s = skb_of(ctx, r1)
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
    s = skb_of(ctx, r1)
    diff = s32(r2)
    mode = r3 & M32
    flags = r4
    n = abs(diff)
    shrink = diff < 0
    len_min = _net_base_len(s)
    if flags & ~(ADJ_MASK | BPF_F_ADJ_ROOM_NO_CSUM_RESET):
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
        if d == BPF_F_ADJ_ROOM_DECAP_L3_IPV4:
            len_min = 20
        elif d == BPF_F_ADJ_ROOM_DECAP_L3_IPV6:
            len_min = 40
        else:
            return neg(errno.EINVAL)
    len_cur = s.len - s.network_offset()
    if (shrink and (n >= len_cur or len_cur - n < len_min)) or \
            (not shrink and s.len + n > BPF_SKB_MAX_LEN and not s.is_gso()):
        return neg(524)
    ret = _net_shrink(s, off, n, flags) if shrink else _net_grow(s, off, n, flags)
    if not ret and not flags & BPF_F_ADJ_ROOM_NO_CSUM_RESET:
        _reset_unnecessary(s)
    s.compute_data_pointers()
    s.changed()
    return neg(-ret) if ret else 0


def _gso_udp_ok(s: SkBuff, flags: int) -> bool:
    tcp = s.gso_type & (SKB_GSO_TCPV4 | SKB_GSO_TCPV6)
    udp_l4 = 1 << 16  # SKB_GSO_UDP_L4
    return (not (s.is_gso() and not tcp)
            or bool(s.gso_type & udp_l4 and flags & BPF_F_ADJ_ROOM_FIXED_GSO))


def _net_grow(s: SkBuff, off: int, n: int, flags: int) -> int:
    inner_mac_len = (flags >> BPF_ADJ_ROOM_ENCAP_L2_SHIFT) & 0xFF
    encap = bool(flags & ADJ_ENCAP_L3_MASK)
    if not _gso_udp_ok(s, flags):
        return -524
    mac_len = 0
    if encap:
        if s.protocol not in (be16(ETH_P_IP), be16(ETH_P_IPV6)):
            return -524
        if flags & BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 and flags & BPF_F_ADJ_ROOM_ENCAP_L3_IPV6:
            return -errno.EINVAL
        if flags & BPF_F_ADJ_ROOM_ENCAP_L4_GRE and flags & BPF_F_ADJ_ROOM_ENCAP_L4_UDP:
            return -errno.EINVAL
        if flags & BPF_F_ADJ_ROOM_ENCAP_L2_ETH and inner_mac_len < ETH_HLEN:
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
        if flags & (BPF_F_ADJ_ROOM_ENCAP_L4_GRE | BPF_F_ADJ_ROOM_ENCAP_L4_UDP):
            nh = 40 if flags & BPF_F_ADJ_ROOM_ENCAP_L3_IPV6 else 20
            s.transport_header = s.data + mac_len + nh
        if s.protocol == be16(ETH_P_IP) and flags & BPF_F_ADJ_ROOM_ENCAP_L3_IPV6:
            s.protocol = be16(ETH_P_IPV6)
        elif s.protocol == be16(ETH_P_IPV6) and flags & BPF_F_ADJ_ROOM_ENCAP_L3_IPV4:
            s.protocol = be16(ETH_P_IP)
    if s.is_gso():
        s.gso_segs = 0
        if not flags & BPF_F_ADJ_ROOM_FIXED_GSO:
            s.gso_size = max(s.gso_size - n, 0)
    return 0


def _net_shrink(s: SkBuff, off: int, n: int, flags: int) -> int:
    if flags & ~(BPF_F_ADJ_ROOM_FIXED_GSO | ADJ_DECAP_L3_MASK | BPF_F_ADJ_ROOM_NO_CSUM_RESET):
        return -errno.EINVAL
    if not _gso_udp_ok(s, flags):
        return -524
    ret = _net_hdr_pop(s, off, n)
    if ret:
        return ret
    if s.protocol == be16(ETH_P_IP) and flags & BPF_F_ADJ_ROOM_DECAP_L3_IPV6:
        s.protocol = be16(ETH_P_IPV6)
    elif s.protocol == be16(ETH_P_IPV6) and flags & BPF_F_ADJ_ROOM_DECAP_L3_IPV4:
        s.protocol = be16(ETH_P_IP)
    if s.is_gso():
        if not flags & BPF_F_ADJ_ROOM_FIXED_GSO:
            s.gso_size = (s.gso_size + n) & 0xFFFF
        s.gso_segs = 0
    return 0


def skb_set_tstamp(ctx: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    """bpf_skb_set_tstamp(skb, tstamp, type): a delivery time for IP packets."""
    s = skb_of(ctx, r1)
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
    s = skb_of(ctx, r1)
    return s.sk.uid if s.sk is not None else 65534


def get_cgroup_classid(ctx: CallContext, r1: int, *_: int) -> int:
    """bpf_get_cgroup_classid(skb): 0 (the test run's task is in the root cgroup)."""
    skb_of(ctx, r1)
    return 0


def get_route_realm(ctx: CallContext, r1: int, *_: int) -> int:
    """bpf_get_route_realm(skb): 0 (a test run's skb has no route)."""
    skb_of(ctx, r1)
    return 0
