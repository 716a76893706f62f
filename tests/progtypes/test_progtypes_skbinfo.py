"""bpf_get_cgroup_classid, bpf_get_route_realm and bpf_map_lookup_percpu_elem on the
VM against the kernel: the clang-built data/skbinfo/skbinfo.o runs in XDP, tc,
lwt_xmit (answers in the packet), socket filter, cgroup_skb and lwt_in (answers in
cb[]) on both backends with the same frames and per-CPU map contents; retval,
data_out and ctx_out must be equal."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import pybpf

pytestmark = pytest.mark.kernel  # every test compares with the kernel

OBJ = Path(__file__).resolve().parent / "data" / "skbinfo" / "skbinfo.o"
PROGRAMS = ["xdp_info", "tc_info", "lwt_xmit_info", "sock_info", "cg_info", "lwt_in_info"]
CTX_TYPES = {"sock_info", "cg_info", "lwt_in_info", "tc_info", "lwt_xmit_info"}
SK_BUFF_SIZE = 192


@pytest.fixture(scope="module")
def objs(on_cpu0: None) -> Iterator[dict[str, Any]]:
    spec = pybpf.load(OBJ)
    out = {b: spec.instantiate(b) for b in ("vm", "kernel")}
    try:
        yield out
    finally:
        for o in out.values():
            o.close()


def run(obj: Any, prog: str, data: bytes) -> tuple:
    kw = {"ctx_in": bytes(SK_BUFF_SIZE)} if prog in CTX_TYPES else {}
    try:
        r = obj.programs[prog].test_run(data, **kw)
    except pybpf.PyBPFError as e:
        return ("err", getattr(e, "errno", type(e).__name__))
    return ("ok", r.retval, r.data_out, r.ctx_out)


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(prog=st.sampled_from(PROGRAMS), base=st.integers(0, 2**63),
       data=st.one_of(st.binary(max_size=20), st.binary(min_size=70, max_size=140)))
def test_skb_info_helpers_match_kernel(objs: dict[str, Any], prog: str, base: int,
                                       data: bytes) -> None:
    for obj in objs.values():
        m = obj.maps["percpu"]
        m[0] = [(base + 7 * cpu) & (2**64 - 1) for cpu in range(len(m[0]))]
    frame = bytes(range(14)) + bytes([0x45]) + data  # Ethernet, then an IPv4-looking byte
    assert run(objs["vm"], prog, frame) == run(objs["kernel"], prog, frame)


def test_percpu_lookup_reads_each_cpu(objs: dict[str, Any]) -> None:
    """A known case: CPU i's value at vals[i]; CPUs past the possible ones read NULL."""
    vm = objs["vm"]
    ncpu = len(vm.maps["percpu"][0])
    vm.maps["percpu"][0] = [100 + cpu for cpu in range(ncpu)]
    r = vm.programs["tc_info"].test_run(bytes(14 + 64), ctx_in=bytes(SK_BUFF_SIZE))
    vals = [int.from_bytes(r.data_out[30 + 8 * i:38 + 8 * i], "little") for i in range(6)]
    assert vals == [100 + c if c < ncpu else 2**64 - 1 for c in range(6)]
