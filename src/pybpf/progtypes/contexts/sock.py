"""struct bpf_sock as data: what a program may read through the socket pointer that
bpf_sk_lookup_* returns (PTR_TO_SOCKET) or skb->sk gives (PTR_TO_SOCK_COMMON)."""

from __future__ import annotations

from ..ctx import NARROW, W4, ContextSpec, FieldKind, sizes, table

BPF_SOCK_SIZE = 80
_V = FieldKind.VALUE


def bpf_sock_spec(full: bool) -> ContextSpec:
    """struct bpf_sock through a PTR_TO_SOCKET (`full`) or PTR_TO_SOCK_COMMON
    (type .. priority not readable)."""
    fs = W4 if full else frozenset()
    return ContextSpec("struct bpf_sock", BPF_SOCK_SIZE, table([
        ("bound_dev_if", 0, 4, _V, "sk->sk_bound_dev_if", W4),
        ("family", 4, 4, _V, "sk->skc_family", NARROW, frozenset(), 2, 4),
        ("type", 8, 4, _V, "sk->sk_type", fs),
        ("protocol", 12, 4, _V, "sk->sk_protocol", fs),
        ("mark", 16, 4, _V, "sk->sk_mark", fs),
        ("priority", 20, 4, _V, "sk->sk_priority", fs),
        ("src_ip4", 24, 4, _V, "sk->skc_rcv_saddr", NARROW, frozenset(), 4, 4),
        *[(f"src_ip6[{i}]", 28 + 4 * i, 4, _V, "sk->skc_v6_rcv_saddr", NARROW, frozenset(),
           4, 4) for i in range(4)],
        ("src_port", 44, 4, _V, "sk->skc_num", NARROW, frozenset(), 2, 4),
        ("dst_port", 48, 2, _V, "sk->skc_dport (__be16)", sizes(1, 2), frozenset(), 2, 2),
        ("dst_ip4", 52, 4, _V, "sk->skc_daddr", NARROW, frozenset(), 4, 4),
        *[(f"dst_ip6[{i}]", 56 + 4 * i, 4, _V, "sk->skc_v6_daddr", NARROW, frozenset(), 4, 4)
          for i in range(4)],
        ("state", 72, 4, _V, "sk->skc_state", NARROW, frozenset(), 1, 4),
        ("rx_queue_mapping", 76, 4, _V, "sk->sk_rx_queue_mapping", NARROW, frozenset(), 2, 4),
    ]))
