"""pybpf.progtypes.skbrunner: one packet after another through the state made once
gives, packet by packet, what test_run_skb gives each: the return value or the same
refusal, the same data_out, the same maps; on both engines, for every skb type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import pybpf
from pybpf import isa
from pybpf.builder import R0, R1, R2, R3, R4, R6, R7, ObjectBuilder
from pybpf.jit.engine import make_vm
from pybpf.pcap import read_pcap
from pybpf.progtypes import packet_runner, skb_spec, test_run
from pybpf.progtypes.helpersets import helpers_for
from pybpf.progtypes.skbrunner import SkbRunner
from pybpf.uapi import ProgType
from tests.objects.test_run_batch import per_packet

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TYPES = {"tc": ProgType.SCHED_CLS, "socket": ProgType.SOCKET_FILTER,
         "cgroup_skb/ingress": ProgType.CGROUP_SKB, "lwt_in": ProgType.LWT_IN}


def frames() -> list[bytes]:
    """The example capture's frames and odd ones: too short, a bare Ethernet header,
    IPv4 and IPv6 frames shorter than their headers (refused), 802.3 and 802.2
    lengths, broadcast and multicast destinations, past a page (refused), and sizes on
    either side of the kernel's 64-byte buffer steps."""
    out = [p.data for p in read_pcap(EXAMPLES / "traffic.pcap")][:120]
    eth = bytes(6) + bytes(range(1, 7))
    out += [b"", bytes(13), bytes(14), eth + b"\x08\x00" + bytes(10),
            eth + b"\x86\xdd" + bytes(30), eth + b"\x00\x40" + b"\xff\xff" + bytes(40),
            eth + b"\x00\x40" + bytes(42), b"\xff" * 6 + eth[6:] + b"\x08\x06" + bytes(28),
            b"\x01\x00\x5e\x00\x00\x01" + eth[6:] + b"\x08\x00" + bytes(40), bytes(5000)]
    # IP frames one byte short of their network header, and just long enough
    out += [eth + b"\x08\x00" + bytes(19), eth + b"\x08\x00" + b"\x45" + bytes(19),
            eth + b"\x86\xdd" + bytes(39), eth + b"\x86\xdd" + b"\x60" + bytes(39)]
    out += [out[0][:n] + bytes(max(0, n - len(out[0]))) for n in (43, 44, 49, 50, 57, 58, 113,
                                                                 114, 1500)]
    return out


NATIVE_FIELDS = {"len", "pkt_type", "protocol", "mark", "cb[0]", "cb[3]", "ifindex",
                 "tc_index", "queue_mapping", "vlan_present", "hash", "priority"}


