"""Packet builders for tests: Ethernet, 802.1Q, ARP, IPv4, IPv6 with extension headers,
TCP, UDP, ICMP and ICMPv6, stacked with `/` as in scapy, with lengths, next-protocol
fields and checksums (RFC 1071; the L4 ones over the IPv4/IPv6 pseudo-header) filled in
when the packet is turned into bytes:

    frame = bytes(Ether() / Dot1Q(vid=100) / IPv4("10.0.0.1", "10.0.0.2")
                  / TCP(1234, 80, flags="S") / b"hello")

Any field given explicitly (a checksum, a length, a next header) is kept as given, so
malformed packets are one argument away (`IPv4(..., checksum=0)`). Standard library
only; no scapy needed."""

from __future__ import annotations

from abc import ABC, abstractmethod

import ipaddress
import struct
from dataclasses import dataclass, field
from typing import ClassVar, Iterable, Sequence, Union

from .errors import PyBPFError

__all__ = ["PacketError", "Layer", "Packet", "Raw", "Ether", "Dot1Q", "ARP", "IPv4", "IPv6",
           "HopByHop", "DestOpts", "Routing", "Fragment", "TCP", "UDP", "ICMP", "ICMPv6",
           "checksum", "ones_sum", "mac_bytes", "TCP_FLAGS"]

ETH_P_IP, ETH_P_IPV6, ETH_P_ARP, ETH_P_8021Q, ETH_P_8021AD = 0x0800, 0x86DD, 0x0806, 0x8100, \
    0x88A8
TCP_FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20, "E": 0x40,
             "C": 0x80}


class PacketError(PyBPFError, ValueError):
    """A packet that cannot be built: a bad address, a field out of range, a next
    protocol that cannot be inferred."""


def ones_sum(data: bytes, start: int = 0) -> int:
    """The 16-bit ones' complement sum of `data` (big-endian words, an odd last byte
    padded with zero), folded, added to `start`."""
    if len(data) % 2:
        data += b"\0"
    total = start + sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def checksum(data: bytes, start: int = 0) -> int:
    """The Internet checksum (RFC 1071) of `data`: the complement of its ones' sum. A
    header holding its correct checksum has ones_sum(header) == 0xffff."""
    return ~ones_sum(data, start) & 0xFFFF


def mac_bytes(mac: "str | bytes") -> bytes:
    """b'\\x02...' from "02:00:00:00:00:01" (or '-' separated, or 6 bytes)."""
    if isinstance(mac, (bytes, bytearray)) and len(mac) == 6:
        return bytes(mac)
    if isinstance(mac, str):
        parts = mac.replace("-", ":").split(":")
        try:
            if len(parts) == 6 and all(len(p) <= 2 for p in parts):
                return bytes(int(p, 16) for p in parts)
        except ValueError:
            pass
    raise PacketError(f"not a MAC address: {mac!r}")


def _ip(addr: object, version: int) -> bytes:
    try:
        if isinstance(addr, (bytes, bytearray)):
            if len(addr) == (4 if version == 4 else 16):
                return bytes(addr)
            raise ValueError
        ip = ipaddress.ip_address(addr)  # type: ignore[arg-type]  # else ValueError, below
    except ValueError:
        raise PacketError(f"not an IPv{version} address: {addr!r}") from None
    if ip.version != version:
        raise PacketError(f"{addr!r} is not an IPv{version} address")
    return ip.packed


