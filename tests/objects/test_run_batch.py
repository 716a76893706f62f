"""Program.run_batch: a whole list or stream of packets through the VM's per-packet
runner, the same verdicts and frames as test_run gives one packet at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

import pybpf
from pybpf.pcap import read_pcap

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _firewall() -> Any:
    prog = pybpf.load(str(EXAMPLES / "xdp_firewall.o")).instantiate("vm").programs[
        "xdp_firewall"]
    prog.set_clock(lambda: 1_000_000_000)  # one instant: the rate limiter decides alike
    return prog


def per_packet(run: Callable[[bytes], Any], prog_type: int, packets: Iterable[bytes]
               ) -> tuple[dict[int, int], list[bytes], int]:
    """What run_batch should give, from `run(data)` (a test run's result) a packet at a
    time: the return values counted, the frames of the packets that pass (a socket
    filter's cut to its return value) and the refusals."""
    from pybpf.objects.runner import passes
    from pybpf.uapi import ProgType
    counts: dict[int, int] = {}
    frames: list[bytes] = []
    errors = 0
    for data in packets:
        try:
            res = run(data)
        except pybpf.PyBPFError:
            errors += 1
            continue
        counts[res.retval] = counts.get(res.retval, 0) + 1
        if passes(prog_type, res.retval):
            frames.append(res.data_out if prog_type != ProgType.SOCKET_FILTER
                          else data[:res.retval])
    return counts, frames, errors


def test_batch_equals_test_run_per_packet() -> None:
    frames = [p.data for p in read_pcap(EXAMPLES / "traffic.pcap")]
    # odd sizes too: too short for Ethernet (refused), multi-buffer (past one page)
    frames += [b"\x00" * 10, frames[0] + bytes(5000)]
    one = _firewall()
    want_verdicts, want_frames, errors = per_packet(one.test_run, one.type, frames)
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


def _len_verdict() -> Any:
    """An XDP program that counts its runs in map `seen` (by a direct map-value
    address) and returns the packet's length modulo 4, writing 0xab into byte 14 of
    packets that have one."""
    from pybpf.builder import R0, R1, R2, R3, R6, ObjectBuilder
    ob = ObjectBuilder()
    ob.map("seen", "array", key="u32", value="u64", max_entries=1)
    p = ob.program("lenverdict", "xdp")
    p.mov64(R6, R1)
    p.ld_map_value(R2, "seen", 0).mov64(R3, 1).atomic_add("dw", R2, 0, R3)
    p.ldxw(R2, R6, 4).ldxw(R1, R6, 0)
    p.mov64(R0, R2).sub64(R0, R1).and64(R0, 3)
    p.mov64(R3, R1).add64(R3, 15).jgt(R3, R2, "out")
    p.st("b", R1, 14, 0xAB)
    p.label("out").exit()
    return ob.build()


def _seen(obj: Any) -> int:
    return int.from_bytes(obj.maps["seen"].lookup(bytes(4)), "little")


def test_batch_equals_test_run_on_each_backend(bpf_backend: str) -> None:
    """On the kernel too (its PacketTestRun: one attr and buffer for all runs, no
    output copied back unless asked), run_batch gives what test_run per packet gives:
    return values, refusals, output frames and the map's count."""
    frames = [bytes((i * 7 + n) & 0xFF for i in range(n))
              for n in [64, 15, 10, 1500, 14, 60, 3000, 0, 77, 64, 13, 200]]
    spec = _len_verdict()
    with spec.instantiate(bpf_backend) as one:
        prog = one.programs["lenverdict"]
        want: dict[int, int] = {}
        want_frames, errors = [], 0
        for f in frames:
            try:
                res = prog.test_run(f)
            except pybpf.PyBPFError:
                errors += 1
                continue
            assert res.data_out == prog.test_run(f, data_size_out=len(f) + 4096).data_out
            want[res.retval] = want.get(res.retval, 0) + 1
            if res.retval == 2:  # XDP_PASS
                want_frames.append(res.data_out)
        runs = _seen(one)
    passed = len(frames) - errors
    assert errors == 3 and runs == 2 * passed  # each passed frame ran twice above
    for keep in (True, False):
        with spec.instantiate(bpf_backend) as obj:
            steps: list[int] = []
            batch = obj.programs["lenverdict"].run_batch(
                iter(frames * 20), keep_frames=keep,
                progress=lambda done, total, steps=steps: steps.append(done))
            assert batch.packets == len(frames) * 20
            assert dict(batch.retvals) == {k: v * 20 for k, v in want.items()}
            assert batch.verdicts["error"] == errors * 20
            assert batch.frames == (want_frames * 20 if keep else None)
            assert _seen(obj) == passed * 20
            assert steps == [64, 128, 192, 240]


def test_capture_file_equals_its_packets_on_each_backend(bpf_backend: str,
                                                          tmp_path: Path) -> None:
    """A capture file streamed through run_batch (on the kernel its frames are cut
    straight out of the record buffer) gives what the same packets give as a list:
    counts, refusals, the map's count and the reader's packet count."""
    from pybpf.pcap import CaptureReader, EthernetFrames, Packet, write_pcap
    frames = [bytes((i * 7 + n) & 0xFF for i in range(n))
              for n in [64, 15, 10, 1500, 14, 60, 3000, 77, 64, 13, 200]] * 150
    path = tmp_path / "x.pcap"
    write_pcap(path, [Packet(i * 1000, f, len(f)) for i, f in enumerate(frames)])
    spec = _len_verdict()
    results = []
    for source in ("list", "file"):
        with spec.instantiate(bpf_backend) as obj, CaptureReader(path) as reader:
            packets = list(reader) if source == "list" else EthernetFrames(reader)
            batch = obj.programs["lenverdict"].run_batch(packets)
            results.append((batch.packets, dict(batch.retvals), batch.verdicts["error"],
                            _seen(obj), reader.packets))
    assert results[0] == results[1]
    assert results[1][0] == results[1][4] == len(frames)
