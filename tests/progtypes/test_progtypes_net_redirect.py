"""bpf_redirect_map over devmap, devmap_hash, cpumap and xskmap (XDP), bpf_clone_redirect
(tc) and bpf_get_socket_cookie (socket filter, tc, cgroup skb) on the VM against the
kernel, in the test namespace. redirect_map and clone_redirect compare retval and
data_out for hypothesis-drawn keys, ifindexes and flags; the socket cookie is a kernel
counter, so it is compared by property (non-zero, the same for both calls in a run, a
new one for each run's socket)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .progtypes_netns import net_fixture

pytestmark = pytest.mark.kernel

M1 = (-1).to_bytes(4, "little", signed=True)


def u32(v: int) -> bytes:
    return v.to_bytes(4, "little")


@pytest.fixture(scope="module")
def net():
    for n in net_fixture():
        k, v = n.objs("redirect")

        def fill(obj, n=n) -> None:
            m = obj.maps
            m["devmap"].update(u32(0), u32(n.ifindex["veth0"]))
            m["devmap"].update(u32(3), u32(1))
            m["devmap_hash"].update(u32(7), u32(1) + M1)
            m["devmap_hash"].update(u32(1000), u32(n.ifindex["veth1"]) + M1)
            m["cpumap"].update(u32(0), u32(64) + M1)
        n.thread.call(lambda k=k: fill(k))
        n.thread.call(lambda v=v: fill(v))
        yield n


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(which=st.integers(0, 3), key=st.sampled_from([0, 1, 3, 7, 8, 1000, 0xFFFF_FFFF]),
       flags=st.one_of(st.integers(0, 31), st.sampled_from([32, 1 << 40, 1 << 63, 3 | 8])))
def test_redirect_map_matches_kernel(net, which: int, key: int, flags: int) -> None:
    data = bytes(12) + b"\x88\xb5" + struct.pack("<IIQ", which, key, flags) + bytes(16)
    k, v = net.run("redirect", "xdp_redirect_map", data)
    assert v == k, f"map {which} key {key} flags {flags:#x}"


def test_redirect_map_default_action_and_broadcast(net) -> None:
    def data(m: int, key: int, fl: int) -> bytes:
        return bytes(12) + b"\x88\xb5" + struct.pack("<IIQ", m, key, fl)
    assert net.run("redirect", "xdp_redirect_map", data(0, 0, 0))[0][1] == 4   # found
    assert net.run("redirect", "xdp_redirect_map", data(0, 1, 2))[0][1] == 2   # PASS
    assert net.run("redirect", "xdp_redirect_map", data(0, 1, 8))[0][1] == 4   # broadcast
    assert net.run("redirect", "xdp_redirect_map", data(2, 0, 8))[0][1] == 0   # not devmap


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(ifindex=st.sampled_from([1, 2, 3, 4, 5, 0, 99]),
       flags=st.sampled_from([0, 0, 1, 1, 2, 8, 1 << 40]),
       gso=st.sampled_from([0, 0, 0, 1400]), extra=st.binary(max_size=40),
       prog=st.sampled_from(["tc_clone", "lwt_clone"]))
def test_clone_redirect_matches_kernel(net, ifindex: int, flags: int, gso: int,
                                       extra: bytes, prog: str) -> None:
    data = bytes.fromhex("020000000002020000000001") + b"\x88\xb5" + \
        struct.pack("<IQ", ifindex, flags) + extra
    kw = {}
    if gso:
        ctx = bytearray(192)
        ctx[176:180] = u32(gso)
        kw = {"ctx_in": bytes(ctx)}
    k, v = net.run("redirect", prog, data, **kw)
    assert v == k, f"{prog} ifindex {ifindex} flags {flags:#x} gso {gso}"


@pytest.mark.parametrize("dev,size", [("veth1", 1400), ("veth1", 1500), ("veth0", 1500),
                                      ("veth2", 60), ("lo", 1500)])
@pytest.mark.parametrize("prog", ["tc_clone", "lwt_clone"])
def test_clone_redirect_veth_peer_mtu(net, prog: str, dev: str, size: int) -> None:
    """A veth drops what its peer's MTU cannot carry (veth0's peer has 9000, veth1's
    1400); veth2 has no carrier."""
    head = bytes.fromhex("020000000002020000000001") + b"\x88\xb5" + \
        struct.pack("<IQ", net.ifindex[dev], 0)
    k, v = net.run("redirect", prog, head.ljust(size, b"\0"))
    assert v == k


def test_clone_redirect_records_the_copy(net) -> None:
    data = bytes.fromhex("020000000002020000000001") + b"\x88\xb5" + \
        struct.pack("<IQ", 1, 0) + b"payload"
    before = len(net.ns.transmitted)
    k, v = net.run("redirect", "tc_clone", data)
    assert k == v and k[1] == 0
    t = net.ns.transmitted[before:]
    assert [(x.ifindex, x.data, x.ingress) for x in t] == [(1, data, False)]


@pytest.mark.parametrize("prog", ["sf_cookie", "tc_cookie", "cg_cookie"])
def test_socket_cookie_properties(net, prog: str) -> None:
    """Non-zero, equal for both calls of a run, different for each run's socket, on
    both backends."""
    kobj, vobj = net.objs("redirect")
    data = bytes(12) + b"\x08\x00" + bytes.fromhex("4500001c000000004011") + bytes(10) + \
        bytes(8)
    seen: dict[str, list[int]] = {"kernel": [], "vm": []}
    for _ in range(3):
        k, v = net.run("redirect", prog, data)
        assert k[0] == v[0] == "ok" and k[1] == v[1] == 1
        seen["kernel"].append(int.from_bytes(net.thread.call(
            lambda: kobj.maps["cookies"].lookup(u32(0))), "little"))
        seen["vm"].append(int.from_bytes(vobj.maps["cookies"].lookup(u32(0)), "little"))
    for name, cookies in seen.items():
        assert all(cookies) and len(set(cookies)) == 3, (name, cookies)
