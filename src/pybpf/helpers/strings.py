"""The string helpers every program type has: bpf_strncmp, bpf_strtol, bpf_strtoul."""

from __future__ import annotations

from ..isa import M32, M64
from .access import charge, read_bytes, read_cstr, write_bytes
from .printf import EINVAL
from .registry import HelperContext, HelperFn, HelperRegistry


def _strncmp(ctx: HelperContext, s1: int, s1_sz: int, s2: int, *_: int) -> int:
    """bpf_strncmp(s1, s1_sz, s2): compare at most s1_sz bytes; -1, 0 or 1. Both
    strings are read up to their NUL (at most s1_sz bytes), then compared on slices."""
    n = s1_sz & M32
    a = read_cstr(ctx, s1, n)
    b = read_cstr(ctx, s2, n)
    # strings end at their NUL (or at n bytes): the first difference decides, else a
    # shorter string (its NUL) sorts first
    if a == b:
        return 0
    k = len(a) if len(a) < len(b) else len(b)
    if a[:k] == b[:k]:
        return 1 if len(a) > len(b) else M64  # the shorter one has its NUL there
    i = next(j for j in range(k) if a[j] != b[j]) if k <= 64 else _first_difference(a, b, k)
    return 1 if a[i] > b[i] else M64  # -1


def _first_difference(a: bytes, b: bytes, k: int) -> int:
    """The first index below k where a and b differ (they do), by halving slices."""
    lo, hi = 0, k
    while hi - lo > 64:
        mid = (lo + hi) // 2
        if a[lo:mid] != b[lo:mid]:
            hi = mid
        else:
            lo = mid
    return next(j for j in range(lo, hi) if a[j] != b[j])


# --- bpf_strtol / bpf_strtoul ---------------------------------------------------------------

ERANGE = 34
BPF_STRTOX_BASE_MASK = 0x1F
_CTYPE_SPACE_BYTES = b" \t\n\v\f\r\xa0"  # the kernel's isspace (Latin-1 NBSP too)


def bpf_strtoull(buf: bytes, flags: int) -> tuple[int, int, bool]:
    """The kernel's __bpf_strtoull: (chars consumed or -errno, value, negative). Skips
    leading whitespace and one '-', then parses at most 63 characters in base 8, 10 or
    16 (0: from the prefix, as _parse_integer_fixup_radix); -ERANGE on overflow."""
    base = flags & BPF_STRTOX_BASE_MASK
    if not buf or base not in (0, 8, 10, 16) or flags & ~BPF_STRTOX_BASE_MASK & M64:
        return -EINVAL, 0, False
    pos = len(buf) - len(buf.lstrip(_CTYPE_SPACE_BYTES))
    negative = pos < len(buf) and buf[pos] == 0x2D
    if negative:
        pos += 1
    if pos == len(buf):
        return -EINVAL, 0, negative
    s = buf[pos:pos + 63] + b"\0\0\0"
    k = 0
    if base == 0:
        if s[0] == 0x30:
            base = 16 if s[1] in b"xX" and s[2] in b"0123456789abcdefABCDEF" else 8
        else:
            base = 10
    if base == 16 and s[0] == 0x30 and s[1] in b"xX":
        k = 2
    value = 0
    digits = 0
    overflow = False
    while True:
        c = s[k + digits]
        lc = c | 0x20
        if 0x30 <= c <= 0x39:
            val = c - 0x30
        elif 0x61 <= lc <= 0x66:
            val = lc - 0x61 + 10
        else:
            break
        if val >= base:
            break
        value = value * base + val
        if value > M64:
            overflow = True
        value &= M64
        digits += 1
    if overflow:
        return -ERANGE, 0, negative
    if digits == 0:
        return -EINVAL, 0, negative
    return pos + k + digits, value, negative


def _strto(ctx: HelperContext, buf: int, buf_len: int, flags: int, res: int,
           signed: bool) -> int:
    """bpf_strtol / bpf_strtoul(buf, buf_len, flags, res): *res = 0, then the parsed
    (unsigned) long on success; returns the characters consumed, -EINVAL or -ERANGE.
    For strtoul a leading '-' is -EINVAL (after a successful parse)."""
    write_bytes(ctx, res, bytes(8))
    data = read_bytes(ctx, buf, buf_len & M64)
    charge(ctx, 64)  # at most 63 characters are parsed a byte at a time
    err, value, negative = bpf_strtoull(data, flags)
    if err < 0:
        return err & M64
    if not signed:
        if negative:
            return (-EINVAL) & M64
    elif negative:
        if value > 1 << 63:
            return (-ERANGE) & M64
        value = (-value) & M64
    elif value >> 63:
        return (-ERANGE) & M64
    write_bytes(ctx, res, value.to_bytes(8, "little"))
    return err


def _strtol(ctx: HelperContext, buf: int, buf_len: int, flags: int, res: int,
            _r5: int) -> int:
    return _strto(ctx, buf, buf_len, flags, res, True)


def _strtoul(ctx: HelperContext, buf: int, buf_len: int, flags: int, res: int,
             _r5: int) -> int:
    return _strto(ctx, buf, buf_len, flags, res, False)


STRING_HELPERS: dict[str, HelperFn] = {
    "strncmp": _strncmp,
    "strtol": _strtol,
    "strtoul": _strtoul,
}


def register_string_helpers(reg: HelperRegistry) -> HelperRegistry:
    """Add bpf_strncmp, bpf_strtol and bpf_strtoul to `reg`."""
    reg.register_named(STRING_HELPERS)
    return reg
