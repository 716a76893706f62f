"""`pybpf top` and `pybpf trace syscalls`: the example tools, over a capture or live
in the kernel."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..backend import get_backend
from .common import CLIError, command_group, json_option, positive, positive_int, verb


def cmd_top(args: argparse.Namespace) -> int:
    """`pybpf top`: per-protocol packet and byte counts from the socket filter example,
    over a capture or live traffic."""
    from ..tools import top
    if args.pcap:
        live_only = [o for o, v in (("--interface", args.interface), ("--interval", args.interval),
                                    ("--duration", args.duration), ("--count", args.count))
                     if v is not None]
        if live_only:
            raise CLIError(f"{' and '.join(live_only)} "
                           f"{verb(live_only, 'applies', 'apply')} only to --live")
        from ..pcap import count_packets
        from ..tools.progress import StepProgress, wanted
        total = count_packets(args.pcap) if wanted(args.json) else 0  # for the bar only
        with StepProgress(unit="pkt", desc=Path(args.pcap).name, as_json=args.json,
                          minimum=500) as bar:
            result = top.top_pcap(args.pcap, args.backend, progress=bar, total=total)
        if result.truncated:
            print(f"pybpf: warning: {args.pcap}: {result.truncated}; ran the "
                  f"{result.packets} complete packets before it", file=sys.stderr)
        if args.json:
            print(json.dumps(result.as_dict(), indent=2))
        else:
            sys.stdout.write(result.format())
        return 0
    if args.backend_given and not get_backend(args.backend).caps.attach:
        raise CLIError("--live counts in the kernel; --backend applies to --pcap")
    top.top_live(sys.stdout, interface=args.interface, interval=args.interval or 1.0,
                 duration=args.duration, count=args.count, as_json=args.json)
    return 0


def cmd_trace_syscalls(args: argparse.Namespace) -> int:
    """`pybpf trace syscalls`: syscall counts and latency from the tracepoint example."""
    from ..tools import trace
    trace.trace_syscalls(sys.stdout, duration=args.duration, interval=args.interval,
                         pid=args.pid, top=args.top, latency=args.latency, as_json=args.json)
    return 0


def _top_backend(args: argparse.Namespace) -> None:
    """top's --backend defaults to where its source runs: the kernel with --live, the
    VM with --pcap; `backend_given` remembers whether it was given."""
    args.backend_given = args.backend is not None
    args.backend = args.backend or ("kernel" if args.live else "vm")


def register(sub: argparse._SubParsersAction) -> None:
    """The top and trace commands."""
    tp = sub.add_parser("top", help="packets and bytes per IP protocol and a packet size "
                                     "histogram (the socket filter example), over a capture "
                                     "or live")
    src = tp.add_mutually_exclusive_group(required=True)
    src.add_argument("--pcap", metavar="FILE", help="run the filter over this capture")
    src.add_argument("--live", action="store_true",
                     help="attach the filter to a packet socket in the kernel")
    tp.add_argument("--backend", choices=["vm", "kernel"], default=None,
                    help="--pcap: where the filter runs (default vm)")
    tp.add_argument("--interface", "-i", help="--live: one interface (default: all)")
    tp.add_argument("--interval", type=positive, help="--live: seconds between redraws "
                                                      "(default 1)")
    tp.add_argument("--duration", type=positive, help="--live: stop after this many seconds")
    tp.add_argument("--count", type=positive_int, help="--live: stop after this many redraws")
    json_option(tp, "machine-readable output (--live: one JSON object per line)")
    tp.set_defaults(fn=cmd_top, prepare=_top_backend)

    trsub = command_group(sub, "trace", "trace kernel events with the example programs")
    ts = trsub.add_parser("syscalls", help="syscall counts per syscall and process, errors and "
                                           "a latency histogram (the tracepoint example)")
    ts.add_argument("--duration", type=positive, default=5.0,
                    help="seconds to trace (default 5)")
    ts.add_argument("--interval", type=positive, default=1.0,
                    help="seconds between redraws (default 1)")
    ts.add_argument("--pid", type=positive_int, help="only this process (thread group)")
    ts.add_argument("--top", type=positive_int, default=10,
                    help="rows of syscalls and processes (default 10)")
    ts.add_argument("--latency", action="store_true",
                    help="show the latency histogram at every redraw, not only at the end")
    json_option(ts, "one JSON object per line")
    ts.set_defaults(fn=cmd_trace_syscalls)
