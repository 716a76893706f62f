"""pybpf.packets: the checksums and lengths it fills in, checked three ways: a property
(a header holding its checksum sums to 0xffff, by this module's sum and by the VM's
independent csum_partial), the frames of examples/traffic.pcap (made by another
generator) rebuilt byte for byte from their fields, and the kernel's own
bpf_csum_diff over the built packets (through the plugin's bpf_backend fixture)."""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.packets import (ARP, ICMP, TCP, UDP, DestOpts, Dot1Q, Ether, Fragment, HopByHop,
                           ICMPv6, IPv4, IPv6, PacketError, Routing, checksum, ones_sum)
from pybpf.pcap import read_pcap
from pybpf.net.csum import csum_fold, csum_partial

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

ip4 = st.integers(0, (1 << 32) - 1).map(lambda v: str(ipaddress.IPv4Address(v)))
ip6 = st.integers(0, (1 << 128) - 1).map(lambda v: str(ipaddress.IPv6Address(v)))
port = st.integers(0, 65535)
payload = st.binary(max_size=64)


@st.composite
def l4(draw: st.DrawFn, v6: bool) -> object:
    kind = draw(st.sampled_from(["tcp", "udp", "icmp"]))
    if kind == "tcp":
        return TCP(draw(port), draw(port), seq=draw(st.integers(0, (1 << 32) - 1)),
                   ack=draw(st.integers(0, (1 << 32) - 1)),
                   flags=draw(st.sampled_from(["S", "SA", "PA", "F", "R", "FPU"])),
                   options=draw(st.binary(max_size=12)))
    if kind == "udp":
        return UDP(draw(port), draw(port))
    cls = ICMPv6 if v6 else ICMP
    return cls(id=draw(port), seq=draw(port))


def _pseudo(src: bytes, dst: bytes, proto: int, length: int) -> bytes:
    if len(src) == 4:
        return src + dst + struct.pack("!BBH", 0, proto, length)
    return src + dst + struct.pack("!IxxxB", length, proto)


def _check_l4(seg: bytes, proto: int, src: bytes, dst: bytes) -> None:
    if proto == 1:  # ICMP: no pseudo-header
        assert ones_sum(seg) == 0xFFFF
        assert csum_fold(csum_partial(seg)) == 0
        return
    whole = _pseudo(src, dst, proto, len(seg)) + seg
    assert ones_sum(whole) == 0xFFFF
    assert csum_fold(csum_partial(whole)) == 0  # the VM's own csum code agrees
    if proto == 17:
        assert struct.unpack_from("!H", seg, 4)[0] == len(seg)


@settings(max_examples=200, deadline=None)
@given(src=ip4, dst=ip4, tos=st.integers(0, 255), ident=port, ttl=st.integers(1, 255),
       options=st.binary(max_size=8), vlan=st.none() | st.integers(0, 4095),
       upper=l4(False), data=payload)
def test_ipv4_checksums_fold_to_ffff(src: str, dst: str, tos: int, ident: int, ttl: int,
                                     options: bytes, vlan: int | None, upper: object,
                                     data: bytes) -> None:
    pkt = Ether()
    if vlan is not None:
        pkt = pkt / Dot1Q(vid=vlan)
    frame = bytes(pkt / IPv4(src, dst, tos=tos, id=ident, ttl=ttl, options=options) / upper
                  / data)
    off = 18 if vlan is not None else 14
    assert struct.unpack_from("!H", frame, off - 2)[0] == 0x0800
    ihl = (frame[off] & 0xF) * 4
    hdr = frame[off:off + ihl]
    assert ones_sum(hdr) == 0xFFFF and csum_fold(csum_partial(hdr)) == 0
    assert struct.unpack_from("!H", hdr, 2)[0] == len(frame) - off
    _check_l4(frame[off + ihl:], hdr[9], hdr[12:16], hdr[16:20])


@settings(max_examples=200, deadline=None)
@given(src=ip6, dst=ip6, exts=st.lists(st.sampled_from(["hop", "dst", "rt", "frag"]),
                                       max_size=3),
       hops=st.lists(ip6, min_size=1, max_size=3), upper=l4(True), data=payload)
