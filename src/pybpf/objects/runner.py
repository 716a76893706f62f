"""Running an object's program the way `pybpf run FILE.o` does: once on given input, or
once per packet of a capture, then reporting the return values and the maps (decoded
with BTF where the object has it)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sized

from ..uapi import ProgType
from .verdicts import passed_frame, passes, verdict_name

if TYPE_CHECKING:  # instance reaches this module through Program.run_batch
    from .instance import Object, Program, TestRunResult

def pick_program(obj: Object, name: str | None) -> Program:
    from .errors import ObjectError
    if name is not None:
        try:
            return obj.programs[name]
        except KeyError:
            raise ObjectError(f"no program {name!r}; the object has: "
                              f"{', '.join(obj.programs)}") from None
    if len(obj.programs) == 1:
        return next(iter(obj.programs.values()))
    runnable = [p for p in obj.programs.values() if p.type in (ProgType.XDP, ProgType.SCHED_CLS,
                                                             ProgType.SCHED_ACT,
                                                             ProgType.SOCKET_FILTER,
                                                             ProgType.CGROUP_SKB)]
    if not runnable:
        raise ObjectError("the object has several programs; choose one with --program: "
                          f"{', '.join(obj.programs)}")
    return runnable[-1] if len(runnable) > 1 and _all_same_section(runnable) else runnable[0]


def _all_same_section(progs: list[Program]) -> bool:
    return len({p.spec.section for p in progs}) == 1


def shown(codec: Any, raw: bytes) -> Any:
    """A map key or value as its codec decodes it (its BTF type), else as hex."""
    if codec is not None and getattr(codec, "typed", False):
        try:
            return codec.decode(raw)
        except Exception:  # noqa: BLE001 - fall back to hex for anything BTF cannot say
            pass
    return bytes(raw).hex()


def dump_maps(obj: Object) -> dict[str, list[dict[str, Any]]]:
    """The non-empty maps, through their typed views (pybpf.maps.typed): name ->
    [{key, value}] (per-CPU values as lists, one per CPU, and their "sum" when typed);
    what has no BTF type is hex;
    data sections (see Object.globals), program arrays and ring buffers are left out."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, m in obj.maps.items():
        spec = obj.spec.maps[name]
        if spec.type_name in ("prog_array", "ringbuf", "perf_event_array", "array_of_maps",
                              "hash_of_maps", "queue", "stack", "bloom_filter"):
            continue
        if name.startswith((".rodata", ".data", ".bss", ".kconfig")):
            continue
        typed = m.typed
        entries = []
        for key, value in m.items():
            values = value if isinstance(value, list) else [value]
            if all(not any(v) for v in values):
                continue  # an all-zero array slot says nothing
            entry: dict[str, Any] = {"key": shown(typed.key_codec, key)}
            if isinstance(value, list):
                entry["value"] = [shown(typed.value_codec, x) for x in value]
                if typed.value_codec.typed:
                    from ..maps.typed import percpu_sum
                    entry["sum"] = percpu_sum(entry["value"])
            else:
                entry["value"] = shown(typed.value_codec, value)
            entries.append(entry)
        if entries:
            out[name] = entries
    return out


@dataclass
class BatchResult:
    """What a batch run counted: packets, verdicts by name (first seen first, "error"
    for a run that failed), return values by number, the packets that passed, errors
    by message, and with `keep_frames` the output frames of the packets that passed
    (otherwise None: a run over a capture keeps nothing per packet)."""

    packets: int = 0
    verdicts: Counter = field(default_factory=Counter)
    passed: int = 0
    errors: Counter = field(default_factory=Counter)
    retvals: Counter = field(default_factory=Counter)
    frames: list[bytes] | None = None


PcapReport = BatchResult  # what run_pcap reports (its former name)


def _packet_runner(prog: Program) -> Callable[[bytes], int] | None:
    """The VM's own per-packet run of `prog` (its state made once, see
    pybpf.progtypes.packet_runner), as `run(data) -> retval` with `run.output()` the
    frame it left; None where test_run per packet is the way (other program types,
    the kernel)."""
    from ..vm import VM
    if not isinstance(prog.handle, VM):
        return None
    from ..progtypes import packet_runner
    return packet_runner(prog.handle, prog.type,
                         expected_attach_type=prog.spec.expected_attach_type,
                         netns=prog._world.get("netns"))


