"""The helper fast paths (pybpf.jit.fastcall): native code serves array lookups,
updates and deletes, the clocks, prandom and csum_diff itself, with the Python
helpers' results, and the Map API sees what it wrote."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from pybpf import isa
from pybpf.asm import assemble
from pybpf.helpers import default_helpers, seeded_rng
from pybpf.isa import Instruction
from pybpf.jit import JitVM
from pybpf.jit.layout import FastBit
from pybpf.maps import MapSpec
from pybpf.net import csum as net_csum
from pybpf.vm import VM, Memory
from tests.jit import helper_harness

I = Instruction  # noqa: E741


class Counting(JitVM):
    """A JitVM that counts the helper calls that went through the Python callback."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.callbacks: list[int] = []

    def _helper(self, run: Any, hid: int, depth: int, pc: int) -> int:
        self.callbacks.append(hid)
        return super()._helper(run, hid, depth, pc)


def _array(kind: str = "array", value_size: int = 8, entries: int = 4, flags: int = 0) -> Any:
    return MapSpec(kind, 4, value_size, entries, flags=flags).create("vm")


def _lookup_bump(fd: int, key: int) -> list[Instruction]:
    """r0 = the value at `key` after adding 1 to its first u64, or 99 when absent."""
    return [I(0x62, 10, 0, -4, key),  # *(u32 *)(r10 - 4) = key
            Instruction.lddw(1, fd, isa.BPF_PSEUDO_MAP_FD), I(0xBF, 2, 10), I(0x07, 2, 0, 0, -4),
            I(isa.OPCODE_CALL, 0, 0, 0, 1), I(0x55, 0, 0, 2, 0), I(0xB7, 0, 0, 0, 99),
            I(isa.OPCODE_EXIT), I(0x79, 1, 0, 0), I(0x07, 1, 0, 0, 1), I(0x7B, 0, 1, 0),
            I(0xBF, 0, 1), I(isa.OPCODE_EXIT)]


@pytest.mark.parametrize("kind", ["array", "percpu_array"])
def test_array_lookup_is_native_and_the_map_api_sees_the_value(kind: str) -> None:
    m = _array(kind)
    try:
        m.update(2, (41).to_bytes(8, "little"))
        vm = Counting(isa.encode(_lookup_bump(m.fd, 2)), maps=[m])
        assert vm.execute().r0 == 42
        assert vm.callbacks == []  # served natively
        got = m.lookup(2)
        assert (got[0] if kind == "percpu_array" else got) == (42).to_bytes(8, "little")
        assert Counting(isa.encode(_lookup_bump(m.fd, 4)), maps=[m]).execute().r0 == 99
    finally:
        m.close()


def _update(fd: int, key: int, value: int, flags: int) -> list[Instruction]:
    return [I(0x62, 10, 0, -4, key), Instruction.lddw(3, value), I(0x7B, 10, 3, -16),
            Instruction.lddw(1, fd, isa.BPF_PSEUDO_MAP_FD), I(0xBF, 2, 10), I(0x07, 2, 0, 0, -4),
            I(0xBF, 3, 10), I(0x07, 3, 0, 0, -16), Instruction.lddw(4, flags),
            I(isa.OPCODE_CALL, 0, 0, 0, 2), I(isa.OPCODE_EXIT)]


def test_array_update_and_delete_are_native_with_the_helpers_answers() -> None:
    m = _array()
    try:
        def run(code: list[Instruction]) -> tuple[int, list[int]]:
            vm = Counting(isa.encode(code), maps=[m])
            return vm.execute().r0, vm.callbacks
        # the region table serves map values (segments 0x4d50....) too: the write is
        # native
        assert run(_update(m.fd, 1, 0x1122334455667788, 0)) == (0, [])
        assert m.lookup(1) == (0x1122334455667788).to_bytes(8, "little")
        assert run(_update(m.fd, 3, 7, 2)) == (0, [])  # BPF_EXIST: every index exists
        assert run(_update(m.fd, 4, 7, 0)) == ((-7) & isa.M64, [])  # -E2BIG
        # BPF_NOEXIST (-EEXIST) and unknown flags are the Python helper's
        assert run(_update(m.fd, 1, 7, 1)) == ((-17) & isa.M64, [2])
        assert run(_update(m.fd, 1, 7, 8)) == ((-22) & isa.M64, [2])
        delete = [I(0x62, 10, 0, -4, 0), Instruction.lddw(1, m.fd, isa.BPF_PSEUDO_MAP_FD),
                  I(0xBF, 2, 10), I(0x07, 2, 0, 0, -4), I(isa.OPCODE_CALL, 0, 0, 0, 3),
                  I(isa.OPCODE_EXIT)]
        assert run(delete) == ((-22) & isa.M64, [])  # arrays: -EINVAL
    finally:
        m.close()


