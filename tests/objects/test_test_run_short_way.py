"""Program.test_run of a plain packet takes the backend's short way (the VM's reused
XDP page and context, the kernel's PacketTestRun of the thread); every result is the
one the general path gives, on both backends, run after run."""

from __future__ import annotations

from typing import Any

import pytest

import pybpf


def _meta_writer() -> Any:
    """bpf_xdp_adjust_meta(ctx, -8), 0xaa into the metadata's first byte, 0xbb into
    the packet's byte 20 (when it has one); XDP_PASS, or XDP_DROP when the metadata's
    first byte was not 0 (a page not cleared since an earlier run)."""
    from pybpf.builder import R0, R1, R2, R3, R4, R6, ObjectBuilder
    ob = ObjectBuilder()
    p = ob.program("meta", "xdp")
    p.mov64(R6, R1).mov64(R2, -8).call("xdp_adjust_meta")
    p.jne(R0, 0, "out")
    p.ldxw(R2, R6, 8).ldxw(R3, R6, 0)  # data_meta, data
    p.mov64(R1, R2).add64(R1, 8).jgt(R1, R3, "out")
    p.ldxb(R4, R2, 0).st("b", R2, 0, 0xAA)
    p.jne(R4, 0, "stale")  # what an earlier run left in the headroom
    p.ldxw(R2, R6, 4).mov64(R1, R3).add64(R1, 21).jgt(R1, R2, "out")
    p.st("b", R3, 20, 0xBB)
    p.label("out").ret(2)
    p.label("stale").ret(1)
    return ob.build()


PACKETS = [bytes(range(64)), bytes(14), bytes(range(200, 256)) * 20, bytes(range(64))]


def test_short_way_equals_general_path(bpf_backend: str) -> None:
    with _meta_writer().instantiate(bpf_backend) as obj:
        prog = obj.programs["meta"]
        for pkt in PACKETS * 2:
            short = prog.test_run(pkt)
            general = prog.test_run(pkt, data_size_out=len(pkt) + 4096)  # the long way
            assert (short.retval, short.data_out, short.ctx_out) == \
                (general.retval, general.data_out, general.ctx_out) == \
                (2, b"\xaa" + bytes(7) + (pkt[:20] + b"\xbb" + pkt[21:] if len(pkt) > 20
                                          else pkt), b"")
            assert type(short) is type(general) and short.duration >= 0
        with pytest.raises(pybpf.PyBPFError):
            prog.test_run(bytes(5))  # too short: refused the same way
        # the short way again after a refusal: a fresh page, no metadata left over
        again = prog.test_run(PACKETS[0])
        assert again.data_out == b"\xaa" + bytes(7) + PACKETS[0][:20] + b"\xbb" + \
            PACKETS[0][21:]


def test_short_way_is_skipped_when_runs_are_wrapped(bpf_backend: str) -> None:
    """Something wrapping the test runs (RunCapture collecting output) sees every
    run."""
    with _meta_writer().instantiate(bpf_backend) as obj:
        prog = obj.programs["meta"]
        seen = []
        inner = prog._runner

        def wrapped(**kw: Any) -> Any:
            seen.append(kw["data_in"])
            return inner(**kw)
        prog._runner = wrapped
        assert prog.test_run(PACKETS[0]).retval == 2
        assert seen == [PACKETS[0]]


def test_vm_short_way_follows_the_network_namespace() -> None:
    """With a network namespace set the VM's general path runs (the short way knows
    only the default one); the results agree."""
    from pybpf.net.netns import fresh_netns
    with _meta_writer().instantiate("vm") as obj:
        prog = obj.programs["meta"]
        before = prog.test_run(PACKETS[0])
        prog.set_netns(fresh_netns())
        calls = []
        packet = prog._packet
        assert packet is not None

        def spy(data: bytes) -> Any:
            res = packet(data)
            calls.append(res)
            return res
        prog._packet = spy
        after = prog.test_run(PACKETS[0])
        assert calls == []  # not asked: the general path ran
        assert (after.retval, after.data_out) == (before.retval, before.data_out)
