"""Round trips: every valid instruction, printed in either syntax, assembles back to
the same bytes; every form of both tables (aliases included) assembles to the
instruction it describes."""

from __future__ import annotations

import functools
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf import isa
from pybpf.asm import (PLACEHOLDERS, SYNTAXES, Kind, _format, _syntax, assemble,
                       assemble_insns, disassemble, disassemble_insn)
from pybpf.isa import Instruction

# --- a strategy for every valid instruction -------------------------------------

REG = st.integers(0, 10)
S16 = st.one_of(st.sampled_from([0, 1, -1, 0x7FFF, -0x8000]),
                st.integers(-(1 << 15), (1 << 15) - 1))
S32 = st.one_of(st.sampled_from([0, 1, -1, 0x7FFFFFFF, -0x80000000, 16, 0x100]),
                st.integers(-(1 << 31), (1 << 31) - 1))
ALU_OPS = (isa.BPF_ADD, isa.BPF_SUB, isa.BPF_MUL, isa.BPF_DIV, isa.BPF_OR, isa.BPF_AND,
           isa.BPF_LSH, isa.BPF_RSH, isa.BPF_MOD, isa.BPF_XOR, isa.BPF_MOV, isa.BPF_ARSH)
SIZES = (isa.BPF_B, isa.BPF_H, isa.BPF_W, isa.BPF_DW)
KINDS = ("alu", "neg", "end", "ja", "ja32", "jcond", "may_goto", "call", "callx", "exit",
         "lddw", "ld_abs", "ld_ind", "ldx", "ldxsx", "st", "stx", "atomic", "acq_rel")


@st.composite
def instructions(draw: st.DrawFn) -> Instruction:
    """Any valid instruction, built field by field from what its opcode allows."""
    kind = draw(st.sampled_from(KINDS))
    if kind == "alu":
        cls = draw(st.sampled_from((isa.BPF_ALU, isa.BPF_ALU64)))
        op = draw(st.sampled_from(ALU_OPS))
        x = draw(st.booleans())
        off = 0
        if op in (isa.BPF_DIV, isa.BPF_MOD):
            off = draw(st.sampled_from((0, 1)))
        elif op == isa.BPF_MOV and x:
            off = draw(st.sampled_from((0, 8, 16, 32) if cls == isa.BPF_ALU64 else (0, 8, 16)))
        if x:
            return Instruction(cls | op | isa.BPF_X, draw(REG), draw(REG), off, 0)
        return Instruction(cls | op | isa.BPF_K, draw(REG), 0, off, draw(S32))
    if kind == "neg":
        cls = draw(st.sampled_from((isa.BPF_ALU, isa.BPF_ALU64)))
        return Instruction(cls | isa.BPF_NEG, draw(REG))
    if kind == "end":
        code = draw(st.sampled_from((0xD4, 0xDC, 0xD7)))
        return Instruction(code, draw(REG), 0, 0, draw(st.sampled_from((16, 32, 64))))
    if kind == "ja":
        return Instruction(isa.OPCODE_JA, off=draw(S16))
    if kind == "ja32":
        return Instruction(isa.OPCODE_JA32, imm=draw(S32))
    if kind == "jcond":
        cls = draw(st.sampled_from((isa.BPF_JMP, isa.BPF_JMP32)))
        op = draw(st.sampled_from(isa.COND_JUMPS))
        if draw(st.booleans()):
            return Instruction(cls | op | isa.BPF_X, draw(REG), draw(REG), draw(S16))
        return Instruction(cls | op | isa.BPF_K, draw(REG), 0, draw(S16), draw(S32))
    if kind == "may_goto":
        return Instruction(isa.BPF_JMP | isa.BPF_JCOND, off=draw(S16))
    if kind == "call":
        src = draw(st.sampled_from((0, 1, 2)))
        off = draw(S16) if src == 2 else 0
        imm = draw(st.one_of(st.integers(0, 250), S32))
        return Instruction(isa.OPCODE_CALL, 0, src, off, imm)
    if kind == "callx":
        return Instruction(isa.OPCODE_CALLX, draw(REG))
    if kind == "exit":
        return Instruction(isa.OPCODE_EXIT)
    if kind == "lddw":
        src = draw(st.integers(0, 6))
        nxt = draw(S32) if src in (0, 2, 6) else 0
        return Instruction(isa.OPCODE_LDDW, draw(REG), src, 0, draw(S32), nxt)
    if kind in ("ld_abs", "ld_ind"):
        size = draw(st.sampled_from(SIZES[:3]))
        if kind == "ld_abs":
            return Instruction(isa.BPF_LD | isa.BPF_ABS | size, imm=draw(S32))
        return Instruction(isa.BPF_LD | isa.BPF_IND | size, 0, draw(REG), 0, draw(S32))
    if kind == "ldx":
        size = draw(st.sampled_from(SIZES))
        return Instruction(isa.BPF_LDX | isa.BPF_MEM | size, draw(REG), draw(REG), draw(S16))
    if kind == "ldxsx":
        size = draw(st.sampled_from(SIZES[:3]))
        return Instruction(isa.BPF_LDX | isa.BPF_MEMSX | size, draw(REG), draw(REG), draw(S16))
    if kind == "st":
        size = draw(st.sampled_from(SIZES))
        return Instruction(isa.BPF_ST | isa.BPF_MEM | size, draw(REG), 0, draw(S16), draw(S32))
    if kind == "stx":
        size = draw(st.sampled_from(SIZES))
        return Instruction(isa.BPF_STX | isa.BPF_MEM | size, draw(REG), draw(REG), draw(S16))
    if kind == "atomic":
        size = draw(st.sampled_from((isa.BPF_W, isa.BPF_DW)))
        imm = draw(st.sampled_from(sorted(isa.ATOMIC_OPS - {isa.BPF_LOAD_ACQ,
                                                            isa.BPF_STORE_REL})))
        return Instruction(isa.BPF_STX | isa.BPF_ATOMIC | size, draw(REG), draw(REG),
                           draw(S16), imm)
    # load-acquire / store-release, every size
    size = draw(st.sampled_from(SIZES))
    imm = draw(st.sampled_from((isa.BPF_LOAD_ACQ, isa.BPF_STORE_REL)))
    return Instruction(isa.BPF_STX | isa.BPF_ATOMIC | size, draw(REG), draw(REG), draw(S16), imm)


