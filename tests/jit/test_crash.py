"""Random unverified programs under the JIT in a child process: the child survives
(a segfault or abort of the host would fail here)."""

from __future__ import annotations

from tests.jit import harness


def test_unverified_programs_do_not_crash_the_host() -> None:
    ran, died = harness.crash(200, 500_000, batch=200)
    assert ran == 200
    assert not died, died
