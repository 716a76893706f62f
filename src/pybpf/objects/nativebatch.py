"""run_batch in native code (pybpf.jit.batch): an XDP program on the VM's JIT over a
capture's records, one native call for many packets. The records come from the
capture file itself (pcap.RecordBuffer: classic pcap of Ethernet frames) or are packed
from the packets given (any other stream or list, a bounded piece at a time). A packet
the native loop hands back (a length the page cannot take, a fault, an exception, a
return value past the histogram) is finished here as run_batch's own loop would
finish it, so results, maps and errors are the same as on the interpreter.

On the auto engine the first packets run on the interpreter; once they have cost what
compiling would, the program is compiled and a first native piece is timed against
them: the faster of the two runs the rest."""

from __future__ import annotations

import struct
import time
from collections import Counter
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from ..errors import PyBPFError
from ..uapi import ProgType
from .verdicts import passed_frame, passes

if TYPE_CHECKING:
    from .instance import Program
    from .runner import BatchResult

_PACK = struct.Struct("<IIII")
_PIECE = 4096  # packets packed into one buffer
_M32 = 0xFFFF_FFFF
_TS_MAX = (1 << 32) * 1_000_000_000  # a time a record can hold
_ALL = 1 << 62
_TRIAL = 2048  # packets of the first native piece on the auto engine
_SAMPLE = 64  # packets run in Python before their cost predicts the rest's
END = object()  # the end of a stream of items


_NATIVE_TYPES = (ProgType.XDP, ProgType.SCHED_CLS, ProgType.SCHED_ACT, ProgType.SOCKET_FILTER,
                 ProgType.CGROUP_SKB, ProgType.LWT_IN, ProgType.LWT_OUT, ProgType.LWT_XMIT)


def error_key(e: BaseException) -> str:
    """How run_batch counts an error: its type and the first part of its message."""
    return type(e).__name__ + ": " + str(e).split(";")[0][:80]


def applicable(prog: "Program") -> bool:
    """Whether run_batch of `prog` may run natively: an XDP or skb program on the VM's
    JIT (or the auto engine), nothing wrapping its test runs, the default
    surroundings."""
    if prog.type not in _NATIVE_TYPES or prog._packet_runner is not None or \
            prog._runner is not prog._base_runner or prog._world.get("netns") is not None:
        return False
    from ..jit.machine import JitVM
    vm = prog.handle
    if not isinstance(vm, JitVM) or vm._idle_ctx is None:
        return False
    from ..jit import batch
    if vm.native is None and not batch.auto_pending(vm):
        return False
    from ..jit.native import available
    return available()


class _Records:
    """Where the records come from: (buffer, flags, max record) pieces, or a Packet
    the walker must not see (a time a record cannot hold, an item that is no packet)."""

    def __init__(self, packets: Iterable[Any]) -> None:
        from ..pcap import record_buffer_of
        self.buffer = record_buffer_of(packets)
        self._it: Iterator[Any] | None = None if self.buffer is not None else iter(packets)
        self._held: Any = None

    def flags(self) -> int:
        from ..jit.batch_ir import Flag
        b = self.buffer
        if b is None:
            return int(Flag.NANO)
        return (Flag.BIG_ENDIAN if b.big_endian else 0) | (Flag.NANO if b.nano else 0)

    def maxpkt(self) -> int:
        from ..pcap import MAX_PACKET
        return MAX_PACKET if self.buffer is not None else _M32

    def next_item(self) -> Any:
        """The next item as it is (END at the end): one at a time, for packets run in
        Python (each passing packet is handed on before the next is read)."""
        if self._held is not None:
            item, self._held = self._held, None
            return item
        assert self._it is not None
        return next(self._it, END)

    def next_piece(self) -> tuple[bytes, Any]:
        """(records, None), or (b"", an item to run in Python), or (b"", None) at the
        end."""
        if self._held is not None:
            item, self._held = self._held, None
            return b"", item
        assert self._it is not None
        parts: list[bytes] = []
        for item in self._it:
            if isinstance(item, (bytes, bytearray, memoryview)):
                data = bytes(item)
                ts, orig = 0, len(data)
            else:
                try:
                    data, ts, orig = item.data, item.ts_ns, item.orig_len
                except AttributeError:
                    ts = -1
                if not (isinstance(ts, int) and 0 <= ts < _TS_MAX and isinstance(data, bytes)
                        and len(data) <= _M32):
                    if parts:
                        self._held = item
                        break
                    return b"", item
            sec, frac = divmod(ts, 1_000_000_000)
            parts.append(_PACK.pack(sec, frac, len(data), min(orig, _M32) if orig >= 0 else 0))
            parts.append(data)
            if len(parts) >= 2 * _PIECE:
                break
        return b"".join(parts), None


