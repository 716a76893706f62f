"""Scalar ALU transfer functions (adjust_scalar_min_max_vals and its scalar*_min_max_*
helpers): the state of `dst op src` from the states of dst and src, for every
BPF_ALU/BPF_ALU64 operation, sound for every pair of concrete values they hold."""

from __future__ import annotations

from ..isa import (
    BPF_ADD,
    BPF_AND,
    BPF_ARSH,
    BPF_DIV,
    BPF_LSH,
    BPF_MOD,
    BPF_MUL,
    BPF_NEG,
    BPF_OR,
    BPF_RSH,
    BPF_SUB,
    BPF_XOR,
)
from .reg import (
    M32,
    M64,
    S32_MAX,
    S32_MIN,
    S64_MAX,
    S64_MIN,
    U32_MAX,
    U64_MAX,
    Reg,
    bounds_sync,
    mark32_unbounded,
    mark64_unbounded,
    mark_known,
    mark_known32,
    mark_unknown,
    s32,
    s64,
    update_reg32_bounds,
    update_reg_bounds,
    zext_32_to_64,
)
from .tnum import Tnum


def _add(d: Reg, s: Reg) -> None:
    a, b = d.s32_min + s.s32_min, d.s32_max + s.s32_max
    d.s32_min, d.s32_max = (a, b) if S32_MIN <= a <= S32_MAX and S32_MIN <= b <= S32_MAX \
        else (S32_MIN, S32_MAX)
    lo, hi = d.u32_min + s.u32_min, d.u32_max + s.u32_max
    if lo <= U32_MAX < hi:
        d.u32_min, d.u32_max = 0, U32_MAX
    else:
        d.u32_min, d.u32_max = lo & M32, hi & M32
    a, b = d.smin + s.smin, d.smax + s.smax
    d.smin, d.smax = (a, b) if S64_MIN <= a <= S64_MAX and S64_MIN <= b <= S64_MAX \
        else (S64_MIN, S64_MAX)
    lo, hi = d.umin + s.umin, d.umax + s.umax
    if lo <= U64_MAX < hi:
        d.umin, d.umax = 0, U64_MAX
    else:
        d.umin, d.umax = lo & M64, hi & M64
    d.var_off = d.var_off.add(s.var_off)


def _sub(d: Reg, s: Reg, var: Tnum) -> None:
    a, b = d.s32_min - s.s32_max, d.s32_max - s.s32_min
    ok = S32_MIN <= a <= S32_MAX and S32_MIN <= b <= S32_MAX
    d.s32_min, d.s32_max = (a, b) if ok else (S32_MIN, S32_MAX)
    lo, hi = d.u32_min - s.u32_max, d.u32_max - s.u32_min
    if lo < 0 <= hi:
        d.u32_min, d.u32_max = 0, U32_MAX
    else:
        d.u32_min, d.u32_max = lo & M32, hi & M32
    a, b = d.smin - s.smax, d.smax - s.smin
    ok = S64_MIN <= a <= S64_MAX and S64_MIN <= b <= S64_MAX
    d.smin, d.smax = (a, b) if ok else (S64_MIN, S64_MAX)
    lo, hi = d.umin - s.umax, d.umax - s.umin
    if lo < 0 <= hi:
        d.umin, d.umax = 0, U64_MAX
    else:
        d.umin, d.umax = lo & M64, hi & M64
    d.var_off = var


def _mul(d: Reg, s: Reg) -> None:
    d.var_off = d.var_off.mul(s.var_off)
    # 32-bit
    hi, lo = d.u32_max * s.u32_max, d.u32_min * s.u32_min
    if hi > U32_MAX:
        d.u32_min, d.u32_max = 0, U32_MAX
    else:
        d.u32_min, d.u32_max = lo, hi
    prods = [d.s32_min * s.s32_min, d.s32_min * s.s32_max, d.s32_max * s.s32_min,
             d.s32_max * s.s32_max]
    if all(S32_MIN <= p <= S32_MAX for p in prods):
        d.s32_min, d.s32_max = min(prods), max(prods)
    else:
        d.s32_min, d.s32_max = S32_MIN, S32_MAX
    hi, lo = d.umax * s.umax, d.umin * s.umin
    if hi > U64_MAX:
        d.umin, d.umax = 0, U64_MAX
    else:
        d.umin, d.umax = lo, hi
    prods = [d.smin * s.smin, d.smin * s.smax, d.smax * s.smin, d.smax * s.smax]
    if all(S64_MIN <= p <= S64_MAX for p in prods):
        d.smin, d.smax = min(prods), max(prods)
    else:
        d.smin, d.smax = S64_MIN, S64_MAX


