"""Hypothesis strategies for packets: well-formed Ethernet frames carrying IPv4/IPv6
(TCP/UDP), VLAN tags, ARP, and malformed ones (truncated, random bytes)."""

from __future__ import annotations

import struct

from hypothesis import strategies as st

from pybpf.net.csum import ip_checksum

MACS = st.sampled_from([bytes(6), b"\xff" * 6, bytes.fromhex("01005e000001"),
                        bytes.fromhex("020000000001"), bytes.fromhex("3333000000fb")])


@st.composite
def ipv4(draw: st.DrawFn) -> bytes:
    proto = draw(st.sampled_from([6, 17, 1, 47]))
    payload = draw(st.binary(min_size=0, max_size=64))
    l4 = b""
    if proto in (6, 17):
        sport, dport = draw(st.integers(0, 65535)), draw(st.integers(0, 65535))
        if proto == 6:
            l4 = struct.pack(">HHIIBBHHH", sport, dport, draw(st.integers(0, 2**32 - 1)), 0,
                             0x50, 0x18, 512, draw(st.integers(0, 65535)), 0)
        else:
            l4 = struct.pack(">HHHH", sport, dport, 8 + len(payload),
                             draw(st.integers(0, 65535)))
    body = l4 + payload
    src, dst = draw(st.binary(min_size=4, max_size=4)), draw(st.binary(min_size=4, max_size=4))
    hdr = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(body), draw(st.integers(0, 65535)),
                      0, 64, proto, 0, src, dst)
    hdr = hdr[:10] + struct.pack(">H", ip_checksum(hdr)) + hdr[12:]
    return hdr + body


@st.composite
def ipv6(draw: st.DrawFn) -> bytes:
    nxt = draw(st.sampled_from([6, 17, 58]))
    payload = draw(st.binary(min_size=0, max_size=64))
    return struct.pack(">IHBB16s16s", 0x60000000, len(payload), nxt, 64,
                       draw(st.binary(min_size=16, max_size=16)),
                       draw(st.binary(min_size=16, max_size=16))) + payload


@st.composite
def frames(draw: st.DrawFn, min_size: int = 0) -> bytes:
    """An Ethernet frame, possibly VLAN-tagged (once or twice), truncated or garbage."""
    kind = draw(st.sampled_from(["ipv4", "ipv6", "vlan", "qinq", "arp", "raw", "llc"]))
    eth = draw(MACS) + draw(MACS)
    if kind == "ipv4":
        f = eth + b"\x08\x00" + draw(ipv4())
    elif kind == "ipv6":
        f = eth + b"\x86\xdd" + draw(ipv6())
    elif kind == "vlan":
        inner = draw(st.sampled_from([b"\x08\x00", b"\x86\xdd"]))
        l3 = draw(ipv4()) if inner == b"\x08\x00" else draw(ipv6())
        f = eth + b"\x81\x00" + struct.pack(">H", draw(st.integers(0, 65535))) + inner + l3
    elif kind == "qinq":
        f = (eth + b"\x88\xa8" + struct.pack(">H", draw(st.integers(0, 4095))) + b"\x81\x00"
             + struct.pack(">H", draw(st.integers(0, 4095))) + b"\x08\x00" + draw(ipv4()))
    elif kind == "arp":
        f = eth + b"\x08\x06" + draw(st.binary(min_size=28, max_size=28))
    elif kind == "llc":
        f = eth + struct.pack(">H", draw(st.integers(0, 1535))) + draw(
            st.sampled_from([b"\xff\xff", b"\xaa\xaa\x03"])) + draw(st.binary(max_size=20))
    else:
        f = draw(st.binary(min_size=0, max_size=120))
    if draw(st.integers(0, 4)) == 0:
        f = f[:draw(st.integers(0, len(f)))]
    if len(f) < min_size:
        f = f + bytes(min_size - len(f))
    return f


# --- well-formed and malformed frames with real checksums -------------------------------
#
# `packets()` draws frames that exercise a parser layer by layer: Ethernet, 802.1Q and
# QinQ tags, IPv4 (options, fragments, header checksum, IHL and total length) and IPv6
# (hop-by-hop, routing, destination-options and fragment extension headers), then TCP,
# UDP, ICMP or ICMPv6 with a correct L4 checksum, which the `faults` then break: a bad
# IPv4 header checksum, a bad L4 checksum, a bad IHL or total length, truncation at a
# chosen layer, Ethernet padding, oversizing. ARP, LLC and random bytes come too.

ETH_P_IP, ETH_P_IPV6, ETH_P_ARP = 0x0800, 0x86DD, 0x0806
ETH_P_8021Q, ETH_P_8021AD = 0x8100, 0x88A8
IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6 = 6, 17, 1, 58
IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_FRAGMENT, IPPROTO_DSTOPTS = 0, 43, 44, 60
MAX_SKB_FRAME = 4096 - 64 - 320  # the largest frame an skb test run accepts

