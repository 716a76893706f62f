"""Packet captures: reading classic pcap and pcapng files, writing classic pcap (which
Wireshark and tcpdump read), for running programs over recorded traffic."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from .errors import PyBPFError

LINKTYPE_ETHERNET = 1
_MAGIC_US = 0xA1B2C3D4
_MAGIC_NS = 0xA1B23C4D
_PCAPNG_SHB = 0x0A0D0D0A


class PcapError(PyBPFError):
    """A capture file that cannot be read."""


@dataclass(frozen=True)
class Packet:
    """One captured frame: timestamp in nanoseconds, bytes as captured, original length."""

    ts_ns: int
    data: bytes
    orig_len: int
    linktype: int = LINKTYPE_ETHERNET


def read_pcap(path: str | Path) -> list[Packet]:
    """Every packet of a pcap or pcapng file."""
    try:
        with open(path, "rb") as f:
            return list(iter_pcap(f))
    except OSError as e:
        raise PcapError(f"cannot read {path}: {e.strerror}") from None


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
            raise PcapError(f"truncated record header after packet {n}")
        sec, frac, incl, orig = struct.unpack(endian + "IIII", rec)
        if incl > 1 << 20:
            raise PcapError(f"packet {n + 1} claims {incl} bytes")
        data = f.read(incl)
        if len(data) < incl:
            raise PcapError(f"truncated packet {n + 1}")
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
                raise PcapError("truncated pcapng block")
            block_type, total = struct.unpack(endian + "II", hdr)
            if total < 12 or total > 1 << 24:
                raise PcapError(f"bad pcapng block length {total}")
            body = f.read(total - 12)
            f.read(4)
            if len(body) < total - 12:
                raise PcapError("truncated pcapng block")
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
