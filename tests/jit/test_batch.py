"""Batch runs in native code (pybpf.jit.batch, objects.nativebatch): run_batch of an XDP
program on the JIT gives what the interpreter's run_batch gives (verdicts, errors,
frames, maps, a capture's truncation and its errors), for the examples, captures read
natively or packets packed from a list, hostile captures and packets that leave the
native loop (faults, the budget, helpers that move the packet, odd return values)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, Callable

import pytest

import pybpf
from pybpf.builder import FP, R0, R1, R2, R6, ObjectBuilder
from pybpf.jit import available
from pybpf.jit.batch import NativeBatch
from pybpf.objects.runner import dump_maps
from pybpf.pcap import CaptureReader, EthernetFrames, Packet, PcapError, read_pcap
from tests.objects.test_examples import _blocklist, _normalise

pytestmark = pytest.mark.skipif(not available(), reason="llvmlite does not load here")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
XDP_EXAMPLES = ["xdp_firewall", "xdp_lb", "tailcall_dispatch"]


@pytest.fixture
def feeds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many native calls the batches made (a spy on NativeBatch.feed)."""
    calls: list[int] = []
    feed = NativeBatch.feed

    def spy(self: NativeBatch, *a: Any, **kw: Any) -> Any:
        calls.append(1)
        return feed(self, *a, **kw)
    monkeypatch.setattr(NativeBatch, "feed", spy)
    return calls


def _outcome(spec: Any, engine: str, packets: Callable[[], Any], *, program: str | None = None,
             budget: int | None = None, **kw: Any) -> dict[str, Any]:
    """run_batch of `spec` on `engine` (a fresh object) over packets(): everything it
    reports, the maps, and the capture reader's own state."""
    frames: list[Packet] = []
    with spec.instantiate("vm", engine=engine) as obj:
        _blocklist(obj)
        prog = obj.programs[program] if program else list(obj.programs.values())[-1]
        if budget is not None:
            prog.handle.insn_budget = budget
        src = packets()
        reader: Any = src._packets if isinstance(src, EthernetFrames) else None
        progress: list[tuple[int, int]] = []
        try:
            res = prog.run_batch(src, keep_frames=True, on_pass=frames.append,
                                 progress=lambda d, t: progress.append((d, t)), **kw)
        except PcapError as e:
            return {"raised": str(e), "maps": _normalise(dump_maps(obj))}
        return {"packets": res.packets, "verdicts": dict(res.verdicts),
                "retvals": dict(res.retvals), "errors": dict(res.errors),
                "passed": res.passed, "frames": res.frames,
                "on_pass": [(p.ts_ns, p.data, p.orig_len) for p in frames],
                "progress": progress, "maps": _normalise(dump_maps(obj)),
                "reader": (reader.truncated, reader.packets) if reader else None}


def _same(spec: Any, packets: Callable[[], Any], **kw: Any) -> dict[str, Any]:
    interp = _outcome(spec, "interp", packets, **kw)
    jit = _outcome(spec, "jit", packets, **kw)
    assert jit == interp
    return jit


def _capture(path: Path) -> Callable[[], Any]:
    return lambda: EthernetFrames(CaptureReader(path))


@pytest.mark.parametrize("name", XDP_EXAMPLES)
def test_examples_same_as_interpreter_from_the_file(name: str, feeds: list[int]) -> None:
    out = _same(pybpf.load(str(EXAMPLES / f"{name}.o")), _capture(EXAMPLES / "traffic.pcap"),
                capture_clock=True)
    assert out["packets"] == 302 and out["reader"] == (None, 302)
    assert feeds, "the JIT's run went native"


@pytest.mark.parametrize("name", XDP_EXAMPLES)
def test_examples_same_as_interpreter_from_a_list(name: str, feeds: list[int]) -> None:
    packets = read_pcap(EXAMPLES / "traffic.pcap")
    out = _same(pybpf.load(str(EXAMPLES / f"{name}.o")), lambda: list(packets), capture_clock=True)
    assert out["packets"] == 302
    out = _same(pybpf.load(str(EXAMPLES / f"{name}.o")), lambda: (p.data for p in packets))
    assert out["packets"] == 302
    assert feeds


