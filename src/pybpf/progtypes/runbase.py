"""What every program type's test run shares: the normalized BPF_PROG_TEST_RUN
arguments, the kernel's ctx_in/ctx_out and data_out rules (bpf_ctx_init,
bpf_ctx_finish, bpf_test_finish), the timing loop, and the packet region access."""

from __future__ import annotations

import errno
import time
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from ..errors import MemoryAccessError
from ..maps.spec import PAGE_SIZE
from .errors import TestRunError

U32_MAX = 0xFFFF_FFFF
ETH_HLEN = 14
SHINFO_SIZE = 320  # SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) on x86-64


@dataclass(frozen=True)
class TestRunResult:
    """What BPF_PROG_TEST_RUN reports: the program's 32-bit return value, the packet and
    the context after the run, and the mean time of one run in ns (field names as
    pybpf.kernel's TestRunResult, so results of both backends compare directly)."""

    __test__ = False  # not a pytest class

    retval: int
    data_out: bytes
    ctx_out: bytes
    duration: int

    @property
    def duration_ns(self) -> int:
        return self.duration


class RunArgs(NamedTuple):
    """The attr of one BPF_PROG_TEST_RUN, with pybpf.kernel.prog_test_run's defaults:
    no data_in is a NULL pointer, data_size_out 0 means no data_out buffer, ctx_size_out
    0 means no ctx_out buffer. (A named tuple: one is made per test run.)"""

    data_in: bytes
    data_size_out: int
    ctx_in: bytes
    ctx_size_out: int
    repeat: int
    flags: int
    cpu: int
    batch_size: int

    @classmethod
    def make(cls, data_in: bytes | None, ctx_in: bytes | None, data_size_out: int | None,
             ctx_size_out: int | None, repeat: int, flags: int, cpu: int,
             batch_size: int) -> "RunArgs":
        din = data_in if type(data_in) is bytes else bytes(data_in or b"")
        cin = ctx_in if type(ctx_in) is bytes else bytes(ctx_in or b"")
        if data_size_out is None:
            data_size_out = len(din) + 4096 if din else 0
        if ctx_size_out is None:
            ctx_size_out = len(cin)
        return cls(din, data_size_out, cin, ctx_size_out, repeat, flags, cpu, batch_size)

    @property
    def has_data_in(self) -> bool:
        return bool(self.data_in)

    @property
    def has_data_out(self) -> bool:
        return self.data_size_out > 0

    @property
    def has_ctx_in(self) -> bool:
        return bool(self.ctx_in)

    @property
    def has_ctx_out(self) -> bool:
        return self.ctx_size_out > 0


def ctx_init(args: RunArgs, max_size: int) -> bytearray | None:
    """bpf_ctx_init: None without ctx_in and ctx_out; else `max_size` zero bytes with
    ctx_in copied in. A longer ctx_in must be zero past `max_size` (E2BIG otherwise)."""
    if not args.has_ctx_in and not args.has_ctx_out:
        return None
    ctx = bytearray(max_size)
    if args.has_ctx_in:
        cin = args.ctx_in
        if len(cin) > PAGE_SIZE:
            raise TestRunError(errno.E2BIG, f"ctx_in of {len(cin)} bytes exceeds a page")
        if len(cin) > max_size and any(cin[max_size:]):
            raise TestRunError(errno.E2BIG, f"ctx_in has non-zero bytes past the "
                                            f"{max_size}-byte context")
        n = min(len(cin), max_size)
        ctx[:n] = cin[:n]
    return ctx


def data_finish(args: RunArgs, linear: bytes, frags: list[bytes] | None = None) -> bytes:
    """bpf_test_finish: the data_out the caller sees. With a data_size_out hint smaller
    than the output, the kernel copies what fits and fails with ENOSPC."""
    frag_total = sum(len(f) for f in frags) if frags else 0
    size = len(linear) + frag_total
    if not args.has_data_out:
        return b""
    copy = size
    if copy > args.data_size_out:
        copy = args.data_size_out
    if copy == size:
        return bytes(linear) + b"".join(frags or [])
    # ENOSPC: the kernel copies copy - frags_size linear bytes, then frags up to copy.
    lin = copy - frag_total if frags is not None else copy
    partial = b""
    if lin >= 0:
        partial = bytes(linear[:lin])
        off = lin
        for f in frags or []:
            if off >= copy:
                break
            n = min(copy - off, len(f))
            partial += bytes(f[:n])
            off += n
    raise TestRunError(errno.ENOSPC, f"data_out needs {size} bytes, data_size_out is "
                                     f"{args.data_size_out}", partial)


def ctx_finish(args: RunArgs, ctx: bytes | bytearray | None) -> bytes:
    """bpf_ctx_finish: the ctx_out the caller sees (ENOSPC if ctx_size_out is short)."""
    if ctx is None or not args.has_ctx_out:
        return b""
    if args.ctx_size_out < len(ctx):
        raise TestRunError(errno.ENOSPC, f"ctx_out needs {len(ctx)} bytes, ctx_size_out "
                                         f"is {args.ctx_size_out}",
                           bytes(ctx[:args.ctx_size_out]))
    return bytes(ctx)


def timed(run_once: Callable[[], int], repeat: int) -> tuple[int, int]:
    """Run `repeat` times (at least once) on the same state, as bpf_test_run; the
    32-bit retval of the last run and the mean ns per run (capped at U32_MAX)."""
    n = max(repeat, 1)
    retval = 0
    t0 = time.perf_counter_ns()
    for _ in range(n):
        retval = run_once() & U32_MAX
    spent = (time.perf_counter_ns() - t0) // n
    return retval, min(spent, U32_MAX)


class PacketAccess:
    """RegionAccess for a packet buffer: the program may touch only the current window
    (data_meta .. data_end for XDP and tc, data .. data_end for others), which moves as
    helpers change the packet; `window()` is asked at each access."""

    def __init__(self, name: str, window: Callable[[], tuple[int, int]],
                 writable: bool) -> None:
        self.name = name
        self.window = window
        self.writable = writable
        self.base = 0
        self.buf: bytearray = bytearray()

    def _fault(self, pc: int, kind: str, off: int, size: int, why: str) -> MemoryAccessError:
        return MemoryAccessError(pc, kind, self.base + off, size, self.name, why)

    def plain_window(self, buf: Any) -> tuple[int, int, bool] | None:
        """The window, as pybpf.vm.WindowAccess: plain memory of `buf` when it is this
        packet's buffer."""
        if buf is not self.buf:
            return None
        lo, hi = self.window()
        return lo, hi, self.writable

    def load(self, off: int, size: int, pc: int) -> int:
        lo, hi = self.window()
        if off < lo or off + size > hi:
            raise self._fault(pc, "load", off, size,
                              f"outside the packet window [{lo}, {hi})")
        return int.from_bytes(self.buf[off:off + size], "little")

    def store(self, off: int, size: int, value: int, pc: int) -> None:
        lo, hi = self.window()
        if not self.writable:
            raise self._fault(pc, "store", off, size, "packet data is read-only for this "
                                                       "program type")
        if off < lo or off + size > hi:
            raise self._fault(pc, "store", off, size,
                              f"outside the packet window [{lo}, {hi})")
        self.buf[off:off + size] = value.to_bytes(size, "little")
