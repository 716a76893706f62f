"""The refresh loop and screen handling the live tools share: redraw in place on a
terminal (like top), one timestamped block per interval otherwise."""

from __future__ import annotations

import time
from typing import Callable, TextIO

CLEAR = "\033[H\033[2J"


def run_intervals(tick: Callable[[int, float], None], *, interval: float,
                  duration: float | None = None, count: int | None = None,
                  clock: Callable[[], float] = time.monotonic,
                  sleep: Callable[[float], None] = time.sleep) -> int:
    """Call tick(n, elapsed) every `interval` seconds until `count` ticks or `duration`
    seconds (the last tick comes at the end of the duration), or until Ctrl-C, which
    ends the loop quietly after one last tick. Returns the number of ticks."""
    if interval <= 0:
        raise ValueError("the interval must be positive")
    start = clock()
    n = 0
    try:
        while True:
            target = start + (n + 1) * interval
            if duration is not None:
                target = min(target, start + duration)
            delay = target - clock()
            if delay > 0:
                sleep(delay)
            n += 1
            elapsed = clock() - start
            tick(n, elapsed)
            if count is not None and n >= count:
                break
            if duration is not None and elapsed >= duration - 1e-6:
                break
    except KeyboardInterrupt:
        n += 1
        tick(n, clock() - start)
    return n


class Screen:
    """Where a live tool draws: on a terminal each frame replaces the last; otherwise
    frames follow each other, each headed by the wall-clock time."""

    def __init__(self, out: TextIO, tty: bool | None = None) -> None:
        self.out = out
        self.tty = out.isatty() if tty is None else tty

    def frame(self, title: str, body: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        if self.tty:
            self.out.write(f"{CLEAR}{title} - {stamp}\n\n{body}")
        else:
            self.out.write(f"{stamp} {title}\n{body}\n")
        self.out.flush()


def table(headers: list[str], rows: list[list[object]], align: str | None = None) -> str:
    """A plain text table: columns as wide as their widest cell, `align` one letter per
    column ('l' or 'r'; default: the first left, the rest right)."""
    align = align or "l" + "r" * (len(headers) - 1)
    cells = [headers] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for r in cells:
        parts = [c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(r, widths, align)]
        lines.append("  ".join(parts).rstrip())
    return "".join(line + "\n" for line in lines)
