"""Packet captures: reading classic pcap and pcapng files, writing classic pcap (which
Wireshark and tcpdump read), for running programs over recorded traffic."""

from __future__ import annotations

import itertools
import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, cast

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
MAX_PACKET = 1 << 20
"""The most bytes one classic-pcap record may claim (tcpdump's largest snapshot length
is 256 KiB)."""
MAX_BLOCK = 1 << 24
"""The longest pcapng block pybpf reads (16 MiB): a length past it is refused unread."""
_READ_CHUNK = 1 << 16


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


_new = object.__new__
_set = object.__setattr__


def _packet(ts_ns: int, data: bytes, orig_len: int, linktype: int) -> Packet:
    """Packet(ts_ns, data, orig_len, linktype) without the frozen dataclass's
    field-by-field __init__, for readers that make one a packet."""
    p = _new(Packet)
    _set(p, "__dict__", {"ts_ns": ts_ns, "data": data, "orig_len": orig_len,
                         "linktype": linktype})
    return p


@dataclass(frozen=True)
class Capture:
    """The complete packets of a capture file, and why it ended early (`truncated`: a
    record cut short, as when the capturing process was killed), else None."""

    packets: list[Packet]
    truncated: str | None = None


class CaptureReader:
    """The packets of a pcap or pcapng file as a stream: iterate once; memory stays
    flat whatever the capture's size. A file cut short inside a record ends the stream
    after its complete packets and says so in `truncated` (tcpdump reads such files
    the same way and warns); any other malformation raises PcapError. `packets` counts
    what was read. Use as a context manager (or close()) to release the file."""

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self.truncated: str | None = None
        self.packets = 0
        self._started = False
        self._head = b""  # bytes read ahead by record_buffer() (pcapng: replayed)
        try:
            self._file: BinaryIO | None = open(path, "rb")
        except OSError as e:
            raise PcapError(f"cannot read {path}: {e.strerror}") from None

    def __iter__(self) -> Iterator[Packet]:
        if self._started or self._file is None:
            raise PcapError(f"{self.path}: a capture is read once (open another reader)")
        self._started = True
        f = cast(BinaryIO, _Prefixed(self._file, self._head)) if self._head else self._file
        try:
            for pkt in iter_pcap(f):
                self.packets += 1
                yield pkt
        except _Truncated as e:
            self.truncated = str(e)
        except OSError as e:
            raise PcapError(f"cannot read {self.path}: {e.strerror}") from None
        finally:
            self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def classic(self) -> bool:
        """Whether the file is a classic pcap of Ethernet frames (its header read
        ahead, nothing else; iterating still reads it from the start): what
        record_buffer() serves."""
        return self._classic() is not None

    def record_buffer(self) -> "RecordBuffer | None":
        """The records of a classic pcap of Ethernet frames, for a reader that walks
        them itself (pybpf.jit.batch): the stream is then read through the buffer, not
        iterated. None for anything else (pcapng, another link type, not a capture:
        iterating still reads it, and says what is wrong)."""
        kind = self._classic()
        if kind is None:
            return None
        self._started = True
        return RecordBuffer(self, *kind)

    def _classic(self) -> tuple[bool, bool] | None:
        """(big-endian, nanoseconds) of a classic pcap of Ethernet frames not read yet,
        else None."""
        if self._started or self._file is None:
            return None
        try:
            if not self._head:
                self._head = _read(self._file, 24)
        except OSError as e:
            raise PcapError(f"cannot read {self.path}: {e.strerror}") from None
        head = self._head
        if len(head) < 24:
            return None
        magic_le = struct.unpack("<I", head[:4])[0]
        magic_be = struct.unpack(">I", head[:4])[0]
        if magic_le in (_MAGIC_US, _MAGIC_NS):
            endian, nano = "<", magic_le == _MAGIC_NS
        elif magic_be in (_MAGIC_US, _MAGIC_NS):
            endian, nano = ">", magic_be == _MAGIC_NS
        else:
            return None
        linktype = struct.unpack(endian + "I", head[20:24])[0] & 0xFFFF
        if linktype != LINKTYPE_ETHERNET:
            return None
        return endian == ">", nano

    def __enter__(self) -> "CaptureReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def primed(packets: Iterable[Packet]) -> Iterator[Packet]:
    """The stream with its first packet already read, so that a file that is no
    capture fails at once, before anything is set up to run it."""
    it = iter(packets)
    first = next(it, None)
    return itertools.chain(() if first is None else (first,), it)


