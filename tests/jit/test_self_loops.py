"""Random self-loops (a block that jumps back to its own start) full of loads and
stores: the interpreter runs them counted, each access through its site's region
cache (pybpf.vm.translate), the JIT through its region table. Both must give the same
r0, count, memory and fault (or budget error), on the same bytes."""

from __future__ import annotations

import random

import pytest

from pybpf import assemble
from pybpf.hostile import jit_campaign
from pybpf.jit import JitVM
from pybpf.vm import VM

WIDTHS = ["u8", "u16", "u32", "u64"]


def _loop(rng: random.Random) -> str:
    """r1 = the buffer, r2 = its length; r3 counts trips, r4 walks (r1 + r3 * step,
    sometimes past the end), r0 and r5-r7 mix what is read, the stack takes some."""
    step = rng.choice([1, 1, 2, 4, 8])
    trips = rng.randrange(1, 40)
    body = ["r4 = r3", f"r4 *= {step}", "r4 += r1"]
    for _ in range(rng.randrange(1, 7)):
        w = rng.choice(WIDTHS)
        off = rng.choice([0, 0, 1, 3, -1, 8])
        reg = rng.choice([5, 6, 7])
        r = rng.random()
        if r < 0.4:
            body.append(f"r{reg} = *({w} *)(r4 {off:+d})")
        elif r < 0.6:
            body.append(f"*({w} *)(r4 {off:+d}) = r{reg}")
        elif r < 0.7:
            body.append(f"*({w} *)(r4 {off:+d}) = {rng.randrange(-5, 300)}")
        elif r < 0.8:
            slot = -8 * rng.randrange(1, 4)
            body += [f"*(u64 *)(r10 {slot}) = r{reg}", f"r{reg} = *({w} *)(r10 {slot})"]
        else:
            body.append(rng.choice([f"r0 += r{reg}", f"r0 ^= r{reg}", f"w0 *= w{reg}",
                                    f"r{reg} += r3", f"r{reg} <<= 3"]))
    body.append("r0 += r5")
    cond = rng.choice([f"if r3 < {trips} goto loop", f"if r3 != {trips} goto loop",
                       "if r3 < r2 goto loop"])
    return "\n".join(["r0 = 0", "r3 = 0", "r5 = 1", "r6 = 2", "r7 = 3", "loop:", *body,
                      "r3 += 1", cond, "exit"])


@pytest.mark.parametrize("chunk", range(4))
def test_random_self_loops_agree(chunk: int) -> None:
    bad = []
    for seed in range(chunk * 50, chunk * 50 + 50):
        rng = random.Random(seed)
        code = assemble(_loop(rng))
        mem = rng.randbytes(rng.choice([0, 8, 16, 64, 100]))
        budget = rng.choice([30, 200, 1_000_000])
        a = jit_campaign.run_one(VM, code, mem, budget)
        b = jit_campaign.run_one(JitVM, code, mem, budget)
        if a != b:
            bad.append((seed, a, b))
    assert not bad, bad[:2]


def test_the_loops_reach_every_outcome() -> None:
    """The generator is worth its cases: some loops end, some fault, some run out."""
    seen = set()
    for seed in range(200):
        rng = random.Random(seed)
        code = assemble(_loop(rng))
        mem = rng.randbytes(rng.choice([0, 8, 16, 64, 100]))
        res = jit_campaign.run_one(VM, code, mem, rng.choice([30, 200, 1_000_000]))
        seen.add("ok" if res.error is None else res.error.split(":")[0])
    assert {"ok", "MemoryAccessError", "InstructionLimitExceeded"} <= seen
