"""Ring buffers: the same programs writing records on the VM and in the kernel, read
with the same RingBufReader (poll, callback, asyncio); the record layout, positions,
full and wrap rules compared byte for byte."""

from __future__ import annotations

import asyncio
import random
import struct
import threading
import time

import pytest

from pybpf.asm import assemble
from pybpf.errors import HelperError
from pybpf.maps import Map, MapSpec, RingBufReader
from pybpf.uapi import ProgType
from pybpf.vm import VM

BACKENDS = ["vm", pytest.param("kernel", marks=pytest.mark.kernel)]


class Runner:
    """Load/run programs against one map on one backend (kernel programs cached)."""

    def __init__(self, backend: str, m: Map) -> None:
        self.backend, self.m = backend, m
        self.cache: dict[str, object] = {}

    def __call__(self, text: str) -> int:
        prog = self.cache.get(text)
        if prog is None:
            code = assemble(text)
            if self.backend == "vm":
                prog = VM(code, maps=[self.m])
            else:
                from pybpf.kernel import prog_load
                prog = prog_load(ProgType.XDP, code)
            self.cache[text] = prog
        if self.backend == "vm":
            return prog.execute().r0 & 0xFFFF_FFFF  # type: ignore[attr-defined]
        return prog.test_run(bytes(64)).retval  # type: ignore[attr-defined]

    def close(self) -> None:
        for p in self.cache.values():
            if hasattr(p, "close"):
                p.close()  # type: ignore[attr-defined]


