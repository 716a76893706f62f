"""bpf_sk_lookup_tcp, bpf_sk_lookup_udp, bpf_skc_lookup_tcp and bpf_sk_release on the
VM against the kernel, from XDP and tc, in the test namespace with listening and
connected TCP sockets and bound and connected UDP sockets (v4, v6, dual-stack, v6-only)
made in it; the VM is given the namespace's socket table. Hypothesis draws tuples,
tuple sizes, netns arguments and flags; retval (found or not) and the struct bpf_sock
fields read through the returned pointer must be equal."""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.net.sockets import IPPROTO_TCP, IPPROTO_UDP, TCP_LISTEN, sk_lookup

from .progtypes_netns import net_fixture

pytestmark = pytest.mark.kernel

LISTEN = [(socket.AF_INET, "10.1.0.1", 8001), (socket.AF_INET, "0.0.0.0", 8002),
          (socket.AF_INET6, "::", 8003), (socket.AF_INET6, "fd00:1::1", 8004),
          (socket.AF_INET6, "::ffff:10.2.0.1", 8005)]
BOUND_UDP = [(socket.AF_INET, "10.2.0.1", 9001), (socket.AF_INET, "0.0.0.0", 9002),
             (socket.AF_INET6, "::", 9003), (socket.AF_INET6, "fd00:2::1", 9006)]
V6ONLY = {8004, 9006}
BOUND_DEV = {8010: "veth0", 9010: "veth1"}  # SO_BINDTODEVICE (not in /proc: told the VM)


@pytest.fixture(scope="module")
def net():
    yield from _with_sockets()


def _with_sockets():
    for n in net_fixture():
        socks: list[socket.socket] = []

        def make(n=n, socks=socks) -> None:
            for fam, addr, port in LISTEN:
                s = socket.socket(fam, socket.SOCK_STREAM)
                if port in V6ONLY:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((addr, port))
                s.listen()
                socks.append(s)
            for fam, addr, port in BOUND_UDP:
                s = socket.socket(fam, socket.SOCK_DGRAM)
                if port in V6ONLY:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((addr, port))
                socks.append(s)
            for port, dev in BOUND_DEV.items():
                kind = socket.SOCK_STREAM if port < 9000 else socket.SOCK_DGRAM
                s = socket.socket(socket.AF_INET, kind)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
                s.bind(("0.0.0.0", port))
                if kind == socket.SOCK_STREAM:
                    s.listen()
                socks.append(s)
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind(("10.1.0.1", 9004))
            u.connect(("10.1.0.2", 5555))
            socks.append(u)
            c = socket.create_connection(("127.0.0.1", 8002))
            socks.append(c)
            socks.append(socks[1].accept()[0])
        n.thread.call(make)
        n.refresh()
        n.ns.sockets = [dataclasses.replace(
            s, ipv6only=s.port in V6ONLY,
            bound_dev_if=n.ifindex[BOUND_DEV[s.port]] if s.port in BOUND_DEV else 0)
            for s in n.ns.sockets]
        n.client_port = socks[-2].getsockname()[1]
        try:
            yield n
        finally:
            for s in socks:
                s.close()


V4_ADDRS = ["10.1.0.1", "10.2.0.1", "127.0.0.1", "10.9.9.9", "0.0.0.0", "10.1.0.2"]
V6_ADDRS = ["fd00:1::1", "fd00:2::1", "::1", "::ffff:10.1.0.1", "::ffff:10.2.0.1", "::",
            "fd00:9::9"]
PORTS = [8001, 8002, 8003, 8004, 8005, 8010, 9001, 9002, 9003, 9004, 9006, 9010, 5555, 1,
         0]
NETNS = [0xFFFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF, 0x8000_0000, 0, 5,
         1 << 32, 0x7FFF_FFFF]


@st.composite
def requests(draw: st.DrawFn, client_port: int) -> tuple[int, int, int, int, bytes]:
    kind = draw(st.sampled_from([0, 1, 2]))
    size = draw(st.sampled_from([12, 12, 36, 36, 13, 0, 40, 35]))
    ports = PORTS + [client_port]
    sport, dport = draw(st.sampled_from(ports)), draw(st.sampled_from(ports))
    if size == 36:
        saddr = ipaddress.ip_address(draw(st.sampled_from(V6_ADDRS))).packed
        daddr = ipaddress.ip_address(draw(st.sampled_from(V6_ADDRS))).packed
    else:
        saddr = ipaddress.ip_address(draw(st.sampled_from(V4_ADDRS))).packed
        daddr = ipaddress.ip_address(draw(st.sampled_from(V4_ADDRS))).packed
    tup = saddr + daddr + struct.pack(">HH", sport, dport)
    tup = tup.ljust(40, b"\x77")
    netns = draw(st.sampled_from(NETNS))
    flags = draw(st.sampled_from([0, 0, 0, 0, 1, 1 << 40]))
    return kind, size, netns, flags, tup


def packet(kind: int, size: int, netns: int, flags: int, tup: bytes) -> bytes:
    return bytes(12) + b"\x88\xb5" + struct.pack("<IIQQ", kind, size, netns, flags) + tup + \
        bytes(80)


def _ctx(prog: str, size: int, ifindex: int) -> bytes | None:
    """The device the run happens on (dif of the lookup): xdp_md ingress_ifindex or
    __sk_buff ifindex; None for loopback by default."""
    if not ifindex:
        return None
    if prog.startswith("xdp"):
        return struct.pack("<6I", 0, size, 0, ifindex, 0, 0)
    ctx = bytearray(192)
    ctx[40:44] = ifindex.to_bytes(4, "little")
    return bytes(ctx)