def _pcap(records: list[tuple[int, int, bytes, int]], *, big: bool = False,
          nano: bool = False, tail: bytes = b"") -> bytes:
    e = ">" if big else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1)
    for sec, frac, data, orig in records:
        out += struct.pack(e + "IIII", sec, frac, len(data), orig) + data
    return out + tail


def _frames() -> list[bytes]:
    return [p.data for p in read_pcap(EXAMPLES / "traffic.pcap")]


@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("nano", [False, True])
def test_byte_order_and_nanoseconds(tmp_path: Path, big: bool, nano: bool,
                                    feeds: list[int]) -> None:
    recs = [(1_700_000_000 + i, 1000 * i, f, len(f) + i) for i, f in enumerate(_frames()[:80])]
    path = tmp_path / "c.pcap"
    path.write_bytes(_pcap(recs, big=big, nano=nano))
    out = _same(pybpf.load(str(EXAMPLES / "xdp_firewall.o")), _capture(path), capture_clock=True)
    assert out["packets"] == 80 and feeds


ODD = [b"", b"\x00" * 10, b"\x00" * 14]  # empty, short of Ethernet, just Ethernet


PACKET_EXAMPLES = ["xdp_firewall", "tc_classifier", "sockfilter_proto"]


@pytest.mark.parametrize("name", PACKET_EXAMPLES)
@pytest.mark.parametrize("case", ["odd_lengths", "cut_header", "cut_data", "huge", "huge_first",
                                  "multi_buffer", "empty"])
def test_hostile_captures_same_as_interpreter(tmp_path: Path, case: str, name: str,
                                             feeds: list[int]) -> None:
    frames = _frames()[:40]
    recs = [(1_700_000_000, i, f, len(f)) for i, f in enumerate(frames)]
    tail = b""
    if case == "odd_lengths":
        recs[5:5] = [(1_700_000_000, 0, d, len(d)) for d in ODD]
    elif case == "cut_header":
        tail = b"\x01\x02\x03\x04\x05"
    elif case == "cut_data":
        tail = struct.pack("<IIII", 1, 2, 200, 200) + bytes(50)
    elif case in ("huge", "huge_first"):
        bad = struct.pack("<IIII", 1, 2, (1 << 20) + 1, 10) + bytes(64)
        at = 0 if case == "huge_first" else 7
        body = _pcap(recs[:at])
        path = tmp_path / "c.pcap"
        path.write_bytes(body + bad + _pcap(recs[at:])[24:])
        out = _same(pybpf.load(str(EXAMPLES / f"{name}.o")), _capture(path))
        assert "claims" in out["raised"] and f"packet {at + 1} " in out["raised"]
        return
    elif case == "multi_buffer":
        recs[3:3] = [(1_700_000_000, 0, frames[0] + bytes(n), 0) for n in (3400, 3600, 5000,
                                                                             70000)]
    elif case == "empty":
        recs = []
    path = tmp_path / "c.pcap"
    path.write_bytes(_pcap(recs, tail=tail))
    out = _same(pybpf.load(str(EXAMPLES / f"{name}.o")), _capture(path))
    if case == "cut_header":
        assert out["reader"][0] and "truncated record header after packet 40" in out["reader"][0]
    if case == "cut_data":
        assert out["reader"][0] and "truncated packet 41" in out["reader"][0]
    if case == "odd_lengths":
        assert out["verdicts"]["error"] == 2
    # (a socket filter keeps its frames in Python: _same asks for them)
    assert feeds or case == "empty" or name == "sockfilter_proto"


def _xdp(build: Callable[[Any], None]) -> Any:
    ob = ObjectBuilder()
    ob.map("seen", "array", key="u32", value="u64", max_entries=4)
    build(ob.program("p", "xdp"))
    return ob.build()


