"""reg_bounds_sync on plain integers: the kernel's __update_reg_bounds, __reg_deduce_bounds
(twice) and __reg_bound_offset, then __update_reg_bounds again, computed on local
variables rather than through register attributes and tnum objects. The verifier runs it
after nearly every ALU instruction and conditional jump, so it is its hottest function.
The result is the one reg.py's step-by-step functions give (tests/verifier check it)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .tnum import M32, M64, Tnum

_S32_MIN, _S32_MAX = -(1 << 31), (1 << 31) - 1
_S64_MIN, _S64_MAX = -(1 << 63), (1 << 63) - 1
_HI = M64 & ~M32
_B63 = 1 << 63
_L63 = _B63 - 1
_TWO64 = 1 << 64
_TWO32 = 1 << 32


def _update(tv: int, tm: int, smin: int, smax: int, umin: int, umax: int, s32min: int,
            s32max: int, u32min: int, u32max: int) -> tuple[int, ...]:
    """__update_reg32_bounds and __update_reg64_bounds: the ranges from the tnum."""
    v32, m32 = tv & M32, tm & M32
    x = v32 | (m32 & 0x8000_0000)
    if x & 0x8000_0000:
        x -= _TWO32
    if x > s32min:
        s32min = x
    x = v32 | (m32 & 0x7FFF_FFFF)
    if x & 0x8000_0000:
        x -= _TWO32
    if x < s32max:
        s32max = x
    if v32 > u32min:
        u32min = v32
    x = v32 | m32
    if x < u32max:
        u32max = x
    x = (tv | (tm & _B63)) & M64
    if x >> 63:
        x -= _TWO64
    if x > smin:
        smin = x
    x = (tv | (tm & _L63)) & M64
    if x >> 63:
        x -= _TWO64
    if x < smax:
        smax = x
    if tv > umin:
        umin = tv
    x = tv | tm
    if x < umax:
        umax = x
    return smin, smax, umin, umax, s32min, s32max, u32min, u32max


def _s32(v: int) -> int:
    v &= M32
    return v - _TWO32 if v >> 31 else v


def _s64(v: int) -> int:
    v &= M64
    return v - _TWO64 if v >> 63 else v


def _deduce(tv: int, tm: int, smin: int, smax: int, umin: int, umax: int, s32min: int,
            s32max: int, u32min: int, u32max: int) -> tuple[int, ...]:
    """__reg_deduce_bounds once: 32-bit ranges from the 64-bit ones and each other, the
    64-bit ones from each other, then the 64-bit ones from the 32-bit ones."""
    # __reg32_deduce_bounds
    if (umin >> 32) == (umax >> 32):
        x = umin & M32
        if x > u32min:
            u32min = x
        x = umax & M32
        if x < u32max:
            u32max = x
        a, b = _s32(umin), _s32(umax)
        if a <= b:
            if a > s32min:
                s32min = a
            if b < s32max:
                s32max = b
    if (smin >> 32) == (smax >> 32):
        a, b = smin & M32, smax & M32
        if a <= b:
            if a > u32min:
                u32min = a
            if b < u32max:
                u32max = b
        a, b = _s32(smin), _s32(smax)
        if a <= b:
            if a > s32min:
                s32min = a
            if b < s32max:
                s32max = b
    if (((umin >> 32) + 1) & M32) == (umax >> 32) & M32:
        a, b = _s32(umin), _s32(umax)
        if a < 0 <= b:
            if a > s32min:
                s32min = a
            if b < s32max:
                s32max = b
    if ((((smin & M64) >> 32) + 1) & M32) == ((smax & M64) >> 32) & M32:
        a, b = _s32(smin), _s32(smax)
        if a < 0 <= b:
            if a > s32min:
                s32min = a
            if b < s32max:
                s32max = b
    a, b = _s32(u32min), _s32(u32max)
    if a <= b:
        if a > s32min:
            s32min = a
        if b < s32max:
            s32max = b
    a, b = s32min & M32, s32max & M32
    if a <= b:
        if a > u32min:
            u32min = a
        if b < u32max:
            u32max = b
    # __reg64_deduce_bounds
    a, b = _s64(umin), _s64(umax)
    if a <= b:
        if a > smin:
            smin = a
        if b < smax:
            smax = b
    a, b = smin & M64, smax & M64
    if a <= b:
        if a > umin:
            umin = a
        if b < umax:
            umax = b
    elif umax < a:
        smin = _s64(umin)
        if b < umax:
            umax = b
    elif b < umin:
        smax = _s64(umax)
        if a > umin:
            umin = a
    # __reg_deduce_mixed_bounds
    x = (umin & _HI) | u32min
    if x > umin:
        umin = x
    x = (umax & _HI) | u32max
    if x < umax:
        umax = x
    x = _s64((smin & _HI) | u32min)
    if x > smin:
        smin = x
    x = _s64((smax & _HI) | u32max)
    if x < smax:
        smax = x
    if s32min >= 0 and smin >= _S32_MIN and smax <= _S32_MAX:
        smin, smax = s32min, s32max
        umin, umax = s32min, s32max
        rv, rm = _range(smin & M64, smax & M64)
        v, mu = tv | rv, tm & rm
        tv, tm = v & ~mu & M64, mu
    return tv, tm, smin, smax, umin, umax, s32min, s32max, u32min, u32max


def _range(lo: int, hi: int) -> tuple[int, int]:
    """tnum_range as (value, mask)."""
    bits = (lo ^ hi).bit_length()
    if bits > 63:
        return 0, M64
    delta = (1 << bits) - 1
    return lo & ~delta & M64, delta


def bounds_sync(r: Any) -> None:
    """reg_bounds_sync(r) for a register `r` (a reg.Reg)."""
    t = r.var_off
    tv, tm = t.value, t.mask
    smin, smax, umin, umax = r.smin, r.smax, r.umin, r.umax
    s32min, s32max, u32min, u32max = r.s32_min, r.s32_max, r.u32_min, r.u32_max
    if not tm:
        # a constant inside every range: every bound becomes the constant
        sv = tv - _TWO64 if tv >> 63 else tv
        v32 = tv & M32
        sv32 = v32 - _TWO32 if v32 >> 31 else v32
        if umin <= tv <= umax and smin <= sv <= smax and u32min <= v32 <= u32max and \
                s32min <= sv32 <= s32max and tv <= M64:
            r.smin = r.smax = sv
            r.umin = r.umax = tv
            r.s32_min = r.s32_max = sv32
            r.u32_min = r.u32_max = v32
            return
    elif tm == M64 and not tv and smin == _S64_MIN and smax == _S64_MAX and not umin and \
            umax == M64 and s32min == _S32_MIN and s32max == _S32_MAX and not u32min and \
            u32max == M32:
        return  # unknown and unbounded: nothing to learn
    tv, tm, smin, smax, umin, umax, s32min, s32max, u32min, u32max = _sync(
        tv, tm, smin, smax, umin, umax, s32min, s32max, u32min, u32max)
    if tv != t.value or tm != t.mask:
        r.var_off = Tnum(tv, tm)
    r.smin, r.smax, r.umin, r.umax = smin, smax, umin, umax
    r.s32_min, r.s32_max, r.u32_min, r.u32_max = s32min, s32max, u32min, u32max


@lru_cache(maxsize=1 << 14)
def _sync(tv: int, tm: int, smin: int, smax: int, umin: int, umax: int, s32min: int,
          s32max: int, u32min: int, u32max: int) -> tuple[int, ...]:
    """The general case, remembered: a verification syncs the same few hundred
    register states again and again (every unrolled iteration, every path)."""
    smin, smax, umin, umax, s32min, s32max, u32min, u32max = _update(
        tv, tm, smin, smax, umin, umax, s32min, s32max, u32min, u32max)
    tv, tm, smin, smax, umin, umax, s32min, s32max, u32min, u32max = _deduce(
        tv, tm, smin, smax, umin, umax, s32min, s32max, u32min, u32max)
    tv, tm, smin, smax, umin, umax, s32min, s32max, u32min, u32max = _deduce(
        tv, tm, smin, smax, umin, umax, s32min, s32max, u32min, u32max)
    # __reg_bound_offset: the tnum from the u64 and u32 ranges
    rv, rm = _range(umin, umax)
    v, mu = tv | rv, tm & rm
    v64v, v64m = v & ~mu & M64, mu
    rv, rm = _range(u32min, u32max)
    v, mu = (tv & M32) | rv, (tm & M32) & rm
    v32v, v32m = v & ~mu & M64, mu
    v = ((v64v >> 32) << 32) & M64 | v32v
    mu = ((v64m >> 32) << 32) & M64 | v32m
    tv, tm = v, mu & ~v & M64
    smin, smax, umin, umax, s32min, s32max, u32min, u32max = _update(
        tv, tm, smin, smax, umin, umax, s32min, s32max, u32min, u32max)
    return tv, tm, smin, smax, umin, umax, s32min, s32max, u32min, u32max
