"""Benchmarks that print figures: interpreter speed in executed instructions per second
of CPU time on loop-heavy programs (the targets: >= 30 M insn/s on ALU loops, >= 20 M
on memory-heavy code)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

# Each program's loop count is substituted for ITER; r1/r2 point at a 64-byte buffer.
PROGRAMS: dict[str, str] = {
    "sum_loop": """
        r0 = 0
        r1 = ITER
    loop:
        r0 += r1
        r1 -= 1
        if r1 != 0 goto loop
        exit
    """,
    "fnv1a_mem": """
        r6 = r1
        r7 = r2
        w0 = -2128831035
        r8 = ITER / 64
    outer:
        r3 = 0
    inner:
        r4 = r6
        r4 += r3
        r5 = *(u8 *)(r4 +0)
        w0 ^= w5
        w0 *= 16777619
        r3 += 1
        if r3 < r7 goto inner
        r8 -= 1
        if r8 != 0 goto outer
        exit
    """,
    "stack_histogram": """
        r1 = 0
        r2 = ITER
    loop:
        r3 = r1
        r3 &= 63
        r3 <<= 3
        r4 = r10
        r4 += -512
        r4 += r3
        r5 = *(u64 *)(r4 +0)
        r5 += r1
        *(u64 *)(r4 +0) = r5
        r1 += 1
        if r1 < r2 goto loop
        r0 = *(u64 *)(r10 -512)
        exit
    """,
    "local_calls": """
        r6 = ITER / 4
        r7 = 0
    loop:
        r1 = r6
        call square
        r7 += r0
        r6 -= 1
        if r6 != 0 goto loop
        r0 = r7
        exit
    square:
        r0 = r1
        r0 *= r1
        exit
    """,
}


@dataclass(frozen=True)
class BenchResult:
    name: str
    executed: int
    seconds: float

    @property
    def insn_per_s(self) -> float:
        return self.executed / self.seconds if self.seconds else float("inf")


def program_text(name: str, iterations: int) -> str:
    text = PROGRAMS[name]
    for div in (64, 4):
        text = text.replace(f"ITER / {div}", str(max(1, iterations // div)))
    return text.replace("ITER", str(iterations))


def measure(name: str, iterations: int, repeat: int) -> BenchResult:
    """Best of `repeat` runs of one program in CPU time (translation excluded: it
    happens once)."""
    from .asm import assemble
    from .vm import VM, Memory
    vm = VM(assemble(program_text(name, iterations)), insn_budget=1 << 62)
    best: BenchResult | None = None
    for _ in range(repeat):
        mem = Memory()
        buf = mem.map("mem", bytearray(range(64)))
        t0 = time.process_time()  # CPU time: the machine may be shared
        result = vm.execute(mem, buf.base, 64)
        dt = time.process_time() - t0
        if best is None or dt < best.seconds:
            best = BenchResult(name, result.executed, dt)
    assert best is not None
    return best


def kernel_report(repeat: int = 3, iterations: int = 10_000, kernel_repeat: int = 100,
                  progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """ns per run of the same programs on the VM interpreter and in the kernel
    (BPF_PROG_TEST_RUN with repeat, JIT as configured), with the ratio."""
    from .asm import assemble
    from .kernel import available
    from .kernel.run import RawRunner
    ok, reason = available()
    if not ok:
        from .errors import PyBPFError
        raise PyBPFError(f"the kernel is needed for this benchmark: {reason}")
    mem = bytes(range(64))
    rows = []
    with RawRunner() as runner:
        for name in PROGRAMS:
            code = assemble(program_text(name, iterations))
            vm_res = measure(name, iterations, repeat)
            k_ns = min(runner.run(code, mem, repeat=kernel_repeat).duration
                       for _ in range(repeat))
            vm_ns = vm_res.seconds * 1e9
            rows.append({"program": name, "executed": vm_res.executed, "vm_ns": round(vm_ns),
                         "kernel_ns": k_ns,
                         "ratio": round(vm_ns / k_ns, 1) if k_ns else None})
            if progress is not None:
                progress(name)
    return {"benchmark": "kernel", "repeat": repeat, "iterations": iterations, "programs": rows}


def format_kernel(report: dict[str, Any]) -> str:
    lines = [f"{'program':<18} {'executed':>10} {'VM ns/run':>14} {'kernel ns/run':>14} "
             f"{'VM/kernel':>10}"]
    for r in report["programs"]:
        ratio = f"{r['ratio']:>10,.0f}x" if r["ratio"] is not None else f"{'inf':>10}x"
        lines.append(f"{r['program']:<18} {r['executed']:>10,} {r['vm_ns']:>14,.0f} "
                     f"{r['kernel_ns']:>14,} {ratio}")
    return "\n".join(lines) + "\n"


def bench_kernel(repeat: int = 3, iterations: int = 10_000, kernel_repeat: int = 100) -> int:
    """Print kernel_report()."""
    print(format_kernel(kernel_report(repeat, iterations, kernel_repeat)), end="")
    return 0


def interp_report(repeat: int = 3, iterations: int = 100_000, processes: int = 1,
                  progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Executed instructions per second for each loop-heavy program, and overall. With
    `processes` > 1 each of that many fresh processes measures them all, and a
    program's figure is the median of theirs (with the lowest and highest): how fast
    a process runs Python moves with where its memory landed (address-space
    randomisation) and with the host's load, by a third on some machines, and mostly
    stays so for the process's life."""
    if processes > 1:
        return _interp_across(repeat, iterations, processes, progress)
    results = []
    for name in PROGRAMS:
        results.append(measure(name, iterations, repeat))
        if progress is not None:
            progress(name)
    total_n = sum(r.executed for r in results)
    total_t = sum(r.seconds for r in results)
    return {"benchmark": "interp", "repeat": repeat, "iterations": iterations,
            "processes": 1,
            "programs": [{"program": r.name, "executed": r.executed, "seconds": r.seconds,
                          "insn_per_s": r.insn_per_s} for r in results],
            "overall": {"executed": total_n, "seconds": total_t,
                        "insn_per_s": total_n / total_t if total_t else None}}


