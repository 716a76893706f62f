"""run_raw(): the prolog/epilog wrapping (checked offline) and runs on the kernel."""

from __future__ import annotations

import pytest

from pybpf.isa import Instruction, decode, encode, jump_target, slot_offsets
from pybpf.kernel import KernelVerifierError, RawRunner, run_raw
from pybpf.kernel.run import MAX_MEM, MemoryTooLargeError, epilog, prolog, wrap

I = Instruction  # noqa: E741 (short, for the instruction lists below)
EXIT = I(0x95)
MAP_FD = 7


def mov(dst: int, imm: int) -> Instruction:
    return I(0xB7, dst, 0, 0, imm)


def call_local(rel: int) -> Instruction:
    return I(0x85, 0, 1, 0, rel)


def targets(code: bytes) -> dict[int, int]:
    insns = decode(code, check=False)
    return {pc: t for insn, pc in zip(insns, slot_offsets(insns))
            if (t := jump_target(insn, pc)) is not None}


P0 = len(prolog(0)) // 8
P8 = len(prolog(8)) // 8
E = len(epilog(MAP_FD)) // 8


def test_simple_exit_goes_to_epilog() -> None:
    out = wrap(encode([mov(0, 1), EXIT]), 0, MAP_FD)
    assert out[:P0 * 8] == prolog(0)
    assert out[(P0 + 2) * 8:] == epilog(MAP_FD)
    # the exit became `ja +0` onto the epilog right after it
    assert targets(out) == {P0 + 1: P0 + 2, **_epilog_targets(P0 + 2)}


def _epilog_targets(start: int) -> dict[int, int]:
    return {start + pc: start + t for pc, t in targets(epilog(MAP_FD)).items()}


def test_jumps_over_lddw_and_backwards_keep_their_targets() -> None:
    prog = [
        mov(0, 0),                       # 0
        I(0x15, 0, 0, 3, 5),             # 1: if r0 == 5 goto 5 (over the lddw)
        Instruction.lddw(1, 1 << 40),    # 2-3
        I(0x07, 0, 0, 0, 1),             # 4: r0 += 1
        I(0xA5, 0, 0, -5, 3),            # 5: if r0 < 3 goto 1
        EXIT,                            # 6
    ]
    out = wrap(encode(prog), 8, MAP_FD)
    t = targets(out)
    assert t[P8 + 1] == P8 + 5 and t[P8 + 5] == P8 + 1
    assert t[P8 + 6] == P8 + 7  # exit -> epilog
    assert decode(out[(P8 + 2) * 8:(P8 + 4) * 8])[0].imm64 == 1 << 40


def test_subprograms_keep_their_exits_and_calls_are_fixed() -> None:
    prog = [
        call_local(3),        # 0: call f (pc 4)
        I(0x55, 0, 0, 1, 0),  # 1: if r0 != 0 goto 3
        EXIT,                 # 2
        EXIT,                 # 3
        mov(0, 5),            # 4: f:
        call_local(1),        # 5: call g (pc 7)
        EXIT,                 # 6
        mov(0, 6),            # 7: g:
        EXIT,                 # 8
    ]
    out = wrap(encode(prog), 0, MAP_FD)
    insns = decode(out, check=False)
    t = targets(out)
    main = P0
    sub = P0 + 4 + E  # the subprograms move down past the epilog
    assert t[main + 0] == sub  # call f
    assert t[main + 1] == main + 3
    assert t[main + 2] == main + 4 and t[main + 3] == main + 4  # both exits -> epilog
    assert out[(main + 4) * 8:(main + 4 + E) * 8] == epilog(MAP_FD)
    assert t[sub + 1] == sub + 3  # call g, both inside the moved part
    pcs = slot_offsets(insns)
    by_pc = dict(zip(pcs, insns))
    assert by_pc[sub + 2] == EXIT and by_pc[sub + 4] == EXIT  # subprogram exits stay


def test_no_plain_exit_means_no_epilog() -> None:
    odd_exit = I(0x95, 1)  # exit with a reserved field set: left for the kernel
    out = wrap(encode([mov(0, 1), odd_exit]), 0, MAP_FD)
    assert out == prolog(0) + encode([mov(0, 1), odd_exit])


