"""Instruction's opcode views (class, op, source, size, mode) are stored when it is
made: right for every opcode, not part of equality, hashing, repr or the constructor."""

from __future__ import annotations

import dataclasses
import pickle

from pybpf.isa import Instruction


def test_the_views_are_the_opcode_bits_for_every_opcode() -> None:
    for code in range(256):
        i = Instruction(code, 1, 2, 3, 4)
        assert (i.cls, i.op, i.source, i.size, i.mode) == \
            (code & 0x07, code & 0xF0, code & 0x08, code & 0x18, code & 0xE0)


def test_the_views_follow_a_replaced_opcode_and_a_pickle() -> None:
    i = dataclasses.replace(Instruction(0x61, 1, 2, 3), opcode=0x7B)
    assert (i.cls, i.size, i.mode) == (3, 0x18, 0x60)
    j = pickle.loads(pickle.dumps(i))
    assert j == i and j.cls == 3


def test_equality_hash_and_repr_see_the_fields_only() -> None:
    a, b = Instruction(0xB7, 0, 0, 0, 5), Instruction(0xB7, 0, 0, 0, 5)
    assert a == b and hash(a) == hash(b) and a != Instruction(0xB7, 0, 0, 0, 6)
    assert repr(a) == "Instruction(opcode=183, dst=0, src=0, off=0, imm=5, next_imm=0)"
    assert [f.name for f in dataclasses.fields(a) if f.init] == \
        ["opcode", "dst", "src", "off", "imm", "next_imm"]
