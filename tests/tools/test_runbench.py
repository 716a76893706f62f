"""`pybpf bench run`: per-run costs measured side by side, with the kernel's Python
overhead as the difference between its test_run and the bare bpf(2) call."""

from __future__ import annotations

import json

import pytest

from pybpf.cli import main
from pybpf.tools import runbench


def test_per_call_us_counts_calls() -> None:
    calls = []
    us = runbench.per_call_us(lambda: calls.append(1), runs=50, rounds=3)
    assert len(calls) == 1 + 50 * 3 and 0 <= us < 1000


def test_vm_report() -> None:
    report = runbench.run_report(runs=20, rounds=2, kernel=False, jit=False)
    assert set(report["us"]) == {"interp test_run", "VM.execute"}
    assert all(v > 0 for v in report["us"].values())
    assert "kernel_python_us" not in report
    text = runbench.format_run(report)
    assert "VM interpreter, Program.test_run" in text and "VM.execute" in text


@pytest.mark.kernel
def test_kernel_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "run", "--runs", "20", "--repeat", "2", "-j"]) == 0
    report = json.loads(capsys.readouterr().out)
    us = report["us"]
    assert {"interp test_run", "kernel test_run", "kernel bpf(2)", "VM.execute"} <= set(us)
    assert report["kernel_python_us"] == pytest.approx(us["kernel test_run"]
                                                       - us["kernel bpf(2)"])
