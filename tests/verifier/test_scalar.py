"""Soundness of the scalar ALU transfer functions and of the conditional-jump
refinement: random states (tnum + s64/u64/s32/u32 bounds, synced as the kernel does)
with a concrete member; the concrete result of every BPF_ALU/ALU64 operation is a
member of the resulting state (hypothesis, against alu.concrete)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.isa import (BPF_ADD, BPF_AND, BPF_ARSH, BPF_DIV, BPF_JEQ, BPF_JGE, BPF_JGT,
                       BPF_JLE, BPF_JLT, BPF_JNE, BPF_JSET, BPF_JSGE, BPF_JSGT, BPF_JSLE,
                       BPF_JSLT, BPF_LSH, BPF_MOD, BPF_MUL, BPF_NEG, BPF_OR, BPF_RSH, BPF_SUB,
                       BPF_XOR)
from pybpf.verifier.alu import concrete, scalar_alu, scalar_end
from pybpf.verifier.branch import is_scalar_branch_taken, reg_set_min_max
from pybpf.verifier.reg import (M32, M64, Reg, bounds_sane, bounds_sync, coerce_to_size,
                                coerce_to_size_sx, mark_known, s32, s64, scalar_unknown)
from pybpf.verifier.tnum import Tnum


def member_of(r: Reg, v: int) -> bool:
    v &= M64
    return (r.var_off.contains(v) and r.umin <= v <= r.umax and r.smin <= s64(v) <= r.smax
            and r.u32_min <= v & M32 <= r.u32_max and r.s32_min <= s32(v) <= r.s32_max)


@st.composite
def scalar_with_member(draw):
    """A scalar state around a concrete value: a window of bounds and a tnum."""
    v = draw(st.one_of(st.integers(0, 300), st.integers(0, M64),
                       st.integers(M64 - 300, M64), st.integers(0, M32)))
    r = scalar_unknown()
    kind = draw(st.integers(0, 4))
    if kind == 0:
        mark_known(r, v)
        return r, v
    if kind >= 1:
        lo = draw(st.integers(0, 1 << draw(st.integers(0, 64))))
        hi = draw(st.integers(0, 1 << draw(st.integers(0, 64))))
        r.umin = max(0, v - lo)
        r.umax = min(M64, v + hi)
    if kind >= 2:
        mask = draw(st.integers(0, M64))
        r.var_off = Tnum(v & ~mask, mask)
    if kind >= 3:
        sv = s64(v)
        r.smin = max(-(1 << 63), sv - draw(st.integers(0, 1 << 40)))
        r.smax = min((1 << 63) - 1, sv + draw(st.integers(0, 1 << 40)))
    bounds_sync(r)
    assert member_of(r, v)
    return r, v


ALU_OPS = [BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND, BPF_LSH, BPF_RSH, BPF_ARSH,
           BPF_MOD, BPF_XOR]


@settings(max_examples=3000, deadline=None)
@given(scalar_with_member(), scalar_with_member(), st.sampled_from(ALU_OPS), st.booleans())
def test_alu_sound(a, b, op, alu32):
    (ra, va), (rb, vb) = a, b
    bits = 32 if alu32 else 64
    if op in (BPF_LSH, BPF_RSH, BPF_ARSH):
        vb %= bits
        mark_known(rb, vb)
    d = ra.copy()
    scalar_alu(op, d, rb, alu32)
    res = concrete(op, va, vb, alu32)
    assert member_of(d, res), (op, alu32, va, vb, res)


@settings(max_examples=1000, deadline=None)
@given(scalar_with_member(), st.booleans())
def test_neg_sound(a, alu32):
    r, v = a
    d = r.copy()
    scalar_alu(BPF_NEG, d, d, alu32)
    assert member_of(d, concrete(BPF_NEG, v, 0, alu32))


@settings(max_examples=1000, deadline=None)
@given(scalar_with_member(), st.sampled_from([16, 32, 64]), st.booleans(), st.booleans())
def test_end_sound(a, bits, to_be, alu64):
    r, v = a
    d = r.copy()
    scalar_end(d, bits, to_be, alu64)
    n = bits // 8
    low = v & ((1 << bits) - 1)
    res = int.from_bytes(low.to_bytes(n, "little"), "big") if (to_be or alu64) else low
    assert member_of(d, res)


@settings(max_examples=1000, deadline=None)
@given(scalar_with_member(), st.sampled_from([1, 2, 4, 8]))
def test_casts_sound(a, size):
    r, v = a
    d = r.copy()
    coerce_to_size(d, size)
    assert member_of(d, v & ((1 << (8 * size)) - 1))
    if size == 8:  # sign extension takes 1, 2 or 4 bytes
        return
    d = r.copy()
    coerce_to_size_sx(d, size)
    low = v & ((1 << (8 * size)) - 1)
    sv = low - (1 << (8 * size)) if low >> (8 * size - 1) else low
    assert member_of(d, sv)


JMP_OPS = [BPF_JEQ, BPF_JNE, BPF_JGT, BPF_JGE, BPF_JLT, BPF_JLE, BPF_JSGT, BPF_JSGE,
           BPF_JSLT, BPF_JSLE, BPF_JSET]


def taken(op: int, a: int, b: int, jmp32: bool) -> bool:
    m = M32 if jmp32 else M64
    a &= m
    b &= m
    sa, sb = (s32(a), s32(b)) if jmp32 else (s64(a), s64(b))
    return {BPF_JEQ: a == b, BPF_JNE: a != b, BPF_JGT: a > b, BPF_JGE: a >= b,
            BPF_JLT: a < b, BPF_JLE: a <= b, BPF_JSGT: sa > sb, BPF_JSGE: sa >= sb,
            BPF_JSLT: sa < sb, BPF_JSLE: sa <= sb, BPF_JSET: bool(a & b)}[op]


@settings(max_examples=3000, deadline=None)
@given(scalar_with_member(), scalar_with_member(), st.sampled_from(JMP_OPS), st.booleans())
def test_branch_refinement_sound(a, b, op, jmp32):
    (ra, va), (rb, vb) = a, b
    t = taken(op, va, vb, jmp32)
    pred = is_scalar_branch_taken(ra, rb, op, jmp32)
    if pred != -1:
        assert pred == int(t)
        return
    t1, t2, f1, f2 = ra.copy(), rb.copy(), ra.copy(), rb.copy()
    ok_t, ok_f = reg_set_min_max(t1, t2, f1, f2, op, jmp32)
    if t:
        assert ok_t and member_of(t1, va) and member_of(t2, vb)
    else:
        assert ok_f and member_of(f1, va) and member_of(f2, vb)


def test_sync_known_example():
    r = scalar_unknown()
    r.umax = 255
    bounds_sync(r)
    assert r.var_off == Tnum(0, 0xFF) and r.smin == 0 and r.smax == 255
    assert r.u32_max == 255 and r.s32_max == 255 and bounds_sane(r)
