"""`pybpf fuzz`: the differential campaign against the kernel, the ELF loader fuzzer,
hostile input into every entry point and the JIT campaigns."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from ..tools import verify as tools_verify
from .common import CLIError, command_group, json_option, need_hypothesis, positive, \
    positive_int, read_bytes


def cmd_fuzz_diff(args: argparse.Namespace) -> int:
    import random

    need_hypothesis("pybpf fuzz diff")
    from ..fuzz import campaign
    from ..tools.perms import kernel_gate
    from ..tools.progress import progress
    kernel_gate("a differential campaign (pybpf fuzz diff)", ["CAP_BPF"], require=False)
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    with progress(args.count, unit="prog", desc="fuzz diff",
                  as_json=args.json or args.quiet) as bar:
        shown = [0]  # runs the bar has counted

        def show(stats: Any) -> None:
            bar.update(stats.runs - shown[0])
            shown[0] = stats.runs
            bar.set_postfix(f"agreed {stats.agreed} rejected {stats.kernel_rejected}")

        stats = campaign(args.count, seed, Path(args.out),
                         progress=show if bar.enabled else None,
                         max_segments=args.max_segments, engine=args.engine)
    if args.json:
        print(json.dumps({"seed": seed, "engine": args.engine, "runs": stats.runs,
                          "agreed": stats.agreed,
                          "kernel_rejected": stats.kernel_rejected,
                          "seconds": round(stats.seconds, 3),
                          "instruction_forms": len(stats.opcodes),
                          "rejections": stats.rejections,
                          "known_deviations": stats.known_deviations,
                          "mismatches": stats.mismatches}, indent=2))
    else:
        print(stats.summary(seed))
    return 1 if stats.mismatches else 0


def cmd_fuzz_elf(args: argparse.Namespace) -> int:
    import random

    need_hypothesis("pybpf fuzz elf")
    from ..fuzz import elf_campaign
    from ..tools.progress import progress
    seeds = []
    for path in args.seeds:
        data = read_bytes(path)
        if data[:4] != b"\x7fELF":
            raise CLIError(f"{path}: not an ELF object (the seeds are real BPF objects to "
                           "mutate)")
        seeds.append(data)
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    t0 = time.monotonic()
    with progress(args.count, unit="obj", desc="fuzz elf",
                  as_json=args.json or args.quiet) as bar:
        stats = elf_campaign(seeds, args.count, seed,
                             progress=(lambda n: bar.update()) if bar.enabled else None)
    seconds = time.monotonic() - t0
    if args.json:
        print(json.dumps({"seed": seed, "seeds": args.seeds, "runs": stats.runs,
                          "loaded": stats.loaded, "rejected": stats.rejected,
                          "seconds": round(seconds, 3), "reasons": stats.reasons,
                          "crashes": stats.crashes}, indent=2))
        return 1 if stats.crashes else 0
    print(f"seed {seed}: {stats.runs} mutated objects from {len(seeds)} seeds in "
          f"{seconds:.0f} s: {stats.loaded} loaded, {stats.rejected} rejected "
          f"with ELFError/PyBPFError, {len(stats.crashes)} uncaught exceptions")
    for reason, n in sorted(stats.reasons.items(), key=lambda kv: -kv[1])[:15]:
        print(f"  x{n}: {reason}")
    for crash in stats.crashes:
        print(f"  CRASH {crash}")
    return 1 if stats.crashes else 0


def cmd_fuzz_hostile(args: argparse.Namespace) -> int:
    """A hostile-input campaign over pybpf's entry points (pybpf.hostile): counts per
    entry point, reproducers of failures in --out; exit 1 if any case failed."""
    import random
    import threading

    from ..hostile import MEMORY_CAP, TARGETS, run_campaign
    from ..tools.progress import progress
    targets = list(TARGETS) if args.target == "all" else [args.target]
    seed = args.seed if args.seed is not None else random.randrange(1 << 31)
    out = Path(args.out)
    lock = threading.Lock()
    with progress(args.count, unit="case", desc="fuzz hostile",
                  as_json=args.json or args.quiet) as bar:
        def tick(_target: str, _outcome: str) -> None:
            with lock:
                bar.update()
        result = run_campaign(args.count, targets, seed=seed, jobs=args.jobs, out_dir=out,
                              timeout=args.timeout, strict=args.strict,
                              progress=tick if bar.enabled else None)
    if args.json:
        print(json.dumps({**result.to_json(), "out": str(out)}, indent=2))
        return 1 if result.failed else 130 if result.interrupted else 0
    if result.interrupted:
        print("interrupted: the counts are of the cases run so far")
    print(f"seed {seed}: {sum(s.cases for s in result.stats.values())} cases in "
          f"{result.seconds:.0f} s, {args.jobs} worker(s) under a "
          f"{MEMORY_CAP >> 30} GiB address-space cap, {args.timeout:g} CPU s per case")
    head = ("entry point", "cases", "pybpf errors", "ok", "exceptions", "over time",
            "over memory", "known")
    rows = [head]
    for target, st in result.stats.items():
        known = ", ".join(f"{k} x{n}" for k, n in sorted(st.known.items())) or "-"
        rows.append((target, str(st.cases), str(st.errors), str(st.ok), str(st.exceptions),
                     str(st.over_time), str(st.over_memory), known))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        print("  ".join(c.ljust(w) if i in (0, 7) else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))).rstrip())
    new = [f for f in result.failures if f.known is None]
    known_failures = [f for f in result.failures if f.known is not None]
    for f in new[:20]:
        print(f"  FAIL {f.target} seed {f.seed} ({f.kind}): {f.outcome}: "
              f"{f.detail.splitlines()[0][:160] if f.detail else ''} -> {f.reproducer}")
    if known_failures:
        from ..hostile.known import ITEMS
        print(f"  {len(known_failures)} known failures (fixed elsewhere; --strict counts "
              "them): " + "; ".join(ITEMS[i] for i in sorted({f.known for f in known_failures
                                                                if f.known})))
    if new:
        print(f"  reproducers in {out}/new (replay: python -m pybpf.hostile.replay FILE)")
    return 1 if result.failed else 130 if result.interrupted else 0


def cmd_fuzz_jit(args: argparse.Namespace) -> int:
    """The JIT campaigns (pybpf.hostile.jit_campaign): JIT against interpreter, or
    --crash: the JIT alone in child processes; exit 1 on any mismatch or dead child."""
    import random

    from ..hostile import jit_campaign
    from ..jit import available
    from ..tools.progress import progress
    if not available():
        raise CLIError("pybpf fuzz jit: llvmlite does not load on this host (no JIT)")
    seed = args.seed if args.seed is not None else random.randrange(1 << 40)
    mode = "crash" if args.crash else "diff"
    with progress(args.count, unit="prog", desc=f"fuzz jit {mode}",
                  as_json=args.json or args.quiet) as bar:
        seen = [0]

        def tick(done: int, _failures: int) -> None:
            bar.update(done - seen[0])
            seen[0] = done
        result = jit_campaign.run(args.count, seed, mode=mode, tier=args.tier,
                                  jobs=args.jobs, batch=args.batch, nice=args.nice,
                                  progress=tick if bar.enabled else None)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 1 if result.failures else 0
    what = "JIT against interpreter" if mode == "diff" else "JIT alone, in child processes"
    print(f"seed {seed}: {result.ran} of {args.count} programs ({what}, tier {args.tier}) in "
          f"{result.seconds:.0f} s, {result.cpu_seconds:.0f} CPU s "
          f"({result.rate:.1f} programs a CPU second, {args.jobs} job(s))")
    for f in result.failures[:20]:
        print(f"  {f.kind.upper()} case {f.seed}: {f.detail[:300]}")
    if result.failures:
        print(f"  {len(result.failures)} failed cases (rerun one: pybpf fuzz jit --seed N "
              f"--count 1{' --crash' if args.crash else ''})")
    else:
        print("  0 mismatches" if mode == "diff" else "  0 crashes")
    return 1 if result.failures else 0


def cmd_fuzz_verify(args: argparse.Namespace) -> int:
    """`pybpf fuzz verify`: the verifier campaign (pybpf.tools.verify)."""
    return tools_verify.run_fuzz_verify(args)


def register(sub: argparse._SubParsersAction) -> None:
    """The fuzz group."""
    fsub = command_group(sub, "fuzz", "fuzzing: differential against the kernel and of the ELF "
                               "loader (these need the fuzz extra: pip install "
                               "'pybpf[fuzz]'), and hostile input into every entry point")
    fd = fsub.add_parser("diff", help="random verifier-accepted programs on the VM and the "
                                      "kernel; mismatches are shrunk and saved")
    fd.add_argument("--count", type=positive_int, default=1000,
                    help="programs to generate (default 1000)")
    fd.add_argument("--seed", type=int, help="random seed (default: a random one, printed)")
    fd.add_argument("--out", default="tests/regressions",
                    help="where minimal reproducers are written (default tests/regressions)")
    fd.add_argument("--max-segments", type=positive_int, default=12,
                    help="largest number of generated code segments per program (default 12)")
    fd.add_argument("--engine", choices=["interp", "jit"], default="interp",
                    help="how the VM side runs the programs: the interpreter or the LLVM "
                         "JIT (default interp)")
    fd.add_argument("--quiet", action="store_true", help="no progress bar")
    json_option(fd)
    fd.set_defaults(fn=cmd_fuzz_diff)
    fel = fsub.add_parser("elf", help="mutated real objects into the ELF loader: every input "
                                      "must load or give a clear error")
    fel.add_argument("seeds", nargs="+", help="real BPF object files to mutate")
    fel.add_argument("--count", type=positive_int, default=10_000,
                     help="mutated objects to try (default 10000)")
    fel.add_argument("--seed", type=int, help="random seed (default: a random one, printed)")
    fel.add_argument("--quiet", action="store_true", help="no progress bar")
    json_option(fel)
    fel.set_defaults(fn=cmd_fuzz_elf)

    fh = fsub.add_parser("hostile", help="hostile input into every entry point (VM runs, "
                                         "loader, BTF, captures, CLI) in capped workers: "
                                         "anything but a pybpf error, a run over its time "
                                         "or memory fails")
    fh.add_argument("--count", type=positive_int, default=1000,
                    help="cases in all, spread over the targets (default 1000)")
    fh.add_argument("--target", choices=["loader", "vm", "btf", "pcap", "cli", "all"],
                    default="all", help="one entry point, or all (default)")
    fh.add_argument("--seed", type=int, help="campaign seed (default: a random one, printed)")
    fh.add_argument("--jobs", type=positive_int, default=1,
                    help="worker processes (default 1)")
    fh.add_argument("--timeout", type=positive, default=20.0,
                    help="CPU seconds a case may take (default 20; a worker silent for 3 "
                         "times as long is killed as hung)")
    fh.add_argument("--out", default="hostile-failures",
                    help="where reproducers of failures are written (default "
                         "hostile-failures/)")
    fh.add_argument("--strict", action="store_true",
                    help="count the known failures (issue-11 items fixed elsewhere) as "
                         "failures too")
    fh.add_argument("--quiet", action="store_true", help="no progress bar")
    json_option(fh)
    fh.set_defaults(fn=cmd_fuzz_hostile)
    fj = fsub.add_parser("jit", help="random programs, mostly unverified, on the LLVM JIT "
                                     "in child processes: against the interpreter, or "
                                     "--crash: the JIT alone (a dead child fails)")
    fj.add_argument("--count", type=positive_int, default=1000,
                    help="programs (cases seed .. seed+count-1; default 1000)")
    fj.add_argument("--seed", type=int, help="first case (default: a random one, printed)")
    fj.add_argument("--crash", action="store_true",
                    help="run the JIT only and count the children that died")
    fj.add_argument("--tier", choices=["size", "full", "short", "fast"], default="size",
                    help="how programs are compiled: the tier their size gets, as on load "
                         "(default), or one tier for all (fast: the cheapest compile)")
    fj.add_argument("--jobs", type=positive_int, default=1,
                    help="child processes at a time (default 1)")
    fj.add_argument("--batch", type=positive_int, default=250,
                    help="cases a child runs (default 250)")
    fj.add_argument("--nice", type=int, default=0, choices=range(0, 20), metavar="0-19",
                    help="niceness of the children (default 0)")
    fj.add_argument("--quiet", action="store_true", help="no progress bar")
    json_option(fj)
    fj.set_defaults(fn=cmd_fuzz_jit)
    fv = fsub.add_parser("verify", help="generated programs (mutations that drop bounds and "
                                        "null checks, leak, loop, ...) through pybpf's "
                                        "verifier and the kernel's: verdicts must agree")
    tools_verify.add_fuzz_verify_arguments(fv)
    fv.set_defaults(fn=cmd_fuzz_verify)
