"""pybpf.hostile.jit_campaign: cases fixed by their number, children that die pinned to
the case they died in, a fast sample of both campaigns, and `pybpf fuzz jit`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from pybpf.cli.main import main
from pybpf.hostile import jit_campaign


def test_a_case_is_fixed_by_its_number() -> None:
    assert jit_campaign.case(123) == jit_campaign.case(123)
    assert jit_campaign.case(123) != jit_campaign.case(124)
    budgets = {jit_campaign.case(s, "crash")[2] for s in range(200)}
    assert max(budgets) == jit_campaign.CRASH_BUDGET and min(budgets) == 1000


def test_unverified_programs_do_not_crash_the_host() -> None:
    """The fast sample of the crash campaign: 200 cases in one child, none dies."""
    r = jit_campaign.run(200, 500_000, mode="crash", batch=200)
    assert (r.ran, r.failures) == (200, [])


def test_the_diff_campaign_runs_in_children() -> None:
    r = jit_campaign.run(40, 700_000, mode="diff", batch=20, jobs=2)
    assert (r.ran, r.failures) == (40, []) and r.cpu_seconds > 0


_FAKE = """
import os, sys
mode, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for s in range(first, first + count):
    print("case", s, flush=True)
    if s == 8:
        os.abort()
    if s == 10:
        print("mismatch 10 r0 differs")
print("end")
"""


def test_a_dead_child_is_pinned_to_its_case(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A child aborting in case 8 fails case 8 only: the rest of its slice runs in a new
    child; a mismatch line is a failure of its case."""
    fake = tmp_path / "fake_child.py"
    fake.write_text(_FAKE)

    def argv(mode: str, first: int, count: int, tier: str) -> list[str]:
        return [sys.executable, str(fake), mode, str(first), str(count)]
    monkeypatch.setattr(jit_campaign, "child_argv", argv)
    r = jit_campaign.run(7, 6, mode="diff", batch=7)
    assert r.ran == 6  # 6, 7, 9, 10, 11, 12
    assert [(f.seed, f.kind) for f in r.failures] == [(8, "crash"), (10, "mismatch")]
    assert "exit -6" in r.failures[0].detail


def test_unknown_mode_or_tier() -> None:
    with pytest.raises(ValueError):
        jit_campaign.run(1, 0, mode="nope")
    with pytest.raises(ValueError):
        jit_campaign.run(1, 0, tier="nope")


def test_cli_crash_campaign_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fuzz", "jit", "--crash", "--count", "6", "--seed", "40", "--tier", "fast",
                 "-j"]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert (out["mode"], out["seed"], out["ran"], out["tier"], out["failures"]) == \
        ("crash", 40, 6, "fast", [])


def test_cli_diff_campaign_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fuzz", "jit", "--count", "4", "--seed", "41", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("seed 41: 4 of 4 programs (JIT against interpreter, tier size)")
    assert "0 mismatches" in out


def test_cli_rejects_a_bad_tier(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["fuzz", "jit", "--tier", "slow"])
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("mode, count", [("diff", 20_000), ("crash", 100_000)])
def test_campaign(mode: str, count: int) -> None:
    """A long campaign (-m slow): 0 mismatches, 0 dead children."""
    r = jit_campaign.run(count, 3_000_000, mode=mode, jobs=2,
                         tier="size" if mode == "diff" else "fast", batch=1000)
    assert r.ran == count and not r.failures, r.failures[:5]
