"""struct xdp_md as data: the XDP context and the meaning of an XDP program's return."""

from __future__ import annotations

from enum import IntEnum
from functools import lru_cache

from ...uapi import AttachType
from ..ctx import W4, ContextSpec, FieldKind, table

XDP_MD_SIZE = 24


class XdpAction(IntEnum):
    """What an XDP program's return value means."""

    ABORTED = 0
    DROP = 1
    PASS = 2
    TX = 3
    REDIRECT = 4


RETVAL = "enum xdp_action: XDP_ABORTED 0, XDP_DROP 1, XDP_PASS 2, XDP_TX 3, XDP_REDIRECT 4"


@lru_cache(maxsize=None)
def xdp_spec(expected_attach_type: int = 0) -> ContextSpec:
    """struct xdp_md as xdp_is_valid_access allows it: every field is a read-only u32
    loaded whole; egress_ifindex only for BPF_XDP_DEVMAP programs (made once per attach
    type: a spec is immutable and runs ask for it every time)."""
    egress = W4 if expected_attach_type == AttachType.XDP_DEVMAP else frozenset()
    return ContextSpec("struct xdp_md", XDP_MD_SIZE, table([
        ("data", 0, 4, FieldKind.PACKET, "xdp_buff->data", W4),
        ("data_end", 4, 4, FieldKind.PACKET_END, "xdp_buff->data_end", W4),
        ("data_meta", 8, 4, FieldKind.PACKET_META, "xdp_buff->data_meta", W4),
        ("ingress_ifindex", 12, 4, FieldKind.VALUE, "xdp_buff->rxq->dev->ifindex", W4),
        ("rx_queue_index", 16, 4, FieldKind.VALUE, "xdp_buff->rxq->queue_index", W4),
        ("egress_ifindex", 20, 4, FieldKind.VALUE, "xdp_buff->txq->dev->ifindex", egress),
    ]), RETVAL)
