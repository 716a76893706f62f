"""The kernel's event readers against the real kernel: pybpf.kernel.RingBuffer on
examples/ringbuf_events.o (one record per XDP test run) and pybpf.kernel.PerfBuffer
on tests/objects/data/typed_io.o (one perf sample per run), read from a blocking loop
and from asyncio, the counts compared with the runs; lost records provoked with a
ring too small to hold them (the ring buffer's counted by the program, the perf
buffer's reported by the kernel)."""

from __future__ import annotations

import asyncio
import select
import struct
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

import pybpf
from pybpf.kernel import KernelError, PerfBuffer, PerfSample, RingBuffer
from pybpf.kernel.eventreader import ReaderClosedError

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TYPED_IO = ROOT / "tests" / "objects" / "data" / "typed_io.o"
IPV4 = bytes(12) + b"\x08\x00" + bytes([0x45]) + bytes(19) + bytes(20)  # 54-byte frame
ARP = bytes(12) + b"\x08\x06" + bytes(28)


def _ringbuf_obj(size: int | None = None) -> Any:
    spec = pybpf.load(EXAMPLES / "ringbuf_events.o")
    if size is not None:
        spec.maps["events"] = spec.maps["events"].with_(max_entries=size)
    return spec.instantiate("kernel")


@pytest.fixture
def ring() -> Iterator[Any]:
    with _ringbuf_obj() as obj:
        yield obj


def _run(obj: Any, prog: str, frames: list[bytes]) -> None:
    for f in frames:
        obj.programs[prog].test_run(f)


# --- ring buffer ---------------------------------------------------------------------------

def test_ringbuf_blocking_counts_and_contents(ring: Any) -> None:
    frames = [IPV4 + bytes(i) for i in range(40)] + [ARP] * 10
    with RingBuffer(ring.maps["events"]) as rb:
        assert rb.poll(0) == []
        _run(ring, "xdp_events", frames)
        got: list[bytes] = []
        while len(got) < len(frames):
            recs = rb.poll(1.0)
            assert recs, f"only {len(got)} of {len(frames)} records came"
            got += recs
        assert rb.available() == 0 and rb.consumer_pos == rb.producer_pos
    ipv4 = [r for r in got if r[0] == 1]
    other = [r for r in got if r[0] == 2]
    assert [len(r) for r in ipv4] == [24] * 40 and [len(r) for r in other] == [8] * 10
    # struct pkt_event.len is the frame length, in the order of the runs
    assert [struct.unpack_from("<I", r, 4)[0] for r in ipv4] == [len(f) for f in frames[:40]]
    assert [struct.unpack_from("<H", r, 2)[0] for r in other] == [0x0806] * 10
    assert rb.stats.records == 50 and rb.stats.bytes == 40 * 24 + 10 * 8


def test_ringbuf_poll_waits_for_a_record_from_another_thread(ring: Any) -> None:
    with RingBuffer(ring.maps["events"]) as rb:
        timer = threading.Timer(0.2, lambda: _run(ring, "xdp_events", [IPV4]))
        timer.start()
        try:
            recs = rb.poll(5.0)
        finally:
            timer.join()
        assert len(recs) == 1 and recs[0][0] == 1
        # the map fd is readable only while data waits: none now
        assert rb.poll(0.05) == []


def test_ringbuf_iteration_and_callback(ring: Any) -> None:
    seen: list[bytes] = []
    with RingBuffer(ring.maps["events"], callback=seen.append) as rb:
        _run(ring, "xdp_events", [IPV4] * 7)
        it = iter(rb)
        first = [next(it) for _ in range(7)]
        assert len(first) == 7 and seen == first


def test_iteration_ends_when_another_thread_closes(ring: Any) -> None:
    rb = RingBuffer(ring.maps["events"])
    _run(ring, "xdp_events", [IPV4] * 3)
    timer = threading.Timer(0.3, rb.close)
    timer.start()
    try:
        got = list(rb)  # blocks until close()
    finally:
        timer.join()
    assert len(got) == 3 and rb.closed


def test_ringbuf_asyncio_async_for_and_add_reader(ring: Any) -> None:
    async def main() -> tuple[list[bytes], list[bytes]]:
        loop = asyncio.get_running_loop()
        with RingBuffer(ring.maps["events"]) as rb:
            producer = loop.run_in_executor(None, _run, ring, "xdp_events", [IPV4] * 25)
            got: list[bytes] = []
            async for rec in rb:
                got.append(rec)
                if len(got) == 25:
                    break
            await producer
            # the add_reader integration
            later: list[bytes] = []
            done = asyncio.Event()

            def on_record(rec: bytes) -> None:
                later.append(rec)
                if len(later) == 5:
                    done.set()

            rb.add_to_loop(loop, on_record)
            await loop.run_in_executor(None, _run, ring, "xdp_events", [ARP] * 5)
            await asyncio.wait_for(done.wait(), 5)
            rb.remove_from_loop()
            return got, later

    got, later = asyncio.run(main())
    assert len(got) == 25 and all(r[0] == 1 for r in got)
    assert len(later) == 5 and all(r[0] == 2 for r in later)


def test_ringbuf_lost_records_counted_by_the_program() -> None:
    # a one-page ring holds fewer than 4096 / (24 + 8) = 128 IPv4 records (the kernel
    # keeps producer - consumer within the mask: 127); the rest are refused
    # (bpf_ringbuf_reserve NULL) and counted in .bss lost_events
    with _ringbuf_obj(4096) as obj:
        with RingBuffer(obj.maps["events"], lost=lambda: obj.globals["lost_events"]) as rb:
            assert rb.size == 4096
            _run(obj, "xdp_events", [IPV4] * 300)
            got = rb.poll(1.0)
            assert 100 < len(got) <= 128
            assert rb.lost == 300 - len(got)
            # the space is free again: the next records arrive
            _run(obj, "xdp_events", [IPV4] * 3)
            assert len(rb.poll(1.0)) == 3 and rb.lost == 300 - len(got)


