"""Encoding BTF: exact round trips of clang's and the kernel's blobs, parse(encode(x)) ==
x for built and random type graphs, the Builder's C layouts, sanitizing clang objects
for BPF_BTF_LOAD, and the kernel accepting what pybpf produces."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.btf import (
    Array, Btf, BTFError, BtfKind, Builder, Const, Datasec, DeclTag, Enum, Enum64,
    Enumerator, Float, Func, FuncLinkage, FuncProto, Fwd, Int, IntEncoding, Member, Param,
    Ptr, Restrict, Struct, Typedef, TypeTag, Union_, Var, VarLinkage, VarSecinfo, Volatile,
    encode, parse, sanitize_for_kernel,
)
from pybpf.kernel import KernelBTFError, btf_load

from .conftest import Obj, load_obj


def every_kind() -> Builder:
    """A BTF with each kind (ENUM64 included) that the kernel accepts."""
    b = Builder()
    i32 = b.int("int", 4, True)
    u8 = b.int("unsigned char", 1)
    ch = b.int("char", 1, char=True)
    bl = b.int("_Bool", 1, bool_=True)
    u64 = b.int("unsigned long long", 8)
    b.int("__int128", 16, True)
    fl = b.float("double", 8)
    e = b.enum("color", ["RED", "GREEN", ("BLUE", 7)])
    e64 = b.enum("wide", {"SMALL": 1, "HUGE": 1 << 40})
    fw = b.fwd("opaque")
    fwu = b.fwd("opaque_u", union=True)
    td = b.typedef("u8_t", u8)
    cst = b.const(i32)
    vol = b.volatile(cst)
    pvol = b.ptr(vol)
    rst = b.restrict(pvol)
    tag = b.type_tag("user", i32)
    ptag = b.ptr(tag)
    arr = b.array(ch, 16)
    inner = b.union("", [("x", i32), ("f", fl)])
    s = b.struct("all", [("a", i32), ("bits", u8, 3), ("more", i32, 5), ("flag", bl, 1),
                         ("", inner), ("name", arr), ("e", e), ("w", e64),
                         ("p", b.ptr(fw)), ("pu", b.ptr(fwu)), ("r", rst), ("t", ptag),
                         ("td", td), ("big", u64)])
    b.decl_tag("field", s, 0)
    b.decl_tag("whole", s)
    proto = b.func_proto(i32, [("ctx", b.ptr(s)), ("n", u64)])
    fn = b.func("handler", proto, "global")
    b.decl_tag("arg", fn, 1)
    v1 = b.var("counter", u64)
    v2 = b.var("table", s, "static")
    b.datasec(".data", [v1, v2])
    return b


def test_clang_blobs_roundtrip(kinds_obj: Obj, core_obj: Obj) -> None:
    for obj in (kinds_obj, core_obj):
        b = parse(obj.btf_raw)  # decodes everything: encode really re-encodes
        assert encode(b) == obj.btf_raw
        assert list(parse(encode(b))) == list(b)


def test_vmlinux_roundtrip(vmlinux: Btf, vmlinux_raw: bytes) -> None:
    vmlinux.decode_all()  # every type re-encoded from its object, none copied
    assert encode(vmlinux) == vmlinux_raw


def test_every_kind_roundtrip() -> None:
    b = every_kind().btf
    got = parse(b.to_bytes())
    assert list(got) == list(b)
    assert {t.kind for t in got} == set(BtfKind) - {BtfKind.UNKN}
    assert got.to_bytes() == b.to_bytes()


def test_builder_layout_matches_clang(kinds_obj: Obj) -> None:
    k = kinds_obj.btf
    b = Builder(Btf())
    u32 = b.int("unsigned int", 4)
    i32 = b.int("int", 4, True)
    u64 = b.int("unsigned long long", 8)
    u8 = b.int("unsigned char", 1)
    bl = b.int("_Bool", 1, bool_=True)
    col = b.enum("color", {"RED": 0, "GREEN": 5, "BLUE": 0xFFFFFFFF})
    bits = b.btf[b.struct("bits", [("a", u32, 3), ("b", i32, 5), ("c", u64, 40), ("d", u8),
                                   ("e", bl, 1), ("col", col, 8)])]
    ref = k[k.find_one("bits", BtfKind.STRUCT)]
    assert bits.size == ref.size  # type: ignore[union-attr]
    assert [(m.name, m.offset, m.bitfield_size) for m in bits.members] == \
        [(m.name, m.offset, m.bitfield_size) for m in ref.members]  # type: ignore[union-attr]
    ch = b.int("char", 1, True)
    inner = b.btf[b.struct("inner", [("x", i32), ("name", b.array(ch, 16))])]
    assert inner.size == 20 and inner.members[1].offset == 32  # type: ignore[union-attr]
    packed = b.btf[b.struct("p", [("c", ch), ("x", u64)], packed=True)]
    assert packed.size == 9 and packed.members[1].offset == 8  # type: ignore[union-attr]
    un = b.btf[b.union("u", [("c", ch), ("x", u64)])]
    assert un.size == 8 and all(m.offset == 0 for m in un.members)  # type: ignore[union-attr]
    with pytest.raises(BTFError, match="wider than its type"):
        b.struct("bad", [("x", u8, 9)])
    with pytest.raises(BTFError, match="smaller than its members"):
        b.struct("bad", [("x", u64)], size=4)
    with pytest.raises(BTFError, match="size 3"):
        b.int("odd", 3)
    with pytest.raises(BTFError, match="exclude each other"):
        b.int("odd", 1, True, char=True)


# --- random type graphs ---------------------------------------------------------------------------

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=0, max_size=8)
u32s = st.integers(0, 0xFFFFFFFF)


@st.composite
def random_btf(draw: st.DrawFn) -> Btf:
    """Any structurally valid BTF: random kinds whose references point at earlier ids."""
    b = Btf()
    n = draw(st.integers(1, 25))
    for i in range(1, n + 1):
        ref = st.integers(0, i - 1)
        kind = draw(st.sampled_from(sorted(BtfKind)[1:]))
        nm = draw(names)
        t: object
        if kind == BtfKind.INT:
            t = Int(nm, draw(u32s), IntEncoding(draw(st.integers(0, 7))),
                    draw(st.integers(0, 255)), draw(st.integers(0, 255)))
        elif kind == BtfKind.PTR:
            t = Ptr(draw(ref))
        elif kind == BtfKind.ARRAY:
            t = Array(draw(ref), draw(ref), draw(u32s))
        elif kind in (BtfKind.STRUCT, BtfKind.UNION):
            kflag = draw(st.booleans())
            ms = draw(st.lists(st.builds(
                Member, names, ref, st.integers(0, 0xFFFFFF if kflag else 0xFFFFFFFF),
                st.integers(0, 255) if kflag else st.just(0)), max_size=5))
            cls = Struct if kind == BtfKind.STRUCT else Union_
            t = cls(nm, draw(u32s), tuple(ms), kflag)
        elif kind == BtfKind.ENUM:
            signed = draw(st.booleans())
            vals = st.integers(-(2**31), 2**31 - 1) if signed else u32s
            t = Enum(nm, draw(u32s), tuple(draw(st.lists(st.builds(Enumerator, names, vals),
                                                         max_size=4))), signed)
        elif kind == BtfKind.ENUM64:
            signed = draw(st.booleans())
            vals = st.integers(-(2**63), 2**63 - 1) if signed else st.integers(0, 2**64 - 1)
            t = Enum64(nm, draw(u32s), tuple(draw(st.lists(st.builds(Enumerator, names, vals),
                                                           max_size=4))), signed)
        elif kind == BtfKind.FWD:
            t = Fwd(nm, draw(st.booleans()))
        elif kind == BtfKind.TYPEDEF:
            t = Typedef(nm, draw(ref))
        elif kind in (BtfKind.VOLATILE, BtfKind.CONST, BtfKind.RESTRICT):
            t = {BtfKind.VOLATILE: Volatile, BtfKind.CONST: Const,
                 BtfKind.RESTRICT: Restrict}[kind](draw(ref))
        elif kind == BtfKind.FUNC:
            t = Func(nm, draw(ref), FuncLinkage(draw(st.integers(0, 2))))
        elif kind == BtfKind.FUNC_PROTO:
            t = FuncProto(draw(ref), tuple(draw(st.lists(st.builds(Param, names, ref),
                                                         max_size=4))))
        elif kind == BtfKind.VAR:
            t = Var(nm, draw(ref), VarLinkage(draw(st.integers(0, 2))))
        elif kind == BtfKind.DATASEC:
            t = Datasec(nm, draw(u32s), tuple(draw(st.lists(
                st.builds(VarSecinfo, ref, u32s, u32s), max_size=4))))
        elif kind == BtfKind.FLOAT:
            t = Float(nm, draw(u32s))
        elif kind == BtfKind.DECL_TAG:
            t = DeclTag(nm, draw(ref), draw(st.integers(-(2**31), 2**31 - 1)),
                        draw(st.booleans()))
        else:
            t = TypeTag(nm, draw(ref), draw(st.booleans()))
        b.add(t)  # type: ignore[arg-type]
    return b


@given(random_btf())
@settings(max_examples=300, deadline=None)
def test_parse_encode_roundtrip_random(b: Btf) -> None:
    blob = b.to_bytes()
    got = parse(blob, lazy=True)
    got.decode_all()
    assert list(got) == list(b)
    assert got.to_bytes() == blob


# --- sanitizing and the kernel -------------------------------------------------------------------

def _sanitize(obj: Obj):  # type: ignore[no-untyped-def]
    return sanitize_for_kernel(obj.btf, obj.elf.sizes, obj.elf.symbol_offsets())


def test_sanitize_kinds_object(kinds_obj: Obj) -> None:
    before = kinds_obj.btf.to_bytes()
    res = _sanitize(kinds_obj)
    b = res.btf
    assert kinds_obj.btf.to_bytes() == before  # the original is untouched
    assert len(b) == len(kinds_obj.btf) + 1  # only the dummy ksym VAR is added
    syms = kinds_obj.elf.symbol_offsets()
    for sec_name in (".data", ".bss", ".rodata", ".maps", "license", ".data.custom"):
        sec = b[b.find_one(sec_name, BtfKind.DATASEC)]
        assert isinstance(sec, Datasec) and sec.size == kinds_obj.elf.sizes[sec_name]
        offsets = [v.offset for v in sec.vars]
        assert offsets == sorted(offsets)
        for v in sec.vars:
            assert v.offset == syms[(sec_name, b[v.type].name)]
    assert res.kconfig_offsets == {"LINUX_KERNEL_VERSION": 0, "CONFIG_BPF_SYSCALL": 4}
    assert res.kconfig_size == 5
    assert res.ksyms == ["bpf_rcu_read_lock", "bpf_task_release", "bpf_prog_active"]
    ksyms = b[b.find_one(".ksyms", BtfKind.DATASEC)]
    assert [(b[v.type].name, v.offset, v.size) for v in ksyms.vars] == [  # type: ignore
        ("dummy_ksym", 0, 4), ("dummy_ksym", 4, 4), ("bpf_prog_active", 8, 4)]
    assert b[b.find_one("bpf_rcu_read_lock")].linkage == FuncLinkage.GLOBAL  # type: ignore
    release = b[b[b.find_one("bpf_task_release")].type]  # type: ignore[union-attr]
    assert [p.name for p in release.params] == ["arg0"]  # type: ignore[union-attr]
    bss = b[b.find_one(".bss", BtfKind.DATASEC)]
    assert "prog.calls" in [b[v.type].name for v in bss.vars]  # type: ignore[union-attr]
    assert all(t.linkage != VarLinkage.EXTERN for t in b if isinstance(t, Var))
    for t in b:
        if isinstance(t, Func):
            proto = b[t.type]
            assert all(p.name for p in proto.params)  # type: ignore[union-attr]


def test_sanitize_errors_and_options(kinds_obj: Obj) -> None:
    sizes = dict(kinds_obj.elf.sizes)
    syms = kinds_obj.elf.symbol_offsets()
    del sizes[".data.custom"]
    with pytest.raises(BTFError, match=r"DATASEC \[\d+\] '.data.custom': no ELF section"):
        sanitize_for_kernel(kinds_obj.btf, sizes, syms)
    syms2 = {k: v for k, v in syms.items() if k != "bss_var" and k != (".bss", "bss_var")}
    with pytest.raises(BTFError, match="no symbol for variable 'bss_var'"):
        sanitize_for_kernel(kinds_obj.btf, kinds_obj.elf.sizes, syms2)
    res = sanitize_for_kernel(kinds_obj.btf, kinds_obj.elf.sizes, syms,
                              hidden_symbols={"data_var", "global_fn"},
                              kconfig_offsets={"LINUX_KERNEL_VERSION": 8,
                                               "CONFIG_BPF_SYSCALL": 0})
    assert res.btf[res.btf.find_one("data_var")].linkage == VarLinkage.STATIC  # type: ignore
    assert res.btf[res.btf.find_one("global_fn")].linkage == FuncLinkage.STATIC  # type: ignore
    assert res.kconfig_size == 12
    kc = res.btf[res.btf.find_one(".kconfig", BtfKind.DATASEC)]
    assert [v.offset for v in kc.vars] == [0, 8]  # type: ignore[union-attr]


@pytest.mark.kernel
def test_kernel_rejects_raw_clang_btf(kinds_obj: Obj) -> None:
    with pytest.raises(KernelBTFError, match="Invalid func linkage"):
        btf_load(kinds_obj.btf_raw)


@pytest.mark.kernel
@pytest.mark.parametrize("name", ["kinds", "core"])
def test_kernel_accepts_sanitized(name: str) -> None:
    obj = load_obj(name)
    res = _sanitize(obj)
    loaded = btf_load(res.btf.to_bytes())
    assert loaded.info().btf_size == len(res.btf.to_bytes())
    loaded.close()


@pytest.mark.kernel
def test_kernel_accepts_every_kind() -> None:
    blob = every_kind().btf.to_bytes()
    btf_load(blob).close()


@pytest.mark.kernel
def test_kernel_judges_bad_built_btf() -> None:
    b = Builder()
    i = b.int("int", 4, True)
    b.func("f", b.func_proto(i, [("", i)]))  # the kernel wants named parameters
    with pytest.raises(KernelBTFError, match="Invalid arg#1"):
        btf_load(b.btf.to_bytes())
