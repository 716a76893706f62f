"""CO-RE relocations: every kind on hand-built local/target BTFs (flavors, anonymous
members, arrays, bitfields, compatibility rules, ambiguity, failures), instruction
patching, and clang-compiled programs relocated against the running kernel's BTF: the
values are checked against clang's own offsetof() over bpftool's vmlinux.h, and the
patched programs run in the kernel."""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import pytest

from pybpf.btf import (
    POISON_HELPER_ID, Btf, BTFError, Builder, CoreError, CoreRelo, CoreRelocator,
    CoreReloKind, CoreResult, Int, Member, PatchError, Struct, essential_name, patch_insn,
    relocate,
)
from pybpf.kernel import ProgType, prog_load, prog_test_run

from .conftest import Obj

K = CoreReloKind


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, src << 4 | dst, off, imm)


@pytest.mark.parametrize("name, want", [
    ("task_struct___v2", "task_struct"), ("task_struct", "task_struct"),
    ("a___b", "a"), ("foo___bar___baz", "foo___bar"), ("foo____bar", "foo____bar"),
    ("___foo", "___foo"), ("foo___", "foo___"), ("x___1", "x"), ("", ""),
])
def test_essential_name(name: str, want: str) -> None:
    assert essential_name(name) == want


# --- hand-built BTFs ------------------------------------------------------------------------------

class Pair:
    """A local (program) and a target (kernel) BTF built side by side."""

    def __init__(self) -> None:
        self.l = Builder()
        self.t = Builder()
        self.li = self.l.int("int", 4, True)
        self.lu = self.l.int("unsigned int", 4)
        self.ti = self.t.int("int", 4, True)
        self.tu = self.t.int("unsigned int", 4)
        self.tu64 = self.t.int("unsigned long long", 8)
        self.ts64 = self.t.int("long long", 8, True)

    def rel(self, type_id: int, access: str, kind: CoreReloKind) -> CoreResult:
        return relocate(self.l.btf, CoreRelo(0, type_id, access, kind), self.t.btf)


@pytest.fixture
def p() -> Pair:
    return Pair()


def test_field_offsets_follow_names(p: Pair) -> None:
    # local: struct task___x { int pid; unsigned int flags; }
    local = p.l.struct("task___x", [("pid", p.li), ("flags", p.lu)])
    # target: flags first, pid inside an anonymous union, behind padding
    anon = p.t.union("", [("pid", p.ti), ("tgid_alias", p.ti)])
    p.t.struct("task", [("flags", p.tu), ("pad", p.tu64), ("", anon)])
    r = p.rel(local, "0:0", K.FIELD_BYTE_OFFSET)
    assert (r.orig_val, r.new_val, r.poison) == (0, 16, False)
    assert (r.orig_size, r.new_size, r.fail_memsz_adjust) == (4, 4, False)
    assert r.local_spec == "[3] struct task___x.pid (0:0 @ offset 0)"
    assert r.target_spec == "[6] struct task.pid (0:2:0 @ offset 16)"
    assert p.rel(local, "0:1", K.FIELD_BYTE_OFFSET).new_val == 0
    assert p.rel(local, "0:1", K.FIELD_BYTE_SIZE).new_val == 4
    assert p.rel(local, "0:0", K.FIELD_EXISTS).new_val == 1
    assert p.rel(local, "0:0", K.FIELD_SIGNED).new_val == 1
    assert p.rel(local, "0:1", K.FIELD_SIGNED).new_val == 0
    assert p.rel(local, "0:0", K.FIELD_RSHIFT_U64).new_val == 32
    assert p.rel(local, "0:0", K.FIELD_LSHIFT_U64).new_val == 32
    # the root index is pointer arithmetic on the whole struct: p[1].flags
    assert p.rel(local, "1:1", K.FIELD_BYTE_OFFSET).new_val == 24
    assert p.rel(local, "1", K.FIELD_BYTE_OFFSET).new_val == 24


