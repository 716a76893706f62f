"""ALU semantics of the interpreter against an independent model of RFC 9669
(written with C-style arithmetic on fixed-width values, not the VM's formulas)."""

from __future__ import annotations

import ctypes

import pytest
from hypothesis import given, strategies as st

from pybpf import isa, vm
from pybpf.isa import Instruction

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
u64 = st.one_of(st.sampled_from([0, 1, M64, M32, 1 << 63, 1 << 31, (1 << 63) - 1,
                                 0x80000000FFFFFFFF]),
                st.integers(0, M64))
imm32 = st.one_of(st.sampled_from([0, 1, -1, -(1 << 31), (1 << 31) - 1]),
                  st.integers(-(1 << 31), (1 << 31) - 1))


def c_div(a: int, b: int) -> int:
    """C99 truncating division on signed ints."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def model(op: int, is64: bool, dst: int, src: int, off: int) -> int:
    """RFC 9669 semantics; dst and src are already the full register values, src is the
    operand (imm sign-extended for ALU64, or the 32-bit imm for ALU)."""
    bits = 64 if is64 else 32
    mask = (1 << bits) - 1
    d, s = dst & mask, src & mask
    sd = ctypes.c_int64(d).value if is64 else ctypes.c_int32(d).value
    ss = ctypes.c_int64(s).value if is64 else ctypes.c_int32(s).value
    if op == isa.BPF_ADD:
        r = d + s
    elif op == isa.BPF_SUB:
        r = d - s
    elif op == isa.BPF_MUL:
        r = d * s
    elif op == isa.BPF_OR:
        r = d | s
    elif op == isa.BPF_AND:
        r = d & s
    elif op == isa.BPF_XOR:
        r = d ^ s
    elif op == isa.BPF_LSH:
        r = d << (s % bits)
    elif op == isa.BPF_RSH:
        r = d >> (s % bits)
    elif op == isa.BPF_ARSH:
        r = sd >> (s % bits)
    elif op == isa.BPF_NEG:
        r = -d
    elif op == isa.BPF_MOV:
        if off:
            sign = -(1 << off) if s >> (off - 1) & 1 else 0
            r = ctypes.c_int64(s & ((1 << off) - 1) | sign).value
        else:
            r = s
    elif op == isa.BPF_DIV:
        if off == 0:
            r = d // s if s else 0
        else:
            r = c_div(sd, ss) if ss else 0
    elif op == isa.BPF_MOD:
        if off == 0:
            r = d % s if s else d
        else:
            r = sd - ss * c_div(sd, ss) if ss else d
    else:
        raise AssertionError(op)
    return r & mask


OPS = [isa.BPF_ADD, isa.BPF_SUB, isa.BPF_MUL, isa.BPF_DIV, isa.BPF_OR, isa.BPF_AND,
       isa.BPF_LSH, isa.BPF_RSH, isa.BPF_NEG, isa.BPF_MOD, isa.BPF_XOR, isa.BPF_MOV,
       isa.BPF_ARSH]


def run_insns(*insns: Instruction) -> int:
    return vm.run(isa.encode(list(insns) + [Instruction(isa.OPCODE_EXIT)]))


def load64(reg: int, value: int) -> Instruction:
    return Instruction.lddw(reg, value)


@given(st.sampled_from(OPS), st.booleans(), st.booleans(), u64, u64, imm32, st.integers(0, 3))
def test_alu_matches_model(op: int, is64: bool, use_reg: bool, dst: int, src: int, imm: int,
                           variant: int) -> None:
    cls = isa.BPF_ALU64 if is64 else isa.BPF_ALU
    off = 0
    if op in (isa.BPF_DIV, isa.BPF_MOD):
        off = variant & 1
    elif op == isa.BPF_MOV and use_reg:
        off = [0, 8, 16, 32][variant] if is64 else [0, 8, 16, 0][variant]
    if op == isa.BPF_NEG:
        use_reg = False
        imm = 0
    source = isa.BPF_X if use_reg else isa.BPF_K
    insn = Instruction(cls | op | source, 0, 1 if use_reg else 0, off, 0 if use_reg else imm)
    operand = src if use_reg else (imm & M64 if is64 else imm & M32)
    expected = model(op, is64, dst, operand, off)
    got = run_insns(load64(0, dst), load64(1, src), insn)
    assert got == expected


@pytest.mark.parametrize("is64", [True, False])
def test_int_min_division(is64: bool) -> None:
    cls = isa.BPF_ALU64 if is64 else isa.BPF_ALU
    int_min = (1 << 63) if is64 else (1 << 31)
    sdiv = Instruction(cls | isa.BPF_DIV | isa.BPF_K, 0, 0, 1, -1)
    smod = Instruction(cls | isa.BPF_MOD | isa.BPF_K, 0, 0, 1, -1)
    assert run_insns(load64(0, int_min), sdiv) == int_min
    assert run_insns(load64(0, int_min), smod) == 0


def test_division_by_zero() -> None:
    div0 = Instruction(isa.BPF_ALU64 | isa.BPF_DIV | isa.BPF_X, 0, 1)
    mod0 = Instruction(isa.BPF_ALU | isa.BPF_MOD | isa.BPF_X, 0, 1)
    assert run_insns(load64(0, 1234), load64(1, 0), div0) == 0
    assert run_insns(load64(0, 0x1_0000_0005), load64(1, 0), mod0) == 5  # truncated
    mod64 = Instruction(isa.BPF_ALU64 | isa.BPF_MOD | isa.BPF_X, 0, 1)
    assert run_insns(load64(0, 0x1_0000_0005), load64(1, 0), mod64) == 0x1_0000_0005


@given(u64, st.sampled_from([16, 32, 64]), st.sampled_from([0xD4, 0xDC, 0xD7]))
def test_byte_swaps(value: int, width: int, opcode: int) -> None:
    got = run_insns(load64(0, value), Instruction(opcode, 0, imm=width))
    low = value & ((1 << width) - 1)
    if opcode == 0xD4:
        assert got == low
    else:
        assert got == int.from_bytes(low.to_bytes(width // 8, "little"), "big")


JUMPS = [isa.BPF_JEQ, isa.BPF_JGT, isa.BPF_JGE, isa.BPF_JSET, isa.BPF_JNE, isa.BPF_JSGT,
         isa.BPF_JSGE, isa.BPF_JLT, isa.BPF_JLE, isa.BPF_JSLT, isa.BPF_JSLE]


def jump_model(op: int, is32: bool, a: int, b: int) -> bool:
    mask = M32 if is32 else M64
    a, b = a & mask, b & mask
    sa = ctypes.c_int32(a).value if is32 else ctypes.c_int64(a).value
    sb = ctypes.c_int32(b).value if is32 else ctypes.c_int64(b).value
    return {isa.BPF_JEQ: a == b, isa.BPF_JGT: a > b, isa.BPF_JGE: a >= b,
            isa.BPF_JSET: bool(a & b), isa.BPF_JNE: a != b, isa.BPF_JSGT: sa > sb,
            isa.BPF_JSGE: sa >= sb, isa.BPF_JLT: a < b, isa.BPF_JLE: a <= b,
            isa.BPF_JSLT: sa < sb, isa.BPF_JSLE: sa <= sb}[op]


@given(st.sampled_from(JUMPS), st.booleans(), st.booleans(), u64, u64, imm32)
def test_jumps_match_model(op: int, is32: bool, use_reg: bool, a: int, b: int, imm: int) -> None:
    cls = isa.BPF_JMP32 if is32 else isa.BPF_JMP
    source = isa.BPF_X if use_reg else isa.BPF_K
    jump = Instruction(cls | op | source, 1, 2 if use_reg else 0, 1, 0 if use_reg else imm)
    operand = b if use_reg else imm & M64
    code = [load64(1, a), load64(2, b), Instruction(0xB7, 0, imm=0), jump,
            Instruction(isa.OPCODE_EXIT), Instruction(0xB7, 0, imm=1)]
    assert run_insns(*code) == int(jump_model(op, is32, a, operand))
