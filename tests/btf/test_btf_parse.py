"""Parsing .BTF: every kind as clang emits it, the kernel's vmlinux, split BTF, and
malformed blobs (each rejected with a BTFError that says what and where)."""

from __future__ import annotations

import struct
import time

import pytest

from pybpf.btf import (
    VOID, Array, Btf, BTFError, BtfKind, Builder, Const, Datasec, DeclTag, Enum, Enum64,
    Enumerator, Float, Func, FuncLinkage, FuncProto, Fwd, Int, IntEncoding, Member, Param,
    Ptr, Restrict, Struct, Typedef, TypeTag, Union_, Var, VarLinkage, VarSecinfo, Volatile,
    encode, parse, parse_header,
)
from pybpf.kernel import btf_blob, btf_int_blob

from .conftest import Obj


def _hdr(blob: bytes, **fields: int) -> bytes:
    """`blob` with header fields replaced."""
    names = ["magic", "version", "flags", "hdr_len", "type_off", "type_len", "str_off",
             "str_len"]
    vals = list(struct.unpack_from("<HBBIIIII", blob))
    for k, v in fields.items():
        vals[names.index(k)] = v
    return struct.pack("<HBBIIIII", *vals) + blob[24:]


def _types(*words: int) -> bytes:
    return struct.pack(f"<{len(words)}I", *words)


def _info(kind: int, vlen: int = 0, kflag: int = 0) -> int:
    return kflag << 31 | kind << 24 | vlen


# --- clang's output -------------------------------------------------------------------------------

def test_kinds_object_every_kind(kinds_obj: Obj) -> None:
    b = kinds_obj.btf
    seen = {t.kind for t in b}
    assert seen >= set(BtfKind) - {BtfKind.UNKN, BtfKind.ENUM64}  # clang 14 has no ENUM64

    outer = b[b.find_one("outer", BtfKind.STRUCT)]
    assert isinstance(outer, Struct) and outer.size == 320 and not outer.kind_flag
    names = [m.name for m in outer.members]
    assert names[:3] == ["in", "", "arr"] and names[-1] == "flex"
    anon = b[outer.members[1].type]
    assert isinstance(anon, Union_) and anon.name == "" and anon.size == 4
    assert [m.name for m in anon.members] == ["u", "f", ""]
    arr = b[outer.members[2].type]
    assert isinstance(arr, Array) and arr.nelems == 2
    assert isinstance(b[arr.type], Array) and b[arr.type].nelems == 3  # type: ignore[union-attr]
    assert outer.members[2].offset == 192

    bits = b[b.find_one("bits", BtfKind.STRUCT)]
    assert isinstance(bits, Struct) and bits.kind_flag
    assert [(m.name, m.offset, m.bitfield_size) for m in bits.members] == [
        ("a", 0, 3), ("b", 3, 5), ("c", 8, 40), ("d", 48, 0), ("e", 56, 1), ("col", 64, 8)]

    color = b[b.find_one("color", BtfKind.ENUM)]
    assert color == Enum("color", 4, (Enumerator("RED", 0), Enumerator("GREEN", 5),
                                      Enumerator("BLUE", 0xFFFFFFFF)), False)

    assert b[b.find_one("fwd_union")] == Fwd("fwd_union", True)
    assert b[b.find_one("fwd_only")] == Fwd("fwd_only", False)
    assert b[b.find_one("u32_t")] == Typedef("u32_t", b.find_one("unsigned int"))
    assert b[b.find_one("_Bool")] == Int("_Bool", 1, IntEncoding.BOOL, 8)
    assert b[b.find_one("__int128")] == Int("__int128", 16, IntEncoding.SIGNED, 128)
    assert b[b.find_one("double")] == Float("double", 8)

    helper = b[b.find_one("helper")]
    assert isinstance(helper, Func) and helper.linkage == FuncLinkage.STATIC
    proto = b[helper.type]
    assert isinstance(proto, FuncProto) and [p.name for p in proto.params] == ["o", "k"]
    assert b[b.find_one("global_fn")].linkage == FuncLinkage.GLOBAL  # type: ignore[union-attr]
    assert b[b.find_one("bpf_rcu_read_lock")].linkage == FuncLinkage.EXTERN  # type: ignore

    tags = {t.name: t for t in b if isinstance(t, DeclTag)}
    assert tags["struct_tag"].component_idx == -1
    assert tags["field_tag"].component_idx == names.index("tagged_field")
    assert tags["arg_tag"].component_idx == 1
    tt = [t for t in b if isinstance(t, TypeTag)]
    assert tt == [TypeTag("user", b.find_one("int"))]

    cvp = next(m for m in outer.members if m.name == "cvp")
    p = b[cvp.type]
    assert isinstance(p, Ptr) and isinstance(b[p.type], Const)
    assert isinstance(b[b[p.type].type], Volatile)  # type: ignore[union-attr]
    rp = next(m for m in outer.members if m.name == "rp")
    assert isinstance(b[rp.type], Restrict)

    assert b[b.find_one("static_var")] == Var("static_var", b.find_one("int"),
                                              VarLinkage.STATIC)
    assert b[b.find_one("LINUX_KERNEL_VERSION")].linkage == VarLinkage.EXTERN  # type: ignore
    data = b[b.find_one(".data", BtfKind.DATASEC)]
    assert isinstance(data, Datasec) and data.size == 0
    assert [b[v.type].name for v in data.vars] == ["data_var", "static_var"]
    assert data.vars[1] == VarSecinfo(b.find_one("static_var"), 4, 4)


