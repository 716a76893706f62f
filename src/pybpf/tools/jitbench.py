"""`pybpf bench jit`: the LLVM JIT against the kernel's own test_run duration and the
interpreter, on the same bytes: the sum loop, FNV-1a over 1 KiB, stack traffic,
BPF-to-BPF calls (pybpf.bench's programs) and the firewall example on one packet;
and compile time for programs of 100, 1,000 and 10,000 instructions.

Times are CPU time of the calling thread (the host is shared with other work); the
kernel's is its own test_run duration. The JIT's figure is native time per run,
repeated inside native code from one state (as BPF_PROG_TEST_RUN's repeat times the
program alone); the time a Python caller pays per run (`execute`, or
Program.test_run) is shown beside it."""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path
from typing import Any, Callable

from .. import isa
from ..bench import program_text
from ..isa import Instruction

FIREWALL = Path(__file__).resolve().parents[3] / "examples" / "xdp_firewall.o"
LOOPS = {"sum_loop": ("sum_loop", 1000, 64), "fnv1a_1k": ("fnv1a_mem", 64, 1024),
         "stack": ("stack_histogram", 1000, 64), "bpf_calls": ("local_calls", 1000, 64)}
SIZES = (100, 1000, 10_000)


def sized_program(n: int, seed: int = 1) -> list[Instruction]:
    """About `n` instructions of typical BPF code: stack spills and fills, ALU work,
    forward branches and loads from the input (r1), ending in exit."""
    rng = random.Random(seed)
    out = [Instruction(0xBF, 6, 1), Instruction(0xB7, 0, 0, 0, 0)]
    for k in range(1, 9):
        out.append(Instruction(0x7A, 10, 0, -8 * k, 0))  # *(u64 *)(r10 - 8k) = 0
    while len(out) < n - 1:
        a, b, c = rng.sample([2, 3, 4, 5, 7, 8, 9], 3)
        off = -8 * rng.randrange(1, 9)
        out += [Instruction(0x79, a, 10, off),  # ra = *(u64 *)(r10 + off)
                Instruction(0x0F, b, a),  # rb += ra
                Instruction(0xA7, b, 0, 0, rng.randrange(1 << 16)),  # rb ^= imm
                Instruction(0x25, b, 0, 1, rng.randrange(1 << 20)),  # if rb > imm goto +1
                Instruction(0xBF, c, b),  # rc = rb
                Instruction(0x7B, 10, c, -8 * rng.randrange(1, 9)),  # spill rc
                Instruction(0x71, a, 6, rng.randrange(64)),  # ra = *(u8 *)(r6 + k)
                Instruction(0x0F, 0, a)]  # r0 += ra
    out.append(Instruction(isa.OPCODE_EXIT))
    return out


def _best(fn: Callable[[], float], repeat: int) -> float:
    return min(fn() for _ in range(repeat))


def _loop_row(name: str, repeat: int, runs: int, runner: Any) -> dict[str, Any]:
    from ..asm import assemble
    from ..jit import JitVM
    from ..vm import VM, Memory
    prog, iters, mem_len = LOOPS[name]
    code = assemble(program_text(prog, iters))
    mem = bytes(i * 7 & 0xFF for i in range(mem_len))

    def per_run(vm: VM, n: int) -> float:
        t0 = time.thread_time_ns()
        for _ in range(n):
            memory = Memory()
            region = memory.map("mem", bytearray(mem))
            vm.execute(memory, region.base, mem_len)
        return (time.thread_time_ns() - t0) / n

    interp = VM(code, insn_budget=1 << 40)
    jit = JitVM(code, insn_budget=1 << 40)
    interp_ns = _best(lambda: per_run(interp, 3), repeat)
    api_ns = _best(lambda: per_run(jit, 200), repeat)

    def native() -> float:
        jit.bench_repeat = runs
        try:
            per_run(jit, 1)
        finally:
            jit.bench_repeat = 0
        return jit.bench_ns
    # the JIT's passes and the kernel's alternate, so that both see the host as it is
    # (a shared machine's load and clock move between passes); the best of each counts
    jit_times, kernel_times = [], []
    for _ in range(repeat):
        jit_times.append(native())
        if runner is not None:
            kernel_times.append(runner.run(code, mem, repeat=runs).duration)
    r_interp = interp.execute(*_fresh(mem)).r0
    r_jit = jit.execute(*_fresh(mem)).r0
    return _row(name, interp_ns, min(jit_times), api_ns,
                min(kernel_times) if kernel_times else None, r_interp == r_jit)


def _fresh(mem: bytes) -> tuple[Any, int, int]:
    """A Memory holding a copy of `mem`, and r1, r2 for it."""
    from ..vm import Memory
    memory = Memory()
    return memory, memory.map("mem", bytearray(mem)).base, len(mem)