def count_packets(path: str | Path) -> int:
    """How many complete packets a capture holds (one pass, nothing kept): the total
    for a progress bar before the packets are streamed. 0 (unknown) for what is not a
    regular file: a pipe read here would be gone for the run."""
    if not Path(path).is_file():
        return 0
    with CaptureReader(path) as reader:
        return sum(1 for _ in reader)


def read_capture(path: str | Path) -> Capture:
    """Every complete packet of a pcap or pcapng file, in a list; a file cut short
    inside a record gives the packets before it and says so in `truncated`. For large
    captures iterate a CaptureReader instead."""
    with CaptureReader(path) as reader:
        packets = list(reader)
    return Capture(packets, reader.truncated)


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
    """The packets as Ethernet frames (see as_ethernet), and how many got a header."""
    out = [as_ethernet(p, n) for n, p in enumerate(packets, 1)]
    return out, sum(1 for p, q in zip(packets, out) if p is not q)


def as_ethernet(p: Packet, n: int = 1) -> Packet:
    """The packet as an Ethernet frame, as XDP, tc and every skb program's test run
    expect: a raw-IP packet (linktypes RAW, IPV4, IPV6) gets a 14-byte header with zero
    MAC addresses and the ethertype of its IP version; an Ethernet frame is returned
    as it is. Any other link type is refused (its frames would be misread as
    Ethernet); `n` numbers the packet in the message."""
    if p.linktype == LINKTYPE_ETHERNET:
        return p
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
    return Packet(p.ts_ns, header + p.data, p.orig_len + 14, LINKTYPE_ETHERNET)


class EthernetFrames:
    """as_ethernet over a stream of packets, counting in `added` the frames that were
    given a header."""

    def __init__(self, packets: Iterable[Packet]) -> None:
        self._packets = packets
        self.added = 0

    def __iter__(self) -> Iterator[Packet]:
        for n, p in enumerate(self._packets, 1):
            if p.linktype == LINKTYPE_ETHERNET:
                yield p
                continue
            frame = as_ethernet(p, n)
            if frame is not p:
                self.added += 1
            yield frame


def record_buffer_of(packets: Iterable[Any]) -> "RecordBuffer | None":
    """The record buffer of a classic pcap of Ethernet frames not read yet (a
    CaptureReader, or EthernetFrames over one: its frames need no header), for a walker
    that cuts the packets out itself; None for any other stream or list."""
    source = packets._packets if isinstance(packets, EthernetFrames) else packets
    return source.record_buffer() if isinstance(source, CaptureReader) else None


def frame_data(packets: Iterable[Any]) -> Iterable[Any]:
    """What a run that needs each packet's bytes and nothing else iterates: the frames
    of a classic pcap of Ethernet frames not read yet cut straight out of its record
    buffer (record_buffer_of); `packets` as it is otherwise."""
    buffer = record_buffer_of(packets)
    return packets if buffer is None else buffer.frames()


def _read(f: BinaryIO, n: int) -> bytes:
    """Up to n bytes (fewer only at the end of the stream), read in bounded pieces: a
    length field claiming more than the file holds never allocates more than the file
    holds."""
    part = f.read(min(n, _READ_CHUNK))
    if len(part) == n or not part:
        return part
    parts = [part]
    n -= len(part)
    while n > 0:
        part = f.read(min(n, _READ_CHUNK))
        if not part:
            break
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def iter_pcap(f: BinaryIO) -> Iterator[Packet]:
    """The packets of a pcap or pcapng stream, one at a time. PcapError for anything
    malformed; _Truncated (a PcapError) when the stream ends inside a record."""
    head = _read(f, 4)
    if len(head) < 4:
        raise PcapError("not a capture file: too short")
    magic_le = struct.unpack("<I", head)[0]
    magic_be = struct.unpack(">I", head)[0]
    if magic_le == _PCAPNG_SHB:
        yield from _iter_pcapng(f)
        return
    if magic_le in (_MAGIC_US, _MAGIC_NS):
        endian = "<"
        nano = magic_le == _MAGIC_NS
    elif magic_be in (_MAGIC_US, _MAGIC_NS):
        endian = ">"
        nano = magic_be == _MAGIC_NS
    else:
        raise PcapError(f"not a pcap or pcapng file (magic {head.hex()})")
    rest = _read(f, 20)
    if len(rest) < 20:
        raise PcapError("truncated pcap header")
    _vmaj, _vmin, _tz, _sig, _snap, linktype = struct.unpack(endian + "HHiIII", rest)
    yield from _records(f, endian, nano, linktype & 0xFFFF)