def output_prog(fd: int, size: int, fill: int, flags: int = 0) -> str:
    """bpf_ringbuf_output of `size` bytes, each `fill`, from the stack."""
    words = max(1, (size + 7) // 8)
    word = f"{fill & 0xFF:02x}" * 4
    lines = [f"*(u32 *)(r10 -{4 * (i + 1)}) = 0x{word}" for i in range(2 * words)]
    lines += [f"r1 = map_fd({fd})", "r2 = r10", f"r2 += -{8 * words}", f"r3 = {size}",
              f"r4 = {flags}", "call bpf_ringbuf_output", "exit"]
    return "\n".join(lines)


def reserve_prog(fd: int, size: int, fill: int, discard: bool) -> str:
    end = "call bpf_ringbuf_discard" if discard else "call bpf_ringbuf_submit"
    stores = "\n".join(f"*(u8 *)(r0 +{i}) = {fill}" for i in range(min(size, 16)))
    return f"""
        r1 = map_fd({fd})
        r2 = {size}
        r3 = 0
        call bpf_ringbuf_reserve
        if r0 == 0 goto full
        {stores}
        r1 = r0
        r2 = 0
        {end}
        r0 = 1
        exit
    full:
        r0 = 0
        exit"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_output_records_and_header_layout(backend: str) -> None:
    with MapSpec("ringbuf", 0, 0, 4096).create(backend) as rb:
        run = Runner(backend, rb)
        try:
            assert [run(output_prog(rb.fd, 5, 0x44)) for _ in range(3)] == [0, 0, 0]
            with RingBufReader(rb) as reader:
                assert reader.available() == 48
                data = bytes(reader._data[:48])
                # header {u32 len, u32 pg_off}: pg_off 3 (struct bpf_ringbuf's data page)
                assert struct.unpack_from("<II", data, 0) == (5, 3)
                assert data[8:13] == b"\x44" * 5 and data[16:20] == b"\x05\0\0\0"
                assert bytes(reader._data[4096:4104]) == data[:8]  # the second mapping
                got = []
                assert reader.poll(0) == [b"\x44" * 5] * 3
                assert reader.poll(0) == [] and reader.available() == 0
                assert reader.consumer_pos == reader.producer_pos == 48
                run(output_prog(rb.fd, 3, 1))
                reader.callback = got.append
                assert reader.poll(1.0) == [b"\x01" * 3] and got == [b"\x01" * 3]
        finally:
            run.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_reserve_submit_discard_and_query(backend: str) -> None:
    with MapSpec("ringbuf", 0, 0, 4096).create(backend) as rb:
        run = Runner(backend, rb)
        try:
            assert run(reserve_prog(rb.fd, 10, 7, False)) == 1
            assert run(reserve_prog(rb.fd, 10, 8, True)) == 1
            assert run(reserve_prog(rb.fd, 4096, 8, False)) == 0      # larger than the ring
            assert run(reserve_prog(rb.fd, 4096 - 8, 8, False)) == 0  # size - 1 rule
            query = f"r1 = map_fd({rb.fd})\nr2 = {{f}}\ncall bpf_ringbuf_query\nexit"
            assert [run(query.format(f=f)) for f in range(5)] == [48, 4096, 0, 48, 0]
            with RingBufReader(rb) as reader:
                assert reader.poll(0) == [bytes([7] * 10)]   # the discarded one is skipped
            assert run(query.format(f=2)) == 48
            bad = (f"r1 = map_fd({rb.fd})\nr2 = 8\nr3 = 1\ncall bpf_ringbuf_reserve\n"
                   "if r0 == 0 goto out\nr1 = r0\nr2 = 0\ncall bpf_ringbuf_submit\n"
                   "r0 = 1\nout:\nexit")
            assert run(bad) == 0  # flags must be 0
        finally:
            run.close()


@pytest.mark.kernel
def test_random_traffic_is_identical_on_both_backends() -> None:
    """Random outputs, reservations, discards and reads: the same return codes,
    records, positions and ring bytes on the VM and in the kernel (wrap and full)."""
    rng = random.Random(20260504)
    with MapSpec("ringbuf", 0, 0, 4096).create("vm") as vrb, \
            MapSpec("ringbuf", 0, 0, 4096).create("kernel") as krb:
        vrun, krun = Runner("vm", vrb), Runner("kernel", krb)
        vread, kread = RingBufReader(vrb), RingBufReader(krb)
        try:
            for step in range(160):
                op = rng.random()
                size = rng.choice([0, 1, 7, 8, 9, 60, 200, 256, rng.randrange(1, 257)])
                fill = step & 0xFF
                if op < 0.45:
                    texts = (output_prog(vrb.fd, size, fill), output_prog(krb.fd, size, fill))
                elif op < 0.75:
                    discard = rng.random() < 0.3
                    texts = (reserve_prog(vrb.fd, size, fill, discard),
                             reserve_prog(krb.fd, size, fill, discard))
                else:
                    assert vread.poll(0) == kread.poll(0), f"step {step}"
                    continue
                assert vrun(texts[0]) == krun(texts[1]), f"step {step}"
                assert (vread.consumer_pos, vread.producer_pos) == \
                    (kread.consumer_pos, kread.producer_pos), f"step {step}"
                # committed bytes agree (headers and samples; padding is unwritten)
                assert bytes(vread._prod[8:16]) == bytes(kread._prod[8:16])  # pending_pos
            assert vread.poll(0) == kread.poll(0)
        finally:
            vread.close()
            kread.close()
            vrun.close()
            krun.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_poll_waits_for_a_wakeup(backend: str) -> None:
    with MapSpec("ringbuf", 0, 0, 4096).create(backend) as rb:
        run = Runner(backend, rb)
        text = output_prog(rb.fd, 4, 9)
        run(text)  # load (and warm) before the timing
        with RingBufReader(rb) as reader:
            reader.poll(0)
            t = threading.Timer(0.05, run, (text,))
            t0 = time.monotonic()
            t.start()
            recs = reader.poll(5.0)
            t.join()
            assert recs == [b"\x09" * 4] and time.monotonic() - t0 < 2.0
            assert reader.poll(0.01) == []
        run.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_iteration(backend: str) -> None:
    with MapSpec("ringbuf", 0, 0, 8192).create(backend) as rb:
        run = Runner(backend, rb)
        texts = [output_prog(rb.fd, 8, i) for i in range(1, 6)]
        for t in texts:
            run(t)  # load them all, and queue five records

        async def main() -> list[bytes]:
            out = []
            await with_reader(out)
            return out

        async def with_reader(out: list[bytes]) -> None:
            reader = RingBufReader(rb)
            loop = asyncio.get_running_loop()
            loop.call_later(0.05, run, texts[0])  # one more, later
            async for rec in reader:
                out.append(rec)
                if len(out) == 6:
                    reader.close()
            assert reader.closed

        out = asyncio.run(asyncio.wait_for(main(), 10))
        assert out == [bytes([i]) * 8 for i in range(1, 6)] + [b"\x01" * 8]
        run.close()


def test_vm_submit_needs_a_reserved_record() -> None:
    with MapSpec("ringbuf", 0, 0, 4096).create() as rb:
        text = f"r1 = map_fd({rb.fd})\nr1 = *(u64 *)(r10 -8)\nr2 = 0\ncall bpf_ringbuf_submit\nexit"
        with pytest.raises(HelperError, match="not a reserved ring buffer record"):
            VM(assemble(text), maps=[rb]).execute()
        text = f"r1 = map_fd({rb.fd})\nr2 = 0\ncall bpf_ringbuf_submit\nexit"
        with pytest.raises(HelperError, match="not a reserved ring buffer record"):
            VM(assemble(text), maps=[rb]).execute()


def test_vm_record_that_wraps_is_contiguous() -> None:
    with MapSpec("ringbuf", 0, 0, 4096).create() as rb, RingBufReader(rb) as reader:
        run = Runner("vm", rb)
        for _ in range(15):
            assert run(output_prog(rb.fd, 248, 1)) == 0   # 15 * 256 = 3840
        reader.poll(0)
        assert run(output_prog(rb.fd, 400, 2)) == 0       # 3840 .. 4248 wraps
        assert reader.poll(0) == [b"\x02" * 400]
        assert reader.consumer_pos == 3840 + 408
