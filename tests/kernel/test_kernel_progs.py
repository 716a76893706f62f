"""Programs on the kernel: loading, verifier errors and logs, test runs, info,
id iteration, and fd ownership (no leaks)."""

from __future__ import annotations

import errno
import gc
import os

import pytest

from pybpf.isa import BPF_PSEUDO_MAP_FD, Instruction, encode
from pybpf.kernel import (
    FD,
    KernelKeyError,
    KernelPermissionError,
    KernelVerifierError,
    Map,
    MapType,
    Program,
    ProgType,
    abi,
    enable_stats,
    prog_get_fd_by_id,
    prog_ids,
    prog_load,
    prog_test_run,
)

pytestmark = pytest.mark.kernel

I = Instruction  # noqa: E741 (short, for the instruction lists below)
EXIT = I(0x95)


def mov(dst: int, imm: int) -> Instruction:
    return I(0xB7, dst, 0, 0, imm)


RET2 = [mov(0, 2), EXIT]  # r0 = 2 (XDP_PASS); exit


def xdp_write_first_byte() -> list[Instruction]:
    """Bound-check the packet, store 0xaa into byte 0 and return XDP_TX."""
    return [
        I(0x61, 2, 1, 4),       # r2 = *(u32 *)(r1 + 4)  data_end
        I(0x61, 1, 1, 0),       # r1 = *(u32 *)(r1 + 0)  data
        I(0xBF, 3, 1),          # r3 = r1
        I(0x07, 3, 0, 0, 1),    # r3 += 1
        I(0x2D, 3, 2, 3),       # if r3 > r2 goto +3
        I(0x72, 1, 0, 0, 0xAA),  # *(u8 *)(r1 + 0) = 0xaa
        mov(0, abi.XDP_TX),
        EXIT,
        mov(0, abi.XDP_DROP),
        EXIT,
    ]


def test_load_and_basic_properties() -> None:
    with prog_load(ProgType.XDP, RET2, name="basic") as p:
        assert isinstance(p, Program) and p.prog_type is ProgType.XDP
        assert p.fd >= 0 and not p.closed and p.log == ""
        assert p.name == "basic" and p.insn_cnt == 2
        assert len(p.tag) == 16
    assert p.closed
    p.close()  # idempotent


def test_verifier_rejection_carries_the_log() -> None:
    bad = [I(0xBF, 0, 5), EXIT]  # r0 = r5 (never written); exit
    with pytest.raises(KernelVerifierError) as ei:
        prog_load(ProgType.XDP, bad, name="bad")
    e = ei.value
    assert e.errno == errno.EACCES and isinstance(e, KernelPermissionError)
    assert "R5 !read_ok" in e.log and e.reason == "R5 !read_ok"
    assert "processed" in e.log  # the whole log, up to the statistics line
    msg = str(e)
    assert msg.startswith("BPF_PROG_LOAD: Permission denied (EACCES): xdp program of 2 "
                          "insns 'bad'; verifier log: ")
    assert "R5 !read_ok" in msg


def test_invalid_opcode_is_einval_with_log() -> None:
    with pytest.raises(KernelVerifierError) as ei:
        prog_load(ProgType.XDP, bytes.fromhex("ff00000000000000") + encode(RET2))
    assert ei.value.errno == errno.EINVAL and isinstance(ei.value, ValueError)
    assert "unknown opcode ff" in ei.value.log


def test_log_levels_and_growth() -> None:
    n = 3000
    body = [mov(0, 0)] + [I(0x07, 0, 0, 0, 1)] * n + [EXIT]  # r0 += 1, n times
    with prog_load(ProgType.SOCKET_FILTER, body, log_level=1) as p1:
        assert p1.log.strip().splitlines()[-1].startswith(f"processed {n + 2} insns")
    # log_level 2 prints every instruction with its state: far more than the 1 KiB
    # the buffer starts with, so the load is retried with bigger buffers.
    with prog_load(ProgType.SOCKET_FILTER, body, log_level=2, log_size=1024) as p2:
        log = p2.log
    assert len(log) > 64 * 1024
    assert log.lstrip().startswith("func#0") or log.lstrip().startswith("0:")
    assert f"processed {n + 2} insns" in log
    assert f"{n}: (07) r0 += 1" in log


def test_failed_load_with_log_level_2_keeps_whole_log() -> None:
    body = [mov(0, 0)] + [I(0x07, 0, 0, 0, 1)] * 500 + [I(0xBF, 0, 7), EXIT]
    with pytest.raises(KernelVerifierError) as ei:
        prog_load(ProgType.SOCKET_FILTER, body, log_level=2, log_size=256)
    log = ei.value.log
    assert "R7 !read_ok" in log and "500: (07) r0 += 1" in log
    assert log.lstrip().startswith("func#0") or log.lstrip().startswith("0:")


def test_test_run_data_in_out() -> None:
    with prog_load(ProgType.XDP, xdp_write_first_byte(), name="writer") as p:
        pkt = bytes(range(64))
        res = p.test_run(pkt)
        assert res.retval == abi.XDP_TX
        assert res.data_out == b"\xaa" + pkt[1:]
        res = prog_test_run(p, pkt, repeat=50)
        assert res.retval == abi.XDP_TX and res.duration >= 0