def test_missing_and_incompatible_fields(p: Pair) -> None:
    local = p.l.struct("s", [("gone", p.li), ("changed", p.li), ("ok", p.li)])
    inner = p.t.struct("inner", [("x", p.ti)])
    p.t.struct("s", [("changed", inner), ("ok", p.ti)])
    for access in ("0:0", "0:1"):  # no such field / a struct where the program has an int
        r = p.rel(local, access, K.FIELD_BYTE_OFFSET)
        assert r.poison and not r.found and r.orig_val == int(access[-1]) * 4
        assert p.rel(local, access, K.FIELD_EXISTS).new_val == 0
        assert p.rel(local, access, K.FIELD_BYTE_SIZE).poison
    assert p.rel(local, "0:2", K.FIELD_BYTE_OFFSET).new_val == 4
    assert p.rel(local, "0:2", K.FIELD_BYTE_OFFSET).candidates == (p.t.btf.find_one("s"),)


def test_type_not_found(p: Pair) -> None:
    local = p.l.struct("nowhere___x", [("a", p.li)])
    r = p.rel(local, "0:0", K.FIELD_BYTE_OFFSET)
    assert r.poison and r.candidates == ()
    assert p.rel(local, "0", K.TYPE_EXISTS).new_val == 0
    assert p.rel(local, "0", K.TYPE_SIZE).new_val == 0
    assert p.rel(local, "0", K.TYPE_ID_TARGET).new_val == 0
    assert p.rel(local, "0", K.TYPE_MATCHES).new_val == 0
    r = p.rel(local, "0", K.TYPE_ID_LOCAL)
    assert (r.orig_val, r.new_val, r.validate) == (local, local, False)


def test_arrays_nested_and_flexible(p: Pair) -> None:
    lpt = p.l.struct("point", [("x", p.li), ("y", p.li)])
    local = p.l.struct("shape", [("n", p.li), ("pts", p.l.array(lpt, 4)),
                                 ("tail", p.l.array(p.li, 0))])
    tpt = p.t.struct("point", [("y", p.ti), ("x", p.ti), ("z", p.ti)])
    p.t.struct("shape", [("pts", p.t.array(tpt, 8)), ("n", p.tu64),
                         ("tail", p.t.array(p.ti, 0))])
    r = p.rel(local, "0:1:2:1", K.FIELD_BYTE_OFFSET)  # shape->pts[2].y
    assert (r.orig_val, r.new_val) == (4 + 2 * 8 + 4, 2 * 12 + 0)
    r = p.rel(local, "0:1:3", K.FIELD_BYTE_OFFSET)  # &shape->pts[3]: an array element
    assert (r.orig_val, r.new_val, r.orig_size, r.new_size) == (28, 36, 8, 12)
    assert p.rel(local, "0:1:3", K.FIELD_BYTE_SIZE).new_val == 12
    assert p.rel(local, "0:1", K.FIELD_BYTE_SIZE).new_val == 96
    r = p.rel(local, "0:2:5", K.FIELD_BYTE_OFFSET)  # flexible array: any index
    assert r.new_val == 96 + 8 + 20
    with pytest.raises(CoreError, match="cannot apply to an array element"):
        p.rel(local, "0:1:3", K.FIELD_SIGNED)
    with pytest.raises(CoreError, match="index 4 out of array"):
        p.rel(local, "0:1:4", K.FIELD_BYTE_OFFSET)
    # the n field got wider and unsigned: an int load cannot simply be resized
    r = p.rel(local, "0:0", K.FIELD_BYTE_OFFSET)
    assert (r.orig_size, r.new_size, r.fail_memsz_adjust) == (4, 8, True)


def test_target_array_too_short(p: Pair) -> None:
    local = p.l.struct("buf", [("data", p.l.array(p.li, 16))])
    p.t.struct("buf", [("data", p.t.array(p.ti, 4))])
    assert p.rel(local, "0:0:3", K.FIELD_BYTE_OFFSET).new_val == 12
    assert p.rel(local, "0:0:9", K.FIELD_BYTE_OFFSET).poison
    assert p.rel(local, "0:0:9", K.FIELD_EXISTS).new_val == 0


