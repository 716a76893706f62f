"""Every instruction form of the builder, with operands drawn by hypothesis: the
instruction encodes to bytes that pybpf.isa decodes back to the same instruction, its
disassembly is the kernel-syntax text written here by hand, and assembling that text
gives the same instruction (so builder, assembler and disassembler agree)."""

from __future__ import annotations

from typing import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf import isa
from pybpf.asm import assemble_insns, disassemble_insn
from pybpf.builder import FunctionBuilder, Reg
from pybpf.helper_ids import HELPER_NAMES

REG = st.integers(0, 10)
IMM = st.integers(-(1 << 31), (1 << 31) - 1)
OFF = st.integers(-(1 << 15), (1 << 15) - 1)
SIZES = (("b", 8), ("h", 16), ("w", 32), ("dw", 64))


def _xhex(v: int) -> str:
    return f"-{-v:#x}" if v < 0 else f"{v:#x}"


def _off(v: int) -> str:
    return f"{v:+d}"


# each form: draw operands, call the builder, return the text the kernel syntax prints
Form = Callable[[FunctionBuilder, st.DataObject], str]
FORMS: dict[str, Form] = {}

ALU = (("add", "+="), ("sub", "-="), ("mul", "*="), ("div", "/="), ("or", "|="),
       ("and", "&="), ("lsh", "<<="), ("rsh", ">>="), ("mod", "%="), ("xor", "^="),
       ("mov", "="), ("arsh", "s>>="), ("sdiv", "s/="), ("smod", "s%="))


def _alu_form(op: str, sym: str, width: int, reg: bool) -> Form:
    p = "r" if width == 64 else "w"

    def form(f: FunctionBuilder, data: st.DataObject) -> str:
        d = data.draw(REG)
        if reg:
            s = data.draw(REG)
            getattr(f, f"{op}{width}")(Reg(d), Reg(s))
            return f"{p}{d} {sym} {p}{s}"
        imm = data.draw(IMM)
        getattr(f, f"{op}{width}")(Reg(d), imm)
        return f"{p}{d} {sym} {imm}"
    return form


for _op, _sym in ALU:
    for _w in (64, 32):
        FORMS[f"{_op}{_w}_imm"] = _alu_form(_op, _sym, _w, False)
        FORMS[f"{_op}{_w}_reg"] = _alu_form(_op, _sym, _w, True)


def _neg(width: int) -> Form:
    def form(f: FunctionBuilder, data: st.DataObject) -> str:
        d = data.draw(REG)
        getattr(f, f"neg{width}")(Reg(d))
        p = "r" if width == 64 else "w"
        return f"{p}{d} = -{p}{d}"
    return form


FORMS["neg64"], FORMS["neg32"] = _neg(64), _neg(32)


def _movsx(width: int, bits: int) -> Form:
    def form(f: FunctionBuilder, data: st.DataObject) -> str:
        d, s = data.draw(REG), data.draw(REG)
        getattr(f, f"movsx{width}")(Reg(d), Reg(s), bits)
        p = "r" if width == 64 else "w"
        return f"{p}{d} = (s{bits}){p}{s}"
    return form


for _bits in (8, 16, 32):
    FORMS[f"movsx64_{_bits}"] = _movsx(64, _bits)
for _bits in (8, 16):
    FORMS[f"movsx32_{_bits}"] = _movsx(32, _bits)


def _endian(name: str, bits: int) -> Form:
    def form(f: FunctionBuilder, data: st.DataObject) -> str:
        d = data.draw(REG)
        getattr(f, f"{name}{bits}")(Reg(d))
        return f"r{d} = {name}{bits} r{d}"
    return form


for _name in ("be", "le", "bswap"):
    for _bits in (16, 32, 64):
        FORMS[f"{_name}{_bits}"] = _endian(_name, _bits)


def _ldx(size: str, bits: int, signed: bool) -> Form:
    def form(f: FunctionBuilder, data: st.DataObject) -> str:
        d, s, off = data.draw(REG), data.draw(REG), data.draw(OFF)
        getattr(f, f"ldx{'s' if signed else ''}{size}")(Reg(d), Reg(s), off)
        return f"r{d} = *({'s' if signed else 'u'}{bits} *)(r{s} {_off(off)})"
    return form


def _stx(size: str, bits: int) -> Form:
    def form(f: FunctionBuilder, data: st.DataObject) -> str:
        d, s, off = data.draw(REG), data.draw(REG), data.draw(OFF)
        getattr(f, f"stx{size}")(Reg(d), off, Reg(s))
        return f"*(u{bits} *)(r{d} {_off(off)}) = r{s}"
    return form


