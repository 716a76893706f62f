"""`pybpf bench pcap`: packets per second of the main job (an XDP firewall over a
capture, `pybpf run FILE.o --pcap CAP`) on the VM's interpreter, the VM's JIT and the
kernel backend (BPF_PROG_TEST_RUN per packet), for captures of 302, 10k and 100k
packets, printed in one run with the ratios; the auto engine (the default: the
interpreter first, the JIT's native batch once compiling pays) beside them; and a
trivial program (`r0 = XDP_PASS; exit`) over the largest capture, which measures what a
batch costs around the program. The larger captures repeat the given one into a
temporary file, each repetition later in time than the last (so time windows in the
program advance)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DEFAULT_OBJECT = EXAMPLES / "xdp_firewall.o"
DEFAULT_CAPTURE = EXAMPLES / "traffic.pcap"
DEFAULT_SIZES = (302, 10_000, 100_000)


def repeated_capture(src: Path, count: int, dst: Path) -> int:
    """Write the first `count` packets of `src` repeated over and over to `dst` (classic
    pcap, Ethernet frames), each repetition shifted past the previous one in time;
    returns how many were written."""
    from .pcap import EthernetFrames, PcapError, PcapWriter, read_capture
    packets = list(EthernetFrames(read_capture(src).packets))
    if not packets:
        raise PcapError(f"{src} holds no packets")
    span = packets[-1].ts_ns - packets[0].ts_ns + 1_000_000_000
    with PcapWriter(dst) as out:
        for i in range(count):
            rep, k = divmod(i, len(packets))
            p = packets[k]
            out.write(type(p)(p.ts_ns + rep * span, p.data, p.orig_len, p.linktype))
    return count


RUNS = ("interp", "jit", "kernel")
"""The columns: the VM's interpreter, the VM's JIT, the kernel backend."""


def trivial_spec() -> Any:
    """The trivial XDP program: r0 = XDP_PASS; exit."""
    from .builder import ObjectBuilder
    ob = ObjectBuilder(name="bench_pcap")
    ob.program("xdp_pass", "xdp").ret(2)
    return ob.build()


def _run_capture(obj_path: Path | None, capture: Path, run: str, program: str | None
                 ) -> dict[str, Any]:
    """One run of the main job (`obj_path`; None: the trivial program): a fresh object
    (empty maps) on the VM with engine `run` ("interp", "jit" or "auto") or on the
    kernel ("kernel"), the capture streamed through Program.run_batch; CPU seconds
    (user + system, the kernel's test runs included; loading and compiling excluded:
    on "auto" compiling happens during the run and counts) and the verdicts."""
    from . import load
    from .objects.runner import pick_program
    from .pcap import CaptureReader, EthernetFrames
    spec = load(str(obj_path)) if obj_path is not None else trivial_spec()
    backend, engine = ("kernel", None) if run == "kernel" else ("vm", run)
    if run == "jit":
        from .jit.batch import driver
        driver()  # the batch driver: compiled once a process
    with spec.instantiate(backend, engine=engine) as obj:
        prog = pick_program(obj, program)
        with CaptureReader(capture) as reader:
            t0 = time.process_time()
            res = prog.run_batch(EthernetFrames(reader),
                                 capture_clock=obj.platform.caps.set_world)
            cpu = time.process_time() - t0
    return {"packets": res.packets, "seconds": cpu,
            "packets_per_s": res.packets / cpu if cpu else None,
            "verdicts": dict(res.verdicts.most_common())}


def available_runs(kernel: bool = True, jit: bool = True) -> tuple[list[str], dict[str, str]]:
    """The columns this machine can run (pybpf.tools.runbench.available_runs)."""
    from .tools.runbench import available_runs as runs
    return runs(kernel, jit)


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def pcap_report(obj_path: Path = DEFAULT_OBJECT, capture: Path = DEFAULT_CAPTURE,
                sizes: tuple[int, ...] = DEFAULT_SIZES, kernel: bool = True,
                program: str | None = None,
                progress: Callable[[str], None] | None = None,
                jit: bool = True) -> dict[str, Any]:
    """Packets per second of `obj_path`'s packet program over captures of each size,
    on the VM's interpreter and JIT and on the kernel backend (those available), with
    their ratios."""
    from .pcap import count_packets
    runs, skipped = available_runs(kernel, jit)
    base = count_packets(capture)
    rows = []
    with tempfile.TemporaryDirectory(prefix="pybpf-bench-pcap-") as tmp:
        for size in sizes:
            path = capture
            if size != base:
                path = Path(tmp) / f"{size}.pcap"
                repeated_capture(capture, size, path)
            row: dict[str, Any] = {"packets": size}
            for run in runs:
                row[run] = _run_capture(obj_path, path, run, program)
                if progress is not None:
                    progress(f"{size} on {run}")
            if "jit" in runs:
                row["auto"] = _run_capture(obj_path, path, "auto", program)
            _ratios(row)
            rows.append(row)
        trivial: dict[str, Any] = {"packets": sizes[-1]} if sizes else {}
        if trivial:
            path = capture if sizes[-1] == base else Path(tmp) / f"{sizes[-1]}.pcap"
            for run in runs:
                trivial[run] = _run_capture(None, path, run, None)
                if progress is not None:
                    progress(f"trivial on {run}")
            if "jit" in runs:
                trivial["auto"] = _run_capture(None, path, "auto", None)
            _ratios(trivial)
    return {"benchmark": "pcap", "object": str(obj_path), "capture": str(capture),
            "runs": runs, "skipped": skipped, "rows": rows, "trivial": trivial}


def _ratios(row: dict[str, Any]) -> None:
    rate = {run: row.get(run, {}).get("packets_per_s") for run in RUNS}
    row["jit_over_interp"] = _ratio(rate["jit"], rate["interp"])
    row["kernel_over_interp"] = _ratio(rate["kernel"], rate["interp"])
    row["jit_over_kernel"] = _ratio(rate["jit"], rate["kernel"])


def format_pcap(report: dict[str, Any]) -> str:
    lines = [f"{Path(report['object']).name} over {Path(report['capture']).name} "
             "(repeated), packets/s in CPU time (loading and compiling excluded)"]
    for run, reason in report.get("skipped", {}).items():
        lines.append(f"({run} skipped: {reason})")
    head = (f"{'packets':>8} {'interp pkt/s':>13} {'jit pkt/s':>12} "
            f"{'kernel pkt/s':>13} {'jit/interp':>11} {'kernel/interp':>14} "
            f"{'jit/kernel':>11} {'auto pkt/s':>12}")
    lines.append(head)

    def rate(r: dict[str, Any], run: str, width: int) -> str:
        col = r.get(run)
        if col is None or not col["packets_per_s"]:
            return f"{'-':>{width}}"
        return f"{col['packets_per_s']:>{width},.0f}"

    def ratio(x: float | None, width: int) -> str:
        return f"{'-':>{width}}" if x is None else f"{x:>{width - 1},.2f}x"

    def line(r: dict[str, Any]) -> str:
        return " ".join([f"{r['packets']:>8,}", rate(r, "interp", 13), rate(r, "jit", 12),
                         rate(r, "kernel", 13), ratio(r["jit_over_interp"], 11),
                         ratio(r["kernel_over_interp"], 14), ratio(r["jit_over_kernel"], 11),
                         rate(r, "auto", 12)])

    for r in report["rows"]:
        lines.append(line(r))
    trivial = report.get("trivial")
    if trivial:
        lines.append("trivial program (r0 = XDP_PASS; exit) over the largest capture:")
        lines.append(head)
        lines.append(line(trivial))
    return "\n".join(lines) + "\n"


def _positive(text: str) -> int:
    try:
        n = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def cmd_bench_pcap(args: argparse.Namespace) -> int:
    from .tools.progress import progress
    sizes = tuple(args.sizes) if args.sizes else DEFAULT_SIZES
    runs, _ = available_runs(not args.no_kernel, not args.no_jit)
    with progress((len(sizes) + 1) * len(runs), unit="run", desc="bench pcap",
                  as_json=args.json) as bar:
        done = (lambda what: bar.update()) if bar.enabled else None
        report = pcap_report(Path(args.object), Path(args.pcap), sizes,
                             kernel=not args.no_kernel, program=args.program, progress=done,
                             jit=not args.no_jit)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        sys.stdout.write(format_pcap(report))
    return 0


def register(bsub: argparse._SubParsersAction, fn: Callable[[argparse.Namespace], int]
             ) -> None:
    """`pybpf bench pcap` in the bench group, running `fn` (which calls
    cmd_bench_pcap)."""
    p = bsub.add_parser("pcap", help="packets/s of an XDP program over a capture: the VM's "
                                     "interpreter and JIT against the kernel backend")
    p.add_argument("--object", default=str(DEFAULT_OBJECT),
                   help="the BPF object (default examples/xdp_firewall.o)")
    p.add_argument("--program", help="which program of the object (default: as pybpf run)")
    p.add_argument("--pcap", default=str(DEFAULT_CAPTURE),
                   help="the capture repeated to each size (default examples/traffic.pcap)")
    p.add_argument("--sizes", type=_positive, nargs="+", metavar="N",
                   help="capture sizes in packets (default 302 10000 100000)")
    p.add_argument("--no-kernel", action="store_true", help="the VM only")
    p.add_argument("--no-jit", action="store_true", help="without the VM's JIT")
    p.add_argument("-j", "--json", action="store_true", help="the report as JSON")
    p.set_defaults(fn=fn)
