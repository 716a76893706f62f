"""Network hooks beside XDP, tc and cgroups, end to end in namespaces the tests make:
netfilter links (a program that counts and drops by length at local_in), sk_lookup
(connections steered to a socket in a sockmap), flow_dissector (BPF_PROG_TEST_RUN and
real traffic through an AF_PACKET fanout hash), and sk_skb / sk_msg on a sockmap and a
sockhash (a TCP pair on the namespace's loopback). Every program is attached with
Program.attach(), which reads the kind from its section, and every test checks that
nothing is left behind (netenv.nothing_left_check)."""

from __future__ import annotations

import errno
import os
import socket
import struct
from pathlib import Path
from typing import Any, Iterator

import pytest

import pybpf
from pybpf.kernel import (
    KernelError,
    Link,
    attach_netfilter,
    attach_netns,
)
from pybpf.kernel.abi import AttachType, LinkType
from pybpf.kernel.link import NetnsProgAttachment, SockmapProgAttachment
from pybpf.objects.instance import AttachNotSupportedError

from .netenv import ADDR_A, ADDR_B, VethPair, need_netns, nothing_left_check

DATA = Path(__file__).resolve().parent / "data"
PROGS = {"nf_count_drop", "steer", "dissect", "parse", "verdict", "on_msg"}
SOL_PACKET, PACKET_FANOUT, PACKET_FANOUT_HASH = 263, 18, 0

pytestmark = pytest.mark.kernel


@pytest.fixture
def veth() -> Iterator[VethPair]:
    need_netns()
    with nothing_left_check(PROGS):
        pair = VethPair("h")
        try:
            yield pair
        finally:
            pair.close()


def _load(v: VethPair, name: str, **globals_: int) -> Any:
    spec = pybpf.load(DATA / f"{name}.bpf.o")
    for var, value in globals_.items():
        spec.set_global(var, value)
    return v.in_a(lambda: spec.instantiate("kernel"))


# --- netfilter -----------------------------------------------------------------------------

def test_netfilter_counts_and_drops(veth: VethPair) -> None:
    """At ipv4 local_in of namespace A the program sees every datagram B sends and drops
    the 100-byte ones (IP length 128): 10 of 64 bytes arrive, 7 of 100 do not, and the
    counters say 17 seen, 7 dropped, at hook 1 (NF_INET_LOCAL_IN). Detached, the
    100-byte ones arrive and nothing is counted."""
    with _load(veth, "netfilter", drop_len=20 + 8 + 100) as obj:
        prog = obj.programs["nf_count_drop"]
        g = obj.globals
        with veth.in_a(lambda: prog.attach("local_in", priority=-100)) as link:
            assert isinstance(link, Link) and link.is_bpf_link and link.kind == "netfilter"
            info = link.info()
            assert info.type == LinkType.NETFILTER and info.prog_id == prog.handle.id
            assert info.target == "ipv4 local_in prio -100" and info.id > 0
            assert veth.udp_b_to_a(10, payload=64) == 10
            assert veth.udp_b_to_a(7, payload=100, port=7001) == 0
            assert (g.seen, g.dropped, g.last_hook) == (17, 7, 1)
            # one BPF hook per priority: a second one there is refused, and named
            with pytest.raises(KernelError, match="netfilter ipv4 local_in priority -100"):
                veth.in_a(lambda: attach_netfilter(prog.handle, "local_in", priority=-100))
        assert veth.udp_b_to_a(5, payload=100) == 5
        assert (g.seen, g.dropped) == (17, 7)


def test_netfilter_is_per_namespace_and_pins(veth: VethPair, bpffs: str) -> None:
    """A hook in namespace B does not see A's input; pinned, the link outlives its fd
    and is opened again by path; unpinned and closed, it is gone."""
    with _load(veth, "netfilter", drop_len=20 + 8 + 50) as obj:
        prog = obj.programs["nf_count_drop"]
        g = obj.globals
        link = veth.in_b(lambda: prog.attach("output", pf="ipv4", priority=10))
        assert link.info().target == "ipv4 local_out prio 10"
        with pytest.raises(PermissionError):            # dropped leaving B: EPERM
            veth.udp_b_to_a(3, payload=50)
        assert (g.seen, g.dropped, g.last_hook) == (1, 1, 3)
        path = os.path.join(bpffs, "nf_link")
        link.pin(path)
        link.close()
        prog.detach()
        with pytest.raises(PermissionError):            # still attached: pinned
            veth.udp_b_to_a(2, payload=50)
        again = Link.from_pin(path)
        assert again.kind == "netfilter" and again.info().prog_id == prog.handle.id
        again.unpin()
        again.close()
        assert veth.udp_b_to_a(2, payload=50) == 2
        assert (g.seen, g.dropped) == (2, 2)


