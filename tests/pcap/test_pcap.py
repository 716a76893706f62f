"""Capture files: round trips through write_pcap/read_pcap, pcapng reading, bad input."""

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
    idb_body = struct.pack("<HHI", 1, 0, 0) + struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0)
    idb = struct.pack("<II", 1, 12 + len(idb_body)) + idb_body + struct.pack("<I", 12 + len(idb_body))
    data = b"\x01" * 20
    ts = 1_500_000_000_000_000_123  # ns (if_tsresol = 9)
    epb_body = struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, 20, 20) + data
    epb = struct.pack("<II", 6, 12 + len(epb_body)) + epb_body + struct.pack("<I", 12 + len(epb_body))
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
