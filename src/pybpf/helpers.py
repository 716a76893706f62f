"""The helper registry through which the VM dispatches `call imm` (keyed by the
kernel's helper IDs), plus the helpers that need no program-type context.

A helper implementation is `fn(ctx, r1, r2, r3, r4, r5) -> r0`; `ctx` gives it the
running program's memory (`HelperContext`). A "frame" helper runs program code
(bpf_for_each_map_elem's callback, bpf_tail_call): it is also given the memory, the
free call frames, the executed count and the budget, and returns (r0, executed).
The map helpers come from pybpf.maps; helpers bound to packets or tracing arrive with
the modules that give them meaning. The task helpers of the base set (current pid,
uid, comm, the probe reads) read the VM's `task` (pybpf.progtypes.task).
"""

from __future__ import annotations

import itertools
import os
import random
import re
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, overload

from .helper_ids import HELPER_IDS, HELPER_NAMES

M32 = 0xFFFF_FFFF
M64 = 0xFFFF_FFFF_FFFF_FFFF


class HelperMemory(Protocol):
    """What a helper may do with the program's memory (bounds-checked by the VM)."""

    def read(self, addr: int, size: int, pc: int = -1) -> bytes: ...

    def write(self, addr: int, data: bytes, pc: int = -1) -> None: ...

    def read_upto(self, addr: int, size: int, pc: int = -1) -> bytes: ...

    def check_store(self, addr: int, size: int, pc: int = -1) -> None: ...


class HelperContext(Protocol):
    """The running program as a helper sees it."""

    memory: HelperMemory
    pc: int
    rng: random.Random


HelperFn = Callable[..., int]


class ProgramExit(Exception):
    """Raised by a helper (or a legacy packet load) to end the program at once with
    r0 = `retval`, as the kernel does when LD_ABS fails."""

    def __init__(self, retval: int) -> None:
        super().__init__(retval)
        self.retval = retval & M64


@dataclass(frozen=True)
class Helper:
    """One callable helper: its ID (the `imm` of `call`), its name and implementation."""

    id: int
    name: str
    fn: HelperFn
    frame: bool = False  # runs program code: fn(ctx, r1..r5, mem, stack_tops, n, budget)


@dataclass
class HelperRegistry(Mapping[int, Helper]):
    """Helpers by ID. Build one per VM; `default_helpers()` gives the kernel-ID set."""

    _by_id: dict[int, Helper] = field(default_factory=dict)

    def register(self, hid: int, fn: HelperFn, name: str | None = None, *,
                 frame: bool = False) -> None:
        if name is None:
            name = HELPER_NAMES.get(hid, f"helper_{hid}")
        self._by_id[hid] = Helper(hid, name, fn, frame)

    def copy(self) -> "HelperRegistry":
        return HelperRegistry(dict(self._by_id))

    def __getitem__(self, hid: int) -> Helper:
        return self._by_id[hid]

    def __iter__(self) -> Iterator[int]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)


# --- what helper work costs ------------------------------------------------------------
# A helper call is one instruction, plus the work it does, charged against the run's
# instruction budget before it is done: bulk byte work (copying, scanning for a NUL,
# comparing, checksumming, all on slices) costs an instruction per 8 bytes, as the
# kernel's word-at-a-time copies go; work done a byte at a time in Python (parsing a
# printf format) costs an instruction per byte. So a run ends within a bounded
# multiple of its budget in wall time, helpers included.

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


# --- helpers with no program-type context ------------------------------------------

def _clock(ctx: HelperContext, default: Callable[[], int]) -> int:
    """The VM's clock when one is set (`VM.clock_ns`, e.g. following a capture's
    timestamps, or frozen for reproducible runs), else the host's."""
    clock = getattr(getattr(ctx, "vm", None), "clock_ns", None)
    return (clock() if clock is not None else default()) & M64


def _ktime_get_ns(ctx: HelperContext, *_: int) -> int:
    return _clock(ctx, time.monotonic_ns)


def _ktime_get_boot_ns(ctx: HelperContext, *_: int) -> int:
    return _clock(ctx, lambda: time.clock_gettime_ns(getattr(time, "CLOCK_BOOTTIME",
                                                              time.CLOCK_MONOTONIC)))