def _faulting(p: Any) -> None:
    """Loads the byte at data + 100 without a check: packets of 100 bytes or fewer
    fault, mid-batch; the others return their length (past the native histogram)."""
    p.mov64(R6, R1).ldxw(R2, R6, 0).ldxb(R0, R2, 100)
    p.ldxw(R0, R6, 4).ldxw(R2, R6, 0).sub64(R0, R2).exit()


def _looping(p: Any) -> None:
    """Loops forever on packets longer than 200 bytes (the budget ends them)."""
    p.ldxw(R2, R1, 4).ldxw(R1, R1, 0).sub64(R2, R1).jgt(R2, 200, "spin").ret(2)
    p.label("spin").add64(R2, 1).ja("spin")


def _moving(p: Any) -> None:
    """Moves the packet's start by 14 bytes and its end by -4 (Python helpers), then
    writes through the new data pointer: the frames kept are the moved ones."""
    p.mov64(R6, R1).mov64(R2, 14).call("xdp_adjust_head")
    p.mov64(R1, R6).mov64(R2, -4).call("xdp_adjust_tail")
    p.ldxw(R2, R6, 0).ldxw(R1, R6, 4).mov64(R0, R2).add64(R0, 1).jgt(R0, R1, "out")
    p.st("b", R2, 0, 0x5A)
    p.label("out").ret(2)


def _context(p: Any) -> None:
    """Reads xdp_md: packets whose length is 0 mod 4 read egress_ifindex (not this
    attach type's: an error), 1 mod 4 a byte of data (a narrow load: an error), the
    others return ingress_ifindex << 8 | rx_queue_index << 4 | (data - data_meta)."""
    p.mov64(R6, R1).ldxw(R2, R6, 4).ldxw(R1, R6, 0).sub64(R2, R1).and64(R2, 3)
    p.jeq(R2, 0, "egress").jeq(R2, 1, "narrow")
    p.ldxw(R0, R6, 12).lsh64(R0, 8).ldxw(R2, R6, 16).lsh64(R2, 4).or64(R0, R2)
    p.ldxw(R2, R6, 0).ldxw(R1, R6, 8).sub64(R2, R1).or64(R0, R2).exit()
    p.label("egress").ldxw(R0, R6, 20).exit()
    p.label("narrow").ldxb(R0, R6, 0).exit()


def _clocked(p: Any) -> None:
    """Keeps bpf_ktime_get_ns() in map `seen` (the last packet's) and returns it modulo
    251: the capture clock read natively must be the packet's time."""
    p.call("ktime_get_ns").mov64(R6, R0)
    p.stw(FP, -4, 0).mov64(R2, FP).add64(R2, -4).ld_map_fd(R1, "seen")
    p.call("map_lookup_elem").jeq(R0, 0, "out").stxdw(R0, 0, R6)
    p.label("out").mov64(R0, R6).mod64(R0, 251).exit()


@pytest.mark.parametrize("build", [_clocked], ids=lambda f: f.__name__)
def test_capture_clock_read_natively(build: Callable[[Any], None], feeds: list[int]) -> None:
    spec = _xdp(build)
    packets = [Packet(1_700_000_000_000_000_000 + 7_777_777 * i, f, len(f))
               for i, f in enumerate(_frames())]
    out = _same(spec, lambda: list(packets), program="p", capture_clock=True)
    assert len(out["retvals"]) > 100 and feeds
    last = packets[-1].ts_ns
    assert out["maps"]["seen"][0][1] in (repr(last), repr(last.to_bytes(8, "little").hex()))


@pytest.mark.parametrize("build", [_faulting, _looping, _moving, _context],
                         ids=lambda f: f.__name__)