def too_big(n: int, incl: int) -> PcapError:
    """The error of record `n` (from 1) claiming `incl` bytes, past MAX_PACKET."""
    return PcapError(f"packet {n} claims {incl} bytes, more than the {MAX_PACKET} pybpf "
                     "reads (MAX_PACKET)")


class _Prefixed:
    """A stream with `head` (bytes already read from it) put back in front."""

    def __init__(self, f: BinaryIO, head: bytes) -> None:
        self._f = f
        self._head = head

    def read(self, n: int = -1) -> bytes:
        if not self._head:
            return self._f.read(n)
        if n < 0:
            out, self._head = self._head + self._f.read(), b""
            return out
        out, self._head = self._head[:n], self._head[n:]
        return out


RECORD_BUFFER = 1 << 20
"""Bytes of a capture a RecordBuffer holds at a time (more only for a record that
needs it, which MAX_PACKET bounds)."""


class RecordBuffer:
    """A classic pcap's records in memory, for a walker that cuts packets out of `buf`
    itself, from offset `pos` to `end`: `fill()` reads on once it stopped (into the
    same buffer of RECORD_BUFFER bytes, grown only for a record that needs it), with
    _records' errors; a capture cut short ends with the reader's `truncated` set, as
    iterating it does. `packets` (the walker's count) goes to the reader."""

    def __init__(self, reader: CaptureReader, big_endian: bool, nano: bool) -> None:
        self.reader = reader
        self.big_endian = big_endian
        self.nano = nano
        self.buf = bytearray(RECORD_BUFFER)
        self.pos = 0
        self.end = 0
        self.packets = 0
        self._header = struct.Struct((">" if big_endian else "<") + "IIII")

    def header(self, pos: int) -> tuple[int, int, int, int]:
        """The record header at `pos`: ts_sec, ts_frac, incl_len, orig_len."""
        return self._header.unpack_from(self.buf, pos)

    def ts_ns(self, sec: int, frac: int) -> int:
        return sec * 1_000_000_000 + frac * (1 if self.nano else 1000)

    def fill(self) -> bool:
        """More records from the stream after `pos` (no complete record is left there):
        False at the end of the capture (the reader closed, `truncated` set when it
        ended inside a record); PcapError for a record past MAX_PACKET or a read error."""
        f = self.reader._file
        if f is None:
            return False
        try:
            return self._fill(f)
        except _Truncated as e:
            self.reader.truncated = str(e)
        except OSError as e:
            raise PcapError(f"cannot read {self.reader.path}: {e.strerror}") from None
        self.close()
        return False

    def _fill(self, f: Any) -> bool:
        buf, n = self.buf, self.packets
        rest = self.end - self.pos
        if rest:
            buf[:rest] = buf[self.pos:self.end]
        self.pos, self.end = 0, rest
        self._read_into(f)
        if self.end < 16:
            if not self.end:
                self.close()
                return False
            raise _Truncated(f"truncated record header after packet {n}: {self.end} of "
                             "16 bytes")
        incl = self._header.unpack_from(buf, 0)[2]
        if incl > MAX_PACKET:
            raise too_big(n + 1, incl)
        need = 16 + incl
        if need > len(buf):
            buf.extend(bytes(need - len(buf)))
            self._read_into(f)
        if need > self.end:
            raise _Truncated(f"truncated packet {n + 1}: {self.end - 16} of {incl} bytes")
        return True

    def frames(self) -> Iterator[bytearray]:
        """Each record's frame in turn, cut out of the buffer with no Packet made (for
        a run that needs only the bytes: the kernel backend's test runs); the
        reader's `packets` counts them and `truncated` says where a capture cut short
        ended, as iterating the reader does."""
        incl_at = struct.Struct(("<", ">")[self.big_endian] + "I").unpack_from
        try:
            while self.fill():
                buf, pos, end = self.buf, self.pos, self.end
                while pos + 16 <= end:
                    incl = incl_at(buf, pos + 8)[0]
                    if incl > MAX_PACKET:
                        raise too_big(self.packets + 1, incl)
                    stop = pos + 16 + incl
                    if stop > end:
                        break
                    self.packets += 1
                    yield buf[pos + 16:stop]
                    pos = stop
                self.pos = pos
        finally:
            self.close()

    def unread(self) -> int | None:
        """Bytes of the file not read yet (None: not a regular file)."""
        f = self.reader._file
        if f is None:
            return 0
        try:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                return None
            return max(st.st_size - f.tell(), 0)
        except (OSError, ValueError, AttributeError):
            return None

    def _read_into(self, f: Any) -> None:
        """Read until the buffer is full or the stream ends."""
        with memoryview(self.buf) as view:
            while self.end < len(view):
                k = f.readinto(view[self.end:])
                if not k:
                    break
                self.end += k

    def close(self) -> None:
        self.reader.packets = self.packets
        self.reader.close()


