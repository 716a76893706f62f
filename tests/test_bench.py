"""`pybpf bench interp` across fresh processes: each program's median rate, with the
lowest and highest, from every process's own measurement."""

from __future__ import annotations

import statistics

from pybpf import bench


def test_interp_across_processes_reports_the_median() -> None:
    report = bench.interp_report(repeat=1, iterations=200, processes=3)
    assert report["processes"] == 3
    assert [r["program"] for r in report["programs"]] == list(bench.PROGRAMS)
    for row in report["programs"]:
        rates = row["per_process"]
        assert len(rates) == 3 and all(rate > 0 for rate in rates)
        assert row["insn_per_s"] == statistics.median(rates)
        assert (row["low"], row["high"]) == (min(rates), max(rates))
    alone = bench.interp_report(repeat=1, iterations=200)
    assert [r["executed"] for r in report["programs"]] == \
        [r["executed"] for r in alone["programs"]]
    text = bench.format_interp(report)
    assert "median of 3 processes" in text and "low" in text