def run_native(prog: "Program", packets: Iterable[Any], result: "BatchResult", *,
               runner: Callable[[bytes], int], capture_clock: bool, keep_frames: bool,
               progress: Callable[[int, int], None] | None, total: int,
               on_pass: Callable[[Any], None] | None) -> tuple[Counter, int, dict[int, bool]]:
    """run_batch natively (the caller checked `applicable`), with run_batch's own
    per-packet `runner` (run(data) -> retval, run.output()) for what the native loop
    hands back; (the counts by return value and "error", the packets run, what
    pybpf.objects.verdicts.passes said of each return value)."""
    job = _Job(prog, result, runner, capture_clock, keep_frames, progress, total,
               on_pass)
    try:
        job.run(_Records(packets))
    finally:
        job.close()
    return job.counts, job.n, job.passing


class _Job:
    """One native run_batch: the batch (made once the program is native), the Python
    runner for what is handed back, and the counts."""

    def __init__(self, prog: "Program", result: "BatchResult", runner: Callable[[bytes], int],
                 capture_clock: bool, keep_frames: bool,
                 progress: Callable[[int, int], None] | None, total: int,
                 on_pass: Callable[[Any], None] | None) -> None:
        self.prog = prog
        self.vm = prog.handle
        self.result = result
        self.capture_clock = capture_clock
        self.want = keep_frames or on_pass is not None
        self.frames = result.frames
        self.progress = progress
        self.total = total
        self.on_pass = on_pass
        self.counts: Counter = Counter()
        self.passing: dict[int, bool] = {}
        self.n = 0  # packets finished (natively or here)
        self.now = [0]
        if capture_clock:
            prog.set_clock(lambda: self.now[0])
        self.runner: Any = runner  # run(data) -> retval, with run.output()
        self.batch: Any = None
        self.page_runner: Any = None
        self.native = not _auto(self.vm)
        self.python_ns = 0  # CPU time of the packets run here (the auto engine's measure)
        self.python_packets = 0
        self.python_bytes = 0  # their records' bytes (a capture file's)
        self.records: _Records | None = None

    # --- the batch -------------------------------------------------------------------
    def _open(self) -> bool:
        """The batch, made now; False when the program cannot run natively."""
        from ..jit.batch import compile_now
        from ..progtypes.skbbatch import skb_batch
        from ..progtypes.xdpbatch import xdp_batch
        if not compile_now(self.vm):
            return False
        from ..jit.native import JitUnavailable
        made: tuple[Any, Any] | None
        try:
            if self.prog.type == ProgType.XDP:
                made = xdp_batch(self.vm, self.prog.spec.expected_attach_type,
                                 want_frames=self.want)
            else:
                made = skb_batch(self.vm, ProgType(self.prog.type), want_frames=self.want)
            if made is None:
                return False
            batch, runner = made
            batch.capture_clock = self.capture_clock
            batch.__enter__()
        except (JitUnavailable, RuntimeError):  # no driver here, a run in progress
            return False
        self.batch, self.page_runner = batch, runner
        return True

    def close(self) -> None:
        if self.batch is not None:
            self.batch.__exit__(None, None, None)
            self.batch = None
            self.page_runner.bound.close()

    # --- the records -----------------------------------------------------------------
    def run(self, records: _Records) -> None:
        self.records = records
        if self.native and not self._open():
            self.native = False
        buf = records.buffer
        if buf is not None:
            while buf.fill():
                buf.pos = self._walk(buf.buf, buf.pos, buf.end, records)
                buf.packets = self.n
            buf.packets = self.n
            buf.close()
            self._report(final=True)
            return
        while True:
            if not self.native:  # the auto engine before it compiles: item by item
                one = records.next_item()
                if one is END:
                    break
                t0 = time.process_time_ns()
                self._python(one)
                self.python_ns += time.process_time_ns() - t0
                self.python_packets += 1
                self._worth_compiling()
                continue
            piece, item = records.next_piece()
            if item is not None:
                self._python(item)
                continue
            if not piece:
                break
            pos = self._walk(piece, 0, len(piece), records)
            assert pos == len(piece), "a packed piece holds whole records"
        self._report(final=True)

    def _walk(self, buf: bytes | bytearray, pos: int, end: int, records: _Records) -> int:
        """Run the records of `buf` from `pos` until none is complete before `end`; the
        offset of the first one not run."""
        from ..jit.batch_ir import BatchExit, Word
        flags, maxpkt = records.flags(), records.maxpkt()
        while True:
            if not self.native:
                pos, more = self._walk_python(buf, pos, end, records)
                if not more:
                    return pos
                continue
            batch = self.batch
            done0 = batch.word(Word.DONE)
            limit = _ALL if self.progress is None else 64 - (self.n & 63)
            if self._trial():
                limit = min(limit, _TRIAL)
            t0 = time.process_time_ns()
            code, pos = batch.feed(buf, end, pos, flags, limit, maxpkt)
            spent = time.process_time_ns() - t0
            ran = batch.word(Word.DONE) - done0
            self.n += ran
            if self._trial():
                self._decide(ran, spent)
            if self.want:
                self._drain()
            if code == BatchExit.MORE:
                return pos
            if code == BatchExit.LIMIT:
                self._report()
                continue
            if code == BatchExit.BAD:
                from ..pcap import too_big
                raise too_big(self.n + 1, records.buffer.header(pos)[2] if records.buffer
                              else 0)
            if code == BatchExit.PYTHON:
                sec, frac, incl, orig = _header(buf, pos, records)
                data = bytes(buf[pos + 16:pos + 16 + incl])
                pos += 16 + incl
                self._python_packet(data, _ts(sec, frac, records), orig)
                continue
            if code in (BatchExit.STATUS, BatchExit.VERDICT):
                self._handed_back(buf, batch.word(Word.LASTPOS), records)
                continue
            # BatchExit.FULL: the frames were drained above

    def _walk_python(self, buf: bytes | bytearray, pos: int, stop: int,
                     records: _Records) -> tuple[int, bool]:
        """The records of `buf` one by one in Python (the auto engine before it has
        compiled), until the program is worth compiling; (offset, whether to go on)."""
        maxpkt = records.maxpkt()
        while pos + 16 <= stop:
            sec, frac, incl, orig = _header(buf, pos, records)
            if incl > maxpkt:
                from ..pcap import too_big
                raise too_big(self.n + 1, incl)
            end = pos + 16 + incl
            if end > stop:
                break
            t0 = time.process_time_ns()
            self._python_packet(bytes(buf[pos + 16:end]), _ts(sec, frac, records), orig)
            self.python_ns += time.process_time_ns() - t0
            self.python_packets += 1
            self.python_bytes += end - pos
            pos = end
            if self._worth_compiling():
                return pos, True
        return pos, False

    # --- the auto engine -------------------------------------------------------------
    def _worth_compiling(self) -> bool:
        """On the auto engine: once the packets run here cost what compiling would, or
        sooner when the packets still to come (a capture file's size, a list's length)
        would cost twice that here, compile and go native (the next piece is timed
        against them)."""
        from ..jit.batch import compile_cost_ns
        if self.batch is not None or self.python_ns < 0:
            return False
        cost = compile_cost_ns(self.vm)
        if self.python_ns < cost:
            left = self._left()
            if left is None or self.python_packets < _SAMPLE or \
                    self.python_ns / self.python_packets * left < 2 * cost:
                return False
        if self._open():
            self.native = True
            return True
        self.python_ns = -(1 << 62)  # never again
        return False

    def _left(self) -> float | None:
        """About how many packets are still to come, when that is known."""
        if self.python_packets == 0:
            return None
        if self.records is not None and self.records.buffer is not None:
            b = self.records.buffer
            unread = b.unread()
            if unread is None or not self.python_bytes:
                return None
            return (unread + b.end - b.pos) / (self.python_bytes / self.python_packets)
        if self.total:
            return max(self.total - self.n, 0)
        return None

    def _trial(self) -> bool:
        return self.python_packets > 0 and self.native and self.python_ns > 0

    def _decide(self, ran: int, spent: int) -> None:
        """After the first native piece: native from now on if its packets were
        cheaper than those run in Python, else Python for the rest."""
        if ran < 64 and spent < self.python_ns:
            return  # too few to judge: time the next piece too
        per_python = self.python_ns / self.python_packets
        self.native = ran > 0 and spent / ran < per_python
        self.python_ns = 0  # decided
        if not self.native:
            self.python_ns = -(1 << 62)

    # --- packets run here ------------------------------------------------------------
    def _python(self, item: Any) -> None:
        """An item the records could not hold, as run_batch's loop runs it."""
        if isinstance(item, (bytes, bytearray, memoryview)):
            self._python_packet(bytes(item), 0, len(item))
        else:
            self._python_packet(item.data, item.ts_ns, getattr(item, "orig_len",
                                                                len(item.data)))

    def _python_packet(self, data: bytes, ts: int, orig: int) -> None:
        """One packet through the VM's own per-packet runner (run_batch's loop body)."""
        self.n += 1
        self._set_time(ts)
        try:
            if self.batch is not None:
                with self.batch.python():
                    retval = self.runner(data)
            else:
                retval = self.runner(data)
        except PyBPFError as e:
            self.result.errors[error_key(e)] += 1
            self.counts["error"] += 1
        else:
            self._verdict(retval, self.runner.output, ts, orig, data)
        if not self.n & 63:
            self._report()

    def _handed_back(self, buf: bytes | bytearray, pos: int, records: _Records) -> None:
        """The packet the native loop ran but did not finish: its outcome counted,
        its frame (the page as it left it) kept when it passes."""
        sec, frac, incl, orig = _header(buf, pos, records)
        data = bytes(buf[pos + 16:pos + 16 + incl])
        self.n += 1
        retval, err = self.batch.outcome()
        if err is not None:
            if not isinstance(err, PyBPFError):
                raise err
            self.result.errors[error_key(err)] += 1
            self.counts["error"] += 1
        else:
            assert retval is not None
            out = self.batch.last_frame()
            self._verdict(retval, lambda: out, _ts(sec, frac, records), orig, data)
        if not self.n & 63:
            self._report()

    def _verdict(self, retval: int, output: Callable[[], bytes], ts: int, orig: int,
                 data: bytes) -> None:
        self.counts[retval] += 1
        ok = self.passing.get(retval)
        if ok is None:
            ok = self.passing[retval] = passes(self.prog.type, retval)
        if ok and self.want:
            self._emit(passed_frame(self.prog.type, retval, output, data), ts, orig)

    def _emit(self, out: bytes, ts: int, orig: int) -> None:
        from ..pcap import Packet
        if self.frames is not None:
            self.frames.append(out)
        if self.on_pass is not None:
            self.on_pass(Packet(ts, out, max(len(out), orig)))

    def _drain(self) -> None:
        """The frames the native loop kept, in order; and the verdicts it counted."""
        for f in self.batch.frames():
            self._emit(f.data, f.ts_ns, f.orig_len)

    def _set_time(self, ts: int) -> None:
        self.now[0] = ts
        if self.batch is not None and self.capture_clock:
            from ..jit.batch_ir import Word
            self.batch.set_word(Word.TS, ts & ((1 << 64) - 1))

    def _report(self, final: bool = False) -> None:
        if self.batch is not None:
            for r0, c in self.batch.take_counts().items():
                self.counts[r0] += c
        if self.progress is not None and (final and self.n & 63 or not final):
            self.progress(self.n, max(self.total, self.n))


def _auto(vm: Any) -> bool:
    from ..jit.batch import auto_pending
    return auto_pending(vm)


def _header(buf: bytes | bytearray, pos: int, records: _Records) -> tuple[int, int, int, int]:
    if records.buffer is not None:
        return records.buffer.header(pos)
    return _PACK.unpack_from(buf, pos)


def _ts(sec: int, frac: int, records: _Records) -> int:
    if records.buffer is not None:
        return records.buffer.ts_ns(sec, frac)
    return sec * 1_000_000_000 + frac


__all__ = ["END", "applicable", "error_key", "run_native"]