def test_lookup_helpers(kinds_obj: Obj) -> None:
    b = kinds_obj.btf
    assert b[0] is VOID and len(b) == b.start_id + sum(1 for _ in b)
    s64t = b.find_one("s64_t")
    assert b.resolve(s64t) == b.find_one("long long")
    assert b.size_of(s64t) == 8
    outer = b.find_one("outer", BtfKind.STRUCT)
    arr = b[outer].members[2].type  # type: ignore[union-attr]
    assert b.size_of(arr) == 2 * 3 * 20
    assert b.align_of(outer) == 16 and b.align_of(b.find_one("inner")) == 4
    cvp = b[b[outer].members[3].type]  # type: ignore[union-attr]
    assert b.skip_mods(cvp.type) == b.find_one("int")  # type: ignore[union-attr]
    assert b.find("no such name") == []
    with pytest.raises(BTFError, match="no type named 'nope'"):
        b.find_one("nope")
    with pytest.raises(BTFError, match="2 types named 'x'"):
        _two_named().find_one("x")
    with pytest.raises(BTFError, match="has no size"):
        b.size_of(b.find_one("helper"))
    with pytest.raises(BTFError, match="has no size"):
        b.size_of(0)
    with pytest.raises(BTFError, match="out of range"):
        b[len(b)]


def _two_named() -> Btf:
    bb = Builder()
    bb.int("x", 4)
    bb.typedef("x", 1)
    return bb.btf


def test_header_fields(kinds_obj: Obj) -> None:
    h = parse_header(kinds_obj.btf_raw)
    assert (h.magic, h.version, h.flags, h.hdr_len, h.type_off) == (0xEB9F, 1, 0, 24, 0)
    assert h.str_off == h.type_len and 24 + h.str_off + h.str_len == len(kinds_obj.btf_raw)


# --- the kernel's BTF -----------------------------------------------------------------------------

def test_vmlinux_lazy_parse_time(vmlinux_raw: bytes) -> None:
    t0 = time.perf_counter()
    b = parse(vmlinux_raw, lazy=True)
    t_index = time.perf_counter() - t0
    ts = b[b.find_one("task_struct", BtfKind.STRUCT)]
    assert isinstance(ts, Struct) and any(m.name == "pid" for m in ts.members)
    assert len(b) > 50_000
    assert t_index < 3.0, f"indexing vmlinux took {t_index:.2f}s"


def test_vmlinux_full_parse(vmlinux_raw: bytes) -> None:
    t0 = time.perf_counter()
    b = parse(vmlinux_raw)  # decodes and validates every type
    elapsed = time.perf_counter() - t0
    assert elapsed < 15.0, f"full vmlinux parse took {elapsed:.2f}s"
    kinds = {t.kind for t in b}
    assert {BtfKind.STRUCT, BtfKind.FUNC, BtfKind.DATASEC, BtfKind.ENUM} <= kinds


# --- split BTF ------------------------------------------------------------------------------------