def _u(value: int, bits: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << bits:
        raise PacketError(f"{what} {value!r} does not fit {bits} bits")
    return value


class Layer(ABC):
    """One header. `a / b` stacks layers (or bytes) into a Packet."""

    ethertype: ClassVar[int | None] = None  # what Ethernet/802.1Q call this layer
    ipproto: ClassVar[int | None] = None    # what IPv4/IPv6 call it

    def __truediv__(self, other: "Layer | Packet | bytes") -> "Packet":
        return Packet([self]) / other

    def __rtruediv__(self, other: bytes) -> "Packet":  # pragma: no cover - bytes / layer
        return Packet([Raw(bytes(other)), self])

    def __bytes__(self) -> bytes:
        return bytes(Packet([self]))

    @abstractmethod
    def encode(self, payload: bytes, pkt: "Packet", index: int) -> bytes:
        ...


@dataclass
class Raw(Layer):
    """Payload bytes."""

    data: bytes = b""

    def encode(self, payload: bytes, pkt: "Packet", index: int) -> bytes:
        return bytes(self.data) + payload


class Packet:
    """A stack of layers; bytes(packet) builds it, innermost first, so each header
    sees what it carries (lengths, checksums) and what carries it (pseudo-headers)."""

    def __init__(self, layers: Iterable[Layer]) -> None:
        self.layers: list[Layer] = list(layers)

    def __truediv__(self, other: "Layer | Packet | bytes") -> "Packet":
        if isinstance(other, Packet):
            return Packet(self.layers + other.layers)
        if isinstance(other, (bytes, bytearray)):
            return Packet(self.layers + [Raw(bytes(other))])
        if isinstance(other, Layer):
            return Packet(self.layers + [other])
        raise PacketError(f"cannot stack {type(other).__name__} on a packet")

    def __bytes__(self) -> bytes:
        data = b""
        for i in range(len(self.layers) - 1, -1, -1):
            data = self.layers[i].encode(data, self, i)
        return data

    def __len__(self) -> int:
        return len(bytes(self))

    def __getitem__(self, cls: type) -> Layer:
        """The first layer of class `cls`."""
        for layer in self.layers:
            if isinstance(layer, cls):
                return layer
        raise KeyError(cls.__name__)

    def __repr__(self) -> str:
        return " / ".join(repr(layer) for layer in self.layers)

    def next_layer(self, index: int) -> Layer | None:
        return self.layers[index + 1] if index + 1 < len(self.layers) else None

    def next_ethertype(self, index: int, given: int | None, what: str) -> int:
        if given is not None:
            return _u(given, 16, f"{what} type")
        nxt = self.next_layer(index)
        if nxt is None or nxt.ethertype is None:
            raise PacketError(f"{what}: give type= (the layer after it, "
                              f"{type(nxt).__name__ if nxt else 'nothing'}, has no EtherType)")
        return nxt.ethertype

    def next_ipproto(self, index: int, given: int | None, what: str) -> int:
        if given is not None:
            return _u(given, 8, f"{what} next header")
        nxt = self.next_layer(index)
        if nxt is None:
            return 59  # IPPROTO_NONE: no next header
        if nxt.ipproto is None:
            raise PacketError(f"{what}: give the protocol (the layer after it, "
                              f"{type(nxt).__name__}, has no IP protocol number)")
        return nxt.ipproto

    def pseudo_header_sum(self, index: int, proto: int, length: int) -> int:
        """The ones' sum of the IPv4/IPv6 pseudo-header for the L4 layer at `index`
        (IPv6: the final destination, the last address of a routing header)."""
        final: bytes | None = None
        for i in range(index - 1, -1, -1):
            layer = self.layers[i]
            if isinstance(layer, Routing) and layer.addresses and final is None:
                final = _ip(layer.addresses[-1], 6)
            if isinstance(layer, IPv4):
                return ones_sum(_ip(layer.src, 4) + _ip(layer.dst, 4)
                                + struct.pack("!BBH", 0, proto, length))
            if isinstance(layer, IPv6):
                dst = final if final is not None else _ip(layer.dst, 6)
                return ones_sum(_ip(layer.src, 6) + dst + struct.pack("!IxxxB", length, proto))
        raise PacketError(f"{type(self.layers[index]).__name__}: its checksum needs an IPv4 "
                          "or IPv6 layer below it (or give checksum=)")


@dataclass
class Ether(Layer):
    """Ethernet II: destination, source, EtherType (from the next layer unless given)."""

    dst: "str | bytes" = "02:00:00:00:00:02"
    src: "str | bytes" = "02:00:00:00:00:01"
    type: int | None = None

    def encode(self, payload: bytes, pkt: Packet, index: int) -> bytes:
        return mac_bytes(self.dst) + mac_bytes(self.src) + struct.pack(
            "!H", pkt.next_ethertype(index, self.type, "Ether")) + payload


@dataclass
class Dot1Q(Layer):
    """An 802.1Q VLAN tag (TPID 0x8100 from the layer below); `type` is the
    encapsulated EtherType."""

    vid: int = 0
    pcp: int = 0
    dei: int = 0
    type: int | None = None
    ethertype: ClassVar[int | None] = ETH_P_8021Q

    def encode(self, payload: bytes, pkt: Packet, index: int) -> bytes:
        tci = (_u(self.pcp, 3, "pcp") << 13) | (_u(self.dei, 1, "dei") << 12) | \
            _u(self.vid, 12, "vid")
        return struct.pack("!HH", tci, pkt.next_ethertype(index, self.type, "Dot1Q")) + payload


@dataclass
class ARP(Layer):
    """ARP for IPv4 over Ethernet: op 1 request, 2 reply."""

    op: int = 1
    sha: "str | bytes" = "02:00:00:00:00:01"
    spa: "str | bytes" = "10.0.0.1"
    tha: "str | bytes" = "00:00:00:00:00:00"
    tpa: "str | bytes" = "10.0.0.2"
    ethertype: ClassVar[int | None] = ETH_P_ARP

    def encode(self, payload: bytes, pkt: Packet, index: int) -> bytes:
        return struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, _u(self.op, 16, "ARP op")) + \
            mac_bytes(self.sha) + _ip(self.spa, 4) + mac_bytes(self.tha) + _ip(self.tpa, 4) + \
            payload


