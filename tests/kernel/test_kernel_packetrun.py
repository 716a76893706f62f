"""PacketTestRun: one test run per packet with buffers made once; the same return
values, outputs and refusals as prog_test_run on the same packets."""

from __future__ import annotations

import errno

import pytest

from pybpf.isa import Instruction
from pybpf.kernel import KernelTestRunError, ProgType, abi, prog_load, prog_test_run
from pybpf.kernel.packetrun import PacketTestRun
from pybpf.kernel.progs import TestRunBuffers

pytestmark = pytest.mark.kernel

I = Instruction  # noqa: E741 (short, for the instruction list below)


def xdp_len_verdict() -> list[Instruction]:
    """Return the packet's length modulo 4 (an XDP verdict), writing 0xab into byte 14
    of packets that have one."""
    return [
        I(0x61, 2, 1, 4),        # r2 = data_end
        I(0x61, 1, 1, 0),        # r1 = data
        I(0xBF, 0, 2),           # r0 = r2
        I(0x1F, 0, 1),           # r0 -= r1      the length
        I(0x57, 0, 0, 0, 3),     # r0 &= 3
        I(0xBF, 3, 1),           # r3 = r1
        I(0x07, 3, 0, 0, 15),    # r3 += 15
        I(0x2D, 3, 2, 1),        # if r3 > r2 goto +1
        I(0x72, 1, 0, 14, 0xAB),  # *(u8 *)(r1 + 14) = 0xab
        I(0x95),                 # exit
    ]


# sizes that shrink and grow (past the first buffer too), and ones the kernel refuses
SIZES = [64, 15, 1500, 14, 60, 3000, 5000, 13, 0, 100, 9000, 64]


def _packet(n: int) -> bytes:
    return bytes((i * 13 + n) & 0xFF for i in range(n))


def _expected(p: object, pkt: bytes) -> tuple[str, int, bytes]:
    try:
        res = prog_test_run(p, pkt or None, buffers=TestRunBuffers())  # type: ignore[arg-type]
    except KernelTestRunError as e:
        return "error", e.errno, b""
    return "ok", res.retval, res.data_out


@pytest.mark.parametrize("keep", [True, False])
def test_runs_match_prog_test_run(keep: bool) -> None:
    with prog_load(ProgType.XDP, xdp_len_verdict(), name="lenverdict") as p:
        runner = PacketTestRun(p, keep_output=keep)
        for n in SIZES:
            pkt = _packet(n)
            kind, value, out = _expected(p, pkt)
            try:
                got = runner.run(pkt)
            except KernelTestRunError as e:
                assert (kind, value) == ("error", e.errno), n
                continue
            assert (kind, value) == ("ok", got), n
            assert runner.output() == (out if keep else b""), n
            assert runner.duration >= 0


def test_count_matches_runs_and_reports_refusals() -> None:
    with prog_load(ProgType.XDP, xdp_len_verdict(), name="lencount") as p:
        packets = [_packet(n) for n in SIZES * 3]
        want: dict[int, int] = {}
        refused = []
        for pkt in packets:
            kind, value, _ = _expected(p, pkt)
            if kind == "ok":
                want[value] = want.get(value, 0) + 1
            else:
                refused.append(value)
        counts: dict[int, int] = {}
        errors: list[KernelTestRunError] = []
        runner = PacketTestRun(p)
        # bytes, bytearrays and objects carrying .data, as run_batch hands them over
        mixed = [bytearray(x) if i % 3 == 1 else _Frame(x) if i % 3 == 2 else x
                 for i, x in enumerate(packets)]
        assert runner.count(mixed, counts, errors.append) == len(packets)
        assert counts == want
        assert [e.errno for e in errors] == refused and errno.EINVAL in refused


class _Frame:
    def __init__(self, data: bytes) -> None:
        self.data = data


def test_closed_program_is_refused() -> None:
    p = prog_load(ProgType.XDP, xdp_len_verdict(), name="closed")
    runner = PacketTestRun(p)
    assert runner.run(bytes(64)) == 0
    p.close()
    with pytest.raises(ValueError, match="closed"):
        runner.run(bytes(64))
    with pytest.raises(ValueError, match="closed"):
        runner.count([bytes(64)], {}, lambda e: None)


def test_output_of_a_grown_packet() -> None:
    """bpf_xdp_adjust_head(ctx, -16): 16 more bytes in front; the output has them."""
    code = [
        I(0xBF, 6, 1),                # r6 = ctx
        I(0xB7, 2, 0, 0, -16),        # r2 = -16
        I(0x85, 0, 0, 0, 44),         # call bpf_xdp_adjust_head
        I(0xB7, 0, 0, 0, abi.XDP_PASS),
        I(0x95),
    ]
    with prog_load(ProgType.XDP, code, name="grow") as p:
        runner = PacketTestRun(p, keep_output=True)
        pkt = _packet(64)
        assert runner.run(pkt) == abi.XDP_PASS
        assert len(runner.output()) == 80 and runner.output()[16:] == pkt
        assert runner.output() == prog_test_run(p, pkt).data_out


def test_no_data_passes_no_buffers() -> None:
    """A run of no bytes passes no data buffers, as prog_test_run does (the kernel's
    answer is then its own), and the buffers are back for the next packet."""
    with prog_load(ProgType.XDP, xdp_len_verdict(), name="nodata") as p:
        for keep in (True, False):
            runner = PacketTestRun(p, keep_output=keep)
            with pytest.raises(KernelTestRunError) as empty:
                runner.run(b"")
            with pytest.raises(KernelTestRunError) as also:
                prog_test_run(p, None)
            assert empty.value.errno == also.value.errno == errno.EINVAL
            assert runner.attr.data_in and bool(runner.attr.data_out) == keep
            assert runner.run(bytes(64)) == 0
            assert runner.output() == (prog_test_run(p, bytes(64)).data_out if keep else b"")
            counts: dict[int, int] = {}
            refused: list[KernelTestRunError] = []
            assert runner.count([b"", bytes(64), b"", bytes(65)], counts, refused.append) == 4
            assert counts == {0: 1, 1: 1} and [e.errno for e in refused] == [errno.EINVAL] * 2
