"""Shared test settings: where the conformance vectors live (../shared beside the project)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CONFORMANCE = SHARED / "conformance"

settings.register_profile("ci", max_examples=300, deadline=None)
settings.register_profile("soak", max_examples=20000, deadline=None)
settings.load_profile("ci")


def conformance_dir(*parts: str) -> Path:
    path = CONFORMANCE.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"conformance vectors not found at {path} (expected ../shared beside the project)")
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `kernel` need a usable bpf(2): where there is none (not Linux, not
    root, unprivileged BPF disabled, seccomp, ...) they skip with the reason."""
    kernel_items = [item for item in items if item.get_closest_marker("kernel")]
    if not kernel_items:
        return
    from pybpf.kernel import available
    ok, reason = available()
    if ok:
        return
    skip = pytest.mark.skip(reason=f"bpf(2) unavailable: {reason}")
    for item in kernel_items:
        item.add_marker(skip)