def _interp_across(repeat: int, iterations: int, processes: int,
                   progress: Callable[[str], None] | None) -> dict[str, Any]:
    """interp_report measured in `processes` fresh processes (`python -m pybpf bench
    interp --json`), each program's median, lowest and highest rate."""
    import json
    import os
    import statistics
    import subprocess
    import sys
    from pathlib import Path
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)  # where this pybpf is imported from
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    argv = [sys.executable, "-m", "pybpf", "bench", "interp", "--json", "--processes", "1",
            "--repeat", str(repeat), "--iterations", str(iterations)]
    reports = []
    for i in range(processes):
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            from .errors import PyBPFError
            raise PyBPFError(f"bench interp: a measuring process failed: "
                             f"{done.stderr.strip()[-500:]}")
        reports.append(json.loads(done.stdout))
        if progress is not None:
            progress(f"process {i + 1}")
    rows = []
    for k, name in enumerate(PROGRAMS):
        runs = [r["programs"][k] for r in reports]
        rates = sorted(run["insn_per_s"] for run in runs)
        mid = statistics.median(rates)
        rows.append({"program": name, "executed": runs[0]["executed"],
                     "seconds": runs[0]["executed"] / mid if mid else 0.0,
                     "insn_per_s": mid, "low": rates[0], "high": rates[-1],
                     "per_process": [run["insn_per_s"] for run in runs]})
    total_n = sum(r["executed"] for r in rows)
    total_t = sum(r["seconds"] for r in rows)
    return {"benchmark": "interp", "repeat": repeat, "iterations": iterations,
            "processes": processes, "programs": rows,
            "overall": {"executed": total_n, "seconds": total_t,
                        "insn_per_s": total_n / total_t if total_t else None}}