def _s_from_u32(d: Reg) -> None:
    if s32(d.u32_min) <= s32(d.u32_max):
        d.s32_min, d.s32_max = s32(d.u32_min), s32(d.u32_max)
    else:
        d.s32_min, d.s32_max = S32_MIN, S32_MAX


def _s_from_u64(d: Reg) -> None:
    if s64(d.umin) <= s64(d.umax):
        d.smin, d.smax = s64(d.umin), s64(d.umax)
    else:
        d.smin, d.smax = S64_MIN, S64_MAX


def _bitwise(op: int, d: Reg, s: Reg) -> None:
    """AND/OR/XOR: var_off first, then the kernel's scalar{32,}_min_max_{and,or,xor}."""
    if op == BPF_AND:
        d.var_off = d.var_off.and_(s.var_off)
    elif op == BPF_OR:
        d.var_off = d.var_off.or_(s.var_off)
    else:
        d.var_off = d.var_off.xor(s.var_off)
    t32 = d.var_off.subreg()
    # 32-bit part
    if s.var_off.subreg_is_const() and d.var_off.subreg_is_const():
        mark_known32(d, t32.value)
    else:
        if op == BPF_AND:
            d.u32_min, d.u32_max = t32.value, min(d.u32_max, s.u32_max)
        elif op == BPF_OR:
            d.u32_min, d.u32_max = max(d.u32_min, s.u32_min), t32.value | t32.mask
        else:
            d.u32_min, d.u32_max = t32.value, t32.value | t32.mask
        _s_from_u32(d)
    # 64-bit part
    if s.var_off.is_const() and d.var_off.is_const():
        mark_known(d, d.var_off.value)
        return
    t = d.var_off
    if op == BPF_AND:
        d.umin, d.umax = t.value, min(d.umax, s.umax)
    elif op == BPF_OR:
        d.umin, d.umax = max(d.umin, s.umin), t.value | t.mask
    else:
        d.umin, d.umax = t.value, t.value | t.mask
    _s_from_u64(d)
    update_reg_bounds(d)


def _lsh32_bounds(d: Reg, umin: int, umax: int) -> None:
    d.s32_min, d.s32_max = S32_MIN, S32_MAX
    if umax > 31 or d.u32_max > 1 << (31 - umax):
        d.u32_min, d.u32_max = 0, U32_MAX
    else:
        d.u32_min, d.u32_max = (d.u32_min << umin) & M32, (d.u32_max << umax) & M32


def _shift(op: int, d: Reg, s: Reg, alu32: bool) -> None:
    if alu32:
        umin, umax = s.u32_min, s.u32_max
        sub = d.var_off.subreg()
        if op == BPF_LSH:
            _lsh32_bounds(d, umin, umax)
            d.var_off = sub.lshift(umin).subreg()
        elif op == BPF_RSH:
            d.s32_min, d.s32_max = S32_MIN, S32_MAX
            d.var_off = sub.rshift(umin)
            d.u32_min >>= umax
            d.u32_max >>= umin
        else:
            d.s32_min, d.s32_max = d.s32_min >> umin, d.s32_max >> umin
            d.var_off = sub.arshift(umin, 32)
            d.u32_min, d.u32_max = 0, U32_MAX
        mark64_unbounded(d)
        update_reg32_bounds(d)
        return
    umin, umax = s.umin, s.umax
    if op == BPF_LSH:
        if umin == umax == 32 and d.s32_max >= 0:
            smax = d.s32_max << 32
        else:
            smax = S64_MAX
        if umin == umax == 32 and d.s32_min >= 0:
            smin = d.s32_min << 32
        else:
            smin = S64_MIN
        d.smin, d.smax = smin, smax
        if d.umax > 1 << (63 - umax):
            d.umin, d.umax = 0, U64_MAX
        else:
            d.umin, d.umax = (d.umin << umin) & M64, (d.umax << umax) & M64
        _lsh32_bounds(d, umin, umax)
        d.var_off = d.var_off.lshift(umin)
        update_reg_bounds(d)
    elif op == BPF_RSH:
        d.smin, d.smax = S64_MIN, S64_MAX
        d.var_off = d.var_off.rshift(umin)
        d.umin >>= umax
        d.umax >>= umin
        mark32_unbounded(d)
        update_reg_bounds(d)
    else:
        d.smin, d.smax = d.smin >> umin, d.smax >> umin
        d.var_off = d.var_off.arshift(umin, 64)
        d.umin, d.umax = 0, U64_MAX
        mark32_unbounded(d)
        update_reg_bounds(d)


