"""The helper sets of the socket program types the VM does not run (cgroup/sock, sk_skb,
sk_msg, sk_lookup, flow dissector, netfilter) and the CAP_PERFMON-only helpers, against
the running kernel's verifier: every helper ID, with all capabilities and with only
CAP_BPF + CAP_NET_ADMIN."""

from __future__ import annotations

import struct

import pytest

from pybpf.helper_ids import HELPER_IDS
from pybpf.progtypes.helpersets import is_allowed
from pybpf.uapi import ProgType

pytestmark = pytest.mark.kernel

# (program type, expected attach type)
TYPES = [(ProgType.CGROUP_SOCK, 0), (ProgType.SK_SKB, 5), (ProgType.SK_MSG, 7),
         (ProgType.SK_LOOKUP, 36), (ProgType.FLOW_DISSECTOR, 17), (ProgType.NETFILTER, 45),
         (ProgType.SCHED_CLS, 0), (ProgType.SOCKET_FILTER, 0)]
MODES = {"all": frozenset({"bpf", "perfmon", "net_admin", "sys_admin"}),
         "bpf+net_admin": frozenset({"bpf", "net_admin"})}
_NOT_ALLOWED = ("invalid func ", "unknown func ", "program of this type cannot use helper")


@pytest.fixture(scope="module")
def oracle():
    from tests.conftest import kernel_available
    ok, why = kernel_available()
    if not ok:
        pytest.skip(why)
    from pybpf.kernel.verdict import KernelOracle
    with KernelOracle() as o:
        o.start(list(MODES.values()))
        yield o


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("t,attach", TYPES, ids=[t.name.lower() for t, _ in TYPES])
def test_helper_set_matches_the_kernel(oracle, t, attach, mode):
    caps = MODES[mode]
    wrong = []
    for name, hid in HELPER_IDS.items():
        if not hid:
            continue
        code = struct.pack("<BBhi", 0x85, 0, 0, hid) + \
            struct.pack("<BBhi", 0xB7, 0, 0, 0) + struct.pack("<BBhi", 0x95, 0, 0, 0)
        v = oracle.verdict(code, t, expected_attach_type=attach, caps=caps)
        kernel = v.accepted or not any(m in v.log for m in _NOT_ALLOWED)
        if kernel != is_allowed(t, hid, perfmon="perfmon" in caps):
            wrong.append(name)
    assert not wrong, wrong
