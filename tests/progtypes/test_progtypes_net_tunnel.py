"""bpf_skb_set_tunnel_key and bpf_skb_get_tunnel_key on the VM against the kernel, from
tc and lwt_xmit: hypothesis draws keys, the older struct sizes, flags (valid and not),
and whether a key is set before the get; both return codes and the bytes the get wrote
(or zeroed) must be equal."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .progtypes_netns import net_fixture

pytestmark = pytest.mark.kernel

net = pytest.fixture(scope="module")(net_fixture)

SIZES = st.sampled_from([44, 44, 44, 28, 24, 22, 8, 45, 48, 30, 0])
SET_FLAGS = st.one_of(st.integers(0, 31), st.sampled_from([32, 64, 1 << 40]))
GET_FLAGS = st.one_of(st.sampled_from([0, 1, 16, 17]), st.integers(0, 63))


@st.composite
def keys(draw: st.DrawFn) -> bytes:
    ext = draw(st.sampled_from([0, 0, 0, 0, 1]))
    label = draw(st.sampled_from([0, 0, 0, 0x12345, 0xFFFFFFFF]))
    return (struct.pack("<I", draw(st.integers(0, 0xFFFF_FFFF)))
            + draw(st.binary(min_size=16, max_size=16))
            + bytes([draw(st.integers(0, 255)), draw(st.integers(0, 255))])
            + struct.pack("<HI", ext, label) + draw(st.binary(min_size=16, max_size=16))
            + draw(st.binary(min_size=4, max_size=4)))


def request(do_set: int, set_size: int, set_flags: int, key: bytes, get_size: int,
            get_flags: int) -> bytes:
    return struct.pack("<IIQ", do_set, set_size, set_flags) + key + \
        struct.pack("<IQii", get_size, get_flags, 0x11111111, 0x22222222) + bytes(48)


def run(net, prog: str, req: bytes) -> tuple:
    data = bytes(12) + b"\x88\xb5" + req
    k, v = net.run("tunnel", prog, data)
    assert v == k, f"\nkernel: {k}\nvm:     {v}\nreq {req.hex()}"
    return k


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(do_set=st.sampled_from([0, 1, 1, 1]), set_size=SIZES, set_flags=SET_FLAGS,
       key=keys(), get_size=SIZES, get_flags=GET_FLAGS,
       prog=st.sampled_from(["tc_tunnel", "lwt_tunnel"]))
def test_tunnel_key_matches_kernel(net, do_set, set_size, set_flags, key, get_size,
                                   get_flags, prog) -> None:
    run(net, prog, request(do_set, set_size, set_flags, key, get_size, get_flags))


def _result(k: tuple, base: int) -> tuple[int, int, bytes]:
    off = base + 4 + 4 + 8 + 48 + 4 + 8
    set_rc, get_rc = struct.unpack_from("<ii", k[2], off)
    return set_rc, get_rc, k[2][off + 8:off + 8 + 48]


def test_tunnel_key_round_trip_swaps_ends(net) -> None:
    """An IPv4 key set then read back: id, tos, ttl kept; the get reports the set's
    remote as local and its local as remote, as the kernel does (it reads the
    metadata's source and destination)."""
    key = struct.pack("<I", 42) + bytes([10, 0, 0, 1]) + bytes(12) + bytes([5, 64]) + \
        struct.pack("<HI", 0, 0) + bytes([10, 0, 0, 2]) + bytes(12) + bytes(4)
    k = run(net, "tc_tunnel", request(1, 44, 0, key, 44, 0))
    set_rc, get_rc, out = _result(k, 14)
    assert (set_rc, get_rc) == (0, 0)
    assert struct.unpack_from("<I", out, 0)[0] == 42 and out[20:22] == bytes([5, 64])
    assert out[4:8] == bytes([10, 0, 0, 2]) and out[28:32] == bytes([10, 0, 0, 1])


def test_tunnel_key_get_without_metadata_zeroes(net) -> None:
    k = run(net, "tc_tunnel", request(0, 44, 0, bytes(48), 44, 0))
    _, get_rc, out = _result(k, 14)
    assert get_rc == -22 and out[:44] == bytes(44) and out[44:] == b"\x5a" * 4
