"""USDT notes and argument specs without the kernel: the x86-64 argument syntax, the
struct __bpf_usdt_spec layout against the BTF clang wrote for usdt.bpf.h, and
malformed notes and arguments refused with a UsdtError."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pybpf
from pybpf.kernel.usdt import (
    SPEC_SIZE,
    USDT_MAX_ARGS,
    X86_64_PT_REGS,
    ArgKind,
    UsdtArg,
    UsdtError,
    _notes,
    pack_usdt_spec,
    parse_usdt_args,
    read_usdt_notes,
)

DATA = Path(__file__).resolve().parent / "data"


@pytest.mark.parametrize("text,expected", [
    ("-4@-4(%rbp)", UsdtArg(ArgKind.REG_DEREF, -4, 32, 4, True)),
    ("8@%rax", UsdtArg(ArgKind.REG, 0, 80, 8, False)),
    ("-4@$5", UsdtArg(ArgKind.CONST, 5, 0, 4, True)),
    ("2@$-0x10", UsdtArg(ArgKind.CONST, -16, 0, 2, False)),
    ("8@(%rdi)", UsdtArg(ArgKind.REG_DEREF, 0, 112, 8, False)),
    ("1@%sil", UsdtArg(ArgKind.REG, 0, 104, 1, False)),
    ("-2@0x18(%rsp)", UsdtArg(ArgKind.REG_DEREF, 24, 152, 2, True)),
    ("4@%r12d", UsdtArg(ArgKind.REG, 0, 24, 4, False)),
])
def test_x86_64_arguments(text: str, expected: UsdtArg) -> None:
    assert parse_usdt_args(text) == [expected]


@pytest.mark.parametrize("text,match", [
    ("8@%xmm0", "unknown register 'xmm0'"),
    ("3@%rax", "size 3"),
    ("8@rax", "not <size>@<location>"),
    ("@%rax", "not <size>@<location>"),
    ("8@4(%rax", "not <size>@<location>"),
    (" ".join(["8@%rax"] * (USDT_MAX_ARGS + 1)), "at most 12"),
])
def test_bad_arguments_are_refused(text: str, match: str) -> None:
    with pytest.raises(UsdtError, match=match):
        parse_usdt_args(text)


def test_pt_regs_offsets_are_x86_64s() -> None:
    """struct pt_regs of x86-64: r15 first, ax at 80, di at 112, ip at 128, sp at 152."""
    assert (X86_64_PT_REGS["r15"], X86_64_PT_REGS["rax"], X86_64_PT_REGS["rdi"],
            X86_64_PT_REGS["rip"], X86_64_PT_REGS["rsp"]) == (0, 80, 112, 128, 152)


def test_spec_layout_matches_usdt_bpf_h() -> None:
    """The sizes and offsets of struct __bpf_usdt_spec and __bpf_usdt_arg_spec as clang
    laid them out for usdt.bpf.o (its BTF), and the packed spec at those offsets."""
    spec = pybpf.load(DATA / "usdt.bpf.o")
    m = spec.maps["__bpf_usdt_specs"]
    assert m.value_size == SPEC_SIZE
    btf = spec.btf
    (sid,) = btf.find("__bpf_usdt_spec")
    (aid,) = btf.find("__bpf_usdt_arg_spec")
    members = {mm.name: mm.offset // 8 for mm in btf[sid].members}
    arg_members = {mm.name: mm.offset // 8 for mm in btf[aid].members}
    assert members == {"args": 0, "usdt_cookie": 192, "arg_cnt": 200}
    assert arg_members == {"val_off": 0, "arg_type": 8, "reg_off": 12, "arg_signed": 14,
                           "arg_bitshift": 15}
    raw = pack_usdt_spec(parse_usdt_args("-4@-4(%rbp) 8@%rax"), cookie=0x1234)
    assert len(raw) == SPEC_SIZE
    assert struct.unpack_from("<qIh?b", raw, 0) == (-4, 2, 32, True, 32)
    assert struct.unpack_from("<QIh?b", raw, 16) == (0, 1, 80, False, 0)
    assert raw[32:192] == bytes(160)
    assert struct.unpack_from("<Qh", raw, 192) == (0x1234, 2)


def _note(desc: bytes, name: bytes = b"stapsdt\0", ntype: int = 3) -> bytes:
    pad = lambda b: b + bytes(-len(b) % 4)  # noqa: E731
    return struct.pack("<III", len(name), len(desc), ntype) + pad(name) + pad(desc)


def test_note_parsing_skips_foreign_notes_and_refuses_truncated_ones() -> None:
    desc = struct.pack("<QQQ", 0x1000, 0x2000, 0) + b"prov\0name\0-8@%rax\0"
    data = _note(b"x" * 4, b"GNU\0", 1) + _note(desc)
    assert _notes(data, True, 8) == [(0x1000, 0x2000, 0, b"prov\0name\0-8@%rax\0")]
    with pytest.raises(UsdtError, match="runs past its section"):
        _notes(_note(desc)[:-8], True, 8)


@given(st.binary(max_size=200))
def test_arbitrary_note_bytes_parse_or_are_refused(data: bytes) -> None:
    try:
        _notes(data, True, 8)
    except UsdtError:
        pass


def test_a_file_without_notes_and_a_non_elf(tmp_path: Path) -> None:
    assert read_usdt_notes(DATA / "usdt.bpf.o") == []
    bad = tmp_path / "not-elf"
    bad.write_bytes(b"hello")
    with pytest.raises(UsdtError, match="not an ELF file"):
        read_usdt_notes(bad)
    with pytest.raises(UsdtError, match="No such file"):
        read_usdt_notes(tmp_path / "missing")
