"""bpf_loop's R1 (nr_loops) as the 6.18 kernel treats it (check_helper_call): marked
precise, so with CAP_BPF a pointer there is refused ("verifier bug: backtracking
misuse", 6.18's answer), and a callback that nr_loops 0 never runs is not verified. The
program is tc_prog.o's tc_tail_loop (three bpf_loop calls of one callback), edited."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf.asm import assemble_insns
from pybpf.tools.verifygen import Generator
from pybpf.tools.verifygen.case import Case
from pybpf.verifier import verify
from tests.conftest import kernel_available

OBJ = Path(__file__).resolve().parents[1] / "progtypes" / "data" / "clang" / "tc_prog.o"


def _case(edits: dict[int, str]) -> Case:
    """tc_tail_loop with the instructions at the given pcs replaced."""
    s = next(s for s in Generator(0, objects=[OBJ]).object_seeds
             if s.origin.endswith(":tc_tail_loop"))
    insns, pcs, at = list(s.insns), [], 0
    for i in insns:
        pcs.append(at)
        at += 2 if i.opcode == 0x18 else 1
    for pc, text in edits.items():
        insns[pcs.index(pc)] = assemble_insns(text)[0]
    return Case(tuple(insns), s.prog_type, s.maps, s.expected_attach_type, origin=s.origin,
                btf=s.btf, func_info=s.func_info)


# every nr_loops 0, and the callback reads an uninitialised register
NEVER_RUN = {6: "w1 = 0", 17: "w1 = 0", 24: "w1 = 0", 53: "r0 = r9"}
RUNS_ONCE = {**NEVER_RUN, 17: "w1 = 1"}


def _pybpf(c: Case) -> "str | None":
    r = verify(c.insns, c.prog_type, maps=dict(enumerate(c.maps)), btf=c.btf,
               func_info=c.func_info, license=c.license)
    return None if r.accepted else r.error


def _kernel(c: Case) -> "str | None":
    from pybpf.kernel.verdict import kernel_verdict
    from pybpf.tools.verifygen.campaign import refusal_line
    v = kernel_verdict(c.insns, c.prog_type, maps=c.maps, caps=c.caps, license=c.license,
                       btf=c.btf, func_info=c.func_info)
    return None if v.accepted else refusal_line(v.error_line, v.log)


def test_callback_of_zero_loops_is_not_verified():
    assert _pybpf(_case(NEVER_RUN)) is None
    assert _pybpf(_case(RUNS_ONCE)) == "R9 !read_ok"


def test_pointer_nr_loops_is_refused_with_cap_bpf():
    c = _case({24: "r1 = r10"})
    assert _pybpf(c) == "verifier bug: backtracking misuse"
    r = verify(c.insns, c.prog_type, maps=dict(enumerate(c.maps)), btf=c.btf,
               func_info=c.func_info, caps=("bpf", "net_admin"))
    assert r.error == "R1 leaks addr into helper function"


@pytest.mark.kernel
@pytest.mark.parametrize("edits", [NEVER_RUN, RUNS_ONCE], ids=["never_run", "runs_once"])
def test_zero_loops_as_the_kernel(edits):
    if not kernel_available()[0]:
        pytest.skip("bpf(2) unavailable")
    c = _case(edits)
    assert _pybpf(c) == _kernel(c)