def _row(name: str, interp_ns: float, jit_ns: float, api_ns: float,
         kernel_ns: float | None, same: bool) -> dict[str, Any]:
    return {"program": name, "interp_ns": round(interp_ns), "jit_ns": round(jit_ns, 1),
            "jit_api_ns": round(api_ns), "kernel_ns": kernel_ns,
            "jit_vs_kernel": round(jit_ns / kernel_ns, 2) if kernel_ns else None,
            "interp_vs_jit": round(interp_ns / jit_ns, 1) if jit_ns else None,
            "same_r0": same}


def _firewall_packet() -> bytes:
    from ..pcap import read_pcap
    return read_pcap(FIREWALL.parent / "traffic.pcap")[0].data


def _firewall_row(repeat: int, runs: int, kernel: bool) -> dict[str, Any]:
    import pybpf
    packet = _firewall_packet()
    spec = pybpf.load(str(FIREWALL))

    def api(obj: Any, n: int) -> float:
        prog = obj.programs["xdp_firewall"]
        t0 = time.thread_time_ns()
        for _ in range(n):
            prog.test_run(packet)
        return (time.thread_time_ns() - t0) / n

    with spec.instantiate("vm", engine="interp") as obj:
        interp_ns = _best(lambda: api(obj, 50), repeat)
        r_interp = obj.programs["xdp_firewall"].test_run(packet).retval
    with spec.instantiate("vm", engine="jit") as obj:
        api_ns = _best(lambda: api(obj, 200), repeat)
        vm = obj.programs["xdp_firewall"].handle

        def native() -> float:
            vm.bench_repeat = runs
            try:
                obj.programs["xdp_firewall"].test_run(packet)
            finally:
                vm.bench_repeat = 0
            return float(vm.bench_ns)
        jit_ns = _best(native, repeat)
        r_jit = obj.programs["xdp_firewall"].test_run(packet).retval
    kernel_ns = None
    if kernel:
        with spec.instantiate("kernel") as obj:
            kernel_ns = min(obj.programs["xdp_firewall"].test_run(packet, repeat=runs).duration
                            for _ in range(repeat))
    return _row("firewall_1pkt", interp_ns, jit_ns, api_ns, kernel_ns, r_interp == r_jit)


def compile_rows(sizes: tuple[int, ...] = SIZES, repeat: int = 3) -> list[dict[str, Any]]:
    """CPU ms to compile programs of each size (codegen to native, no cache)."""
    from ..cfg import ControlFlowGraph
    from ..jit.native import compile_program, has_loops, tier
    rows = []
    for n in sizes:
        cfg = ControlFlowGraph.of(sized_program(n))
        times = []
        for _ in range(repeat):
            t0 = time.process_time()
            compile_program(cfg, {})
            times.append((time.process_time() - t0) * 1000)
        rows.append({"insns": cfg.total, "compile_ms": round(statistics.median(times), 1),
                     "tier": tier(cfg.total, has_loops(cfg)).name})
    return rows


def jit_report(repeat: int = 3, runs: int = 10_000,
               progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every figure of `pybpf bench jit`, measured in one run."""
    from ..kernel import available
    ok, reason = available()
    runner = None
    rows = []
    try:
        if ok:
            from ..kernel.run import RawRunner
            runner = RawRunner()
        for name in LOOPS:
            rows.append(_loop_row(name, repeat, runs, runner))
            if progress:
                progress(name)
    finally:
        if runner is not None:
            runner.close()
    rows.append(_firewall_row(repeat, max(1, runs // 10), ok))
    if progress:
        progress("firewall")
    return {"benchmark": "jit", "repeat": repeat, "runs": runs,
            "kernel": "ok" if ok else reason, "programs": rows,
            "compile": _compiled(repeat, progress)}


def _compiled(repeat: int, progress: Callable[[str], None] | None) -> list[dict[str, Any]]:
    rows = compile_rows(repeat=repeat)
    if progress:
        progress("compile")
    return rows


def format_jit(report: dict[str, Any]) -> str:
    lines = [f"{'program':<15}{'interp ns':>12}{'jit ns':>10}{'kernel ns':>11}"
             f"{'jit/kernel':>12}{'interp/jit':>12}{'jit API ns':>12}"]
    for r in report["programs"]:
        k = r["kernel_ns"]
        lines.append(f"{r['program']:<15}{r['interp_ns']:>12}{r['jit_ns']:>10}"
                     f"{k if k is not None else '-':>11}"
                     f"{r['jit_vs_kernel'] if r['jit_vs_kernel'] is not None else '-':>12}"
                     f"{r['interp_vs_jit']:>12}{r['jit_api_ns']:>12}"
                     + ("" if r["same_r0"] else "  (r0 differs!)"))
    lines.append("jit ns: native time a run (repeated in native code, as test_run's repeat); "
                 "jit API ns: a Python caller's cost a run")
    if report["kernel"] != "ok":
        lines.append(f"kernel: {report['kernel']}")
    lines.append("")
    lines.append(f"{'compile':<15}{'insns':>8}{'CPU ms':>10}  tier")
    for c in report["compile"]:
        lines.append(f"{'':<15}{c['insns']:>8}{c['compile_ms']:>10}  {c['tier']}")
    return "\n".join(lines) + "\n"
