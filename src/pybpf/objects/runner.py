"""Running an object's program the way `pybpf run FILE.o` does: once on given input, or
once per packet of a capture, then reporting the return values and the maps (decoded
with BTF where the object has it)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sized

from .. import uapi
from ..uapi import ProgType
from .instance import Object, Program, TestRunResult

# the verdicts by number, from the kernel's names (pybpf.uapi)
XDP_VERDICTS = {getattr(uapi, n): n for n in ("XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX",
                                             "XDP_REDIRECT")}
TC_VERDICTS = {getattr(uapi, n): n for n in (
    "TC_ACT_UNSPEC", "TC_ACT_OK", "TC_ACT_RECLASSIFY", "TC_ACT_SHOT", "TC_ACT_PIPE",
    "TC_ACT_STOLEN", "TC_ACT_QUEUED", "TC_ACT_REPEAT", "TC_ACT_REDIRECT", "TC_ACT_TRAP")}


def verdict_name(prog_type: int, retval: int) -> str:
    """What a return value means for the program type (`XDP_PASS`, `TC_ACT_SHOT`, ...)."""
    signed = retval - (1 << 32) if retval >= 1 << 31 else retval
    if prog_type == ProgType.XDP:
        return XDP_VERDICTS.get(retval, f"XDP_{retval}")
    if prog_type in (ProgType.SCHED_CLS, ProgType.SCHED_ACT):
        return TC_VERDICTS.get(signed, f"TC_ACT_{signed}")
    if prog_type == ProgType.SOCKET_FILTER:
        return "drop" if retval == 0 else f"keep {retval} bytes"
    if prog_type == ProgType.CGROUP_SKB:
        return {0: "deny", 1: "allow"}.get(retval, str(retval))
    return str(signed)


def passes(prog_type: int, retval: int) -> bool:
    """Whether the packet goes on (for --pcap-out)."""
    signed = retval - (1 << 32) if retval >= 1 << 31 else retval
    if prog_type == ProgType.XDP:
        return retval == uapi.XDP_PASS
    if prog_type in (ProgType.SCHED_CLS, ProgType.SCHED_ACT):
        return signed in (-1, 0)
    return retval != 0


def pick_program(obj: Object, name: str | None) -> Program:
    from .instance import ObjectError
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
class PcapReport:
    """What a run over a capture counted: packets, verdicts, passed packets and errors
    (the packets themselves are not kept; run_pcap's `on_pass` receives those that
    pass)."""

    packets: int = 0
    verdicts: Counter = field(default_factory=Counter)
    passed: int = 0
    errors: Counter = field(default_factory=Counter)


def run_pcap(prog: Program, packets: Iterable[Any], *, capture_clock: bool = True,
             progress: Callable[[int, int], None] | None = None, total: int | None = None,
             on_pass: Callable[[Any], None] | None = None) -> PcapReport:
    """Run the program once per packet of a list or a stream (memory stays flat over a
    stream); count verdicts and hand each packet that passes, as the program left it,
    to `on_pass` (to write --pcap-out as the run goes). On the VM with `capture_clock`,
    bpf_ktime_get_ns reads each packet's capture timestamp, so time-based logic replays
    as recorded. `progress(done, total)` follows the run; `total` defaults to
    len(packets) (0 when unknown)."""
    from ..errors import PyBPFError
    from ..pcap import Packet
    report = PcapReport()
    if total is None:
        total = len(packets) if isinstance(packets, Sized) else 0
    now = [0]
    if capture_clock:
        prog.set_clock(lambda: now[0])
    for i, pkt in enumerate(packets):
        report.packets += 1
        now[0] = pkt.ts_ns
        try:
            res: TestRunResult = prog.test_run(pkt.data)
        except PyBPFError as e:
            report.errors[type(e).__name__ + ": " + str(e).split(";")[0][:80]] += 1
            report.verdicts["error"] += 1
        else:
            report.verdicts[verdict_name(prog.type, res.retval)] += 1
            if passes(prog.type, res.retval):
                report.passed += 1
                if on_pass is not None:
                    data = res.data_out or pkt.data
                    if prog.type == ProgType.SOCKET_FILTER:
                        data = pkt.data[:res.retval]
                    on_pass(Packet(pkt.ts_ns, data, max(len(data), pkt.orig_len)))
        if progress is not None:
            progress(i + 1, max(total, i + 1))
    return report
