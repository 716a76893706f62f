"""The program-type tables as data: context layouts against the kernel's BTF, narrow-load
arithmetic, helper sets against the kernel's verifier, describe()."""

from __future__ import annotations

import struct

import pytest

from pybpf.helper_ids import HELPER_IDS
from pybpf.progtypes import (allowed_helpers, context_spec, describe, helpers_for,
                             is_allowed, skb_spec, xdp_spec)
from pybpf.progtypes.ctx import CtxField, FieldKind, narrow
from pybpf.uapi import ProgType

SKB_OFFSETS = {"len": 0, "pkt_type": 4, "mark": 8, "queue_mapping": 12, "protocol": 16,
               "vlan_present": 20, "vlan_tci": 24, "vlan_proto": 28, "priority": 32,
               "ingress_ifindex": 36, "ifindex": 40, "tc_index": 44, "cb": 48, "hash": 68,
               "tc_classid": 72, "data": 76, "data_end": 80, "napi_id": 84, "family": 88,
               "remote_ip4": 92, "local_ip4": 96, "remote_ip6[0]": 100, "local_ip6[0]": 116,
               "remote_port": 132, "local_port": 136, "data_meta": 140, "flow_keys": 144,
               "tstamp": 152, "wire_len": 160, "gso_segs": 164, "sk": 168, "gso_size": 176,
               "tstamp_type": 180, "hwtstamp": 184}


def test_sk_buff_layout():
    spec = skb_spec(ProgType.SCHED_CLS)
    assert spec.size == 192
    for name, off in SKB_OFFSETS.items():
        assert spec[name].offset == off, name
    offs = sorted((f.offset, f.end) for f in spec)
    assert all(a[1] <= b[0] for a, b in zip(offs, offs[1:]))


def test_skb_permissions_per_type():
    sf, tc, cg = (skb_spec(t) for t in (ProgType.SOCKET_FILTER, ProgType.SCHED_CLS,
                                        ProgType.CGROUP_SKB))
    assert not sf["data"].readable and not sf["mark"].writable and sf["cb"].writable
    assert tc["data"].readable and tc["mark"].writable and tc["tc_classid"].writable
    assert not tc["family"].readable and cg["family"].readable
    assert cg["mark"].writable and not cg["tc_index"].writable
    assert tc["tstamp_type"].read_sizes == frozenset({1}) and not cg["tstamp_type"].readable
    with pytest.raises(ValueError):
        sf.check(76, 4, False)
    assert tc.check(76, 4, False).name == "data"
    with pytest.raises(ValueError):
        tc.check(77, 1, False)


def test_narrow_load_arithmetic():
    f = CtxField("protocol", 16, 4, FieldKind.VALUE, "x", frozenset({1, 2, 4}),
                 frozenset(), 2, 4)
    v = 0xDD86
    assert narrow(v, f, 16, 4) == v
    assert narrow(v, f, 16, 1) == 0x86 and narrow(v, f, 17, 1) == 0xDD
    assert narrow(v, f, 18, 1) == 0
    assert narrow(v, f, 18, 2) == v  # a load as wide as the target is not shifted


def test_context_specs_exist():
    for t in (ProgType.XDP, ProgType.SOCKET_FILTER, ProgType.SCHED_CLS, ProgType.CGROUP_SKB,
              ProgType.KPROBE, ProgType.TRACEPOINT, ProgType.PERF_EVENT,
              ProgType.RAW_TRACEPOINT):
        spec = context_spec(t)
        assert spec.fields and spec.describe()
    assert xdp_spec().size == 24


def test_helper_sets():
    assert is_allowed(ProgType.SCHED_CLS, "bpf_skb_store_bytes")
    assert not is_allowed(ProgType.XDP, "skb_load_bytes")
    assert not is_allowed(ProgType.SCHED_CLS, "xdp_adjust_head")
    assert is_allowed(ProgType.XDP, HELPER_IDS["xdp_adjust_tail"])
    assert not is_allowed(ProgType.SOCKET_FILTER, "skb_store_bytes")
    assert "map_lookup_elem" in allowed_helpers(ProgType.KPROBE)
    reg = helpers_for(ProgType.SCHED_CLS)
    assert HELPER_IDS["skb_store_bytes"] in reg and HELPER_IDS["xdp_adjust_head"] not in reg
    reg = helpers_for(ProgType.XDP)
    assert HELPER_IDS["xdp_adjust_head"] in reg and HELPER_IDS["skb_load_bytes"] not in reg


def test_describe():
    d = {e["prog_type"]: e for e in describe()}
    assert d["xdp"]["status"] == "modelled" and d["kprobe"]["status"] == "context"
    assert d["sk_lookup"]["status"] == "unsupported"
    assert "bpf_xdp_adjust_head" in d["xdp"]["helpers_vm"]
    assert d["sched_cls"]["context"] == "struct __sk_buff"


def _probe(t: ProgType, hid: int) -> bool:
    from pybpf.kernel import KernelError, prog_load
    code = (struct.pack("<BBhi", 0x85, 0, 0, hid) + struct.pack("<BBhi", 0xB7, 0, 0, 0)
            + struct.pack("<BBhi", 0x95, 0, 0, 0))
    eat = 0
    from pybpf.uapi import AttachType
    if t == ProgType.CGROUP_SKB:
        eat = AttachType.CGROUP_INET_INGRESS
    elif t == ProgType.SK_LOOKUP:
        eat = AttachType.SK_LOOKUP
    elif t == ProgType.NETFILTER:
        eat = AttachType.NETFILTER
    try:
        prog_load(t, code, "GPL", expected_attach_type=eat)
        return True
    except KernelError as e:
        log = getattr(e, "log", "")
        return not ("unknown func" in log or "cannot use helper" in log)


@pytest.mark.kernel
@pytest.mark.parametrize("t", [ProgType.SOCKET_FILTER, ProgType.SCHED_CLS, ProgType.XDP,
                               ProgType.CGROUP_SKB, ProgType.KPROBE, ProgType.RAW_TRACEPOINT,
                               ProgType.PERF_EVENT, ProgType.SK_SKB, ProgType.SK_MSG,
                               ProgType.FLOW_DISSECTOR, ProgType.SK_LOOKUP,
                               ProgType.NETFILTER])
def test_helper_sets_match_verifier(t):
    """Every helper ID: allowed in the table iff the verifier knows it for the type."""
    from tests.conftest import kernel_available
    if not kernel_available()[0]:
        pytest.skip("bpf(2) unavailable")
    allowed = allowed_helpers(t)
    wrong = [name for name, hid in HELPER_IDS.items()
             if hid and (name in allowed) != _probe(t, hid)]
    assert not wrong, wrong
