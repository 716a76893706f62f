"""The JIT's semantics, case by case, against the interpreter's on the same bytes:
arithmetic edge cases, faults (same error, same pc), the budget, helpers and their
callbacks, local calls, callx, LD_ABS, and the compiled-code cache."""

from __future__ import annotations

import pytest

import pybpf
from pybpf.errors import (HelperError, InstructionLimitExceeded, MemoryAccessError,
                          PyBPFError, VMRuntimeError)
from pybpf.jit import JitCache, JitVM
from pybpf.vm import VM, Memory


def both(text: str, mem: bytes | None = None, **kw: object) -> tuple[object, object]:
    """(interpreter, JIT) outcome of a program: (r0, executed, memory) or the error's
    class and message."""
    code = pybpf.assemble(text)
    out = []
    for cls in (VM, JitVM):
        try:
            vm = cls(code, **kw)  # type: ignore[arg-type]
            memory = Memory()
            region = memory.map("mem", bytearray(mem or b""))
            if mem is not None:
                memory.packet = region
            res = vm.execute(memory, region.base if mem else 0, len(mem or b""))
            out.append((res.r0, res.executed, bytes(region.buf)))
        except PyBPFError as e:
            out.append((type(e), str(e)))
    return out[0], out[1]


@pytest.mark.parametrize("text, r0", [
    ("r0 = 7\nr1 = 0\nr0 /= r1\nexit", 0),
    ("r0 = 7\nr1 = 0\nr0 %= r1\nexit", 7),
    ("r0 = -7\nw1 = 0\nw0 %= w1\nexit", 0xFFFFFFF9),
    ("r0 = 1\nr0 <<= 63\nr1 = -1\nr0 s/= r1\nexit", 1 << 63),
    ("r0 = 1\nr0 <<= 63\nr1 = -1\nr0 s%= r1\nexit", 0),
    ("w0 = -2147483648\nw1 = -1\nw0 s/= w1\nexit", 0x80000000),
    ("r0 = -7\nr0 s/= 2\nexit", (1 << 64) - 3),
    ("r0 = -7\nr0 s%= 2\nexit", (1 << 64) - 1),
    ("r0 = 1\nr1 = 65\nr0 <<= r1\nexit", 2),
    ("w0 = 1\nw1 = 33\nw0 <<= w1\nexit", 2),
    ("r0 = -8\nr0 s>>= 1\nexit", (1 << 64) - 4),
    ("w0 = -8\nw0 s>>= 1\nexit", 0xFFFFFFFC),
    ("r0 = 0x1234\nr0 = bswap16 r0\nexit", 0x3412),
    ("r0 = 0x12345678\nr0 = be32 r0\nexit", 0x78563412),
    ("r0 = 0x1ff\nr0 = (s8)r0\nexit", (1 << 64) - 1),
    ("r0 = 0x18000\nw0 = (s16)w0\nexit", 0xFFFF8000),
    ("r0 = -1\nw0 += 0\nexit", 0xFFFFFFFF),
    ("r0 = 5\nr0 = -r0\nexit", (1 << 64) - 5),
])
def test_alu_edge_cases(text: str, r0: int) -> None:
    interp, jit = both(text)
    assert interp == jit
    assert jit[0] == r0  # type: ignore[index]


def test_stack_memory_and_sign_extending_loads() -> None:
    text = """
        r1 = -2
        *(u64 *)(r10 - 8) = r1
        *(u8 *)(r10 - 16) = 0x80
        r0 = *(s8 *)(r10 - 16)
        r2 = *(u32 *)(r10 - 8)
        r0 += r2
        lock *(u64 *)(r10 - 8) += r0
        r0 = *(u64 *)(r10 - 8)
        exit"""
    interp, jit = both(text)
    assert interp == jit


def test_atomics_on_the_input_memory() -> None:
    text = """
        r2 = 5
        r2 = atomic_fetch_add((u64 *)(r1 + 0), r2)
        r0 = 1
        r4 = 9
        r0 = cmpxchg_64(r1 + 8, r0, r4)
        w5 = 3
        w5 = xchg32_32(r1 + 16, w5)
        r0 += r2
        r0 += r5
        exit"""
    mem = bytes(range(24))
    interp, jit = both(text, mem)
    assert interp == jit
    assert jit[2] != mem  # type: ignore[index]


@pytest.mark.parametrize("text", [
    "r0 = *(u64 *)(r1 + 60)\nexit",  # past the end of the input
    "r0 = *(u8 *)(r1 - 1)\nexit",  # before it
    "r1 = 0x1234\nr0 = *(u32 *)(r1 + 0)\nexit",  # in no region
    "r0 = 0\n*(u64 *)(r10 + 0) = r0\nexit",  # above the stack
    "r0 = *(u64 *)(r10 - 520)\nexit",
    "r2 = r10\nr2 += -600\n*(u32 *)(r2 + 0) = 1\nexit",
    "r2 = 0x7fff00000000 ll\nr0 = *(u64 *)(r2 + 0)\nexit",  # a host-looking address
])
def test_faults_are_the_interpreters(text: str) -> None:
    interp, jit = both(text, bytes(64))
    assert interp == jit
    assert jit[0] is MemoryAccessError