def _ktime_get_tai_ns(ctx: HelperContext, *_: int) -> int:
    return _clock(ctx, lambda: time.clock_gettime_ns(getattr(time, "CLOCK_TAI",
                                                              time.CLOCK_REALTIME)))


def _jiffies64(ctx: HelperContext, *_: int) -> int:
    # HZ=1000-style jiffies from the clock (the kernel's value is config dependent)
    return _clock(ctx, time.monotonic_ns) // 1_000_000


def _get_prandom_u32(ctx: HelperContext, *_: int) -> int:
    return ctx.rng.getrandbits(32)


def _zero(ctx: HelperContext, *_: int) -> int:
    return 0


def _csum_diff(ctx: HelperContext, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_csum_diff(from, from_size, to, to_size, seed), as Linux 6.x computes it (the
    arithmetic lives with the packet helpers in pybpf.progtypes)."""
    from .progtypes.skb import csum_diff
    return csum_diff(ctx, r1, r2, r3, r4, r5)  # type: ignore[arg-type]


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


# --- formatted output: bpf_trace_printk / bpf_snprintf ---------------------------------

EINVAL = 22
ENOSPC = 28
MAX_BPRINTF_BIN_ARGS = 512  # bytes of argument data one call may carry (strings included)
MAX_BPRINTF_BUF = 1024  # bpf_trace_printk's output buffer
MAX_TRACE_PRINTK_VARARGS = 3
MAX_BPRINTF_VARARGS = 12
# the kernel's ctype classes (lib/ctype.c: ASCII plus Latin-1)
_SPACE = frozenset(b" \t\n\v\f\r\xa0")
_PUNCT = frozenset(b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\xd7\xf7") | frozenset(range(0xA1, 0xC0))
_ALNUM = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") | \
    frozenset(range(0xC0, 0x100)) - {0xD7, 0xF7}
_ENOSPC_TEXT = "the arguments exceed the 512-byte argument buffer"
_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")  # ASCII controls but the spaces


class FormatError(Exception):
    """A format the kernel's bpf_bprintf_prepare refuses: `errno` is EINVAL (bad format,
    more conversions than arguments) or ENOSPC (the arguments exceed 512 bytes)."""

    def __init__(self, err: int, reason: str) -> None:
        super().__init__(reason)
        self.errno = err


def _ip_text(kind: bytes, raw: bytes) -> bytes:
    """%pI4 %pi4 %pI6 %pi6 as lib/vsprintf.c prints them (i: zero-padded / no colons)."""
    if kind[1:] == b"4":
        return (".".join(("%03d" if kind[:1] == b"i" else "%d") % b for b in raw)).encode()
    groups = [raw[i:i + 2].hex() for i in range(0, 16, 2)]
    return ("".join(groups) if kind[:1] == b"i" else ":".join(groups)).encode()


def bprintf_prepare(fmt: bytes, raw_args: list[int], num_args: int,
                    read_str: Callable[[str, int, int], tuple[int, bytes]],
                    read_kernel: Callable[[int, int], bytes | None]) -> bytes:
    """Check `fmt` (without its NUL) as the kernel's bpf_bprintf_prepare does and build
    its binary argument buffer: integers and plain pointers 4-byte aligned (4 or 8
    bytes), %c one byte, %s / %pks / %pus the string with its NUL, %pB %pI4 %pi4 %pI6
    %pi6 their text with a NUL. Only flags `0 + - space`, a width and `l`/`ll` are
    accepted, with d i u x X c s p pK px ps pS pB pks pus pI4 pi4 pI6 pi6.
    `read_str(ptype, addr, bufsz)` copies a string ((length with NUL, bytes) or
    (-errno, _)); `read_kernel(addr, n)` copies IP address bytes (None: fault)."""
    n = len(fmt)

    def at(k: int) -> int:
        return fmt[k] if k < n else 0

    buffered = num_args > 0  # the kernel stores arguments only when it has some
    buf = bytearray(MAX_BPRINTF_BIN_ARGS + 64)
    used = 0
    num_spec = 0

    def put_int(value: int, size: int) -> None:
        nonlocal used
        used = (used + 3) & ~3
        if MAX_BPRINTF_BIN_ARGS - used < size:
            raise FormatError(ENOSPC, _ENOSPC_TEXT)
        buf[used:used + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        used += size

    def put_text(text: bytes) -> None:  # snprintf() into what is left; advance by its length
        nonlocal used
        room = MAX_BPRINTF_BIN_ARGS - used
        if room > 0:
            chunk = text[:room - 1] + b"\0"
            buf[used:used + len(chunk)] = chunk
        used += len(text) + 1

    def put_str(ptype: str, arg: int, i: int) -> None:
        nonlocal used
        nx = at(i + 1)
        if nx and nx not in _SPACE and nx not in _PUNCT:
            raise FormatError(EINVAL, "%s must be followed by a space, punctuation or "
                                      "the end of the format")
        if not buffered:
            return
        if used >= MAX_BPRINTF_BIN_ARGS:
            raise FormatError(ENOSPC, _ENOSPC_TEXT)
        err, text = read_str(ptype, arg, MAX_BPRINTF_BIN_ARGS - used)
        if err < 0:
            text, err = b"\0", 1
        buf[used:used + len(text)] = text
        used += err

    i = 0
    while i < n:
        # the text up to the next '%' on a slice: no ASCII control but the spaces
        # (non-ASCII bytes pass)
        pct = fmt.find(b"%", i)
        bad = _CONTROL.search(fmt, i, n if pct < 0 else pct)
        if bad:
            raise FormatError(EINVAL, f"byte {fmt[bad.start()]:#x} of the format is an "
                                      "ASCII control")
        if pct < 0:
            break
        i = pct
        if at(i + 1) == 0x25:
            i += 2
            continue
        if num_spec >= num_args:
            raise FormatError(EINVAL, "more conversions than arguments")
        arg = raw_args[num_spec] & M64 if buffered else 0
        i += 1
        while at(i) and at(i) in b"0+- ":
            i += 1
        if 0x31 <= at(i) <= 0x39:
            i += 1
            while 0x30 <= at(i) <= 0x39:
                i += 1
        ch = at(i)
        if ch == 0x70:  # 'p'
            nx = at(i + 1)
            if nx == 0 or nx in _SPACE or nx in _PUNCT:
                if buffered:
                    put_int(arg, 8)
            elif nx in b"ku" and at(i + 2) == 0x73:
                i += 2
                put_str(chr(nx), arg, i)
            elif nx in b"KxsS":
                i += 1
                if buffered:
                    put_int(arg, 8)
            elif nx == 0x42:  # 'B': kallsyms' text for an address it has no symbol of
                i += 1
                if buffered:
                    put_text(b"0x%x" % arg)
            else:
                if nx not in b"iI" or at(i + 2) not in b"46":
                    raise FormatError(EINVAL, "unsupported %p conversion")
                i += 2
                if buffered:
                    size = 4 if at(i) == 0x34 else 16
                    if MAX_BPRINTF_BIN_ARGS - used < size:
                        raise FormatError(ENOSPC, _ENOSPC_TEXT)
                    raw = read_kernel(arg, size)
                    put_text(_ip_text(fmt[i - 1:i + 1], raw if raw is not None else bytes(size)))
        elif ch == 0x73:  # 's'
            put_str("s", arg, i)
        elif ch == 0x63:  # 'c'
            if buffered:
                if used >= MAX_BPRINTF_BIN_ARGS:
                    raise FormatError(ENOSPC, _ENOSPC_TEXT)
                buf[used] = arg & 0xFF
                used += 1
        else:
            size = 4
            if at(i) == 0x6C:  # 'l'
                size = 8
                i += 1
            if at(i) == 0x6C:
                i += 1
            if not at(i) or at(i) not in b"iduxX":
                raise FormatError(EINVAL, "unsupported conversion")
            if buffered:
                put_int(arg, size)
        num_spec += 1
        i += 1
    return bytes(buf)


class _Output:
    """What bstr_printf writes: its first `cap` bytes kept, its full length counted
    (padding past the cap is counted, never built)."""

    def __init__(self, cap: int | None) -> None:
        self.buf = bytearray()
        self.len = 0
        self.cap = cap

    def add(self, text: bytes) -> None:
        if self.cap is None:
            self.buf += text
        elif len(self.buf) < self.cap:
            self.buf += text[:self.cap - len(self.buf)]
        self.len += len(text)

    def fill(self, char: bytes, count: int) -> None:
        if count <= 0:
            return
        if self.cap is None:
            self.buf += char * count
        elif len(self.buf) < self.cap:
            self.buf += char * min(count, self.cap - len(self.buf))
        self.len += count


def _number(out: _Output, num: int, flags: set[int], width: int | None, base: int,
            signed: bool, upper: bool = False) -> None:
    """lib/vsprintf.c number() for the flags BPF formats may carry (no precision)."""
    left = 0x2D in flags
    zero = 0x30 in flags and not left
    sign = b""
    if signed:
        if num >> 63:
            sign, num = b"-", (1 << 64) - num
        elif 0x2B in flags:
            sign = b"+"
        elif 0x20 in flags:
            sign = b" "
    digits = ((b"%X" if upper else b"%x") % num) if base == 16 else b"%d" % num
    pad = (width or 0) - len(sign) - len(digits)
    if left:
        out.add(sign + digits)
        out.fill(b" ", pad)
    elif zero:
        out.add(sign)
        out.fill(b"0", pad)
        out.add(digits)
    else:
        out.fill(b" ", pad)
        out.add(sign + digits)


def _widen(out: _Output, text: bytes, flags: set[int], width: int | None) -> None:
    pad = (width or 0) - len(text)
    if 0x2D in flags:
        out.add(text)
        out.fill(b" ", pad)
    else:
        out.fill(b" ", pad)
        out.add(text)


FIELD_WIDTH_MAX = (1 << 23) - 1  # lib/vsprintf.c clamps field widths to this


def _field_width(digits: bytes) -> int:
    """A field width as the kernel reads it: decimal digits into an int (skip_atoi,
    wrapping at 32 bits; a negative result pads nothing), clamped to FIELD_WIDTH_MAX.
    Twelve digits at a time, so any length is bounded work (Python's int() refuses
    more than 4300 digits)."""
    value = 0
    for i in range(0, len(digits), 12):
        part = digits[i:i + 12]
        value = (value * 10 ** len(part) + int(part)) & M32
    width = value - (1 << 32) if value >> 31 else value
    return max(-FIELD_WIDTH_MAX, min(width, FIELD_WIDTH_MAX))


def bstr_printf(fmt: bytes, bin_args: bytes, size: int) -> bytes:
    """What the kernel's bstr_printf makes of a format checked by bprintf_prepare and
    its argument buffer, untruncated (its length is the return value; a buffer of
    `size` bytes receives the first size - 1 bytes and a NUL). See bstr_printf_capped."""
    return bytes(bstr_printf_capped(fmt, bin_args, size, None)[0])


def bstr_printf_capped(fmt: bytes, bin_args: bytes, size: int,
                       cap: int | None) -> tuple[bytes, int]:
    """bstr_printf keeping only the first `cap` bytes of its output (None: all of it),
    with the full length: what the helpers need, built in memory bounded by `cap`
    whatever widths the format asks for. As in the kernel, a pre-formatted pointer
    conversion (%pks %pus %pB %pI4 ...) met once the output has reached `size` adds
    nothing and does not consume its argument. The VM has no kernel symbols and does
    not hash pointers: %ps/%pS print 0x<hex> (kallsyms' answer for an unknown address)
    and %p/%pK print as %px does."""
    args = bytes(bin_args) + bytes(32)
    a = 0
    out = _Output(cap)
    n = len(fmt)

    def get(size: int) -> int:
        nonlocal a
        if size > 1:
            a = (a + 3) & ~3
        v = int.from_bytes(args[a:a + size], "little")
        a += size
        return v

    def cstr() -> bytes:
        nonlocal a
        end = args.find(b"\0", a)
        end = end if end >= 0 else len(args)
        s = args[a:end]
        a = end + 1
        return s

    i = 0
    while i < n:
        pct = fmt.find(b"%", i)
        if pct < 0:
            out.add(fmt[i:])
            break
        out.add(fmt[i:pct])
        i = pct + 1
        if i < n and fmt[i] == 0x25:
            out.add(b"%")
            i += 1
            continue
        flags: set[int] = set()
        while i < n and fmt[i] in b"-+ #0":
            flags.add(fmt[i])
            i += 1
        w0 = i
        while i < n and 0x30 <= fmt[i] <= 0x39:
            i += 1
        width = _field_width(fmt[w0:i]) if i > w0 else None
        longs = 0
        while i < n and fmt[i] == 0x6C and longs < 2:
            longs += 1
            i += 1
        conv = fmt[i] if i < n else 0
        i += 1
        if conv == 0x63:  # 'c'
            ch = bytes([get(1)])
            _widen(out, ch, flags, width)
        elif conv == 0x73:  # 's'
            _widen(out, cstr(), flags, width)
        elif conv == 0x70:  # 'p'
            nx = fmt[i] if i < n else 0
            if nx in b"SsxK" or nx not in _ALNUM:
                v = get(8)
                if nx in b"Ss":
                    _widen(out, b"0x%x" % v, flags, width)
                elif width is None:  # pointer_string: 16 digits, zero-padded unless '-'
                    _number(out, v, flags | {0x30}, 16, 16, False)
                else:
                    _number(out, v, flags, width, 16, False)
            elif out.len < size:
                out.add(cstr())
            while i < n and fmt[i] in _ALNUM:
                i += 1
        elif conv in b"diuxX" and conv:
            v = get(8 if longs else 4)
            signed = conv in b"di"
            if signed and not longs and v >> 31:
                v |= M64 ^ M32  # an int is sign-extended
            _number(out, v, flags, width, 16 if conv in b"xX" else 10, signed, conv == 0x58)
        else:  # not reachable after bprintf_prepare
            break
    return bytes(out.buf), out.len


def _format_memory(ctx: HelperContext) -> tuple[Callable[[str, int, int], tuple[int, bytes]],
                                                Callable[[int, int], bytes | None]]:
    """The string and kernel-byte readers of the printf helpers for one call: %s reads
    user memory below TASK_SIZE and kernel memory above it (the VM's memory is kernel
    memory), as bpf_trace_copy_string does on x86-64."""
    from .progtypes import task as tk
    task = tk.task_of(ctx)
    mem: Any = ctx.memory

    def read_str(ptype: str, addr: int, bufsz: int) -> tuple[int, bytes]:
        if ptype == "k" or (ptype == "s" and tk.is_kernel_side(mem, task, addr)):
            return tk.strncpy_from_kernel_nofault(mem, task, addr, bufsz)
        return tk.strncpy_from_user_nofault(mem, task, addr, bufsz)

    def read_kernel(addr: int, size: int) -> bytes | None:
        err, data = tk.copy_from_kernel_nofault(mem, task, addr, size)
        return data if err == 0 else None

    return read_str, read_kernel


FORMAT_LIMIT = 1 << 20  # longest bpf_snprintf format read (a constant string in a map)


TRACE_BUFFER_BYTES = 1408 * 1024  # the kernel's default per-CPU trace ring (buffer_size_kb)


class TracePipe:
    """What bpf_trace_printk wrote on the VM, one message a call, bounded as the
    kernel's trace ring is: it keeps the newest messages whose text totals at most
    `limit` bytes and drops the oldest to make room (the ring's default overwrite
    mode); `dropped` counts the messages lost, as the ring's overrun count. Reads like
    a list of str (iterate, index, slice, len, list()); `written` counts every message
    ever appended, so `since(mark)` gives the ones after a mark even when older ones
    were dropped in between."""

    def __init__(self, limit: int = TRACE_BUFFER_BYTES) -> None:
        self.limit = limit
        self.dropped = 0
        self._messages: deque[str] = deque()
        self._bytes = 0
        self.written = 0  # messages ever appended: a reader's mark that dropping keeps valid

    def append(self, message: str) -> None:
        size = len(message) + 1  # with its newline, as the pipe shows it
        self._messages.append(message)
        self._bytes += size
        self.written += 1
        while self._bytes > self.limit and self._messages:
            self._bytes -= len(self._messages.popleft()) + 1
            self.dropped += 1

    def clear(self) -> None:
        self._messages.clear()
        self._bytes = 0

    def __iter__(self) -> Iterator[str]:
        return iter(self._messages)

    def __len__(self) -> int:
        return len(self._messages)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return list(self._messages)[index]
        return self._messages[index]

    def since(self, mark: int) -> list[str]:
        """The messages kept that were written after the first `mark` (a value of
        `written`)."""
        first = self.written - len(self._messages)  # the number of the oldest kept
        return list(itertools.islice(self._messages, max(0, mark - first), None))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TracePipe):
            return list(self) == list(other)
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    def __repr__(self) -> str:
        return f"TracePipe({list(self._messages)!r}, dropped={self.dropped})"


def _printk(ctx: HelperContext, fmt: int, fmt_size: int, args: list[int], num_args: int) -> int:
    """What bpf_trace_printk and bpf_trace_vprintk share: the format must hold its NUL
    within fmt_size bytes; the message (at most 1023 bytes, cut at a NUL a %c printed)
    goes to the VM's `trace_pipe`; the untruncated length, or -EINVAL / -ENOSPC."""
    raw = read_bytes(ctx, fmt, fmt_size & M32)
    nul = raw.find(b"\0")
    if nul < 0:
        return (-EINVAL) & M64
    charge(ctx, nul)  # bprintf_prepare looks at each byte of the format
    read_str, read_kernel = _format_memory(ctx)
    try:
        bin_args = bprintf_prepare(raw[:nul], args, num_args, read_str, read_kernel)
    except FormatError as e:
        return (-e.errno) & M64
    text, length = bstr_printf_capped(raw[:nul], bin_args, MAX_BPRINTF_BUF, MAX_BPRINTF_BUF)
    charge_bytes(ctx, len(text))
    pipe = getattr(getattr(ctx, "vm", None), "trace_pipe", None)
    if pipe is not None:
        pipe.append(text[:MAX_BPRINTF_BUF - 1].split(b"\0", 1)[0].decode("latin-1"))
    return length


def _trace_printk(ctx: HelperContext, fmt: int, fmt_size: int, a1: int, a2: int, a3: int) -> int:
    """bpf_trace_printk(fmt, fmt_size, a1, a2, a3): up to 3 arguments."""
    return _printk(ctx, fmt, fmt_size, [a1, a2, a3], MAX_TRACE_PRINTK_VARARGS)


def _trace_vprintk(ctx: HelperContext, fmt: int, fmt_size: int, data: int, data_len: int,
                   _r5: int) -> int:
    """bpf_trace_vprintk(fmt, fmt_size, data, data_len): up to 12 u64 arguments at
    `data`; -EINVAL for a data_len that is not a multiple of 8 or above 96."""
    n = data_len & M32
    if n % 8 or n > 8 * MAX_BPRINTF_VARARGS or (n and not data):
        return (-EINVAL) & M64
    args = list(struct.unpack(f"<{n // 8}Q", read_bytes(ctx, data, n))) if n else []
    return _printk(ctx, fmt, fmt_size, args, n // 8)


def _snprintf(ctx: HelperContext, out: int, out_size: int, fmt: int, data: int,
              data_len: int) -> int:
    """bpf_snprintf(str, str_size, fmt, data, data_len): arguments are u64s at `data`;
    writes at most str_size bytes with a NUL; returns the length the whole string
    needs including the NUL, or -EINVAL / -ENOSPC."""
    size = out_size & M32
    destination(ctx, out, size)
    n = data_len & M32
    if n % 8 or n > 8 * MAX_BPRINTF_VARARGS or (n and not data):
        return (-EINVAL) & M64
    args = list(struct.unpack(f"<{n // 8}Q", read_bytes(ctx, data, n))) if n else []
    text_fmt = read_cstr(ctx, fmt, FORMAT_LIMIT)
    charge(ctx, len(text_fmt))  # bprintf_prepare looks at each byte of the format
    read_str, read_kernel = _format_memory(ctx)
    try:
        bin_args = bprintf_prepare(text_fmt, args, n // 8, read_str, read_kernel)
    except FormatError as e:
        return (-e.errno) & M64
    text, length = bstr_printf_capped(text_fmt, bin_args, size, size)
    if size:
        charge_bytes(ctx, size)
        write_bytes(ctx, out, text[:size - 1] + b"\0")
    return length + 1


# --- the current task and the probe-read helpers (pybpf.progtypes.task) -----------------

def _task(ctx: HelperContext) -> Any:
    from .progtypes.task import task_of
    return task_of(ctx)


def _mem(ctx: HelperContext) -> Any:
    """The VM's Memory (its regions decide what is kernel memory)."""
    return ctx.memory


def _vm_task(ctx: HelperContext) -> Any:
    return getattr(getattr(ctx, "vm", None), "task", None)


def _get_current_pid_tgid(ctx: HelperContext, *_: int) -> int:
    """bpf_get_current_pid_tgid: tgid << 32 | pid of the VM's task (default: the
    calling host thread, as BPF_PROG_TEST_RUN answers in the kernel)."""
    task = _vm_task(ctx)
    if task is None:
        return (os.getpid() << 32) | threading.get_native_id()
    return int(task.pid_tgid)


def _get_current_uid_gid(ctx: HelperContext, *_: int) -> int:
    """bpf_get_current_uid_gid: gid << 32 | uid (real ids) of the VM's task."""
    task = _vm_task(ctx)
    if task is None:
        return (os.getgid() << 32) | os.getuid()
    return int(task.uid_gid)


def _get_current_comm(ctx: HelperContext, buf: int, size: int, *_: int) -> int:
    """bpf_get_current_comm(buf, size): the task's comm, cut to size - 1 bytes and
    padded with NULs to `size` (strscpy_pad); returns 0."""
    n = size & M32
    if n:
        destination(ctx, buf, n)
        charge_bytes(ctx, n)
        comm: bytes = _task(ctx).comm
        text = comm[:n - 1]
        write_bytes(ctx, buf, text + bytes(n - len(text)))
    return 0


def _probe_dst(ctx: HelperContext, dst: int, size: int) -> None:
    """Before a probe read: its destination must hold `size` bytes (checked before any
    byte is read or allocated), and the copy is charged."""
    destination(ctx, dst, size)
    charge_bytes(ctx, size)


def _probe_result(ctx: HelperContext, dst: int, size: int, ret: int, data: bytes) -> int:
    """Write what a probe-read helper leaves in dst: the bytes read, or zeros over all
    `size` bytes when it failed."""
    if ret < 0:
        write_bytes(ctx, dst, bytes(size))
    else:
        write_bytes(ctx, dst, data)
    return ret & M64


def _probe_read_user(ctx: HelperContext, dst: int, size: int, src: int, *_: int) -> int:
    """bpf_probe_read_user(dst, size, src): copy from the task's user memory; -EFAULT
    (dst zeroed) when any byte is unmapped or the range leaves user space."""
    from .progtypes import task as tk
    n = size & M32
    _probe_dst(ctx, dst, n)
    ret, data = tk.copy_from_user_nofault(_mem(ctx), _task(ctx), src & M64, n)
    return _probe_result(ctx, dst, n, ret, data)


def _probe_read_kernel(ctx: HelperContext, dst: int, size: int, src: int, *_: int) -> int:
    """bpf_probe_read_kernel(dst, size, src): copy from kernel memory (the VM's own
    memory and the task's kernel regions); -ERANGE for a user or non-canonical address,
    -EFAULT for an unmapped byte; dst zeroed on failure."""
    from .progtypes import task as tk
    n = size & M32
    _probe_dst(ctx, dst, n)
    ret, data = tk.copy_from_kernel_nofault(_mem(ctx), _task(ctx), src & M64, n)
    return _probe_result(ctx, dst, n, ret, data)


def _probe_read_user_str(ctx: HelperContext, dst: int, size: int, src: int, *_: int) -> int:
    """bpf_probe_read_user_str(dst, size, src): copy a NUL-terminated string of at most
    size bytes (NUL included); returns its length with the NUL, -EFAULT (dst zeroed)."""
    from .progtypes import task as tk
    n = size & M32
    _probe_dst(ctx, dst, n)
    ret, data = tk.strncpy_from_user_nofault(_mem(ctx), _task(ctx), src & M64, n)
    return _probe_result(ctx, dst, n, ret, data)


def _probe_read_kernel_str(ctx: HelperContext, dst: int, size: int, src: int, *_: int) -> int:
    """bpf_probe_read_kernel_str(dst, size, src): as the user variant from kernel
    memory, byte at a time; -ERANGE / -EFAULT with dst zeroed."""
    from .progtypes import task as tk
    n = size & M32
    _probe_dst(ctx, dst, n)
    ret, data = tk.strncpy_from_kernel_nofault(_mem(ctx), _task(ctx), src & M64, n)
    return _probe_result(ctx, dst, n, ret, data)


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


def _strtol(ctx: HelperContext, buf: int, buf_len: int, flags: int, res: int, _r5: int) -> int:
    return _strto(ctx, buf, buf_len, flags, res, True)


def _strtoul(ctx: HelperContext, buf: int, buf_len: int, flags: int, res: int, _r5: int) -> int:
    return _strto(ctx, buf, buf_len, flags, res, False)


_DEFAULT: tuple[tuple[str, HelperFn], ...] = (
    ("trace_printk", _trace_printk),
    ("trace_vprintk", _trace_vprintk),
    ("snprintf", _snprintf),
    ("ktime_get_ns", _ktime_get_ns),
    ("ktime_get_boot_ns", _ktime_get_boot_ns),
    ("ktime_get_coarse_ns", _ktime_get_ns),
    ("ktime_get_tai_ns", _ktime_get_tai_ns),
    ("jiffies64", _jiffies64),
    ("get_prandom_u32", _get_prandom_u32),
    ("get_smp_processor_id", _zero),
    ("get_numa_node_id", _zero),
    ("csum_diff", _csum_diff),
    ("strncmp", _strncmp),
    ("strtol", _strtol),
    ("strtoul", _strtoul),
    ("get_current_pid_tgid", _get_current_pid_tgid),
    ("get_current_uid_gid", _get_current_uid_gid),
    ("get_current_comm", _get_current_comm),
    ("probe_read_user", _probe_read_user),
    ("probe_read_user_str", _probe_read_user_str),
    ("probe_read_kernel", _probe_read_kernel),
    ("probe_read_kernel_str", _probe_read_kernel_str),
)


BPF_MAX_LOOPS = 8 * 1024 * 1024
E2BIG = 7


def _loop(ctx: HelperContext, nr_loops: int, callback: int, callback_ctx: int, flags: int,
          _r5: int, mem: Any, tops: tuple, n: int, budget: int) -> tuple[int, int]:
    """bpf_loop(nr_loops, callback, ctx, flags): callback(i, ctx) for i = 0.. until it
    returns 1; the number of calls made, -E2BIG past 1 << 23 loops, -EINVAL for flags."""
    if flags:
        return (-EINVAL) & M64, n
    nr = nr_loops & M32
    if nr > BPF_MAX_LOOPS:
        return (-E2BIG) & M64, n
    vm = ctx.vm  # type: ignore[attr-defined]
    pc = ctx.pc
    done = 0
    try:
        for i in range(nr):
            done += 1
            r0, n = vm.call_function(ctx, mem, tops[1:], callback, (i, callback_ctx, 0, 0, 0),
                                     n, budget)
            if r0 & M64:
                break
    finally:
        ctx.pc = pc
    return done, n


def default_helpers() -> HelperRegistry:
    """A fresh registry with pybpf's context-free kernel helpers and the map helpers
    (pybpf.maps), under kernel IDs."""
    from .maps.helpers import register_map_helpers
    reg = HelperRegistry()
    for name, fn in _DEFAULT:
        reg.register(HELPER_IDS[name], fn, "bpf_" + name)
    reg.register(HELPER_IDS["loop"], _loop, "bpf_loop", frame=True)
    return register_map_helpers(reg)


def helper_name(hid: int) -> str:
    """The kernel's name of a helper ID (`bpf_map_lookup_elem`), or `helper#N`."""
    name = HELPER_NAMES.get(hid)
    return f"bpf_{name}" if name and hid else f"helper#{hid}"


def seeded_rng(seed: int | None = None) -> random.Random:
    """The random source for bpf_get_prandom_u32 (seeded for reproducible runs)."""
    return random.Random(seed if seed is not None else int.from_bytes(os.urandom(8), "little"))


__all__ = ["FormatError", "Helper", "TracePipe", "HelperContext", "HelperMemory", "HelperRegistry", "M64",
           "ProgramExit", "bpf_strtoull", "bprintf_prepare", "bstr_printf", "default_helpers",
           "helper_name", "seeded_rng"]


def helpers_named(names: Iterable[str]) -> list[int]:
    """IDs for kernel helper names, with or without the `bpf_` prefix."""
    return [HELPER_IDS[n.removeprefix("bpf_")] for n in names]