def test_bitfields(p: Pair) -> None:
    local = p.l.struct("flags", [("a", p.lu, 1), ("b", p.li, 3)])
    p.t.struct("flags", [("pad", p.tu64), ("x", p.tu, 30), ("b", p.ti, 3), ("a", p.tu, 1)],
               packed=True)
    # target: x bits 64..93, b bits 94..96 (crosses the 4-byte unit), a bit 97
    r = {k: p.rel(local, "0:1", k) for k in (K.FIELD_BYTE_OFFSET, K.FIELD_BYTE_SIZE,
                                             K.FIELD_LSHIFT_U64, K.FIELD_RSHIFT_U64,
                                             K.FIELD_SIGNED)}
    assert r[K.FIELD_BYTE_OFFSET].new_val == 8 and r[K.FIELD_BYTE_SIZE].new_val == 8
    assert r[K.FIELD_LSHIFT_U64].new_val == 64 - (94 + 3 - 64)
    assert r[K.FIELD_RSHIFT_U64].new_val == 61 and r[K.FIELD_SIGNED].new_val == 1
    assert not r[K.FIELD_BYTE_OFFSET].validate  # bitfield loads are compiler-specific
    a = p.rel(local, "0:0", K.FIELD_LSHIFT_U64)
    assert (a.orig_val, a.new_val) == (63, 64 - (97 + 1 - 96))
    assert p.rel(local, "0:0", K.FIELD_BYTE_OFFSET).new_val == 12
    assert p.rel(local, "0:0", K.FIELD_SIGNED).new_val == 0
    # a bitfield no 64-bit load can cover: 60 bits starting at bit 8
    loc2 = p.l.struct("wide", [("w", p.l.int("unsigned long long", 8), 60)])
    p.t.btf.add(Struct("wide", 16, (Member("w", p.tu64, 8, 60),)))
    with pytest.raises(CoreError, match="cannot be read with a 64-bit load"):
        p.rel(loc2, "0:0", K.FIELD_BYTE_OFFSET)


def test_type_relocations(p: Pair) -> None:
    ls = p.l.struct("obj___mine", [("a", p.li)])
    lt = p.l.typedef("obj_t___mine", p.l.ptr(ls))
    p.t.int("filler", 4)
    ts = p.t.struct("obj", [("a", p.ti), ("b", p.ti)])
    tt = p.t.typedef("obj_t", p.t.ptr(ts))
    assert p.rel(ls, "0", K.TYPE_EXISTS).new_val == 1
    assert p.rel(ls, "0", K.TYPE_SIZE).new_val == 8
    r = p.rel(ls, "0", K.TYPE_ID_TARGET)
    assert (r.orig_val, r.new_val, r.validate) == (ls, ts, False)
    assert p.rel(lt, "0", K.TYPE_ID_TARGET).new_val == tt
    assert p.rel(lt, "0", K.TYPE_SIZE).new_val == 8
    with pytest.raises(CoreError, match="needs access string '0'"):
        p.rel(ls, "0:0", K.TYPE_EXISTS)
    # a function pointer typedef: arity, params and return type are compared
    lfp = p.l.typedef("cb", p.l.ptr(p.l.func_proto(p.li, [("x", p.li)])))
    p.t.typedef("cb", p.t.ptr(p.t.func_proto(p.ti, [("x", p.ti), ("y", p.ti)])))
    assert p.rel(lfp, "0", K.TYPE_EXISTS).new_val == 0
    lfp2 = p.l.typedef("cb2", p.l.ptr(p.l.func_proto(p.li, [("x", p.l.ptr(ls))])))
    p.t.typedef("cb2", p.t.ptr(p.t.func_proto(p.ti, [("q", p.t.ptr(ts))])))
    assert p.rel(lfp2, "0", K.TYPE_EXISTS).new_val == 1
    lint = p.l.typedef("weird", p.li)
    p.t.typedef("weird", p.t.btf.add(Int("bits", 4, bits=5, offset=3)))
    assert p.rel(lint, "0", K.TYPE_EXISTS).new_val == 0  # bit-offset ints never match


