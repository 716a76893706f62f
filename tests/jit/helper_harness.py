"""JIT against interpreter on random programs that call the helpers with native fast
paths (pybpf.jit.fastcall): map lookup, update and delete over arrays, per-CPU arrays,
a read-only array and a hash map (which keeps the callback), the ktime clocks,
bpf_get_prandom_u32 and bpf_csum_diff, with arguments right, at edges and wrong (keys
and values out of bounds, bad flags, a pointer that is no map, sizes past the budget).
Each engine gets its own fresh maps with the same contents; r0, the executed count,
the error, the memory and every map's contents after the run must agree.

`python -m tests.jit.helper_harness N SEED` runs N programs and prints mismatches."""

from __future__ import annotations

import dataclasses
import itertools
import random
import sys
from dataclasses import dataclass
from typing import Any

from pybpf import isa
from pybpf.errors import PyBPFError
from pybpf.helpers import default_helpers, seeded_rng
from pybpf.isa import Instruction
from pybpf.jit import JitVM
from pybpf.maps import MapSpec
from pybpf.vm import VM, Memory

I = Instruction  # noqa: E741 (short, for the instruction lists below)
HELPERS = [1, 1, 1, 2, 2, 3, 5, 160, 125, 7, 28, 28]
_MAPS = (("array", 0), ("array", 0), ("percpu_array", 0), ("array", 0x80),
         ("array", 0x400), ("hash", 0))


