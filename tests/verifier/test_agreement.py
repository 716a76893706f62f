"""Causes of disagreement with the kernel that the verifier campaign found, one program
each (tests/verifier/agreement.py): pybpf gives the kernel's recorded first error line
in both capability modes, and the kernel still gives it."""

from __future__ import annotations

import pytest

from tests.conftest import kernel_available
from tests.verifier.agreement import AGREEMENT_CASES
from tests.verifier.kernelcmp import kernel_outcome, pybpf_outcome

MODES = {"all": None, "bpf+net_admin": ("bpf", "net_admin")}
IDS = [c.name for c in AGREEMENT_CASES]


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("case", AGREEMENT_CASES, ids=IDS)
def test_pybpf_gives_the_kernels_line(case, mode):
    caps = MODES[mode] or ("bpf", "perfmon", "net_admin", "sys_admin")
    p = pybpf_outcome(case, caps)
    want = case.expected(mode != "all")
    assert p.error == want, p.log[-2000:]
    assert p.accepted == (want is None)


@pytest.mark.kernel
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("case", AGREEMENT_CASES, ids=IDS)
def test_kernel_still_gives_it(case, mode):
    ok, why = kernel_available()
    if not ok:
        pytest.skip(why)
    k = kernel_outcome(case, MODES[mode])
    assert k.error == case.expected(mode != "all"), k.log[-2000:]
