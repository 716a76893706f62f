"""Printing BTF: the raw listing against bpftool's (committed for the test objects, live
for the kernel's BTF), C names and declarations, single-type C definitions, and whole C
headers that clang compiles back to the same layouts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pybpf.btf import (
    Btf, BtfKind, Builder, Enum, Enum64, Enumerator, Member, Struct, Union_, dump_c, dump_raw,
    format_c, format_raw, parse, type_decl, type_name,
)

from .conftest import Obj
from .elfutil import DATA, read_elf


@pytest.mark.parametrize("name", ["kinds", "core"])
def test_raw_matches_committed_bpftool_listing(name: str) -> None:
    b = parse(read_elf(DATA / f"{name}.o").sections[".BTF"])
    assert dump_raw(b) == (DATA / f"{name}.btf.txt").read_text()


def test_raw_matches_bpftool_on_vmlinux(vmlinux: Btf, bpftool: str) -> None:
    ref = subprocess.run([bpftool, "btf", "dump", "file", "/sys/kernel/btf/vmlinux"],
                         check=True, capture_output=True, text=True).stdout
    mine = dump_raw(vmlinux)
    if mine != ref:  # show the first difference, not 5 MB
        for i, (a, b) in enumerate(zip(mine.splitlines(), ref.splitlines())):
            assert a == b, f"line {i + 1}"
    assert mine == ref
    assert ref.count("\n") > 100_000


def test_raw_formats_of_kinds_clang_lacks() -> None:
    b = Builder()
    e = b.btf.add(Enum64("s", 8, (Enumerator("NEG", -5), Enumerator("POS", 1 << 40)), True))
    u = b.btf.add(Enum64("u", 8, (Enumerator("MAX", 2**64 - 1),), False))
    assert format_raw(b.btf, e) == ("[1] ENUM64 's' encoding=SIGNED size=8 vlen=2\n"
                                    "\t'NEG' val=-5LL\n\t'POS' val=1099511627776LL")
    assert format_raw(b.btf, u).endswith("'MAX' val=18446744073709551615ULL")


def test_split_dump_lists_own_types() -> None:
    base = Builder()
    i = base.int("int", 4, True)
    split = Builder(Btf(base.btf))
    split.ptr(i)
    assert dump_raw(split.btf) == "[2] PTR '(anon)' type_id=1\n"
    assert dump_raw(split.btf, with_base=True).startswith("[1] INT 'int'")


def test_type_names(kinds_obj: Obj) -> None:
    b = kinds_obj.btf
    outer = b[b.find_one("outer", BtfKind.STRUCT)]
    assert isinstance(outer, Struct)
    decl = {m.name: type_decl(b, m.type, m.name) for m in outer.members if m.name}
    assert decl["cvp"] == "const volatile int *cvp"
    assert decl["rp"] == "int *restrict rp"
    assert decl["arr"] == "struct inner arr[2][3]"
    assert decl["fn"] == "void (*fn)(int, const char *)"
    assert decl["tagged"] == 'int __attribute__((btf_type_tag("user"))) *tagged'
    assert decl["up"] == "union fwd_union *up"
    assert decl["flex"] == "int flex[0]"
    assert type_name(b, outer.members[1].type) == "union (anon)"
    assert type_name(b, b.find_one("helper")) == "helper"
    assert type_name(b, b.find_one("data_var")) == "var data_var"
    assert type_name(b, 0) == "void"
    bb = Builder()
    i = bb.int("int", 4, True)
    pa = bb.ptr(bb.array(i, 4))
    assert type_name(bb.btf, pa) == "int (*)[4]"
    ap = bb.array(bb.ptr(i), 2)
    assert type_name(bb.btf, ap) == "int *[2]"
    assert type_name(bb.btf, bb.array(bb.array(i, 3), 2)) == "int[2][3]"
    fp = bb.ptr(bb.func_proto(bb.ptr(i), [("fmt", bb.ptr(bb.const(i)))], variadic=True))
    assert type_decl(bb.btf, fp, "f") == "int *(*f)(const int *fmt, ...)"
    cp = bb.const(bb.ptr(i))
    assert type_decl(bb.btf, cp, "p") == "int *const p"
    assert type_name(bb.btf, bb.func_proto(0)) == "void (void)"


def test_format_c(kinds_obj: Obj) -> None:
    b = kinds_obj.btf
    assert format_c(b, b.find_one("bits", BtfKind.STRUCT)) == (
        "struct bits {\n\tunsigned int a: 3;\n\tint b: 5;\n\tunsigned long long c: 40;\n"
        "\tunsigned char d;\n\t_Bool e: 1;\n\tenum color col: 8;\n};")
    assert format_c(b, b.find_one("inner", BtfKind.STRUCT)) == (
        "struct inner {\n\tint x;\n\tchar name[16];\n};")
    text = format_c(b, b.find_one("outer", BtfKind.STRUCT))
    assert "\tunion {\n\t\t__u32 u;\n\t\tfloat f;\n\t\tstruct {\n\t\t\t__u16 lo;\n" in text
    assert format_c(b, b.find_one("color")) == (
        "enum color {\n\tRED = 0,\n\tGREEN = 5,\n\tBLUE = 4294967295,\n};")
    assert format_c(b, b.find_one("u32_t")) == "typedef unsigned int u32_t;"
    assert format_c(b, b.find_one("helper")) == "static int helper(struct outer *o, int k);"
    assert format_c(b, b.find_one("bpf_rcu_read_lock")) == \
        "extern void bpf_rcu_read_lock(void);"
    assert format_c(b, b.find_one("static_var")) == "static int static_var;"
    assert format_c(b, b.find_one("fwd_union")) == "union fwd_union;"
    assert format_c(b, b.find_one(".rodata")) == (
        '/* SEC(".rodata") size 0 */\n'
        "const volatile int rodata_var; /* offset 0 size 4 */\n"
        "const volatile char rostr[8]; /* offset 0 size 8 */")
    bb = Builder()
    i8 = bb.int("char", 1, True)
    i64 = bb.int("long", 8, True)
    packed = bb.struct("p", [("c", i8), ("l", i64)], packed=True)
    assert format_c(bb.btf, packed) == \
        "struct p {\n\tchar c;\n\tlong l;\n} __attribute__((packed));"
    holes = bb.btf.add(Struct("h", 24, (Member("a", i8, 0), Member("b", i64, 128))))
    assert format_c(bb.btf, holes) == \
        "struct h {\n\tchar a;\n\tlong: 56;\n\tlong: 64;\n\tlong b;\n};"


def _compile(clang: str, tmp: Path, source: str, obj: bool = False) -> Path:
    src = tmp / "t.c"
    src.write_text(source)
    out = tmp / "t.o"
    args = [clang, "-O2", "-g", "-target", "bpf", "-Wno-everything"]
    args += ["-c", str(src), "-o", str(out)] if obj else ["-fsyntax-only", str(src)]
    proc = subprocess.run(args, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[:3000]
    return out


def _layout(b: Btf, type_id: int) -> tuple:
    t = b[type_id]
    assert isinstance(t, (Struct, Union_))
    return (t.size, tuple((m.name, m.offset, m.bitfield_size, type_name(b, m.type))
                          for m in t.members))


def test_dump_c_compiles_to_same_layouts(kinds_obj: Obj, clang: str, tmp_path: Path) -> None:
    b = kinds_obj.btf
    header = dump_c(b)
    uses = "".join(f"struct {n} use_{n};\n" for n in ("outer", "bits", "inner"))
    out = _compile(clang, tmp_path, header + uses, obj=True)
    got = parse(read_elf(out).sections[".BTF"])
    for name in ("outer", "bits", "inner"):
        assert _layout(got, got.find_one(name, BtfKind.STRUCT)) == \
            _layout(b, b.find_one(name, BtfKind.STRUCT))


def test_dump_c_vmlinux_layouts(vmlinux: Btf, clang: str, tmp_path: Path) -> None:
    """Every named struct/union of the kernel: size and named member offsets asserted by
    the compiler against our header (structs holding a va_list differ by target)."""
    header = dump_c(vmlinux)
    counts: dict[str, int] = {}
    for _, t in vmlinux.items():
        if isinstance(t, (Struct, Union_, Enum, Enum64)) and t.name:  # one tag namespace
            counts[t.name] = counts.get(t.name, 0) + 1
    asserts = ["#define A(c) _Static_assert(c, #c)"]
    va_list = set(vmlinux.find("va_list")) | set(vmlinux.find("__builtin_va_list"))
    n = 0
    for _, t in vmlinux.items():
        if not isinstance(t, (Struct, Union_)) or not t.name or counts[t.name] > 1:
            continue
        if any(m.type in va_list for m in t.members):
            continue
        kw = "struct" if isinstance(t, Struct) else "union"
        asserts.append(f"A(sizeof({kw} {t.name}) == {t.size});")
        for m in t.members:
            if m.name and not m.bitfield_size:
                asserts.append(f"A(__builtin_offsetof({kw} {t.name}, {m.name}) == "
                               f"{m.offset // 8});")
        n += 1
    assert n > 5_000
    _compile(clang, tmp_path, header + "\n".join(asserts) + "\n")


def _proto_chain(levels: int) -> tuple[Builder, int]:
    """FUNC_PROTOs each returning and taking pointers to the previous one: the C spelling
    doubles at each level (an 845-byte blob whose name has no end in practice)."""
    b = Builder()
    i = b.int("int", 4, signed=True)
    prev = b.func_proto(i, [("a", i)])
    for _ in range(levels):
        p = b.ptr(prev)
        prev = b.func_proto(p, [("a", p), ("b", p)])
    top = b.ptr(prev)
    b.typedef("bomb_t", top)  # something dump_c writes
    return b, top


def test_exponential_declarations_are_refused() -> None:
    from pybpf.btf import BTFError
    from pybpf.btf.dump import MAX_DECL_LEN
    b, top = _proto_chain(3)
    assert len(type_name(b.btf, top)) < 1000  # a short chain is spelled out
    b, top = _proto_chain(14)  # 40 MB of C before the bound: now refused at once
    with pytest.raises(BTFError, match=f"longer than {MAX_DECL_LEN}"):
        type_name(b.btf, top)
    with pytest.raises(BTFError):
        dump_c(b.btf)
    b, top = _proto_chain(200)
    with pytest.raises(BTFError):
        type_decl(b.btf, top, "f")
    with pytest.raises(BTFError):
        dump_c(b.btf)


def test_doubling_anonymous_structs_are_refused() -> None:
    """Anonymous structs of two copies of the previous one: written inline, the C text
    doubles at each level; it is refused past MAX_DEF_LEN, not rendered for ever."""
    from pybpf.btf import BTFError
    from pybpf.btf.dump import MAX_DEF_LEN
    b = Builder()
    prev = b.struct("", [("x", b.int("int", 4, signed=True))])
    for _ in range(25):
        prev = b.struct("", [("a", prev), ("b", prev)])
    b.typedef("bomb_t", prev)
    with pytest.raises(BTFError, match=f"longer than {MAX_DEF_LEN}"):
        dump_c(b.btf)


def test_exponential_declarations_in_the_cli(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from pybpf.cli import main
    b, _ = _proto_chain(14)
    raw = tmp_path / "bomb.btf"
    raw.write_bytes(b.btf.to_bytes())
    rc = main(["btf", "dump", str(raw), "--format", "c"])
    _, err = capsys.readouterr()
    assert rc != 0 and "longer than" in err and "Traceback" not in err
    assert main(["btf", "dump", str(raw)]) == 0  # the raw listing names no declarator
