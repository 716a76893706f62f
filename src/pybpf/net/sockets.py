"""The sockets of a network namespace as data, the kernel's socket lookup over them
(bpf_sk_lookup_tcp / bpf_sk_lookup_udp / bpf_skc_lookup_tcp: the established hash,
then listeners or bound UDP sockets scored as __inet_lookup_listener and
__udp4_lib_lookup do, reuseport off). The `struct bpf_sock` a program reads through
the returned pointer is pybpf.progtypes.contexts.sock; the helpers that map it,
pybpf.progtypes.socklookup."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

AF_UNSPEC, AF_INET, AF_INET6 = 0, 2, 10
SOCK_STREAM, SOCK_DGRAM = 1, 2
IPPROTO_TCP, IPPROTO_UDP = 6, 17
TCP_ESTABLISHED, TCP_TIME_WAIT, TCP_CLOSE, TCP_LISTEN = 1, 6, 7, 10
TCP_NEW_SYN_RECV = 12
LOOPBACK4_IPV6 = bytes([127, 0, 0, 6])  # the v4 address of a v6-only bound socket
V4_MAPPED = bytes(10) + b"\xff\xff"


@dataclass(frozen=True)
class Socket:
    """A socket as the lookup tables hold it. Addresses in network order (4 bytes for
    AF_INET, 16 for AF_INET6), ports in host order; `state` is TCP_* (UDP: CLOSE when
    only bound, ESTABLISHED when connected)."""

    family: int
    protocol: int
    local: bytes
    port: int
    remote: bytes = b""
    remote_port: int = 0
    state: int = TCP_CLOSE
    bound_dev_if: int = 0
    ipv6only: bool = False
    mark: int = 0
    priority: int = 0

    @property
    def type(self) -> int:
        return SOCK_STREAM if self.protocol == IPPROTO_TCP else SOCK_DGRAM

    @property
    def rcv_saddr4(self) -> bytes:
        """skc_rcv_saddr: the v4 local address (a v6 socket's mapped address, 0 for
        ::, 127.0.0.6 for any other v6 address)."""
        if self.family == AF_INET:
            return self.local
        if self.local == bytes(16):
            return bytes(4)
        if self.local[:12] == V4_MAPPED:
            return self.local[12:]
        return LOOPBACK4_IPV6

    @property
    def daddr4(self) -> bytes:
        if not self.remote:
            return bytes(4)
        if self.family == AF_INET:
            return self.remote
        return self.remote[12:] if self.remote[:12] == V4_MAPPED else bytes(4)

    @property
    def _mapped(self) -> bool:
        """Does an AF_INET socket carry v4-mapped copies of its addresses in the v6
        fields? TCP connections do (sk_rcv_saddr_set / sk_daddr_set); bound and
        listening sockets and UDP (plain field writes) do not."""
        return self.protocol == IPPROTO_TCP and bool(self.remote)

    @property
    def v6_local(self) -> bytes:
        """skc_v6_rcv_saddr."""
        if self.family == AF_INET6:
            return self.local
        return V4_MAPPED + self.local if self._mapped else bytes(16)

    @property
    def v6_remote(self) -> bytes:
        if self.family == AF_INET6:
            return self.remote or bytes(16)
        return V4_MAPPED + self.remote if self._mapped else bytes(16)


# --- reading /proc/net -----------------------------------------------------------------

def _proc_addr(text: str) -> tuple[bytes, int]:
    addr, port = text.split(":")
    raw = bytes.fromhex(addr)
    # each 32-bit word is printed in host (little-endian) order
    out = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return out, int(port, 16)


def read_sockets(proc_net: Path = Path("/proc/thread-self/net"),
                 ipv6only: bool = False) -> list[Socket]:
    """The TCP and UDP sockets of the namespace /proc_net shows (bound device, mark and
    IPV6_V6ONLY are not in /proc: 0, 0 and `ipv6only`)."""
    out: list[Socket] = []
    for name, fam, proto in (("tcp", AF_INET, IPPROTO_TCP), ("tcp6", AF_INET6, IPPROTO_TCP),
                             ("udp", AF_INET, IPPROTO_UDP), ("udp6", AF_INET6, IPPROTO_UDP)):
        try:
            lines = (proc_net / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) < 4:
                continue
            local, lport = _proc_addr(f[1])
            remote, rport = _proc_addr(f[2])
            state = int(f[3], 16)
            zero = bytes(len(remote))
            out.append(Socket(fam, proto, local, lport, b"" if remote == zero else remote,
                              rport, state, 0, ipv6only and fam == AF_INET6))
    return out


def socket_of(family: int, protocol: int, local: str, port: int, *, state: int | None = None,
              ipv6only: bool = False, bound_dev_if: int = 0) -> Socket:
    """A Socket from text addresses (listening TCP, bound UDP by default)."""
    if state is None:
        state = TCP_LISTEN if protocol == IPPROTO_TCP else TCP_CLOSE
    return Socket(family, protocol, ipaddress.ip_address(local).packed, port, b"", 0, state,
                  bound_dev_if, ipv6only)


# --- lookup ------------------------------------------------------------------------------

def _dev_ok(s: Socket, dif: int, sdif: int) -> bool:
    return not s.bound_dev_if or s.bound_dev_if in (dif, sdif)


def _established(socks: list[Socket], family: int, proto: int, saddr: bytes, sport: int,
                 daddr: bytes, dport: int, dif: int, sdif: int) -> Socket | None:
    for s in socks:
        if s.protocol != proto or s.state in (TCP_LISTEN, TCP_CLOSE) or not s.remote:
            continue
        if s.port != dport or s.remote_port != sport or not _dev_ok(s, dif, sdif):
            continue
        if family == AF_INET:
            if s.family == AF_INET6 and s.local[:12] != V4_MAPPED:
                continue
            if s.rcv_saddr4 == daddr and s.daddr4 == saddr:
                return s
        elif s.family == AF_INET6 and s.local == daddr and s.remote == saddr:
            return s
    return None


def _bound_to(s: Socket, family: int, want: bytes) -> bool:
    """Whether `s` is bound to local address `want` for a packet of `family` (a v6-only
    socket takes no IPv4 packet)."""
    if family == AF_INET:
        return not (s.family == AF_INET6 and s.ipv6only) and s.rcv_saddr4 == want
    return s.family == AF_INET6 and s.local == want


def _best_bound(socks: list[Socket], family: int, daddr: bytes,
                score: Callable[[Socket], int | None]) -> Socket | None:
    """The best-scoring socket bound to `daddr`, else to the wildcard address (the
    first wins a tie); `score` is None for a socket that does not match at all."""
    for want in (daddr, bytes(len(daddr))):
        best, hi = None, -1
        for s in socks:
            if not _bound_to(s, family, want):
                continue
            sc = score(s)
            if sc is not None and sc > hi:
                best, hi = s, sc
        if best is not None:
            return best
    return None


def _tcp_listener(socks: list[Socket], family: int, daddr: bytes, dport: int, dif: int,
                  sdif: int) -> Socket | None:
    def score(s: Socket) -> int | None:
        if s.protocol != IPPROTO_TCP or s.state != TCP_LISTEN or s.port != dport:
            return None
        if not _dev_ok(s, dif, sdif):
            return None
        sc = 2 if s.bound_dev_if else 1
        return sc + (s.family == AF_INET) if family == AF_INET else sc
    return _best_bound(socks, family, daddr, score)


def _udp(socks: list[Socket], family: int, saddr: bytes, sport: int, daddr: bytes,
         dport: int, dif: int, sdif: int) -> Socket | None:
    v4 = family == AF_INET

    def score(s: Socket) -> int | None:
        if s.protocol != IPPROTO_UDP or s.port != dport:
            return None
        if v4:
            sc = 2 if s.family == AF_INET else 1
            if s.remote:
                if s.daddr4 != saddr:
                    return None
                sc += 4
        else:
            sc = 0
            if s.remote:
                if s.remote != saddr:
                    return None
                sc += 1
        if s.remote_port:
            if s.remote_port != sport:
                return None
            sc += 4 if v4 else 1
        if not _dev_ok(s, dif, sdif):
            return None
        if s.bound_dev_if:
            sc += 4 if v4 else 1
        return sc
    return _best_bound(socks, family, daddr, score)


def sk_lookup(socks: list[Socket], family: int, proto: int, saddr: bytes, sport: int,
              daddr: bytes, dport: int, dif: int, sdif: int = 0,
              full: bool = True) -> Socket | None:
    """The socket a packet from saddr:sport to daddr:dport (ports host order) reaches,
    as the kernel's sk_lookup; `full` (bpf_sk_lookup_*) turns away time-wait sockets as
    sk_to_full_sk / sk_fullsock do."""
    if proto == IPPROTO_TCP:
        s = _established(socks, family, proto, saddr, sport, daddr, dport, dif, sdif)
        if s is None:
            s = _tcp_listener(socks, family, daddr, dport, dif, sdif)
        if s is not None and full and s.state == TCP_TIME_WAIT:
            return None
        return s
    return _udp(socks, family, saddr, sport, daddr, dport, dif, sdif)
