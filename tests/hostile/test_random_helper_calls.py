"""A fast sample of hostile helper calls: every helper of the default registry called
with arguments drawn from pointers into a region or the stack (at its edges too),
small and huge sizes and garbage, in a child under a 2 GiB address-space cap. Each
call must end in r0 or a pybpf error, within a second; no other exception."""

from __future__ import annotations

from tests.hostile.limits import run_limited

CHILD = """
    import json, random, time
    from pybpf.errors import PyBPFError
    from pybpf.helpers import default_helpers
    from pybpf.isa import Instruction
    from pybpf.vm import VM, Memory
    rng = random.Random({seed})
    ids = sorted(default_helpers())
    bad, slow, counts = [], [], {{"ok": 0, "error": 0}}
    for case in range({count}):
        hid = ids[case % len(ids)]
        mem = Memory()
        region = mem.map("data", bytearray(rng.choice([b"", b"%d %s\\0", b"A" * 4095 + b"\\0",
                                                       bytes(4096), b"0x7fffffff\\0"])))
        picks = [lambda: region.base + rng.randrange(-16, 4112),
                 lambda: region.base, lambda: region.end - rng.randrange(0, 16),
                 lambda: "fp" ,  # r10 - k: the stack
                 lambda: rng.choice([0, 1, 8, 16, 64, 4096, 65536, (1 << 31), (1 << 32) - 1,
                                     (1 << 64) - 1]),
                 lambda: rng.getrandbits(64)]
        args = []
        for _ in range(5):
            v = rng.choice(picks)()
            args.append(v)
        insns = []
        for reg, v in zip(range(1, 6), args):
            if v == "fp":
                insns += [Instruction(0xBF, reg, 10), Instruction(0x07, reg, 0, 0,
                                                                  -rng.choice([8, 16, 512]))]
            else:
                insns.append(Instruction.lddw(reg, v))
        insns += [Instruction(0x85, 0, 0, 0, hid), Instruction(0x95)]
        t = time.perf_counter()
        try:
            VM(insns, insn_budget=100_000).execute(mem)
            counts["ok"] += 1
        except PyBPFError:
            counts["error"] += 1
        except BaseException as e:  # noqa: BLE001 - what the harness looks for
            bad.append(f"helper {{hid}} {{args}}: {{type(e).__name__}}: {{e}}"[:300])
        if time.perf_counter() - t > 1.0:
            slow.append(f"helper {{hid}} {{args}}: {{time.perf_counter() - t:.1f}} s")
    print(json.dumps({{"bad": bad[:20], "slow": slow[:20], "counts": counts}}))
"""


def test_random_helper_calls_end_in_r0_or_a_pybpf_error() -> None:
    res = run_limited(CHILD.format(seed=11, count=10000), timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.json()
    assert out["bad"] == [] and out["slow"] == [], out
    assert out["counts"]["ok"] + out["counts"]["error"] == 10000