def _records(f: BinaryIO, endian: str, nano: bool, linktype: int) -> Iterator[Packet]:
    """The records of a classic pcap after its header. The stream is read in pieces
    of _READ_CHUNK bytes (more only for a record that needs it, which MAX_PACKET
    bounds) and the records are cut out of them: one read per many packets."""
    unpack_from = struct.Struct(endian + "IIII").unpack_from
    scale = 1 if nano else 1000
    make = _packet
    buf = b""
    pos = 0
    n = 0
    while True:
        if len(buf) - pos < 16:
            buf = buf[pos:] + _read(f, _READ_CHUNK)
            pos = 0
            if len(buf) < 16:
                if not buf:
                    return
                raise _Truncated(f"truncated record header after packet {n}: {len(buf)} of "
                                 "16 bytes")
        sec, frac, incl, orig = unpack_from(buf, pos)
        if incl > MAX_PACKET:
            raise too_big(n + 1, incl)
        end = pos + 16 + incl
        if end > len(buf):
            buf = buf[pos:] + _read(f, max(end - len(buf), _READ_CHUNK))
            end -= pos
            pos = 0
            if end > len(buf):
                raise _Truncated(f"truncated packet {n + 1}: {len(buf) - 16} of {incl} bytes")
        n += 1
        yield make(sec * 1_000_000_000 + frac * scale, buf[pos + 16:end], orig, linktype)
        pos = end


_BLOCK_NAMES = {_PCAPNG_SHB: "section header", 1: "interface description",
                3: "simple packet", 6: "enhanced packet"}
_BLOCK_MIN_BODY = {_PCAPNG_SHB: 16, 1: 8, 3: 4, 6: 20}  # the fixed fields of each


