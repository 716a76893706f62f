"""The JIT campaigns (issue 14): random programs, mostly ones no verifier would accept,
run on the LLVM JIT in child processes. "diff" compares each with the interpreter on
r0, the executed count, the memory after the run and the error (class and message);
"crash" runs the JIT only and counts the children that died (a segfault or abort of the
host is a failed case, pinned to its seed by the line the child wrote before it).

Cases are numbered: case `s` is always the same program, memory and budget, so a seed
and a count name a campaign. Children run a slice of cases each (`jobs` at a time);
each child keeps a small cache of its own, compiled at `tier` ("size": the tier the
loader picks, as users get it; or "full", "short", "fast" for every program).

    result = run(1000, 5, mode="crash", jobs=2)

`pybpf fuzz jit --count N --seed S [--crash]` runs one from the command line."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from .. import isa
from ..errors import PyBPFError
from ..helpers import seeded_rng
from ..isa import Instruction
from .gen_vm import _random_bytecode, _random_insns

MODES = ("diff", "crash")
TIERS = ("size", "full", "short", "fast")
CRASH_BUDGET = 100_000  # crash cases run at most this many instructions (see case())
CHILD_TIMEOUT = 900.0  # wall seconds a child may take (a hang past it is a failure)

_EXTRA: tuple[Callable[[random.Random], Instruction], ...] = (
    lambda rng: Instruction(isa.BPF_LD | isa.BPF_ABS | rng.choice(list(isa.SIZE_BYTES)[:3]),
                            0, 0, 0, rng.choice([0, 1, 2, 7, 14, 60, 4095, -1, -0x100000,
                                                 -0x200000])),
    lambda rng: Instruction(isa.BPF_LD | isa.BPF_IND | rng.choice(list(isa.SIZE_BYTES)[:3]),
                            0, rng.randrange(10), 0, rng.choice([0, 1, 2, -4, 12])),
    lambda rng: Instruction(isa.BPF_ALU64 | isa.BPF_MOV | isa.BPF_X, rng.randrange(10),
                            rng.randrange(11), rng.choice([8, 16, 32])),
    lambda rng: Instruction(isa.BPF_ALU | isa.BPF_MOV | isa.BPF_X, rng.randrange(10),
                            rng.randrange(11), rng.choice([8, 16])),
    lambda rng: Instruction(rng.choice([isa.BPF_ALU64, isa.BPF_ALU]) |
                            rng.choice([isa.BPF_DIV, isa.BPF_MOD]) | rng.choice([0, 8]),
                            rng.randrange(10), rng.randrange(10), 1,
                            rng.choice([0, 1, -1, 3, -7, -0x80000000])),
    lambda rng: Instruction(rng.choice([0xD7, 0xD4, 0xDC]), rng.randrange(10), 0, 0,
                            rng.choice([16, 32, 64])),
    lambda rng: Instruction(isa.BPF_LDX | isa.BPF_MEMSX | rng.choice(list(isa.SIZE_BYTES)[:3]),
                            rng.randrange(10), rng.choice([1, 10]), 0, 0),
    lambda rng: Instruction(isa.BPF_ALU64 | isa.BPF_MOV | isa.BPF_K, rng.choice([1, 2, 3]),
                            0, 0, rng.choice([0, 1, 8, 64, -8, -1])),
)


def _plain(insn: Instruction) -> bool:
    """A one-slot instruction that is not a jump (may be replaced in place)."""
    return insn.slots == 1 and isa.classify(insn) not in (isa.InsnKind.JCOND, isa.InsnKind.JA)


def _body(rng: random.Random) -> list[Instruction]:
    """Random instructions (pybpf.hostile.gen_vm's) with extra forms (LD_ABS/IND, movsx,
    sdiv/smod, bswap, sign-extending loads) put in place of one-slot ones, and a
    may_goto somewhere forward (loops bounded by its count) three times in ten."""
    body = _random_insns(rng)
    for _ in range(rng.randrange(0, 6)):
        i = rng.randrange(len(body) - 1) if len(body) > 1 else 0
        if _plain(body[i]):
            body[i] = rng.choice(_EXTRA)(rng)
    if rng.random() < 0.3:
        i = rng.randrange(len(body))
        if _plain(body[i]):
            tail = max(sum(x.slots for x in body[i + 1:]) - 1, 0)
            body[i] = Instruction(isa.BPF_JMP | isa.BPF_JCOND, 0, 0, rng.randrange(0, tail + 1))
    return body


def program(rng: random.Random) -> bytes:
    """A random program: raw bytecode, one body, or a main body calling a subprogram
    (directly or through callx on a function pointer)."""
    r = rng.random()
    if r < 0.1:
        return _random_bytecode(rng)
    main = _body(rng)
    if r < 0.55:
        return isa.encode(main)
    sub = _body(rng)
    slots = [0]
    for insn in main:
        slots.append(slots[-1] + insn.slots)
    sub_start = slots[-1]
    for _ in range(rng.randrange(1, 4)):
        i = rng.randrange(len(main))
        if not _plain(main[i]) or isa.classify(main[i]) == isa.InsnKind.EXIT:
            continue
        if rng.random() < 0.7:
            main[i] = Instruction(isa.OPCODE_CALL, 0, isa.BPF_PSEUDO_CALL, 0,
                                  sub_start - slots[i] - 1)
        else:
            main[i] = Instruction(isa.OPCODE_CALLX, rng.choice([1, 2, 3]))
    # a function pointer to the subprogram in r1-r3 at entry (a lddw replaces a lddw, so
    # the slots of the rest do not move)
    for i, insn in enumerate(main[:-1]):
        if insn.is_lddw and rng.random() < 0.5:
            main[i] = Instruction.lddw(rng.choice([1, 2, 3]), sub_start - slots[i] - 1,
                                       isa.BPF_PSEUDO_FUNC)
    return isa.encode(main + sub)


def case(seed: int, mode: str = "diff") -> tuple[bytes, bytes | None, int]:
    """Case `seed`: (program, input memory or None, instruction budget). A crash case
    runs at most CRASH_BUDGET instructions: a loop calling helpers a million times costs
    seconds of Python and tests nothing more of the host's safety."""
    rng = random.Random(seed)
    code = program(rng)
    size = rng.choice([0, 1, 8, 64, 512, rng.randrange(0, 5000)])
    mem = rng.randbytes(size) if rng.random() < 0.9 else None
    budget = rng.choice([1000, 100_000, 1_000_000])
    return code, mem, min(budget, CRASH_BUDGET) if mode == "crash" else budget


