"""Loads and stores under each compilation tier (pybpf.jit.access, runtime_ir): the
region table's bounds at and around every edge, read-only regions, addresses whose
region is not the one their base pointer suggests, variable stack offsets, faults
inside loops; that in-bounds accesses stay native; and the tiers by size."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pybpf
from pybpf import isa
from pybpf.cfg import ControlFlowGraph
from pybpf.errors import PyBPFError
from pybpf.jit import JitCache, JitVM
from pybpf.jit.access import stack_registers
from pybpf.jit.codegen import module_ir
from pybpf.jit.layout import Op
from pybpf.jit.native import (TIER_FAST, TIER_FULL, TIER_SHORT, Tier, compile_program,
                              has_loops, tier)
from pybpf.tools.jitbench import sized_program
from pybpf.vm import VM, Memory

TIERS = [TIER_FULL, TIER_SHORT, TIER_FAST]
_CACHES = {t: JitCache(tier=t) for t in TIERS}


def outcome(cls: Any, code: bytes, mem: bytes, ro: bytes, **kw: Any) -> tuple:
    """r1 = a writable copy of `mem`, r2 = its length, r3 = a read-only copy of `ro`:
    (r0, executed, mem after) or the error's class and message."""
    try:
        vm = cls(code, **kw)
        memory = Memory()
        region = memory.map("mem", bytearray(mem))
        rdonly = memory.map("ro", bytearray(ro), writable=False)
        res = vm.execute(memory, region.base, len(mem), rdonly.base)
        return res.r0, res.executed, bytes(region.buf)
    except PyBPFError as e:
        return type(e), str(e)


def agree(text: str | bytes, t: Tier, mem: bytes = bytes(range(32)),
          ro: bytes = b"\x07" * 16, **kw: Any) -> tuple:
    code = pybpf.assemble(text) if isinstance(text, str) else text
    a = outcome(VM, code, mem, ro, **kw)
    b = outcome(JitVM, code, mem, ro, cache=_CACHES[t], **kw)
    assert a == b
    return b


EDGES = [
    "r0 = *(u64 *)(r1 + 24)\nexit",  # the last 8 bytes
    "r0 = *(u64 *)(r1 + 25)\nexit",  # one past
    "r0 = *(u8 *)(r1 + 31)\nexit",
    "r0 = *(u8 *)(r1 + 32)\nexit",
    "r0 = *(u64 *)(r1 - 1)\nexit",  # straddles the start
    "r0 = *(u64 *)(r1 - 7)\nexit",
    "r0 = *(u64 *)(r1 - 8)\nexit",
    "r0 = *(u16 *)(r1 - 2)\nexit",
    "r1 += -2147483648\nr0 = *(u8 *)(r1 + 0)\nexit",  # the segment's first byte
    "r1 += 2147483616\nr0 = *(u8 *)(r1 + 0)\nexit",  # its last byte
    "r4 = 4294967296 ll\nr1 += r4\nr0 = *(u8 *)(r1 + 0)\nexit",  # the next segment: ro
    "r4 = 4294967300 ll\nr1 += r4\nr0 = *(u32 *)(r1 + 0)\nexit",
    "r1 = 0x10000000000 ll\nr0 = *(u8 *)(r1 + 0)\nexit",  # a segment past the table
    "r1 = 0\nr0 = *(u8 *)(r1 + 0)\nexit",
    "r1 = -1\nr0 = *(u8 *)(r1 + 0)\nexit",
    "*(u64 *)(r1 + 24) = 5\nr0 = *(u64 *)(r1 + 24)\nexit",
    "*(u64 *)(r1 + 25) = 5\nr0 = 0\nexit",
    "*(u32 *)(r1 - 4) = 5\nr0 = 0\nexit",
    "*(u8 *)(r3 + 0) = 5\nr0 = 0\nexit",  # read-only
    "r0 = *(u64 *)(r3 + 8)\nexit",
    "r0 = *(u64 *)(r3 + 9)\nexit",
    "r2 = atomic_fetch_add((u64 *)(r1 + 8), r2)\nr0 = *(u64 *)(r1 + 8)\nr0 += r2\nexit",
    "r2 = atomic_fetch_add((u64 *)(r3 + 8), r2)\nr0 = 0\nexit",
    "r2 = atomic_fetch_add((u64 *)(r1 + 28), r2)\nr0 = 0\nexit",
    # a base pointing at the input, an address in the read-only region
    "r4 = r3\nr4 -= r1\nr5 = r1\nr5 += r4\nr0 = *(u64 *)(r5 + 0)\nexit",
    "r4 = r3\nr4 -= r1\nr5 = r1\nr5 += r4\n*(u8 *)(r5 + 0) = 1\nr0 = 0\nexit",
    # the stack at variable offsets, in and out of the frame
    "r4 = r10\nr4 += -64\nr4 += r2\n*(u64 *)(r4 + 0) = r2\nr0 = *(u64 *)(r10 - 32)\nexit",
    "r4 = r10\nr4 += -16\nr4 += r2\nr0 = *(u64 *)(r4 + 0)\nexit",
    "r4 = r10\nr4 += -520\nr4 += r2\nr0 = *(u64 *)(r4 + 0)\nexit",
    "r4 = r10\nr4 += r2\n*(u64 *)(r4 - 40) = 1\nr0 = *(u64 *)(r4 - 40)\nexit",
]


