"""TypeCodec / DatasecCodec: fixed-size converters over decode_value/encode_value, the
piece typed maps and typed globals share; text integers for the command line."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pybpf.btf import BTFError, Builder, DatasecCodec, SectionVar, TypeCodec, encode_value


def _btf():  # type: ignore[no-untyped-def]
    b = Builder()
    u16, u32 = b.int("__u16", 2), b.int("__u32", 4)
    ch = b.int("char", 1, signed=True)
    bl = b.int("_Bool", 1, bool_=True)
    pair = b.struct("pair", [("a", u32), ("b", u16)])
    return b.btf, u16, u32, ch, b.array(ch, 6), pair, bl


def test_type_codec_round_trip_and_untyped() -> None:
    btf, _, u32, _, name, pair, _ = _btf()
    c = TypeCodec(btf, pair, 8)
    raw = c.encode({"a": 7, "b": 2})
    assert raw == bytes.fromhex("07000000 0200 0000") and c.decode(raw) == {"a": 7, "b": 2}
    assert c.encode({"b": 9}, base=raw) == bytes.fromhex("07000000 0900 0000")
    assert c.encode(raw) == raw  # bytes pass through, checked for size
    with pytest.raises(BTFError, match="3 bytes given for a 8-byte"):
        c.encode(b"abc")
    raw_codec = TypeCodec(None, None, 4)
    assert not raw_codec.typed
    assert raw_codec.encode(-1) == b"\xff" * 4 and raw_codec.encode("0a000001") == b"\n\0\0\1"
    assert raw_codec.decode(b"\1\2\3\4") == b"\1\2\3\4"
    for bad, msg in ((1.5, "takes bytes"), ("zz", "not hex"), ("00", "1 hex bytes"),
                     (1 << 40, "does not fit")):
        with pytest.raises(BTFError, match=msg):
            raw_codec.encode(bad)


def test_text_integers() -> None:
    btf, u16, u32, *_ = _btf()
    assert encode_value(btf, u32, "10.0.0.1", text_ints=True) == bytes([10, 0, 0, 1])
    assert encode_value(btf, u32, "0x10", text_ints=True) == (16).to_bytes(4, "little")
    assert encode_value(btf, u16, " 80 ", text_ints=True) == (80).to_bytes(2, "little")
    with pytest.raises(BTFError, match="expected an integer, got '1.2.3'"):
        encode_value(btf, u32, "1.2.3", text_ints=True)
    with pytest.raises(BTFError, match="expected an int"):
        encode_value(btf, u32, "10")  # strict without text_ints
    with pytest.raises(BTFError, match="expected an integer"):
        encode_value(btf, u16, "10.0.0.1", text_ints=True)  # an address only for 4 bytes


@given(st.ip_addresses(v=4))
def test_ipv4_text_is_network_order(addr) -> None:  # type: ignore[no-untyped-def]
    btf, _, u32, *_ = _btf()
    assert encode_value(btf, u32, str(addr), text_ints=True) == addr.packed


def test_datasec_codec() -> None:
    btf, u16, u32, _, name, pair, _ = _btf()
    variables = [SectionVar("count", 0, 4, u32), SectionVar("name", 4, 6, name),
                 SectionVar("raw", 10, 2, 0)]
    c = DatasecCodec(btf, variables, 12)
    data = (5).to_bytes(4, "little") + b"fw\0\0\0\0" + b"\xaa\xbb"
    assert c.decode(data) == {"count": 5, "name": "fw", "raw": b"\xaa\xbb"}
    new = c.encode({"name": "lb"}, base=data)
    assert c.decode(new) == {"count": 5, "name": "lb", "raw": b"\xaa\xbb"}
    with pytest.raises(BTFError, match="no variable 'nope'"):
        c.encode({"nope": 1})
    with pytest.raises(BTFError, match="name: 7 bytes do not fit"):
        c.encode({"name": "toolong"})
    with pytest.raises(BTFError, match="outside its 8-byte section"):
        DatasecCodec(btf, variables, 8)


@given(st.binary(min_size=8, max_size=8))
def test_decode_encode_round_trip(raw: bytes) -> None:
    """A struct without padding: every 8 bytes decode and encode back unchanged."""
    btf, u16, u32, *_ = _btf()
    b = Builder(btf)
    key = b.struct("key", [("addr", u32), ("port", u16), ("proto", b.int("__u8", 1)),
                           ("flag", b.int("_Bool", 1, bool_=True))])
    c = TypeCodec(btf, key, 8)
    value = c.decode(raw)
    if raw[7] in (0, 1):  # a bool reads any non-zero byte as True
        assert c.encode(value) == raw
    else:
        assert value["flag"] is True and c.encode(value)[7] == 1
