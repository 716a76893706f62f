"""Map keys and values by BTF type: layouts checked against clang's own initializers,
every scalar kind, bitfields, enums by name, char arrays, unions, sections, clear errors,
and decode(encode(v)) == v for random types and values."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.btf import (
    Btf, BTFError, BtfKind, Builder, decode_value, dump_c, encode_value,
    sanitize_for_kernel,
)

from .conftest import Obj
from .elfutil import read_elf
from .test_btf_dump import _compile


def test_key_example() -> None:
    b = Builder()
    u32 = b.typedef("__u32", b.int("unsigned int", 4))
    u8 = b.typedef("__u8", b.int("unsigned char", 1))
    key = b.struct("key", [("saddr", u32), ("proto", u8)])
    raw = encode_value(b.btf, key, {"saddr": 0x0A000001, "proto": 6})
    assert raw == bytes.fromhex("0100000a") + b"\x06\0\0\0"
    assert decode_value(b.btf, key, raw) == {"saddr": 0x0A000001, "proto": 6}
    assert encode_value(b.btf, key, {"proto": 6}) == bytes(4) + b"\x06\0\0\0"
    with pytest.raises(BTFError, match=r"^sport: struct key has no member 'sport'"):
        encode_value(b.btf, key, {"sport": 1})
    with pytest.raises(BTFError, match="7 bytes for type"):
        decode_value(b.btf, key, bytes(7))


def test_scalars() -> None:
    b = Builder()
    for size in (1, 2, 4, 8, 16):
        s = b.int(f"s{size}", size, True)
        u = b.int(f"u{size}", size)
        lo, hi = -(1 << (size * 8 - 1)), (1 << (size * 8 - 1)) - 1
        for v in (lo, -1, 0, 1, hi):
            assert decode_value(b.btf, s, encode_value(b.btf, s, v)) == v
        assert encode_value(b.btf, s, -1) == b"\xff" * size
        assert decode_value(b.btf, u, b"\xff" * size) == (1 << (size * 8)) - 1
        with pytest.raises(BTFError, match=f"does not fit 's{size}'"):
            encode_value(b.btf, s, hi + 1)
        with pytest.raises(BTFError, match=f"-1 does not fit 'u{size}'"):
            encode_value(b.btf, u, -1)
    bl = b.int("_Bool", 1, bool_=True)
    assert decode_value(b.btf, bl, b"\x01") is True
    assert encode_value(b.btf, bl, True) == b"\x01"
    ptr = b.ptr(0)
    assert decode_value(b.btf, ptr, encode_value(b.btf, ptr, 0xFFFF888000000000)) == \
        0xFFFF888000000000
    f32, f64 = b.float("float", 4), b.float("double", 8)
    assert decode_value(b.btf, f32, encode_value(b.btf, f32, 1.5)) == 1.5
    assert decode_value(b.btf, f64, encode_value(b.btf, f64, -math.pi)) == -math.pi
    with pytest.raises(BTFError, match="expected a number"):
        encode_value(b.btf, f64, "x")
    cv = b.const(b.volatile(b.typedef("u64_t", b.int("unsigned long", 8))))
    assert encode_value(b.btf, cv, 258) == (258).to_bytes(8, "little")
    with pytest.raises(BTFError, match="expected an int, got str"):
        encode_value(b.btf, cv, "258")
    with pytest.raises(BTFError, match="has no size"):
        encode_value(b.btf, b.func_proto(0), 1)


def test_enums() -> None:
    b = Builder()
    e = b.enum("proto", {"TCP": 6, "UDP": 17})
    assert decode_value(b.btf, e, (6).to_bytes(4, "little")) == "TCP"
    assert decode_value(b.btf, e, (99).to_bytes(4, "little")) == 99
    assert encode_value(b.btf, e, "UDP") == (17).to_bytes(4, "little")
    assert encode_value(b.btf, e, 17) == (17).to_bytes(4, "little")
    with pytest.raises(BTFError, match="enum 'proto' has no enumerator 'ICMP'"):
        encode_value(b.btf, e, "ICMP")
    se = b.enum("s", {"NEG": -2, "ONE": 1})
    assert decode_value(b.btf, se, encode_value(b.btf, se, "NEG")) == "NEG"
    assert decode_value(b.btf, se, encode_value(b.btf, se, -7)) == -7
    wide = b.enum("w", {"BIG": 1 << 40})
    assert b.btf[wide].kind == BtfKind.ENUM64
    assert decode_value(b.btf, wide, encode_value(b.btf, wide, "BIG")) == "BIG"
    small = b.enum("tiny", {"A": 1}, size=1)
    assert encode_value(b.btf, small, "A") == b"\x01"
    with pytest.raises(BTFError, match="does not fit enum 'tiny'"):
        encode_value(b.btf, small, 256)


def test_arrays_and_strings() -> None:
    b = Builder()
    ch = b.int("char", 1, True)
    name = b.array(ch, 8)
    assert encode_value(b.btf, name, "eth0") == b"eth0\0\0\0\0"
    assert decode_value(b.btf, name, b"eth0\0\0\0\0") == "eth0"
    assert decode_value(b.btf, name, b"12345678") == "12345678"
    assert decode_value(b.btf, name, b"a\0b\0\0\0\0\0") == b"a\0b\0\0\0\0\0"  # not a string
    assert decode_value(b.btf, name, b"\xff\0\0\0\0\0\0\0") == b"\xff\0\0\0\0\0\0\0"
    assert encode_value(b.btf, name, b"\x01\x02") == b"\x01\x02" + bytes(6)
    with pytest.raises(BTFError, match="9 bytes do not fit char\\[8\\]"):
        encode_value(b.btf, name, "123456789")
    mac = b.array(b.int("unsigned char", 1), 6)
    assert decode_value(b.btf, mac, bytes(range(6))) == [0, 1, 2, 3, 4, 5]
    assert encode_value(b.btf, mac, bytes(range(6))) == bytes(range(6))
    grid = b.array(b.array(b.int("short", 2, True), 3), 2)
    v = [[1, -2, 3], [4, 5, -6]]
    assert decode_value(b.btf, grid, encode_value(b.btf, grid, v)) == v
    assert decode_value(b.btf, grid, encode_value(b.btf, grid, [[1]])) == [[1, 0, 0], [0] * 3]
    with pytest.raises(BTFError, match=r"^\[1\]\[2\]: -40000 does not fit 'short'"):
        encode_value(b.btf, grid, [[0], [1, 2, -40000]])
    with pytest.raises(BTFError, match=r"^\[1\]: 4 elements do not fit an array of 3"):
        encode_value(b.btf, grid, [[0], [1, 2, 3, 4]])
    with pytest.raises(BTFError, match="expected a list of 2 elements, got int"):
        encode_value(b.btf, grid, 5)


def test_unions_anonymous_members_and_paths() -> None:
    b = Builder()
    u32 = b.int("unsigned int", 4)
    u16 = b.int("unsigned short", 2)
    halves = b.struct("", [("lo", u16), ("hi", u16)])
    word = b.union("", [("w", u32), ("", halves)])
    inner = b.struct("inner", [("tag", u16), ("", word)])
    outer = b.struct("outer", [("in", inner), ("n", u32)])
    raw = encode_value(b.btf, outer, {"in": {"tag": 1, "w": 0x00020003}, "n": 9})
    assert decode_value(b.btf, outer, raw) == {
        "in": {"tag": 1, "w": 0x00020003, "lo": 3, "hi": 2}, "n": 9}
    raw2 = encode_value(b.btf, outer, {"in": {"lo": 3, "hi": 2}})
    assert decode_value(b.btf, outer, raw2)["in"]["w"] == 0x00020003
    with pytest.raises(BTFError, match=r"^in\.mid: struct inner has no member 'mid'"):
        encode_value(b.btf, outer, {"in": {"mid": 1}})
    with pytest.raises(BTFError, match=r"^in\.lo: 70000 does not fit"):
        encode_value(b.btf, outer, {"in": {"lo": 70000}})
    with pytest.raises(BTFError, match="expected a dict for struct outer, got list"):
        encode_value(b.btf, outer, [1])


def test_datasec_values(kinds_obj: Obj) -> None:
    res = sanitize_for_kernel(kinds_obj.btf, kinds_obj.elf.sizes,
                              kinds_obj.elf.symbol_offsets())
    b = res.btf
    data = b.find_one(".data", BtfKind.DATASEC)
    raw = kinds_obj.elf.sections[".data"]
    assert decode_value(b, data, raw) == {"data_var": 7, "static_var": 9}
    assert encode_value(b, data, {"data_var": 7, "static_var": 9}) == raw
    ro = b.find_one(".rodata", BtfKind.DATASEC)
    assert decode_value(b, ro, kinds_obj.elf.sections[".rodata"]) == {
        "rodata_var": 3, "rostr": "hello"}
    with pytest.raises(BTFError, match="section '.data' has no variable 'nope'"):
        encode_value(b, data, {"nope": 1})


def test_layouts_match_clang_initializers(kinds_obj: Obj, clang: str, tmp_path: Path) -> None:
    """clang lays out initialized globals; encode_value must produce the same bytes."""
    b = kinds_obj.btf
    bits_v = {"a": 5, "b": -3, "c": (1 << 40) - 2, "d": 200, "e": True, "col": "GREEN"}
    outer_v: dict[str, Any] = {
        "in": {"x": -1, "name": "abc"}, "u": 0x01020304,
        "arr": [[{"x": 1}, {"x": 2, "name": "q"}, {}], [{}, {}, {"x": 9}]],
        "cvp": 0x1000, "d": 2.5, "tagged_field": 77, "s8": -8, "u8": 250, "s16": -1000,
        "u16": 65000, "s64": -(1 << 40), "u64": 1 << 63, "i128": -(1 << 100),
        "u128": (1 << 127) + 5, "c": 65, "sc": -2, "uc": 255, "sh": -300, "l": -(1 << 62),
        "ul": (1 << 64) - 1, "s64t": 5, "u32t": 4_000_000_000, "big": "BIG_B"}
    header = dump_c(b, preserve_access_index=False)
    src = header + """