@dataclass(frozen=True)
class Result:
    """What one engine did with a case."""

    r0: int | None
    executed: int | None
    mem: bytes
    error: str | None


def run_one(cls: Any, code: bytes, mem: bytes | None, budget: int, **kw: Any) -> Result:
    """Load and run on one engine (`cls`: VM or JitVM; `kw` to its constructor):
    r1 = a copy of mem, r2 = its length, the same clock and random source."""
    from ..vm import Memory
    try:
        vm = cls(code, insn_budget=budget, **kw)
        vm.clock_ns = lambda: 1_000_000
        memory = Memory()
        r1 = r2 = 0
        region = None
        if mem is not None:
            region = memory.map("mem", bytearray(mem))
            memory.packet = region
            r1, r2 = (region.base, len(mem)) if mem else (0, 0)
        res = vm.execute(memory, r1, r2, rng=seeded_rng(7))
    except PyBPFError as e:
        return Result(None, None, b"", f"{type(e).__name__}: {e}")
    return Result(res.r0, res.executed, bytes(region.buf) if region is not None else b"",
                  None)


def jit_cache(tier: str = "size") -> Any:
    """A small cache of compiled programs at `tier` (a campaign never runs a program
    twice: a few entries keep a child's memory flat)."""
    from ..jit import native
    tiers = {"size": None, "full": native.TIER_FULL, "short": native.TIER_SHORT,
             "fast": native.TIER_FAST}
    if tier not in tiers:
        raise ValueError(f"unknown tier {tier!r}")
    return native.JitCache(size=4, tier=tiers[tier])


def compare(seed: int, cache: Any = None) -> str | None:
    """None when the interpreter and the JIT agree on case `seed`, else what differs."""
    from ..jit import JitVM
    from ..vm import VM
    code, mem, budget = case(seed)
    a = run_one(VM, code, mem, budget)
    b = run_one(JitVM, code, mem, budget, cache=cache or jit_cache())
    if a == b:
        return None
    return f"interp {a.r0, a.executed, a.error} jit {b.r0, b.executed, b.error}" + \
        (" (memory differs)" if a.mem != b.mem else "")


# --- children --------------------------------------------------------------------------

