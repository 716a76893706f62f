"""The rtnetlink encoding pybpf.kernel.netlink speaks: attributes round-trip, a
truncated or hostile message ends the parse instead of raising, and the XDP state
names modes as bpftool does. No kernel needed."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from pybpf.kernel import netlink


@given(st.lists(st.tuples(st.integers(1, 0x3FFF), st.binary(max_size=40)), max_size=8))
def test_attributes_round_trip(attrs: list[tuple[int, bytes]]) -> None:
    raw = b"".join(netlink.nla(kind, payload) for kind, payload in attrs)
    assert len(raw) % 4 == 0
    assert netlink.parse_attrs(raw) == {kind: payload for kind, payload in attrs}


@given(st.binary(max_size=200))
def test_parse_never_raises_on_garbage(data: bytes) -> None:
    attrs = netlink.parse_attrs(data)
    assert all(isinstance(k, int) and isinstance(v, bytes) for k, v in attrs.items())


def test_truncated_attribute_ends_the_parse() -> None:
    good = netlink.nla_u32(1, 7)
    bad = struct.pack("=HH", 200, 2) + b"\0" * 8  # claims 200 bytes, has 12
    assert netlink.parse_attrs(good + bad) == {1: struct.pack("=I", 7)}
    assert netlink.attr_u32({}, 5, default=9) == 9
    assert netlink.attr_str({3: b"pa\0junk"}, 3) == "pa"


def test_nested_xdp_attribute() -> None:
    nested = netlink.nla_nested(netlink.IFLA_XDP, netlink.nla_s32(netlink.IFLA_XDP_FD, -1),
                                netlink.nla_u32(netlink.IFLA_XDP_FLAGS, 2))
    kind, = struct.unpack_from("=H", nested, 2)
    assert kind == netlink.IFLA_XDP | netlink.NLA_F_NESTED
    inner = netlink.parse_attrs(netlink.parse_attrs(nested)[netlink.IFLA_XDP])
    assert struct.unpack("=i", inner[netlink.IFLA_XDP_FD])[0] == -1


def test_xdp_state_modes_as_bpftool_names_them() -> None:
    assert netlink.XdpState("skb", 5, skb_prog_id=5).prog_ids() == {"generic": 5}
    assert netlink.XdpState("drv", 6, drv_prog_id=6).prog_ids() == {"driver": 6}
    assert netlink.XdpState("multi", 0, 7, 8).prog_ids() == {"generic": 7, "driver": 8}
    assert netlink.XdpState("none").prog_ids() == {}
    assert netlink.tc_h_make(netlink.TC_H_CLSACT, netlink.TC_H_MIN_INGRESS) == 0xFFFFFFF2
