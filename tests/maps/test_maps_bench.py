"""`pybpf bench maps` prints VM and kernel map operations per second with the ratio."""

from __future__ import annotations

import pytest

from pybpf.cli import main


def test_bench_maps_vm_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "maps", "--no-kernel", "--ops", "200", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "VM ops/s" in out and out.count("lookup") == 2 and out.count("update") == 2


@pytest.mark.kernel
def test_bench_maps_against_the_kernel(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "maps", "--ops", "200", "--repeat", "1"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.endswith("x")]
    assert len(lines) == 4  # hash/array x lookup/update, each with a ratio
