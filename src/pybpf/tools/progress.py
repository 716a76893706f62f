"""Progress bars for long CLI runs (captures, repeats, fuzzing, benchmarks): tqdm on
stderr, shown only when stdout is a terminal and the output is not JSON, so pipes,
files and machine-readable output stay clean."""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable, TextIO


def wanted(as_json: bool = False, stream: TextIO | None = None) -> bool:
    """Whether a bar belongs on this terminal: stdout (and stderr, where the bar goes)
    are TTYs and the output is for people, not --json."""
    out = stream if stream is not None else sys.stdout
    try:
        return not as_json and out.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):  # closed or exotic streams
        return False


class Progress:
    """A progress bar over `total` steps, or nothing at all when `enabled` is false
    (every method is then a no-op, so callers need no branches)."""

    def __init__(self, total: int, *, unit: str = "it", desc: str = "",
                 enabled: bool = True) -> None:
        self._bar: Any = None
        if enabled and total > 0:
            import shutil

            from tqdm import tqdm
            # the terminal's size (COLUMNS/LINES, else the tty's, else 80x24 where it
            # reports 0: tqdm draws nothing on a terminal of no rows)
            size = shutil.get_terminal_size((80, 24))
            self._bar = tqdm(total=total, unit=unit, desc=desc or None, file=sys.stderr,
                             leave=False, ncols=size.columns or 80, nrows=size.lines or 24,
                             mininterval=0.2)

    @property
    def enabled(self) -> bool:
        return self._bar is not None

    def update(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def set_postfix(self, text: str) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress(total: int, *, unit: str = "it", desc: str = "", as_json: bool = False,
             minimum: int = 1) -> Progress:
    """A bar when wanted() and the run has at least `minimum` steps; else a silent one."""
    return Progress(total, unit=unit, desc=desc, enabled=wanted(as_json) and total >= minimum)


class StepProgress:
    """A `progress(done, total)` callback for loops that learn their total as they go
    (run_pcap, top_pcap): the bar opens at the first step. Close it (or use `with`)."""

    def __init__(self, *, unit: str = "it", desc: str = "", as_json: bool = False,
                 minimum: int = 1) -> None:
        self._open: Callable[[int], Progress] = functools.partial(
            progress, unit=unit, desc=desc, as_json=as_json, minimum=minimum)
        self._bar: Progress | None = None
        self._done = 0

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            self._bar = self._open(total)
        self._bar.update(done - self._done)
        self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> "StepProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
