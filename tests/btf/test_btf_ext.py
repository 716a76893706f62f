""".BTF.ext: func_info, line_info and CO-RE relocation records per ELF section, as clang
emits them; exact round trips; malformed sections rejected with BTFError."""

from __future__ import annotations

import struct

import pytest

from pybpf.btf import (
    BTFError, BtfExt, Builder, CoreRelo, CoreReloKind, Func, FuncInfo, LineInfo, encode_ext,
    parse, parse_ext,
)

from .conftest import Obj
from .elfutil import DATA


def test_core_object_records(core_obj: Obj) -> None:
    b, ext = core_obj.btf, core_obj.ext
    assert list(ext.func_info) == ["socket", "raw_tp/sys_enter"]
    progs = {sec: [(fi.insn_off, b[fi.type_id].name) for fi in fis]
             for sec, fis in ext.func_info.items()}
    assert progs["socket"] == [(0, "skb_len_proto")]
    assert [n for _, n in progs["raw_tp/sys_enter"]] == ["task_tgid", "task_parent_tgid",
                                                         "task_comm0", "all_kinds"]
    assert all(isinstance(b[fi.type_id], Func) for fis in ext.func_info.values() for fi in fis)
    src = (DATA / "core.c").read_text().splitlines()
    for lines in ext.line_info.values():
        assert lines and all(li.insn_off % 8 == 0 for li in lines)
        for li in lines:
            assert li.file_name.endswith("core.c")
            assert li.line.strip() in ("", src[li.line_num - 1].strip())
            assert li.line_col >= 0
    relos = ext.core_relos["socket"]
    assert [(r.insn_off, b[r.type_id].name, r.access, r.kind) for r in relos] == [
        (0, "__sk_buff___local", "0:2", CoreReloKind.FIELD_BYTE_OFFSET),
        (16, "__sk_buff___local", "0:0", CoreReloKind.FIELD_BYTE_OFFSET),
        (40, "__sk_buff___local", "0:4", CoreReloKind.FIELD_EXISTS),
        (56, "__sk_buff___local", "0:4", CoreReloKind.FIELD_BYTE_OFFSET)]
    kinds = {r.kind for r in ext.core_relos["raw_tp/sys_enter"]}
    assert kinds == set(CoreReloKind) - {CoreReloKind.TYPE_MATCHES}  # clang 14 lacks it


def test_roundtrip(kinds_obj: Obj, core_obj: Obj) -> None:
    for obj in (kinds_obj, core_obj):
        assert encode_ext(obj.ext, obj.btf) == obj.ext_raw
        assert obj.btf.to_bytes() == obj.btf_raw  # no string had to be added
    assert kinds_obj.ext.core_relos == {}


def test_built_ext_roundtrip() -> None:
    b = Builder()
    i = b.int("int", 4, True)
    fn = b.func("f", b.func_proto(i))
    ext = BtfExt(func_info={"xdp": [FuncInfo(0, fn)]},
                 line_info={"xdp": [LineInfo(0, "a.c", "return 0;", 3, 5),
                                    LineInfo(8, "a.c", "}", 4, 1)]},
                 core_relos={"xdp": [CoreRelo(8, i, "0", CoreReloKind.TYPE_SIZE)]})
    blob = encode_ext(ext, b.btf)
    btf2 = parse(b.btf.to_bytes())  # the strings were added to the .BTF
    assert parse_ext(blob, btf2) == ext
    ext2 = BtfExt(func_info={"xdp": [FuncInfo(0, fn)]}, hdr_len=24)
    blob2 = encode_ext(ext2, b.btf)
    assert struct.unpack_from("<I", blob2, 4)[0] == 24
    assert parse_ext(blob2, b.btf).func_info == ext2.func_info


def _ext_blob(fi: bytes = b"", li: bytes = b"", cr: bytes = b"", hdr_len: int = 32,
              **over: int) -> bytes:
    fields = {"magic": 0xEB9F, "version": 1, "flags": 0}
    fields.update(over)
    hdr = struct.pack("<HBBIIIII", fields["magic"], fields["version"], fields["flags"],
                      hdr_len, 0, len(fi), len(fi), len(li))
    if hdr_len >= 32:
        hdr += struct.pack("<II", len(fi) + len(li), len(cr))
    return hdr.ljust(hdr_len, b"\0") + fi + li + cr


@pytest.fixture
def small() -> Builder:
    b = Builder()
    i = b.int("int", 4, True)
    b.func("f", b.func_proto(i))
    b.btf.strings.add("sec")
    return b


def _sec(name_off: int, count: int, recs: bytes) -> bytes:
    return struct.pack("<II", name_off, count) + recs


@pytest.mark.parametrize("blob, message", [
    (b"\x9f\xeb\x01\x00", "truncated"),
    (_ext_blob(magic=0x1234), "bad .BTF.ext magic"),
    (b"\xeb\x9f" + _ext_blob()[2:], "big-endian"),
    (_ext_blob(version=2), "version 2"),
    (_ext_blob(flags=1), "flags"),
    (_ext_blob(hdr_len=20), "header length 20"),
    (_ext_blob(hdr_len=32)[:28], "truncated|header length"),
    (_ext_blob(fi=struct.pack("<I", 4)), "record size 4"),
    (_ext_blob(fi=struct.pack("<I", 8) + _sec(1, 0, b"")), "has no records"),
    (_ext_blob(fi=struct.pack("<I", 8) + _sec(1, 5, bytes(8))), "needs 5 records"),
    (_ext_blob(fi=struct.pack("<I", 8) + _sec(999, 1, bytes(8))), "section name: string"),
    (_ext_blob(fi=struct.pack("<I", 8) + _sec(1, 1, struct.pack("<II", 0, 77))),
     "type id 77 out of range"),
    (_ext_blob(li=struct.pack("<I", 16) + _sec(1, 1, struct.pack("<IIII", 0, 999, 0, 0))),
     "line_info 'sec' #0: string offset"),
    (_ext_blob(cr=struct.pack("<I", 16) + _sec(1, 1, struct.pack("<IIII", 0, 1, 0, 13))),
     "unknown relocation kind 13"),
    (_ext_blob(cr=struct.pack("<I", 16) + _sec(1, 1, struct.pack("<IIII", 0, 1, 999, 0))),
     "access string"),
    (_ext_blob(fi=struct.pack("<I", 8) + _sec(1, 1, bytes(8)))[:-4], "past the end|needs"),
    (_ext_blob(fi=struct.pack("<I", 8) + b"\1\0\0"), "truncated section header"),
])
def test_malformed(small: Builder, blob: bytes, message: str) -> None:
    # string offset 1 is "int", a fine section name for these purposes
    with pytest.raises(BTFError, match=message):
        parse_ext(blob, small.btf)
