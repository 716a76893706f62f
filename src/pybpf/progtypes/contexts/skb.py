"""struct __sk_buff as data: one field table (SKB_FIELDS) and, per skb program type,
the loads and stores the kernel's `*_is_valid_access` allow and what its return means."""

from __future__ import annotations

from functools import lru_cache

from ...uapi import ProgType
from ..ctx import (
    ANY,
    DW,
    NARROW,
    W4,
    ContextSpec,
    CtxField,
    FieldKind,
    sizes,
    table,
    with_permissions,
)

SK_BUFF_SIZE = 192        # sizeof(struct __sk_buff)

# --- struct __sk_buff as data ------------------------------------------------------------

_V = FieldKind.VALUE


def _n(name: str, off: int, target: str, tsize: int) -> tuple:
    """A narrow-readable u32 field (bpf_skb_is_valid_access' default case)."""
    return (name, off, 4, _V, target, NARROW, frozenset(), tsize, 4)


SKB_FIELDS: tuple[CtxField, ...] = table([
    _n("len", 0, "sk_buff->len", 4),
    _n("pkt_type", 4, "sk_buff->pkt_type (3 bits)", 1),
    _n("mark", 8, "sk_buff->mark", 4),
    _n("queue_mapping", 12, "sk_buff->queue_mapping", 2),
    _n("protocol", 16, "sk_buff->protocol (__be16)", 2),
    _n("vlan_present", 20, "sk_buff->vlan_all != 0", 4),
    _n("vlan_tci", 24, "sk_buff->vlan_tci", 2),
    _n("vlan_proto", 28, "sk_buff->vlan_proto (__be16)", 2),
    _n("priority", 32, "sk_buff->priority", 4),
    _n("ingress_ifindex", 36, "sk_buff->skb_iif", 4),
    _n("ifindex", 40, "sk_buff->dev->ifindex (0 without dev)", 4),
    _n("tc_index", 44, "sk_buff->tc_index", 2),
    ("cb", 48, 20, FieldKind.MEMORY, "qdisc_skb_cb->data[20]", ANY),
    _n("hash", 68, "sk_buff->hash", 4),
    _n("tc_classid", 72, "qdisc_skb_cb->tc_classid", 2),
    ("data", 76, 4, FieldKind.PACKET, "sk_buff->data", W4),
    ("data_end", 80, 4, FieldKind.PACKET_END, "bpf_skb_data_end->data_end", W4),
    _n("napi_id", 84, "sk_buff->napi_id (0 below MIN_NAPI_ID)", 4),
    _n("family", 88, "sk->skc_family", 2),
    ("remote_ip4", 92, 4, _V, "sk->skc_daddr", W4),
    ("local_ip4", 96, 4, _V, "sk->skc_rcv_saddr", W4),
    *[(f"remote_ip6[{i}]", 100 + 4 * i, 4, _V, f"sk->skc_v6_daddr.s6_addr32[{i}]", W4)
      for i in range(4)],
    *[(f"local_ip6[{i}]", 116 + 4 * i, 4, _V, f"sk->skc_v6_rcv_saddr.s6_addr32[{i}]", W4)
      for i in range(4)],
    _n("remote_port", 132, "sk->skc_dport << 16", 2),
    _n("local_port", 136, "sk->skc_num", 2),
    ("data_meta", 140, 4, FieldKind.PACKET_META, "bpf_skb_data_end->data_meta", W4),
    ("flow_keys", 144, 8, FieldKind.POINTER, "flow dissector only"),
    ("tstamp", 152, 8, _V, "sk_buff->tstamp", DW, frozenset(), 8),
    _n("wire_len", 160, "qdisc_skb_cb->pkt_len", 4),
    _n("gso_segs", 164, "skb_shinfo->gso_segs", 2),
    ("sk", 168, 8, FieldKind.POINTER, "sk_buff->sk (struct bpf_sock *)", DW),
    _n("gso_size", 176, "skb_shinfo->gso_size", 2),
    ("tstamp_type", 180, 1, _V, "sk_buff->tstamp_type"),
    ("hwtstamp", 184, 8, _V, "skb_shinfo->hwtstamps.hwtstamp", DW, frozenset(), 8),
])

_SOCK_FIELDS = frozenset(["family", "remote_ip4", "local_ip4", "remote_port", "local_port",
                          *[f"remote_ip6[{i}]" for i in range(4)],
                          *[f"local_ip6[{i}]" for i in range(4)]])
