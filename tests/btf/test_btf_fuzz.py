"""Fuzzing the BTF layer with mutated real blobs: whatever the bytes, parsing, printing,
encoding, value conversion and CO-RE relocation either work or raise BTFError, never
IndexError/struct.error/RecursionError/ValueError. The soak variants (-m slow) run the
same properties 50x longer."""

from __future__ import annotations

import struct
from typing import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.btf import (
    BTFError, CoreRelocator, decode_value, dump_c, dump_raw, encode_value, format_c,
    parse, parse_ext, type_name,
)

from .conftest import load_obj

KINDS = load_obj("kinds")
CORE = load_obj("core")
SEEDS = [KINDS.btf_raw, CORE.btf_raw]
INTERESTING = [0, 1, 2, 3, 4, 7, 8, 12, 16, 24, 0x7F, 0x80, 0xFF, 0xFFFF, 0x10000,
               0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]

N = 1000
SOAK = 20_000


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes], header: int = 24) -> bytes:
    """A seed blob with a few random edits: flipped bits, overwritten words (often at
    4-byte boundaries, where the type fields are), truncation, inserted/deleted bytes,
    or header fields set to interesting values."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "word", "word", "word", "truncate", "insert",
                                   "delete", "header"]))
        n = len(data)
        if n == 0:
            break
        if op == "flip":
            i = draw(st.integers(0, n - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "word" and n >= 4:
            i = draw(st.integers(0, (n - 4) // 4)) * 4
            struct.pack_into("<I", data, i, draw(_words))
        elif op == "truncate":
            del data[draw(st.integers(0, n - 1)):]
        elif op == "insert":
            i = draw(st.integers(0, n))
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            i = draw(st.integers(0, n - 1))
            del data[i:i + draw(st.integers(1, 16))]
        elif op == "header" and n >= header:
            i = draw(st.integers(0, header // 4 - 1)) * 4
            struct.pack_into("<I", data, i, draw(st.sampled_from(INTERESTING)))
    return bytes(data)


_words = st.one_of(st.sampled_from(INTERESTING), st.integers(0, 0xFFFFFFFF),
                   st.integers(0, 300))


@st.composite
def mutated_types(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """Edits inside the type section (words, bits, whole 4-byte words inserted or
    removed, the section cut short) with the header kept consistent, so most blobs get
    past the header and exercise type decoding and everything after it."""
    seed = draw(st.sampled_from(seeds))
    _, _, _, hdr_len, toff, tlen, soff, slen = struct.unpack_from("<HBBIIIII", seed)
    types = bytearray(seed[hdr_len + toff:hdr_len + toff + tlen])
    strs = bytearray(seed[hdr_len + soff:hdr_len + soff + slen])
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["word", "word", "word", "byte", "flip", "insert",
                                   "delete", "cut", "string"]))
        nw = len(types) // 4
        if op == "word" and nw:
            struct.pack_into("<I", types, draw(st.integers(0, nw - 1)) * 4, draw(_words))
        elif op == "byte" and types:
            types[draw(st.integers(0, len(types) - 1))] = draw(st.integers(0, 255))
        elif op == "flip" and types:
            types[draw(st.integers(0, len(types) - 1))] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            i = draw(st.integers(0, nw)) * 4
            types[i:i] = b"".join(struct.pack("<I", draw(_words))
                                  for _ in range(draw(st.integers(1, 4))))
        elif op == "delete" and nw:
            i = draw(st.integers(0, nw - 1)) * 4
            del types[i:i + 4 * draw(st.integers(1, 4))]
        elif op == "cut" and nw:
            del types[draw(st.integers(0, nw - 1)) * 4:]
        elif op == "string" and len(strs) > 1:
            strs[draw(st.integers(1, len(strs) - 2))] = draw(st.sampled_from(b"\0a_.\xff"))
    hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strs))
    return hdr + bytes(types) + bytes(strs)


def _only_btf_errors(fn: Callable[[], object]) -> None:
    try:
        fn()
    except BTFError:
        pass


def _exercise(blob: bytes) -> None:
    """Everything downstream of a successful parse must hold up too."""
    try:
        b = parse(blob)
    except BTFError:
        return
    dump_raw(b)
    again = parse(b.to_bytes())
    assert list(again) == list(b)
    for type_id in range(1, len(b)):
        _only_btf_errors(lambda type_id=type_id: type_name(b, type_id))
        _only_btf_errors(lambda type_id=type_id: format_c(b, type_id))

        def value(type_id: int = type_id) -> None:
            size = b.size_of(type_id)
            if size <= 4096:
                v = decode_value(b, type_id, bytes(size))
                encode_value(b, type_id, v)
        _only_btf_errors(value)
    _only_btf_errors(lambda: dump_c(b))
    lazy = parse(blob, lazy=True)
    for type_id in range(1, len(lazy)):
        lazy[type_id]


def _exercise_core(blob: bytes) -> None:
    """CO-RE records of core.o against a mutated core.o BTF as local and kinds.o as
    target (and the other way round)."""
    try:
        local = parse(blob)
    except BTFError:
        return
    relos = [r for rs in CORE.ext.core_relos.values() for r in rs]
    for rl in (CoreRelocator(local, CORE.btf), CoreRelocator(CORE.btf, local)):
        for r in relos:
            _only_btf_errors(lambda rl=rl, r=r: rl.relocate(r))


@given(mutated(SEEDS))
@settings(max_examples=N, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzz_btf(blob: bytes) -> None:
    _exercise(blob)


@given(mutated_types(SEEDS))
@settings(max_examples=N, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzz_btf_types(blob: bytes) -> None:
    _exercise(blob)


@given(mutated_types([CORE.btf_raw]))
@settings(max_examples=N, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzz_core_relocations(blob: bytes) -> None:
    _exercise_core(blob)


@given(mutated([KINDS.ext_raw, CORE.ext_raw], header=32))
@settings(max_examples=N, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzz_btf_ext(blob: bytes) -> None:
    for btf in (KINDS.btf, CORE.btf):
        _only_btf_errors(lambda btf=btf: parse_ext(blob, btf))


@given(st.binary(max_size=256))
@settings(max_examples=N, deadline=None)
def test_fuzz_random_bytes(blob: bytes) -> None:
    _exercise(b"\x9f\xeb\x01\x00" + blob)
    _only_btf_errors(lambda: parse_ext(b"\x9f\xeb\x01\x00" + blob, KINDS.btf))


@pytest.mark.slow
@given(st.one_of(mutated(SEEDS), mutated_types(SEEDS)))
@settings(max_examples=SOAK, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzz_btf_soak(blob: bytes) -> None:
    _exercise(blob)
    _exercise_core(blob)


@pytest.mark.slow
@given(mutated([KINDS.ext_raw, CORE.ext_raw], header=32))
@settings(max_examples=SOAK, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzz_btf_ext_soak(blob: bytes) -> None:
    _only_btf_errors(lambda: parse_ext(blob, CORE.btf))
