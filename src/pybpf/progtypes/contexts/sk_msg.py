"""struct sk_msg_md as data: the context of BPF_PROG_TYPE_SK_MSG (sockmap/sockhash
sendmsg programs), as the kernel's sk_msg_is_valid_access allows it: read-only, data
and data_end packet pointers and sk (a PTR_TO_SOCKET) loaded as u64, the socket's
addresses, ports and the message size as whole u32s."""

from __future__ import annotations

from functools import lru_cache

from ..ctx import DW, W4, ContextSpec, FieldKind, table

SK_MSG_MD_SIZE = 80
RETVAL = "SK_DROP 0, SK_PASS 1"
_V = FieldKind.VALUE


@lru_cache(maxsize=None)
def sk_msg_spec() -> ContextSpec:
    """struct sk_msg_md for BPF_PROG_TYPE_SK_MSG."""
    return ContextSpec("struct sk_msg_md", SK_MSG_MD_SIZE, table([
        ("data", 0, 8, FieldKind.PACKET, "sk_msg->data", DW),
        ("data_end", 8, 8, FieldKind.PACKET_END, "sk_msg->data_end", DW),
        ("family", 16, 4, _V, "sk->skc_family", W4),
        ("remote_ip4", 20, 4, _V, "sk->skc_daddr", W4),
        ("local_ip4", 24, 4, _V, "sk->skc_rcv_saddr", W4),
        *[(f"remote_ip6[{i}]", 28 + 4 * i, 4, _V, f"sk->skc_v6_daddr.s6_addr32[{i}]", W4)
          for i in range(4)],
        *[(f"local_ip6[{i}]", 44 + 4 * i, 4, _V, f"sk->skc_v6_rcv_saddr.s6_addr32[{i}]", W4)
          for i in range(4)],
        ("remote_port", 60, 4, _V, "sk->skc_dport << 16", W4),
        ("local_port", 64, 4, _V, "sk->skc_num", W4),
        ("size", 68, 4, _V, "sk_msg->sg.size", W4),
        ("sk", 72, 8, FieldKind.SOCKET, "sk_msg->sk (struct bpf_sock *)", DW),
    ]), RETVAL)
