"""bpf_fib_lookup on the VM against the kernel, from XDP and tc, in a network namespace
built for the test (see progtypes_netns.py) whose routes, neighbours, addresses,
devices and forwarding sysctls the VM reads: hypothesis draws destinations (on every
kind of route), sources, ifindexes, flags, tot_len, tbid and plen; retval and the
struct bpf_fib_lookup written back must be equal."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.net.route import (
    BPF_FIB_LKUP_RET_BLACKHOLE,
    BPF_FIB_LKUP_RET_FRAG_NEEDED,
    BPF_FIB_LKUP_RET_FWD_DISABLED,
    BPF_FIB_LKUP_RET_NO_NEIGH,
    BPF_FIB_LKUP_RET_NOT_FWDED,
    BPF_FIB_LKUP_RET_PROHIBIT,
    BPF_FIB_LKUP_RET_SUCCESS,
    BPF_FIB_LKUP_RET_UNREACHABLE,
)

from .progtypes_netns import net_fixture

pytestmark = pytest.mark.kernel

net = pytest.fixture(scope="module")(net_fixture)

V4_DST = ["192.168.10.{}", "192.168.10.200", "192.168.20.9", "192.168.20.{}",
          "192.168.30.1", "192.168.31.1", "192.168.32.1", "192.168.40.{}", "192.168.41.{}",
          "192.168.60.{}", "172.16.1.{}", "172.17.1.1", "172.18.0.{}", "10.1.0.2",
          "10.1.0.{}", "10.2.0.2", "10.2.0.5", "10.1.0.1", "10.1.0.255", "127.0.0.1",
          "8.8.8.8", "224.0.0.1", "10.3.0.{}"]
V6_DST = ["fd00:40::{:x}", "fd00:41::1", "fd00:42::1", "fd00:43::1", "fd00:44::1",
          "fd00:45::1", "fd00:46::{:x}", "fd00:47::5", "fd00:1::2", "fd00:1::{:x}", "fd00:2::2",
          "fd00:1::1", "fe80::1", "ff02::1", "::1", "2001:db8::1", "fd00:2::{:x}"]
V4_SRC = ["0.0.0.0", "10.1.0.1", "10.9.9.9"]
V6_SRC = ["::", "fd00:1::1", "fe80::1", "fd00:9::9"]
FLAGS = st.one_of(st.integers(0, 63), st.integers(0, 63), st.integers(0, 63),
                  st.integers(0, 63), st.sampled_from([64, 128, 1 << 31]))
TOT_LEN = st.sampled_from([0, 0, 0, 100, 999, 1000, 1001, 1280, 1281, 1300, 1301, 1400,
                           1401, 9000,
                           65535])


@st.composite
def requests(draw: st.DrawFn) -> tuple[int, int, bytes]:
    """(flags, plen, 80 bytes of which 64 are struct bpf_fib_lookup)."""
    family = draw(st.sampled_from([2] * 6 + [10] * 5 + [0, 1]))
    host = draw(st.integers(1, 254))
    if family == 10:
        dst = ipaddress.ip_address(draw(st.sampled_from(V6_DST)).format(host)).packed
        src = ipaddress.ip_address(draw(st.sampled_from(V6_SRC))).packed
        tos_or_flow = draw(st.sampled_from([0, 0, 0x12345]))
    else:
        dst = ipaddress.ip_address(draw(st.sampled_from(V4_DST)).format(host)).packed
        dst = dst.ljust(16, bytes([draw(st.integers(0, 255))]))
        src = ipaddress.ip_address(draw(st.sampled_from(V4_SRC))).packed.ljust(16, b"\0")
        tos_or_flow = draw(st.sampled_from([0, 0, 0, 0x10, 0xb8]))
    ifindex = draw(st.sampled_from([1, 2, 2, 3, 3, 4, 5, 0, 99]))
    tot_len = draw(TOT_LEN)
    tbid = draw(st.sampled_from([0, 100, 254, 255, 253, 7]))
    head = struct.pack("<BBHHHII", family, draw(st.sampled_from([0, 6, 17])),
                       draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFF)), tot_len,
                       ifindex, tos_or_flow)
    tail = struct.pack("<I", tbid) + draw(st.binary(min_size=12, max_size=12))
    params = head + src + dst + tail
    assert len(params) == 64
    extra = draw(st.binary(min_size=16, max_size=16))
    return draw(FLAGS), draw(st.sampled_from([64] * 8 + [63, 80, 1])), params + extra


def packet(flags: int, plen: int, params: bytes) -> bytes:
    return bytes(12) + b"\x88\xb5" + struct.pack("<II", flags, plen) + params


def fib(net, prog: str, flags: int, plen: int, params: bytes) -> tuple:
    k, v = net.run("fib", prog, packet(flags, plen, params))
    assert v == k, f"\nkernel: {k}\nvm:     {v}\nflags {flags:#x} plen {plen} " \
                   f"params {params.hex()}"
    return k


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(req=requests())
def test_fib_lookup_xdp_matches_kernel(net, req) -> None:
    fib(net, "xdp_fib", *req)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(req=requests())
def test_fib_lookup_tc_matches_kernel(net, req) -> None:
    fib(net, "tc_fib", *req)


def _params(family: int, dst: str, ifindex: int, *, src: str | None = None,
            tot_len: int = 0, tbid: int = 0) -> bytes:
    a = ipaddress.ip_address(dst).packed.ljust(16, b"\0")
    s = ipaddress.ip_address(src).packed.ljust(16, b"\0") if src else bytes(16)
    return struct.pack("<BBHHHII", family, 0, 0, 0, tot_len, ifindex, 0) + s + a + \
        struct.pack("<I", tbid) + bytes(12) + bytes(16)


CASES = [
    # (description, family, dst, in-dev, flags, tot_len, tbid, expected code)
    ("gateway route, neighbour known", 2, "192.168.10.1", "veth1", 0, 0, 0,
     BPF_FIB_LKUP_RET_SUCCESS),
    ("longer prefix wins", 2, "192.168.10.200", "veth0", 0, 0, 0, BPF_FIB_LKUP_RET_SUCCESS),
    ("blackhole", 2, "192.168.30.1", "veth0", 0, 0, 0, BPF_FIB_LKUP_RET_BLACKHOLE),
    ("unreachable", 2, "192.168.31.1", "veth0", 0, 0, 0, BPF_FIB_LKUP_RET_UNREACHABLE),
    ("prohibit", 2, "192.168.32.1", "veth0", 0, 0, 0, BPF_FIB_LKUP_RET_PROHIBIT),
    ("local address", 2, "10.1.0.1", "veth1", 0, 0, 0, BPF_FIB_LKUP_RET_NOT_FWDED),
    ("no route", 2, "8.8.8.8", "veth0", 0, 0, 0, BPF_FIB_LKUP_RET_NOT_FWDED),
    ("forwarding off on veth2", 2, "192.168.10.1", "veth2", 0, 0, 0,
     BPF_FIB_LKUP_RET_FWD_DISABLED),
    ("no neighbour for the gateway", 2, "192.168.40.1", "veth1", 0, 0, 0,
     BPF_FIB_LKUP_RET_NO_NEIGH),
    ("locked route mtu", 2, "192.168.40.1", "veth1", 0, 1001, 0,
     BPF_FIB_LKUP_RET_FRAG_NEEDED),
    ("table 100 with DIRECT|TBID", 2, "172.16.3.4", "veth1", 1 | 8, 0, 100,
     BPF_FIB_LKUP_RET_SUCCESS),
    ("table 100 not consulted by the rules", 2, "172.16.3.4", "veth1", 0, 0, 0,
     BPF_FIB_LKUP_RET_NOT_FWDED),
    ("IPv6 gateway of an IPv4 route", 2, "172.18.0.1", "veth1", 0, 0, 0,
     BPF_FIB_LKUP_RET_SUCCESS),
    ("IPv6 gateway", 10, "fd00:40::1", "veth0", 0, 0, 0, BPF_FIB_LKUP_RET_SUCCESS),
    ("IPv6 unlocked route mtu ignored", 10, "fd00:40::1", "veth0", 0, 1301, 0,
     BPF_FIB_LKUP_RET_SUCCESS),
    ("IPv6 device mtu", 10, "fd00:40::1", "veth0", 0, 1401, 0, BPF_FIB_LKUP_RET_FRAG_NEEDED),
    ("IPv6 unreachable", 10, "fd00:41::1", "veth0", 0, 0, 0, BPF_FIB_LKUP_RET_UNREACHABLE),
    ("IPv6 forwarding off on veth1", 10, "fd00:40::1", "veth1", 0, 0, 0,
     BPF_FIB_LKUP_RET_FWD_DISABLED),
    ("IPv6 link-local never forwarded", 10, "fe80::1", "veth0", 0, 0, 0,
     BPF_FIB_LKUP_RET_NOT_FWDED),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("prog", ["xdp_fib", "tc_fib"])
def test_fib_lookup_cases(net, prog: str, case: tuple) -> None:
    """Each return code the namespace can produce, by name (and equal to the kernel)."""
    _, family, dst, dev, flags, tot_len, tbid, code = case
    if prog == "tc_fib" and code == BPF_FIB_LKUP_RET_SUCCESS and not tot_len:
        tot_len = 0  # tc checks the skb against the result device instead
    k = fib(net, prog, flags, 64, _params(family, dst, net.ifindex[dev], tot_len=tot_len,
                                          tbid=tbid))
    assert k[0] == "ok" and k[1] == code


def test_fib_lookup_success_fields(net) -> None:
    """A successful lookup writes ifindex, metric, gateway, source (SRC), MACs and
    mtu_result as the namespace says."""
    k = fib(net, "xdp_fib", 16, 64, _params(2, "192.168.10.1", net.ifindex["veth1"]))
    out = k[2][22:22 + 64]
    assert k[1] == 0
    assert struct.unpack_from("<H", out, 6)[0] == 1400          # mtu_result (veth0)
    assert struct.unpack_from("<I", out, 8)[0] == net.ifindex["veth0"]
    assert struct.unpack_from("<I", out, 12)[0] == 5            # metric
    assert out[16:20] == bytes([10, 1, 0, 1]) and out[32:36] == bytes([10, 1, 0, 2])
    assert out[52:58] == bytes.fromhex("020000000001") and out[58:64] == \
        bytes.fromhex("02aa00000002")


def test_fib_lookup_tc_skb_too_long_for_device(net) -> None:
    """Without tot_len, tc checks the skb (here 102 bytes) against the result device
    after a successful lookup (SKIP_NEIGH): veth2's MTU 68 cannot carry it, and
    mtu_result is that MTU; XDP has no skb and succeeds."""
    params = _params(2, "192.168.60.5", net.ifindex["veth1"])
    k = fib(net, "tc_fib", 4, 64, params)
    assert k[1] == BPF_FIB_LKUP_RET_FRAG_NEEDED
    assert struct.unpack_from("<H", k[2], 22 + 6)[0] == 68
    assert fib(net, "xdp_fib", 4, 64, params)[1] == BPF_FIB_LKUP_RET_SUCCESS
