"""The socket-lookup helpers' common part on the VM (__bpf_sk_lookup /
__bpf_skc_lookup): the tuple read from program memory, the lookup of pybpf.net.sockets,
and the socket found mapped as a read-only `struct bpf_sock` region."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ..net.sockets import AF_INET, AF_INET6, Socket, sk_lookup
from .common import map_region, read_mem
from .contexts.sock import BPF_SOCK_SIZE, bpf_sock_spec
from .ctx import ContextAccess, CtxField

if TYPE_CHECKING:
    from ..vm import CallContext


def _be16(port: int) -> int:
    return ((port & 0xFF) << 8) | ((port >> 8) & 0xFF)


class SocketView(ContextAccess):
    """A looked-up socket as `struct bpf_sock` (read-only)."""

    def __init__(self, sock: Socket, full: bool) -> None:
        super().__init__(bpf_sock_spec(full), "sk(bpf_sock)")
        self.sock = sock

    def load(self, off: int, size: int, pc: int) -> int:
        if off == 48 and size == 4:  # dst_port and its 2 pad bytes
            return _be16(self.sock.remote_port)
        return super().load(off, size, pc)

    def read_value(self, f: CtxField) -> int:
        s = self.sock
        n = f.name

        def le(b: bytes) -> int:
            return int.from_bytes(b, "little")
        if n.startswith("src_ip6["):
            i = int(n[8])
            return le(s.v6_local[4 * i:4 * i + 4])
        if n.startswith("dst_ip6["):
            i = int(n[8])
            return le(s.v6_remote[4 * i:4 * i + 4])
        return {"bound_dev_if": s.bound_dev_if, "family": s.family, "type": s.type,
                "protocol": s.protocol, "mark": s.mark, "priority": s.priority,
                "src_ip4": le(s.rcv_saddr4), "src_port": s.port,
                "dst_port": _be16(s.remote_port), "dst_ip4": le(s.daddr4),
                "state": s.state, "rx_queue_mapping": 0xFFFF_FFFF_FFFF_FFFF}[n]

    def write_value(self, f: CtxField, value: int, size: int) -> None:  # pragma: no cover
        raise AssertionError("bpf_sock is read-only")


# --- the helpers' common part --------------------------------------------------------------

BPF_SOCK_TUPLE_IPV4 = 12   # sizeof(bpf_sock_tuple.ipv4)
BPF_SOCK_TUPLE_IPV6 = 36   # sizeof(bpf_sock_tuple.ipv6)
S32_MAX = 0x7FFF_FFFF


def lookup_helper(ctx: CallContext, socks_of: Callable[[int | None], list[Socket] | None],
                  dif: int, tuple_ptr: int, size: int, netns_id: int, flags: int,
                  proto: int, full: bool) -> int:
    """__bpf_sk_lookup / __bpf_skc_lookup on the VM: the tuple's size gives the family
    (NULL for any other size), flags must be 0 and netns_id negative as an s32 (the
    caller's namespace) or a namespace id up to S32_MAX; the socket found is mapped as
    a `struct bpf_sock` region and its address returned (0 when none).
    `socks_of(None)` is the caller's sockets, `socks_of(id)` a peer namespace's."""
    size &= 0xFFFF_FFFF
    if size == BPF_SOCK_TUPLE_IPV4:
        family, alen = AF_INET, 4
    elif size == BPF_SOCK_TUPLE_IPV6:
        family, alen = AF_INET6, 16
    else:
        return 0
    nid = netns_id & 0xFFFF_FFFF_FFFF_FFFF
    negative = bool(nid & 0x8000_0000)
    if flags or not (negative or nid <= S32_MAX):
        return 0
    socks = socks_of(None if negative else nid)
    if socks is None:
        return 0
    t = read_mem(ctx, tuple_ptr, size)
    saddr, daddr = t[:alen], t[alen:2 * alen]
    sport = int.from_bytes(t[2 * alen:2 * alen + 2], "big")
    dport = int.from_bytes(t[2 * alen + 2:2 * alen + 4], "big")
    s = sk_lookup(socks, family, proto, saddr, sport, daddr, dport, dif, 0, full)
    if s is None:
        return 0
    return map_region(ctx.memory, "sk(bpf_sock)", BPF_SOCK_SIZE, SocketView(s, full))


def sk_release(ctx: CallContext, r1: int, *_: int) -> int:
    """bpf_sk_release(sk): drop the reference (the VM's socket regions stay mapped)."""
    return 0
