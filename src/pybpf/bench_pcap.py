"""`pybpf bench pcap`: packets per second of the main job (an XDP firewall over a
capture, `pybpf run FILE.o --pcap CAP`) on the VM interpreter, the VM's LLVM JIT and
the kernel backend (BPF_PROG_TEST_RUN per packet), for captures of 302, 10k and 100k
packets, printed in one run with the ratios. The larger captures repeat the given one
into a temporary file, each repetition later in time than the last (so time windows in
the program advance)."""

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


def _run_capture(obj_path: Path, capture: Path, backend: str, program: str | None,
                 engine: str | None = None) -> dict[str, Any]:
    """One run of the main job: a fresh object (empty maps) on `backend` (the VM on
    `engine`), the capture streamed through Program.run_batch; CPU seconds (user +
    system, the kernel's test runs and the JIT's compile included) and the verdicts."""
    from . import load
    from .objects.runner import pick_program
    from .pcap import CaptureReader, EthernetFrames
    spec = load(str(obj_path))
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


def pcap_report(obj_path: Path = DEFAULT_OBJECT, capture: Path = DEFAULT_CAPTURE,
                sizes: tuple[int, ...] = DEFAULT_SIZES, kernel: bool = True,
                program: str | None = None,
                progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Packets per second of `obj_path`'s packet program over captures of each size,
    on the VM interpreter ("vm"), the VM's LLVM JIT ("jit", where llvmlite loads) and
    (when it is available) the kernel backend."""
    from .jit import available as jit_available
    from .pcap import count_packets
    backends = ["vm"] + (["jit"] if jit_available() else [])
    skipped = None
    if kernel:
        from .kernel import available
        ok, reason = available()
        if ok:
            backends.append("kernel")
        else:
            skipped = reason
    base = count_packets(capture)
    rows = []
    with tempfile.TemporaryDirectory(prefix="pybpf-bench-pcap-") as tmp:
        for size in sizes:
            path = capture
            if size != base:
                path = Path(tmp) / f"{size}.pcap"
                repeated_capture(capture, size, path)
            row: dict[str, Any] = {"packets": size}
            for backend in backends:
                if backend in ("vm", "jit"):
                    engine = "interp" if backend == "vm" else "jit"
                    row[backend] = _run_capture(obj_path, path, "vm", program, engine)
                else:
                    row[backend] = _run_capture(obj_path, path, backend, program)
                if progress is not None:
                    progress(f"{size} on {backend}")
            vm_rate = row["vm"]["packets_per_s"]
            k_rate = row.get("kernel", {}).get("packets_per_s")
            row["kernel_over_vm"] = k_rate / vm_rate if k_rate and vm_rate else None
            j_rate = row.get("jit", {}).get("packets_per_s")
            row["jit_over_vm"] = j_rate / vm_rate if j_rate and vm_rate else None
            row["kernel_over_jit"] = k_rate / j_rate if k_rate and j_rate else None
            rows.append(row)
    return {"benchmark": "pcap", "object": str(obj_path), "capture": str(capture),
            "backends": backends, "kernel_skipped": skipped, "rows": rows}


def format_pcap(report: dict[str, Any]) -> str:
    lines = [f"{Path(report['object']).name} over {Path(report['capture']).name} "
             "(repeated), CPU time; VM: the interpreter, JIT: the VM's LLVM JIT (compile "
             "included)"]
    if report.get("kernel_skipped"):
        lines.append(f"(kernel skipped: {report['kernel_skipped']})")
    lines.append(f"{'packets':>8} {'VM pkt/s':>12} {'VM us/pkt':>10} {'JIT pkt/s':>12} "
                 f"{'JIT us/pkt':>11} {'kernel pkt/s':>13} {'kernel us/pkt':>14} "
                 f"{'kernel/VM':>10} {'kernel/JIT':>11}")

    def rate(res: dict[str, Any] | None, w1: int, w2: int) -> list[str]:
        if res is None:
            return [f"{'-':>{w1}}", f"{'-':>{w2}}"]
        us = 1e6 / res["packets_per_s"] if res["packets_per_s"] else 0.0
        return [f"{res['packets_per_s'] or 0:>{w1},.0f}", f"{us:>{w2}.1f}"]

    def ratio(v: float | None, width: int) -> str:
        return f"{v:>{width - 1}.1f}x" if v else f"{'-':>{width}}"
    for r in report["rows"]:
        cells = [f"{r['packets']:>8,}", *rate(r["vm"], 12, 10), *rate(r.get("jit"), 12, 11),
                 *rate(r.get("kernel"), 13, 14), ratio(r["kernel_over_vm"], 10),
                 ratio(r.get("kernel_over_jit"), 11)]
        lines.append(" ".join(cells))
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
    from .jit import available as jit_available
    steps = len(sizes) * (1 + (0 if args.no_kernel else 1) + (1 if jit_available() else 0))
    with progress(steps, unit="run", desc="bench pcap", as_json=args.json) as bar:
        done = (lambda what: bar.update()) if bar.enabled else None
        report = pcap_report(Path(args.object), Path(args.pcap), sizes,
                             kernel=not args.no_kernel, program=args.program, progress=done)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        sys.stdout.write(format_pcap(report))
    return 0


def register(bsub: argparse._SubParsersAction, fn: Callable[[argparse.Namespace], int]
             ) -> None:
    """`pybpf bench pcap` in the bench group, running `fn` (which calls
    cmd_bench_pcap)."""
    p = bsub.add_parser("pcap", help="packets/s of an XDP program over a capture: VM "
                                     "interpreter, VM JIT and the kernel backend")
    p.add_argument("--object", default=str(DEFAULT_OBJECT),
                   help="the BPF object (default examples/xdp_firewall.o)")
    p.add_argument("--program", help="which program of the object (default: as pybpf run)")
    p.add_argument("--pcap", default=str(DEFAULT_CAPTURE),
                   help="the capture repeated to each size (default examples/traffic.pcap)")
    p.add_argument("--sizes", type=_positive, nargs="+", metavar="N",
                   help="capture sizes in packets (default 302 10000 100000)")
    p.add_argument("--no-kernel", action="store_true", help="the VM only")
    p.add_argument("-j", "--json", action="store_true", help="the report as JSON")
    p.set_defaults(fn=fn)