def test_type_matches(p: Pair) -> None:
    B = p.l
    u16 = B.int("unsigned short", 2)
    col = B.enum("color___v1", ["RED", "GREEN"])
    fwd = B.fwd("opaque")
    m1 = B.struct("shape___v1", [("c", col), ("n", p.li), ("o", B.ptr(fwd))])
    m2 = B.struct("shape___v2", [("n", u16)])  # size differs
    m3 = B.struct("shape___v3", [("missing", p.li)])
    m4 = B.struct("shape___v4", [("n", p.lu)])  # signedness differs
    T = p.t
    tcol = T.enum("color", ["BLUE", "GREEN", "RED"])
    topq = T.struct("opaque", [("x", p.ti)])
    T.struct("shape", [("n", p.ti), ("o", T.ptr(topq)), ("c", tcol), ("extra", p.ti)])
    assert p.rel(m1, "0", K.TYPE_MATCHES).new_val == 1
    assert p.rel(m1, "0", K.TYPE_EXISTS).new_val == 1
    for m in (m2, m3, m4):
        assert p.rel(m, "0", K.TYPE_MATCHES).new_val == 0
        assert p.rel(m, "0", K.TYPE_EXISTS).new_val == 1  # names are enough to exist
    lcol2 = B.enum("color___v2", ["PURPLE"])
    assert p.rel(lcol2, "0", K.TYPE_MATCHES).new_val == 0
    assert p.rel(col, "0", K.TYPE_MATCHES).new_val == 1


def test_enum_values(p: Pair) -> None:
    le = p.l.enum("mode___x", ["OFF___x", "ON___x", "GONE"])
    p.t.enum("mode", {"ON": 7, "OFF": -2})
    r = p.rel(le, "1", K.ENUMVAL_VALUE)
    assert (r.orig_val, r.new_val) == (1, 7)
    assert p.rel(le, "0", K.ENUMVAL_VALUE).new_val == (1 << 64) - 2  # s32 widened
    assert p.rel(le, "1", K.ENUMVAL_EXISTS).new_val == 1
    assert p.rel(le, "2", K.ENUMVAL_EXISTS).new_val == 0
    assert p.rel(le, "2", K.ENUMVAL_VALUE).poison
    l64 = p.l.enum("big", {"HUGE": 1 << 40})
    p.t.enum("big", {"HUGE": 1 << 50, "X": 1})  # ENUM64 in the target too
    assert p.rel(l64, "0", K.ENUMVAL_VALUE).new_val == 1 << 50
    with pytest.raises(CoreError, match="enumerator 3 out of range"):
        p.rel(le, "3", K.ENUMVAL_EXISTS)
    with pytest.raises(CoreError, match="not an enum"):
        p.rel(p.li, "0", K.ENUMVAL_EXISTS)


def test_candidates_and_ambiguity(p: Pair) -> None:
    local = p.l.struct("dup", [("a", p.li)])
    t1 = p.t.struct("dup___1", [("a", p.ti)])
    t2 = p.t.struct("dup___2", [("b", p.ti), ("a", p.ti)])
    p.t.union("dup", [("a", p.ti)])  # another kind: not a candidate
    rl = CoreRelocator(p.l.btf, p.t.btf)
    assert rl.candidates(local) == [t1, t2]
    with pytest.raises(CoreError, match="field offset ambiguity"):
        rl.relocate(CoreRelo(0, local, "0:0", K.FIELD_BYTE_OFFSET))
    r = rl.relocate(CoreRelo(0, local, "0", K.TYPE_EXISTS))  # both candidates agree
    assert r.new_val == 1 and r.candidates == (t1, t2)
    with pytest.raises(CoreError, match=r"candidates \[\d+\] and \[\d+\] give different "
                                        r"results: 4 != 8"):
        rl.relocate(CoreRelo(0, local, "0", K.TYPE_SIZE))
    anon = p.l.struct("", [("a", p.li)])
    with pytest.raises(CoreError, match="anonymous type"):
        rl.relocate(CoreRelo(0, anon, "0:0", K.FIELD_BYTE_OFFSET))
    with pytest.raises(CoreError, match="bad access string"):
        rl.relocate(CoreRelo(0, local, "0:x", K.FIELD_BYTE_OFFSET))
    with pytest.raises(CoreError, match="member 5 of"):
        rl.relocate(CoreRelo(0, local, "0:5", K.FIELD_BYTE_OFFSET))
    with pytest.raises(CoreError, match="out of range"):
        rl.relocate(CoreRelo(0, 999, "0", K.TYPE_SIZE))
    assert issubclass(CoreError, BTFError)


