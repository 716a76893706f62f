"""Soundness of the tnum operations: for concrete members of the operands, the
concrete result is a member of the result (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.verifier.tnum import M64, UNKNOWN, Tnum

u64 = st.integers(0, M64)


@st.composite
def tnum_and_member(draw):
    mask = draw(u64)
    value = draw(u64) & ~mask
    t = Tnum(value, mask)
    member = value | (draw(u64) & mask)
    return t, member


OPS = {
    "add": (Tnum.add, lambda a, b: (a + b) & M64),
    "sub": (Tnum.sub, lambda a, b: (a - b) & M64),
    "mul": (Tnum.mul, lambda a, b: (a * b) & M64),
    "and": (Tnum.and_, lambda a, b: a & b),
    "or": (Tnum.or_, lambda a, b: a | b),
    "xor": (Tnum.xor, lambda a, b: a ^ b),
    "intersect": None,
}


@settings(max_examples=400)
@given(tnum_and_member(), tnum_and_member(), st.sampled_from(["add", "sub", "mul", "and",
                                                               "or", "xor"]))
def test_binary_ops_sound(a, b, op):
    (ta, va), (tb, vb) = a, b
    fn, conc = OPS[op]
    assert fn(ta, tb).contains(conc(va, vb))


@settings(max_examples=300)
@given(tnum_and_member(), st.integers(0, 63))
def test_shifts_sound(a, n):
    t, v = a
    assert t.lshift(n).contains((v << n) & M64)
    assert t.rshift(n).contains(v >> n)
    sv = v - (1 << 64) if v >> 63 else v
    assert t.arshift(n, 64).contains((sv >> n) & M64)


@settings(max_examples=300)
@given(u64, u64)
def test_range_holds_its_bounds(lo, hi):
    lo, hi = min(lo, hi), max(lo, hi)
    t = Tnum.range(lo, hi)
    assert t.contains(lo) and t.contains(hi)


@settings(max_examples=300)
@given(tnum_and_member(), st.sampled_from([1, 2, 4, 8]))
def test_cast_and_neg(a, size):
    t, v = a
    assert t.cast(size).contains(v & ((1 << (8 * size)) - 1))
    assert t.neg().contains(-v & M64)


def test_known_values():
    assert Tnum.const(5).add(Tnum.const(3)) == Tnum.const(8)
    assert Tnum.range(0, 255) == Tnum(0, 0xFF)
    assert UNKNOWN.and_(Tnum.const(0xF0)) == Tnum(0, 0xF0)
    assert Tnum(0, 0xF).in_(Tnum.const(3)) and not Tnum.const(3).in_(Tnum(0, 0xF))
    assert str(Tnum(0x10, 0xF)) == "(0x10; 0xf)"