def test_netfilter_argument_errors() -> None:
    with pytest.raises(ValueError, match="hook 'nope'"):
        attach_netfilter(0, "nope")
    with pytest.raises(ValueError, match="protocol family 'ipx'"):
        attach_netfilter(0, "local_in", pf="ipx")
    with pytest.raises(ValueError, match="strictly between"):
        attach_netfilter(0, "local_in", priority=-(2**31))


# --- sk_lookup -------------------------------------------------------------------------------

def _listener(port: int) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ADDR_A, port))
    s.listen(8)
    return s


def _connect(port: int) -> socket.socket:
    c = socket.create_connection((ADDR_A, port), timeout=2)
    c.sendall(b"hello %d" % port)
    return c


def test_sk_lookup_steers_connections_to_the_sockmap_socket(veth: VethPair) -> None:
    """Nothing listens on A:7777; the program puts connections to it on the socket in
    its sockmap (listening on 8888). update() swaps in a program steering 7778."""
    with _load(veth, "sk_lookup", steer_port=7777) as obj, \
            _load(veth, "sk_lookup", steer_port=7778) as obj2:
        srv = veth.in_a(lambda: _listener(8888))
        srv.settimeout(2)
        try:
            for o in (obj, obj2):
                o.maps["socks"][struct.pack("<I", 0)] = struct.pack("<Q", srv.fileno())
            with veth.in_a(lambda: obj.programs["steer"].attach()) as link:
                assert link.kind == "netns" and link.info().type == LinkType.NETNS
                assert link.info().attach_type == AttachType.SK_LOOKUP
                assert "sk_lookup" in link.target
                c = veth.in_b(lambda: _connect(7777))
                a, peer = srv.accept()
                assert a.getsockname() == (ADDR_A, 7777) and peer[0] == ADDR_B
                assert a.recv(64) == b"hello 7777"
                a.close()
                c.close()
                assert obj.globals.steered == 1
                link.update(obj2.programs["steer"].handle)
                assert link.info().prog_id == obj2.programs["steer"].handle.id
                with pytest.raises(ConnectionRefusedError):
                    veth.in_b(lambda: _connect(7777))
                c = veth.in_b(lambda: _connect(7778))
                a, _ = srv.accept()
                assert a.getsockname() == (ADDR_A, 7778)
                a.close()
                c.close()
                assert (obj.globals.steered, obj2.globals.steered) == (1, 1)
            with pytest.raises(ConnectionRefusedError):
                veth.in_b(lambda: _connect(7778))
        finally:
            srv.close()


def test_netns_targets_are_named(veth: VethPair) -> None:
    with _load(veth, "sk_lookup") as obj:
        prog = obj.programs["steer"]
        with pytest.raises(KernelError, match="no network namespace /nonexistent/ns"):
            prog.attach("/nonexistent/ns")
        with pytest.raises(KernelError, match="/run/netns/pybpf-no-such-ns"):
            prog.attach("pybpf-no-such-ns")
        # by name of `ip netns`: B's namespace, from this (root-namespace) thread
        with prog.attach(veth.ns_b) as link:
            assert link.target.startswith(f"/run/netns/{veth.ns_b} (ino ")
        with pytest.raises(ValueError, match="only through netns links"):
            attach_netns(prog.handle, AttachType.SK_LOOKUP, veth.ns_b, use_link=False)


# --- flow dissector ----------------------------------------------------------------------

def _udp_frame(sport: int, dport: int, payload: bytes = b"abcd") -> bytes:
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 0, 0, 64, 17, 0,
                     socket.inet_aton(ADDR_B), socket.inet_aton(ADDR_A))
    return bytes(12) + b"\x08\x00" + ip + struct.pack(">HHHH", sport, dport,
                                                      8 + len(payload), 0) + payload


def test_flow_dissector_test_run_fills_the_flow_keys(veth: VethPair) -> None:
    """BPF_PROG_TEST_RUN of the dissector on an Ethernet/IPv4/UDP frame: BPF_OK and
    struct bpf_flow_keys (data_out) as the program fills it."""
    with _load(veth, "flow_dissector") as obj:
        res = obj.programs["dissect"].test_run(_udp_frame(1234, 7000))
        assert res.retval == 0  # BPF_OK
        keys = res.data_out
        nhoff, thoff, addr_proto, is_frag, _, _, ip_proto = struct.unpack_from("<HHHBBBB",
                                                                               keys, 0)
        n_proto, sport, dport = struct.unpack_from(">HHH", keys, 10)
        src, dst = keys[16:20], keys[20:24]
        assert (nhoff, thoff, addr_proto, is_frag, ip_proto) == (14, 34, 0x0800, 0, 17)
        assert (n_proto, sport, dport) == (0x0800, 1234, 7000)
        assert (socket.inet_ntoa(src), socket.inet_ntoa(dst)) == (ADDR_B, ADDR_A)
        assert obj.programs["dissect"].test_run(bytes(12) + b"\x86\xdd" + bytes(40)).retval \
            == 2  # BPF_DROP: not IPv4
        assert obj.globals.runs == 2


