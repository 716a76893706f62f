"""BPF_PROG_TEST_RUN once per packet at the least Python cost a run, for a capture.

The kernel runs a different packet in every test run (`repeat` repeats one packet), so
a capture is one bpf(2) call per packet; what is left to save is the Python around it.
A `PacketTestRun` makes everything once: one attr with its bpf(2) arguments, an input
buffer that only grows (each packet is copied into it in place) and, only when the
caller wants the packets as the program left them, an output buffer. Without one the
attr's data_out is NULL, so the kernel copies nothing back; it still reports the
verdict (retval) and the output size. `count()` runs a whole stream of packets in one
Python loop, counting verdicts in a dict.
"""

from __future__ import annotations

import ctypes
import errno as _errno
from typing import Any, Callable, Iterable

from . import abi
from .abi import BpfCmd
from .errors import KernelError, KernelTestRunError, prog_test_run_error
from .fd import FD, Owner, fd_of
from .syscall import PreparedCall

DATA_OUT_ROOM = 4096
"""Room given for a packet that grows (what prog_test_run's data_size_out defaults to
beyond the input's length)."""

_MIN_BUFFER = 4096
_RAW = (bytes, bytearray, memoryview)


class PacketTestRun:
    """BPF_PROG_TEST_RUN of one program on one packet after another: `run(data)` is
    prog_test_run(prog, data).retval (KernelTestRunError where the kernel refuses the
    packet), with the packet as the program left it in `output()` when `keep_output`
    (else b"") and the run's time in `duration`. No ctx_in, flags or repeat: the
    plain test run of a captured packet. Not for two threads at once."""

    __test__ = False  # not a pytest class

    __slots__ = ("attr", "keep_output", "_call", "_args", "_prepared", "_in", "_view",
                 "_cap", "_out", "_out_view", "_fd")

    def __init__(self, prog: "int | FD | Owner", *, keep_output: bool = False) -> None:
        self.attr = a = abi.TestRunAttr(prog_fd=fd_of(prog), repeat=1)
        # the owned fd, asked whether it is still open before each run (its number
        # could by then be another object's)
        self._fd = prog._fd if isinstance(prog, Owner) else prog if isinstance(prog, FD) \
            else None
        self.keep_output = keep_output
        try:
            self._prepared = PreparedCall(BpfCmd.PROG_TEST_RUN, a)
        except KernelError as e:  # no bpf(2) on this platform
            raise prog_test_run_error(e.errno, e.detail) from None
        self._call, self._args = self._prepared.raw
        self._cap = 0
        self._in: ctypes.Array | None = None
        self._out: ctypes.Array | None = None
        self._view = self._out_view = memoryview(b"")
        self._grow(_MIN_BUFFER)

    def _grow(self, size: int) -> None:
        """Input room for `size` bytes (and output room for it grown by
        DATA_OUT_ROOM when the output is kept)."""
        cap = max(size, 2 * self._cap, _MIN_BUFFER)
        self._in = ctypes.create_string_buffer(cap)
        self._view = memoryview(self._in).cast("B")
        self.attr.data_in = ctypes.addressof(self._in)
        if self.keep_output:
            self._out = ctypes.create_string_buffer(cap + DATA_OUT_ROOM)
            self._out_view = memoryview(self._out).cast("B")
            self.attr.data_out = ctypes.addressof(self._out)
        self._cap = cap

    def _failed(self) -> None:
        """After a bare call returned -1: retry an interrupted call, else raise the
        kernel's refusal as prog_test_run() does."""
        ret, err = self._prepared.retry()
        if ret >= 0:
            return
        if err == _errno.ENOSPC:
            raise prog_test_run_error(err, f"output needs data {self.attr.data_size_out} / "
                                           f"ctx {self.attr.ctx_size_out} bytes")
        raise prog_test_run_error(err, "")

    def run(self, data: "bytes | bytearray | memoryview") -> int:
        """One test run of `data`; the program's 32-bit return value."""
        if self._fd is not None and self._fd.closed:
            raise ValueError("I/O operation on closed prog fd")
        n = len(data)
        if not n:
            return self._run_empty()
        if n > self._cap:
            self._grow(n)
        self._view[:n] = data
        a = self.attr
        a.data_size_in = n
        # the kernel writes the output's size back here: without an output buffer it
        # is set to 0 for every run (a size there would clamp, and fail, the next one)
        a.data_size_out = n + DATA_OUT_ROOM if self.keep_output else 0
        if self._call(*self._args) < 0:
            self._failed()
        return int(a.retval)

    def _run_empty(self) -> int:
        """A run without data, as prog_test_run passes it: no data_in or data_out
        buffer at all (program types that take no packet insist on that)."""
        a = self.attr
        din, dout = a.data_in, a.data_out
        a.data_in = a.data_out = a.data_size_in = a.data_size_out = 0
        try:
            if self._call(*self._args) < 0:
                self._failed()
        finally:
            a.data_in, a.data_out = din, dout
        return int(a.retval)

    def output(self) -> bytes:
        """The packet the last run left (test_run's data_out), when the output is
        kept; b"" otherwise."""
        if not self.keep_output:
            return b""
        return self._out_view[:self.attr.data_size_out].tobytes()

    @property
    def duration(self) -> int:
        """The last run's time in the kernel (ns)."""
        return int(self.attr.duration)

    def count(self, packets: Iterable[Any], counts: dict[Any, int],
              on_error: Callable[[KernelTestRunError], None]) -> int:
        """Run every packet of `packets` (bytes-like, or objects with the bytes in
        `.data`: pybpf.pcap.Packet) in order: each return value counted in `counts`
        (value -> runs), each refused run handed to `on_error` instead. Returns how
        many packets ran."""
        if self._fd is not None and self._fd.closed:
            raise ValueError("I/O operation on closed prog fd")
        a = self.attr
        call, args = self._call, self._args
        view, cap = self._view, self._cap
        out_room = DATA_OUT_ROOM if self.keep_output else None
        get = counts.get
        done = 0
        for pkt in packets:
            data = pkt if isinstance(pkt, _RAW) else pkt.data
            n = len(data)
            if n > cap or not n:
                try:
                    retval = self.run(data)
                except KernelTestRunError as e:
                    on_error(e)
                else:
                    counts[retval] = get(retval, 0) + 1
                view, cap = self._view, self._cap
                done += 1
                continue
            view[:n] = data
            a.data_size_in = n
            a.data_size_out = n + out_room if out_room else 0
            if call(*args) < 0:
                try:
                    self._failed()
                except KernelTestRunError as e:
                    on_error(e)
                    done += 1
                    continue
            retval = a.retval
            counts[retval] = get(retval, 0) + 1
            done += 1
        return done


__all__ = ["DATA_OUT_ROOM", "PacketTestRun"]