@pytest.mark.parametrize("syntax", SYNTAXES)
@given(insn=instructions())
def test_every_valid_instruction_round_trips(syntax: str, insn: Instruction) -> None:
    isa.validate(insn)  # the strategy only builds valid instructions
    code = insn.encode()
    text = disassemble(code, syntax)
    assert text.endswith("\n") and text.count("\n") == 1
    assert assemble(text, syntax) == code, text
    assert assemble_insns(disassemble_insn(insn, syntax), syntax) == [insn]


@pytest.mark.parametrize("syntax", SYNTAXES)
@given(insns=st.lists(instructions(), min_size=1, max_size=30))
def test_programs_round_trip(syntax: str, insns: list[Instruction]) -> None:
    code = isa.encode(insns)
    text = disassemble(code, syntax)
    assert len(text.splitlines()) == len(insns)
    assert assemble(text, syntax) == code


@pytest.mark.parametrize("syntax", SYNTAXES)
@settings(max_examples=100)
@given(insns=st.lists(instructions(), min_size=1, max_size=10), other=st.sampled_from(SYNTAXES))
def test_syntaxes_agree(syntax: str, insns: list[Instruction], other: str) -> None:
    """Text in one syntax, reassembled and printed in the other, keeps the bytes."""
    code = isa.encode(insns)
    there = assemble(disassemble(code, syntax), syntax)
    assert assemble(disassemble(there, other), other) == code


# --- a deterministic sweep of every opcode --------------------------------------

_DSTS = (0, 10)
_SRCS = (0, 1, 2, 4, 6, 10)
_OFFS = (0, 1, 8, 16, 32, -1, -0x8000, 0x7FFF)
_IMMS = (0, 1, 16, 32, 64, -1, 0x7FFFFFFF, -0x80000000, isa.BPF_LOAD_ACQ, isa.BPF_STORE_REL,
         *sorted(isa.ATOMIC_OPS))


@functools.cache
def _sweep() -> tuple[Instruction, ...]:
    out = []
    for opcode in range(256):
        for dst, src, off, imm in itertools.product(_DSTS, _SRCS, _OFFS, _IMMS):
            insn = Instruction(opcode, dst, src, off, imm, -5 if opcode == isa.OPCODE_LDDW
                               and src in (0, 2, 6) else 0)
            try:
                isa.validate(insn)
            except isa.InvalidInstruction:
                continue
            out.append(insn)
    return tuple(out)


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_opcode_sweep_round_trips(syntax: str) -> None:
    insns = _sweep()
    # every valid opcode is in there: ALU 27 + ALU64 26 + JMP 27 + JMP32 23 + LD 7
    # + LDX 7 + ST 4 + STX 8
    assert len({i.opcode for i in insns}) == 129
    code = isa.encode(insns)
    assert assemble(disassemble(code, syntax), syntax) == code


# --- every form of the tables, aliases included ------------------------------------

_SAMPLE = {Kind.REG64: 3, Kind.REG32: 4, Kind.IMM: -7, Kind.XIMM: 0x1234, Kind.SIMM: -9,
           Kind.IMM64: 0x7777, Kind.MEMOFF: -16, Kind.KOFF: 5, Kind.JOFF: -2, Kind.JIMM: 3,
           Kind.PCIMM: 4, Kind.HELPER: 1}


def _example(form) -> Instruction:
    vals = dict(form.fixed)
    for name in PLACEHOLDERS:
        if "{" + name + "}" in form.template:
            fld, kind = PLACEHOLDERS[name]
            vals[fld] = _SAMPLE[kind]
            if kind is Kind.IMM64:
                vals["next_imm"] = 0x11
    if form.opcode == isa.OPCODE_LDDW and vals.get("src", 0) not in (0, 2, 6):
        vals["next_imm"] = 0
    return Instruction(form.opcode, vals.get("dst", 0), vals.get("src", 0), vals.get("off", 0),
                       vals.get("imm", 0), vals.get("next_imm", 0))


def _render(form, insn: Instruction, syntax: str) -> str:
    syn = _syntax(syntax)
    text = form.template
    for name in PLACEHOLDERS:
        text = text.replace("{" + name + "}", _format(name, insn, syn))
    return text


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_every_form_assembles_to_its_instruction(syntax: str) -> None:
    syn = _syntax(syntax)
    for form in syn.forms:
        insn = _example(form)
        isa.validate(insn)
        text = _render(form, insn, syntax)
        assert assemble_insns(text, syntax) == [insn], (form.template, text)


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_every_canonical_form_is_printed(syntax: str) -> None:
    """No printable form is shadowed by an earlier one."""
    syn = _syntax(syntax)
    for form in syn.forms:
        if form.canonical:
            insn = _example(form)
            assert disassemble_insn(insn, syntax) == _render(form, insn, syntax)


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_aliases_print_in_canonical_form(syntax: str) -> None:
    syn = _syntax(syntax)
    for form in syn.forms:
        if not form.canonical:
            insn = _example(form)
            text = disassemble_insn(insn, syntax)
            assert text != _render(form, insn, syntax)
            assert assemble_insns(text, syntax) == [insn]
