"""Tristate numbers (the kernel's `struct tnum`): a 64-bit value whose bits are each
known 0, known 1 or unknown. `value` holds the known ones, `mask` the unknown bits
(value & mask == 0). The operations follow kernel/bpf/tnum.c's definitions."""

from __future__ import annotations

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1


class Tnum:
    """An immutable tnum. A plain slotted class rather than a frozen dataclass: the
    verifier makes millions of them, and a frozen dataclass's __init__ costs three
    times as much (its fields are set through object.__setattr__)."""

    __slots__ = ("value", "mask")
    value: int
    mask: int

    def __init__(self, value: int, mask: int) -> None:
        self.value = value
        self.mask = mask

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Tnum:
            return NotImplemented
        return self.value == other.value and self.mask == other.mask

    def __hash__(self) -> int:
        return hash((self.value, self.mask))

    def __repr__(self) -> str:
        return f"Tnum(value={self.value!r}, mask={self.mask!r})"

    # -- constructors -------------------------------------------------------------------
    @staticmethod
    def const(v: int) -> "Tnum":
        return Tnum(v & M64, 0)

    @staticmethod
    def range(lo: int, hi: int) -> "Tnum":
        """The smallest tnum holding every u64 in [lo, hi] (tnum_range)."""
        chi = lo ^ hi
        bits = chi.bit_length()
        if bits > 63:
            return UNKNOWN
        delta = (1 << bits) - 1
        return Tnum(lo & ~delta & M64, delta)

    # -- queries ------------------------------------------------------------------------
    def is_const(self) -> bool:
        return self.mask == 0

    def is_unknown(self) -> bool:
        return self.mask == M64

    def equals_const(self, v: int) -> bool:
        return self.mask == 0 and self.value == (v & M64)

    def contains(self, v: int) -> bool:
        """v (u64) is one of the values this tnum stands for."""
        return (v & M64) & ~self.mask == self.value

    def in_(self, b: "Tnum") -> bool:
        """Every value of `b` is one of this tnum's (tnum_in(a=self, b))."""
        if b.mask & ~self.mask:
            return False
        return self.value == b.value & ~self.mask

    def is_aligned(self, size: int) -> bool:
        if not size:
            return True
        return not ((self.value | self.mask) & (size - 1))

    def umin(self) -> int:
        return self.value

    def umax(self) -> int:
        return self.value | self.mask

    def smin(self) -> int:
        """The least signed value (sign bit set if unknown)."""
        v = self.value | (self.mask & (1 << 63))
        return _s64(v)

    def smax(self) -> int:
        v = (self.value | self.mask) & ~(1 << 63) if self.mask >> 63 else self.value | self.mask
        return _s64(v)

    # -- arithmetic ---------------------------------------------------------------------
    def lshift(self, n: int) -> "Tnum":
        return Tnum((self.value << n) & M64, (self.mask << n) & M64)

    def rshift(self, n: int) -> "Tnum":
        return Tnum(self.value >> n, self.mask >> n)

    def arshift(self, n: int, bits: int) -> "Tnum":
        """Arithmetic right shift of the low `bits` (32 or 64) bits, as tnum_arshift."""
        if bits == 32:
            v = _sext(self.value & M32, 32) >> n
            m = _sext(self.mask & M32, 32) >> n
            return Tnum(v & M32, m & M32)
        v = _s64(self.value) >> n
        m = _s64(self.mask) >> n
        return Tnum(v & M64, m & M64)

    def add(self, b: "Tnum") -> "Tnum":
        sm = (self.mask + b.mask) & M64
        sv = (self.value + b.value) & M64
        sigma = (sm + sv) & M64
        chi = sigma ^ sv
        mu = chi | self.mask | b.mask
        return Tnum(sv & ~mu & M64, mu & M64)

    def sub(self, b: "Tnum") -> "Tnum":
        dv = (self.value - b.value) & M64
        alpha = (dv + self.mask) & M64
        beta = (dv - b.mask) & M64
        chi = alpha ^ beta
        mu = chi | self.mask | b.mask
        return Tnum(dv & ~mu & M64, mu & M64)

    def neg(self) -> "Tnum":
        return ZERO.sub(self)

    def and_(self, b: "Tnum") -> "Tnum":
        alpha = self.value | self.mask
        beta = b.value | b.mask
        v = self.value & b.value
        return Tnum(v, alpha & beta & ~v & M64)

    def or_(self, b: "Tnum") -> "Tnum":
        v = self.value | b.value
        mu = self.mask | b.mask
        return Tnum(v, mu & ~v & M64)

    def xor(self, b: "Tnum") -> "Tnum":
        v = self.value ^ b.value
        mu = self.mask | b.mask
        return Tnum(v & ~mu & M64, mu)

    def mul(self, b: "Tnum") -> "Tnum":
        """tnum_mul: shift-and-add over the bits of `self`."""
        a = self
        acc_v = (a.value * b.value) & M64
        acc_m = ZERO
        while a.value or a.mask:
            if a.value & 1:
                acc_m = acc_m.add(Tnum(0, b.mask))
            elif a.mask & 1:
                acc_m = acc_m.add(Tnum(0, b.value | b.mask))
            a = a.rshift(1)
            b = b.lshift(1)
        return Tnum(acc_v, 0).add(acc_m)

    def intersect(self, b: "Tnum") -> "Tnum":
        v = self.value | b.value
        mu = self.mask & b.mask
        return Tnum(v & ~mu & M64, mu)

    def union(self, b: "Tnum") -> "Tnum":
        v = self.value & b.value
        mu = self.mask | b.mask | (self.value ^ b.value)
        return Tnum(v & ~mu & M64, mu & M64)

    def cast(self, size: int) -> "Tnum":
        """Keep the low `size` bytes (tnum_cast)."""
        m = (1 << (size * 8)) - 1
        return Tnum(self.value & m, self.mask & m)

    def subreg(self) -> "Tnum":
        return self.cast(4)

    def clear_subreg(self) -> "Tnum":
        return self.rshift(32).lshift(32)

    def with_subreg(self, sub: "Tnum") -> "Tnum":
        return self.clear_subreg().or_(sub.subreg())

    def const_subreg(self, v: int) -> "Tnum":
        return self.with_subreg(Tnum.const(v & M32))

    def subreg_is_const(self) -> bool:
        return not (self.mask & M32)

    def __str__(self) -> str:
        return f"(0x{self.value:x}; 0x{self.mask:x})"

    def sbin(self) -> str:
        return "".join("x" if (self.mask >> i) & 1 else str((self.value >> i) & 1)
                       for i in range(63, -1, -1))


def _s64(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


def _sext(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


ZERO = Tnum(0, 0)
UNKNOWN = Tnum(0, M64)
