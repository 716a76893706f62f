"""Static stack-slot liveness (stacklive.py): which 8-byte slots may still be read
before each instruction, and that pruning on it never changes a verdict."""

from __future__ import annotations

import pytest

from pybpf.asm import assemble_insns
from pybpf.verifier import cfgcheck, verify
from pybpf.verifier.cfgcheck import to_slots
from pybpf.verifier.stacklive import ALL_SLOTS, stack_liveness


def live(asm: str) -> list[int]:
    slots = to_slots(assemble_insns(asm))
    return stack_liveness(slots, [0])


def test_a_slot_written_before_it_is_read_is_dead_until_the_write() -> None:
    m = live("r1 = 5\n*(u64 *)(r10 -8) = r1\nr0 = *(u64 *)(r10 -8)\nexit")
    assert m == [0, 0, 1, 0]


def test_a_partial_write_reads_the_slot() -> None:
    # the checks of a 4-byte store look at what the slot holds (a spilled pointer)
    m = live("r1 = 5\n*(u32 *)(r10 -8) = r1\nr0 = 0\nexit")
    assert m[1] == 1 and m[0] == 1


def test_a_call_reads_everything_above_the_pointer_it_gets() -> None:
    m = live("r1 = 0\nr2 = r10\nr2 += -16\ncall bpf_get_prandom_u32\nr0 = 0\nexit")
    assert m[3] == 0b11 and m[4] == 0


def test_a_spilled_stack_pointer_is_followed() -> None:
    m = live("r2 = r10\nr2 += -24\n*(u64 *)(r10 -8) = r2\nr3 = *(u64 *)(r10 -8)\n"
             "r0 = *(u64 *)(r3 +0)\nexit")
    assert m[4] == 1 << 2  # fp-24 is read through the filled pointer
    assert m[3] == (1 << 2) | 1


def test_a_stack_pointer_stored_elsewhere_keeps_every_slot_live() -> None:
    m = live("r2 = r10\n*(u64 *)(r1 +0) = r2\nr0 = 0\nexit")
    assert all(x == ALL_SLOTS for x in m if x is not None)


def test_an_unknown_offset_reads_every_slot() -> None:
    m = live("r2 = r10\nr2 += r1\nr0 = *(u8 *)(r2 -1)\nexit")
    assert m[2] == ALL_SLOTS


def test_each_subprogram_has_its_own_frame() -> None:
    slots = to_slots(assemble_insns(
        "r1 = 1\n*(u64 *)(r10 -8) = r1\ncall 2\nr0 = *(u64 *)(r10 -8)\nexit\n"
        "r0 = *(u64 *)(r10 -16)\nexit"))
    m = stack_liveness(slots, [0, 5])
    assert m[2] == 1 and m[5] == 0b10


# two paths meet at insn 10 with different things in fp-16 (a ctx pointer, a number); the
# four moves first make the meeting point a checkpoint (the kernel adds one only after
# 2 jumps and 8 instructions)
_SPLIT = ("r7 = 0\nr8 = 0\nr9 = 0\nr7 = 1\n"
          "r6 = r1\ncall bpf_get_prandom_u32\nif r0 > 5 goto +2\n*(u64 *)(r10 -16) = r6\n"
          "goto +1\n*(u64 *)(r10 -16) = r0\n")
DEAD = _SPLIT + "r1 = 0\n*(u64 *)(r10 -16) = r1\nr0 = *(u64 *)(r10 -16)\nexit"
LIVE = _SPLIT + "r0 = 0\nr2 = *(u64 *)(r10 -16)\nr0 = *(u32 *)(r2 +0)\nexit"
CASES = [DEAD, LIVE]


def test_a_dead_slot_lets_the_paths_meet() -> None:
    insns = assemble_insns(DEAD)
    assert verify(insns, 3).accepted
    m = stack_liveness(to_slots(insns), [0])
    assert m[10] == 0 and m[12] == 0b10  # fp-16 dead where the paths meet


def test_a_live_slot_keeps_them_apart() -> None:
    r = verify(assemble_insns(LIVE), 3)  # the number path dereferences a scalar
    assert not r.accepted and r.error == "R2 invalid mem access 'scalar'"


@pytest.mark.parametrize("asm", CASES)
@pytest.mark.parametrize("caps", [("bpf", "perfmon", "net_admin", "sys_admin"),
                                  ("bpf", "net_admin")])
def test_pruning_on_dead_slots_keeps_the_verdict(asm: str, caps: tuple, monkeypatch) -> None:
    insns = assemble_insns(asm)
    with_liveness = verify(insns, 1, caps=caps, log_level=1)
    monkeypatch.setattr(cfgcheck, "stack_liveness",
                        lambda slots, subs, succ=None: [-1] * len(slots))
    without = verify(insns, 1, caps=caps, log_level=1)
    assert (with_liveness.accepted, with_liveness.error) == (without.accepted, without.error)
    assert with_liveness.insns_processed <= without.insns_processed
    if asm == DEAD:  # pruned at insn 10: the second path stops there
        assert with_liveness.insns_processed < without.insns_processed