def test_split_btf_roundtrip() -> None:
    base = Builder()
    i32 = base.int("int", 4, True)
    s = base.struct("base_s", [("a", i32)])
    base_blob = base.btf.to_bytes()
    parsed_base = parse(base_blob)

    split = Builder(Btf(parsed_base))
    assert split.btf.start_id == 3
    p = split.ptr(s)
    mod = split.struct("mod_s", [("b", i32), ("base", p), ("int", i32)])
    blob = split.btf.to_bytes()
    got = parse(blob, parsed_base)
    assert got.start_id == 3 and len(got) == 5
    assert got[mod] == Struct("mod_s", 24, (Member("b", i32, 0), Member("base", p, 64),
                                            Member("int", i32, 128)))
    assert got[i32].name == "int"  # base type through the split
    assert got.find("base_s") == [s] and got.find("mod_s") == [mod]
    assert [i for i, _ in got.items()] == [3, 4]
    assert len(list(got.items(with_base=True))) == 4
    # names already in the base are not repeated in the split string section
    hdr = parse_header(blob)
    assert hdr.str_len == len(b"mod_s\0b\0base\0")
    assert encode(got) == blob
    with pytest.raises(BTFError, match="must start with a NUL"):
        parse(blob)  # without its base


def test_split_over_vmlinux(vmlinux: Btf) -> None:
    split = Builder(Btf(vmlinux))
    ts = vmlinux.find_one("task_struct", BtfKind.STRUCT)
    sid = split.struct("my_mod_state", [("task", split.ptr(ts))])
    got = parse(split.btf.to_bytes(), vmlinux)
    assert got[sid].name == "my_mod_state"
    assert got[got[got[sid].members[0].type].type].name == "task_struct"  # type: ignore


# --- malformed input ------------------------------------------------------------------------------

GOOD = btf_int_blob()


@pytest.mark.parametrize("blob, message", [
    (b"", "truncated"),
    (GOOD[:20], "truncated"),
    (b"\x00\x00" + GOOD[2:], "bad BTF magic 0x0000"),
    (b"\xeb\x9f" + GOOD[2:], "big-endian"),
    (_hdr(GOOD, version=2), "unsupported BTF version 2"),
    (_hdr(GOOD, flags=1), "flags"),
    (_hdr(GOOD, hdr_len=16), "bad BTF header length 16"),
    (_hdr(GOOD, hdr_len=1000), "bad BTF header length 1000"),
    (_hdr(GOOD, hdr_len=28) + b"", "unknown non-zero fields"),
    (_hdr(GOOD, type_len=4000), "type section .* runs past the end"),
    (_hdr(GOOD, str_off=2, str_len=100), "string section .* runs past the end"),
    (_hdr(GOOD, type_len=14), "not 4-byte aligned"),
    (_hdr(GOOD, str_off=8, str_len=5), "overlap"),
    (btf_blob(_types(1, _info(1), 4, 32), b"x\0int\0"), "must start with a NUL"),
    (btf_blob(_types(1, _info(1), 4, 32), b"\0int"), "does not end with a NUL"),
    (btf_blob(_types(1, _info(1), 4), b"\0int\0"), r"type \[1\] .* needs 16 bytes"),
    (btf_blob(_types(0, _info(4, 0xFFFF), 8), b"\0"), r"needs 786432 bytes \(vlen 65535\)"),
    (btf_blob(_types(0, _info(20), 0), b"\0"), "unknown kind 20"),
    (btf_blob(_types(0, _info(0), 0), b"\0"), "unknown kind 0"),
    (btf_blob(_types(0, _info(2) | 0x20000000, 0), b"\0"), "reserved info bits"),
    (btf_blob(_types(0, _info(2, 0, 1), 0), b"\0"), "kind_flag set on a kind"),
    (btf_blob(_types(0, _info(2, 1), 0), b"\0"), "vlen 1 on a kind"),
    (btf_blob(_types(99, _info(1), 4, 32), b"\0int\0"), r"type \[1\]: string offset 0x63"),
    (btf_blob(_types(0, _info(2), 7), b"\0"), r"type \[1\]: referenced type id 7 out of range"),
    (btf_blob(_types(0, _info(3), 0, 0, 9, 4), b"\0"), r"\[1\]: index type id 9 out of range"),
    (btf_blob(_types(1, _info(1), 4, 8 << 24 | 32), b"\0int\0"), "unknown encoding 0x8"),
    (btf_blob(_types(1, _info(1), 4, 0x100 | 32), b"\0int\0"), "reserved bits"),
    (btf_blob(_types(1, _info(12, 3), 0), b"\0f\0"), "unknown linkage 3"),
    (btf_blob(_types(1, _info(14), 0, 9), b"\0v\0"), "unknown linkage 9"),
    (btf_blob(_types(1, _info(8), 2, 2, _info(8), 1), b"\0a\0"), "reference loop"),
    (btf_blob(_types(1, _info(4, 1), 4, 0, 1, 0), b"\0s\0"), r"reference loop .*\[1\] STRUCT"),
    (btf_blob(_types(0, _info(10), 1), b"\0"), "reference loop"),
    (btf_blob(_types(0, _info(3), 0, 1, 1, 2), b"\0"), "reference loop"),
])
def test_malformed(blob: bytes, message: str) -> None:
    with pytest.raises(BTFError, match=message):
        parse(blob)