def test_packets_leaving_the_native_loop(build: Callable[[Any], None], feeds: list[int]) -> None:
    spec = _xdp(build)
    packets = _frames()
    res = []
    for engine in ("interp", "jit"):
        frames: list[Packet] = []
        with spec.instantiate("vm", engine=engine, verify=False) as obj:
            prog = obj.programs["p"]
            prog.handle.insn_budget = 5000
            r = prog.run_batch(list(packets), keep_frames=True, on_pass=frames.append)
            res.append((r.packets, dict(r.verdicts), dict(r.retvals), dict(r.errors),
                        r.frames, [(p.ts_ns, p.data) for p in frames],
                        _normalise(dump_maps(obj))))
    assert res[0] == res[1]
    assert feeds
    if build is _faulting:
        assert res[1][1]["error"] > 0 and max(res[1][2]) >= 256  # faults, lengths as verdicts
    if build is _looping:
        assert any("InstructionLimitExceeded" in k for k in res[1][3])
    if build is _moving:
        assert res[1][4] and all(f[0] == 0x5A for f in res[1][4])
    if build is _context:
        assert 0x100 in res[1][2] and len(res[1][3]) == 2  # loopback, queue 0; two errors


@pytest.mark.parametrize("cheap", [True, False])
def test_auto_engine_agrees_native_or_not(feeds: list[int], tmp_path: Path, cheap: bool,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The auto engine runs the first packets on the interpreter and compiles once they
    (or the rest of the capture) cost what compiling would: made cheap here, it goes
    native at once; made dear, it stays on the interpreter. Either way the result is the
    interpreter's."""
    from pybpf.bench_pcap import repeated_capture
    from pybpf.jit import batch
    monkeypatch.setattr(batch, "COMPILE_NS_PER_UNIT", 0 if cheap else 10**9)
    monkeypatch.setattr(batch, "DRIVER_NS", 0)
    path = tmp_path / "c.pcap"
    repeated_capture(EXAMPLES / "traffic.pcap", 1500, path)
    spec = pybpf.load(str(EXAMPLES / "xdp_firewall.o"))
    interp = _outcome(spec, "interp", _capture(path), capture_clock=True)
    auto = _outcome(spec, "auto", _capture(path), capture_clock=True)
    assert auto == interp
    assert bool(feeds) == cheap


def _mutated(rng: Any, base: bytes) -> bytes:
    """The capture with a few records' fields or bytes changed and maybe cut short."""
    data = bytearray(base)
    offsets, pos = [], 24
    while pos + 16 <= len(data):
        offsets.append(pos)
        pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
    for _ in range(rng.randrange(1, 4)):
        at = rng.choice(offsets)
        what = rng.randrange(4)
        if what == 0:  # incl_len: zero, small, huge, a little more or less
            value = rng.choice([0, 1, 13, 14, 3600, (1 << 20) + 1, 0xFFFFFFFF,
                                struct.unpack_from("<I", data, at + 8)[0] + rng.randrange(-8, 9)])
            struct.pack_into("<I", data, at + 8, max(0, value) & 0xFFFFFFFF)
        elif what == 1:  # timestamps and orig_len
            struct.pack_into("<III", data, at, rng.getrandbits(32), rng.getrandbits(32),
                             rng.getrandbits(32))
        elif what == 2:  # a packet byte
            if at + 16 < len(data):
                data[rng.randrange(at + 16, min(len(data), at + 80))] = rng.getrandbits(8)
        else:  # cut short anywhere
            del data[rng.randrange(24, len(data)):]
            break
    return bytes(data)


@pytest.mark.parametrize("seed", range(24))
def test_mutated_captures_same_as_interpreter(tmp_path: Path, seed: int) -> None:
    import random
    rng = random.Random(seed)
    path = tmp_path / "m.pcap"
    path.write_bytes(_mutated(rng, (EXAMPLES / "traffic.pcap").read_bytes()[:12000]))
    name = PACKET_EXAMPLES[seed % len(PACKET_EXAMPLES)]
    _same(pybpf.load(str(EXAMPLES / f"{name}.o")), _capture(path), capture_clock=True)


def _pcapng(frames: list[bytes]) -> bytes:
    """A pcapng capture of `frames` (one Ethernet interface, nanosecond times)."""
    shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
    idb_body = (struct.pack("<HHI", 1, 0, 0) + struct.pack("<HHB3x", 9, 1, 9)
                + struct.pack("<HH", 0, 0))
    out = shb + struct.pack("<II", 1, 12 + len(idb_body)) + idb_body + \
        struct.pack("<I", 12 + len(idb_body))
    for i, data in enumerate(frames):
        ts = 1_700_000_000_000_000_000 + i * 7_000_000
        pad = bytes(-len(data) % 4)
        body = struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data)) + \
            data + pad
        out += struct.pack("<II", 6, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
    return out


@pytest.mark.parametrize("kind", ["pcapng", "raw_ip", "not_a_capture", "pcap_out"])
def test_cli_run_pcap_same_on_both_engines(tmp_path: Path, kind: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """`pybpf run --pcap` on the JIT (natively for a classic pcap, from the packets for
    the rest) prints what the interpreter prints, errors included."""
    import json
    from pybpf.cli.main import main
    frames = _frames()
    path = tmp_path / "c.cap"
    extra: list[str] = []
    if kind == "pcapng":
        path.write_bytes(_pcapng(frames))
    elif kind == "raw_ip":  # linktype RAW: each frame's IPv4 packet
        recs = [(1_700_000_000 + i, 0, f[14:], len(f) - 14) for i, f in enumerate(frames)
                if f[12:14] == b"\x08\x00"]
        path.write_bytes(_pcap(recs)[:20] + struct.pack("<I", 101) + _pcap(recs)[24:])
    elif kind == "not_a_capture":
        path.write_bytes(b"GIF89a, not a capture at all")
    else:
        path.write_bytes((EXAMPLES / "traffic.pcap").read_bytes())
    out = []
    for engine in ("interp", "jit"):
        if kind == "pcap_out":
            extra = ["--pcap-out", str(tmp_path / f"{engine}.pcap")]
        rc = main(["run", str(EXAMPLES / "xdp_firewall.o"), "--pcap", str(path), "--engine",
                   engine, "--json", *extra])
        cap = capsys.readouterr()
        text = cap.out.replace(str(tmp_path / f"{engine}.pcap"), "OUT")
        out.append((rc, json.loads(text) if rc == 0 else None, cap.err))
    assert out[0] == out[1]
    if kind == "not_a_capture":
        assert out[1][0] != 0 and "not a pcap" in out[1][2]
    else:
        assert out[1][0] == 0 and out[1][1]["packets"] > 0
    if kind == "pcap_out":
        assert (tmp_path / "interp.pcap").read_bytes() == (tmp_path / "jit.pcap").read_bytes()


def test_batch_sync_follows_a_region_turning_read_only() -> None:
    """A batch's extra rows (plain regions past the table) are made again when a
    region's writability, base or access changes, not only when it is replaced."""
    import ctypes
    from pybpf.jit.batch import _BatchRun
    from pybpf.jit.batch_ir import Word
    from pybpf.jit.layout import MAX_TABLE, Slot
    from pybpf.vm import Memory
    from pybpf.vm.memory import SEGMENT_HALF, Region
    memory = Memory()
    seg = MAX_TABLE + 3
    backing = bytearray(16)
    memory.regions[seg] = Region("value", (seg << 32) + SEGMENT_HALF, memoryview(backing))
    run = _BatchRun(None, memory, (), 1000, {}, {})
    run.st = (ctypes.c_uint64 * (int(Slot.SIZE) + int(Word.SIZE)))()

    def row() -> list[int]:
        run.sync()
        return list(run._extra[:4])
    assert row()[:3] == [seg, 16, 16]
    assert row()[:3] == [seg, 16, 16]  # nothing changed: the rows stay
    memory.regions[seg].writable = False
    assert row()[:3] == [seg, 16, 0]  # read-only now: no stores natively