FAULTS = ("none", "ip_csum", "l4_csum", "ihl", "tot_len_long", "tot_len_short",
          "truncate", "pad", "udp_nocsum")


def inet_csum(data: bytes) -> int:
    """The Internet checksum of `data` (the value to store, big-endian order)."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f">{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _l4(draw: st.DrawFn, proto: int, payload: bytes) -> tuple[bytes, int]:
    """An L4 header + payload with a zero checksum field; (bytes, checksum offset)."""
    if proto == IPPROTO_TCP:
        doff = draw(st.sampled_from([5, 5, 6, 8]))
        opts = bytes(4 * (doff - 5))
        h = struct.pack(">HHIIBBHHH", draw(st.integers(0, 65535)), draw(st.integers(0, 65535)),
                        draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**32 - 1)),
                        doff << 4, draw(st.sampled_from([0x02, 0x10, 0x18, 0x11, 0x04])),
                        draw(st.integers(0, 65535)), 0, 0) + opts
        return h + payload, 16
    if proto == IPPROTO_UDP:
        sport = draw(st.integers(0, 65535))
        dport = draw(st.sampled_from([53, 67, 4789, 443, draw(st.integers(0, 65535))]))
        return struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload, 6
    if proto in (IPPROTO_ICMP, IPPROTO_ICMPV6):
        echo = 8 if proto == IPPROTO_ICMP else 128
        t = draw(st.sampled_from([echo, echo, 0, 3, 11, 129, 135]))
        return struct.pack(">BBHHH", t, 0, 0, draw(st.integers(0, 65535)),
                           draw(st.integers(0, 65535))) + payload, 2
    return payload, -1


def _set16(b: bytearray, off: int, v: int) -> None:
    b[off:off + 2] = struct.pack(">H", v & 0xFFFF)


@st.composite
def ipv4_packet(draw: st.DrawFn, fault: str = "none", big: int = 0) -> bytes:
    """An IPv4 packet (options, fragments) with correct checksums unless `fault`;
    `big`: a payload of about that many bytes."""
    proto = draw(st.sampled_from([IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, 47]))
    payload = draw(st.binary(max_size=96))
    if big:
        payload = (payload or b"\x5a") * (big // max(len(payload), 1) + 1)
        payload = payload[:big]
    raw_seg, coff = _l4(draw, proto, payload)
    src = draw(st.sampled_from([bytes([10, 0, 0, 1]), bytes([192, 168, 1, 2]),
                                draw(st.binary(min_size=4, max_size=4))]))
    dst = draw(st.binary(min_size=4, max_size=4))
    frag = draw(st.sampled_from(["none", "none", "none", "df", "first", "middle", "last"]))
    frag_off = {"none": 0, "df": 0x4000, "first": 0x2000,
                "middle": 0x2000 | draw(st.integers(1, 0x1FFF)),
                "last": draw(st.integers(1, 0x1FFF))}[frag]
    ihl = draw(st.sampled_from([5, 5, 5, 6, 8, 15]))
    opts = bytes([1] * (4 * (ihl - 5) - 1) + [0]) if ihl > 5 else b""
    seg = bytearray(raw_seg)
    if coff >= 0 and not (fault == "udp_nocsum" and proto == IPPROTO_UDP):
        pseudo = src + dst + struct.pack(">BBH", 0, proto, len(seg))
        c = inet_csum(bytes(seg) if proto == IPPROTO_ICMP else pseudo + bytes(seg))
        if proto == IPPROTO_UDP and c == 0:
            c = 0xFFFF
        _set16(seg, coff, c)
        if fault == "l4_csum":
            _set16(seg, coff, c ^ draw(st.integers(1, 0xFFFF)))
    tot = 4 * ihl + len(seg)
    if fault == "tot_len_long":
        tot += draw(st.integers(1, 1000))
    elif fault == "tot_len_short":
        tot = draw(st.integers(0, 4 * ihl - 1))
    hdr = bytearray(struct.pack(">BBHHHBBH4s4s", 0x40 | ihl, draw(st.integers(0, 255)),
                                tot & 0xFFFF, draw(st.integers(0, 65535)), frag_off,
                                draw(st.sampled_from([1, 64, 255, 0])), proto, 0, src, dst)
                    + opts)
    if fault == "ihl":
        hdr[0] = draw(st.sampled_from([0x40, 0x44, 0x60, 0x4F, 0x00]))
    _set16(hdr, 10, inet_csum(bytes(hdr)))
    if fault == "ip_csum":
        _set16(hdr, 10, int.from_bytes(hdr[10:12], "big") ^ draw(st.integers(1, 0xFFFF)))
    return bytes(hdr + seg)


@st.composite
def ipv6_packet(draw: st.DrawFn, fault: str = "none") -> bytes:
    """An IPv6 packet with extension headers and a correct L4 checksum unless `fault`."""
    proto = draw(st.sampled_from([IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6, 59]))
    payload = draw(st.binary(max_size=96))
    raw_seg, coff = _l4(draw, proto, payload)
    src = draw(st.binary(min_size=16, max_size=16))
    dst = draw(st.sampled_from([bytes.fromhex("ff0200000000000000000000000000fb"),
                                draw(st.binary(min_size=16, max_size=16))]))
    exts = draw(st.lists(st.sampled_from([IPPROTO_HOPOPTS, IPPROTO_ROUTING,
                                          IPPROTO_FRAGMENT, IPPROTO_DSTOPTS]), max_size=3))
    seg = bytearray(raw_seg)
    if coff >= 0:
        pseudo = src + dst + struct.pack(">IxxxB", len(seg), proto)
        c = inet_csum(pseudo + bytes(seg))
        if proto == IPPROTO_UDP and c == 0:
            c = 0xFFFF
        _set16(seg, coff, c)
        if fault == "l4_csum":
            _set16(seg, coff, c ^ draw(st.integers(1, 0xFFFF)))
    chain = b""
    nxt = proto
    for kind in reversed(exts):
        if kind == IPPROTO_FRAGMENT:
            off = draw(st.sampled_from([0, 0, draw(st.integers(1, 0x1FFF))]))
            m = draw(st.integers(0, 1))
            chain = struct.pack(">BBHI", nxt, 0, (off << 3) | m,
                                draw(st.integers(0, 2**32 - 1))) + chain
        else:
            n = draw(st.integers(0, 2))
            body = bytes([1, 8 * n + 4]) + bytes(8 * n + 4) if kind != IPPROTO_ROUTING else \
                bytes([0, 0]) + bytes(8 * n + 4)
            chain = bytes([nxt, n]) + body + chain
        nxt = kind
    plen = len(chain) + len(seg)
    if fault == "tot_len_long":
        plen += draw(st.integers(1, 1000))
    elif fault == "tot_len_short":
        plen = draw(st.integers(0, max(plen - 1, 0)))
    ver = 0x60000000 | draw(st.integers(0, 0xFFFFF))
    if fault == "ihl":
        ver = (ver & 0x0FFFFFFF) | 0x40000000
    hdr = struct.pack(">IHBB16s16s", ver, plen & 0xFFFF, nxt,
                      draw(st.sampled_from([0, 1, 64, 255])), src, dst)
    return hdr + chain + bytes(seg)


def _tags(draw: st.DrawFn, n: int) -> bytes:
    out = b""
    for i in range(n):
        tpid = ETH_P_8021AD if (n == 2 and i == 0 and draw(st.booleans())) else ETH_P_8021Q
        out += struct.pack(">HH", tpid, draw(st.integers(0, 0xFFFF)))
    return out


@st.composite
def packets(draw: st.DrawFn, min_size: int = 14, max_size: int = MAX_SKB_FRAME,
            faults: tuple[str, ...] = FAULTS) -> bytes:
    """A frame from the layered generator above (see its comment), `min_size` to
    `max_size` bytes (short ones are zero-padded, long ones cut)."""
    kind = draw(st.sampled_from(["ipv4", "ipv4", "ipv4", "ipv6", "ipv6", "arp", "llc",
                                 "raw", "oversized"]))
    # about a third of the IP frames are well formed
    fault = draw(st.sampled_from(list(faults) + ["none"] * (len(faults) // 2)))
    eth = draw(MACS) + draw(MACS)
    vlans = draw(st.sampled_from([0, 0, 0, 1, 2]))
    cuts: list[int] = []
    if kind in ("ipv4", "ipv6", "oversized"):
        big = draw(st.integers(1000, max(max_size - 120, 1000))) if kind == "oversized" else 0
        l3 = draw(ipv6_packet(fault)) if kind == "ipv6" else draw(ipv4_packet(fault, big))
        ethertype = ETH_P_IPV6 if kind == "ipv6" else ETH_P_IP
        head = eth + _tags(draw, vlans) + struct.pack(">H", ethertype)
        f = head + l3
        cuts = [draw(st.integers(0, 14)), len(head) - 2, len(head) + draw(st.integers(0, 19)),
                len(head) + draw(st.integers(0, max(len(l3) - 1, 0)))]
    elif kind == "arp":
        f = eth + _tags(draw, vlans) + struct.pack(">HHHBBH", ETH_P_ARP, 1, ETH_P_IP, 6, 4,
                                                   draw(st.sampled_from([1, 2]))) + draw(
            st.binary(min_size=20, max_size=20))
    elif kind == "llc":
        f = eth + struct.pack(">H", draw(st.integers(0, 1535))) + draw(
            st.sampled_from([b"\xff\xff", b"\xaa\xaa\x03", b"\x42\x42\x03"])) + draw(
            st.binary(max_size=40))
    else:
        f = draw(st.binary(min_size=0, max_size=200))
    if fault == "truncate":
        f = f[:draw(st.sampled_from(cuts))] if cuts else f[:draw(st.integers(0, len(f)))]
    elif fault == "pad":
        f += bytes(draw(st.integers(1, 40)))
    if len(f) < min_size:
        f += bytes(min_size - len(f))
    return f[:max_size]