@pytest.mark.parametrize("t", TIERS, ids=lambda t: t.name)
@pytest.mark.parametrize("text", EDGES)
def test_region_edges_agree(text: str, t: Tier) -> None:
    agree(text, t)


@pytest.mark.parametrize("t", TIERS, ids=lambda t: t.name)
def test_a_fault_inside_a_loop_stops_at_its_pc(t: Tier) -> None:
    """The loop reads the input byte by byte and one past its end: the fault is the
    interpreter's (pc, address), after the stores of the iterations before."""
    out = agree("""
        r3 = 0
    loop:
        r4 = r1
        r4 += r3
        r5 = *(u8 *)(r4 + 0)
        r5 += 1
        *(u8 *)(r4 + 0) = r5
        r3 += 1
        if r3 <= r2 goto loop
        r0 = 0
        exit""", t)
    assert out[0] is pybpf.errors.MemoryAccessError


@pytest.mark.parametrize("t", TIERS, ids=lambda t: t.name)
def test_the_budget_ends_a_loop_of_memory_accesses_at_the_same_pc(t: Tier) -> None:
    text = """
        r3 = 0
        r0 = 0
    loop:
        r4 = r3
        r4 &= 31
        r4 += r1
        r5 = *(u8 *)(r4 + 0)
        r0 += r5
        r3 += 1
        if r3 < 100000 goto loop
        exit"""
    for budget in (50, 51, 52, 53, 1000, 1001):
        agree(text, t, insn_budget=budget)


def test_in_bounds_accesses_stay_native(monkeypatch: pytest.MonkeyPatch) -> None:
    """FNV-1a over the input touches Python only for helpers: no load or store of a
    plain region goes through the callback, under every tier."""
    text = """
        r6 = r1
        w0 = -2128831035
        r3 = 0
    loop:
        r4 = r6
        r4 += r3
        r5 = *(u8 *)(r4 + 0)
        w0 ^= w5
        w0 *= 16777619
        *(u8 *)(r4 + 0) = r5
        *(u64 *)(r10 - 8) = r0
        r3 += 1
        if r3 < r2 goto loop
        exit"""
    seen: list[int] = []
    orig = JitVM._on_callback

    def spy(self: JitVM, stp: int, op: int, *rest: int) -> int:
        seen.append(op)
        return orig(self, stp, op, *rest)
    monkeypatch.setattr(JitVM, "_on_callback", spy)
    for t in TIERS:
        agree(text, t)  # builds a new VM: the spy is its callback
    assert Op.LOAD not in seen and Op.STORE not in seen
    agree("r0 = *(u8 *)(r1 + 40)\nexit", TIER_FULL)  # the spy does see the slow path
    assert Op.LOAD in seen


def test_stack_registers_follow_copies_and_offsets() -> None:
    code = pybpf.assemble("""
        r4 = r10
        r4 += -8
        r5 = r4
        r6 = r1
        r6 += r2
        r7 = *(u64 *)(r1 + 0)
        r8 = *(u32 *)(r1 + 0)
        r0 = 0
        exit""")
    regs = stack_registers(isa.decode(code))
    assert {10, 4, 5, 7} <= regs
    assert not {1, 2, 6, 8} & regs


def test_tiers_by_size() -> None:
    assert tier(20) is TIER_FULL and tier(300) is TIER_SHORT and tier(1000) is TIER_FAST
    assert tier(20, loops=False) is TIER_SHORT
    text = "r0 = 0\nl:\nr0 += 1\nif r0 < 9 goto l\nexit"
    loop = ControlFlowGraph.of(isa.decode(pybpf.assemble(text)))
    assert has_loops(loop) and not has_loops(ControlFlowGraph.of(sized_program(50)))
    cfg = ControlFlowGraph.of(sized_program(1000))
    native = compile_program(cfg, {})
    assert native.tier is TIER_FAST and native.level == 0
    # the out-of-line accessors, called through the table of their addresses (which
    # the compile filled: a null there would be a jump to 0)
    assert "call i64 %fn_ld1(" in native.ir and "call i64 @ld1" not in native.ir
    assert native._runtime is not None and all(native._runtime)
    small = compile_program(ControlFlowGraph.of(sized_program(50)), {})
    assert small._runtime is None and "%fn_" not in small.ir  # direct calls, inlined


