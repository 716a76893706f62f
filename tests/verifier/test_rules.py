"""Each verifier rule on a hand-written program (tests/verifier/table.py): pybpf's
verdict and first error line are the kernel's (recorded from Linux 6.18 with all four
capabilities)."""

from __future__ import annotations

import pytest

from pybpf.verifier import verify
from tests.verifier.table import CASES, MAPS, UNPRIV

FAST = [c for c in CASES if c.name != "too_large"]


@pytest.mark.parametrize("case", FAST, ids=[c.name for c in FAST])
def test_rule(case):
    maps = {k: MAPS[k] for k in case.map_indexes()}
    r = verify(case.insns(), case.prog_type, maps=maps, license=case.license)
    assert r.error == case.expect
    assert r.accepted == (case.expect is None)
    if not r.accepted and r.insns_processed:
        assert r.pc is not None


@pytest.mark.parametrize("name", sorted(UNPRIV))
def test_rule_unprivileged(name):
    """The recorded answers with only CAP_BPF + CAP_NET_ADMIN (table.UNPRIV)."""
    case = next(c for c in CASES if c.name == name)
    maps = {k: MAPS[k] for k in case.map_indexes()}
    r = verify(case.insns(), case.prog_type, maps=maps, license=case.license,
               caps=("bpf", "net_admin"))
    assert r.error == UNPRIV[name]
    assert r.accepted == (UNPRIV[name] is None)


@pytest.mark.slow
def test_complexity_limit():
    case = next(c for c in CASES if c.name == "too_large")
    r = verify(case.insns(), case.prog_type)
    assert r.error == "BPF program is too large. Processed 1000001 insn"
    assert r.insns_processed == 1_000_001


def test_callbacks_with_func_info():
    """bpf_loop's callback is verified (its R0 range, its arguments) once func_info is
    given, as the kernel does with BTF."""
    from tests.verifier.table import CASES as C
    by = {c.name: c for c in C}
    fi = [(0, 1), (8, 2)]
    assert verify(by["bpf_loop"].insns(), 1, func_info=fi).accepted
    r = verify(by["bpf_loop_bad_ret"].insns(), 1, func_info=fi)
    assert r.error == ("At callback return the register R0 has smin=2 smax=2 should have "
                       "been in [0, 1]")
    r = verify(by["bpf_loop_ctx"].insns(), 1, func_info=fi)
    assert r.error == "R2 invalid mem access 'scalar'"


def test_reduced_privileges():
    """Without CAP_PERFMON: pointer leaks, uninitialised stack, pointer comparisons and
    tracing program types are refused (the kernel's answers with CAP_BPF+CAP_NET_ADMIN)."""
    by = {c.name: c for c in CASES}
    caps = ("bpf", "net_admin")

    def err(name):
        c = by[name]
        maps = {k: MAPS[k] for k in c.map_indexes()}
        return verify(c.insns(), c.prog_type, maps=maps, caps=caps).error

    assert err("ret_ptr_priv") == "R0 leaks addr as return value"
    assert err("stack_uninit_priv") == "invalid read from stack R10 off=-8 size=8"
    assert err("map_leak_priv") == "R10 leaks addr into map"
    assert err("pkt_cmp_scalar_priv") == "R2 pointer comparison prohibited"
    assert err("gpl_ok").startswith("EPERM")
    assert err("dead_branch_ok") is None


def test_bad_capability_name():
    from pybpf.errors import VerifierError
    with pytest.raises(VerifierError):
        verify(CASES[0].insns(), 1, caps=("bpf", "root"))


def test_result_path_and_raise():
    """A refusal names the branch decisions that reached it, and raise_for_refusal
    raises VerifierError with .pc/.error/.log."""
    from pybpf.errors import VerifierError
    by = {c.name: c for c in CASES}
    r = verify(by["live_branch_bad"].insns(), 1, log_level=1)
    assert r.path == ((1, False),)
    with pytest.raises(VerifierError) as ei:
        r.raise_for_refusal()
    assert ei.value.pc == 2 and ei.value.error == "R5 !read_ok" and "R5 !read_ok" in ei.value.log
