"""The helper registry through which the VM dispatches `call imm` (keyed by the
kernel's helper IDs), plus the helpers that need no program-type context.

A helper implementation is `fn(ctx, r1, r2, r3, r4, r5) -> r0`; `ctx` gives it the
running program's memory (`HelperContext`). A "frame" helper runs program code
(bpf_for_each_map_elem's callback, bpf_tail_call): it is also given the memory, the
free call frames, the executed count and the budget, and returns (r0, executed).
The map helpers come from pybpf.maps; helpers bound to packets or tracing arrive with
the modules that give them meaning.
"""

from __future__ import annotations

import os
import random
import re
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol

from .helper_ids import HELPER_IDS, HELPER_NAMES

M32 = 0xFFFF_FFFF
M64 = 0xFFFF_FFFF_FFFF_FFFF


class HelperMemory(Protocol):
    """What a helper may do with the program's memory (bounds-checked by the VM)."""

    def read(self, addr: int, size: int, pc: int = -1) -> bytes: ...

    def write(self, addr: int, data: bytes, pc: int = -1) -> None: ...


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


def _read_cstr(ctx: HelperContext, addr: int, limit: int) -> bytes:
    out = bytearray()
    while len(out) < limit:
        b = ctx.memory.read(addr + len(out), 1)
        if b == b"\0":
            break
        out += b
    return bytes(out)


def _strncmp(ctx: HelperContext, s1: int, s1_sz: int, s2: int, *_: int) -> int:
    """bpf_strncmp(s1, s1_sz, s2): compare at most s1_sz bytes; -1, 0 or 1."""
    n = s1_sz & M32
    a = _read_cstr(ctx, s1, n)
    b = _read_cstr(ctx, s2, n)
    a = a + b"\0" if len(a) < n else a
    b = b + b"\0" if len(b) < n else b
    for ca, cb in zip(a[:n], b[:n]):
        if ca != cb:
            return 1 if ca > cb else M64  # -1
        if ca == 0:
            break
    return 0


# --- formatted output: bpf_trace_printk / bpf_snprintf ---------------------------------

_SPEC = re.compile(rb"%([-+ #0]*)(\d*)(?:\.(\d+))?(ll|l|h|hh|z)?([diuxXcsp%])")
EINVAL = 22


class FormatError(Exception):
    """A format string the kernel's bpf_bprintf_prepare would refuse (-EINVAL)."""


def bpf_format(fmt: bytes, args: list[int], read_str: Callable[[int], bytes],
               max_args: int) -> bytes:
    """Format as the kernel's BPF printf helpers do: %d %i %u %x %X %c %s %p and %%, with
    optional l/ll/h/z, flags, width and precision; %s reads a string from memory; other
    specifiers, or more conversions than `max_args`, are an error."""
    out = bytearray()
    pos = 0
    used = 0
    for m in _SPEC.finditer(fmt):
        out += fmt[pos:m.start()]
        pos = m.end()
        flags, width, prec, length, conv = m.groups()
        if conv == b"%":
            out += b"%"
            continue
        if used >= max_args:
            raise FormatError("too many conversions")
        arg = args[used] & M64
        used += 1
        bits = 64 if length in (b"l", b"ll", b"z") or conv == b"p" else 32
        if length == b"h":
            bits = 16
        elif length == b"hh":
            bits = 8
        val = arg & ((1 << bits) - 1)
        spec = "%" + flags.decode() + width.decode() + (("." + prec.decode()) if prec else "")
        if conv in (b"d", b"i"):
            sval = val - (1 << bits) if val >> (bits - 1) else val
            out += (spec + "d").__mod__(sval).encode()
        elif conv == b"u":
            out += (spec + "d").__mod__(val).encode()
        elif conv in (b"x", b"X"):
            out += (spec + conv.decode()).__mod__(val).encode()
        elif conv == b"c":
            out += bytes([arg & 0xFF])
        elif conv == b"p":
            out += ("0x%x" % arg).encode() if arg else b"(null)"
        elif conv == b"s":
            text = read_str(arg) if arg else b"(null)"
            out += (spec + "s").__mod__(text.decode("latin-1")).encode("latin-1")
    out += fmt[pos:]
    if b"%" in fmt[pos:]:
        raise FormatError("unsupported conversion")
    return bytes(out)


def _c_string(ctx: HelperContext, addr: int, limit: int = 4096) -> bytes:
    """A NUL-terminated string from program memory (what the kernel's %s reads)."""
    out = bytearray()
    while len(out) < limit:
        try:
            b = ctx.memory.read(addr + len(out), 1)
        except Exception:  # noqa: BLE001 - the kernel prints what it could read
            break
        if b == b"\0":
            break
        out += b
    return bytes(out)


def _trace_printk(ctx: HelperContext, fmt: int, fmt_size: int, a1: int, a2: int, a3: int) -> int:
    """bpf_trace_printk: format with up to 3 arguments into the trace pipe (the VM's
    `trace_pipe` list); returns the formatted length, or -EINVAL."""
    size = fmt_size & M32
    if size == 0:
        return (-EINVAL) & M64
    raw = ctx.memory.read(fmt, size)
    if b"\0" not in raw:
        return (-EINVAL) & M64
    try:
        text = bpf_format(raw.split(b"\0", 1)[0], [a1, a2, a3], lambda a: _c_string(ctx, a), 3)
    except FormatError:
        return (-EINVAL) & M64
    pipe = getattr(getattr(ctx, "vm", None), "trace_pipe", None)
    if pipe is not None:
        pipe.append(text.decode("latin-1"))
    return len(text)


def _snprintf(ctx: HelperContext, out: int, out_size: int, fmt: int, data: int,
              data_len: int) -> int:
    """bpf_snprintf(str, str_size, fmt, data, data_len): arguments are u64s at `data`;
    returns the length the whole string needs including the NUL, or -EINVAL."""
    n = data_len & M32
    if n % 8 or n > 8 * 12:
        return (-EINVAL) & M64
    args = list(struct.unpack(f"<{n // 8}Q", ctx.memory.read(data, n))) if n else []
    fmt_raw = _c_string(ctx, fmt)
    try:
        text = bpf_format(fmt_raw, args, lambda a: _c_string(ctx, a), n // 8)
    except FormatError:
        return (-EINVAL) & M64
    size = out_size & M32
    if size:
        chunk = text[:size - 1] + b"\0"
        ctx.memory.write(out, chunk)
    return len(text) + 1


_DEFAULT: tuple[tuple[str, HelperFn], ...] = (
    ("trace_printk", _trace_printk),
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


__all__ = ["Helper", "HelperRegistry", "HelperContext", "HelperMemory", "ProgramExit",
           "default_helpers", "helper_name", "seeded_rng", "M64"]


def helpers_named(names: Iterable[str]) -> list[int]:
    """IDs for kernel helper names, with or without the `bpf_` prefix."""
    return [HELPER_IDS[n.removeprefix("bpf_")] for n in names]