@dataclass
class IPv4(Layer):
    """IPv4. `frag` is the fragment offset in 8-byte units, `flags` 2 = DF, 1 = MF;
    `options` raw option bytes (padded to 4); total length, IHL and the header
    checksum are computed unless given."""

    src: "str | bytes" = "10.0.0.1"
    dst: "str | bytes" = "10.0.0.2"
    proto: int | None = None
    ttl: int = 64
    tos: int = 0
    id: int = 0
    flags: int = 0
    frag: int = 0
    options: bytes = b""
    ihl: int | None = None
    total_length: int | None = None
    checksum: int | None = None
    ethertype: ClassVar[int | None] = ETH_P_IP
    ipproto: ClassVar[int | None] = 4  # IP in IP

    def encode(self, payload: bytes, pkt: Packet, index: int) -> bytes:
        opts = bytes(self.options) + b"\0" * (-len(self.options) % 4)
        ihl = self.ihl if self.ihl is not None else 5 + len(opts) // 4
        total = self.total_length if self.total_length is not None else \
            20 + len(opts) + len(payload)
        hdr = struct.pack("!BBHHHBBH4s4s", (4 << 4) | _u(ihl, 4, "ihl"), _u(self.tos, 8, "tos"),
                          _u(total, 16, "total length"), _u(self.id, 16, "id"),
                          (_u(self.flags, 3, "flags") << 13) | _u(self.frag, 13, "frag"),
                          _u(self.ttl, 8, "ttl"), pkt.next_ipproto(index, self.proto, "IPv4"),
                          0, _ip(self.src, 4), _ip(self.dst, 4)) + opts
        csum = self.checksum if self.checksum is not None else checksum(hdr)
        return hdr[:10] + struct.pack("!H", _u(csum, 16, "checksum")) + hdr[12:] + payload