def _safe_range(op: int, s: Reg, alu32: bool) -> bool:
    """is_safe_to_compute_dst_reg_range."""
    if alu32:
        const = s.var_off.subreg_is_const() and s.s32_min == s.s32_max \
            and s.u32_min == s.u32_max
        bits = 32
    else:
        const = s.var_off.is_const() and s.smin == s.smax and s.umin == s.umax
        bits = 64
    if op in (BPF_ADD, BPF_SUB, BPF_NEG, BPF_AND, BPF_XOR, BPF_OR, BPF_MUL):
        return True
    if op in (BPF_LSH, BPF_RSH, BPF_ARSH):
        return const and s.umax < bits
    return False


def scalar_alu(op: int, d: Reg, s: Reg, alu32: bool) -> None:
    """dst = dst op src for two scalars, in place on `d` (adjust_scalar_min_max_vals);
    `s` is not modified."""
    if op == BPF_DIV and not _safe_range(op, s, alu32):
        mark_unknown(d)
        return
    if not _safe_range(op, s, alu32):
        mark_unknown(d)
        return
    if op == BPF_ADD:
        _add(d, s)
    elif op == BPF_SUB:
        _sub(d, s, d.var_off.sub(s.var_off))
    elif op == BPF_NEG:
        fake = d.copy()
        mark_known(d, 0)
        _sub(d, fake, fake.var_off.neg())
    elif op == BPF_MUL:
        _mul(d, s)
    elif op in (BPF_AND, BPF_OR, BPF_XOR):
        _bitwise(op, d, s)
    elif op in (BPF_LSH, BPF_RSH, BPF_ARSH):
        _shift(op, d, s, alu32)
    if alu32:
        zext_32_to_64(d)
    bounds_sync(d)


def bswap_tnum(t: Tnum, nbytes: int) -> Tnum:
    def sw(v: int) -> int:
        return int.from_bytes((v & ((1 << (nbytes * 8)) - 1)).to_bytes(nbytes, "little"), "big")
    return Tnum(sw(t.value), sw(t.mask))


def scalar_end(d: Reg, bits: int, to_be: bool, alu64: bool) -> None:
    """BPF_END (le/be/bswap) on a scalar: the bytes of the tnum move, the bounds are
    recomputed from it."""
    nbytes = bits // 8
    swap = alu64 or to_be  # host is little-endian: to_le only truncates
    t = bswap_tnum(d.var_off, nbytes) if swap else d.var_off.cast(nbytes)
    mark_unknown(d)
    d.var_off = t
    if t.is_const():
        mark_known(d, t.value)
    bounds_sync(d)


# --- a concrete evaluator (for the soundness tests and constant folding) -----------------

def concrete(op: int, a: int, b: int, alu32: bool, signed: bool = False) -> int:
    """The value the VM/kernel computes for `a op b` (u64 inputs, u64 result)."""
    bits = 32 if alu32 else 64
    m = (1 << bits) - 1
    a &= m
    b &= m

    def sg(v: int) -> int:
        return v - (1 << bits) if v >> (bits - 1) else v
    if op == BPF_ADD:
        r = a + b
    elif op == BPF_SUB:
        r = a - b
    elif op == BPF_MUL:
        r = a * b
    elif op == BPF_DIV:
        if b == 0:
            r = 0
        elif signed:
            q = abs(sg(a)) // abs(sg(b))
            r = q if (sg(a) < 0) == (sg(b) < 0) else -q
        else:
            r = a // b
    elif op == BPF_MOD:
        if b == 0:
            r = a
        elif signed:
            rem = abs(sg(a)) % abs(sg(b))
            r = -rem if sg(a) < 0 else rem
        else:
            r = a % b
    elif op == BPF_OR:
        r = a | b
    elif op == BPF_AND:
        r = a & b
    elif op == BPF_XOR:
        r = a ^ b
    elif op == BPF_LSH:
        r = a << (b & (bits - 1))
    elif op == BPF_RSH:
        r = a >> (b & (bits - 1))
    elif op == BPF_ARSH:
        r = sg(a) >> (b & (bits - 1))
    elif op == BPF_NEG:
        r = -a
    else:
        raise ValueError(op)
    return r & m