# --- patching ------------------------------------------------------------------------------------

def _res(kind: CoreReloKind, orig: int, new: int, **kw) -> CoreResult:  # type: ignore
    return CoreResult(kind, orig, new, **kw)


def test_patch_alu_ldx_st_lddw() -> None:
    code = bytearray(insn(0xB7, 1, imm=24) + insn(0x61, 0, 1, off=24) + insn(0x62, 1, off=8,
                     imm=5) + insn(0x18, 2, imm=3) + insn(0) + insn(0x95))
    patch_insn(code, 0, _res(K.FIELD_BYTE_OFFSET, 24, 1268))
    assert code[:8] == insn(0xB7, 1, imm=1268)
    patch_insn(code, 1, _res(K.FIELD_BYTE_OFFSET, 24, 4000, orig_size=4, new_size=8))
    assert code[8:16] == insn(0x79, 0, 1, off=4000)  # u32 load became a u64 load
    patch_insn(code, 2, _res(K.FIELD_BYTE_OFFSET, 8, 12, orig_size=4, new_size=2))
    assert code[16:24] == insn(0x6A, 1, off=12, imm=5)
    patch_insn(code, 3, _res(K.ENUMVAL_VALUE, 3, (1 << 64) - 2))
    assert code[24:40] == insn(0x18, 2, imm=-2) + insn(0, imm=-1)
    with pytest.raises(PatchError, match="insn #0: immediate is 1268, the relocation "
                                         "expected 24"):
        patch_insn(code, 0, _res(K.FIELD_BYTE_OFFSET, 24, 1))
    patch_insn(code, 0, _res(K.TYPE_ID_TARGET, 24, 7, validate=False))
    assert code[:8] == insn(0xB7, 1, imm=7)
    with pytest.raises(PatchError, match="does not fit a 32-bit immediate"):
        patch_insn(code, 0, _res(K.ENUMVAL_VALUE, 7, 1 << 40))
    with pytest.raises(PatchError, match="offset is 4000"):
        patch_insn(code, 1, _res(K.FIELD_BYTE_OFFSET, 24, 1))
    with pytest.raises(PatchError, match="does not fit the 16-bit"):
        patch_insn(code, 1, _res(K.FIELD_BYTE_OFFSET, 4000, 40000))
    with pytest.raises(PatchError, match="accesses 8 bytes, the relocated field was 4"):
        patch_insn(code, 1, _res(K.FIELD_BYTE_OFFSET, 4000, 8, orig_size=4, new_size=2))
    with pytest.raises(PatchError, match="no load/store of 3 bytes"):
        patch_insn(code, 1, _res(K.FIELD_BYTE_OFFSET, 4000, 8, orig_size=8, new_size=3))
    with pytest.raises(PatchError, match="lddw immediate"):
        patch_insn(code, 3, _res(K.ENUMVAL_VALUE, 3, 1))
    with pytest.raises(PatchError, match="class 5"):
        patch_insn(code, 5, _res(K.FIELD_BYTE_OFFSET, 0, 1))
    with pytest.raises(PatchError, match="out of the program"):
        patch_insn(code, 6, _res(K.FIELD_BYTE_OFFSET, 0, 1))
    bad = bytearray(insn(0x0F, 1, 2) + insn(0x18, 1, 1) + insn(0) + insn(0x18))
    with pytest.raises(PatchError, match="no immediate"):
        patch_insn(bad, 0, _res(K.FIELD_BYTE_OFFSET, 0, 1))
    with pytest.raises(PatchError, match="unexpected form"):
        patch_insn(bad, 1, _res(K.FIELD_BYTE_OFFSET, 0, 1, validate=False))
    with pytest.raises(PatchError, match="without its second half"):
        patch_insn(bad, 3, _res(K.FIELD_BYTE_OFFSET, 0, 1))