def _st(size: str, bits: int) -> Form:
    def form(f: FunctionBuilder, data: st.DataObject) -> str:
        d, off, imm = data.draw(REG), data.draw(OFF), data.draw(IMM)
        getattr(f, f"st{size}")(Reg(d), off, imm)
        return f"*(u{bits} *)(r{d} {_off(off)}) = {imm}"
    return form


for _size, _bits in SIZES:
    FORMS[f"ldx{_size}"] = _ldx(_size, _bits, False)
    FORMS[f"stx{_size}"] = _stx(_size, _bits)
    FORMS[f"st{_size}"] = _st(_size, _bits)
    if _size != "dw":
        FORMS[f"ldxs{_size}"] = _ldx(_size, _bits, True)


def _atomic(op: str, sym: str, size: str, bits: int, fetch: bool) -> Form:
    def form(f: FunctionBuilder, data: st.DataObject) -> str:
        d, s, off = data.draw(REG), data.draw(REG), data.draw(OFF)
        getattr(f, f"atomic_{op}")(size, Reg(d), off, Reg(s), fetch=fetch)
        v = ("r" if bits == 64 else "w") + str(s)
        mem = f"(u{bits} *)(r{d} {_off(off)})"
        return f"{v} = atomic_fetch_{op}({mem}, {v})" if fetch else f"lock *{mem} {sym} {v}"
    return form


for _op, _sym in (("add", "+="), ("or", "|="), ("and", "&="), ("xor", "^=")):
    for _size, _bits in (("w", 32), ("dw", 64)):
        for _fetch in (False, True):
            FORMS[f"atomic_{_op}_{_size}{'_fetch' if _fetch else ''}"] = \
                _atomic(_op, _sym, _size, _bits, _fetch)


def _xchg(size: str, bits: int, cmp: bool) -> Form:
    def form(f: FunctionBuilder, data: st.DataObject) -> str:
        d, s, off = data.draw(REG), data.draw(REG), data.draw(OFF)
        p = "r" if bits == 64 else "w"
        mem = f"(u{bits} *)(r{d} {_off(off)})"
        if cmp:
            f.atomic_cmpxchg(size, Reg(d), off, Reg(s))
            return f"{p}0 = cmpxchg({mem}, {p}0, {p}{s})"
        f.atomic_xchg(size, Reg(d), off, Reg(s))
        return f"{p}{s} = xchg({mem}, {p}{s})"
    return form


def _acq_rel(size: str, bits: int, store: bool) -> Form:
    def form(f: FunctionBuilder, data: st.DataObject) -> str:
        d, s, off = data.draw(REG), data.draw(REG), data.draw(OFF)
        p = "r" if bits == 64 else "w"
        if store:
            f.store_release(size, Reg(d), off, Reg(s))
            return f"store_release((u{bits} *)(r{d} {_off(off)}), {p}{s})"
        f.load_acquire(size, Reg(d), Reg(s), off)
        return f"{p}{d} = load_acquire((u{bits} *)(r{s} {_off(off)}))"
    return form


for _size, _bits in (("w", 32), ("dw", 64)):
    FORMS[f"xchg_{_size}"] = _xchg(_size, _bits, False)
    FORMS[f"cmpxchg_{_size}"] = _xchg(_size, _bits, True)
for _size, _bits in SIZES:
    FORMS[f"load_acquire_{_size}"] = _acq_rel(_size, _bits, False)
    FORMS[f"store_release_{_size}"] = _acq_rel(_size, _bits, True)

JUMPS = (("jeq", "=="), ("jne", "!="), ("jgt", ">"), ("jge", ">="), ("jlt", "<"),
         ("jle", "<="), ("jsgt", "s>"), ("jsge", "s>="), ("jslt", "s<"), ("jsle", "s<="),
         ("jset", "&"))


def _jump(op: str, sym: str, width: int, reg: bool) -> Form:
    p = "r" if width == 64 else "w"
    suffix = "" if width == 64 else "32"

    def form(f: FunctionBuilder, data: st.DataObject) -> str:
        d, off = data.draw(REG), data.draw(OFF)
        if reg:
            s = data.draw(REG)
            getattr(f, f"{op}{suffix}")(Reg(d), Reg(s), off)
            return f"if {p}{d} {sym} {p}{s} goto {_off(off)}"
        imm = data.draw(IMM)
        getattr(f, f"{op}{suffix}")(Reg(d), imm, off)
        return f"if {p}{d} {sym} {_xhex(imm)} goto {_off(off)}"
    return form


