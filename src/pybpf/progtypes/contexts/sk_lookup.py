"""struct bpf_sk_lookup as data: the context of BPF_PROG_TYPE_SK_LOOKUP, as the kernel's
sk_lookup_is_valid_access allows it: read-only; sk (the socket selected so far, a
PTR_TO_SOCKET_OR_NULL) as a u64; the tuple's u32 fields with narrow loads; remote_port
(__be16) by 1 or 2 bytes or, for old programs, as a u32 with its zero padding."""

from __future__ import annotations

from functools import lru_cache

from ..ctx import DW, NARROW, ContextSpec, FieldKind, sizes, table

BPF_SK_LOOKUP_SIZE = 72
RETVAL = "SK_DROP 0 (refuse the connection), SK_PASS 1 (the selected socket or the usual lookup)"
_V = FieldKind.VALUE


def _n(name: str, off: int, target: str, tsize: int = 4) -> tuple:
    return (name, off, 4, _V, target, NARROW, frozenset(), tsize, 4)


@lru_cache(maxsize=None)
def sk_lookup_spec() -> ContextSpec:
    """struct bpf_sk_lookup for BPF_PROG_TYPE_SK_LOOKUP."""
    return ContextSpec("struct bpf_sk_lookup", BPF_SK_LOOKUP_SIZE, table([
        ("sk", 0, 8, FieldKind.SOCKET_OR_NULL, "bpf_sk_lookup_kern->selected_sk", DW),
        _n("family", 8, "bpf_sk_lookup_kern->family", 2),
        _n("protocol", 12, "bpf_sk_lookup_kern->protocol", 2),
        _n("remote_ip4", 16, "bpf_sk_lookup_kern->v4.saddr"),
        *[_n(f"remote_ip6[{i}]", 20 + 4 * i, "bpf_sk_lookup_kern->v6.saddr") for i in range(4)],
        # the __be16 port and its 2 zero bytes: 1/2-byte loads anywhere, a u32 at 36
        ("remote_port", 36, 4, _V, "bpf_sk_lookup_kern->sport (__be16) + zero padding",
         sizes(1, 2, 4), frozenset(), 2, 2),
        _n("local_ip4", 40, "bpf_sk_lookup_kern->v4.daddr"),
        *[_n(f"local_ip6[{i}]", 44 + 4 * i, "bpf_sk_lookup_kern->v6.daddr") for i in range(4)],
        _n("local_port", 60, "bpf_sk_lookup_kern->dport", 2),
        _n("ingress_ifindex", 64, "bpf_sk_lookup_kern->ingress_ifindex"),
    ]), RETVAL)
