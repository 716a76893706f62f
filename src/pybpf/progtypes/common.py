"""Small pieces the program-type families share: finding the program context a helper
was given (its r1, as the kernel's ARG_PTR_TO_CTX), errno return values, and reading or
writing helper buffers in VM memory (charged against the run's budget)."""

from __future__ import annotations

from typing import TypeVar

from ..errors import HelperError
from ..helpers import charge_bytes, destination, read_bytes, zero_fill
from ..isa import M32, M64
from ..net import csum as net_csum
from ..vm import CallContext, Memory, RegionAccess

T = TypeVar("T")


def neg(err: int) -> int:
    """A helper's -errno return value as the unsigned 64-bit r0."""
    return (-err) & M64


def s32(v: int) -> int:
    v &= M32
    return v - (1 << 32) if v & 0x8000_0000 else v


def context_of(ctx: CallContext, ptr: int, cls: type[T]) -> T:
    """The program-context model behind `ptr` (a helper's ctx argument): the region at
    that address must be the context of a `cls` program."""
    region = ctx.memory.regions.get(ptr >> 32)
    access = getattr(region, "access", None)
    if region is None or region.base != ptr or not isinstance(access, cls):
        raise HelperError(ctx.pc, f"helper expects the program context in r1, got "
                                  f"{ptr:#x}")
    return access


def read_mem(ctx: CallContext, addr: int, size: int) -> bytes:
    """A helper's read of program memory: checked, then charged (helpers.charge_bytes)
    and copied; a fault names the call's pc."""
    return read_bytes(ctx, addr, size)


def write_mem(ctx: CallContext, addr: int, data: bytes) -> None:
    charge_bytes(ctx, len(data))
    ctx.memory.write(addr, data, ctx.pc)


def zero_mem(ctx: CallContext, addr: int, size: int) -> None:
    """Zero a helper's destination of a program-chosen size: checked before anything
    of that size is allocated."""
    zero_fill(ctx, addr, size)


def map_region(memory: Memory, name: str, size_or_buf: int | bytearray, access: RegionAccess,
               writable: bool = True) -> int:
    """Map a region routed through `access` and return its base (also stored on the
    access object as `.base`)."""
    buf = size_or_buf if isinstance(size_or_buf, bytearray) else bytearray(size_or_buf)
    region = memory.map(name, buf, writable=writable, access=access)
    access.base = region.base  # type: ignore[attr-defined]  # each context keeps its base
    return region.base


__all__ = ["context_of", "destination", "map_region", "neg", "read_mem", "s32", "write_mem",
           "zero_mem"]


def csum_diff(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_csum_diff(from, from_size, to, to_size, seed): every program type may call it
    (the base set); the arithmetic is pybpf.net.csum's."""
    from_size, to_size = r2 & M32, r4 & M32
    frm = read_mem(ctx, r1, from_size) if from_size else b""
    to = read_mem(ctx, r3, to_size) if to_size else b""
    return net_csum.csum_diff(frm, to, r5)
