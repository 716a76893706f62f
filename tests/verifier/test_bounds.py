"""bounds.bounds_sync (reg_bounds_sync on local integers, the verifier's hot path) gives
exactly the register reg.py's step-by-step functions give, on any register: consistent
ones, constants, unknown ones and contradictory ones (a dead branch's)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.verifier.bounds import bounds_sync
from pybpf.verifier.reg import (M32, M64, S32_MAX, S32_MIN, S64_MAX, S64_MIN, Reg, RegType,
                                bounds_sync_steps, s32, s64)
from pybpf.verifier.tnum import Tnum

FIELDS = ("smin", "smax", "umin", "umax", "s32_min", "s32_max", "u32_min", "u32_max")

u64s = st.one_of(st.integers(0, M64), st.sampled_from(
    [0, 1, 7, 0xFF, M32, M32 + 1, 1 << 63, (1 << 63) - 1, M64, M64 - 1, 1 << 31]))


@st.composite
def registers(draw):
    r = Reg()
    r.type = RegType.SCALAR
    v, m = draw(u64s), draw(u64s)
    if draw(st.booleans()):
        m = 0  # constants take bounds_sync's fast path
    r.var_off = Tnum(v & ~m, m)
    shape = draw(st.sampled_from(["around", "free", "full"]))
    if shape == "full":
        return r
    if shape == "around":  # ranges that hold a member of the tnum (a live register)
        x = (v & ~m) | (draw(u64s) & m)
        lo, hi = draw(st.integers(0, 1 << 40)), draw(st.integers(0, 1 << 40))
        r.umin, r.umax = max(0, x - lo), min(M64, x + hi)
        r.smin, r.smax = max(S64_MIN, s64(x) - lo), min(S64_MAX, s64(x) + hi)
        r.u32_min, r.u32_max = max(0, (x & M32) - lo), min(M32, (x & M32) + hi)
        r.s32_min, r.s32_max = max(S32_MIN, s32(x) - lo), min(S32_MAX, s32(x) + hi)
        return r
    a, b = sorted((draw(u64s), draw(u64s)))  # anything, even contradictory
    r.umin, r.umax = a, b
    a, b = draw(u64s), draw(u64s)
    r.smin, r.smax = s64(a), s64(b)
    a, b = draw(u64s), draw(u64s)
    r.u32_min, r.u32_max = a & M32, b & M32
    r.s32_min, r.s32_max = s32(a), s32(b)
    return r


@settings(max_examples=3000, deadline=None)
@given(registers())
def test_bounds_sync_is_reg_bounds_sync(r: Reg) -> None:
    fast, slow = r.copy(), r.copy()
    bounds_sync(fast)
    bounds_sync_steps(slow)
    assert fast.var_off == slow.var_off
    for f in FIELDS:
        assert getattr(fast, f) == getattr(slow, f), f


def test_the_fast_paths() -> None:
    r = Reg()
    r.type = RegType.SCALAR
    r.var_off = Tnum(5, 0)
    bounds_sync(r)
    assert (r.smin, r.umax, r.s32_min, r.u32_max) == (5, 5, 5, 5)
    r = Reg()
    r.type = RegType.SCALAR
    bounds_sync(r)
    assert (r.smin, r.smax, r.umin, r.umax) == (S64_MIN, S64_MAX, 0, M64)
    r.var_off = Tnum(0, 0xFF)
    bounds_sync(r)
    assert (r.smin, r.smax, r.umin, r.umax, r.u32_max) == (0, 255, 0, 255, 255)