def run_batch(prog: Program, packets: Iterable[Any], *, capture_clock: bool = False,
              keep_frames: bool = False, progress: Callable[[int, int], None] | None = None,
              total: int | None = None,
              on_pass: Callable[[Any], None] | None = None) -> BatchResult:
    """Run the program once per packet (bytes, or pybpf.pcap.Packet with a capture
    timestamp) of a list or a stream, as BPF_PROG_TEST_RUN would each one; memory
    stays flat over a stream. On the VM the per-run state is made once (an XDP
    program's page, xdp_buff and context; its maps and stacks mounted), so a packet
    costs little more than its instructions; in the kernel one attr and buffer serve
    every run (pybpf.kernel.packetrun), and with no frame asked for none is copied
    back and the verdicts are counted in one loop. `on_pass` receives each packet that
    passes as the program left it (a Packet; to write --pcap-out as the run goes),
    `keep_frames` keeps their bytes in the result. With `capture_clock` (VM only)
    bpf_ktime_get_ns reads each packet's timestamp. `progress(done, total)` follows
    the run every 64 packets and at its end."""
    from ..errors import PyBPFError
    from ..pcap import Packet, frame_data
    from .nativebatch import applicable, error_key, run_native
    result = BatchResult(frames=[] if keep_frames else None)
    if total is None:
        total = len(packets) if isinstance(packets, Sized) else 0
    if applicable(prog):  # the JIT's batch: many packets a native call
        one = _packet_runner(prog)
        assert one is not None  # an XDP program on the VM
        native = run_native(prog, packets, result, runner=one,
                            capture_clock=capture_clock, keep_frames=keep_frames,
                            progress=progress, total=total, on_pass=on_pass)
        return _tally(result, *native[:2], prog.type, native[2])
    now = [0]
    if capture_clock:
        prog.set_clock(lambda: now[0])
    want = on_pass is not None or keep_frames
    counts: Counter = Counter()  # by retval, "error" for a failed run
    errors = result.errors
    # the backend's own runner of one packet after another (the kernel's: one attr and
    # buffer for every run), unless something wraps the test runs (RunCapture); else
    # the VM's per-packet runner
    batch = prog._packet_runner(want) if prog._packet_runner is not None \
        and prog._runner is prog._base_runner else None
    fast = _packet_runner(prog) if prog._packet_runner is None else None
    if batch is not None and not want:  # only verdicts: one loop over the whole stream

        def failed(e: PyBPFError) -> None:
            errors[error_key(e)] += 1
            counts["error"] += 1
        n = _count(batch, frame_data(packets), counts, failed, progress, total)
        return _tally(result, counts, n, prog.type, {})
    if fast is not None:
        runner, output = fast, fast.output  # type: ignore[attr-defined]  # it has one
    elif batch is not None:
        runner, output = batch.run, batch.output
    else:
        runner = _test_runner(prog)
        output = runner.output  # type: ignore[attr-defined]  # it has one
    prog_type = prog.type
    passing: dict[int, bool] = {}
    frames = result.frames
    n = 0
    for pkt in packets:
        n += 1
        if isinstance(pkt, (bytes, bytearray, memoryview)):
            data, ts = bytes(pkt), 0
        else:
            data, ts = pkt.data, pkt.ts_ns
        now[0] = ts
        try:
            retval = runner(data)
        except PyBPFError as e:
            errors[error_key(e)] += 1
            counts["error"] += 1
        else:
            counts[retval] += 1
            ok = passing.get(retval)
            if ok is None:
                ok = passing[retval] = passes(prog_type, retval)
            if ok and want:
                out = passed_frame(prog_type, retval, output, data)
                if frames is not None:
                    frames.append(out)
                if on_pass is not None:
                    orig = getattr(pkt, "orig_len", len(data))
                    on_pass(Packet(ts, out, max(len(out), orig)))
        if progress is not None and not n & 63:
            progress(n, max(total, n))
    if progress is not None and n & 63:
        progress(n, max(total, n))
    return _tally(result, counts, n, prog_type, passing)


def _count(batch: Any, packets: Iterable[Any], counts: Counter,
           failed: Callable[[Any], None], progress: Callable[[int, int], None] | None,
           total: int) -> int:
    """Run every packet through `batch.count` (return values counted in `counts`),
    in pieces of 64 packets when `progress` follows the run (as run_batch's own loop
    reports it); how many ran."""
    if progress is None:
        return int(batch.count(packets, counts, failed))
    it = iter(packets)
    n = 0
    while True:
        k = batch.count(islice(it, 64), counts, failed)
        if not k:
            return n
        n += k
        progress(n, max(total, n))


def _tally(result: BatchResult, counts: Counter, n: int, prog_type: int,
           passing: dict[int, bool]) -> BatchResult:
    """The batch's result from the counts by return value (`passing`: what passes()
    said of each, asked here for those it has not seen)."""
    result.packets = n
    for key, count in counts.items():
        if key == "error":
            result.verdicts["error"] += count
            continue
        result.retvals[key] = count
        result.verdicts[verdict_name(prog_type, key)] += count
        ok = passing.get(key)
        if ok is None:
            ok = passing[key] = passes(prog_type, key)
        if ok:
            result.passed += count
    return result


def _test_runner(prog: Program) -> Callable[[bytes], int]:
    """run(data) -> retval through prog.test_run, with run.output() the data_out."""
    last: list[bytes] = [b""]

    def run(data: bytes) -> int:
        res: TestRunResult = prog.test_run(data)
        last[0] = res.data_out
        return res.retval
    run.output = lambda: last[0]  # type: ignore[attr-defined]  # read by run_batch
    return run


def run_pcap(prog: Program, packets: Iterable[Any], *, capture_clock: bool = True,
             progress: Callable[[int, int], None] | None = None, total: int | None = None,
             on_pass: Callable[[Any], None] | None = None) -> BatchResult:
    """Run the program once per packet of a list or a stream (run_batch; memory stays
    flat over a stream); count verdicts and hand each packet that passes, as the
    program left it, to `on_pass` (to write --pcap-out as the run goes). On the VM
    with `capture_clock`, bpf_ktime_get_ns reads each packet's capture timestamp, so
    time-based logic replays as recorded. `progress(done, total)` follows the run;
    `total` defaults to len(packets) (0 when unknown)."""
    return run_batch(prog, packets, capture_clock=capture_clock, progress=progress,
                     total=total, on_pass=on_pass)
