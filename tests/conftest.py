"""Shared test settings: where the conformance vectors live (../shared beside the project),
and the one gate of every test that uses the kernel."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CONFORMANCE = SHARED / "conformance"

settings.register_profile("ci", max_examples=300, deadline=None)
settings.register_profile("soak", max_examples=20000, deadline=None)
settings.load_profile("ci")

# what the kernel tests do: load every program type, attach to tracepoints and uprobes
# (perf events), build network namespaces, veth pairs and XDP/tc attachments
KERNEL_TEST_CAPS = ("CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN")


@functools.cache
def kernel_available() -> tuple[bool, str]:
    """pybpf.kernel.available() for what the kernel tests need: bpf(2) usable and the
    capabilities above held (a plain user with unprivileged BPF on has bpf(2) but not
    these, and every kernel test then skips with the reason)."""
    from pybpf.kernel import available
    return available(KERNEL_TEST_CAPS)


def conformance_dir(*parts: str) -> Path:
    path = CONFORMANCE.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"conformance vectors not found at {path} "
                    "(expected ../shared beside the project)")
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `kernel` need a usable bpf(2): where there is none (not Linux, not
    root, unprivileged BPF disabled, seccomp, ...) they skip with the reason."""
    kernel_items = [item for item in items if item.get_closest_marker("kernel")]
    if not kernel_items:
        return
    ok, reason = kernel_available()
    if ok:
        return
    skip = pytest.mark.skip(reason=f"bpf(2) unavailable: {reason}")
    for item in kernel_items:
        item.add_marker(skip)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`pybpf ARGV...` in-process: (exit code, stdout, stderr); argparse's usage errors
    count as their exit code, and no output may hold a traceback."""
    from pybpf.cli import main
    try:
        rc = main(list(argv))
    except SystemExit as e:  # argparse usage errors
        rc = int(e.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return rc, out, err


@pytest.fixture
def bpffs(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A bpffs of our own in a temporary directory (isolated from /sys/fs/bpf), for the
    pinning tests; skips without the kernel or where it cannot be mounted."""
    ok, why = kernel_available()
    if not ok:
        pytest.skip(f"bpf(2) unavailable: {why}")
    from pybpf.errors import PyBPFError
    from pybpf.kernel import mount_bpffs, unmount
    root = tmp_path / "bpffs"
    try:
        mount_bpffs(root)
    except PyBPFError as e:
        pytest.skip(f"cannot mount a bpffs: {e}")
    yield str(root)
    unmount(root, lazy=True)


@contextlib.contextmanager
def on_cpu(cpu: int = 0) -> Iterator[None]:
    """Run the body on one CPU: per-CPU maps and BPF_F_CURRENT_CPU then mean that CPU in
    the kernel, as on the VM (which runs as CPU 0). The old affinity comes back after."""
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, old)


@pytest.fixture
def cpu0() -> Iterator[None]:
    """The test on CPU 0 (see on_cpu)."""
    with on_cpu(0):
        yield