def test_store_to_a_read_only_region_faults() -> None:
    code = pybpf.assemble("*(u32 *)(r1 + 0) = 5\nr0 = 0\nexit")
    for cls in (VM, JitVM):
        memory = Memory()
        region = memory.map("ro", bytearray(8), writable=False)
        with pytest.raises(MemoryAccessError, match="read-only"):
            cls(code).execute(memory, region.base)


def test_infinite_loop_ends_with_the_budget_error() -> None:
    interp, jit = both("r0 = 0\nloop:\nr0 += 1\ngoto loop\nexit", insn_budget=10_000)
    assert interp == jit
    assert jit[0] is InstructionLimitExceeded


def test_local_calls_keep_callee_saved_registers_and_depth_limit() -> None:
    text = """
        r6 = 3
        r1 = 4
        call f
        r0 += r6
        exit
    f:
        r6 = 100
        r0 = r1
        r0 *= r1
        exit"""
    interp, jit = both(text)
    assert interp == jit and jit[0] == 19  # type: ignore[index]
    deep = "call f\nexit\nf:\ncall f\nexit"
    interp, jit = both(deep)
    assert interp == jit and jit[0] is VMRuntimeError


def test_callx_to_a_function_pointer() -> None:
    code = bytes.fromhex(
        "1842000003000000" "0000000000000000"  # r2 = the function at pc 4 (pseudo func)
        "8d02000000000000"  # callx r2
        "9500000000000000"  # exit
        "b70000002a000000"  # pc 4: r0 = 42
        "9500000000000000")
    for cls in (VM, JitVM):
        assert cls(code).execute().r0 == 42


def test_helpers_and_bpf_loop_callbacks() -> None:
    text = """
        r6 = 0
        *(u64 *)(r10 - 8) = r6
        r1 = 10
        r2 = func(cb)
        r3 = r10
        r3 += -8
        r4 = 0
        call bpf_loop
        r6 = *(u64 *)(r10 - 8)
        call bpf_get_prandom_u32
        r0 += r6
        exit
    cb:
        r3 = *(u64 *)(r2 + 0)
        r3 += r1
        *(u64 *)(r2 + 0) = r3
        r0 = 0
        exit"""
    code = pybpf.assemble(text)
    from pybpf.helpers import seeded_rng
    results = [cls(code).execute(rng=seeded_rng(3)) for cls in (VM, JitVM)]
    assert results[0] == results[1]
    assert results[1].r0 >= 45  # the callback ran ten times: 0 + 1 + ... + 9


def test_unknown_helper_and_kfunc_fail_as_on_the_interpreter() -> None:
    code = bytes.fromhex("8500000063000000" "9500000000000000")  # call helper 99
    errs = []
    for cls in (VM, JitVM):
        with pytest.raises(HelperError) as e:
            cls(code, check_helpers=False).execute()
        errs.append(str(e.value))
    assert errs[0] == errs[1]


def test_legacy_packet_load_out_of_bounds_ends_with_zero() -> None:
    interp, jit = both("r6 = r1\nr0 = *(u8 *)skb[3]\nr0 = *(u32 *)skb[100]\nr0 = 7\nexit",
                       bytes(range(16)))
    assert interp == jit and jit[0] == 0  # type: ignore[index]


def test_compiled_code_is_cached_by_bytes() -> None:
    cache = JitCache(size=2)
    code = pybpf.assemble("r0 = 1\nexit")
    a = JitVM(code, cache=cache)
    b = JitVM(code, cache=cache)
    assert a.native is b.native and cache.hits == 1 and cache.misses == 1
    for k in range(3):
        JitVM(pybpf.assemble(f"r0 = {k + 2}\nexit"), cache=cache)
    assert len(cache._entries) == 2
    assert a.execute().r0 == 1  # evicted from the cache, still alive in its VM


def test_engine_choice_on_the_api() -> None:
    assert pybpf.run("r0 = 3\nexit", engine="jit") == 3
    assert pybpf.run("r0 = 3\nexit", engine="interp") == 3
    with pytest.raises(PyBPFError, match="unknown engine"):
        pybpf.run("r0 = 3\nexit", engine="llvm")
    with pytest.raises(ValueError, match="engine"):
        pybpf.run("r0 = 3\nexit", backend="kernel", engine="jit")


def test_a_program_past_the_jit_limit_runs_on_the_interpreter(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pybpf.jit import machine
    monkeypatch.setattr(machine, "JIT_MAX_INSNS", 3)
    vm = JitVM(pybpf.assemble("r0 = 1\nr0 += 2\nr0 += 3\nexit"))
    assert vm.native is None and vm.execute().r0 == 6