def child(mode: str, first: int, count: int, tier: str, out: Any = None) -> None:
    """Run cases [first, first + count) here, writing "case S" before case S and
    "mismatch S DETAIL" for a difference (diff mode), then "end"."""
    from ..jit import JitVM
    out = out or sys.stdout
    cache = jit_cache(tier)
    for seed in range(first, first + count):
        out.write(f"case {seed}\n")
        out.flush()
        if mode == "crash":
            code, mem, budget = case(seed, "crash")
            run_one(JitVM, code, mem, budget, cache=cache)
        else:
            detail = compare(seed, cache)
            if detail is not None:
                out.write(f"mismatch {seed} {detail}\n")
    out.write("end\n")
    out.flush()


@dataclass
class Failure:
    """A case that failed: a mismatch, or the child died (or hung) while running it."""

    seed: int
    kind: str  # "mismatch", "crash" or "hang"
    detail: str


@dataclass
class CampaignResult:
    mode: str
    first: int
    count: int
    tier: str
    jobs: int
    ran: int = 0  # cases that finished (a case a child died in is not counted)
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # the children's CPU time
    failures: list[Failure] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Cases a CPU second (the host is shared: wall time says little)."""
        return self.ran / self.cpu_seconds if self.cpu_seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "seed": self.first, "count": self.count,
                "tier": self.tier, "jobs": self.jobs, "ran": self.ran,
                "seconds": round(self.seconds, 1), "cpu_seconds": round(self.cpu_seconds, 1),
                "rate_per_cpu_second": round(self.rate, 1),
                "failures": [f.__dict__ for f in self.failures]}


def _children_cpu() -> float:
    t = os.times()
    return t.children_user + t.children_system


def child_argv(mode: str, first: int, count: int, tier: str) -> list[str]:
    """The command line of a child over [first, first + count)."""
    return [sys.executable, "-m", "pybpf.hostile.jit_campaign", mode, str(first), str(count),
            tier]


def _run_child(mode: str, first: int, count: int, tier: str,
               nice: int) -> tuple[int, list[Failure]]:
    """One child over [first, first + count): (cases finished, failures)."""
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    argv = child_argv(mode, first, count, tier)
    try:
        p = subprocess.run(argv, capture_output=True, text=True, env=env,
                           timeout=CHILD_TIMEOUT,
                           preexec_fn=(lambda: os.nice(nice)) if nice else None)
        stdout, stderr, code = p.stdout, p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        stdout = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        stderr, code = "", None
    failures: list[Failure] = []
    started: int | None = None
    done = 0
    ended = False
    for line in stdout.splitlines():
        word, _, rest = line.partition(" ")
        if word == "case":
            if started is not None:
                done += 1
            started = int(rest)
        elif word == "mismatch":
            which, _, detail = rest.partition(" ")
            failures.append(Failure(int(which), "mismatch", detail))
        elif word == "end":
            ended = True
    if ended and code == 0:
        return done + (started is not None), failures
    died = started if started is not None else first
    if code is None:
        failures.append(Failure(died, "hang", f"child past {CHILD_TIMEOUT:g} s"))
    else:
        failures.append(Failure(died, "crash", f"exit {code}: {stderr.strip()[-600:]}"))
    return done, failures


def run(count: int, seed: int, *, mode: str = "diff", tier: str = "size", jobs: int = 1,
        batch: int = 250, nice: int = 0,
        progress: Callable[[int, int], None] | None = None) -> CampaignResult:
    """Cases [seed, seed + count) in children of `batch` cases, `jobs` at a time.
    A child that dies is reported at the case it died in, and the rest of its slice runs
    in a new child. `progress(done, failures)` after each child."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    jit_cache(tier)  # the tier's name, checked here
    result = CampaignResult(mode, seed, count, tier, jobs)
    lock = threading.Lock()
    t0, cpu0 = time.monotonic(), _children_cpu()

    def slice_(first: int, n: int) -> None:
        while n > 0:
            done, failures = _run_child(mode, first, n, tier, nice)
            with lock:
                result.ran += done
                result.failures += failures
                if progress is not None:
                    progress(result.ran, len(result.failures))
            died = [f for f in failures if f.kind != "mismatch"]
            if not died:
                return
            skip = died[0].seed - first + 1  # past the case it died in
            first, n = first + skip, n - skip

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for f in [pool.submit(slice_, first, min(batch, seed + count - first))
                  for first in range(seed, seed + count, batch)]:
            f.result()
    result.seconds = time.monotonic() - t0
    result.cpu_seconds = _children_cpu() - cpu0
    result.failures.sort(key=lambda f: f.seed)
    return result


def main(argv: list[str]) -> int:
    """The child: `python -m pybpf.hostile.jit_campaign MODE FIRST COUNT TIER`."""
    mode, first, count, tier = argv[0], int(argv[1]), int(argv[2]), argv[3]
    child(mode, first, count, tier)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
