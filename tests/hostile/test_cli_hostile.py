"""`pybpf fuzz hostile`: a campaign from the command line, its table and JSON, and its
exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pybpf.hostile import CampaignResult, Failure, TargetStats
from tests.conftest import run_cli


def test_campaign_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, out, err = run_cli(capsys, "fuzz", "hostile", "--count", "30", "--target", "btf",
                           "--seed", "4", "--quiet", "--out", str(tmp_path))
    assert rc == 0, out + err
    assert out.startswith("seed 4: 30 cases")
    row = next(line.split() for line in out.splitlines() if line.startswith("btf"))
    cases, errors, ok, exc, time_, mem = map(int, row[1:7])
    assert cases == 30 and errors + ok == 30 and (exc, time_, mem) == (0, 0, 0)


def test_campaign_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, out, err = run_cli(capsys, "fuzz", "hostile", "--count", "20", "--target", "all",
                           "--seed", "5", "--json", "--out", str(tmp_path))
    assert rc == 0, out + err
    d = json.loads(out)
    assert d["seed"] == 5 and sorted(d["targets"]) == ["btf", "cli", "loader", "pcap", "vm"]
    assert sum(t["cases"] for t in d["targets"].values()) == 20


def test_a_failure_is_reported_with_its_reproducer_and_exit_1(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    import pybpf.hostile as hostile

    def fake(count, targets, **kw):  # type: ignore[no-untyped-def]
        stats = {"vm": TargetStats(cases=3, ok=1, errors=1, exceptions=1)}
        fail = Failure("vm", 7, "helpers", "exception", "KeyError: 'x'\nTraceback ...", None,
                       str(tmp_path / "new" / "vm-helpers-7.json"))
        return CampaignResult(kw["seed"], stats, [fail], 1.0)

    monkeypatch.setattr(hostile, "run_campaign", fake)
    rc, out, err = run_cli(capsys, "fuzz", "hostile", "--count", "3", "--target", "vm",
                           "--seed", "1", "--quiet", "--out", str(tmp_path))
    assert rc == 1
    assert "FAIL vm seed 7 (helpers): exception: KeyError: 'x'" in out
    assert "vm-helpers-7.json" in out


@pytest.mark.parametrize("argv", [["--count", "0"], ["--target", "kernel"],
                                  ["--jobs", "-1"], ["--timeout", "nan"]])
def test_bad_options(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    rc, out, err = run_cli(capsys, "fuzz", "hostile", *argv)
    assert rc == 2 and "usage:" in err


def test_ctrl_c_stops_the_campaign_with_the_counts_so_far(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time
    proc = subprocess.Popen([sys.executable, "-m", "pybpf", "fuzz", "hostile", "--count",
                             "1000000", "--seed", "3", "--json", "--out", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    _wait_for_worker_cpu(proc.pid, seconds=2.0, deadline=time.monotonic() + 120)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    d = json.loads(out)
    assert d["interrupted"] and 0 < sum(t["cases"] for t in d["targets"].values()) < 1000000
    assert all(t["exceptions"] == 0 for t in d["targets"].values())  # no worker was hit


def _wait_for_worker_cpu(pid: int, seconds: float, deadline: float) -> None:
    """Wait until the campaign's workers have used `seconds` of CPU (imports done and cases
    run), whatever the machine's load: a fixed sleep fails on a busy machine."""
    import os
    import time
    tick = os.sysconf("SC_CLK_TCK")
    while time.monotonic() < deadline:
        used = 0.0
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                children = open(f"/proc/{pid}/task/{tid}/children").read().split()
            except OSError:
                continue
            for child in children:
                try:
                    fields = open(f"/proc/{child}/stat").read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                used += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        if used >= seconds:
            return
        time.sleep(0.1)


def test_commands_acting_on_other_programs_are_only_parsed() -> None:
    """The CLI campaign draws ids like 1 and 10: `link detach 1` or `map delete 10 ...`
    would reach other programs on the machine, so those commands are parsed, not run."""
    from pybpf.cli.hostile_target import _parse_only
    for argv in (["link", "detach", "1"], ["map", "update", "10", "0", "0"],
                 ["map", "delete", "2", "0"], ["attach", "obj0.o", "xdp", "lo"]):
        assert _parse_only(argv), argv
    assert not _parse_only(["link", "list"]) and not _parse_only(["map", "list"])