def test_ipv6_with_extension_headers(src: str, dst: str, exts: list[str], hops: list[str],
                                     upper: object, data: bytes) -> None:
    pkt = Ether() / IPv6(src, dst)
    for e in exts:
        pkt = pkt / {"hop": HopByHop(options=b"\x05\x02\x00\x00"), "dst": DestOpts(),
                     "rt": Routing(hops), "frag": Fragment(id=7)}[e]
    frame = bytes(pkt / upper / data)
    assert struct.unpack_from("!H", frame, 54 - 40 - 2)[0] == 0x86DD
    assert struct.unpack_from("!H", frame, 14 + 4)[0] == len(frame) - 54  # payload length
    nh, off = frame[14 + 6], 54
    final = frame[14 + 24:14 + 40]
    while nh in (0, 43, 44, 60):  # walk the chain as a receiver would
        if nh == 44:
            nh, off = frame[off], off + 8
            continue
        length = (frame[off + 1] + 1) * 8
        if nh == 43:
            final = frame[off + length - 16:off + length]
        nh, off = frame[off], off + length
    assert nh == {TCP: 6, UDP: 17, ICMPv6: 58}[type(upper)]
    _check_l4(frame[off:], nh, frame[14 + 8:14 + 24], final)


def test_explicit_fields_are_kept_and_bad_input_is_an_error() -> None:
    frame = bytes(Ether() / IPv4(checksum=0, ttl=1) / UDP(checksum=0) / b"x")
    assert frame[24:26] == b"\0\0" and frame[40:42] == b"\0\0"
    assert ones_sum(frame[14:34]) != 0xFFFF
    assert bytes(Ether(type=0x1234) / b"ab")[12:] == b"\x12\x34ab"
    with pytest.raises(PacketError, match="not an IPv4 address"):
        bytes(IPv4("2001:db8::1") / UDP())
    with pytest.raises(PacketError, match="give type="):
        bytes(Ether() / b"raw")
    with pytest.raises(PacketError, match="IPv4 or IPv6 layer below"):
        bytes(UDP())
    with pytest.raises(PacketError, match="does not fit 12 bits"):
        bytes(Ether() / Dot1Q(vid=5000) / IPv4())
    with pytest.raises(PacketError, match="unknown TCP flag"):
        bytes(IPv4() / TCP(flags="SX"))
    assert checksum(b"\x45\x00\x00\x1c") == (~(0x4500 + 0x001C)) & 0xFFFF


# --- the sample capture, rebuilt from its fields ------------------------------------

def _rebuild(frame: bytes) -> bytes | None:
    """The frame rebuilt with pybpf.packets from the fields read out of it, checksums
    and lengths computed (None for what the rebuild does not cover)."""
    if len(frame) < 14:
        return None
    dst, src, etype = frame[:6], frame[6:12], struct.unpack_from("!H", frame, 12)[0]
    pkt = Ether(dst, src)
    off = 14
    if etype == 0x8100:
        if len(frame) < 18:
            return None
        tci, etype = struct.unpack_from("!HH", frame, 14)
        pkt = pkt / Dot1Q(vid=tci & 0xFFF, pcp=tci >> 13, dei=(tci >> 12) & 1)
        off = 18
    if etype == 0x0806:
        op = struct.unpack_from("!H", frame, off + 6)[0]
        b = frame[off + 8:off + 28]
        return bytes(pkt / ARP(op, b[:6], b[6:10], b[10:16], b[16:20]))
    if etype == 0x0800:
        if len(frame) < off + 20 or frame[off] != 0x45:
            return None
        tos, total, ident, ff, ttl, proto = struct.unpack_from("!xBHHHBB", frame, off)
        if ff & 0x3FFF or off + total > len(frame):
            return None  # fragments (their L4 checksum covers other frames), cut frames
        ip = IPv4(frame[off + 12:off + 16], frame[off + 16:off + 20], tos=tos, id=ident,
                  flags=ff >> 13, ttl=ttl)
        return _upper(pkt / ip, proto, frame[off + 20:off + total], v6=False)
    if etype == 0x86DD:
        word, plen, nh, hlim = struct.unpack_from("!IHBB", frame, off)
        ip6 = IPv6(frame[off + 8:off + 24], frame[off + 24:off + 40], hlim=hlim,
                   tc=(word >> 20) & 0xFF, flow=word & 0xFFFFF)
        return _upper(pkt / ip6, nh, frame[off + 40:off + 40 + plen], v6=True)
    return None


