"""`pybpf bench pcap`: packets per second of the main job (an XDP firewall over a
capture, `pybpf run FILE.o --pcap CAP`) on the VM interpreter and on the kernel backend
(BPF_PROG_TEST_RUN per packet), for captures of 302, 10k and 100k packets, printed in
one run with the ratio. The larger captures repeat the given one into a temporary file,
each repetition later in time than the last (so time windows in the program advance)."""

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


def _run_capture(obj_path: Path, capture: Path, backend: str, program: str | None
                 ) -> dict[str, Any]:
    """One run of the main job: a fresh object (empty maps) on `backend`, the capture
    streamed through Program.run_batch; CPU seconds (user + system, the kernel's
    test runs included) and the verdicts."""
    from . import load
    from .objects.runner import pick_program
    from .pcap import CaptureReader, EthernetFrames
    spec = load(str(obj_path))
    with spec.instantiate(backend) as obj:
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
    on the VM interpreter and (when it is available) the kernel backend."""
    from .pcap import count_packets
    backends = ["vm"]
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
                row[backend] = _run_capture(obj_path, path, backend, program)
                if progress is not None:
                    progress(f"{size} on {backend}")
            vm_rate = row["vm"]["packets_per_s"]
            k_rate = row.get("kernel", {}).get("packets_per_s")
            row["kernel_over_vm"] = k_rate / vm_rate if k_rate and vm_rate else None
            rows.append(row)
    return {"benchmark": "pcap", "object": str(obj_path), "capture": str(capture),
            "backends": backends, "kernel_skipped": skipped, "rows": rows}


def format_pcap(report: dict[str, Any]) -> str:
    lines = [f"{Path(report['object']).name} over {Path(report['capture']).name} "
             "(repeated), CPU time"]
    if report.get("kernel_skipped"):
        lines.append(f"(kernel skipped: {report['kernel_skipped']})")
    lines.append(f"{'packets':>8} {'VM pkt/s':>12} {'VM us/pkt':>10} {'kernel pkt/s':>13} "
                 f"{'kernel us/pkt':>14} {'kernel/VM':>10}")
    for r in report["rows"]:
        vm = r["vm"]
        k = r.get("kernel")
        vm_us = 1e6 / vm["packets_per_s"] if vm["packets_per_s"] else 0.0
        cells = [f"{r['packets']:>8,}", f"{vm['packets_per_s'] or 0:>12,.0f}", f"{vm_us:>10.1f}"]
        if k is None:
            cells += [f"{'-':>13}", f"{'-':>14}", f"{'-':>10}"]
        else:
            k_us = 1e6 / k["packets_per_s"] if k["packets_per_s"] else 0.0
            cells += [f"{k['packets_per_s'] or 0:>13,.0f}", f"{k_us:>14.1f}",
                      f"{r['kernel_over_vm'] or 0:>9.1f}x"]
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
    steps = len(sizes) * (1 if args.no_kernel else 2)
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
    p = bsub.add_parser("pcap", help="packets/s of an XDP program over a capture, VM "
                                     "interpreter against the kernel backend")
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