for _op, _sym in JUMPS:
    for _w in (64, 32):
        FORMS[f"{_op}{_w}_imm"] = _jump(_op, _sym, _w, False)
        FORMS[f"{_op}{_w}_reg"] = _jump(_op, _sym, _w, True)


def _ja(f: FunctionBuilder, data: st.DataObject) -> str:
    off = data.draw(OFF)
    f.ja(off)
    return f"goto {_off(off)}"


def _ja32(f: FunctionBuilder, data: st.DataObject) -> str:
    imm = data.draw(IMM)
    f.ja32(imm)
    return f"gotol {_off(imm)}"


def _may_goto(f: FunctionBuilder, data: st.DataObject) -> str:
    off = data.draw(OFF)
    f.may_goto(off)
    return f"may_goto {_off(off)}"


def _call(f: FunctionBuilder, data: st.DataObject) -> str:
    hid = data.draw(st.sampled_from(sorted(h for h in HELPER_NAMES if h)))
    if data.draw(st.booleans()):
        f.call(hid)
    else:
        f.call(data.draw(st.sampled_from(["", "bpf_"])) + HELPER_NAMES[hid])
    return f"call bpf_{HELPER_NAMES[hid]}"


def _callx(f: FunctionBuilder, data: st.DataObject) -> str:
    d = data.draw(REG)
    f.callx(Reg(d))
    return f"callx r{d}"


def _exit(f: FunctionBuilder, data: st.DataObject) -> str:
    f.exit()
    return "exit"


def _lddw(f: FunctionBuilder, data: st.DataObject) -> str:
    d, v = data.draw(REG), data.draw(st.integers(-(1 << 63), (1 << 64) - 1))
    f.lddw(Reg(d), v)
    return f"r{d} = {v & isa.M64:#x} ll"


def _ld_abs(f: FunctionBuilder, data: st.DataObject) -> str:
    size, bits = data.draw(st.sampled_from(SIZES[:3]))
    imm = data.draw(IMM)
    f.ld_abs(size, imm)
    return f"r0 = *(u{bits} *)skb[{imm}]"


def _ld_ind(f: FunctionBuilder, data: st.DataObject) -> str:
    size, bits = data.draw(st.sampled_from(SIZES[:3]))
    s, imm = data.draw(REG), data.draw(IMM)
    f.ld_ind(size, Reg(s), imm)
    return f"r0 = *(u{bits} *)skb[r{s} {'-' if imm < 0 else '+'} {abs(imm)}]"


FORMS.update(ja=_ja, ja32=_ja32, may_goto=_may_goto, call=_call, callx=_callx, exit=_exit,
             lddw=_lddw, ld_abs=_ld_abs, ld_ind=_ld_ind)


@pytest.mark.parametrize("name", sorted(FORMS))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_form_round_trips(name: str, data: st.DataObject) -> None:
    f = FunctionBuilder("f", source_lines=False)
    text = FORMS[name](f, data)
    assert len(f.items) == 1 and f.items[0].ref is None
    insn = f.items[0].insn
    code = insn.encode()
    assert len(code) == 8 * insn.slots
    assert isa.decode(code) == [insn]
    assert disassemble_insn(insn) == text
    assert assemble_insns(text) == [insn]


def test_every_method_is_covered() -> None:
    """Each public instruction method of FunctionBuilder has a form above (or is an
    alias, or takes a name the linker resolves: tested in test_builder_link.py)."""
    resolved_by_linker = {"ld_map_fd", "ld_map_value", "ld_global", "ld_func", "call_func",
                          "call_kfunc",
                          "label", "ret", "ld_imm64"}
    generic = {"ldx", "ldxs", "stx", "st"}  # the sized shortcuts call these
    sized_atomics = {"atomic_add", "atomic_or", "atomic_and", "atomic_xor", "atomic_xchg",
                     "atomic_cmpxchg", "load_acquire", "store_release"}
    methods = {m for m in dir(FunctionBuilder) if not m.startswith("_")} - {"items", "labels",
                                                                             "name"}
    covered = {n.split("_imm")[0].split("_reg")[0] for n in FORMS}
    covered |= {f"{op}{w}" for op, _ in ALU for w in (64, 32)}
    covered |= {"movsx64", "movsx32"} | {f"{op}{'' if w == 64 else '32'}"
                                         for op, _ in JUMPS for w in (64, 32)}
    missing = methods - covered - resolved_by_linker - generic - sized_atomics
    assert not missing, missing
