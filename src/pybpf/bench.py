"""Benchmarks that print figures: interpreter speed in executed instructions per second
on loop-heavy programs (the target for this machine class is >= 3 M insn/s)."""

from __future__ import annotations

import time
from dataclasses import dataclass

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
    """Best of `repeat` runs of one program (translation excluded: it happens once)."""
    from .asm import assemble
    from .vm import VM, Memory
    vm = VM(assemble(program_text(name, iterations)), insn_budget=1 << 62)
    best: BenchResult | None = None
    for _ in range(repeat):
        mem = Memory()
        buf = mem.map("mem", bytearray(range(64)))
        t0 = time.perf_counter()
        result = vm.execute(mem, buf.base, 64)
        dt = time.perf_counter() - t0
        if best is None or dt < best.seconds:
            best = BenchResult(name, result.executed, dt)
    assert best is not None
    return best


def bench_kernel(repeat: int = 3, iterations: int = 10_000, kernel_repeat: int = 100) -> int:
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
    print(f"{'program':<18} {'executed':>10} {'VM ns/run':>14} {'kernel ns/run':>14} "
          f"{'VM/kernel':>10}")
    with RawRunner() as runner:
        for name in PROGRAMS:
            code = assemble(program_text(name, iterations))
            vm_res = measure(name, iterations, repeat)
            k_ns = min(runner.run(code, mem, repeat=kernel_repeat).duration
                       for _ in range(repeat))
            vm_ns = vm_res.seconds * 1e9
            ratio = vm_ns / k_ns if k_ns else float("inf")
            print(f"{name:<18} {vm_res.executed:>10,} {vm_ns:>14,.0f} {k_ns:>14,} {ratio:>10,.0f}x")
    return 0


def bench_interp(repeat: int = 3, iterations: int = 100_000) -> int:
    """Print executed instructions per second for each loop-heavy program."""
    results = [measure(name, iterations, repeat) for name in PROGRAMS]
    print(f"{'program':<18} {'executed':>12} {'seconds':>9} {'M insn/s':>9}")
    for r in results:
        print(f"{r.name:<18} {r.executed:>12,} {r.seconds:>9.4f} {r.insn_per_s / 1e6:>9.2f}")
    total_n = sum(r.executed for r in results)
    total_t = sum(r.seconds for r in results)
    print(f"{'overall':<18} {total_n:>12,} {total_t:>9.4f} {total_n / total_t / 1e6:>9.2f}")
    return 0


def bench_maps(ops: int = 20_000, entries: int = 1024, repeat: int = 3,
               kernel: bool = True) -> int:
    """Python-side map operations per second, VM maps against kernel maps (bpf(2) per
    operation) in the same run: lookup and update of existing keys in a hash and an
    array map, best of `repeat`, with the VM/kernel ratio."""
    from .maps import MapSpec
    backends = ["vm"]
    if kernel:
        from .kernel import available
        ok, reason = available()
        if ok:
            backends.append("kernel")
        else:
            print(f"(kernel maps skipped: {reason})")
    specs = {"hash": MapSpec("hash", 4, 8, entries), "array": MapSpec("array", 4, 8, entries)}
    keys = [(i % entries).to_bytes(4, "little") for i in range(ops)]
    value = (7).to_bytes(8, "little")
    results: dict[tuple[str, str, str], float] = {}
    for kind, spec in specs.items():
        for backend in backends:
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
    print(f"{'map':<7} {'op':<7} {'VM ops/s':>12} {'kernel ops/s':>13} {'VM/kernel':>10}")
    for kind in specs:
        for op in ("lookup", "update"):
            vm_rate = results[(kind, op, "vm")]
            k_rate = results.get((kind, op, "kernel"))
            if k_rate is None:
                print(f"{kind:<7} {op:<7} {vm_rate:>12,.0f} {'-':>13} {'-':>10}")
            else:
                print(f"{kind:<7} {op:<7} {vm_rate:>12,.0f} {k_rate:>13,.0f} "
                      f"{vm_rate / k_rate:>9.1f}x")
    return 0
