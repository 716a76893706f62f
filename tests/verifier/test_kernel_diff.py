"""The differential test: every program of the table loaded in the running kernel and
verified by pybpf, with all four capabilities and with only CAP_BPF + CAP_NET_ADMIN
(the kernel load then runs in a forked child that dropped the others). Verdicts must
agree and pybpf must never accept what the kernel refuses; the first error lines must
be the kernel's."""

from __future__ import annotations

import pytest

from tests.conftest import kernel_available
from tests.verifier.kernelcmp import kernel_outcome, pybpf_outcome
from tests.verifier.table import CASES, UNPRIV

FAST = [c for c in CASES if c.name != "too_large"]
MODES = {"all": None, "bpf+net_admin": ("bpf", "net_admin")}


@pytest.fixture(scope="module")
def kernel():
    ok, why = kernel_available()
    if not ok:
        pytest.skip(why)


def _same_error(k, p) -> bool:
    if k.error == p.error:
        return True
    # a refusal without a log (EPERM before the verifier runs): the errno is the answer
    return not k.log.strip() and (p.error or "").startswith(f"{k.error}:")


@pytest.mark.kernel
@pytest.mark.parametrize("mode", list(MODES))
def test_table_against_kernel(kernel, mode):
    caps = MODES[mode]
    pcaps = caps or ("bpf", "perfmon", "net_admin", "sys_admin")
    verdict_diff, false_accepts, line_diff, both = [], [], [], 0
    for case in FAST:
        k = kernel_outcome(case, caps)
        p = pybpf_outcome(case, pcaps)
        if k.accepted != p.accepted:
            verdict_diff.append((case.name, k.error, p.error))
            if p.accepted:
                false_accepts.append(case.name)
        elif not k.accepted:
            both += 1
            if not _same_error(k, p):
                line_diff.append((case.name, k.error, p.error))
    assert not false_accepts, false_accepts
    assert len(verdict_diff) <= len(FAST) // 100, verdict_diff
    assert len(line_diff) <= both // 10, line_diff


@pytest.mark.kernel
def test_unprivileged_records_are_the_kernels(kernel):
    """table.UNPRIV (checked against pybpf by test_rules) is what the kernel answers
    with only CAP_BPF + CAP_NET_ADMIN."""
    by = {c.name: c for c in CASES}
    wrong = []
    for name, want in UNPRIV.items():
        k = kernel_outcome(by[name], MODES["bpf+net_admin"])
        if (None if k.accepted else k.error) != want:
            wrong.append((name, k.error, want))
    assert not wrong, wrong