def _map_specs(rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for _ in range(rng.randrange(1, 5)):
        kind, flags = rng.choice(_MAPS)
        out.append({"type": kind, "key_size": 4, "flags": flags,
                    "value_size": rng.choice([1, 4, 8, 12, 64, 100]),
                    "max_entries": rng.choice([1, 2, 4, 16]),
                    "fill": rng.getrandbits(32)})
    return out


def _ptr(rng: random.Random, reg: int, mem_len: int) -> list[Instruction]:
    """A pointer argument: the stack (in bounds, at its ends or past them), the input
    memory, the last helper result, or junk."""
    what = rng.choices(["fp", "mem", "last", "zero", "junk"], [8, 3, 2, 1, 1])[0]
    if what == "fp":
        off = rng.choice([4, 8, 16, 64, 128, 256, 512, 1, 2, 3, 513, rng.randrange(1, 520)])
        return [I(0xBF, reg, 10), I(0x07, reg, 0, 0, -off)]
    if what == "mem":
        off = rng.choice([0, 1, 4, mem_len - 4, mem_len, mem_len + 8, rng.randrange(0, 80)])
        return [I(0xBF, reg, 6), I(0x07, reg, 0, 0, off)]
    if what == "last":
        return [I(0xBF, reg, 7)]
    if what == "zero":
        return [I(0xB7, reg, 0, 0, 0)]
    return [Instruction.lddw(reg, rng.getrandbits(64))]



def _map_arg(rng: random.Random, maps: list[dict[str, Any]]) -> tuple[list[Instruction], int]:
    """r1: a map's pointer (mostly), a pointer inside its memory, or no map."""
    r = rng.random()
    fd = rng.randrange(len(maps))
    if r < 0.85:
        return [Instruction.lddw(1, fd, isa.BPF_PSEUDO_MAP_FD)], fd
    if r < 0.93:  # inside the map's memory, not its pointer
        return [Instruction.lddw(1, fd, isa.BPF_PSEUDO_MAP_FD), I(0x07, 1, 0, 0, 8)], fd
    return [I(0xBF, 1, 6)], fd


def _fitting(rng: random.Random, reg: int, size: int, mem_len: int) -> list[Instruction]:
    """A pointer to `size` readable bytes (mostly on the stack), or any pointer."""
    if rng.random() < 0.3 or size > 512:
        return _ptr(rng, reg, mem_len)
    top = (size + 7) // 8 * 8
    off = rng.choice([top, top + 8 * rng.randrange(0, (512 - top) // 8 + 1)])
    return [I(0xBF, reg, 10), I(0x07, reg, 0, 0, -min(off, 512))]


def _call(rng: random.Random, hid: int, maps: list[dict[str, Any]],
          mem_len: int) -> list[Instruction]:
    code: list[Instruction] = []
    if hid in (1, 2, 3):
        mcode, idx = _map_arg(rng, maps)
        code += mcode
        code += _fitting(rng, 2, 4, mem_len)
        code += _fitting(rng, 3, maps[idx]["value_size"], mem_len)
        flags = rng.choice([0, 0, 0, 0, 2, 2, 1, 3, 4, 1 << 40])
        code.append(Instruction.lddw(4, flags))
    elif hid == 28:
        sizes = [0, 4, 4, 8, 8, 16, 20, 64, 13, 256, 512, 600, (1 << 32) | 4]
        fs, ts = rng.choice(sizes), rng.choice(sizes)
        code += _fitting(rng, 1, fs, mem_len)
        code.append(Instruction.lddw(2, fs))
        code += _fitting(rng, 3, ts & 0xFFFFFFFF, mem_len)
        code.append(Instruction.lddw(4, ts))
        code.append(Instruction.lddw(5, rng.getrandbits(rng.choice([16, 32, 64]))))
    code.append(I(isa.OPCODE_CALL, 0, 0, 0, hid))
    code += [I(0xBF, 7, 0), I(0x27, 9, 0, 0, 31), I(0x0F, 9, 0)]  # r7 = r0; r9 = r9*31 + r0
    if hid == 1 and rng.random() < 0.6:  # use the value: read it, bump it
        size = rng.choice([isa.BPF_B, isa.BPF_W, isa.BPF_DW])
        code += [I(0x15, 0, 0, 3, 0), I(isa.BPF_LDX | isa.BPF_MEM | size, 8, 0,
                                          rng.choice([0, 0, 4, 8, 60])),
                 I(0x07, 8, 0, 0, 1), I(isa.BPF_STX | isa.BPF_MEM | size, 0, 8, 0)]
    return code


@dataclass(frozen=True)
class Case:
    code: bytes
    maps: list[dict[str, Any]]
    mem: bytes
    budget: int
    clock: bool  # the VM's clock_ns a counter (both engines see the same times)
    stack: bytes  # what the program writes over its stack first (keys, values)


def case(seed: int) -> Case:
    rng = random.Random(seed)
    maps = _map_specs(rng)
    mem = rng.randbytes(rng.choice([8, 64, 100]))
    clock = rng.random() < 0.8
    stack = bytearray(rng.randbytes(512))
    for k in range(1, 33):  # small keys where keys are usually read
        if rng.random() < 0.7:
            stack[512 - 8 * k:512 - 8 * k + 4] = rng.randrange(20).to_bytes(4, "little")
    code: list[Instruction] = [I(0xBF, 6, 1), I(0xB7, 9, 0, 0, 0), I(0xB7, 7, 0, 0, 0)]
    for off in range(0, 512, 8):
        code += [Instruction.lddw(1, int.from_bytes(stack[off:off + 8], "little")),
                 I(0x7B, 10, 1, off - 512)]
    helpers = [h for h in HELPERS if clock or h not in (5, 160, 125)]
    for _ in range(rng.randrange(1, 9)):
        code += _call(rng, rng.choice(helpers), maps, len(mem))
    code += [I(0xBF, 0, 9), I(isa.OPCODE_EXIT)]
    return Case(isa.encode(code), maps, mem, rng.choice([200, 1000, 100_000, 100_000]),
                clock, bytes(stack))


@dataclass(frozen=True)
class Result:
    r0: int | None
    executed: int | None
    error: str | None
    mem: bytes
    maps: tuple


def make_maps(specs: list[dict[str, Any]]) -> list[Any]:
    maps = []
    for s in specs:
        m = MapSpec(s["type"], s["key_size"], s["value_size"], s["max_entries"],
                    flags=s["flags"]).create("vm")
        fill = random.Random(s["fill"])
        for k in range(min(s["max_entries"], 4)):
            m.update(k.to_bytes(4, "little"), fill.randbytes(m.value_size))
        maps.append(m)
    return maps


def _restore(maps: list[Any], saved: list[dict[bytes, Any]]) -> None:
    """Put every map back as it was (both engines start from the same contents, at the
    same addresses)."""
    for m, items in zip(maps, saved):
        for k in [k for k in m.keys() if k not in items]:
            m.delete(k)
        for k, v in items.items():
            m.update(k, v)


def with_fds(code: bytes, maps: list[Any]) -> bytes:
    """The program with its map-fd lddw (imm: an index into `maps`) naming the maps."""
    insns = isa.decode(code)
    return isa.encode([dataclasses.replace(i, imm=maps[i.imm].fd)
                       if i.opcode == isa.OPCODE_LDDW and i.src == isa.BPF_PSEUDO_MAP_FD else i
                       for i in insns])


def run(cls: type[VM], c: Case, maps: list[Any], helpers: Any = None) -> Result:
    try:
        vm = cls(with_fds(c.code, maps), helpers=helpers or default_helpers(), maps=maps,
                 insn_budget=c.budget, check_helpers=False)
        if c.clock:
            ticks = itertools.count(1_000_000, 977)
            vm.clock_ns = lambda: next(ticks)
        memory = Memory()
        region = memory.map("mem", bytearray(c.mem))
        res = vm.execute(memory, region.base, len(c.mem), rng=seeded_rng(11))
        out: tuple = (res.r0, res.executed, None, bytes(region.buf))
    except PyBPFError as e:
        out = (None, None, f"{type(e).__name__}: {e}", b"")
    contents = tuple(tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                                  for k, v in m.items())) for m in maps)
    return Result(*out, contents)


def compare(seed: int) -> str | None:
    """None when both engines agree on case `seed`, else what differs."""
    c = case(seed)
    maps = make_maps(c.maps)
    try:
        saved = [dict(m.items()) for m in maps]
        a = run(VM, c, maps)
        _restore(maps, saved)
        b = run(JitVM, c, maps)
    finally:
        for m in maps:
            m.close()
    if a != b:
        what = [f for f in ("r0", "executed", "error", "mem", "maps")
                if getattr(a, f) != getattr(b, f)]
        return f"seed {seed}: {', '.join(what)} differ: interp {a.r0, a.executed, a.error} " \
               f"jit {b.r0, b.executed, b.error}"
    return None


def main(argv: list[str]) -> int:
    n, seed = int(argv[0]), int(argv[1]) if len(argv) > 1 else 0
    bad = 0
    for s in range(seed, seed + n):
        detail = compare(s)
        if detail is not None:
            bad += 1
            print(detail, flush=True)
        if (s - seed + 1) % 500 == 0:
            print(f"{s - seed + 1} done, {bad} mismatches", flush=True)
    print(f"{n} programs with helper calls, {bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
