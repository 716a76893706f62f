"""Kernel tests: everything marked `kernel` needs a usable bpf(2) and is skipped,
with the reason from pybpf.kernel.available(), when there is none (not Linux,
not root, unprivileged BPF disabled, seccomp, ...)."""

from __future__ import annotations

import pytest

from pybpf.kernel import available


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kernel_items = [item for item in items if item.get_closest_marker("kernel")]
    if not kernel_items:
        return
    ok, reason = available()
    if ok:
        return
    skip = pytest.mark.skip(reason=f"bpf(2) unavailable: {reason}")
    for item in kernel_items:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def bpf_ok() -> str:
    """Skip (with the reason) unless bpf(2) is usable; returns available()'s text."""
    ok, reason = available()
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
