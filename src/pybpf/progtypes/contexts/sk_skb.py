"""struct __sk_buff as the sockmap stream programs (sk_skb: parser and verdict) and the
flow dissector see it: the same struct as SKB_FIELDS, with the permissions of the
kernel's sk_skb_is_valid_access and flow_dissector_is_valid_access. These types run
only in the kernel; the tables let the verifier give the kernel's verdict."""

from __future__ import annotations

from functools import lru_cache

from ..ctx import DW, W4, ContextSpec, CtxField, FieldKind, with_permissions
from .skb import SK_BUFF_SIZE, SKB_FIELDS

_NONE: tuple[frozenset[int], frozenset[int]] = (frozenset(), frozenset())

# sk_skb: no tc_classid, data_meta, tstamp, wire_len, hwtstamp, mark (nor flow_keys and
# tstamp_type, which no skb type but the flow dissector/tc reads); stores only to
# tc_index and priority, whole u32s
_SK_SKB_DENIED = frozenset(["tc_classid", "data_meta", "tstamp", "wire_len", "hwtstamp",
                            "mark", "flow_keys", "tstamp_type"])
_SK_SKB_WRITABLE = frozenset(["tc_index", "priority"])

SK_SKB_RETVAL = ("stream parser: the message length (0: more data needed, negative: "
                 "error); stream verdict: SK_DROP 0, SK_PASS 1")
FLOW_DISSECTOR_RETVAL = "BPF_OK 0 (keys filled), BPF_DROP 2 (dissection failed)"


@lru_cache(maxsize=None)
def sk_skb_spec() -> ContextSpec:
    """struct __sk_buff for BPF_PROG_TYPE_SK_SKB."""
    perms: dict[str, tuple[frozenset[int], frozenset[int]]] = {}
    for f in SKB_FIELDS:
        if f.name in _SK_SKB_DENIED:
            perms[f.name] = _NONE
        elif f.name in _SK_SKB_WRITABLE:
            perms[f.name] = (f.read_sizes, W4)
        else:
            perms[f.name] = (f.read_sizes, frozenset())
    return ContextSpec("struct __sk_buff", SK_BUFF_SIZE, with_permissions(SKB_FIELDS, perms),
                       SK_SKB_RETVAL)


@lru_cache(maxsize=None)
def flow_dissector_spec() -> ContextSpec:
    """struct __sk_buff for BPF_PROG_TYPE_FLOW_DISSECTOR: read-only data (u32), data_end
    (u32) and flow_keys (u64, PTR_TO_FLOW_KEYS); nothing else."""
    fields = []
    for f in SKB_FIELDS:
        if f.name in ("data", "data_end"):
            fields.append(CtxField(f.name, f.offset, f.size, f.kind, f.target, W4))
        elif f.name == "flow_keys":
            fields.append(CtxField(f.name, f.offset, f.size, FieldKind.FLOW_KEYS,
                                   "bpf_flow_dissector->flow_keys (struct bpf_flow_keys *)",
                                   DW))
        else:
            fields.append(CtxField(f.name, f.offset, f.size, f.kind, f.target))
    return ContextSpec("struct __sk_buff", SK_BUFF_SIZE, tuple(fields),
                       FLOW_DISSECTOR_RETVAL)