def format_interp(report: dict[str, Any]) -> str:
    across = report.get("processes", 1) > 1
    lines = []
    if across:
        lines.append(f"median of {report['processes']} processes (each the best of "
                     f"{report['repeat']} runs), lowest and highest")
    lines.append(f"{'program':<18} {'executed':>12} {'seconds':>9} {'M insn/s':>9}"
                 + (f" {'low':>7} {'high':>7}" if across else ""))
    for r in report["programs"]:
        spread = f" {r['low'] / 1e6:>7.2f} {r['high'] / 1e6:>7.2f}" if across else ""
        lines.append(f"{r['program']:<18} {r['executed']:>12,} {r['seconds']:>9.4f} "
                     f"{r['insn_per_s'] / 1e6:>9.2f}{spread}")
    o = report["overall"]
    rate = f"{o['insn_per_s'] / 1e6:>9.2f}" if o["insn_per_s"] else f"{'-':>9}"
    lines.append(f"{'overall':<18} {o['executed']:>12,} {o['seconds']:>9.4f} {rate}")
    return "\n".join(lines) + "\n"


def bench_interp(repeat: int = 3, iterations: int = 100_000, processes: int = 1) -> int:
    """Print interp_report()."""
    print(format_interp(interp_report(repeat, iterations, processes)), end="")
    return 0


def maps_report(ops: int = 20_000, entries: int = 1024, repeat: int = 3,
                kernel: bool = True,
                progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Python-side map operations per second, VM maps against kernel maps (bpf(2) per
    operation) in the same run: lookup and update of existing keys in a hash and an
    array map, best of `repeat`, with the VM/kernel ratio."""
    from .maps import MapSpec
    backends = ["vm"]
    skipped = None
    if kernel:
        from .kernel import available
        ok, reason = available()
        if ok:
            backends.append("kernel")
        else:
            skipped = reason
    specs = {"hash": MapSpec("hash", 4, 8, entries), "array": MapSpec("array", 4, 8, entries)}
    keys = [(i % entries).to_bytes(4, "little") for i in range(ops)]
    value = (7).to_bytes(8, "little")
    results: dict[tuple[str, str, str], float] = {}
    steps = len(specs) * len(backends)
    for kind, spec in specs.items():
        for backend in backends:
            if progress is not None:
                progress(len({(k, b) for k, _, b in results}), steps)
            with spec.create(backend) as m:
                for i in range(entries):
                    m[i] = i
                lookup, update = m.lookup, m.update
                for op in ("lookup", "update"):
                    best = float("inf")
                    for _ in range(repeat):
                        t0 = time.perf_counter()
                        if op == "lookup":
                            for k in keys:
                                lookup(k)
                        else:
                            for k in keys:
                                update(k, value)
                        best = min(best, time.perf_counter() - t0)
                    results[(kind, op, backend)] = ops / best
    if progress is not None:
        progress(steps, steps)
    rows = []
    for kind in specs:
        for op in ("lookup", "update"):
            vm_rate = results[(kind, op, "vm")]
            k_rate = results.get((kind, op, "kernel"))
            rows.append({"map": kind, "op": op, "vm_ops_per_s": vm_rate,
                         "kernel_ops_per_s": k_rate,
                         "ratio": vm_rate / k_rate if k_rate else None})
    return {"benchmark": "maps", "ops": ops, "repeat": repeat, "rows": rows,
            "kernel_skipped": skipped}


def format_maps(report: dict[str, Any]) -> str:
    lines = []
    if report.get("kernel_skipped"):
        lines.append(f"(kernel maps skipped: {report['kernel_skipped']})")
    lines.append(f"{'map':<7} {'op':<7} {'VM ops/s':>12} {'kernel ops/s':>13} {'VM/kernel':>10}")
    for r in report["rows"]:
        if r["kernel_ops_per_s"] is None:
            lines.append(f"{r['map']:<7} {r['op']:<7} {r['vm_ops_per_s']:>12,.0f} {'-':>13} "
                         f"{'-':>10}")
        else:
            lines.append(f"{r['map']:<7} {r['op']:<7} {r['vm_ops_per_s']:>12,.0f} "
                         f"{r['kernel_ops_per_s']:>13,.0f} {r['ratio']:>9.1f}x")
    return "\n".join(lines) + "\n"


def bench_maps(ops: int = 20_000, entries: int = 1024, repeat: int = 3,
               kernel: bool = True) -> int:
    """Print maps_report()."""
    print(format_maps(maps_report(ops, entries, repeat, kernel)), end="")
    return 0
