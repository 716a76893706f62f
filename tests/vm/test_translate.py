"""The translation's self-loops (a block that jumps back to its own start): counted in
a `for` over the trips the budget allows, they charge the same instructions and fail
at the same back edge as a loop checked on every trip."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

import pybpf
from pybpf.errors import InstructionLimitExceeded, MemoryAccessError
from pybpf.vm import VM, Memory

# r0 = 0; r1 = N (pcs 0-1); the loop at pcs 2-4 (3 instructions, back edge at 4); exit 5
SUM = "r0 = 0\nr1 = {n}\nloop:\nr0 += r1\nr1 -= 1\nif r1 != 0 goto loop\nexit"


def _outcome(code: bytes, budget: int, *args: int) -> tuple[str, int, int]:
    try:
        res = VM(code, insn_budget=budget).execute(*args)
    except InstructionLimitExceeded as e:
        return ("budget", e.pc, 0)
    return ("ok", res.r0, res.executed)


def _expected_sum(trips: int, budget: int) -> tuple[str, int, int]:
    """The budget's rule, trip by trip: the back edge of trip i (taken for i < trips)
    is over once the count, 2 + 3i, passes the budget; then the exit's own check."""
    for i in range(1, trips):
        if 2 + 3 * i > budget:
            return ("budget", 4, 0)
    if 2 + 3 * trips + 1 > budget:
        return ("budget", 5, 0)
    return ("ok", trips * (trips + 1) // 2, 3 * trips + 3)


@given(st.integers(1, 60), st.integers(0, 200))
def test_counted_loop_charges_each_trip(trips: int, budget: int) -> None:
    assert _outcome(pybpf.assemble(SUM.format(n=trips)), budget) == \
        _expected_sum(trips, budget)


@given(st.integers(0, 100))
def test_endless_self_loop_ends_at_its_back_edge(budget: int) -> None:
    code = pybpf.assemble("r0 = 0\nloop:\nr0 += 1\ngoto loop\nexit")
    assert _outcome(code, budget) == ("budget", 2, 0)


def test_loop_entered_over_budget_runs_one_trip() -> None:
    # after the 2 instructions before it the count is already past a budget of 1: one
    # trip runs, its back edge fails (or, with one trip, the exit's check)
    assert _outcome(pybpf.assemble(SUM.format(n=5)), 1) == ("budget", 4, 0)
    assert _outcome(pybpf.assemble(SUM.format(n=1)), 1) == ("budget", 5, 0)


def test_fault_inside_a_counted_loop_names_its_pc() -> None:
    # walks a 16-byte buffer a byte at a time past its end: the load at pc 3 faults
    code = pybpf.assemble("r0 = 0\nr3 = 0\nloop:\nr4 = r1\nr4 += r3\nr5 = *(u8 *)(r4 +0)\n"
                          "r0 += r5\nr3 += 1\nif r3 < 100 goto loop\nexit")
    mem = Memory()
    buf = mem.map("buf", bytearray(range(16)))
    with pytest.raises(MemoryAccessError) as e:
        VM(code).execute(mem, buf.base)
    assert e.value.pc == 4


def test_loop_with_a_helper_call_counts_the_helper() -> None:
    # a call reads the count (helpers are charged against it), so this loop is checked
    # on every trip; the totals are those of the same rule
    code = pybpf.assemble("r6 = 4\nloop:\ncall 7\nr6 -= 1\nif r6 != 0 goto loop\n"
                          "r0 = r6\nexit")  # 7: bpf_get_prandom_u32
    res = VM(code).execute()
    assert (res.r0, res.executed) == (0, 1 + 3 * 4 + 2)


def test_ld_abs_past_the_packet_in_a_loop_counts_the_trips_run() -> None:
    # LD_ABS past the packet ends the run with r0 = 0 and the count so far: the 2
    # instructions before the loop and the 2 of its one trip
    code = pybpf.assemble("r6 = r1\nr7 = 0\nloop:\nr0 = *(u16 *)skb[100]\n"
                          "if r0 < 32 goto loop\nexit")
    mem = Memory()
    mem.packet = mem.map("pkt", bytearray(16))
    res = VM(code).execute(mem, mem.packet.base, 16)
    assert (res.r0, res.executed) == (0, 4)



# --- the region cache of a counted loop's loads and stores -------------------------------

def _two_buffers() -> tuple[Memory, int, int]:
    mem = Memory()
    a = mem.map("a", bytearray(range(16)))
    b = mem.map("b", bytearray(range(100, 116)))
    return mem, a.base, b.base


def test_one_site_follows_the_pointer_across_regions() -> None:
    # r5 = a + i when i is even, b + i when odd: the one load alternates regions
    code = pybpf.assemble("""
        r0 = 0
        r3 = 0
    loop:
        r5 = r3
        r5 &= 1
        r5 *= r2
        r6 = r3
        r6 &= 1
        r6 ^= 1
        r6 *= r1
        r5 += r6
        r5 += r3
        r7 = *(u8 *)(r5 +0)
        r0 += r7
        r3 += 1
        if r3 < 16 goto loop
        exit""")
    mem, a, b = _two_buffers()
    res = VM(code).execute(mem, a, b)
    assert res.r0 == sum(i if i % 2 == 0 else 100 + i for i in range(16))


def test_stores_and_loads_of_two_sites_see_each_other() -> None:
    # each trip stores i * 3 at b[i] and reads it back through another site
    code = pybpf.assemble("""
        r0 = 0
        r3 = 0
    loop:
        r4 = r2
        r4 += r3
        r5 = r3
        r5 *= 3
        *(u8 *)(r4 +0) = r5
        r6 = *(u8 *)(r4 +0)
        r0 += r6
        r3 += 1
        if r3 < 16 goto loop
        exit""")
    mem, a, b = _two_buffers()
    res = VM(code).execute(mem, a, b)
    assert res.r0 == sum(i * 3 for i in range(16))
    assert bytes(mem.regions[b >> 32].buf) == bytes(i * 3 for i in range(16))


@pytest.mark.parametrize("width", ["u8", "u16", "u32", "u64"])
def test_a_cached_site_faults_where_an_uncached_one_does(width: str) -> None:
    # walks off the end of a 16-byte region: the access at pc 3 faults at the first
    # offset where the whole access no longer fits, as a straight-line access would
    size = {"u8": 1, "u16": 2, "u32": 4, "u64": 8}[width]
    loop = pybpf.assemble(f"r3 = 0\nloop:\nr4 = r1\nr4 += r3\nr5 = *({width} *)(r4 +0)\n"
                          "r3 += 1\nif r3 < 100 goto loop\nexit")
    mem, a, _ = _two_buffers()
    with pytest.raises(MemoryAccessError) as e:
        VM(loop).execute(mem, a)
    straight = pybpf.assemble(f"r4 = r1\nr4 += {17 - size}\nr5 = *({width} *)(r4 +0)\nexit")
    with pytest.raises(MemoryAccessError) as f:
        VM(straight).execute(mem, a)
    assert (e.value.pc, str(e.value).replace("pc 3", "")) == \
        (3, str(f.value).replace("pc 2", ""))


def test_a_read_only_region_refuses_each_store() -> None:
    code = pybpf.assemble("r3 = 0\nloop:\nr4 = r1\nr4 += r3\n*(u8 *)(r4 +0) = 1\n"
                          "r3 += 1\nif r3 < 4 goto loop\nexit")
    mem = Memory()
    ro = mem.map("ro", bytearray(8), writable=False)
    with pytest.raises(MemoryAccessError, match="read-only"):
        VM(code).execute(mem, ro.base)


class _Counting:
    """A region access hook that counts its loads and reads a fixed byte."""

    def __init__(self) -> None:
        self.loads = 0

    def load(self, off: int, size: int, pc: int) -> int:
        self.loads += 1
        return 7

    def store(self, off: int, size: int, value: int, pc: int) -> None:
        raise AssertionError("no stores here")


def test_a_region_with_an_access_hook_is_asked_every_trip() -> None:
    code = pybpf.assemble("r0 = 0\nr3 = 0\nloop:\nr5 = *(u8 *)(r1 +0)\nr0 += r5\n"
                          "r3 += 1\nif r3 < 5 goto loop\nexit")
    mem = Memory()
    hook = _Counting()
    ctx = mem.map("ctx", bytearray(8), access=hook)
    assert VM(code).execute(mem, ctx.base).r0 == 35
    assert hook.loads == 5


def test_a_budget_past_the_trip_limit_still_counts() -> None:
    # more trips allowed than itertools.repeat can count: the loop is capped there
    # and, ending long before, counts as any other
    res = VM(pybpf.assemble(SUM.format(n=7)), insn_budget=1 << 100).execute()
    assert (res.r0, res.executed) == (28, 24)
