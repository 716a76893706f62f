"""The frame generator of progtypes_packets.py says what it draws: well-formed IPv4 and
IPv6 packets carry correct header and L4 checksums, and each fault breaks what it
names (checked with an independent parse here, not the generator's own code)."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from .progtypes_packets import (
    FAULTS,
    MAX_SKB_FRAME,
    inet_csum,
    ipv4_packet,
    ipv6_packet,
    packets,
)

FIX = settings(max_examples=150, deadline=None, derandomize=True, database=None)


def _l4_ok_v4(pkt: bytes) -> bool:
    ihl = (pkt[0] & 15) * 4
    proto = pkt[9]
    seg = pkt[ihl:]
    if proto == 1:
        return inet_csum(seg) == 0
    pseudo = pkt[12:20] + struct.pack(">BBH", 0, proto, len(seg))
    return inet_csum(pseudo + seg) == 0


@given(ipv4_packet())
@FIX
def test_ipv4_well_formed(pkt: bytes) -> None:
    ihl = (pkt[0] & 15) * 4
    assert pkt[0] >> 4 == 4 and ihl >= 20
    assert inet_csum(pkt[:ihl]) == 0
    assert struct.unpack(">H", pkt[2:4])[0] == len(pkt)
    if pkt[9] in (1, 6, 17):
        assert _l4_ok_v4(pkt)


@given(st.sampled_from(["ip_csum", "l4_csum", "ihl", "tot_len_long", "tot_len_short"]),
       st.data())
@FIX
def test_ipv4_faults(fault: str, data: st.DataObject) -> None:
    pkt = data.draw(ipv4_packet(fault))
    ihl = (pkt[0] & 15) * 4
    tot = struct.unpack(">H", pkt[2:4])[0]
    if fault == "ip_csum":
        assert inet_csum(pkt[:ihl]) != 0
    elif fault == "l4_csum" and pkt[9] in (1, 6, 17):
        assert not _l4_ok_v4(pkt)
    elif fault == "ihl":
        assert pkt[0] in (0x40, 0x44, 0x60, 0x4F, 0x00)
    elif fault == "tot_len_long":
        assert tot > len(pkt)
    elif fault == "tot_len_short":
        assert tot < ihl


@given(ipv6_packet())
@FIX
def test_ipv6_well_formed(pkt: bytes) -> None:
    assert pkt[0] >> 4 == 6
    assert struct.unpack(">H", pkt[4:6])[0] == len(pkt) - 40
    nh, off = pkt[6], 40
    while nh in (0, 43, 44, 60):
        nxt = pkt[off]
        off += 8 if nh == 44 else (pkt[off + 1] + 1) * 8
        nh = nxt
    if nh in (6, 17, 58):
        seg = pkt[off:]
        pseudo = pkt[8:40] + struct.pack(">IxxxB", len(seg), nh)
        assert inet_csum(pseudo + seg) == 0


@given(packets(), packets(min_size=0, max_size=60))
@FIX
def test_packets_sizes(a: bytes, b: bytes) -> None:
    assert 14 <= len(a) <= MAX_SKB_FRAME
    assert len(b) <= 60


def test_fault_names() -> None:
    assert FAULTS[0] == "none" and len(set(FAULTS)) == len(FAULTS)