def fields_program(section: str, native_only: bool = False) -> bytes:
    """A program of type `section` that folds every 4-byte __sk_buff field it may read
    (data_end - data for the packet pointers) into r0, stores to the fields it may
    write, calls bpf_skb_pull_data where it may, then reads len again; its return value
    is the fold modulo 7 (a verdict each type knows; cgroup skb: its parity).
    `native_only`: only fields a batch serves natively, no helper, no LD_ABS, no
    socket."""
    spec = skb_spec(TYPES[section])
    readable = [f for f in spec if f.kind.value in ("value", "memory") and
                _ok(spec, f.offset, False) and (f.name in NATIVE_FIELDS or not native_only)]
    ob = ObjectBuilder()
    p = ob.program("f", section)
    p.mov64(R6, R1).mov64(R7, 0)
    for f in readable:
        p.ldxw(R2, R6, f.offset).xor64(R7, R2).mul64(R7, 31)
    if _ok(spec, 76, False) and _ok(spec, 80, False):  # data, data_end
        p.ldxw(R2, R6, 76).ldxw(R3, R6, 80).sub64(R3, R2).add64(R7, R3)
    # stores with bits a field does not keep, each read back
    for off, value in ((8, 7), (52, 9), (72, 5), (32, 3), (44, 6)):  # mark, cb[1],
        if _ok(spec, off, True):  # tc_classid, priority, tc_index
            p.mov64(R2, R7).and64(R2, 0xFFFFF).or64(R2, value << 24).stxw(R6, off, R2)
            p.ldxw(R2, R6, off).xor64(R7, R2).mul64(R7, 31)
    sk = next((f for f in spec if f.name == "sk"), None)
    if sk is not None and not native_only and _ok(spec, sk.offset, False, 8):
        p.ldxdw(R2, R6, sk.offset).jeq(R2, 0, "nosk")
        for off in (4, 24, 52):  # the test socket's family, src_ip4, dst_ip4
            p.ldxw(R3, R2, off).xor64(R7, R3).mul64(R7, 31)
        p.label("nosk")
    if TYPES[section] in (ProgType.SCHED_CLS, ProgType.SOCKET_FILTER):  # LD_ABS, LD_IND
        p.mov64(R6, R6)  # (r6 = skb, as LD_ABS wants)
        for size, off in (("b", 12), ("h", 12), ("w", 26), ("b", -0x100000 + 9),
                          ("h", -0x200000 + 6), ("w", 40)):  # the last: past short ones
            p.ld_abs(size, off).xor64(R7, R0).mul64(R7, 31)
        p.mov64(R4, R7).and64(R4, 7).ld_ind("h", R4, 14).xor64(R7, R0)
    if section == "tc" and not native_only:
        p.mov64(R1, R6).mov64(R2, 20).call("skb_pull_data").add64(R7, R0)
        p.ld_abs("b", 12).add64(R7, R0)
    p.ldxw(R4, R6, 0).add64(R7, R4)
    p.mov64(R0, R7)
    if TYPES[section] == ProgType.CGROUP_SKB:  # 0 or 1: the parity of the fold
        for shift in (32, 16, 8, 4, 2, 1):
            p.mov64(R2, R0).rsh64(R2, shift).xor64(R0, R2)
        p.and64(R0, 1).exit()
    else:
        p.mod64(R0, 7).exit()  # every bit of the fold counts
    return isa.encode(ob.build().programs["f"].instructions)


def _ok(spec: Any, off: int, write: bool, size: int = 4) -> bool:
    try:
        spec.check(off, size, write)
    except ValueError:
        return False
    return True


def _outcome(run: Any, data: bytes) -> tuple:
    try:
        return ("ok",) + run(data)
    except pybpf.PyBPFError as e:
        return ("error", type(e).__name__, str(e))


@pytest.mark.parametrize("engine", ["interp", "jit"])
@pytest.mark.parametrize("section", list(TYPES))
def test_runner_equals_test_run_per_packet(section: str, engine: str) -> None:
    pt = TYPES[section]
    code = fields_program(section)
    alone = make_vm(code, engine=engine, helpers=helpers_for(pt))
    reused = make_vm(code, engine=engine, helpers=helpers_for(pt))
    run = packet_runner(reused, pt)
    assert run is not None

    def one(data: bytes) -> tuple:
        res = test_run(alone, pt, data_in=data)
        return res.retval, res.data_out

    def many(data: bytes) -> tuple:
        retval = run(data)
        return retval, run.output()  # type: ignore[attr-defined]  # it has one

    refused, retvals = 0, set()
    for data in frames() * 2:
        want = _outcome(one, data)
        assert _outcome(many, data) == want, (section, len(data))
        refused += want[0] == "error"
        retvals.add(want[1])
    assert refused == 2 * 7  # empty, 13 bytes, the four short IP frames, past a page
    assert len(retvals) >= 2  # the fold differs from packet to packet


@pytest.mark.parametrize("name", ["tc_classifier", "sockfilter_proto", "cgroup_skb_count"])
def test_example_batches_equal_test_runs(name: str) -> None:
    """run_batch of the skb examples over the capture gives the counts and maps that
    test_run per packet gives."""
    packets = frames()
    results = []
    for batch in (False, True):
        obj = pybpf.load(str(EXAMPLES / f"{name}.o")).instantiate("vm")
        try:
            prog = next(iter(obj.programs.values()))
            if batch:
                res = prog.run_batch(packets, keep_frames=True)
                counts, kept = dict(res.retvals), res.frames
                errors = res.verdicts["error"]
            else:
                counts, kept, errors = per_packet(prog.test_run, prog.type, packets)
            maps = {n: sorted((bytes(k), bytes(m.lookup(k))) for k in m.keys())
                    for n, m in obj.maps.items() if not n.startswith(".")}
            results.append((counts, kept, errors, maps))
        finally:
            obj.close()
    assert results[0] == results[1]
    assert results[1][2] > 0 and sum(results[1][0].values()) > 100