def test_patch_poison() -> None:
    call = insn(0x85, imm=POISON_HELPER_ID)
    code = bytearray(insn(0x61, 0, 1, off=8) + insn(0x18, 1, imm=1) + insn(0) + insn(0x95))
    patch_insn(code, 0, _res(K.FIELD_BYTE_OFFSET, 8, 0, poison=True))
    patch_insn(code, 1, _res(K.ENUMVAL_VALUE, 1, 0, poison=True))
    assert code == bytearray(call * 3 + insn(0x95))
    code = bytearray(insn(0x61, 0, 1, off=8))
    patch_insn(code, 0, _res(K.FIELD_BYTE_OFFSET, 8, 16, orig_size=4, new_size=8,
                             fail_memsz_adjust=True))
    assert code == bytearray(call)


def test_apply_records(p: Pair) -> None:
    local = p.l.struct("s", [("a", p.li), ("b", p.li)])
    p.t.struct("s", [("b", p.ti), ("x", p.ti), ("a", p.ti)])
    code = bytearray(insn(0x61, 0, 1, off=0) + insn(0x61, 2, 1, off=4) + insn(0x95))
    rl = CoreRelocator(p.l.btf, p.t.btf)
    relos = [CoreRelo(80, local, "0:0", K.FIELD_BYTE_OFFSET),
             CoreRelo(88, local, "0:1", K.FIELD_BYTE_OFFSET)]
    res = rl.apply(code, relos, insn_off_base=80)
    assert [r.new_val for r in res] == [8, 0]
    assert code[:16] == insn(0x61, 0, 1, off=8) + insn(0x61, 2, 1, off=0)
    with pytest.raises(PatchError, match="not an instruction boundary"):
        rl.apply(code, [CoreRelo(84, local, "0:0", K.FIELD_BYTE_OFFSET)], insn_off_base=80)


def test_target_as_blob_or_file(p: Pair, tmp_path: Path) -> None:
    local = p.l.struct("s", [("a", p.li)])
    p.t.struct("s", [("x", p.tu64), ("a", p.ti)])
    relo = CoreRelo(0, local, "0:0", K.FIELD_BYTE_OFFSET)
    blob = p.t.btf.to_bytes()
    (tmp_path / "target.btf").write_bytes(blob)
    assert relocate(p.l.btf, relo, blob).new_val == 8
    assert relocate(p.l.btf, relo, str(tmp_path / "target.btf")).new_val == 8
    assert relocate(p.l.btf, relo, tmp_path / "target.btf").new_val == 8
    with pytest.raises(BTFError, match="bad BTF magic"):
        relocate(p.l.btf, relo, b"\0" * 32)


def test_split_target(p: Pair) -> None:
    local = p.l.struct("mod_s", [("v", p.li)])
    split = Builder(Btf(p.t.btf))
    sid = split.struct("mod_s", [("pad", p.tu64), ("v", p.ti)])
    r = relocate(p.l.btf, CoreRelo(0, local, "0:0", K.FIELD_BYTE_OFFSET), split.btf)
    assert (r.new_val, r.candidates) == (8, (sid,))


# --- clang objects against the running kernel --------------------------------------------------

def _programs(obj: Obj) -> list[tuple[str, str, int, bytes]]:
    """(section, name, byte offset, code) of each program, from func_info."""
    out = []
    for sec, fis in obj.ext.func_info.items():
        code = obj.elf.sections[sec]
        starts = sorted(fi.insn_off for fi in fis)
        for fi in sorted(fis, key=lambda f: f.insn_off):
            nxt = [s for s in starts if s > fi.insn_off]
            end = nxt[0] if nxt else len(code)
            out.append((sec, obj.btf[fi.type_id].name, fi.insn_off, code[fi.insn_off:end]))
    return out