# a frame's stack through r10 and through a copy of it, in the caller and in a callee
# (whose r10 is another frame's), with a fault in the callee's own frame
FRAMES = """
    r6 = r1
    *(u64 *)(r10 - 8) = 7
    r4 = r10
    r4 += -16
    *(u64 *)(r4 + 0) = 5
    r1 = 3
    call f
    r3 = *(u64 *)(r10 - 8)
    r0 += r3
    r3 = *(u64 *)(r10 - 16)
    r0 += r3
    r3 = *(u8 *)(r6 + 4)
    r0 += r3
    exit
f:
    *(u64 *)(r10 - 8) = r1
    r2 = r10
    r2 += -8
    r0 = *(u64 *)(r2 + 0)
    r3 = *(u64 *)(r10 - 8)
    r0 += r3
    exit
"""


@pytest.mark.parametrize("t", TIERS, ids=lambda t: t.name)
@pytest.mark.parametrize("callee_off", [-8, -512, 0])  # the last: past the callee's frame
def test_frames_agree_with_and_without_calls(t: Tier, callee_off: int) -> None:
    text = FRAMES.replace("r2 += -8\n    r0 = *(u64 *)(r2 + 0)",
                          f"r2 += {callee_off}\n    r0 = *(u64 *)(r2 + 0)")
    agree(text, t)
    flat = "\n".join(line for line in text.splitlines() if "call f" not in line)
    agree(flat.split("f:")[0], t)


def test_a_program_of_one_frame_reads_r10_and_its_stack_once() -> None:
    """Without a BPF-to-BPF call or callx, r10, the frame's stack and its lowest address
    are the entry's values (no per-block reload of the depth); with one, they follow it."""
    flat = pybpf.assemble(FRAMES.split("f:")[0].replace("    call f\n", ""))
    calls = pybpf.assemble(FRAMES)
    for inline in (True, False):
        ir = module_ir(ControlFlowGraph.of(isa.decode(flat)), {}, inline, None)
        assert "load i64, ptr %DEPTH" not in ir and "%sh0" in ir
        ir = module_ir(ControlFlowGraph.of(isa.decode(calls)), {}, inline, None)
        assert "load i64, ptr %DEPTH" in ir and "%sh0" not in ir


@pytest.mark.parametrize("t", TIERS, ids=lambda t: t.name)
def test_a_big_generated_program_agrees(t: Tier) -> None:
    out = agree(isa.encode(sized_program(600, seed=3)), t, mem=bytes(range(64)))
    assert isinstance(out[0], int)


def test_regions_the_table_does_not_hold_go_through_python() -> None:
    """A region past MAX_TABLE's segments, and one not at its segment's middle: both
    served (and bounds-checked) by Python, as on the interpreter."""
    from pybpf.jit.layout import MAX_TABLE
    from pybpf.vm import SEGMENT_HALF, Region
    code = pybpf.assemble("r0 = *(u32 *)(r1 + 4)\nr3 = *(u8 *)(r2 + 7)\nr0 += r3\n"
                          "*(u8 *)(r2 + 0) = 9\nr4 = *(u8 *)(r2 - 12)\nexit")
    outs = []
    for cls in (VM, JitVM):
        memory = Memory()
        far = Region("far", (MAX_TABLE + 5 << 32) + SEGMENT_HALF, bytearray(range(8)), True)
        odd = Region("odd", (7 << 32) + SEGMENT_HALF + 16, bytearray(range(8)), True)
        memory.regions[MAX_TABLE + 5] = far
        memory.regions[7] = odd
        try:
            cls(code).execute(memory, far.base, odd.base)
        except PyBPFError as e:
            outs.append((type(e), str(e), bytes(odd.buf)))
    assert outs[0] == outs[1] and "offset -12" in outs[0][1] and outs[0][2][0] == 9


_SIZE_MODE = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}


@settings(max_examples=150, deadline=None, database=None)
@given(t=st.sampled_from(TIERS), size=st.sampled_from([1, 2, 4, 8]), store=st.booleans(),
       base=st.sampled_from(["mem", "ro", "stack"]),
       off=st.one_of(st.integers(-24, 56), st.integers(-(1 << 33), 1 << 33)),
       disp=st.integers(-20, 20))
def test_any_address_agrees(t: Tier, size: int, store: bool, base: str, off: int,
                            disp: int) -> None:
    """A load or store at (base + off) + disp, off in a register: bounds, read-only and
    region crossings decided as the interpreter decides them."""
    m = _SIZE_MODE[size]
    src = {"mem": "r1", "ro": "r3", "stack": "r10"}[base]
    access = (f"*({m} *)(r4 {'+' if disp >= 0 else '-'} {abs(disp)}) = 0x5a5a5a5a" if store
              else f"r0 = *({m} *)(r4 {'+' if disp >= 0 else '-'} {abs(disp)})")
    text = f"r4 = {src}\nr5 = {off} ll\nr4 += r5\n{access}\nr0 += 1\nexit"
    agree(text, t)
