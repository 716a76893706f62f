"""JIT against interpreter on the same bytes: random unverified programs (the hostile
VM generator's instructions, with subprograms, callx, may_goto, LD_ABS, movsx, sdiv,
bswap and sign-extending loads mixed in) and verified ones (pybpf.fuzz), compared on
r0, the executed count, the memory after the run and the error (class and message).

`python -m tests.jit.harness diff N SEED` runs N programs and prints the mismatches;
`python -m tests.jit.harness crash N SEED` runs N programs under the JIT in child
processes and counts the ones whose process died (a crash of the host)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pybpf import isa
from pybpf.errors import PyBPFError
from pybpf.helpers import seeded_rng
from pybpf.hostile.gen_vm import _random_bytecode, _random_insns
from pybpf.isa import Instruction
from pybpf.jit import JitVM
from pybpf.vm import VM, Memory

ROOT = Path(__file__).resolve().parents[2]

_EXTRA = (
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


def _body(rng: random.Random) -> list[Instruction]:
    """Random instructions with extra forms put in place of one-slot ones."""
    body = _random_insns(rng)
    for _ in range(rng.randrange(0, 6)):
        i = rng.randrange(len(body) - 1) if len(body) > 1 else 0
        if body[i].slots == 1 and isa.classify(body[i]) not in (
                isa.InsnKind.JCOND, isa.InsnKind.JA):
            body[i] = rng.choice(_EXTRA)(rng)
    if rng.random() < 0.3:  # may_goto somewhere forward, loops bounded by its count
        i = rng.randrange(len(body))
        if body[i].slots == 1 and isa.classify(body[i]) not in (
                isa.InsnKind.JCOND, isa.InsnKind.JA):
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
        if main[i].slots != 1 or isa.classify(main[i]) in (isa.InsnKind.JCOND,
                                                            isa.InsnKind.JA,
                                                            isa.InsnKind.EXIT):
            continue
        if rng.random() < 0.7:
            main[i] = Instruction(isa.OPCODE_CALL, 0, isa.BPF_PSEUDO_CALL, 0,
                                  sub_start - slots[i] - 1)
        else:
            main[i] = Instruction(isa.OPCODE_CALLX, rng.choice([1, 2, 3]))
    # a function pointer to the subprogram in r1-r3 at entry (lddw does not move slots
    # of the rest when it replaces a lddw)
    for i, insn in enumerate(main[:-1]):
        if insn.is_lddw and rng.random() < 0.5:
            main[i] = Instruction.lddw(rng.choice([1, 2, 3]), sub_start - slots[i] - 1,
                                       isa.BPF_PSEUDO_FUNC)
    return isa.encode(main + sub)


@dataclass(frozen=True)
class Result:
    r0: int | None
    executed: int | None
    mem: bytes
    error: str | None


def run(cls: type[VM], code: bytes, mem: bytes | None, budget: int) -> Result:
    """Load and run on one engine: r1 = a copy of mem, r2 = its length."""
    try:
        vm = cls(code, insn_budget=budget)
        vm.clock_ns = lambda: 1_000_000  # the same ktime on both engines
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


def case(seed: int) -> tuple[bytes, bytes | None, int]:
    rng = random.Random(seed)
    code = program(rng)
    size = rng.choice([0, 1, 8, 64, 512, rng.randrange(0, 5000)])
    mem = rng.randbytes(size) if rng.random() < 0.9 else None
    return code, mem, rng.choice([1000, 100_000, 1_000_000])


def compare(seed: int) -> str | None:
    """None when both engines agree on case `seed`, else what differs."""
    code, mem, budget = case(seed)
    a = run(VM, code, mem, budget)
    b = run(JitVM, code, mem, budget)
    if a != b:
        return f"seed {seed}: interp {a.r0, a.executed, a.error} jit {b.r0, b.executed, b.error}" \
               + (" (memory differs)" if a.mem != b.mem else "")
    return None


def _crash_child(first: int, count: int) -> None:
    """Run cases [first, first + count) under the JIT only (the child of `crash`)."""
    for seed in range(first, first + count):
        code, mem, budget = case(seed)
        run(JitVM, code, mem, budget)


def crash(count: int, seed: int, batch: int = 250) -> tuple[int, list[str]]:
    """Run `count` cases under the JIT in child processes of `batch` cases; returns
    (cases run, batches whose process died and how)."""
    died = []
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    for first in range(seed, seed + count, batch):
        n = min(batch, seed + count - first)
        p = subprocess.run([sys.executable, "-m", "tests.jit.harness", "child", str(first),
                            str(n)], capture_output=True, text=True, env=env, timeout=600,
                           cwd=ROOT)
        if p.returncode != 0:
            died.append(f"cases {first}..{first + n - 1}: exit {p.returncode} "
                        f"{p.stderr.strip()[-400:]}")
    return count, died


def main(argv: list[str]) -> int:
    what, n, seed = argv[0], int(argv[1]), int(argv[2]) if len(argv) > 2 else 0
    if what == "child":
        _crash_child(n, seed)
        return 0
    if what == "crash":
        ran, died = crash(n, seed)
        print(f"{ran} unverified programs under the JIT in child processes; "
              f"{len(died)} batches died")
        for d in died:
            print(d)
        return 1 if died else 0
    bad: list[str] = []
    for s in range(seed, seed + n):
        detail = compare(s)
        if detail is not None:
            bad.append(detail)
            print(detail, flush=True)
        if (s - seed + 1) % 500 == 0:
            print(f"{s - seed + 1} done, {len(bad)} mismatches", flush=True)
    print(f"{n} programs, {len(bad)} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


__all__: list[Any] = ["compare", "crash", "program", "run"]
