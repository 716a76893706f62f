"""`pybpf bench`: interpreter speed, VM against kernel per run, map operations."""

from __future__ import annotations

import argparse
import json
import sys

from ..tools import verify as tools_verify
from .common import command_group, json_option, positive_int


def cmd_bench(args: argparse.Namespace) -> int:
    from .. import bench
    from ..tools.progress import StepProgress, progress
    if args.what == "jit":
        from ..tools import jitbench
        with progress(len(jitbench.LOOPS) + 2, unit="step", desc="bench jit",
                      as_json=args.json) as bar:
            step = (lambda name: bar.update()) if bar.enabled else None
            report = jitbench.jit_report(repeat=args.repeat, runs=args.runs, progress=step)
        fmt = jitbench.format_jit
    elif args.what == "run":
        from ..tools import runbench
        with progress(4, unit="step", desc="bench run", as_json=args.json) as bar:
            step = (lambda name: bar.update()) if bar.enabled else None
            report = runbench.run_report(runs=args.runs, rounds=args.repeat,
                                         kernel=not args.no_kernel, progress=step)
        fmt = runbench.format_run
    elif args.what == "maps":
        with StepProgress(unit="map", desc="bench maps", as_json=args.json) as steps:
            report = bench.maps_report(ops=args.ops, repeat=args.repeat,
                                       kernel=not args.no_kernel, progress=steps)
        from ..tools import helperbench
        report["helpers"] = helperbench.helper_rows(repeat=args.repeat)
        fmt = helperbench.format_maps_and_helpers
    else:
        total, unit = len(bench.PROGRAMS), "prog"
        if args.what == "interp" and args.processes > 1:
            total, unit = args.processes, "process"  # each measures every program
        with progress(total, unit=unit, desc=f"bench {args.what}",
                      as_json=args.json) as bar:
            done = (lambda name: bar.update()) if bar.enabled else None
            if args.what == "kernel":
                from ..tools.perms import kernel_gate
                kernel_gate("pybpf bench kernel", ["CAP_BPF"], require=False)
                report = bench.kernel_report(repeat=args.repeat, iterations=args.iterations,
                                             progress=done)
                fmt = bench.format_kernel
            else:
                report = bench.interp_report(repeat=args.repeat, iterations=args.iterations,
                                             processes=args.processes, progress=done)
                fmt = bench.format_interp
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        sys.stdout.write(fmt(report))
    return 0


def cmd_bench_verify(args: argparse.Namespace) -> int:
    """`pybpf bench verify`: pybpf's verification time against the kernel's
    (pybpf.tools.verify)."""
    return tools_verify.run_bench_verify(args)


def jitbench_parser(bsub: argparse._SubParsersAction) -> None:
    """`pybpf bench jit` (pybpf.tools.jitbench)."""
    bj = bsub.add_parser("jit", help="the LLVM JIT against the kernel and the interpreter, "
                                     "same bytes; compile time by program size")
    bj.add_argument("--repeat", type=positive_int, default=5,
                    help="timed passes, the best counts; the JIT's and the kernel's "
                         "alternate (default 5)")
    bj.add_argument("--runs", type=positive_int, default=10_000,
                    help="runs a pass, repeated in native code and in the kernel "
                         "(default 10000)")
    json_option(bj)
    bj.set_defaults(fn=cmd_bench, what="jit")


def cmd_bench_pcap(args: argparse.Namespace) -> int:
    """`pybpf bench pcap` (pybpf.bench_pcap)."""
    from .. import bench_pcap
    return bench_pcap.cmd_bench_pcap(args)


def register(sub: argparse._SubParsersAction) -> None:
    """The bench group."""
    bsub = command_group(sub, "bench", "benchmarks")
    bi = bsub.add_parser("interp", help="interpreter speed in executed instructions per second")
    bi.add_argument("--repeat", type=positive_int, default=3,
                    help="runs of each program, the best counts (default 3)")
    bi.add_argument("--iterations", type=positive_int, default=100_000,
                    help="loop iterations of each program (default 100000)")
    bi.add_argument("--processes", type=positive_int, default=5,
                    help="fresh processes that each measure every program, the median "
                         "counts (default 5; a process's speed moves with its memory "
                         "layout and the host's load)")
    json_option(bi)
    bi.set_defaults(fn=cmd_bench)
    bk = bsub.add_parser("kernel", help="ns per run on the VM and in the kernel, same programs")
    bk.add_argument("--repeat", type=positive_int, default=3,
                    help="runs of each program, the best counts (default 3)")
    bk.add_argument("--iterations", type=positive_int, default=10_000,
                    help="loop iterations of each program (default 10000)")
    json_option(bk)
    bk.set_defaults(fn=cmd_bench)
    bm = bsub.add_parser("maps", help="map lookups/updates per second, VM maps and kernel maps")
    bm.add_argument("--repeat", type=positive_int, default=3,
                    help="timed passes, the best counts (default 3)")
    bm.add_argument("--ops", type=positive_int, default=20_000,
                    help="operations per pass (default 20000)")
    bm.add_argument("--no-kernel", action="store_true", help="VM maps only")
    json_option(bm)
    bm.set_defaults(fn=cmd_bench)
    jitbench_parser(bsub)
    br = bsub.add_parser("run", help="what one test run costs beyond its instructions: "
                                     "VM and kernel test_run, the bare bpf(2) call, "
                                     "VM.execute")
    br.add_argument("--repeat", type=positive_int, default=30,
                    help="timed rounds, the best counts (default 30)")
    br.add_argument("--runs", type=positive_int, default=2000,
                    help="calls a round (default 2000)")
    br.add_argument("--no-kernel", action="store_true", help="the VM only")
    json_option(br)
    br.set_defaults(fn=cmd_bench, what="run")
    bv = bsub.add_parser("verify", help="pybpf's verification time against the kernel's own "
                                        "(BPF_LOG_STATS), same programs")
    tools_verify.add_bench_verify_arguments(bv)
    bv.set_defaults(fn=cmd_bench_verify)
    __import__("pybpf.bench_pcap", fromlist=["register"]).register(bsub, cmd_bench_pcap)
