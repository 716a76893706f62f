"""The VM's per-run state made once at load: every run still starts from fresh zeroed
stacks at the addresses a new Memory would give them, with a reset call context."""

from __future__ import annotations

import pybpf
from pybpf.vm import VM, Memory

# returns what the stack held at r10-8, then leaves 0x1234 there
LEAVE_MARK = """
    r0 = *(u64 *)(r10 - 8)
    r1 = 0x1234
    *(u64 *)(r10 - 8) = r1
    exit
"""


def test_each_run_starts_with_zeroed_stacks() -> None:
    vm = VM(pybpf.assemble(LEAVE_MARK))
    assert [vm.execute().r0 for _ in range(3)] == [0, 0, 0]
    mem = Memory()
    assert [vm.execute(mem).r0 for _ in range(3)] == [0, 0, 0]
    assert mem.regions == {}  # nothing left mounted in the caller's memory
    bound = vm.bind(Memory())
    assert [bound()[0] for _ in range(3)] == [0, 0, 0]
    bound.close()
    assert bound.memory.regions == {}


def test_stack_addresses_follow_the_memory() -> None:
    vm = VM(pybpf.assemble("r0 = r10\nexit"))
    fresh = vm.execute().r0
    mem = Memory()
    mem.map("a", bytearray(8))
    after_one = vm.execute(mem).r0
    assert fresh >> 32 == 1 and after_one >> 32 == 2  # the next free segment, as before
    assert vm.execute().r0 == fresh


def test_local_calls_get_every_frame() -> None:
    prog = pybpf.assemble("""
        r1 = 7
        *(u64 *)(r10 - 8) = r1
        call f
        r1 = *(u64 *)(r10 - 8)
        r0 += r1
        exit
    f:
        r0 = *(u64 *)(r10 - 8)
        r2 = 5
        *(u64 *)(r10 - 8) = r2
        exit
    """)
    vm = VM(prog)
    # the callee's own (zeroed) stack, the caller's kept: 0 + 7, on every run
    assert [vm.execute().r0 for _ in range(2)] == [7, 7]


def test_prandom_differs_between_runs() -> None:
    vm = VM(pybpf.assemble("call 7\nexit"))  # bpf_get_prandom_u32
    assert len({vm.execute().r0 for _ in range(20)}) > 1
