"""The live tools' refresh loop and screen: ticks at interval boundaries until the
count or the duration, quiet stop on Ctrl-C, redraw in place on a terminal."""

from __future__ import annotations

import io

import pytest

from pybpf.tools.live import CLEAR, Screen, run_intervals, table


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.sleeps.append(round(s, 6))
        self.t += s


def test_ticks_until_duration_the_last_at_its_end() -> None:
    clock = FakeClock()
    seen: list[tuple[int, float]] = []
    n = run_intervals(lambda i, e: seen.append((i, round(e, 6))), interval=1.0, duration=2.5,
                      clock=clock, sleep=clock.sleep)
    assert n == 3 and seen == [(1, 1.0), (2, 2.0), (3, 2.5)]
    assert clock.sleeps == [1.0, 1.0, 0.5]


def test_ticks_until_count_and_ctrl_c() -> None:
    clock = FakeClock()
    assert run_intervals(lambda i, e: None, interval=0.5, count=4, clock=clock,
                         sleep=clock.sleep) == 4
    assert clock.t == pytest.approx(102.0)

    start = clock.t

    def interrupted(s: float) -> None:
        if clock.t > start + 1.2:
            raise KeyboardInterrupt
        clock.sleep(s)

    seen: list[int] = []
    assert run_intervals(lambda i, e: seen.append(i), interval=0.5, clock=clock,
                         sleep=interrupted) == 4
    assert seen == [1, 2, 3, 4]  # the last one when Ctrl-C came
    with pytest.raises(ValueError):
        run_intervals(lambda i, e: None, interval=0)


def test_screen_and_table() -> None:
    out = io.StringIO()
    Screen(out, tty=True).frame("title", "body\n")
    assert out.getvalue().startswith(CLEAR + "title - ") and out.getvalue().endswith("\n\nbody\n")
    out = io.StringIO()
    screen = Screen(out)  # a StringIO is not a terminal
    screen.frame("t1", "a\n")
    screen.frame("t2", "b\n")
    text = out.getvalue()
    assert CLEAR not in text and text.count(" t1\na\n\n") == 1 and text.count(" t2\nb\n\n") == 1
    assert table(["NAME", "N"], [["tcp", 5], ["udp", 12345]]) == \
        "NAME      N\ntcp       5\nudp   12345\n"
