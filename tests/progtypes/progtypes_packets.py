"""Hypothesis strategies for packets: well-formed Ethernet frames carrying IPv4/IPv6
(TCP/UDP), VLAN tags, ARP, and malformed ones (truncated, random bytes)."""

from __future__ import annotations

import struct

from hypothesis import strategies as st

from pybpf.progtypes.csum import ip_checksum

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
