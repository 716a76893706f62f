"""How helpers read and write program memory, and what that work costs.

A helper call is one instruction, plus the work it does, charged against the run's
instruction budget before it is done: bulk byte work (copying, scanning for a NUL,
comparing, checksumming, all on slices) costs an instruction per 8 bytes, as the
kernel's word-at-a-time copies go; work done a byte at a time in Python (parsing a
printf format) costs an instruction per byte. So a run ends within a bounded
multiple of its budget in wall time, helpers included.
"""

from __future__ import annotations

from typing import Any

from .registry import HelperContext

WORD = 8
CSTR_STEP = 4096  # bytes a NUL-terminated read scans (and charges) at a time


def charge(ctx: HelperContext, units: int) -> None:
    """Count `units` instructions of helper work against the run's budget
    (InstructionLimitExceeded at the call's pc when it runs out)."""
    fn = getattr(ctx, "charge", None)
    if fn is not None and units > 0:
        fn(units)


def charge_bytes(ctx: HelperContext, nbytes: int) -> None:
    """Charge bulk work over `nbytes` bytes: an instruction per 8 bytes."""
    charge(ctx, (nbytes + WORD - 1) // WORD)


def read_bytes(ctx: HelperContext, addr: int, size: int) -> bytes:
    """`size` bytes of program memory for a helper: a fault at the call's pc unless all
    of them are readable, checked before they are charged and copied."""
    if size <= 0:
        return b""
    mem: Any = ctx.memory
    mem.find(addr, size, "load", ctx.pc)
    charge_bytes(ctx, size)
    return mem.read(addr, size, ctx.pc)


def write_bytes(ctx: HelperContext, addr: int, data: bytes) -> None:
    ctx.memory.write(addr, data, ctx.pc)


def destination(ctx: HelperContext, addr: int, size: int) -> None:
    """Check a helper's destination buffer before any work or allocation for it: a
    fault at the call's pc unless [addr, addr + size) is writable program memory (in
    the kernel the verifier proves it), so no program-chosen size is allocated beyond
    what the destination holds."""
    ctx.memory.check_store(addr, size, ctx.pc)


def zero_fill(ctx: HelperContext, addr: int, size: int) -> None:
    """Zero a destination (checked first, then charged)."""
    destination(ctx, addr, size)
    charge_bytes(ctx, size)
    ctx.memory.write(addr, bytes(size), ctx.pc)


def read_cstr(ctx: HelperContext, addr: int, limit: int) -> bytes:
    """A NUL-terminated string of program memory without its NUL, at most `limit` bytes:
    scanned in slices of CSTR_STEP bytes, each charged before the next; a fault at the
    call's pc at the first unreadable byte met before the NUL."""
    parts: list[bytes] = []
    got = 0
    while got < limit:
        chunk = ctx.memory.read_upto(addr + got, min(CSTR_STEP, limit - got), ctx.pc)
        charge_bytes(ctx, len(chunk))
        nul = chunk.find(b"\0")
        if nul >= 0:
            parts.append(chunk[:nul])
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)
