"""`pybpf.BPF`: BCC's Python API over pybpf, for BCC users. `BPF(text=C)` compiles C at
run time (clang from PATH or the ziglang package's, see pybpf.frontend.c), or a
restricted-Python file (`src_file="x.py"`), and instantiates it on `backend` "vm" or
"kernel"; `b["map"]` is a table, `attach_*` attach programs by name, and
`trace_print()` / `trace_fields()` read what bpf_trace_printk wrote (the VM's trace
pipe, or a tracefs instance in the kernel)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Self, TextIO

from .errors import PyBPFError

if TYPE_CHECKING:
    from .backend import TestRunResult
    from .kernel.tracepipe import TracePrintk
    from .maps.base import Map
    from .objects.instance import Object, Program
    from .objects.output import OutputRecord, RunCapture

# BCC's callbacks: ring buffers call cb(ctx, data, size), perf buffers cb(cpu, data, size)
# (the first argument is the user's ctx or a cpu number: Any, so either kind of callback fits)
OutputCallback = Callable[[Any, "OutputRecord", int], object]


class BPFError(PyBPFError):
    """A BCC-style call that pybpf cannot do: an unknown map or function, a bad
    argument, or nothing to read."""


class OutputTable:
    """`b["events"]` for a ring buffer or perf event array: BCC's open_ring_buffer /
    open_perf_buffer and event(); anything else goes to the pybpf map itself."""

    def __init__(self, bpf: BPF, name: str, m: Map) -> None:
        self._bpf, self.name, self.map = bpf, name, m

    def open_ring_buffer(self, callback: OutputCallback, ctx: object = None) -> None:
        """callback(ctx, data, size) for each record, called from ring_buffer_poll()."""
        self._bpf._open_output(self.name, callback, ctx)

    def open_perf_buffer(self, callback: OutputCallback, page_cnt: int = 8,
                         lost_cb: Callable[..., object] | None = None) -> None:
        """callback(cpu, data, size) for each record, called from perf_buffer_poll()."""
        self._bpf._open_output(self.name, callback, None)

    @staticmethod
    def event(data: OutputRecord | bytes) -> object:
        """The record a callback got, its fields as attributes (decoded by BTF when the
        object declares the record's type; else the bytes)."""
        value = getattr(data, "value", None)
        return SimpleNamespace(**value) if isinstance(value, dict) else getattr(data, "data",
                                                                                data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.map, name)


class BPF:
    """A compiled, instantiated object with BCC's methods."""

    # bpf(2) XDP flags (linux/if_link.h), as BCC exposes them
    XDP_FLAGS_UPDATE_IF_NOEXIST = 1
    XDP_FLAGS_SKB_MODE = 2
    XDP_FLAGS_DRV_MODE = 4
    XDP_FLAGS_HW_MODE = 8
    SOCKET_FILTER, KPROBE, SCHED_CLS, TRACEPOINT, XDP, RAW_TRACEPOINT = 1, 2, 3, 5, 6, 17

    def __init__(self, text: str | None = None, src_file: str | os.PathLike[str] | None = None,
                 cflags: Sequence[str] = (), *, backend: str = "vm", compiler: str = "auto",
                 debug: int = 0) -> None:
        if (text is None) == (src_file is None):
            raise BPFError("BPF() takes text= (C source) or src_file= (a .c or .py file)")
        if backend not in ("vm", "kernel"):
            raise BPFError(f"unknown backend {backend!r} (expected 'vm' or 'kernel')")
        self.backend = backend
        self.debug = debug
        if src_file is not None and str(src_file).endswith(".py"):
            from .frontend.python import compile_file
            self.spec = compile_file(src_file).spec()
        else:
            from .frontend.c import compile_c
            # exactly one of text and src_file (checked above): `or ""` never applies
            source: str | os.PathLike[str] = Path(src_file) if src_file is not None else text or ""
            self.spec = compile_c(source, list(cflags), compiler=compiler)
        self.obj: Object | None = self.spec.instantiate(backend)
        self._xdp: dict[str, Any] = {}  # the links attach_xdp made, by device
        self._trace: TracePrintk | None = None
        self._vm_marks: dict[str, int] = {}
        self._capture: RunCapture | None = None
        self._callbacks: dict[str, tuple[OutputCallback, object]] = {}
        self._handed = 0
        if backend == "kernel":
            self._open_kernel_trace()

    @property
    def _object(self) -> Object:
        """The instantiated object; cleanup() closes it and later calls are errors."""
        if self.obj is None:
            raise BPFError("this BPF object is closed (cleanup() was called)")
        return self.obj

    # ---- tables and functions ----
    def __getitem__(self, name: str) -> OutputTable | Map:
        try:
            m = self._object.maps[name]
        except KeyError:
            raise BPFError(f"no map named {name!r}; the maps are: "
                           f"{', '.join(sorted(self._object.maps)) or 'none'}") from None
        if m.spec.type_name in ("ringbuf", "perf_event_array"):
            return OutputTable(self, name, m)
        return m

    def __contains__(self, name: object) -> bool:
        return name in self._object.maps

    def get_table(self, name: str) -> OutputTable | Map:
        return self[name]

    def load_func(self, fn_name: str, prog_type: int | None = None) -> Program:
        """The instantiated program `fn_name` (its `.fd`, `.test_run`, `.attach_*`)."""
        try:
            return self._object.programs[fn_name]
        except KeyError:
            raise BPFError(f"no function named {fn_name!r}; the programs are: "
                           f"{', '.join(sorted(self._object.programs)) or 'none'}") from None

    def _fn(self, fn: str | Program) -> Program:
        return self.load_func(fn) if isinstance(fn, str) else fn

    # ---- attaching ----
    def attach_tracepoint(self, tp: str = "", fn_name: str = "") -> Any:
        """tp is "category:name" (BCC's spelling)."""
        cat, sep, name = tp.partition(":")
        if not sep or not cat or not name:
            raise BPFError(f"tracepoint {tp!r}: write category:name")
        return self._fn(fn_name).attach_tracepoint(cat, name)

    def attach_raw_tracepoint(self, tp: str = "", fn_name: str = "") -> Any:
        return self._fn(fn_name).attach_raw_tracepoint(tp)

    def attach_kprobe(self, event: str = "", fn_name: str = "", event_off: int = 0) -> Any:
        prog = self._fn(fn_name)
        attach = getattr(prog, "attach_kprobe", None)
        if attach is not None:
            return attach(event, offset=event_off) if event_off else attach(event)
        return prog.attach(event)

    def attach_uprobe(self, name: str = "", sym: str = "", addr: int | None = None,
                      fn_name: str = "", pid: int = -1) -> Any:
        return self._fn(fn_name).attach_uprobe(name, sym or None, addr, pid=pid)

    def attach_uretprobe(self, name: str = "", sym: str = "", addr: int | None = None,
                         fn_name: str = "", pid: int = -1) -> Any:
        return self._fn(fn_name).attach_uprobe(name, sym or None, addr, pid=pid, retprobe=True)

    def attach_xdp(self, dev: str, fn: str | Program, flags: int = 0) -> Any:
        mode = "hw" if flags & self.XDP_FLAGS_HW_MODE else \
            "drv" if flags & self.XDP_FLAGS_DRV_MODE else "skb"
        if dev in self._xdp:
            self.remove_xdp(dev)
        link = self._fn(fn).attach_xdp(dev, mode)
        self._xdp[dev] = link
        return link

    def remove_xdp(self, dev: str, flags: int = 0) -> None:
        link = self._xdp.pop(dev, None)
        if link is None:
            raise BPFError(f"no XDP program attached to {dev} by this object")
        link.close()

    @staticmethod
    def get_syscall_fnname(name: str) -> str:
        return f"__x64_sys_{name}"

    # ---- running (not in BCC: the VM is pybpf's) ----
    def test_run(self, fn_name: str, data: bytes = b"", **kw: Any) -> TestRunResult:
        return self.load_func(fn_name).test_run(data, **kw)

    # ---- ring buffers and perf buffers ----
    def _open_output(self, name: str, callback: OutputCallback, ctx: object) -> None:
        if not callable(callback):
            raise BPFError(f"{name}: the callback must be callable")
        if self._capture is None:
            from .objects.output import RunCapture
            self._capture = RunCapture(self._object, printk=False)
            self._capture.start()
        self._callbacks[name] = (callback, ctx)

    def ring_buffer_poll(self, timeout: int = -1) -> int:
        """Hand every record that arrived to its callback; in the kernel wait up to
        `timeout` ms for one (-1: until one comes; the VM never waits). Returns the
        number of records handed out."""
        if self._capture is None:
            raise BPFError("no ring or perf buffer is open (open_ring_buffer first)")
        deadline = None if timeout < 0 else time.monotonic() + timeout / 1000
        while True:
            self._capture.collect()
            new = self._capture.records[self._handed:]
            if new or self.backend == "vm" or (deadline is not None and
                                               time.monotonic() >= deadline):
                break
            time.sleep(0.01)
        self._handed += len(new)
        for rec in new:
            cb = self._callbacks.get(rec.map)
            if cb is not None:
                first = cb[1] if rec.kind == "ringbuf" else rec.cpu
                cb[0](first, rec, len(rec.data))
        return len(new)

    def ring_buffer_consume(self) -> int:
        return self.ring_buffer_poll(0)

    def perf_buffer_poll(self, timeout: int = -1) -> int:
        return self.ring_buffer_poll(timeout)

    # ---- the trace pipe ----
    def _open_kernel_trace(self) -> None:
        from .kernel.tracepipe import TracePrintk
        try:
            self._trace = TracePrintk(pids=())
        except PyBPFError:
            self._trace = None  # no tracefs: trace_* raise when used

    def _messages(self) -> list[tuple[str, int, int, str, float, str]]:
        if self.backend == "kernel":
            if self._trace is None:
                raise BPFError("no tracefs instance to read bpf_trace_printk output from")
            return [(m.comm, m.pid, m.cpu, "....", m.timestamp, m.text)
                    for m in self._trace.read()]
        out = []
        for name, prog in self._object.programs.items():
            pipe = getattr(prog.handle, "trace_pipe", None)
            if pipe is None:
                continue
            mark = self._vm_marks.get(name, 0)
            new = pipe.since(mark) if hasattr(pipe, "since") else list(pipe)[mark:]
            self._vm_marks[name] = pipe.written if hasattr(pipe, "written") else len(pipe)
            out += [("pybpf-vm", os.getpid(), 0, "....", 0.0, text) for text in new]
        return out

    def trace_fields(self, nonblocking: bool = False, timeout: float = 1.0
                     ) -> tuple[str, int, int, str, float, str] | None:
        """The next message as (task, pid, cpu, flags, ts, msg); None when there is none
        (at once if nonblocking, else after `timeout` s; the VM never waits)."""
        if not hasattr(self, "_pending"):
            self._pending: list[tuple[str, int, int, str, float, str]] = []
        deadline = time.monotonic() + (0 if nonblocking or self.backend == "vm" else timeout)
        while not self._pending:
            self._pending += self._messages()
            if self._pending or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        return self._pending.pop(0) if self._pending else None

    def trace_readline(self, nonblocking: bool = False) -> str:
        f = self.trace_fields(nonblocking)
        if f is None:
            return ""
        task, pid, cpu, flags, ts, msg = f
        return f"{task:>16}-{pid:<7} [{cpu:03d}] {flags} {ts:.6f}: bpf_trace_printk: {msg}"

    def trace_print(self, fmt: str | None = None, *, timeout: float | None = None,
                    file: TextIO | None = None) -> int:
        """Print messages as they come, formatted by `fmt` ("{0} {5}": task, pid, cpu,
        flags, ts, msg), until Ctrl-C or `timeout` s (the VM: until drained); returns
        the number printed."""
        out = file or sys.stdout
        end = None if timeout is None else time.monotonic() + timeout
        n = 0
        try:
            while True:
                f = self.trace_fields(nonblocking=self.backend == "vm", timeout=0.2)
                if f is None:
                    if self.backend == "vm" or (end is not None and time.monotonic() >= end):
                        return n
                    continue
                print(fmt.format(*f) if fmt else self._line(f), file=out)
                n += 1
        except KeyboardInterrupt:
            return n

    @staticmethod
    def _line(f: tuple[str, int, int, str, float, str]) -> str:
        task, pid, cpu, flags, ts, msg = f
        return f"{task:>16}-{pid:<7} [{cpu:03d}] {flags} {ts:.6f}: {msg}"

    # ---- lifetime ----
    def cleanup(self) -> None:
        for dev in list(self._xdp):
            self.remove_xdp(dev)
        if self._trace is not None:
            self._trace.close()
            self._trace = None
        if self._capture is not None:
            self._capture.close()
            self._capture = None
        if self.obj is not None:
            self.obj.close()
            self.obj = None

    close = cleanup

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