struct bits bits_v __attribute__((section(".data.v"))) = {
	.a = 5, .b = -3, .c = (1ULL << 40) - 2, .d = 200, .e = 1, .col = GREEN };
struct outer outer_v __attribute__((section(".data.v"))) = {
	.in = { .x = -1, .name = "abc" }, .u = 0x01020304,
	.arr = { { { .x = 1 }, { .x = 2, .name = "q" }, {} }, { {}, {}, { .x = 9 } } },
	.cvp = (void *)0x1000, .d = 2.5, .tagged_field = 77, .s8 = -8, .u8 = 250,
	.s16 = -1000, .u16 = 65000, .s64 = -(1LL << 40), .u64 = 1ULL << 63,
	.i128 = -((__int128)1 << 100), .u128 = ((unsigned __int128)1 << 127) + 5, .c = 65,
	.sc = -2, .uc = 255, .sh = -300, .l = -(1L << 62), .ul = ~0UL, .s64t = 5,
	.u32t = 4000000000u, .big = BIG_B };
"""
    elf = read_elf(_compile(clang, tmp_path, src, obj=True))
    data = elf.sections[".data.v"]
    sym = {s.name: s for s in elf.symbols}
    got_bits = data[sym["bits_v"].value:sym["bits_v"].value + 16]
    got_outer = data[sym["outer_v"].value:sym["outer_v"].value + 320]
    bits_id = b.find_one("bits", BtfKind.STRUCT)
    outer_id = b.find_one("outer", BtfKind.STRUCT)
    assert encode_value(b, bits_id, bits_v) == got_bits
    assert encode_value(b, outer_id, outer_v) == got_outer
    back = decode_value(b, outer_id, got_outer)
    assert back["in"] == {"x": -1, "name": "abc"} and back["big"] == "BIG_B"
    assert back["lo"] == 0x0304 and back["f"] == pytest.approx(2.387939260590663e-38)
    assert back["flex"] == []
    assert decode_value(b, bits_id, got_bits) == bits_v


# --- property: decode(encode(v)) == v -------------------------------------------------------------

@st.composite
def typed_value(draw: st.DrawFn, b: Builder, depth: int = 0) -> tuple[int, st.SearchStrategy]:
    """A random type built in `b` and a strategy for its values."""
    choice = draw(st.sampled_from(["int", "int", "enum", "float", "ptr", "chars", "array",
                                   "struct", "struct"] if depth < 3 else ["int", "enum"]))
    if choice == "int":
        size = draw(st.sampled_from([1, 2, 4, 8, 16]))
        signed = draw(st.booleans())
        tid = b.int(f"i{size}{'s' if signed else 'u'}", size, signed)
        if draw(st.booleans()):
            tid = b.typedef("t", tid)
        lo, hi = (-(1 << (size * 8 - 1)), (1 << (size * 8 - 1)) - 1) if signed else \
            (0, (1 << (size * 8)) - 1)
        return tid, st.integers(lo, hi)
    if choice == "enum":
        names = draw(st.lists(st.sampled_from("ABCDEFGH"), min_size=1, max_size=5,
                              unique=True))
        vals = draw(st.lists(st.integers(-1000, 1000), min_size=len(names),
                             max_size=len(names), unique=True))
        tid = b.enum("e", dict(zip(names, vals)))
        # an enum is signed when a value is negative; other ints read back in its range
        ints = st.integers(-(1 << 31), (1 << 31) - 1) if min(vals) < 0 else \
            st.integers(0, (1 << 32) - 1)
        return tid, st.one_of(st.sampled_from(names), ints.filter(lambda v: v not in vals))
    if choice == "float":
        return b.float("double", 8), st.floats(allow_nan=False)
    if choice == "ptr":
        return b.ptr(0), st.integers(0, (1 << 64) - 1)
    if choice == "chars":
        n = draw(st.integers(1, 12))
        tid = b.array(b.int("char", 1, True), n)
        return tid, st.text(alphabet="abcxyz019 _", max_size=n)
    if choice == "array":
        n = draw(st.integers(0, 4))
        elem, vals = draw(typed_value(b, depth + 1))
        return b.array(elem, n), st.lists(vals, min_size=n, max_size=n)
    members = []
    fields: dict[str, st.SearchStrategy] = {}
    for i in range(draw(st.integers(1, 5))):
        name = f"m{i}"
        if draw(st.integers(0, 3)) == 0:
            bits = draw(st.integers(1, 31))
            signed = draw(st.booleans())
            members.append((name, b.int("int" if signed else "unsigned int", 4, signed), bits))
            lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else \
                (0, (1 << bits) - 1)
            fields[name] = st.integers(lo, hi)
        else:
            tid, vals = draw(typed_value(b, depth + 1))
            members.append((name, tid))
            fields[name] = vals
    sid = b.struct("s", members, packed=draw(st.booleans()) and depth > 0)
    return sid, st.fixed_dictionaries(fields)


@st.composite
def btf_and_value(draw: st.DrawFn) -> tuple[Btf, int, Any]:
    b = Builder()
    tid, values = draw(typed_value(b))
    return b.btf, tid, draw(values)


@given(btf_and_value())
@settings(max_examples=300, deadline=None)
def test_decode_encode_roundtrip(case: tuple[Btf, int, Any]) -> None:
    btf, tid, value = case
    raw = encode_value(btf, tid, value)
    assert len(raw) == btf.size_of(tid)
    assert decode_value(btf, tid, raw) == value
    assert encode_value(btf, tid, decode_value(btf, tid, raw)) == raw