@pytest.mark.parametrize("native_only", [False, True])
@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize("section", list(TYPES))
def test_native_batch_equals_test_runs(section: str, keep: bool, native_only: bool,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """An skb program's run_batch on the JIT (the native batch: packets set up
    natively, fields and stores served natively until a packet calls Python) gives,
    over the odd frames and the capture, what test_run on the interpreter gives packet
    by packet: return values, refusals and passed frames (asked of a type whose frames
    are not its window, the batch runs in Python)."""
    pt = TYPES[section]
    code = fields_program(section, native_only)
    packets = frames() * 3
    # LD_ABS past a packet shorter than this ends the program in Python (the last
    # word load, at 40 from data: the MAC header for tc, the network header else)
    short = 44 if pt == ProgType.SCHED_CLS else 58 if pt == ProgType.SOCKET_FILTER else 0
    one = make_vm(code, engine="interp", helpers=helpers_for(pt))
    ran: list[int] = []  # the lengths of the packets run

    def run(data: bytes) -> Any:
        res = test_run(one, pt, data_in=data)
        ran.append(len(data))
        return res
    want_counts, want_frames, errors = per_packet(run, pt, packets)
    ended = sum(n < short for n in ran)
    models = []  # the packets whose model Python made
    switch = SkbRunner.switch
    monkeypatch.setattr(SkbRunner, "switch", lambda r, s: (models.append(s), switch(r, s)))
    obj = _object(code, section).instantiate("vm", engine="jit")
    try:
        prog = obj.programs["f"]
        batch = prog.run_batch(packets, keep_frames=keep)
        assert prog.handle.native is not None
    finally:
        obj.close()
    assert dict(batch.retvals) == want_counts
    assert batch.verdicts["error"] == errors == 3 * 7
    assert batch.frames == (want_frames if keep else None)
    if keep and section != "tc":
        assert len(models) == len(packets) - errors  # in Python: packet by packet
    elif native_only:  # every packet ran natively (or was refused, or read past its end)
        assert len(models) == ended
    else:
        assert len(models) == len(packets) - errors


def _object(code: bytes, section: str = "tc") -> Any:
    """An object of one program `f` of `section` with the instructions of `code`."""
    ob = ObjectBuilder()
    p = ob.program("f", section)
    for insn in isa.decode(code):
        p._emit(insn)
    return ob.build()


@pytest.mark.kernel
@pytest.mark.parametrize("native_only", [False, True])
@pytest.mark.parametrize("section", list(TYPES))
def test_native_batch_equals_the_kernel(section: str, native_only: bool) -> None:
    """The kernel is the judge: its test runs of the same program over the same
    frames give the same return values, refusals and passed frames as the VM's
    native batch (frames kept for tc, whose native frames are its window)."""
    spec = _object(fields_program(section, native_only), section)
    keep = section == "tc"
    results = []
    for backend in ("kernel", "vm"):
        with spec.instantiate(backend, **({"engine": "jit"} if backend == "vm" else {})) as obj:
            b = obj.programs["f"].run_batch(frames() * 2, keep_frames=keep)
            results.append((dict(b.retvals), b.verdicts["error"], b.frames))
    assert results[0] == results[1]
    assert results[1][1] == 2 * 7 and len(results[1][0]) >= 2


@pytest.mark.kernel
@pytest.mark.parametrize("name", ["tc_classifier", "sockfilter_proto", "cgroup_skb_count"])
def test_native_example_batches_equal_the_kernel(name: str) -> None:
    """The skb examples over the odd frames and the capture: the same counts,
    refusals and maps on the VM's native batch as through the kernel."""
    example = []
    for backend in ("kernel", "vm"):
        obj = pybpf.load(str(EXAMPLES / f"{name}.o")).instantiate(
            backend, **({"engine": "jit"} if backend == "vm" else {}))
        try:
            b = next(iter(obj.programs.values())).run_batch(frames() * 2)
            maps = {n: sorted((bytes(k), bytes(m.lookup(k))) for k in m.keys())
                    for n, m in obj.maps.items() if not n.startswith(".")}
            example.append((dict(b.retvals), b.verdicts["error"], maps))
        finally:
            obj.close()
    assert example[0] == example[1]
