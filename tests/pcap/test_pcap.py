"""Capture files: round trips through write_pcap/read_pcap, pcapng reading, bad input,
truncated captures (read_capture) and raw-IP link types (with_ethernet)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pybpf.pcap import Packet, PcapError, read_pcap, write_pcap


def test_roundtrip(tmp_path: Path) -> None:
    pkts = [Packet(1_700_000_000_123_456_000, b"\xaa" * 60, 60),
            Packet(1_700_000_001_000_001_000, bytes(range(14)), 100)]
    path = tmp_path / "x.pcap"
    write_pcap(path, pkts)
    assert read_pcap(path) == pkts


def test_pcapng(tmp_path: Path) -> None:
    shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
    idb_body = (struct.pack("<HHI", 1, 0, 0) + struct.pack("<HHB3x", 9, 1, 9)
                + struct.pack("<HH", 0, 0))
    idb = (struct.pack("<II", 1, 12 + len(idb_body)) + idb_body
           + struct.pack("<I", 12 + len(idb_body)))
    data = b"\x01" * 20
    ts = 1_500_000_000_000_000_123  # ns (if_tsresol = 9)
    epb_body = struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, 20, 20) + data
    epb = (struct.pack("<II", 6, 12 + len(epb_body)) + epb_body
           + struct.pack("<I", 12 + len(epb_body)))
    path = tmp_path / "x.pcapng"
    path.write_bytes(shb + idb + epb)
    (pkt,) = read_pcap(path)
    assert pkt.data == data and pkt.ts_ns == ts


@pytest.mark.parametrize("content,message", [
    (b"", "too short"), (b"GIF89a..", "not a pcap"),
    (struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + b"\0" * 10, "truncated record"),
])
def test_bad_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    with pytest.raises(PcapError, match=message):
        read_pcap(path)
    with pytest.raises(PcapError, match="cannot read"):
        read_pcap(tmp_path / "missing.pcap")


def _cut_capture(tmp_path: Path, cut: int) -> Path:
    pkts = [Packet(i * 1000, bytes([i]) * 60, 60) for i in range(1, 6)]
    path = tmp_path / "full.pcap"
    write_pcap(path, pkts)
    data = path.read_bytes()
    short = tmp_path / "cut.pcap"
    short.write_bytes(data[:len(data) - cut])
    return short


def test_truncated_capture_keeps_the_complete_packets(tmp_path: Path) -> None:
    from pybpf.pcap import read_capture
    cap = read_capture(_cut_capture(tmp_path, 10))  # inside the last packet's bytes
    assert len(cap.packets) == 4 and cap.truncated == "truncated packet 5: 50 of 60 bytes"
    assert [p.data[0] for p in cap.packets] == [1, 2, 3, 4]
    cap = read_capture(_cut_capture(tmp_path, 60 + 6))  # inside its record header
    assert len(cap.packets) == 4 and "truncated record header after packet 4" in cap.truncated
    full = read_capture(_cut_capture(tmp_path, 0))
    assert len(full.packets) == 5 and full.truncated is None
    with pytest.raises(PcapError, match="truncated packet 5"):  # the strict reader
        read_pcap(_cut_capture(tmp_path, 10))
    header_only = tmp_path / "h.pcap"
    header_only.write_bytes(struct.pack("<I", 0xA1B2C3D4) + b"\0" * 4)
    with pytest.raises(PcapError, match="truncated pcap header"):  # not even a file header
        read_capture(header_only)


def test_truncated_pcapng(tmp_path: Path) -> None:
    from pybpf.pcap import read_capture
    shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
    idb_body = struct.pack("<HHI", 1, 0, 0)
    idb = struct.pack("<II", 1, 12 + len(idb_body)) + idb_body + struct.pack("<I", 20)
    epb_body = struct.pack("<IIIII", 0, 0, 1, 20, 20) + b"\x01" * 20
    epb = (struct.pack("<II", 6, 12 + len(epb_body)) + epb_body
           + struct.pack("<I", 12 + len(epb_body)))
    path = tmp_path / "x.pcapng"
    path.write_bytes(shb + idb + epb + epb[:30])
    cap = read_capture(path)
    assert len(cap.packets) == 1 and "truncated pcapng block" in (cap.truncated or "")


@pytest.mark.parametrize("linktype,first,ethertype", [
    (101, 0x45, b"\x08\x00"), (101, 0x60, b"\x86\xdd"), (228, 0x45, b"\x08\x00"),
    (229, 0x60, b"\x86\xdd")])
def test_raw_ip_packets_get_an_ethernet_header(linktype: int, first: int,
                                               ethertype: bytes) -> None:
    from pybpf.pcap import LINKTYPE_ETHERNET, with_ethernet
    ip = bytes([first]) + bytes(39)
    eth = Packet(7, b"\xaa" * 60, 60)
    frames, added = with_ethernet([Packet(5, ip, 1500, linktype), eth])
    assert added == 1 and frames[1] == eth
    assert frames[0] == Packet(5, bytes(12) + ethertype + ip, 1514, LINKTYPE_ETHERNET)


@pytest.mark.parametrize("packet,message", [
    (Packet(0, b"\x20" + bytes(19), 20, 101), "IP version 2, neither 4 nor 6"),
    (Packet(0, b"", 0, 101), "IP version 0"),
    (Packet(0, bytes(20), 20, 113), "LINUX_SLL (113), which is neither Ethernet nor raw IP"),
    (Packet(0, bytes(20), 20, 9999), "linktype 9999"),
])
def test_other_packets_are_refused(packet: Packet, message: str) -> None:
    from pybpf.pcap import with_ethernet
    with pytest.raises(PcapError, match=message.replace("(", r"\(").replace(")", r"\)")):
        with_ethernet([Packet(0, b"\xaa" * 60, 60), packet])


class _Trickle:
    """A binary stream that gives at most `step` bytes a read (a pipe, a raw file)."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._pos, self._step = data, 0, step

    def read(self, n: int = -1) -> bytes:
        n = self._step if n < 0 else min(n, self._step)
        out = self._data[self._pos:self._pos + n]
        self._pos += len(out)
        return out


