"""The contexts of the socket program types the VM does not run but the verifier checks:
struct bpf_sock of cgroup/sock programs (per attach type), struct __sk_buff as sk_skb
and flow dissector programs see it, struct sk_msg_md and struct bpf_sk_lookup
(net/core/filter.c: sock_filter_, sk_skb_, flow_dissector_, sk_msg_ and
sk_lookup_is_valid_access)."""

from __future__ import annotations

from functools import lru_cache

from ...uapi import ProgType
from ..ctx import DW, NARROW, W4, ContextSpec, FieldKind, table, with_permissions
from .skb import SK_BUFF_SIZE, SKB_FIELDS
from .sock import BPF_SOCK_SIZE, bpf_sock_spec

_V = FieldKind.VALUE
_NONE: tuple[frozenset[int], frozenset[int]] = (frozenset(), frozenset())

# enum bpf_attach_type
INET_SOCK_CREATE, INET4_POST_BIND, INET6_POST_BIND, INET_SOCK_RELEASE = 2, 12, 13, 34
_SRC_IP6 = frozenset(f"src_ip6[{i}]" for i in range(4))


@lru_cache(maxsize=None)
def cgroup_sock_spec(attach_type: int) -> ContextSpec:
    """struct bpf_sock as a cgroup/sock program attached at `attach_type` may access it
    (0 is the kernel's default, INET_SOCK_CREATE): bound_dev_if, mark and priority
    read and written (4 bytes) only at socket create and release, src_ip4 read only in
    inet4 post_bind, src_ip6 in inet6 post_bind, src_port in either; the rest read
    only."""
    at = attach_type or INET_SOCK_CREATE
    create = at in (INET_SOCK_CREATE, INET_SOCK_RELEASE)
    perms: dict[str, tuple[frozenset[int], frozenset[int]]] = {}
    for f in bpf_sock_spec(True):
        read = f.read_sizes
        write: frozenset[int] = frozenset()
        if f.name in ("bound_dev_if", "mark", "priority"):
            read, write = (W4, W4) if create else _NONE
        elif f.name == "src_ip4" and at != INET4_POST_BIND:
            read = frozenset()
        elif f.name in _SRC_IP6 and at != INET6_POST_BIND:
            read = frozenset()
        elif f.name == "src_port" and at not in (INET4_POST_BIND, INET6_POST_BIND):
            read = frozenset()
        perms[f.name] = (read, write)
    return ContextSpec("struct bpf_sock", BPF_SOCK_SIZE,
                       with_permissions(bpf_sock_spec(True), perms),
                       "1 allow, 0 deny")


# __sk_buff fields sk_skb programs may not touch, and the ones they may write
_SK_SKB_DENIED = frozenset(["tc_classid", "data_meta", "tstamp", "wire_len", "hwtstamp",
                            "mark", "flow_keys", "tstamp_type"])
_SK_SKB_WRITABLE = frozenset(["tc_index", "priority"])


@lru_cache(maxsize=None)
def sk_skb_spec() -> ContextSpec:
    """struct __sk_buff of an sk_skb (stream parser/verdict) program."""
    perms: dict[str, tuple[frozenset[int], frozenset[int]]] = {}
    for f in SKB_FIELDS:
        if f.name in _SK_SKB_DENIED:
            perms[f.name] = _NONE
        else:
            perms[f.name] = (f.read_sizes, W4 if f.name in _SK_SKB_WRITABLE else frozenset())
    return ContextSpec("struct __sk_buff", SK_BUFF_SIZE, with_permissions(SKB_FIELDS, perms),
                       "SK_PASS 1, SK_DROP 0 (verdict); the message length (parser)")


@lru_cache(maxsize=None)
def flow_dissector_spec() -> ContextSpec:
    """struct __sk_buff of a flow dissector: data and data_end (4 bytes) and the
    flow_keys pointer (8 bytes), read only; nothing else."""
    none: frozenset[int] = frozenset()
    perms = {"data": (W4, none), "data_end": (W4, none), "flow_keys": (DW, none)}
    return ContextSpec("struct __sk_buff", SK_BUFF_SIZE,
                       with_permissions(SKB_FIELDS, perms, _NONE),
                       "BPF_OK 0, BPF_DROP 2 (and the flow keys filled in)")


def _u32(name: str, off: int, read: frozenset[int] = W4) -> tuple:
    return (name, off, 4, _V, name, read)


@lru_cache(maxsize=None)
def sk_msg_spec() -> ContextSpec:
    """struct sk_msg_md: read only; data, data_end and sk (a PTR_TO_SOCKET) 8 bytes,
    the rest 4 bytes."""
    return ContextSpec("struct sk_msg_md", 80, table([
        ("data", 0, 8, FieldKind.PACKET, "sk_msg->data", DW),
        ("data_end", 8, 8, FieldKind.PACKET_END, "sk_msg->data_end", DW),
        _u32("family", 16), _u32("remote_ip4", 20), _u32("local_ip4", 24),
        *[_u32(f"remote_ip6[{i}]", 28 + 4 * i) for i in range(4)],
        *[_u32(f"local_ip6[{i}]", 44 + 4 * i) for i in range(4)],
        _u32("remote_port", 60), _u32("local_port", 64), _u32("size", 68),
        ("sk", 72, 8, FieldKind.POINTER, "sk_msg->sk (struct bpf_sock *)", DW),
    ]), "SK_PASS 1, SK_DROP 0")


@lru_cache(maxsize=None)
def sk_lookup_spec() -> ContextSpec:
    """struct bpf_sk_lookup: read only; sk (a PTR_TO_SOCKET_OR_NULL) 8 bytes, the u32
    fields narrow, remote_port and the padding after it narrow or (remote_port) 4."""
    return ContextSpec("struct bpf_sk_lookup", 72, table([
        ("sk", 0, 8, FieldKind.POINTER, "bpf_sk_lookup_kern->selected_sk", DW),
        _u32("family", 8, NARROW), _u32("protocol", 12, NARROW),
        _u32("remote_ip4", 16, NARROW),
        *[_u32(f"remote_ip6[{i}]", 20 + 4 * i, NARROW) for i in range(4)],
        _u32("remote_port", 36, NARROW),  # __be16 and its zero padding
        _u32("local_ip4", 40, NARROW),
        *[_u32(f"local_ip6[{i}]", 44 + 4 * i, NARROW) for i in range(4)],
        _u32("local_port", 60, NARROW), _u32("ingress_ifindex", 64, NARROW),
    ]), "SK_PASS 1, SK_DROP 0")


SOCKET_TYPES = frozenset([ProgType.CGROUP_SOCK, ProgType.SK_SKB, ProgType.FLOW_DISSECTOR,
                          ProgType.SK_MSG, ProgType.SK_LOOKUP])


def socket_spec(prog_type: ProgType, attach_type: int) -> ContextSpec:
    """The context of one of SOCKET_TYPES."""
    if prog_type == ProgType.CGROUP_SOCK:
        return cgroup_sock_spec(attach_type)
    if prog_type == ProgType.SK_SKB:
        return sk_skb_spec()
    if prog_type == ProgType.FLOW_DISSECTOR:
        return flow_dissector_spec()
    if prog_type == ProgType.SK_MSG:
        return sk_msg_spec()
    return sk_lookup_spec()


__all__ = ["SOCKET_TYPES", "cgroup_sock_spec", "flow_dissector_spec",
           "sk_lookup_spec", "sk_msg_spec", "sk_skb_spec", "socket_spec"]
