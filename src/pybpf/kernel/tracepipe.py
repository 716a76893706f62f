"""bpf_trace_printk output from a tracefs instance of our own.

Since Linux 5.x bpf_trace_printk is the trace event bpf_trace:bpf_trace_printk, so an
instance (`<tracefs>/instances/<name>`) with that event enabled gets its own copy of
the messages: reading and clearing it disturbs nobody else, and the instance filters
them to our threads (`set_event_pid`), so other processes' programs do not mix in.
`TracePrintk()` creates it, `read()` drains its trace_pipe without blocking, and
`close()` removes it.
"""

from __future__ import annotations

import errno as _errno
import itertools
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .tracefs import TracefsError, tracefs_root

__all__ = ["TracePrintk", "PrintkMessage", "parse_trace"]

_HEADER = re.compile(
    rb"^ *(?P<comm>.{1,16}?)-(?P<pid>\d+) +(?:\( *[\d-]+\) +)?\[(?P<cpu>\d+)\] \S+ +"
    rb"(?P<ts>\d+\.\d+): bpf_trace_printk: ", re.MULTILINE)
_COUNTER = itertools.count()


@dataclass(frozen=True)
class PrintkMessage:
    """One bpf_trace_printk message as tracefs shows it."""

    comm: str
    pid: int
    cpu: int
    timestamp: float
    text: str


def parse_trace(data: bytes) -> list[PrintkMessage]:
    """The bpf_trace_printk messages of trace text (each message ends with one newline;
    a message may hold newlines itself)."""
    heads = list(_HEADER.finditer(data))
    out = []
    for m, nxt in zip(heads, heads[1:] + [None]):
        end = nxt.start() if nxt is not None else len(data)
        body = data[m.end():end]
        if body.endswith(b"\n"):
            body = body[:-1]
        out.append(PrintkMessage(m.group("comm").decode("latin-1").strip(),
                                 int(m.group("pid")), int(m.group("cpu")),
                                 float(m.group("ts")), body.decode("latin-1")))
    return out


class TracePrintk:
    """A tracefs instance receiving bpf_trace_printk messages of `pids` (default: this
    process and the calling thread; empty: every task). TracefsError when tracefs or
    instances are not available (they need root)."""

    def __init__(self, pids: Iterable[int] | None = None, name: str | None = None) -> None:
        root = Path(tracefs_root())
        if not (root / "instances").is_dir():
            raise TracefsError(_errno.ENOENT, "tracefs", f"{root} has no instances directory")
        self.path = root / "instances" / (name or f"pybpf_{os.getpid()}_{next(_COUNTER)}")
        self._fd = -1
        self._buf = b""
        try:
            self.path.mkdir()
        except OSError as e:
            raise TracefsError(e.errno or _errno.EIO, "tracefs",
                               f"cannot create trace instance {self.path}: {e.strerror}") from None
        try:
            wanted = {os.getpid(), threading.get_native_id()} if pids is None else set(pids)
            if wanted:
                (self.path / "set_event_pid").write_text(" ".join(map(str, sorted(wanted))))
            (self.path / "events/bpf_trace/bpf_trace_printk/enable").write_text("1")
            self._fd = os.open(self.path / "trace_pipe", os.O_RDONLY | os.O_NONBLOCK)
        except OSError as e:
            self.close()
            raise TracefsError(e.errno or _errno.EIO, "tracefs",
                               f"cannot set up trace instance {self.path}: {e.strerror}") from None

    def read(self) -> list[PrintkMessage]:
        """The messages written since the last read (none: an empty list)."""
        if self._fd < 0:
            return []
        chunks = [self._buf]
        while True:
            try:
                chunk = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno in (_errno.EAGAIN, _errno.EINTR):
                    break
                raise TracefsError(e.errno or _errno.EIO, "tracefs",
                                   f"reading {self.path}/trace_pipe: {e.strerror}") from None
            if not chunk:
                break
            chunks.append(chunk)
        data = b"".join(chunks)
        self._buf = b""
        return parse_trace(data)

    def texts(self) -> list[str]:
        return [m.text for m in self.read()]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        try:
            (self.path / "events/bpf_trace/bpf_trace_printk/enable").write_text("0")
        except OSError:
            pass
        try:
            self.path.rmdir()
        except OSError:
            pass

    def __enter__(self) -> "TracePrintk":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
