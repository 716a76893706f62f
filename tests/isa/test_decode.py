"""Decoding and encoding of bytecode: exact round trips and strict validation."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, strategies as st

from pybpf import check, isa
from pybpf.conformance import parse_data
from pybpf.errors import InvalidInstruction, InvalidProgram
from tests.conftest import conformance_dir


def word(opcode: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", opcode, (src << 4) | dst, off, imm)


def test_simple_program_roundtrip() -> None:
    code = word(0xB7, 0, imm=1) + word(0x95)
    insns = isa.decode(code)
    assert insns == [isa.Instruction(0xB7, 0, 0, 0, 1), isa.Instruction(0x95)]
    assert isa.encode(insns) == code


def test_lddw_is_two_slots() -> None:
    insn = isa.Instruction.lddw(1, 0x1122334455667788)
    code = insn.encode()
    assert len(code) == 16
    assert code.hex() == "18010000887766550000000044332211"
    (back,) = isa.decode(code)
    assert back == insn and back.imm64 == 0x1122334455667788 and back.slots == 2


@pytest.mark.parametrize("src", range(7))
def test_lddw_every_pseudo_src(src: int) -> None:
    hi = 8 if src in (0, 2, 6) else 0
    insn = isa.Instruction(isa.OPCODE_LDDW, 1, src, 0, 5, hi)
    assert isa.decode(insn.encode()) == [insn]


def test_lddw_pseudo_src_7_rejected() -> None:
    with pytest.raises(InvalidInstruction, match="lddw"):
        isa.decode(isa.Instruction(isa.OPCODE_LDDW, 1, 7, 0, 5).encode())


@pytest.mark.parametrize("second", [0x100, 0x1000, 0x10000, 0x11000, 0x10100, 0x01])
def test_lddw_second_half_reserved(second: int) -> None:
    code = bytes.fromhex("1800000000000000") + second.to_bytes(8, "little")
    with pytest.raises(InvalidInstruction, match="second half") as e:
        isa.decode(code)
    assert e.value.pc == 1


def test_incomplete_lddw() -> None:
    with pytest.raises(InvalidInstruction, match="incomplete lddw"):
        isa.decode(bytes.fromhex("1800000088776655"))


def test_truncated_code() -> None:
    with pytest.raises(InvalidInstruction, match="multiple of 8"):
        isa.decode(b"\x95\0\0\0")


@pytest.mark.parametrize("code,reason", [
    (word(0xB7, 11, imm=1), "destination register"),
    (word(0xBF, 0, 11), "source register"),
    (word(0xDC, 1, imm=33), "endian immediate"),
    (word(0xDF, 1, imm=16), "unknown opcode"),       # ALU64|END|TO_BE does not exist
    (word(0x8F, 1), "unknown opcode"),               # neg with a source register
    (word(0xE7, 1), "unknown opcode"),               # ALU op 0xe0
    (word(0x86), "unknown opcode"),                  # call in JMP32
    (word(0x96), "unknown opcode"),                  # exit in JMP32
    (word(0x38), "unknown opcode"),                  # LD_ABS dw
    (word(0x99, 0, 1), "unknown opcode"),            # LDX|MEMSX|DW
    (word(0xC3, 1, 2, imm=0x02), "atomic"),          # unknown atomic op
    (word(0xD3, 1, 2, imm=0x00), "size"),            # atomic add on a byte
    (word(0x85, src=3, imm=1), "call source"),
    (word(0xBC, 0, 1, off=32), "sign-extension"),    # ALU32 movsx from 32 bits
    (word(0x3F, 0, 1, off=2), "div/mod"),
    (word(0xC7, 0, imm=0, off=1), "reserved field off"),
])
def test_invalid_instructions(code: bytes, reason: str) -> None:
    with pytest.raises(InvalidInstruction, match=reason):
        isa.decode(code)


def test_negative_unused_vectors_rejected() -> None:
    """The 45 `unused-*` vectors each set one reserved field: decoding must fail."""
    files = sorted(conformance_dir("bpf_conformance", "negative").glob("unused-*.data"))
    assert len(files) == 45
    for f in files:
        raw = parse_data(f).raw
        assert raw is not None
        with pytest.raises(InvalidInstruction, match="reserved|unknown|offset"):
            isa.decode(raw)


@given(st.binary(min_size=8, max_size=8 * 6))
def test_any_decodable_bytes_reencode_exactly(data: bytes) -> None:
    """For arbitrary bytes, decoding either fails cleanly or re-encodes to the same bytes."""
    data = data[: len(data) // 8 * 8]
    try:
        insns = isa.decode(data)
    except InvalidInstruction as e:
        assert 0 <= e.pc <= len(data) // 8
        return
    assert isa.encode(insns) == data


@given(st.integers(0, 255), st.integers(0, 15), st.integers(0, 15),
       st.integers(-(1 << 15), (1 << 15) - 1), st.integers(-(1 << 31), (1 << 31) - 1))
def test_field_roundtrip(opcode: int, dst: int, src: int, off: int, imm: int) -> None:
    insn = isa.Instruction(opcode, dst, src, off, imm)
    if opcode == isa.OPCODE_LDDW:
        return
    (back,) = isa.decode(insn.encode(), check=False)
    assert back == insn


def test_check_program_jumps() -> None:
    ja = lambda off: isa.Instruction(isa.OPCODE_JA, off=off)  # noqa: E731
    exit_ = isa.Instruction(isa.OPCODE_EXIT)
    with pytest.raises(InvalidProgram, match="out of bounds"):
        check.check_program([ja(2), exit_])
    with pytest.raises(InvalidProgram, match="infinite loop"):
        check.check_program([ja(-1), exit_])
    with pytest.raises(InvalidProgram, match="middle of lddw"):
        check.check_program([ja(1), isa.Instruction.lddw(0, 1), exit_])
    with pytest.raises(InvalidProgram, match="read only"):
        check.check_program([isa.Instruction(0xB7, 10, imm=1), exit_])
    with pytest.raises(InvalidProgram, match="empty"):
        check.check_program([])
    with pytest.raises(InvalidProgram, match="too many"):
        check.check_program([isa.Instruction(0xB7, 0)] * 10 + [exit_], max_insns=10)
    with pytest.raises(InvalidProgram, match="does not end"):
        check.check_program([isa.Instruction(0xB7, 0)])


def test_check_program_functions() -> None:
    call = isa.Instruction(isa.OPCODE_CALL, src=isa.BPF_PSEUDO_CALL, imm=1)
    exit_ = isa.Instruction(isa.OPCODE_EXIT)
    check.check_program([call, exit_, exit_])
    # a jump from the sub-function back into the main one
    back = isa.Instruction(isa.OPCODE_JA, off=-3)
    with pytest.raises(InvalidProgram, match="leaves its function"):
        check.check_program([call, exit_, back, exit_])
    with pytest.raises(InvalidProgram, match="does not end"):
        check.check_program([isa.Instruction(0xB7, 0),
                             isa.Instruction(isa.OPCODE_CALL, src=isa.BPF_PSEUDO_CALL, imm=0),
                             exit_])
