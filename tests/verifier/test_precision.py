"""Precision tracking on real objects: programs whose pruning needs scalars to stay
imprecise until a use needs them (callback loops converge by widening imprecise
counters), compared with the kernel in both capability modes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf import load
from pybpf.verifier import verify_spec
from tests.conftest import kernel_available

DATA = Path(__file__).resolve().parents[1] / "progtypes" / "data" / "clang"
ALL = ("bpf", "perfmon", "net_admin", "sys_admin")


def test_callback_loop_converges():
    """xdp_frags.o runs bpf_loop with a callback that counts into the caller's stack:
    the counter is imprecise, widened after an iteration, and the loop converges in
    about the kernel's 594 processed instructions."""
    spec = load(DATA / "xdp_frags.o")
    r = verify_spec(spec, "xdp_frags_main", caps=ALL)
    assert r.accepted, r.error
    assert r.insns_processed < 2000


def test_precise_marks_in_log():
    """At log level 2 the backtracking is logged as the kernel does (mark_precise)."""
    spec = load(DATA / "xdp_frags.o")
    r = verify_spec(spec, "xdp_frags_main", caps=ALL, log_level=2)
    assert "mark_precise: frame" in r.log
    assert "parent state regs=" in r.log


@pytest.mark.kernel
@pytest.mark.parametrize("caps", ["all", "bpf,net_admin"])
def test_objects_agree_with_kernel(caps):
    ok, why = kernel_available()
    if not ok:
        pytest.skip(why)
    from pybpf.tools.verify import verify_file
    for rec in verify_file(str(DATA / "xdp_frags.o"), caps=caps, compare_kernel=True):
        assert rec["agree"], rec


@pytest.mark.slow
def test_sockfilter_two_callback_loops():
    """sockfilter.o (two bpf_loop callbacks): a false refusal before precision."""
    spec = load(DATA / "sockfilter.o")
    r = verify_spec(spec, "sf_main", caps=ALL)
    assert r.accepted, r.error