def test_gotol_offset_is_fixed() -> None:
    prog = [I(0x06, 0, 0, 0, 1), EXIT, mov(0, 3), EXIT]  # gotol +1
    out = wrap(encode(prog), 0, MAP_FD)
    assert targets(out)[P0] == P0 + 2


# --- on the kernel ---------------------------------------------------------------------------

@pytest.mark.kernel
def test_full_64_bit_r0() -> None:
    assert run_raw(encode([Instruction.lddw(0, 0x1122334455667788), EXIT])) == \
        0x1122334455667788
    assert run_raw(encode([mov(0, -1), EXIT])) == (1 << 64) - 1


@pytest.mark.kernel
def test_memory_pointer_and_length() -> None:
    mem = bytes(range(1, 21))
    last_byte = [I(0xBF, 3, 1), I(0x0F, 3, 2), I(0x71, 0, 3, -1), EXIT]  # *(r1 + r2 - 1)
    assert run_raw(encode([I(0xBF, 0, 2), EXIT]), mem) == 20
    with RawRunner() as r:
        assert r.run(encode(last_byte), mem).r0 == 20
        short = r.run(encode([I(0x71, 0, 1, 2), EXIT]), b"\xaa\xbb\x11")
        assert short.r0 == 0x11
        # no memory: r1 = r2 = 0
        assert r.run(encode([I(0xBF, 0, 1), I(0x0F, 0, 2), EXIT])).r0 == 0
        # the program may write its memory; the copy comes back in mem_out
        res = r.run(encode([I(0x72, 1, 0, 1, 0x5A), mov(0, 0), EXIT]), b"\x01\x02\x03")
        assert res.mem_out == b"\x01\x5a\x03"


@pytest.mark.kernel
def test_local_calls_on_the_kernel() -> None:
    prog = [
        mov(6, 40),
        call_local(2),          # r0 = f()
        I(0x0F, 0, 6),          # r0 += r6 (callee-saved)
        EXIT,
        mov(6, 0),              # f: r6 is callee-saved, so this does not leak out
        mov(0, 2),
        EXIT,
    ]
    assert run_raw(encode(prog)) == 42


@pytest.mark.kernel
def test_rejection_and_limits() -> None:
    with pytest.raises(KernelVerifierError) as ei:
        run_raw(encode([I(0xBF, 0, 7), EXIT]))  # r7 never written
    assert ei.value.reason == "R7 !read_ok"
    with RawRunner() as r:
        limit = r.max_mem  # the kernel's own figure: a page less XDP head- and tailroom
        assert MAX_MEM <= limit < 4096
        length = encode([I(0xBF, 0, 2), EXIT])  # r0 = r2
        assert r.run(length, bytes(limit)).r0 == limit
        for size in (limit + 1, 5000, 1 << 20):
            with pytest.raises(MemoryTooLargeError, match=f"memory of {size} bytes is more "
                               f"than the kernel runs a raw program on: .* at most {limit} "
                               "bytes"):
                r.run(length, bytes(size))
    with pytest.raises(ValueError):  # as before: a ValueError too
        run_raw(encode([mov(0, 0), EXIT]), bytes(5000))


@pytest.mark.kernel
def test_cli_mem_past_the_kernels_limit_is_an_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 11, item 9: `run X --mem @FILE` with more than 3,072 bytes on --backend
    kernel ended in a ValueError traceback."""
    import subprocess
    import sys
    prog = tmp_path / "p.s"
    prog.write_text("r0 = r2\nexit\n")
    for size, rc, text in ((3100, 0, "r0 = 0xc1c (3100)"), (5000, 1, "memory of 5000 bytes")):
        mem = tmp_path / f"m{size}"
        mem.write_bytes(bytes(size))
        proc = subprocess.run([sys.executable, "-m", "pybpf", "run", str(prog), "--mem",
                               f"@{mem}", "--backend", "kernel"], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == rc and text in proc.stdout + proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