def test_lazy_defers_type_errors_to_access() -> None:
    blob = btf_blob(_types(0, _info(2), 7, 1, _info(1), 4, 32), b"\0int\0")
    b = parse(blob, lazy=True)  # the index is fine: two well-formed type records
    assert b[2] == Int("int", 4, IntEncoding.NONE, 32)
    with pytest.raises(BTFError, match=r"type \[1\]: referenced type id 7"):
        b[1]


def test_loops_are_errors_not_recursion_when_lazy() -> None:
    # typedef a -> b -> a, a struct containing itself, const -> volatile -> const
    blob = btf_blob(_types(1, _info(8), 2, 1, _info(8), 1, 1, _info(4, 1), 4, 0, 3, 0,
                           0, _info(10), 5, 0, _info(9), 4), b"\0a\0")
    b = parse(blob, lazy=True)
    with pytest.raises(BTFError, match="loop"):
        b.resolve(1)
    with pytest.raises(BTFError, match="loop"):
        b.size_of(2)
    with pytest.raises(BTFError, match="loop"):
        b.align_of(1)
    from pybpf.btf import decode_value, dump_c, format_c, type_name
    with pytest.raises(BTFError):
        type_name(b, 4)
    assert format_c(b, 3) == "struct a {\n\tstruct a;\n};"  # printing a loop is fine
    with pytest.raises(BTFError):
        dump_c(b)
    with pytest.raises(BTFError):
        decode_value(b, 3, bytes(4))


def test_unusual_but_valid_encodings_roundtrip() -> None:
    # a kind_flag struct without bitfields, a signed enum, DECL_TAG/TYPE_TAG attribute flags
    b = Btf()
    i = b.add(Int("int", 4, IntEncoding.SIGNED))
    b.add(Struct("s", 4, (Member("a", i, 0),), kind_flag=True))
    b.add(Enum("e", 4, (Enumerator("M", -1), Enumerator("P", 2**31 - 1)), signed=True))
    b.add(Enum64("e64", 8, (Enumerator("BIG", 2**64 - 1),), signed=False))
    b.add(Enum64("s64", 8, (Enumerator("NEG", -(2**63)),), signed=True))
    b.add(DeclTag("t", i, -1, attribute=True))
    b.add(TypeTag("tt", i, attribute=True))
    b.add(FuncProto(i, (Param("x", i), Param("", 0))))
    got = parse(b.to_bytes())
    assert list(got) == list(b)
    assert got[8].variadic  # type: ignore[union-attr]


def test_value_range_errors_on_encode() -> None:
    b = Btf()
    b.add(Enum("e", 4, (Enumerator("X", 2**32),)))
    with pytest.raises(BTFError, match="does not fit 32 bits"):
        b.to_bytes()
    b = Btf()
    b.add(Struct("s", 4, (Member("a", 0, 0, 3),), kind_flag=False))
    with pytest.raises(BTFError, match="needs kind_flag"):
        b.to_bytes()
    b = Btf()
    b.add(Array(0, 0, -1))
    with pytest.raises(BTFError, match="nelems -1"):
        b.to_bytes()
    with pytest.raises(BTFError, match="NUL"):
        Btf().strings.add("a\0b")
    with pytest.raises(BTFError, match="void"):
        Btf().add(VOID)