def test_test_run_ctx_in_out() -> None:
    # r0 = ((struct __sk_buff *)r1)->mark; exit
    code = [I(0x61, 0, 1, 8), EXIT]
    ctx = bytearray(192)  # sizeof(struct __sk_buff)
    ctx[8:12] = (0x1234).to_bytes(4, "little")
    with prog_load(ProgType.SCHED_CLS, code) as p:
        res = p.test_run(bytes(64), ctx_in=bytes(ctx))
    assert res.retval == 0x1234
    assert len(res.ctx_out) == 192 and res.ctx_out[8:12] == ctx[8:12]


def test_test_run_buffers_are_reused_and_grow() -> None:
    """A Program's test runs share one set of argument buffers (per thread): packets
    of growing and shrinking sizes, with and without a context, give what one-shot
    runs with fresh buffers give; an output that does not fit is ENOSPC as before."""
    import threading

    from pybpf.kernel.errors import KernelNoSpaceError
    from pybpf.kernel.progs import TestRunBuffers
    with prog_load(ProgType.XDP, xdp_write_first_byte(), name="reuse") as p:
        for n in [64, 14, 1500, 60, 3000, 64]:
            pkt = bytes((i * 7 + n) & 0xFF for i in range(n))
            fresh = prog_test_run(p.fd, pkt, buffers=TestRunBuffers())
            reused = p.test_run(pkt)
            assert reused.retval == fresh.retval == abi.XDP_TX
            assert reused.data_out == fresh.data_out == b"\xaa" + pkt[1:]
        bufs = p._test_run_buffers()
        assert bufs is p._test_run_buffers()
        with pytest.raises(KernelNoSpaceError, match="output needs data"):
            p.test_run(bytes(100), data_size_out=10)
        assert p.test_run(bytes(64)).data_out == b"\xaa" + bytes(63)
        seen = []

        def other() -> None:
            seen.append(p._test_run_buffers())
            seen.append(p.test_run(bytes(32)).data_out)
        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert seen[0] is not bufs and seen[1] == b"\xaa" + bytes(31)


def test_get_info_fields() -> None:
    code = encode(RET2)
    with Map.create(MapType.ARRAY, 4, 8, 1) as m, \
            prog_load(ProgType.XDP, RET2, name="infoprog") as p:
        info = p.info()
        assert info.type is ProgType.XDP and info.name == "infoprog" and info.id > 0
        assert info.xlated_prog_len == len(code) and info.xlated_insns == code
        assert info.verified_insns == 2 and info.gpl_compatible
        assert info.created_by_uid == os.geteuid()
        if open("/proc/sys/net/core/bpf_jit_enable").read().strip() != "0":
            assert info.jited_prog_len > 0 and len(info.jited_insns) == info.jited_prog_len
        assert info.map_ids == []
        # A program that references a map lists its id.
        uses_map = [Instruction.lddw(1, m.fd, src=BPF_PSEUDO_MAP_FD), mov(0, 2), EXIT]
        with prog_load(ProgType.XDP, uses_map) as q:
            assert q.info().map_ids == [m.id]


def test_run_statistics() -> None:
    with prog_load(ProgType.XDP, RET2) as p:
        with enable_stats():
            p.test_run(bytes(64), repeat=20)
            info = p.info(insns=False)
        assert info.run_cnt >= 20 and info.run_time_ns > 0


def test_next_id_iteration_and_fd_by_id() -> None:
    with prog_load(ProgType.XDP, RET2, name="findme") as p:
        pid = p.id
        assert pid in set(prog_ids())
        with Program.from_id(pid) as again:
            assert again.name == "findme" and again.prog_type is ProgType.XDP
            assert again.id == pid and again.fd != p.fd
    assert pid not in set(prog_ids())
    with pytest.raises(KernelKeyError):
        prog_get_fd_by_id(pid)


# --- fd ownership ---------------------------------------------------------------------------

def test_fd_object() -> None:
    r, w = os.pipe()
    os.close(w)
    f = FD(r, "pipe")
    assert f.fileno() == r and int(f) == r and not f.closed
    with f:
        pass
    assert f.closed
    with pytest.raises(ValueError):
        f.fileno()
    f.close()
    with pytest.raises(OSError):
        os.fstat(r)


def test_no_fd_leak_load_close(fd_count) -> None:
    code = encode(RET2)
    before = fd_count()
    for _ in range(1000):
        prog_load(ProgType.XDP, code).close()
    for _ in range(100):
        with pytest.raises(KernelVerifierError):
            prog_load(ProgType.XDP, bytes.fromhex("bf050000000000009500000000000000"))
    assert fd_count() == before


def test_no_fd_leak_map_create_close(fd_count) -> None:
    before = fd_count()
    for _ in range(1000):
        with Map.create(MapType.ARRAY, 4, 8, 1):
            pass
    assert fd_count() == before


def test_dropped_objects_are_closed_by_gc(fd_count) -> None:
    code = encode(RET2)
    before = fd_count()
    objs = [prog_load(ProgType.XDP, code) for _ in range(100)]
    objs += [Map.create(MapType.HASH, 4, 4, 1) for _ in range(100)]
    assert fd_count() == before + 200
    del objs
    gc.collect()
    assert fd_count() == before
    for _ in range(200):  # dropped without close(), no list holding them
        prog_load(ProgType.XDP, code)
        Map.create(MapType.HASH, 4, 4, 1)
    gc.collect()
    assert fd_count() == before
