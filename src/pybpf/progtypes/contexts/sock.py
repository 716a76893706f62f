"""struct bpf_sock as data: what a program may read through the socket pointer that
bpf_sk_lookup_* returns (PTR_TO_SOCKET) or skb->sk gives (PTR_TO_SOCK_COMMON)."""

from __future__ import annotations

from ..ctx import NARROW, W4, ContextSpec, FieldKind, table

BPF_SOCK_SIZE = 80
_V = FieldKind.VALUE
_START = frozenset({0})  # narrow loads only at the field's offset


def bpf_sock_spec(full: bool) -> ContextSpec:
    """struct bpf_sock through a PTR_TO_SOCKET (`full`) or PTR_TO_SOCK_COMMON
    (type .. priority not readable). bpf_sock_is_valid_access narrows family, type,
    protocol, src_port, state and rx_queue_mapping only at the field's own offset, the
    addresses anywhere aligned, dst_port (a __be16 read 1, 2 or 4 bytes) in its first
    two bytes; the other fields are 4 bytes."""
    fs = NARROW if full else frozenset()
    return ContextSpec("struct bpf_sock", BPF_SOCK_SIZE, table([
        ("bound_dev_if", 0, 4, _V, "sk->sk_bound_dev_if", W4),
        ("family", 4, 4, _V, "sk->skc_family", NARROW, frozenset(), 2, 4, _START),
        ("type", 8, 4, _V, "sk->sk_type", fs, frozenset(), 2, 4, _START),
        ("protocol", 12, 4, _V, "sk->sk_protocol", fs, frozenset(), 2, 4, _START),
        ("mark", 16, 4, _V, "sk->sk_mark", W4 if full else frozenset()),
        ("priority", 20, 4, _V, "sk->sk_priority", W4 if full else frozenset()),
        ("src_ip4", 24, 4, _V, "sk->skc_rcv_saddr", NARROW, frozenset(), 4, 4),
        *[(f"src_ip6[{i}]", 28 + 4 * i, 4, _V, "sk->skc_v6_rcv_saddr", NARROW, frozenset(),
           4, 4) for i in range(4)],
        ("src_port", 44, 4, _V, "sk->skc_num", NARROW, frozenset(), 2, 4, _START),
        ("dst_port", 48, 4, _V, "sk->skc_dport (__be16)", NARROW, frozenset(), 2, 2,
         frozenset({0, 1})),
        ("dst_ip4", 52, 4, _V, "sk->skc_daddr", NARROW, frozenset(), 4, 4),
        *[(f"dst_ip6[{i}]", 56 + 4 * i, 4, _V, "sk->skc_v6_daddr", NARROW, frozenset(), 4, 4)
          for i in range(4)],
        ("state", 72, 4, _V, "sk->skc_state", NARROW, frozenset(), 1, 4, _START),
        ("rx_queue_mapping", 76, 4, _V, "sk->sk_rx_queue_mapping", NARROW, frozenset(), 2, 4,
         _START),
    ]))