_NONE: tuple[frozenset[int], frozenset[int]] = (frozenset(), frozenset())

# Per program type: fields the type may not touch, fields it may write (net/core/filter.c
# sk_filter_/cg_skb_/tc_cls_act_/lwt_is_valid_access over bpf_skb_is_valid_access).
SKB_ACCESS: dict[ProgType, tuple[frozenset[str], frozenset[str]]] = {
    ProgType.SOCKET_FILTER: (
        frozenset(["tc_classid", "data", "data_meta", "data_end", "tstamp", "wire_len",
                   "hwtstamp"]) | _SOCK_FIELDS,
        frozenset(["cb"])),
    ProgType.CGROUP_SKB: (
        frozenset(["tc_classid", "data_meta", "wire_len"]),
        frozenset(["mark", "priority", "cb", "tstamp"])),
    ProgType.SCHED_CLS: (
        _SOCK_FIELDS,
        frozenset(["mark", "tc_index", "priority", "tc_classid", "cb", "tstamp",
                   "queue_mapping"])),
    ProgType.SCHED_ACT: (
        _SOCK_FIELDS,
        frozenset(["mark", "tc_index", "priority", "tc_classid", "cb", "tstamp",
                   "queue_mapping"])),
    ProgType.LWT_IN: (
        frozenset(["tc_classid", "data_meta", "tstamp", "wire_len", "hwtstamp"])
        | _SOCK_FIELDS, frozenset(["mark", "priority", "cb"])),
    ProgType.LWT_OUT: (
        frozenset(["tc_classid", "data_meta", "tstamp", "wire_len", "hwtstamp"])
        | _SOCK_FIELDS, frozenset(["mark", "priority", "cb"])),
    ProgType.LWT_XMIT: (
        frozenset(["tc_classid", "data_meta", "tstamp", "wire_len", "hwtstamp"])
        | _SOCK_FIELDS, frozenset(["mark", "priority", "cb"])),
}

SKB_PROG_TYPES = frozenset(SKB_ACCESS)
TC_TYPES = frozenset([ProgType.SCHED_CLS, ProgType.SCHED_ACT])
LWT_TYPES = frozenset([ProgType.LWT_IN, ProgType.LWT_OUT, ProgType.LWT_XMIT])

RETVAL = {
    ProgType.SOCKET_FILTER: "bytes of the packet to keep (0 drops; more than the length "
                            "keeps it whole)",
    ProgType.SCHED_CLS: "TC_ACT_*: UNSPEC -1, OK 0, RECLASSIFY 1, SHOT 2, PIPE 3, STOLEN 4, "
                        "QUEUED 5, REPEAT 6, REDIRECT 7 (direct-action mode)",
    ProgType.SCHED_ACT: "TC_ACT_* (as sched_cls)",
    ProgType.CGROUP_SKB: "1 allow, 0 deny (egress may add congestion-notification bits "
                         "2/3)",
    ProgType.LWT_IN: "BPF_OK 0, BPF_DROP 2, BPF_REDIRECT 7",
    ProgType.LWT_OUT: "BPF_OK 0, BPF_DROP 2",
    ProgType.LWT_XMIT: "BPF_OK 0, BPF_DROP 2, BPF_REDIRECT 7, BPF_LWT_REROUTE 128",
}


@lru_cache(maxsize=None)
def skb_spec(prog_type: ProgType) -> ContextSpec:
    """struct __sk_buff as `prog_type` may access it (made once per type: a spec is
    immutable and runs ask for it every time)."""
    denied, writable = SKB_ACCESS[prog_type]
    perms: dict[str, tuple[frozenset[int], frozenset[int]]] = {}
    for f in SKB_FIELDS:
        if f.name in denied or f.name == "flow_keys":
            perms[f.name] = _NONE
            continue
        read = f.read_sizes
        if f.name == "tstamp_type":
            read = sizes(1) if prog_type in TC_TYPES else frozenset()
        write: frozenset[int] = frozenset()
        if f.name in writable:
            write = ANY if f.name == "cb" else DW if f.name == "tstamp" else W4
        perms[f.name] = (read, write)
    return ContextSpec("struct __sk_buff", SK_BUFF_SIZE,
                       with_permissions(SKB_FIELDS, perms), RETVAL[prog_type])
