"""The hostile-input harness (pybpf.hostile): a fast sample of every entry point in the
default suite, the campaign as a slow test, and the harness's own handling of each
kind of failure (a bug, a MemoryError, a hang, a dead worker)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pybpf.hostile import TARGETS, run_campaign
from pybpf.hostile.case import case_rng, make_env
from pybpf.hostile.targets import GENERATORS

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = 200  # cases per entry point in the default suite


def _report(result) -> str:  # type: ignore[no-untyped-def]
    return json.dumps(result.to_json(), indent=1)[:6000]


@pytest.mark.parametrize("target", TARGETS)
def test_sample_of_each_entry_point_ends_in_a_result_or_a_pybpf_error(
        target: str, tmp_path: Path) -> None:
    result = run_campaign(SAMPLE, [target], seed=11, jobs=1, out_dir=tmp_path)
    stats = result.stats[target]
    assert stats.cases == SAMPLE
    assert (stats.exceptions, stats.over_time, stats.over_memory) == (0, 0, 0), _report(result)
    # the generators reach both sides: inputs that work and inputs that are refused
    assert stats.ok > SAMPLE // 20 and stats.errors > SAMPLE // 20, _report(result)


@pytest.mark.slow
def test_campaign_over_every_entry_point(tmp_path: Path) -> None:
    result = run_campaign(20_000, TARGETS, seed=2026, jobs=2, out_dir=tmp_path)
    for target, stats in result.stats.items():
        assert stats.cases == 4000
        assert (stats.exceptions, stats.over_time, stats.over_memory) == (0, 0, 0), \
            (target, _report(result))


def test_cases_are_a_function_of_target_and_seed(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    for target in TARGETS:
        a = GENERATORS[target](case_rng(target, 5), 5, env)
        b = GENERATORS[target](case_rng(target, 5), 5, env)
        assert a.to_json() == b.to_json()


def test_every_vm_map_type_and_program_type_is_drawn(tmp_path: Path) -> None:
    from pybpf.hostile import gen_vm
    from pybpf.maps.vmmaps import vm_map_type_names
    env = make_env(tmp_path)
    maps, types = set(), set()
    for seed in range(3000):
        case = gen_vm.generate(case_rng("vm", seed), seed, env)
        if case.kind == "helpers":
            types.add(case.meta["prog_type"])
            maps.update(m["type"] for m in case.meta["maps"])
    assert maps == set(vm_map_type_names())
    assert types == set(gen_vm.TEST_RUN_TYPES + gen_vm.CONTEXT_TYPES) | {"none"}


def test_the_harness_reports_each_kind_of_failure_and_replaces_the_worker(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYBPF_HOSTILE_PLUGINS", "tests.hostile.selftest_target")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    # seeds 0-6: ok, error, exception, memory, hang, die, burn; the worker is replaced
    # after the MemoryError, the hang and the death
    result = run_campaign(7, ["selftest"], seed=0, jobs=1, out_dir=tmp_path, timeout=1,
                          wall_timeout=8)
    s = result.stats["selftest"]
    assert (s.cases, s.ok, s.errors, s.exceptions, s.over_time, s.over_memory) == \
        (7, 1, 1, 2, 2, 1), _report(result)
    assert result.failed
    got = {f.seed: (f.outcome, f.detail) for f in result.failures}
    assert sorted((seed, o) for seed, (o, _) in got.items()) == \
        [(2, "exception"), (3, "memory"), (4, "time"), (5, "exception"), (6, "time")]
    assert got[2][1].startswith("KeyError: 'a bug'")
    assert got[4][1] == "no answer in 8 s"  # the hang: killed
    assert got[5][1].startswith("the worker died: exit status 9")
    assert "s of CPU" in got[6][1]  # answered, but past its CPU time
    for f in result.failures:
        assert Path(f.reproducer).is_file()
        assert json.loads(Path(f.reproducer).read_text())["seed"] == f.seed