def lookup(net, prog: str, req: tuple, dev: str = "") -> tuple:
    data = packet(*req)
    kw = {}
    ctx = _ctx(prog, len(data), net.ifindex[dev] if dev else 0)
    if ctx is not None:
        kw["ctx_in"] = ctx
    k, v = net.run("sk", prog, data, **kw)
    assert v == k, f"\nkernel: {k}\nvm:     {v}\nreq {req} dev {dev}"
    return k


DEVS = st.sampled_from(["", "", "lo", "veth0", "veth1"])


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), dev=DEVS)
def test_sk_lookup_xdp_matches_kernel(net, data, dev: str) -> None:
    lookup(net, "xdp_sk", data.draw(requests(net.client_port)), dev)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), dev=DEVS)
def test_sk_lookup_tc_matches_kernel(net, data, dev: str) -> None:
    lookup(net, "tc_sk", data.draw(requests(net.client_port)), dev)


def _tuple4(src: str, sport: int, dst: str, dport: int) -> bytes:
    return (ipaddress.ip_address(src).packed + ipaddress.ip_address(dst).packed
            + struct.pack(">HH", sport, dport)).ljust(40, b"\0")


def _tuple6(src: str, sport: int, dst: str, dport: int) -> bytes:
    return (ipaddress.ip_address(src).packed + ipaddress.ip_address(dst).packed
            + struct.pack(">HH", sport, dport)).ljust(40, b"\0")


CASES = [
    ("listener on its address", 0, 12, _tuple4("10.9.9.9", 1234, "10.1.0.1", 8001), 1),
    ("listener on another address", 0, 12, _tuple4("10.9.9.9", 1234, "10.2.0.1", 8001), 0),
    ("wildcard listener", 0, 12, _tuple4("10.9.9.9", 1234, "10.2.0.1", 8002), 1),
    ("dual-stack v6 listener, v4 tuple", 0, 12, _tuple4("10.9.9.9", 1, "10.2.0.1", 8003), 1),
    ("v6-only listener, v4 tuple", 0, 12, _tuple4("10.9.9.9", 1, "10.1.0.1", 8004), 0),
    ("v6-only listener, v6 tuple", 0, 36, _tuple6("fd00:9::9", 1, "fd00:1::1", 8004), 1),
    ("bound UDP", 1, 12, _tuple4("10.9.9.9", 1, "10.2.0.1", 9001), 1),
    ("UDP port but TCP lookup", 0, 12, _tuple4("10.9.9.9", 1, "10.2.0.1", 9001), 0),
    ("connected UDP, its peer", 1, 12, _tuple4("10.1.0.2", 5555, "10.1.0.1", 9004), 1),
    ("connected UDP, another peer", 1, 12, _tuple4("10.1.0.3", 5555, "10.1.0.1", 9004), 0),
    ("skc lookup of a listener", 2, 12, _tuple4("10.9.9.9", 1, "10.1.0.1", 8001), 1),
    ("bad tuple size", 0, 13, _tuple4("10.9.9.9", 1, "10.1.0.1", 8001), 0),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("prog", ["xdp_sk", "tc_sk"])
def test_sk_lookup_cases(net, prog: str, case: tuple) -> None:
    _, kind, size, tup, found = case
    k = lookup(net, prog, (kind, size, 0xFFFF_FFFF_FFFF_FFFF, 0, tup))
    assert k[0] == "ok" and k[1] == found


@pytest.mark.parametrize("prog", ["xdp_sk", "tc_sk"])
@pytest.mark.parametrize("dev,found", [("", 0), ("veth1", 0), ("veth0", 1)])
def test_sk_lookup_bound_device(net, prog: str, dev: str, found: int) -> None:
    """A listener bound to veth0 is found only by a run on veth0."""
    tup = _tuple4("10.9.9.9", 1, "10.1.0.1", 8010)
    k = lookup(net, prog, (0, 12, 0xFFFF_FFFF_FFFF_FFFF, 0, tup), dev)
    assert k[0] == "ok" and k[1] == found


def test_sk_lookup_established_and_fields(net) -> None:
    """The accepted end of a connection is found by its 4-tuple, and struct bpf_sock
    reads as the kernel's (state ESTABLISHED, ports, addresses)."""
    tup = _tuple4("127.0.0.1", net.client_port, "127.0.0.1", 8002)
    k = lookup(net, "tc_sk", (0, 12, 0xFFFF_FFFF_FFFF_FFFF, 0, tup))
    assert k[1] == 1
    out = struct.unpack_from("<20I", k[2], 14 + 24 + 40)
    assert out[1] == socket.AF_INET and out[2] == socket.SOCK_STREAM and out[3] == 6
    assert out[11] == 8002 and out[18] == 1


def test_sk_lookup_model_scores_exact_address_first() -> None:
    """Without the kernel: a listener on the exact address beats a wildcard one."""
    from pybpf.net.sockets import AF_INET, socket_of
    exact = socket_of(AF_INET, IPPROTO_TCP, "10.0.0.1", 80)
    wild = socket_of(AF_INET, IPPROTO_TCP, "0.0.0.0", 80)
    dst = ipaddress.ip_address("10.0.0.1").packed
    assert sk_lookup([wild, exact], AF_INET, IPPROTO_TCP, bytes(4), 1, dst, 80, 1) is exact
    assert sk_lookup([wild], AF_INET, IPPROTO_UDP, bytes(4), 1, dst, 80, 1) is None
    assert exact.state == TCP_LISTEN