def test_ringbuf_wraps_around_many_times() -> None:
    with _ringbuf_obj(4096) as obj, RingBuffer(obj.maps["events"]) as rb:
        total = 0
        for batch in range(20):
            frames = [IPV4 + bytes(batch)] * 50
            _run(obj, "xdp_events", frames)
            recs = rb.poll(1.0)
            assert len(recs) == 50
            assert {struct.unpack_from("<I", r, 4)[0] for r in recs} == {54 + batch}
            total += len(recs)
        assert total == 1000 and rb.consumer_pos == 1000 * 32 and obj.globals["lost_events"] == 0


def test_ringbuf_refuses_another_map_and_closed_use() -> None:
    with pybpf.load(TYPED_IO).instantiate("kernel") as obj:
        with pytest.raises(KernelError, match="not a ring buffer"):
            RingBuffer(obj.maps["flows"])
        rb = RingBuffer(obj.maps["events"])
        rb.close()
        rb.close()  # twice is fine
        with pytest.raises(ReaderClosedError):
            rb.consume()
    with pytest.raises(KernelError):
        RingBuffer(12345)  # not an fd of this process


# --- perf buffer ---------------------------------------------------------------------------

@pytest.fixture
def perf() -> Iterator[tuple[Any, PerfBuffer]]:
    with pybpf.load(TYPED_IO).instantiate("kernel") as obj:
        buf = PerfBuffer(pages=8)
        try:
            buf.attach(obj.maps["perf_events"])
            yield obj, buf
        finally:
            buf.close()


def _runs(samples: list[PerfSample]) -> list[int]:
    return [struct.unpack_from("<Q", s.data)[0] for s in samples]


def test_perf_blocking_counts_and_contents(perf: tuple[Any, PerfBuffer]) -> None:
    obj, buf = perf
    _run(obj, "typed_io", [bytes(20 + i) for i in range(30)])
    got: list[PerfSample] = []
    while len(got) < 30:
        recs = buf.poll(1.0)
        assert recs, f"only {len(got)} of 30 samples came"
        got += recs
    assert sorted(_runs(got)) == list(range(1, 31))
    assert all(s.cpu in buf.cpus and len(s.data) == 28 for s in got)  # 24 + padding
    assert {struct.unpack_from("<I", s.data, 8)[0] for s in got} == set(range(20, 50))
    assert buf.lost == 0 and buf.poll(0) == []


def test_perf_poll_wakes_up_on_a_sample(perf: tuple[Any, PerfBuffer]) -> None:
    obj, buf = perf
    timer = threading.Timer(0.2, lambda: _run(obj, "typed_io", [bytes(20)]))
    timer.start()
    try:
        assert buf.wait(5.0)  # the epoll fd: woken by the sample, not the timeout
        recs = buf.poll(1.0)
    finally:
        timer.join()
    assert _runs(recs) == [1]
    poller = select.poll()  # not select.select: it fails on an fd above 1023
    poller.register(buf.fileno(), select.POLLIN)
    assert poller.poll(0) == []


def test_perf_asyncio(perf: tuple[Any, PerfBuffer]) -> None:
    obj, buf = perf

    async def main() -> list[PerfSample]:
        loop = asyncio.get_running_loop()
        producer = loop.run_in_executor(None, _run, obj, "typed_io", [bytes(30)] * 20)
        got: list[PerfSample] = []
        async for s in buf:
            got.append(s)
            if len(got) == 20:
                break
        await producer
        return got

    got = asyncio.run(main())
    assert sorted(_runs(got)) == list(range(1, 21))


def test_perf_lost_samples_reported_by_the_kernel() -> None:
    # one data page per CPU holds 4096 / 40 = 102 samples of typed_io (8-byte header,
    # u32 size, 24 bytes, padding); the kernel drops the rest and writes one
    # PERF_RECORD_LOST with their count before the next sample that fits
    with pybpf.load(TYPED_IO).instantiate("kernel") as obj, PerfBuffer(pages=1) as buf:
        buf.attach(obj.maps["perf_events"])
        lost_seen: list[tuple[int, int]] = []
        buf.lost_callback = lambda cpu, n: lost_seen.append((cpu, n))
        _run(obj, "typed_io", [bytes(20)] * 300)
        first = buf.poll(1.0)
        assert 0 < len(first) < 300
        _run(obj, "typed_io", [bytes(20)])
        second = buf.poll(1.0)
        total = len(first) + len(second)
        assert buf.lost > 0 and total + buf.lost == 301
        assert sum(n for _, n in lost_seen) == buf.lost
        assert sum(buf.lost_by_cpu.values()) == buf.lost


def test_perf_buffer_attach_by_fd_and_bad_pages() -> None:
    with pytest.raises(ValueError, match="power of two"):
        PerfBuffer(pages=3)
    with pybpf.load(TYPED_IO).instantiate("kernel") as obj, PerfBuffer() as buf:
        buf.attach(obj.maps["perf_events"].fd)  # a bare fd works too
        _run(obj, "typed_io", [bytes(20)])
        assert _runs(buf.poll(1.0)) == [1]
    assert buf.closed
    with pytest.raises(ReaderClosedError):
        buf.read()
