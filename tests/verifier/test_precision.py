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


def test_memoised_backtracking_gives_the_same_walk(monkeypatch) -> None:
    """precision.py memoises backtracking per live state's history: with the memo off,
    every program of the table (both capability modes) and a counted loop verify to the
    same figures."""
    from pybpf.tools.verify import million_insn_program
    from pybpf.verifier import precision, verify
    from tests.verifier.table import CASES, MAPS

    progs = [(million_insn_program(300), 6, {}, "GPL")] + [
        (c.insns(), c.prog_type, {k: MAPS[k] for k in c.map_indexes()}, c.license)
        for c in CASES if c.name != "too_large"]

    def figures() -> list[tuple]:
        out = []
        for caps in (("bpf", "perfmon", "net_admin", "sys_admin"), ("bpf", "net_admin")):
            for insns, t, maps, lic in progs:
                r = verify(insns, t, maps=maps, caps=caps, license=lic)
                out.append((r.accepted, r.error, r.insns_processed, r.total_states,
                            r.peak_states))
        return out
    with_memo = figures()
    walk = precision._segment_walk
    monkeypatch.setattr(precision, "_segment_walk",
                        lambda v, st, bt, dec, last, subseq, skip, log2, memo, pending:
                        walk(v, st, bt, dec, last, subseq, skip, log2, None, pending))
    assert figures() == with_memo