def _upper(pkt, proto: int, seg: bytes, v6: bool) -> bytes | None:  # type: ignore[no-untyped-def]
    if proto == 6:
        sport, dport, seq, ack, doff, flags, win, _, urg = struct.unpack_from("!HHIIBBHHH", seg)
        hl = (doff >> 4) * 4
        return bytes(pkt / TCP(sport, dport, seq, ack, flags, win, urg, seg[20:hl]) / seg[hl:])
    if proto == 17:
        sport, dport, _, csum = struct.unpack_from("!HHHH", seg)
        return bytes(pkt / UDP(sport, dport, checksum=0 if csum == 0 else None) / seg[8:])
    if proto in (1, 58):
        t, code, _, ident, seq = struct.unpack_from("!BBHHH", seg)
        cls = ICMPv6 if v6 else ICMP
        return bytes(pkt / cls(t, code, ident, seq) / seg[8:])
    return None


def test_rebuilds_the_sample_capture_byte_for_byte() -> None:
    """Every frame of traffic.pcap the rebuild covers comes out identical, but the four
    the capture's README says carry a bad checksum (two IPv4 headers, one TCP, one
    UDP), which differ in exactly that checksum field."""
    rebuilt = differ = 0
    bad_fields = []
    for p in read_pcap(EXAMPLES / "traffic.pcap"):
        out = _rebuild(p.data)
        if out is None:
            continue
        rebuilt += 1
        frame = p.data[:len(out)]
        assert not any(p.data[len(out):]), "only Ethernet padding follows"
        if out != frame:
            differ += 1
            diff = [i for i in range(len(out)) if out[i] != frame[i]]
            bad_fields.append((diff[0], diff[-1]))
    assert rebuilt == 296  # all but the 2 fragments and the 4 malformed or cut frames
    assert differ == 4
    # offsets in the frame: IPv4 header checksum 24-25, TCP 50-51, UDP 40-41
    assert sorted(bad_fields) == [(24, 25), (24, 25), (40, 41), (50, 51)]


# --- the kernel's csum_diff over built packets ------------------------------------------

def _csum_program(l4_len: int):  # type: ignore[no-untyped-def]
    """An XDP program returning bpf_csum_diff over the IPv4 header (mode 0) or over
    the IPv4 addresses then the L4 segment of `l4_len` bytes (mode 1, the first byte of
    the packet's Ethernet source says which)."""
    from pybpf.builder import R0, R1, R2, R3, R4, R5, R6, R7, ObjectBuilder
    ob = ObjectBuilder()
    p = ob.program("csum", "xdp")
    p.ldxw(R6, R1, 0).ldxw(R7, R1, 4)
    p.mov64(R2, R6).add64(R2, 34 + l4_len).jgt(R2, R7, "short")
    p.ldxb(R2, R6, 6).jeq(R2, 1, "l4")
    p.mov64(R1, 0).mov64(R2, 0).mov64(R3, R6).add64(R3, 14).mov64(R4, 20).mov64(R5, 0)
    p.call("csum_diff").exit()
    p.label("l4")
    p.mov64(R1, 0).mov64(R2, 0).mov64(R3, R6).add64(R3, 26).mov64(R4, 8).mov64(R5, 0)
    p.call("csum_diff")
    p.mov64(R5, R0).mov64(R1, 0).mov64(R2, 0).mov64(R3, R6).add64(R3, 34)
    p.mov64(R4, l4_len).call("csum_diff").exit()
    p.label("short").ret(0)
    return ob.build()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # a str: nothing to reset
@given(data=st.data())
def test_kernel_csum_diff_agrees(bpf_backend: str, data: st.DataObject) -> None:
    """bpf_csum_diff (the kernel's csum_partial in the kernel run) over a built
    packet's IPv4 header and its TCP/UDP segment with the pseudo-header folds to 0."""
    plen = data.draw(st.sampled_from([0, 4, 8, 12]))
    upper = data.draw(st.sampled_from(["tcp", "udp"]))
    body = data.draw(st.binary(min_size=plen, max_size=plen))
    l4 = TCP(data.draw(port), data.draw(port), seq=data.draw(port)) if upper == "tcp" \
        else UDP(data.draw(port), data.draw(port))
    l4_len = (20 if upper == "tcp" else 8) + plen
    ip = IPv4(data.draw(ip4), data.draw(ip4), id=data.draw(port))
    spec = _csum_program(l4_len)
    with spec.instantiate(bpf_backend) as obj:
        run = obj.programs["csum"].test_run
        hdr_sum = run(bytes(Ether(src=b"\0" * 6) / ip / l4 / body)).retval
        l4_sum = run(bytes(Ether(src=b"\1" + b"\0" * 5) / ip / l4 / body)).retval
    assert csum_fold(hdr_sum) == 0
    proto_len = struct.pack("!HH", 6 if upper == "tcp" else 17, l4_len)
    assert csum_fold(csum_partial(proto_len, l4_sum)) == 0