def test_records_across_read_pieces(tmp_path: Path) -> None:
    """Records cut out of 64 KiB pieces: packets that straddle a piece, one larger
    than a piece, and a stream that gives a few bytes a read all come back whole; a
    file cut inside a record or its header is still reported as truncated."""
    from pybpf.pcap import CaptureReader, _Truncated, iter_pcap
    sizes = [60, 1514, 9000, 200_000, 14, 0, 70_000] + [(i * 37) % 1600 for i in range(200)]
    pkts = [Packet(1_700_000_000_000_000_000 + i * 1000, bytes((i + j) & 0xFF
                                                               for j in range(n)), n + 3)
            for i, n in enumerate(sizes)]
    path = tmp_path / "big.pcap"
    write_pcap(path, pkts)
    with CaptureReader(path) as reader:
        assert list(reader) == pkts
    raw = path.read_bytes()
    assert list(iter_pcap(_Trickle(raw, 7))) == pkts  # type: ignore[arg-type]
    with pytest.raises(_Truncated, match=r"truncated packet 4: 100 of 200000 bytes"):
        list(iter_pcap(_Trickle(raw[:24 + 3 * 16 + 60 + 1514 + 9000 + 16 + 100], 5000)))  # type: ignore[arg-type]
    with pytest.raises(_Truncated, match=r"after packet 2: 5 of 16 bytes"):
        list(iter_pcap(_Trickle(raw[:24 + 2 * 16 + 60 + 1514 + 5], 1 << 20)))  # type: ignore[arg-type]


@pytest.mark.parametrize("endian,nano", [("<", False), (">", False), ("<", True)])
def test_frame_data_cuts_frames_out_of_the_record_buffer(tmp_path: Path, endian: str,
                                                         nano: bool) -> None:
    """frame_data over a classic Ethernet pcap gives each frame's bytes (records
    straddling the 1 MiB buffer, one bigger than it) and counts them in the reader as
    iterating does; a capture cut short ends with the same `truncated`; a record past
    MAX_PACKET is the same PcapError."""
    from pybpf.pcap import MAX_PACKET, RECORD_BUFFER, CaptureReader, EthernetFrames, frame_data
    sizes = [60, 1514, 0, 14, MAX_PACKET] + [(i * 37) % 1600 for i in range(2000)]
    frames = [bytes((i + j) & 0xFF for j in range(n)) for i, n in enumerate(sizes)]
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    raw = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1) + b"".join(
        struct.pack(endian + "IIII", i, 7, len(f), len(f) + 1) + f for i, f in enumerate(frames))
    assert len(raw) > 2 * RECORD_BUFFER
    for cut, want in [(0, None), (10, "truncated packet 2005: "),
                      (len(frames[-1]) + 11, "truncated record header after packet 2004: 5 of 16")]:
        path = tmp_path / "x.pcap"
        path.write_bytes(raw[:len(raw) - cut])
        with CaptureReader(path) as reader:
            got = [bytes(f) for f in frame_data(EthernetFrames(reader))]
        n = len(frames) - (cut > 0)
        assert got == frames[:n]
        assert reader.packets == n
        assert (reader.truncated or "").startswith(want or "")
        assert (reader.truncated is None) == (want is None)
    big = raw + struct.pack(endian + "IIII", 0, 0, MAX_PACKET + 1, 0) + bytes(8)
    path.write_bytes(big)
    with CaptureReader(path) as reader, pytest.raises(PcapError) as iterated:
        list(reader)
    with CaptureReader(path) as reader, pytest.raises(PcapError) as cut_out:
        list(frame_data(reader))
    assert str(cut_out.value) == str(iterated.value)


def test_frame_data_leaves_other_captures_as_they_are(tmp_path: Path) -> None:
    """pcapng, raw-IP pcaps, lists and readers already started are iterated as given."""
    from pybpf.pcap import LINKTYPE_RAW, CaptureReader, EthernetFrames, frame_data
    path = tmp_path / "raw.pcap"
    write_pcap(path, [Packet(0, b"\x45" + bytes(19), 20)], LINKTYPE_RAW)
    with CaptureReader(path) as reader:
        frames = EthernetFrames(reader)
        assert frame_data(frames) is frames
    listed = [b"\x00" * 60]
    assert frame_data(listed) is listed
