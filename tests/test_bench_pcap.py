"""`pybpf bench pcap`: the main job's packets per second on the VM and in the kernel,
over captures made by repeating the example capture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pybpf import bench_pcap
from pybpf.cli import main
from pybpf.pcap import read_pcap
from tests.conftest import kernel_available


def test_repeated_capture_advances_in_time(tmp_path: Path) -> None:
    src = read_pcap(bench_pcap.DEFAULT_CAPTURE)
    out = tmp_path / "big.pcap"
    assert bench_pcap.repeated_capture(bench_pcap.DEFAULT_CAPTURE, len(src) * 2 + 5, out) \
        == len(src) * 2 + 5
    got = read_pcap(out)
    assert len(got) == len(src) * 2 + 5
    assert [p.data for p in got[:len(src)]] == [p.data for p in src]
    assert [p.data for p in got[len(src):2 * len(src)]] == [p.data for p in src]
    assert got[len(src)].ts_ns > got[len(src) - 1].ts_ns  # the second round is later


def test_report_on_the_vm() -> None:
    report = bench_pcap.pcap_report(sizes=(302, 400), kernel=False)
    assert report["backends"] == ["vm", "jit"]  # the interpreter and the JIT
    assert [r["packets"] for r in report["rows"]] == [302, 400]
    for row in report["rows"]:
        for engine in ("vm", "jit"):
            res = row[engine]
            assert res["packets"] == row["packets"]
            assert sum(res["verdicts"].values()) == row["packets"]
            assert res["packets_per_s"] > 0
        assert row["jit"]["verdicts"] == row["vm"]["verdicts"]
        assert row["kernel_over_vm"] is None and row["jit_over_vm"] > 0
    # the 302-packet run is the example capture itself: the README's verdicts
    assert report["rows"][0]["vm"]["verdicts"] == {"XDP_PASS": 248, "XDP_DROP": 54}
    text = bench_pcap.format_pcap(report)
    assert "302" in text and "JIT pkt/s" in text


@pytest.mark.kernel
def test_report_against_the_kernel(capsys: pytest.CaptureFixture[str]) -> None:
    if not kernel_available():
        pytest.skip("needs the kernel")
    assert main(["bench", "pcap", "--sizes", "302", "-j"]) == 0
    report = json.loads(capsys.readouterr().out)
    row = report["rows"][0]
    assert report["backends"] == ["vm", "jit", "kernel"]
    assert row["kernel"]["packets"] == 302 and row["kernel_over_vm"] > 0