@dataclass
class IPv6(Layer):
    """IPv6; the payload length (extension headers included) and next header are
    computed unless given."""

    src: "str | bytes" = "2001:db8::1"
    dst: "str | bytes" = "2001:db8::2"
    nh: int | None = None
    hlim: int = 64
    tc: int = 0
    flow: int = 0
    plen: int | None = None
    ethertype: ClassVar[int | None] = ETH_P_IPV6
    ipproto: ClassVar[int | None] = 41  # IPv6 in IP

    def encode(self, payload: bytes, pkt: Packet, index: int) -> bytes:
        plen = self.plen if self.plen is not None else len(payload)
        word = (6 << 28) | (_u(self.tc, 8, "traffic class") << 20) | _u(self.flow, 20, "flow")
        return struct.pack("!IHBB", word, _u(plen, 16, "payload length"),
                           pkt.next_ipproto(index, self.nh, "IPv6"), _u(self.hlim, 8, "hlim")) \
            + _ip(self.src, 6) + _ip(self.dst, 6) + payload


def _tlv_options(options: bytes) -> bytes:
    """Options padded (Pad1 / PadN) so that the header is a multiple of 8 bytes."""
    pad = -(2 + len(options)) % 8
    if pad == 1:
        return options + b"\0"
    if pad:
        return options + bytes([1, pad - 2]) + b"\0" * (pad - 2)
    return options


