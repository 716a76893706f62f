"""struct bpf_nf_ctx as data: the context of BPF_PROG_TYPE_NETFILTER, as the kernel's
nf_is_valid_access (net/netfilter/nf_bpf_link.c) allows it: two read-only u64
pointers, `state` to the kernel's struct nf_hook_state and `skb` to its struct
sk_buff (trusted PTR_TO_BTF_ID: the program reads them through vmlinux BTF)."""

from __future__ import annotations

from functools import lru_cache

from ..ctx import DW, ContextSpec, CtxField, FieldKind

BPF_NF_CTX_SIZE = 16
RETVAL = "NF_DROP 0, NF_ACCEPT 1"


@lru_cache(maxsize=None)
def netfilter_spec() -> ContextSpec:
    """struct bpf_nf_ctx for BPF_PROG_TYPE_NETFILTER."""
    return ContextSpec("struct bpf_nf_ctx", BPF_NF_CTX_SIZE, (
        CtxField("state", 0, 8, FieldKind.BTF_ID, "const struct nf_hook_state *", DW,
                 btf_struct="nf_hook_state"),
        CtxField("skb", 8, 8, FieldKind.BTF_ID, "struct sk_buff *", DW,
                 btf_struct="sk_buff"),
    ), RETVAL)