@pytest.mark.parametrize("use_link", [None, False])
def test_flow_dissector_runs_on_real_traffic(veth: VethPair, use_link: bool | None) -> None:
    """Attached to namespace A (a netns link, or BPF_PROG_ATTACH), the dissector runs
    when A hashes B's datagrams for an AF_PACKET fanout group; one per namespace."""
    with _load(veth, "flow_dissector") as obj:
        prog = obj.programs["dissect"]
        g = obj.globals

        def fanout() -> socket.socket:
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
            s.setsockopt(SOL_PACKET, PACKET_FANOUT, 0x4242 | (PACKET_FANOUT_HASH << 16))
            return s

        ps = veth.in_a(fanout)
        try:
            with veth.in_a(lambda: prog.attach(use_link=use_link)) as link:
                assert link.is_bpf_link is (use_link is None)
                assert isinstance(link, NetnsProgAttachment) is (use_link is False)
                assert "flow_dissector" in link.info().target
                with pytest.raises(KernelError, match="already attached") as e:
                    veth.in_a(lambda: attach_netns(prog.handle, AttachType.FLOW_DISSECTOR))
                assert e.value.errno in (errno.EEXIST, errno.E2BIG)
                assert veth.udp_b_to_a(6) == 6
                assert g.ipv4_udp >= 6
            seen = g.runs
            assert veth.udp_b_to_a(4) == 4
            assert g.runs == seen
        finally:
            ps.close()


# --- sk_skb / sk_msg on a sockmap and a sockhash -----------------------------------------------

def _tcp_pair() -> tuple[socket.socket, socket.socket]:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        c = socket.create_connection(srv.getsockname())
        a, _ = srv.accept()
    return c, a


@pytest.mark.parametrize("use_link", [None, False])
def test_sockmap_sk_skb_and_sk_msg(veth: VethPair, use_link: bool | None) -> None:
    """In namespace A, a TCP pair: the receiving end in a sockmap with the stream
    parser and verdict attached, the sending end in a sockhash with sk_msg. 100 + 50
    bytes sent arrive intact; sk_msg saw 2 messages of 150 bytes, the verdict 150."""
    with _load(veth, "sockmap") as obj:
        p = obj.programs
        kw = {} if use_link is None else {"use_link": use_link}
        links = [p["parse"].attach(obj.maps["rx_socks"], **kw),
                 p["verdict"].attach(obj.maps["rx_socks"], **kw),
                 p["on_msg"].attach(obj.maps["tx_socks"], **kw)]
        try:
            for link in links:
                assert link.is_bpf_link is (use_link is None)
                assert isinstance(link, SockmapProgAttachment) is (use_link is False)
            assert links[1].info().target == "map rx_socks sk_skb_stream_verdict"
            if use_link is None:
                assert links[2].info().type == LinkType.SOCKMAP
            c, a = veth.in_a(_tcp_pair)
            try:
                obj.maps["rx_socks"][struct.pack("<I", 0)] = struct.pack("<Q", a.fileno())
                obj.maps["tx_socks"][struct.pack("<I", 7)] = struct.pack("<Q", c.fileno())
                c.sendall(b"x" * 100)
                c.sendall(b"y" * 50)
                a.settimeout(2)
                got = b""
                while len(got) < 150:
                    got += a.recv(4096)
                assert got == b"x" * 100 + b"y" * 50
                g = obj.globals
                assert (g.msgs, g.msg_bytes, g.verdict_bytes) == (2, 150, 150)
                assert g.parsed >= 1
            finally:
                c.close()
                a.close()
        finally:
            for link in links:
                link.close()


def test_sockmap_attach_needs_a_map_and_a_hook(veth: VethPair) -> None:
    with _load(veth, "sockmap") as obj:
        with pytest.raises(AttachNotSupportedError, match="sockmap or sockhash"):
            obj.programs["verdict"].attach()
        spec = pybpf.load(DATA / "sockmap.bpf.o")
        spec.programs["verdict"].section = "sk_skb"
        spec.programs["verdict"].expected_attach_type = 0
        with spec.instantiate("kernel", programs=["verdict"]) as bare:
            with pytest.raises(AttachNotSupportedError, match="does not say which sockmap"):
                bare.programs["verdict"].attach(bare.maps["rx_socks"])
            with bare.programs["verdict"].attach(bare.maps["rx_socks"],
                                                 attach_type="sk_skb_verdict") as link:
                assert link.target.endswith("sk_skb_verdict")
        with pytest.raises(ValueError, match="does not attach to a sockmap"):
            from pybpf.kernel import attach_sockmap
            attach_sockmap(obj.programs["verdict"].handle, obj.maps["rx_socks"],
                           AttachType.CGROUP_INET_INGRESS)
        # an sk_skb program on a map that is not a sockmap: the kernel's EINVAL
        with pytest.raises(KernelError):
            obj.programs["verdict"].attach(obj.maps[".bss"])

