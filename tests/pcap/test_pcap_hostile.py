"""Hostile captures (issue 11, item 8): every malformed pcap or pcapng file is a
PcapError, never another exception, and reading never allocates much more than the
file holds; captures are streamed, and the writer refuses what classic pcap cannot
hold."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.pcap import (MAX_BLOCK, CaptureReader, Packet, PcapError, PcapWriter, iter_pcap,
                        read_capture, read_pcap, write_pcap)

ROOT = Path(__file__).resolve().parents[2]
TRAFFIC = ROOT / "examples" / "traffic.pcap"


def block(btype: int, body: bytes, total: int | None = None, trailer: int | None = None,
          endian: str = "<") -> bytes:
    n = 12 + len(body) if total is None else total
    return (struct.pack(endian + "II", btype, n) + body +
            struct.pack(endian + "I", n if trailer is None else trailer))


SHB = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
IDB = block(1, struct.pack("<HHI", 1, 0, 0))


def epb(data: bytes, iface: int = 0, ts: int = 1) -> bytes:
    pad = bytes(-len(data) % 4)
    return block(6, struct.pack("<IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data),
                                len(data)) + data + pad)


def pcapng(*blocks: bytes) -> bytes:
    return SHB + b"".join(blocks)


def _read_all(data: bytes, tmp_path: Path) -> list[Packet]:
    path = tmp_path / "x.cap"
    path.write_bytes(data)
    return read_pcap(path)


@pytest.mark.parametrize("data,message", [
    (pcapng(block(1, b"")), "interface description block after packet 0 is 12 bytes, under "
                            "the 20 its fields take"),
    (pcapng(IDB, block(6, bytes(8))), "enhanced packet block after packet 0 is 20 bytes, "
                                      "under the 32"),
    (pcapng(IDB, block(6, bytes(16))), "enhanced packet block .* under the 32"),
    (pcapng(IDB, block(3, b"")), "simple packet block after packet 0 is 12 bytes, under "
                                 "the 16"),
    (struct.pack("<IIIHHq", 0x0A0D0D0A, 0xFFFFFFFF, 0x1A2B3C4D, 1, 0, -1),
     "section header block after packet 0: bad block length 4294967295"),
    (pcapng(IDB, epb(b"x" * 8)[:4] + struct.pack("<I", 0xFFFFFFF0)),
     "bad block length 4294967280"),
    (pcapng(IDB, block(6, struct.pack("<IIIII", 0, 0, 0, 4000, 4000) + bytes(8))),
     "packet 1 claims 4000 captured bytes; its enhanced packet block holds 8"),
    (pcapng(IDB, epb(b"abcd", iface=3)), "packet 1 is on interface 3, which no interface"),
    (pcapng(IDB, block(6, struct.pack("<IIIII", 0, 0, 0, 0, 0), trailer=99)),
     "its trailing length 99 is not its length 32"),
    (pcapng(block(1, bytes(8), total=22)), "bad block length 22"),
    (struct.pack("<III", 0x0A0D0D0A, 28, 0x01020304) + bytes(16), "bad pcapng byte-order "
                                                                  "magic 04030201"),
    (struct.pack("<II", 0x0A0D0D0A, 28), "truncated pcapng section header"),
    (struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) +
     struct.pack("<IIII", 0, 0, 1 << 30, 1 << 30), "packet 1 claims 1073741824 bytes"),
])
def test_malformed_captures_are_pcap_errors(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(PcapError, match=message):
        _read_all(data, tmp_path)


def test_a_4_gib_block_length_reads_nothing_like_it(tmp_path: Path) -> None:
    """A section header claiming 0xFFFFFFFF bytes read 4 GiB; a block claiming the most
    pybpf reads allocates no more than the file holds."""
    for data in (struct.pack("<IIIHHq", 0x0A0D0D0A, 0xFFFFFFFF, 0x1A2B3C4D, 1, 0, -1),
                 pcapng(IDB, struct.pack("<II", 6, MAX_BLOCK) + bytes(100))):
        tracemalloc.start()
        try:
            with pytest.raises(PcapError):
                _read_all(data, tmp_path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 512 << 10, peak


def test_big_endian_pcapng_and_a_second_section(tmp_path: Path) -> None:
    be_shb = block(0x0A0D0D0A, struct.pack(">IHHq", 0x1A2B3C4D, 1, 0, -1), endian=">")
    be_idb = block(1, struct.pack(">HHI", 101, 0, 0), endian=">")
    data = b"\x45" + bytes(19)
    be_epb = block(6, struct.pack(">IIIII", 0, 0, 7, 20, 20) + data, endian=">")
    pkts = _read_all(pcapng(IDB, epb(b"abcd", ts=5)) + be_shb + be_idb + be_epb, tmp_path)
    assert [(p.data, p.linktype, p.ts_ns) for p in pkts] == [(b"abcd", 1, 5000),
                                                             (data, 101, 7000)]


def test_timestamps_past_2106_are_a_pcap_error(tmp_path: Path) -> None:
    late = Packet((1 << 32) * 1_000_000_000, b"\xaa" * 60, 60)
    with pytest.raises(PcapError, match="packet 2 .* timestamp 4294967296000000000 ns is "
                                        "outside classic pcap's 32-bit seconds"):
        write_pcap(tmp_path / "o.pcap", [Packet(0, b"a", 1), late])
    with pytest.raises(PcapError, match="timestamp -1 ns"):
        write_pcap(tmp_path / "o.pcap", [Packet(-1, b"a", 1)])
    last = Packet(0xFFFFFFFF * 1_000_000_000 + 999_999_000, b"b", 1)  # 2106-02-07
    write_pcap(tmp_path / "ok.pcap", [last])
    assert read_pcap(tmp_path / "ok.pcap") == [last]


def test_reading_is_a_stream(tmp_path: Path) -> None:
    """CaptureReader yields a packet at a time from the file: no list of them."""
    path = tmp_path / "s.pcap"
    write_pcap(path, (Packet(i * 1000, bytes([i % 256]) * 64, 64) for i in range(3000)))
    with CaptureReader(path) as reader:
        it = iter(reader)
        first = next(it)
        assert first.data == bytes(64) and reader.packets == 1
        assert sum(1 for _ in it) == 2999 and reader.packets == 3000
    assert reader.truncated is None
    with pytest.raises(PcapError, match="read once"):
        list(reader)


def test_truncated_stream_ends_after_its_complete_packets(tmp_path: Path) -> None:
    path = tmp_path / "t.pcap"
    write_pcap(path, [Packet(i, b"x" * 50, 50) for i in range(4)])
    path.write_bytes(path.read_bytes()[:-7])
    with CaptureReader(path) as reader:
        assert len(list(reader)) == 3
    assert reader.truncated == "truncated packet 4: 43 of 50 bytes"
    assert len(read_capture(path).packets) == 3


# --- properties ---------------------------------------------------------------------------------

def _seeds() -> list[bytes]:
    classic = TRAFFIC.read_bytes()[:24 + 5 * 200]
    ng = pcapng(block(1, struct.pack("<HHI", 1, 0, 0) + struct.pack("<HHB3x", 9, 1, 9) +
                      struct.pack("<HH", 0, 0)),
                epb(b"\x01" * 20), block(3, struct.pack("<I", 6) + b"abcdef\0\0"),
                epb(b"\x02" * 33))
    return [classic, ng]


SEEDS = _seeds()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["byte", "word", "cut", "insert"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "byte" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "word" and len(data) >= pos + 4:
            struct.pack_into("<I", data, pos, draw(st.sampled_from(
                [0, 1, 3, 4, 11, 12, 16, 20, 0x7FFFFFFF, 0xFFFFFFFF, MAX_BLOCK, MAX_BLOCK + 4,
                 0x0A0D0D0A, 0x1A2B3C4D])))
        elif kind == "cut":
            del data[pos:]
        else:
            data[pos:pos] = draw(st.binary(max_size=40))
    return bytes(data)


def _blocks() -> st.SearchStrategy[bytes]:
    """A pcapng file of random blocks: known and unknown types, any lengths."""
    one = st.builds(lambda t, body, total, trailer: block(t, body, total, trailer),
                    st.sampled_from([1, 3, 6, 5, 0x0A0D0D0A, 0xDEAD]),
                    st.binary(max_size=64),
                    st.one_of(st.none(), st.integers(0, (1 << 32) - 1)),
                    st.one_of(st.none(), st.integers(0, (1 << 32) - 1)))
    return st.lists(one, max_size=8).map(lambda bs: pcapng(*bs))


def _classic() -> st.SearchStrategy[bytes]:
    rec = st.builds(lambda s, f, incl, orig, data: struct.pack("<IIII", s, f, incl, orig) + data,
                    st.integers(0, (1 << 32) - 1), st.integers(0, (1 << 32) - 1),
                    st.one_of(st.integers(0, 80), st.integers(0, (1 << 32) - 1)),
                    st.integers(0, (1 << 32) - 1), st.binary(max_size=80))
    head = st.sampled_from([struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1),
                            struct.pack(">IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 101)])
    return st.builds(lambda h, rs: h + b"".join(rs), head, st.lists(rec, max_size=6))


def _consume(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "h.cap"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        try:
            with CaptureReader(path) as reader:
                for _ in reader:
                    pass
        except PcapError:
            pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # what the file holds (a packet is a copy of its bytes) plus the reader's fixed costs
    assert peak <= 3 * len(data) + (128 << 10), (peak, len(data))


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.one_of(mutated(), _blocks(), _classic(), st.binary(max_size=200)))
def test_any_capture_reads_or_is_a_pcap_error_in_bounded_memory(tmp_path: Path,
                                                                  data: bytes) -> None:
    _consume(data, tmp_path)


@settings(max_examples=200, deadline=None)
@given(pkts=st.lists(st.builds(Packet, st.integers(0, (1 << 32) * 10**9 - 1),
                               st.binary(max_size=100), st.integers(0, (1 << 32) - 1)),
                     max_size=10))
def test_write_then_read_round_trips(pkts: list[Packet]) -> None:
    import io
    buf = io.BytesIO()
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "r.pcap"
        write_pcap(path, pkts)
        buf.write(path.read_bytes())
    buf.seek(0)
    back = list(iter_pcap(buf))
    assert [(p.ts_ns // 1000, p.data, max(p.orig_len, len(p.data))) for p in pkts] == \
        [(p.ts_ns // 1000, p.data, p.orig_len) for p in back]


def test_streamed_writer_counts(tmp_path: Path) -> None:
    with PcapWriter(tmp_path / "w.pcap") as w:
        for i in range(5):
            w.write(Packet(i, b"z", 1))
    assert w.packets == 5 and len(read_pcap(tmp_path / "w.pcap")) == 5


def _gen(n: int, produced: list[int]) -> Iterator[Packet]:
    for i in range(n):
        produced[0] += 1
        yield Packet(i, bytes(60), 60)


def test_run_pcap_consumes_a_stream_lazily() -> None:
    """run_pcap hands each passing packet on as it goes and keeps none."""
    import pybpf
    from pybpf.objects.runner import run_pcap
    spec = pybpf.load(ROOT / "examples" / "xdp_firewall.o")
    produced = [0]
    seen: list[int] = []
    with spec.instantiate("vm") as obj:
        prog = next(p for p in obj.programs.values() if p.type == 6)  # XDP
        report = run_pcap(prog, _gen(50, produced), capture_clock=False,
                          on_pass=lambda p: seen.append(produced[0] - p.ts_ns))
    assert report.packets == 50 and report.passed == len(seen) > 0
    assert set(seen) <= {1}  # each passed packet was handed on before the next was read


def test_counting_reads_regular_files_only(tmp_path: Path) -> None:
    """The progress bar's first pass must not drain a pipe the run then reads."""
    import os
    from pybpf.pcap import count_packets
    path = tmp_path / "c.pcap"
    write_pcap(path, [Packet(i, b"q", 1) for i in range(7)])
    assert count_packets(path) == 7
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert count_packets(fifo) == 0  # returns at once: the fifo is never opened
