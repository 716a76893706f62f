"""Syntax errors: every one is an AsmError naming the 1-based line and column of the
offending token, with a reason that says what is wrong."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pybpf.asm import SYNTAXES, assemble, assemble_insns
from pybpf.errors import AsmError, PyBPFError

CASES = [
    # (syntax, text, line, column, reason regex)
    ("kernel", "foo r0", 1, 1, "unknown instruction 'foo'"),
    ("kernel", "exit\n  frob", 2, 3, "unknown instruction 'frob'"),
    ("kernel", "r11 = 1", 1, 1, "invalid register 'r11'"),
    ("kernel", "r1 = r12", 1, 6, "invalid register 'r12'"),
    ("kernel", "w0 += w11", 1, 7, "invalid register 'w11'"),
    ("kernel", "r01 = 1", 1, 1, "invalid register 'r01'"),
    ("kernel", "r0 = %r1", 1, 6, "invalid register '%r1'"),
    ("kernel", "r0 = 0x100000000", 1, 6, "out of range"),
    ("kernel", "r0 = 2147483648", 1, 6, "out of range"),
    ("kernel", "r0 = -2147483649", 1, 6, "out of range"),
    ("kernel", "w0 = -0x80000001", 1, 6, "out of range"),
    ("kernel", "r1 = 0x1122334455667788", 1, 6, "out of range"),
    ("kernel", "r1 = 0x10000000000000000 ll", 1, 6, "out of range for 64 bits"),
    ("kernel", "r0 = *(u8 *)(r1 +32768)", 1, 17, "offset \\+32768 out of range"),
    ("kernel", "*(u8 *)(r1 -32769) = 1", 1, 12, "offset -32769 out of range"),
    ("kernel", "if r1 > 0x100000000 goto +1", 1, 9, "out of range"),
    ("kernel", "goto +32768", 1, 6, "jump offset \\+32768 out of range"),
    ("kernel", "if r1 == r2 goto pc-32769", 1, 18, "jump offset pc-32769 out of range"),
    ("kernel", "call kfunc 1, 40000", 1, 15, "offset 40000 out of range"),
    ("kernel", "r1 = map_value(1, 0x100000000)", 1, 19, "out of range"),
    ("kernel", "exit\ngoto nowhere", 2, 6, "undefined label 'nowhere'"),
    ("kernel", "a: exit\nb: exit\na: exit", 3, 1,
     "duplicate label 'a' \\(first defined on line 1\\)"),
    ("kernel", "r1: exit", 1, 1, "invalid label name 'r1'"),
    ("kernel", "r0 = -r1", 1, 7, "expected r0 again"),
    ("kernel", "r0 = be16 r1", 1, 11, "expected r0 again"),
    ("kernel", "r0 += w1", 1, 7, "unexpected 'w1'"),
    ("kernel", "r0 +=", 1, 6, "unexpected end of line"),
    ("kernel", "r0 = 1 2", 1, 8, "unexpected '2'"),
    ("kernel", "r0 = *(u128 *)(r1 +0)", 1, 8, "unexpected 'u128'"),
    ("kernel", "call +1", 1, 6, "unexpected '\\+'"),
    ("kernel", "call no_such_thing_or_label", 1, 6, "undefined label"),
    ("kernel", "r0 = 0xg1", 1, 6, "invalid number '0xg1'"),
    ("kernel", "r0 = 12abc", 1, 6, "invalid number '12abc'"),
    ("kernel", "r0 = 1 @", 1, 8, "unexpected character '@'"),
    ("kernel", "r0 = {imm}", 1, 6, "unexpected character '{'"),
    ("kernel", "", 1, 1, "empty program"),
    ("kernel", "; nothing here\n\n  # or here\nlabel:\n", 1, 1, "empty program"),
    ("kernel", "lock *(u8 *)(r1 +0) += w2", 1, 8, "unexpected 'u8'"),
    ("conformance", "ldxq %r0, %r1", 1, 1, "unknown mnemonic 'ldxq'"),
    ("conformance", "mov %r11, 1", 1, 5, "invalid register '%r11'"),
    ("conformance", "or %r0, %r50", 1, 9, "invalid register '%r50'"),
    ("conformance", "mov r0, 1", 1, 5, "unexpected 'r0', expected register %rN"),
    ("conformance", "mov %r0, %w1", 1, 10, "invalid register '%w1'"),
    ("conformance", "lddw %r0", 1, 1,
     "invalid number of operands for 'lddw': expected 2 or 3, got 1"),
    ("conformance", "exit %r0", 1, 1, "invalid number of operands for 'exit': expected 0, got 1"),
    ("conformance", "add %r0, %r1, %r2", 1, 1, "expected 2, got 3"),
    ("conformance", "lock", 1, 5, "incomplete or unknown 'lock' instruction"),
    ("conformance", "lock nand [%r1], %r2", 1, 6, "incomplete or unknown 'lock'"),
    ("conformance", "mov32 %r0, 2147483648", 1, 12, "out of range"),
    ("conformance", "mov32 %r0, 0x100000000", 1, 12, "out of range"),
    ("conformance", "ldxb %r0, [%r1+0x10000]", 1, 15, "out of range"),
    ("conformance", "ldxb %r0, %r1", 1, 11, "expected '\\['"),
    ("conformance", "ja NOT_A_LABEL\nexit", 1, 4, "undefined label 'NOT_A_LABEL'"),
    ("conformance", "ja 3", 1, 4, "expected label or \\+N/-N"),
    ("conformance", "ja +32768", 1, 4, "out of range"),
    ("conformance", "jeq %r1, 5", 1, 1, "expected 3, got 2"),
    ("conformance", "", 1, 1, "empty program"),
    ("conformance", "neg %r0, 1", 1, 1, "expected 1, got 2"),
]


@pytest.mark.parametrize("syntax,text,line,col,reason", CASES)
def test_error_position_and_reason(syntax: str, text: str, line: int, col: int,
                                   reason: str) -> None:
    with pytest.raises(AsmError, match=reason) as info:
        assemble(text, syntax=syntax)
    err = info.value
    assert (err.line, err.column) == (line, col), str(err)
    assert isinstance(err, PyBPFError)
    assert str(err).startswith(f"line {line}, column {col}: ")


def _far_program(jump: str, gap: int, filler: str = "r0 = 0") -> str:
    return f"{jump}\n" + f"{filler}\n" * gap + "far:\nexit\n"


def test_jump_to_label_out_of_s16_range() -> None:
    assemble(_far_program("goto far", 32767))                # the largest forward offset
    with pytest.raises(AsmError, match="jump to 'far' out of range: offset \\+32768") as info:
        assemble(_far_program("goto far", 32768))
    assert (info.value.line, info.value.column) == (1, 6)
    with pytest.raises(AsmError, match="does not fit in 16 bits"):
        assemble(_far_program("jeq %r1, 0, far", 40000, "mov %r0, 0"), syntax="conformance")


def test_wide_jumps_reach_further() -> None:
    insns = assemble_insns(_far_program("gotol far", 40000))
    assert insns[0].imm == 40000
    insns = assemble_insns(_far_program("call local far", 40000, "mov %r0, 0"),
                           syntax="conformance")
    assert insns[0].imm == 40000


def test_error_on_a_later_line_after_labels_and_comments() -> None:
    text = "start:  ; comment\n\tr0 = 1\n# c\n\tr0 = r1 +\n"
    with pytest.raises(AsmError) as info:
        assemble(text)
    assert (info.value.line, info.value.column) == (4, 10)


TOKENS = ["r0", "r1", "w2", "r10", "r11", "%r1", "=", "+=", "s>>=", "-", "+", "1", "0x10",
          "-5", "(", ")", "*", "u8", "u64", "s16", "[", "]", ",", ":", "goto", "if", ">",
          "call", "exit", "lock", "ll", "lddw", "mov", "ldxb", "ja", "skb", "pc", "lbl",
          "lbl:", "map_fd", "func", "atomic_fetch_add", "load_acquire", "#", ";", "\n",
          "be16", "kfunc", "may_goto", "fetch", "local", "@", "{", "99999999999999999999"]


@pytest.mark.parametrize("syntax", SYNTAXES)
@given(words=st.lists(st.sampled_from(TOKENS), max_size=12))
def test_garbage_only_ever_raises_asm_error(syntax: str, words: list[str]) -> None:
    try:
        assemble(" ".join(words), syntax=syntax)
    except AsmError as e:
        assert e.line >= 1 and e.column >= 1


@pytest.mark.parametrize("syntax", SYNTAXES)
@given(text=st.text(max_size=40))
def test_arbitrary_text_only_ever_raises_asm_error(syntax: str, text: str) -> None:
    try:
        assemble(text, syntax=syntax)
    except AsmError as e:
        assert e.line >= 1 and e.column >= 1
