"""The xlated and jited renderings of pybpf.tools.progdump and the plain layouts of
pybpf.tools.bpftoolview, without the kernel: bpftool's spelling of the kernel-internal
forms, and any bytes at all rendered without an exception."""

from __future__ import annotations

import struct

from hypothesis import example, given, settings, strategies as st

from pybpf.isa import Instruction
from pybpf.kernel.info import LineRecord, ProgDetail
from pybpf.kernel.progs import ProgInfo
from pybpf.tools.bpftoolview import format_btf, format_map, format_prog
from pybpf.tools.progdump import (format_jited, format_xlated, insn_text, jited_dump,
                                  xlated_json, xlated_lines)


def _none(imm: int) -> str | None:
    return None


def test_kernel_internal_forms_as_bpftool_prints_them() -> None:
    t = lambda insn, **kw: insn_text(insn, {40: "sub"}, 0, _none, **kw)  # noqa: E731
    assert t(Instruction(0x18, 1, 1, 0, 170669, 0)) == "(18) r1 = map[id:170669]"
    assert t(Instruction(0x18, 2, 2, 0, 12, 8)) == "(18) r2 = map[id:12][0]+8"
    assert t(Instruction(0x18, 3, 0, 0, -1, 0)) == "(18) r3 = 0xffffffff"
    assert t(Instruction(0x85, 0, 0, 0, 5)) == "(85) call bpf_ktime_get_ns#5"
    assert t(Instruction(0x85, 0, 0, 0, 269488)) == "(85) call unknown#269488"
    assert insn_text(Instruction(0x85, 0, 0, 0, 269488), {}, 0,
                     lambda imm: "bpf_ktime_get_ns") == "(85) call bpf_ktime_get_ns#269488"
    # bpf-to-bpf: the pc offset is in imm, or in off once JIT-compiled
    assert t(Instruction(0x85, 0, 1, 0, 39)) == "(85) call pc+39#sub"
    assert t(Instruction(0x85, 0, 1, 39, 1), jited=True) == "(85) call pc+39#sub"
    assert t(Instruction(0x85, 0, 2, 0, 77)) == "(85) call kernel-function#77"
    assert t(Instruction(0xBF, 0, 0, -1, 0)) == "(bf) r0 = &(void __percpu *)(r0)"
    assert t(Instruction(0x05, 0, 0, 3, 0)) == "(05) goto pc+3"
    assert t(Instruction(0x15, 0, 0, -4, 0)) == "(15) if r0 == 0x0 goto pc-4"
    assert t(Instruction(0x79, 2, 1, 8, 0)) == "(79) r2 = *(u64 *)(r1 +8)"
    assert t(Instruction(0xFF, 0, 0, 0, 0)).startswith("(ff) unknown instruction")


def _detail(code: bytes, **kw: object) -> ProgDetail:
    info = ProgInfo(type=6, id=1, tag="00" * 8, name="p", jited_prog_len=len(kw.get(
        "jited", b"")), xlated_prog_len=len(code), load_time=0, created_by_uid=0,
        map_ids=[], gpl_compatible=True, run_time_ns=0, run_cnt=0, recursion_misses=0,
        verified_insns=0, btf_id=0, ifindex=0, attach_btf_id=0, attach_btf_obj_id=0,
        xlated_insns=code, jited_insns=kw.get("jited", b""))  # type: ignore[arg-type]  # bytes
    return ProgDetail(info, None, [(0, 1)], [LineRecord(0, 0, 0, 0)],
                      kw.get("lens", []))  # type: ignore[arg-type]  # list[int]


def test_xlated_layout_and_json() -> None:
    code = (struct.pack("<BBhi", 0xB7, 0, 0, 0) + struct.pack("<BBhi", 0x18, 0x11, 0, 3)
            + struct.pack("<BBhi", 0, 0, 0, 0) + struct.pack("<BBhi", 0x95, 0, 0, 0))
    lines = xlated_lines(_detail(code))
    assert [ln.pc for ln in lines] == [0, 1, 3]
    text = format_xlated(lines, opcodes=True)
    assert text.splitlines() == ["   0: (b7) r0 = 0", "       b7 00 00 00 00 00 00 00",
                                 "   1: (18) r1 = map[id:3]", "       18 11 00 00 03 00 00 00",
                                 "       00 00 00 00 00 00 00 00", "   3: (95) exit",
                                 "       95 00 00 00 00 00 00 00"]
    js = xlated_json(lines, opcodes=True)
    assert js[1]["disasm"] == "(18) r1 = map[id:3]" and js[1]["opcodes"]["code"] == "0x18"
    assert "src" not in js[0]  # no BTF to read the line from


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
@example(bytes([0x18]) + bytes(7))  # a lone lddw slot: shown as invalid, not an exception
def test_any_bytes_render(data: bytes) -> None:
    code = data[:len(data) // 8 * 8]
    lines = xlated_lines(_detail(code))
    assert len(format_xlated(lines)) > 0 and len(xlated_json(lines)) == len(lines)


def test_jited_hex_and_split_per_function() -> None:
    d = _detail(b"", jited=bytes(range(40)), lens=[24, 16])
    dump = jited_dump(d, use_disassembler=False)
    assert [len(f["bytes"]) for f in dump["functions"]] == [24, 16]
    text = format_jited(dump)
    assert text.startswith("; hex bytes, as asked: the ")
    assert "   0:\t00 01 02" in text and "  10:\t10 11 12 13 14 15 16 17" in text
    bad = jited_dump(_detail(b"", jited=bytes(8), lens=[3, 3]), use_disassembler=False)
    assert [len(f["bytes"]) for f in bad["functions"]] == [8]  # lengths that do not add up


def test_plain_layouts() -> None:
    prog = {"id": 7, "type": "xdp", "name": "fw", "tag": "ab" * 8, "gpl_compatible": True,
            "run_time_ns": 10, "run_cnt": 2, "bytes_xlated": 16, "jited": False,
            "bytes_memlock": 4096, "map_ids": [1, 2], "btf_id": 9}
    assert format_prog(prog).splitlines() == [
        "7: xdp  name fw  tag abababababababab  gpl run_time_ns 10 run_cnt 2",
        "\txlated 16B  not jited  memlock 4096B  map_ids 1,2", "\tbtf_id 9"]
    m = {"id": 3, "type": "prog_array", "flags": 0, "bytes_key": 4, "bytes_value": 4,
         "max_entries": 2, "bytes_memlock": 0, "owner_prog_type": "xdp", "owner_jited": True,
         "frozen": 0}
    assert format_map(m).splitlines() == [
        "3: prog_array  flags 0x0", "\tkey 4B  value 4B  max_entries 2  memlock 0B",
        "\towner_prog_type xdp  owner jited"]
    assert format_btf({"id": 1, "size": 10, "prog_ids": [], "map_ids": [4], "kernel": True,
                       "name": "vmlinux"}) == "1: name [vmlinux]  size 10B  map_ids 4"
