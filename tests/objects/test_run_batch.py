"""Program.run_batch: a whole list or stream of packets through the VM's per-packet
runner, the same verdicts and frames as test_run gives one packet at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pybpf
from pybpf.pcap import read_pcap

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _firewall() -> Any:
    prog = pybpf.load(str(EXAMPLES / "xdp_firewall.o")).instantiate("vm").programs[
        "xdp_firewall"]
    prog.set_clock(lambda: 1_000_000_000)  # one instant: the rate limiter decides alike
    return prog


def test_batch_equals_test_run_per_packet() -> None:
    frames = [p.data for p in read_pcap(EXAMPLES / "traffic.pcap")]
    # odd sizes too: too short for Ethernet (refused), multi-buffer (past one page)
    frames += [b"\x00" * 10, frames[0] + bytes(5000)]
    one = _firewall()
    want_verdicts: dict[int, int] = {}
    want_frames, errors = [], 0
    for f in frames:
        try:
            res = one.test_run(f)
        except pybpf.PyBPFError:
            errors += 1
            continue
        want_verdicts[res.retval] = want_verdicts.get(res.retval, 0) + 1
        if res.retval == 2:  # XDP_PASS
            want_frames.append(res.data_out)
    batch = _firewall().run_batch(frames, keep_frames=True)
    assert batch.packets == len(frames)
    assert dict(batch.retvals) == want_verdicts
    assert batch.verdicts["error"] == errors == 1
    assert batch.frames == want_frames
    assert batch.passed == len(want_frames)


def test_batch_streams_and_keeps_nothing_unasked() -> None:
    frames = (p.data for p in read_pcap(EXAMPLES / "traffic.pcap"))
    seen = []
    batch = _firewall().run_batch(frames, on_pass=seen.append,
                                  progress=lambda done, total: None)
    assert batch.frames is None
    assert batch.packets == 302 and batch.passed == len(seen) == 248
    assert dict(batch.verdicts) == {"XDP_PASS": 248, "XDP_DROP": 54}
