"""Syscalls made for tracing tests to count; standard library only, so a child
process can import it without the start-up time of pybpf."""

from __future__ import annotations

import os


def make_syscalls(getppid_calls: int, failed_closes: int) -> None:
    """`getppid_calls` getppid() calls, then `failed_closes` close() calls that fail
    with EBADF."""
    for _ in range(getppid_calls):
        os.getppid()
    for _ in range(failed_closes):
        try:
            os.close(99999)
        except OSError:
            pass