def _iter_pcapng(f: BinaryIO) -> Iterator[Packet]:
    """Enhanced and simple packet blocks of a pcapng file (interfaces' link types and
    timestamp resolutions honoured; microseconds unless if_tsresol says otherwise).
    Every block is checked against the fixed fields its type has and the block length
    limit (MAX_BLOCK) before it is read."""
    endian = "<"
    interfaces: list[tuple[int, int]] = []  # (linktype, ticks per second)
    n = 0  # packets so far
    first = True  # iter_pcap read the first block's type: a section header's
    raw_type = b"\x0a\x0d\x0d\x0a"
    while True:
        if not first:
            raw_type = f.read(4)
            if not raw_type:
                return
            if len(raw_type) < 4:
                raise _Truncated("truncated pcapng block header")
        if raw_type == b"\x0a\x0d\x0d\x0a":  # a section header: its byte-order magic,
            # after the length, says how to read the length and the rest of the section
            rest = f.read(8)
            if len(rest) < 8:
                raise (PcapError if first else _Truncated)("truncated pcapng section header")
            head = rest[4:]
            if head == b"\x4d\x3c\x2b\x1a":
                endian = "<"
            elif head == b"\x1a\x2b\x3c\x4d":
                endian = ">"
            else:
                raise PcapError(f"bad pcapng byte-order magic {head.hex()} after packet {n}")
            block_type = _PCAPNG_SHB
            total = struct.unpack_from(endian + "I", rest, 0)[0]
        else:
            rest = f.read(4)
            if len(rest) < 4:
                raise _Truncated("truncated pcapng block header")
            block_type = struct.unpack(endian + "I", raw_type)[0]
            total = struct.unpack(endian + "I", rest)[0]
            head = b""
        first = False
        name = _BLOCK_NAMES.get(block_type, f"type {block_type:#x}")
        if total % 4 or not 12 + len(head) <= total <= MAX_BLOCK:
            raise PcapError(f"pcapng {name} block after packet {n}: bad block length {total} "
                            f"(a multiple of 4, from {12 + len(head)} to {MAX_BLOCK})")
        want = total - 12 - len(head)
        body = head + _read(f, want)
        trailer = f.read(4)
        if len(body) - len(head) < want or len(trailer) < 4:
            raise _Truncated(f"truncated pcapng block: {len(body) + len(trailer) + 8} of "
                             f"{total} bytes")
        if struct.unpack(endian + "I", trailer)[0] != total:
            raise PcapError(f"pcapng {name} block after packet {n}: its trailing length "
                            f"{struct.unpack(endian + 'I', trailer)[0]} is not its length "
                            f"{total}")
        need = _BLOCK_MIN_BODY.get(block_type, 0)
        if len(body) < need:
            raise PcapError(f"pcapng {name} block after packet {n} is {total} bytes, under "
                            f"the {12 + need} its fields take")
        if block_type == _PCAPNG_SHB:
            interfaces = []
        elif block_type == 1:  # interface description
            linktype = struct.unpack_from(endian + "H", body, 0)[0]
            interfaces.append((linktype, _tsresol(body[8:], endian)))
        elif block_type == 6:  # enhanced packet
            iface, ts_hi, ts_lo, incl, orig = struct.unpack_from(endian + "IIIII", body, 0)
            if iface >= len(interfaces):
                raise PcapError(f"packet {n + 1} is on interface {iface}, which no interface "
                                "description block declared")
            if incl > len(body) - 20:
                raise PcapError(f"packet {n + 1} claims {incl} captured bytes; its enhanced "
                                f"packet block holds {len(body) - 20}")
            linktype, tps = interfaces[iface]
            ticks = (ts_hi << 32) | ts_lo
            n += 1
            yield Packet(ticks * 1_000_000_000 // tps, body[20:20 + incl], orig, linktype)
        elif block_type == 3:  # simple packet
            orig = struct.unpack_from(endian + "I", body, 0)[0]
            linktype = interfaces[0][0] if interfaces else LINKTYPE_ETHERNET
            n += 1
            yield Packet(0, body[4:4 + orig], orig, linktype)


def _tsresol(options: bytes, endian: str) -> int:
    """Ticks per second from an interface's if_tsresol option (10^6 without one)."""
    off = 0
    while off + 4 <= len(options):
        code, length = struct.unpack_from(endian + "HH", options, off)
        if code == 0:
            break
        if code == 9 and length >= 1 and off + 4 < len(options):
            v = options[off + 4]
            return 2 ** (v & 0x7F) if v & 0x80 else 10 ** v
        off += 4 + (length + 3) // 4 * 4
    return 1_000_000


class PcapWriter:
    """A classic (microsecond) pcap file written a packet at a time, for streams.
    Classic pcap holds 32-bit seconds (up to 2106-02-07) and 32-bit lengths: a packet
    beyond them is a PcapError naming it."""

    def __init__(self, path: str | Path, linktype: int = LINKTYPE_ETHERNET) -> None:
        self.path = path
        self.packets = 0
        try:
            self._file: BinaryIO = open(path, "wb")
            self._file.write(struct.pack("<IHHiIII", _MAGIC_US, 2, 4, 0, 0, 262144, linktype))
        except OSError as e:
            raise PcapError(f"cannot write {path}: {e.strerror}") from None

    def write(self, p: Packet) -> None:
        sec, ns = divmod(p.ts_ns, 1_000_000_000)
        if not 0 <= sec <= 0xFFFFFFFF:
            raise PcapError(f"cannot write packet {self.packets + 1} to {self.path}: its "
                            f"timestamp {p.ts_ns} ns is outside classic pcap's 32-bit seconds "
                            "(1970 to 2106)")
        orig = max(p.orig_len, len(p.data))
        if orig > 0xFFFFFFFF:
            raise PcapError(f"cannot write packet {self.packets + 1} to {self.path}: its "
                            f"length {orig} does not fit classic pcap's 32 bits")
        try:
            self._file.write(struct.pack("<IIII", sec, ns // 1000, len(p.data), orig))
            self._file.write(p.data)
        except OSError as e:
            raise PcapError(f"cannot write {self.path}: {e.strerror}") from None
        self.packets += 1

    def close(self) -> None:
        try:
            self._file.close()
        except OSError as e:
            raise PcapError(f"cannot write {self.path}: {e.strerror}") from None

    def __enter__(self) -> "PcapWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_pcap(path: str | Path, packets: Iterable[Packet],
               linktype: int = LINKTYPE_ETHERNET) -> None:
    """A classic (microsecond) pcap file of `packets` (see PcapWriter)."""
    with PcapWriter(path, linktype) as out:
        for p in packets:
            out.write(p)
