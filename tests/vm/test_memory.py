"""The interpreter's memory model, calls, budget and helpers."""

from __future__ import annotations

import pytest

import pybpf
from pybpf import isa
from pybpf.errors import (HelperError, InstructionLimitExceeded, InvalidProgram,
                          MemoryAccessError, VMRuntimeError)
from pybpf.helpers import HelperRegistry, ProgramExit, default_helpers
from pybpf.vm import VM, Memory


def asm(text: str) -> bytes:
    return pybpf.assemble(text)


def test_run_gives_r1_pointer_and_r2_length() -> None:
    code = asm("r0 = *(u32 *)(r1 +0)\nr0 += r2\nexit")
    assert pybpf.run(code, bytes([1, 2, 3, 4, 5])) == 0x04030201 + 5
    assert pybpf.run(asm("r0 = r1\nr0 += r2\nexit")) == 0  # no mem: r1 = r2 = 0


def test_input_is_a_copy() -> None:
    mem = bytearray(b"\0" * 8)
    pybpf.run(asm("*(u64 *)(r1 +0) = 7\nr0 = 0\nexit"), bytes(mem))
    assert mem == b"\0" * 8


@pytest.mark.parametrize("text,kind,size,region", [
    ("r0 = *(u32 *)(r1 +6)\nexit", "load", 4, "mem"),            # overruns mem by 2
    ("r0 = *(u8 *)(r1 -1)\nexit", "load", 1, "mem"),              # before mem
    ("*(u8 *)(r10 +0) = 1\nr0 = 0\nexit", "store", 1, "stack[0]"),  # at the frame top
    ("r0 = *(u64 *)(r10 -520)\nexit", "load", 8, "stack[0]"),    # below the 512 bytes
])
def test_out_of_bounds_names_pc_address_size_region(text: str, kind: str, size: int,
                                                    region: str) -> None:
    with pytest.raises(MemoryAccessError) as e:
        pybpf.run(asm(text), b"12345678")
    err = e.value
    assert (err.pc, err.kind, err.size, err.region) == (0, kind, size, region)
    assert "at pc 0" in str(err) and hex(err.addr) in str(err) and region in str(err)


def test_null_and_wild_pointers() -> None:
    with pytest.raises(MemoryAccessError, match="no region") as e:
        pybpf.run(asm("r1 = 0\nr0 = *(u8 *)(r1 +0)\nexit"))
    assert e.value.pc == 1 and e.value.addr == 0
    with pytest.raises(MemoryAccessError, match="no region"):
        pybpf.run(asm("r1 = 0x1122334455667788 ll\n*(u64 *)(r1 +0) = r1\nexit"))


def test_read_only_region() -> None:
    vm = VM(asm("*(u8 *)(r1 +0) = 1\nr0 = 0\nexit"))
    mem = Memory()
    ro = mem.map("rodata", b"abc", writable=False)
    with pytest.raises(MemoryAccessError, match="read-only"):
        vm.execute(mem, ro.base)


def test_stack_is_512_bytes_per_frame_and_full_range_usable() -> None:
    code = asm("""
        *(u64 *)(r10 -512) = 5
        *(u64 *)(r10 -8) = 6
        r0 = *(u64 *)(r10 -512)
        r1 = *(u64 *)(r10 -8)
        r0 += r1
        exit""")
    assert pybpf.run(code) == 11


def test_local_calls_preserve_r6_to_r9_and_have_own_stack() -> None:
    code = asm("""
        r6 = 6
        r7 = 7
        r8 = 8
        r9 = 9
        *(u64 *)(r10 -8) = 100
        r1 = r10
        call sub
        r0 += r6
        r0 += r7
        r0 += r8
        r0 += r9
        r1 = *(u64 *)(r10 -8)
        r0 += r1
        exit
    sub:
        r6 = 1000
        r7 = 1000
        r8 = 1000
        r9 = 1000
        *(u64 *)(r10 -8) = 1
        r0 = *(u64 *)(r1 -8)
        *(u64 *)(r1 -8) = 200
        exit""")
    # callee read the caller's 100 through the pointer, then wrote 200 there
    assert pybpf.run(code) == 100 + 6 + 7 + 8 + 9 + 200