def test_a_read_only_array_keeps_the_callback_and_a_hash_map_is_native() -> None:
    ro = _array(flags=0x80)  # BPF_F_RDONLY_PROG
    h = MapSpec("hash", 4, 8, 4).create("vm")
    try:
        vm = Counting(isa.encode(_update(ro.fd, 1, 5, 0)), maps=[ro])
        with pytest.raises(Exception, match="BPF_F_RDONLY_PROG"):
            vm.execute()
        assert vm.callbacks == [2]
        h.update(2, (9).to_bytes(8, "little"))
        vm = Counting(isa.encode(_lookup_bump(h.fd, 2)), maps=[h])
        assert vm.execute().r0 == 10 and vm.callbacks == []
        assert h.lookup(2) == (10).to_bytes(8, "little")
    finally:
        ro.close()
        h.close()


def test_a_registry_with_its_own_helper_keeps_the_callback() -> None:
    m = _array()
    try:
        helpers = default_helpers().copy()
        helpers.register(1, lambda ctx, *_: 0, "bpf_map_lookup_elem")
        vm = Counting(isa.encode(_lookup_bump(m.fd, 1)), maps=[m], helpers=helpers)
        assert vm._fast.bits & FastBit.MAP_LOOKUP == 0
        assert vm.execute().r0 == 99 and vm.callbacks == [1]
    finally:
        m.close()


def test_a_key_outside_memory_faults_as_on_the_interpreter() -> None:
    m = _array()
    try:
        code = [Instruction.lddw(1, m.fd, isa.BPF_PSEUDO_MAP_FD), I(0xBF, 2, 10),
                I(0x07, 2, 0, 0, -2), I(isa.OPCODE_CALL, 0, 0, 0, 1), I(isa.OPCODE_EXIT)]
        errors = []
        for cls in (VM, JitVM):
            with pytest.raises(Exception) as e:
                cls(isa.encode(code), maps=[m]).execute()
            errors.append((type(e.value), str(e.value)))
        assert errors[0] == errors[1] and "MemoryAccessError" in errors[0][0].__name__
    finally:
        m.close()


def test_ktime_reads_the_host_clock_natively_or_the_vms_clock() -> None:
    code = assemble("call 5\nexit")
    vm = Counting(code)
    before = time.monotonic_ns()
    r0 = vm.execute().r0
    assert before <= r0 <= time.monotonic_ns() and vm.callbacks == []
    vm.clock_ns = lambda: 123 - 2**70  # masked to 64 bits, as the Python helper does
    assert vm.execute().r0 == (123 - 2**70) & isa.M64 and vm.callbacks == []

    def broken() -> int:
        raise ValueError("clock broke")
    vm.clock_ns = broken
    with pytest.raises(ValueError, match="clock broke"):  # the Python helper raises it
        vm.execute()
    assert vm.callbacks == [5]


def test_prandom_is_the_runs_rng() -> None:
    code = assemble("call 7\nr6 = r0\ncall 7\nr0 <<= 32\nr0 |= r6\nexit")
    vm = Counting(code)
    expect = VM(code).execute(rng=seeded_rng(3)).r0
    assert vm.execute(rng=seeded_rng(3)).r0 == expect and vm.callbacks == []


def test_csum_diff_matches_pybpf_net_csum() -> None:
    rng = random.Random(5)
    for _ in range(60):
        frm, to = rng.randbytes(rng.choice([0, 4, 8, 12, 13, 40])), \
            rng.randbytes(rng.choice([0, 4, 8, 20, 64, 7]))
        seed = rng.getrandbits(32)
        memory = Memory()
        a = memory.map("a", bytearray(frm or b"\0"))
        b = memory.map("b", bytearray(to or b"\0"))
        code = assemble(f"r2 = {len(frm)}\nr4 = {len(to)}\nr5 = {seed} ll\ncall 28\nexit")
        vm = Counting(code)
        res = vm.execute(memory, a.base, 0, b.base)
        assert res.r0 == net_csum.csum_diff(frm, to, seed), (frm, to, seed)
        assert res.executed == VM(code).execute(memory, a.base, 0, b.base).executed
        assert vm.callbacks == []


def test_the_fast_paths_agree_with_the_interpreter_on_random_programs() -> None:
    bad = [d for s in range(120) if (d := helper_harness.compare(70_000 + s)) is not None]
    assert not bad, bad[:3]


def test_the_helper_harness_sees_a_difference() -> None:
    """run() reports the maps as the run left them: an engine that writes one more byte
    into a map differs."""
    class Scribbling(JitVM):
        def execute(self, *a, **kw):  # type: ignore[no-untyped-def]
            try:
                return super().execute(*a, **kw)
            finally:
                m = next(iter(self.maps))
                m.update(0, bytes([0xAA]) * m.value_size)
    c = helper_harness.case(1)
    maps = helper_harness.make_maps(c.maps)
    try:
        saved = [dict(m.items()) for m in maps]
        a = helper_harness.run(JitVM, c, maps)
        helper_harness._restore(maps, saved)
        b = helper_harness.run(Scribbling, c, maps)
    finally:
        for m in maps:
            m.close()
    assert a.maps != b.maps
