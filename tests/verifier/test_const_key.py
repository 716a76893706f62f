"""A lookup in an array map with a constant key within max_entries cannot fail: the 6.18
kernel gives R0 map_value, not map_value_or_null (can_elide_value_nullness,
get_constant_map_key: a key of zero bytes or a spilled constant of the key's size).
Each case is compared with the kernel in both capability modes."""

from __future__ import annotations

import pytest

from tests.conftest import kernel_available
from tests.verifier.kernelcmp import kernel_outcome, pybpf_outcome
from tests.verifier.table import XDP, Case, M

MODES = {"all": None, "bpf+net_admin": ("bpf", "net_admin")}
DEREF = "r0 = *(u64 *)(r0 +0)\nr0 &= 1\nexit"
NULL = "R0 invalid mem access 'map_value_or_null'"


def lookup(k: int, store: str) -> str:
    return f"r1 = {M(k)}\nr2 = r10\nr2 += -8\n{store}call bpf_map_lookup_elem\n{DEREF}"


CASES = (
    Case("array_key_st_zero", XDP, lookup(1, "*(u32 *)(r10 -8) = 0\n")),
    Case("array_key_spilled_3", XDP, lookup(1, "r3 = 3\n*(u32 *)(r10 -8) = r3\n")),
    Case("array_key_spilled_4_out", XDP, lookup(1, "r3 = 4\n*(u32 *)(r10 -8) = r3\n"), NULL),
    Case("array_key_st_imm_2", XDP, lookup(1, "*(u32 *)(r10 -8) = 2\n")),
    Case("array_key_u64_spill", XDP, lookup(1, "r3 = 1\n*(u64 *)(r10 -8) = r3\n"), NULL),
    Case("array_key_unknown", XDP,
         lookup(1, "call bpf_get_prandom_u32\n*(u32 *)(r10 -8) = r0\nr1 = "
                f"{M(1)}\nr2 = r10\nr2 += -8\n"), NULL),
    Case("hash_key_zero", XDP, lookup(0, "*(u32 *)(r10 -8) = 0\n"), NULL),
    Case("array_one_entry_key_0", XDP, lookup(5, "*(u32 *)(r10 -8) = 0\n")),
)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_pybpf_verdicts(case: Case) -> None:
    p = pybpf_outcome(case)
    assert (None if p.accepted else p.error) == case.expect


@pytest.mark.kernel
@pytest.mark.parametrize("mode", list(MODES))
def test_against_kernel(mode: str) -> None:
    ok, why = kernel_available()
    if not ok:
        pytest.skip(why)
    caps = MODES[mode]
    diff = []
    for case in CASES:
        k = kernel_outcome(case, caps)
        p = pybpf_outcome(case, caps or ("bpf", "perfmon", "net_admin", "sys_admin"))
        if k.accepted != p.accepted or (not k.accepted and k.error != p.error):
            diff.append((case.name, k.error, p.error))
    assert not diff, diff