def test_call_depth_limit_is_8_frames() -> None:
    def chain(depth: int) -> bytes:
        lines = []
        for i in range(depth - 1):
            lines += [f"f{i}:", f"call f{i + 1}", "exit"]
        lines += [f"f{depth - 1}:", "r0 = 42", "exit"]
        return asm("\n".join(lines))

    assert pybpf.run(chain(8)) == 42
    with pytest.raises(VMRuntimeError, match="8 frames"):
        pybpf.run(chain(9))


def test_instruction_budget() -> None:
    loop = asm("r0 = 0\nloop:\nr0 += 1\nif r0 != 0 goto loop\nexit")
    with pytest.raises(InstructionLimitExceeded, match="1000000"):
        pybpf.run(loop)
    from pybpf.vm import run
    with pytest.raises(InstructionLimitExceeded, match="budget of 50"):
        run(loop, insn_budget=50)
    counted = VM(asm("r0 = 1\nr0 += 2\nexit")).execute()
    assert (counted.r0, counted.executed) == (3, 3)


def test_ld_abs_and_ind_read_big_endian_and_end_on_overrun() -> None:
    pkt = bytes(range(16))
    assert pybpf.run(asm("r6 = r1\nr0 = *(u16 *)skb[2]\nexit"), pkt) == 0x0203
    assert pybpf.run(asm("r6 = r1\nr3 = 4\nr0 = *(u32 *)skb[r3 + 1]\nexit"), pkt) == 0x05060708
    # out of the packet: the program ends at once with r0 = 0
    assert pybpf.run(asm("r6 = r1\nr0 = *(u32 *)skb[14]\nr0 = 99\nexit"), pkt) == 0


def test_atomics_on_the_stack() -> None:
    code = asm("""
        *(u64 *)(r10 -8) = 10
        r1 = 5
        lock *(u64 *)(r10 -8) += r1
        r2 = 3
        r2 = atomic_fetch_or((u64 *)(r10 -8), r2)
        r0 = 15
        r3 = 99
        r0 = cmpxchg((u64 *)(r10 -8), r0, r3)
        r4 = 1
        r4 = xchg((u64 *)(r10 -8), r4)
        r5 = *(u64 *)(r10 -8)
        r0 <<= 8
        r0 |= r2
        r0 <<= 8
        r0 |= r4
        r0 <<= 8
        r0 |= r5
        exit""")
    # after add: 15; fetch_or returns 15 and stores 15; cmpxchg (15 == r0) stores 99,
    # returns 15; xchg returns 99 and stores 1
    assert pybpf.run(code) == (15 << 24) | (15 << 16) | (99 << 8) | 1


def test_helpers_by_kernel_id_and_unknown_helpers() -> None:
    assert pybpf.run(asm("call bpf_get_smp_processor_id\nexit")) == 0
    t = pybpf.run(asm("call bpf_ktime_get_ns\nexit"))
    assert t > 0
    # map helpers are kernel helpers: registered, but they need a map pointer
    with pytest.raises(HelperError, match="not a map pointer.*no maps"):
        pybpf.run(asm("call bpf_map_lookup_elem\nexit"))
    with pytest.raises(InvalidProgram, match="unknown helper 999"):
        pybpf.run(asm("call 999\nexit"))


