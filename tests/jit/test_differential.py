"""JIT against interpreter on the same bytes (a fast sample of pybpf.hostile.jit_campaign's
campaign): random unverified programs, and the verified programs of pybpf.fuzz."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from pybpf.fuzz import FuzzCase, fuzz_cases
from pybpf.hostile import jit_campaign
from pybpf.jit import JitVM
from pybpf.vm import VM


@pytest.mark.parametrize("chunk", range(4))
def test_random_unverified_programs_agree(chunk: int) -> None:
    bad = [(s, d) for s in range(chunk * 40, chunk * 40 + 40)
           if (d := jit_campaign.compare(900_000 + s)) is not None]
    assert not bad, bad[:3]


@pytest.mark.parametrize("tier", ["full", "short", "fast"])
def test_every_tier_agrees(tier: str) -> None:
    """The same cases compiled at each tier (a campaign at --tier size gives most
    programs the full tier)."""
    cache = jit_campaign.jit_cache(tier)
    bad = [(s, d) for s in range(950_000, 950_030)
           if (d := jit_campaign.compare(s, cache)) is not None]
    assert not bad, bad[:3]


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(fuzz_cases(max_segments=8))
def test_verified_programs_agree(case: FuzzCase) -> None:
    a = jit_campaign.run_one(VM, case.code, case.mem, 1_000_000)
    b = jit_campaign.run_one(JitVM, case.code, case.mem, 1_000_000)
    assert a == b


def test_the_harness_sees_a_difference() -> None:
    """run_one() results differ when the engines differ: a JIT whose r0 is off by one."""
    class Off(JitVM):
        def execute(self, *a, **kw):  # type: ignore[no-untyped-def]
            res = super().execute(*a, **kw)
            return type(res)(res.r0 + 1, res.executed)
    code = bytes.fromhex("b700000007000000" "9500000000000000")
    assert jit_campaign.run_one(VM, code, None, 100) != \
        jit_campaign.run_one(Off, code, None, 100)