@dataclass
class HopByHop(Layer):
    """IPv6 Hop-by-Hop Options header (options as raw TLVs, padded)."""

    options: bytes = b""
    nh: int | None = None
    ipproto: ClassVar[int | None] = 0

    def encode(self, payload: bytes, pkt: Packet, index: int) -> bytes:
        body = _tlv_options(bytes(self.options))
        return struct.pack("!BB", pkt.next_ipproto(index, self.nh, type(self).__name__),
                           (2 + len(body)) // 8 - 1) + body + payload


@dataclass
class DestOpts(HopByHop):
    """IPv6 Destination Options header."""

    ipproto: ClassVar[int | None] = 60


@dataclass
class Routing(Layer):
    """IPv6 Routing header: `type` (0, 2 or 3), `segments_left`, and the addresses
    (the last is the final destination, used in the L4 pseudo-header)."""

    addresses: Sequence["str | bytes"] = field(default_factory=list)
    segments_left: int | None = None
    type: int = 0
    nh: int | None = None
    ipproto: ClassVar[int | None] = 43

    def encode(self, payload: bytes, pkt: Packet, index: int) -> bytes:
        addrs = b"".join(_ip(a, 6) for a in self.addresses)
        left = self.segments_left if self.segments_left is not None else len(self.addresses)
        return struct.pack("!BBBBI", pkt.next_ipproto(index, self.nh, "Routing"),
                           len(addrs) // 8, _u(self.type, 8, "routing type"),
                           _u(left, 8, "segments left"), 0) + addrs + payload


@dataclass
class Fragment(Layer):
    """IPv6 Fragment header: offset in 8-byte units, more-fragments flag, id."""

    offset: int = 0
    more: bool = False
    id: int = 0
    nh: int | None = None
    ipproto: ClassVar[int | None] = 44

    def encode(self, payload: bytes, pkt: Packet, index: int) -> bytes:
        return struct.pack("!BBHI", pkt.next_ipproto(index, self.nh, "Fragment"), 0,
                           (_u(self.offset, 13, "fragment offset") << 3) | int(bool(self.more)),
                           _u(self.id, 32, "id")) + payload


def _l4_checksum(layer: Layer, segment: bytes, offset: int, given: int | None, pkt: Packet,
                 index: int, zero_is_ffff: bool) -> bytes:
    if given is not None:
        csum = _u(given, 16, "checksum")
    else:
        csum = checksum(segment, pkt.pseudo_header_sum(index, layer.ipproto or 0,
                                                       len(segment)))
        if zero_is_ffff and csum == 0:
            csum = 0xFFFF  # UDP: 0 means "no checksum", so a computed 0 is sent as 0xffff
    return segment[:offset] + struct.pack("!H", csum) + segment[offset + 2:]


def _tcp_flags(flags: "str | int") -> int:
    if isinstance(flags, int) and not isinstance(flags, bool):
        return _u(flags, 8, "TCP flags")
    out = 0
    for ch in str(flags).upper():
        if ch not in TCP_FLAGS:
            raise PacketError(f"unknown TCP flag {ch!r} (one of {''.join(TCP_FLAGS)})")
        out |= TCP_FLAGS[ch]
    return out


@dataclass
class TCP(Layer):
    """TCP; `flags` as letters ("S", "SA", "PA", "F", "R") or a number; options raw
    (padded to 4 bytes)."""

    sport: int = 12345
    dport: int = 80
    seq: int = 0
    ack: int = 0
    flags: "str | int" = "S"
    window: int = 65535
    urg: int = 0
    options: bytes = b""
    checksum: int | None = None
    ipproto: ClassVar[int | None] = 6

    def encode(self, payload: bytes, pkt: Packet, index: int) -> bytes:
        opts = bytes(self.options) + b"\0" * (-len(self.options) % 4)
        doff = 5 + len(opts) // 4
        seg = struct.pack("!HHIIBBHHH", _u(self.sport, 16, "sport"), _u(self.dport, 16, "dport"),
                          _u(self.seq, 32, "seq"), _u(self.ack, 32, "ack"),
                          _u(doff, 4, "data offset") << 4, _tcp_flags(self.flags),
                          _u(self.window, 16, "window"), 0,
                          _u(self.urg, 16, "urg")) + opts + payload
        return _l4_checksum(self, seg, 16, self.checksum, pkt, index, False)


@dataclass
class UDP(Layer):
    """UDP; the length and checksum are computed unless given (checksum=0: none)."""

    sport: int = 12345
    dport: int = 53
    length: int | None = None
    checksum: int | None = None
    ipproto: ClassVar[int | None] = 17

    def encode(self, payload: bytes, pkt: Packet, index: int) -> bytes:
        length = self.length if self.length is not None else 8 + len(payload)
        seg = struct.pack("!HHHH", _u(self.sport, 16, "sport"), _u(self.dport, 16, "dport"),
                          _u(length, 16, "length"), 0) + payload
        return _l4_checksum(self, seg, 6, self.checksum, pkt, index, True)


@dataclass
class ICMP(Layer):
    """ICMP (IPv4); type 8 echo request by default, `id`/`seq` the rest of the header
    (for other types, `rest` gives its 4 bytes)."""

    type: int = 8
    code: int = 0
    id: int = 0
    seq: int = 0
    rest: bytes | None = None
    checksum: int | None = None
    ipproto: ClassVar[int | None] = 1

    def _header(self) -> bytes:
        rest = self.rest if self.rest is not None else struct.pack(
            "!HH", _u(self.id, 16, "id"), _u(self.seq, 16, "seq"))
        if len(rest) != 4:
            raise PacketError(f"{type(self).__name__}: rest is 4 bytes, got {len(rest)}")
        return struct.pack("!BBH", _u(self.type, 8, "type"), _u(self.code, 8, "code"), 0) + rest

    def encode(self, payload: bytes, pkt: Packet, index: int) -> bytes:
        msg = self._header() + payload
        csum = self.checksum if self.checksum is not None else checksum(msg)
        return msg[:2] + struct.pack("!H", _u(csum, 16, "checksum")) + msg[4:]


@dataclass
class ICMPv6(ICMP):
    """ICMPv6; type 128 echo request by default; the checksum covers the IPv6
    pseudo-header."""

    type: int = 128
    ipproto: ClassVar[int | None] = 58

    def encode(self, payload: bytes, pkt: Packet, index: int) -> bytes:
        return _l4_checksum(self, self._header() + payload, 2, self.checksum, pkt, index, False)


AnyLayer = Union[Layer, bytes]
