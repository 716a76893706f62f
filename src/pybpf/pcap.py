"""Packet captures: reading classic pcap and pcapng files, writing classic pcap (which
Wireshark and tcpdump read), for running programs over recorded traffic."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from .errors import PyBPFError

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101  # raw IP: IPv4 or IPv6, by the version nibble
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
RAW_IP_LINKTYPES = (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6)
LINKTYPE_NAMES = {0: "NULL", 1: "ETHERNET", 101: "RAW", 105: "IEEE802_11", 113: "LINUX_SLL",
                  127: "IEEE802_11_RADIOTAP", 228: "IPV4", 229: "IPV6", 276: "LINUX_SLL2"}
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
_MAGIC_US = 0xA1B2C3D4
_MAGIC_NS = 0xA1B23C4D
_PCAPNG_SHB = 0x0A0D0D0A


class PcapError(PyBPFError):
    """A capture file that cannot be read."""


class _Truncated(PcapError):
    """The capture ends inside a record (a capture cut short, as tcpdump reports it)."""


@dataclass(frozen=True)
class Packet:
    """One captured frame: timestamp in nanoseconds, bytes as captured, original length."""

    ts_ns: int
    data: bytes
    orig_len: int
    linktype: int = LINKTYPE_ETHERNET


@dataclass(frozen=True)
class Capture:
    """The complete packets of a capture file, and why it ended early (`truncated`: a
    record cut short, as when the capturing process was killed), else None."""

    packets: list[Packet]
    truncated: str | None = None


def read_capture(path: str | Path) -> Capture:
    """Every complete packet of a pcap or pcapng file; a file cut short inside a record
    gives the packets before it and says so in `truncated` (tcpdump reads such files
    the same way and warns)."""
    packets: list[Packet] = []
    try:
        with open(path, "rb") as f:
            try:
                for pkt in iter_pcap(f):
                    packets.append(pkt)
            except _Truncated as e:
                return Capture(packets, str(e))
    except OSError as e:
        raise PcapError(f"cannot read {path}: {e.strerror}") from None
    return Capture(packets)


def read_pcap(path: str | Path) -> list[Packet]:
    """Every packet of a pcap or pcapng file (a truncated file is an error here; see
    read_capture for tcpdump's leniency)."""
    try:
        with open(path, "rb") as f:
            return list(iter_pcap(f))
    except OSError as e:
        raise PcapError(f"cannot read {path}: {e.strerror}") from None


def linktype_name(linktype: int) -> str:
    """"RAW" for 101, ...; "linktype <n>" for one pybpf has no name for."""
    name = LINKTYPE_NAMES.get(linktype)
    return f"{name} ({linktype})" if name else f"linktype {linktype}"


def with_ethernet(packets: list[Packet]) -> tuple[list[Packet], int]:
    """The packets as Ethernet frames, as XDP, tc and every skb program's test run
    expect: raw-IP packets (linktypes RAW, IPV4, IPV6) get a 14-byte header with zero
    MAC addresses and the ethertype of their IP version; Ethernet frames stay as they
    are. Returns the frames and how many got a header. Any other link type is refused
    (its frames would be misread as Ethernet)."""
    out: list[Packet] = []
    added = 0
    for n, p in enumerate(packets, 1):
        if p.linktype == LINKTYPE_ETHERNET:
            out.append(p)
            continue
        if p.linktype not in RAW_IP_LINKTYPES:
            raise PcapError(f"packet {n} has link type {linktype_name(p.linktype)}, which is "
                            "neither Ethernet nor raw IP; pybpf runs Ethernet (1) and raw-IP "
                            "(101, 228, 229) captures")
        version = p.data[0] >> 4 if p.data else 0
        if p.linktype == LINKTYPE_IPV4 or (p.linktype == LINKTYPE_RAW and version == 4):
            proto = ETH_P_IP
        elif p.linktype == LINKTYPE_IPV6 or (p.linktype == LINKTYPE_RAW and version == 6):
            proto = ETH_P_IPV6
        else:
            raise PcapError(f"packet {n} of a raw-IP capture has IP version {version}, "
                            "neither 4 nor 6")
        header = bytes(12) + proto.to_bytes(2, "big")
        out.append(Packet(p.ts_ns, header + p.data, p.orig_len + 14, LINKTYPE_ETHERNET))
        added += 1
    return out, added


def iter_pcap(f: BinaryIO) -> Iterator[Packet]:
    head = f.read(4)
    if len(head) < 4:
        raise PcapError("not a capture file: too short")
    magic_le = struct.unpack("<I", head)[0]
    magic_be = struct.unpack(">I", head)[0]
    if magic_le == _PCAPNG_SHB:
        yield from _iter_pcapng(f, head)
        return
    if magic_le in (_MAGIC_US, _MAGIC_NS):
        endian = "<"
        nano = magic_le == _MAGIC_NS
    elif magic_be in (_MAGIC_US, _MAGIC_NS):
        endian = ">"
        nano = magic_be == _MAGIC_NS
    else:
        raise PcapError(f"not a pcap or pcapng file (magic {head.hex()})")
    rest = f.read(20)
    if len(rest) < 20:
        raise PcapError("truncated pcap header")
    _vmaj, _vmin, _tz, _sig, _snap, linktype = struct.unpack(endian + "HHiIII", rest)
    n = 0
    while True:
        rec = f.read(16)
        if not rec:
            return
        if len(rec) < 16:
            raise _Truncated(f"truncated record header after packet {n}: {len(rec)} of 16 "
                             "bytes")
        sec, frac, incl, orig = struct.unpack(endian + "IIII", rec)
        if incl > 1 << 20:
            raise PcapError(f"packet {n + 1} claims {incl} bytes")
        data = f.read(incl)
        if len(data) < incl:
            raise _Truncated(f"truncated packet {n + 1}: {len(data)} of {incl} bytes")
        n += 1
        yield Packet(sec * 1_000_000_000 + (frac if nano else frac * 1000), data, orig,
                     linktype & 0xFFFF)


def _iter_pcapng(f: BinaryIO, head: bytes) -> Iterator[Packet]:
    """Enhanced and simple packet blocks of a pcapng file (interfaces' link types and
    timestamp resolutions honoured; microseconds unless if_tsresol says otherwise)."""
    endian = "<"
    interfaces: list[tuple[int, int]] = []  # (linktype, ticks per second)
    block_type = _PCAPNG_SHB
    first = True
    while True:
        if first:
            body_len_raw = f.read(4)
            bom = f.read(4)
            if len(bom) < 4:
                raise PcapError("truncated pcapng section header")
            endian = "<" if struct.unpack("<I", bom)[0] == 0x1A2B3C4D else ">"
            total = struct.unpack(endian + "I", body_len_raw)[0]
            body = bom + f.read(max(0, total - 16))
            f.read(4)
            first = False
        else:
            hdr = f.read(8)
            if not hdr:
                return
            if len(hdr) < 8:
                raise _Truncated("truncated pcapng block header")
            block_type, total = struct.unpack(endian + "II", hdr)
            if total < 12 or total > 1 << 24:
                raise PcapError(f"bad pcapng block length {total}")
            body = f.read(total - 12)
            trailer = f.read(4)
            if len(body) < total - 12 or len(trailer) < 4:
                raise _Truncated(f"truncated pcapng block: {len(body) + len(trailer) + 8} of "
                                 f"{total} bytes")
        if block_type == _PCAPNG_SHB:
            interfaces = []
        elif block_type == 1:  # interface description
            linktype = struct.unpack_from(endian + "H", body, 0)[0]
            interfaces.append((linktype, _tsresol(body[8:], endian)))
        elif block_type == 6:  # enhanced packet
            iface, ts_hi, ts_lo, incl, orig = struct.unpack_from(endian + "IIIII", body, 0)
            if iface >= len(interfaces):
                raise PcapError(f"packet on undeclared interface {iface}")
            linktype, tps = interfaces[iface]
            ticks = (ts_hi << 32) | ts_lo
            yield Packet(ticks * 1_000_000_000 // tps, body[20:20 + incl], orig, linktype)
        elif block_type == 3:  # simple packet
            orig = struct.unpack_from(endian + "I", body, 0)[0]
            linktype = interfaces[0][0] if interfaces else LINKTYPE_ETHERNET
            yield Packet(0, body[4:4 + orig], orig, linktype)


def _tsresol(options: bytes, endian: str) -> int:
    off = 0
    while off + 4 <= len(options):
        code, length = struct.unpack_from(endian + "HH", options, off)
        if code == 0:
            break
        if code == 9 and length >= 1:
            v = options[off + 4]
            return 2 ** (v & 0x7F) if v & 0x80 else 10 ** v
        off += 4 + (length + 3) // 4 * 4
    return 1_000_000


def write_pcap(path: str | Path, packets: list[Packet], linktype: int = LINKTYPE_ETHERNET) -> None:
    """A classic (microsecond) pcap file of `packets`."""
    try:
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", _MAGIC_US, 2, 4, 0, 0, 262144, linktype))
            for p in packets:
                sec, ns = divmod(p.ts_ns, 1_000_000_000)
                f.write(struct.pack("<IIII", sec, ns // 1000, len(p.data), max(p.orig_len,
                                                                              len(p.data))))
                f.write(p.data)
    except OSError as e:
        raise PcapError(f"cannot write {path}: {e.strerror}") from None