@pytest.fixture(scope="module")
def kernel_truth(vmlinux: Btf, bpftool: str, clang: str,
                 tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """Offsets, sizes and values clang computes from bpftool's C dump of the kernel."""
    tmp = tmp_path_factory.mktemp("truth")
    header = subprocess.run([bpftool, "btf", "dump", "file", "/sys/kernel/btf/vmlinux",
                             "format", "c"], check=True, capture_output=True,
                            text=True).stdout
    (tmp / "vmlinux.h").write_text(header)
    exprs = {
        "tgid": "__builtin_offsetof(struct task_struct, tgid)",
        "pid": "__builtin_offsetof(struct task_struct, pid)",
        "real_parent": "__builtin_offsetof(struct task_struct, real_parent)",
        "comm": "__builtin_offsetof(struct task_struct, comm)",
        "comm_size": "sizeof(((struct task_struct *)0)->comm)",
        "children_prev": "__builtin_offsetof(struct task_struct, children.prev)",
        "task_size": "sizeof(struct task_struct)",
        "skb_len": "__builtin_offsetof(struct __sk_buff, len)",
        "skb_protocol": "__builtin_offsetof(struct __sk_buff, protocol)",
        "get_current_task": "BPF_FUNC_get_current_task",
    }
    src = '#include "vmlinux.h"\n' + "".join(
        f"unsigned long long v_{k} = {e};\n" for k, e in exprs.items())
    (tmp / "t.c").write_text(src)
    out = tmp / "t.o"
    subprocess.run([clang, "-O2", "-target", "bpf", "-c", str(tmp / "t.c"), "-o", str(out)],
                   check=True, capture_output=True)
    from .elfutil import read_elf
    elf = read_elf(out)
    truth = {}
    for s in elf.symbols:
        if s.name.startswith("v_"):
            data = elf.sections[s.section or ""] or bytes(elf.sizes[s.section or ""])  # .bss
            truth[s.name[2:]] = struct.unpack_from("<Q", data, s.value)[0]
    assert set(truth) == set(exprs)
    # the bitfield: its bit offset from bpftool's raw listing of task_struct
    raw = subprocess.run([bpftool, "btf", "dump", "file", "/sys/kernel/btf/vmlinux"],
                         check=True, capture_output=True, text=True).stdout
    ts = raw[raw.index("] STRUCT 'task_struct' "):]
    line = next(x for x in ts.splitlines() if x.startswith("\t'sched_migrated' "))
    truth["sched_migrated_bit"] = int(line.split("bits_offset=")[1].split()[0])
    truth["task_struct_id"] = int(raw[:raw.index("] STRUCT 'task_struct' ")].rsplit("[", 1)[1])
    return truth


def test_core_object_against_vmlinux(core_obj: Obj, vmlinux: Btf,
                                     kernel_truth: dict[str, int]) -> None:
    rl = CoreRelocator(core_obj.btf, vmlinux)
    got: dict[tuple[str, str], list[int]] = {}
    for relos in core_obj.ext.core_relos.values():
        for relo in relos:
            r = rl.relocate(relo)
            got.setdefault((relo.access, relo.kind.name), []).append(
                -1 if r.poison else r.new_val)
    T = kernel_truth
    bit = T["sched_migrated_bit"]
    byte_off = bit // 8 // 4 * 4
    assert got[("0:3", "FIELD_BYTE_OFFSET")] == [T["tgid"], T["tgid"]]
    assert got[("0:4", "FIELD_BYTE_OFFSET")] == [-1, T["pid"]]  # skb field missing, task pid
    assert got[("0:5", "FIELD_BYTE_OFFSET")] == [T["real_parent"]]
    assert got[("0:0:0", "FIELD_BYTE_OFFSET")] == [T["comm"]]
    assert got[("0:0", "FIELD_BYTE_SIZE")] == [T["comm_size"]]
    assert got[("0:6:1", "FIELD_BYTE_OFFSET")] == [T["children_prev"]]
    assert got[("0:2", "FIELD_BYTE_OFFSET")] == [T["skb_len"]]
    assert got[("0:0", "FIELD_BYTE_OFFSET")] == [T["skb_protocol"]]
    assert got[("0:4", "FIELD_EXISTS")] == [0, 1]  # skb->no_such_field, task->pid
    assert got[("0:7", "FIELD_EXISTS")] == [0]
    assert got[("0:1", "FIELD_BYTE_OFFSET")] == [byte_off]
    assert got[("0:1", "FIELD_BYTE_SIZE")] == [4]
    assert got[("0:1", "FIELD_LSHIFT_U64")] == [64 - (bit + 1 - byte_off * 8)]
    assert got[("0:1", "FIELD_RSHIFT_U64")] == [63, 63]
    assert got[("0:1", "FIELD_SIGNED")] == [0]
    assert got[("0", "TYPE_EXISTS")] == [1, 0, 1]  # task_struct, no_such_type, pid_t
    assert got[("0", "TYPE_SIZE")] == [T["task_size"]]
    assert got[("0", "TYPE_ID_TARGET")] == [T["task_struct_id"]]
    assert got[("0", "TYPE_ID_LOCAL")] == [core_obj.btf.find_one("task_struct___local")]
    assert got[("0", "ENUMVAL_EXISTS")] == [1]
    assert got[("1", "ENUMVAL_EXISTS")] == [0]
    assert got[("0", "ENUMVAL_VALUE")] == [T["get_current_task"]]


def test_type_matches_against_vmlinux(core_obj: Obj, vmlinux: Btf) -> None:
    b = core_obj.btf
    rl = CoreRelocator(b, vmlinux)
    for name in ("task_struct___missing", "list_head___local"):
        r = rl.relocate(CoreRelo(0, b.find_one(name), "0", K.TYPE_MATCHES))
        assert r.new_val == 1, name
    # a local task_struct whose pid is 8 bytes wide does not match
    loc = Builder()
    bad = loc.struct("task_struct___bad", [("pid", loc.int("long", 8, True))])
    r = relocate(loc.btf, CoreRelo(0, bad, "0", K.TYPE_MATCHES), vmlinux)
    assert r.new_val == 0
    r = relocate(loc.btf, CoreRelo(0, bad, "0", K.TYPE_EXISTS), vmlinux)
    assert r.new_val == 1


@pytest.mark.kernel
def test_relocated_programs_run_in_kernel(core_obj: Obj, vmlinux: Btf,
                                          kernel_truth: dict[str, int]) -> None:
    rl = CoreRelocator(core_obj.btf, vmlinux)
    results: dict[str, int] = {}
    consts = 0
    for sec, name, start, raw in _programs(core_obj):
        code = bytearray(raw)
        relos = [r for r in core_obj.ext.core_relos.get(sec, [])
                 if start <= r.insn_off < start + len(raw)]
        res = rl.apply(code, relos, insn_off_base=start)
        if name == "all_kinds":
            consts = sum(r.new_val for r in res
                         if r.kind.name.startswith(("TYPE", "ENUMVAL", "FIELD_EXISTS"))
                         or (r.kind == K.FIELD_BYTE_OFFSET and r.validate)
                         or (r.kind == K.FIELD_BYTE_SIZE and r.validate))
        ptype = ProgType.SOCKET_FILTER if sec == "socket" else ProgType.RAW_TRACEPOINT
        prog = prog_load(ptype, bytes(code), name=name[:15])
        if sec == "socket":
            pkt = bytes.fromhex("ffffffffffff000000000001") + b"\x08\x00" + bytes(50)
            results[name] = prog_test_run(prog, pkt).retval
        else:
            results[name] = prog_test_run(prog, repeat=0).retval
        prog.close()
    # the same skb fields read at the UAPI offsets by a hand-written program
    ref = (insn(0x61, 2, 1, off=kernel_truth["skb_len"]) + insn(0x67, 2, imm=16)
           + insn(0x61, 0, 1, off=kernel_truth["skb_protocol"]) + insn(0x57, 0, imm=0xFFFF)
           + insn(0x4F, 0, 2) + insn(0x95))
    prog = prog_load(ProgType.SOCKET_FILTER, ref)
    pkt = bytes.fromhex("ffffffffffff000000000001") + b"\x08\x00" + bytes(50)
    assert results["skb_len_proto"] == prog_test_run(prog, pkt).retval
    prog.close()
    assert results["task_tgid"] == os.getpid()
    assert results["task_parent_tgid"] == os.getppid()
    with open("/proc/self/comm", "rb") as f:
        assert results["task_comm0"] == f.read()[0]
    assert results["all_kinds"] - consts in (0, 1)  # + the sched_migrated bit itself


@pytest.mark.kernel
def test_unrelocated_poison_is_rejected_when_reachable() -> None:
    code = bytearray(insn(0xB7, 0) + insn(0x61, 0, 1, off=0) + insn(0x95))
    patch_insn(code, 1, _res(K.FIELD_BYTE_OFFSET, 0, 0, poison=True))
    with pytest.raises(Exception, match="invalid func unknown#195896080"):
        prog_load(ProgType.SOCKET_FILTER, bytes(code))