def test_custom_helper_registry_and_program_exit() -> None:
    reg = HelperRegistry()

    def double(ctx, r1, *_):  # type: ignore[no-untyped-def]
        return r1 * 2

    def stop(ctx, r1, *_):  # type: ignore[no-untyped-def]
        raise ProgramExit(r1)

    reg.register(1000, double, "double")
    reg.register(1001, stop, "stop")
    from pybpf.vm import run
    assert run(asm("r1 = 21\ncall 1000\nexit"), helpers=reg) == 42
    assert run(asm("r1 = 7\ncall 1001\nr0 = 1\nexit"), helpers=reg) == 7
    assert 1 not in reg  # a custom registry holds only what was registered
    assert default_helpers()[1].name == "bpf_map_lookup_elem"  # map helpers are defaults
    assert default_helpers()[164].frame  # bpf_for_each_map_elem calls back into the program


def test_csum_diff_and_strncmp() -> None:
    code = asm("""
        *(u32 *)(r10 -4) = 0x01020304
        r1 = 0
        r2 = 0
        r3 = r10
        r3 += -4
        r4 = 4
        r5 = 0
        call bpf_csum_diff
        exit""")
    from pybpf.net.csum import csum_partial, from32to16
    assert pybpf.run(code) == from32to16(csum_partial((0x01020304).to_bytes(4, "little")))
    cmp = asm("""
        *(u32 *)(r10 -8) = 0x00636261
        *(u32 *)(r10 -16) = 0x00646261
        r1 = r10
        r1 += -8
        r2 = 4
        r3 = r10
        r3 += -16
        call bpf_strncmp
        exit""")
    assert pybpf.run(cmp) == (1 << 64) - 1  # "abc" < "abd"


def test_pseudo_func_and_callx() -> None:
    code = asm("""
        r2 = func(sub)
        r1 = 20
        callx r2
        r0 += 1
        exit
    sub:
        r0 = r1
        r0 *= 2
        exit""")
    assert pybpf.run(code) == 41


def test_lddw_map_reference_needs_maps() -> None:
    with pytest.raises(InvalidProgram, match="pseudo source 1.*maps="):
        pybpf.run(asm("r1 = map_fd(3)\nr0 = 0\nexit"))
    from pybpf.maps import MapSpec
    with MapSpec("array", 4, 8, 1).create() as m:
        with pytest.raises(InvalidProgram, match=f"map fd {m.fd + 1000} is not in"):
            VM(asm(f"r1 = map_fd({m.fd + 1000})\nr0 = 0\nexit"), maps=[m])
        vm = VM(asm(f"r1 = map_fd({m.fd})\nr0 = r1\nexit"), maps=[m])
        assert vm.execute().r0 == m.pointer


def test_may_goto_falls_through_then_jumps() -> None:
    code = asm("""
        r0 = 0
    loop:
        may_goto +2
        r0 += 1
        goto loop
        exit""")
    from pybpf.vm import run
    assert run(code, insn_budget=1 << 40) == 8 * 1024 * 1024


def test_vm_is_reusable_and_regions_are_per_run() -> None:
    vm = VM(asm("r0 = *(u64 *)(r10 -8)\n*(u64 *)(r10 -8) = 5\nexit"))
    assert vm.execute().r0 == 0
    assert vm.execute().r0 == 0  # fresh stack every run
    mem = Memory()
    vm.execute(mem)
    assert mem.regions == {}  # stacks removed after the run


def test_runtime_errors_are_pybpf_errors() -> None:
    assert issubclass(MemoryAccessError, pybpf.PyBPFError)
    assert issubclass(HelperError, VMRuntimeError)
    assert isa.MAX_CALL_FRAMES == 8


@pytest.mark.kernel
def test_csum_diff_matches_the_kernel() -> None:
    """The default table's bpf_csum_diff is the kernel's (sums folded to 16 bits in 6.x)."""
    code = asm("""
        *(u32 *)(r10 -4) = 0x01020304
        *(u32 *)(r10 -8) = 0x0a0b0c0d
        r1 = r10
        r1 += -8
        r2 = 4
        r3 = r10
        r3 += -4
        r4 = 4
        r5 = 77
        call bpf_csum_diff
        exit""")
    assert pybpf.run(code, bytes(14)) == pybpf.run(code, bytes(14), backend="kernel")
