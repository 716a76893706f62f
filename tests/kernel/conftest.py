"""Kernel test fixtures. Tests marked `kernel` are skipped with the reason from
pybpf.kernel.available() by tests/conftest.py when bpf(2) is unusable."""

from __future__ import annotations

import pytest

from tests.conftest import kernel_available


@pytest.fixture(scope="session")
def bpf_ok() -> str:
    """Skip (with the reason) unless bpf(2) is usable; returns kernel_available()'s text."""
    ok, reason = kernel_available()
    if not ok:
        pytest.skip(f"bpf(2) unavailable: {reason}")
    return reason


@pytest.fixture
def fd_count():
    """A function returning how many fds this process has open now."""
    import os

    def count() -> int:
        return len(os.listdir("/proc/self/fd"))

    return count
