"""The VM's verdict memo: a program instantiated again is not verified again, and only
what decides the verdict keys it (map fds, which change with every instantiation, are
renumbered by first use; map specs, type, attach type, license and func_info are not)."""

from __future__ import annotations

from pybpf.isa import OPCODE_LDDW, Instruction
from pybpf.maps.spec import MapSpec
from pybpf.objects.vmverify import _job, _verdict

A = MapSpec("array", 4, 8, 1, name="a")
B = MapSpec("array", 4, 4, 1, name="a")


def prog(fd: int) -> list[Instruction]:
    # r1 = map value (off 0); r0 = *(u64 *)(r1 + 0); exit
    return [Instruction(OPCODE_LDDW, 1, 2, 0, fd, 0), Instruction(0x79, 0, 1, 0, 0),
            Instruction(0x95, 0, 0, 0, 0)]


KW = {"prog_type": 6, "expected_attach_type": None, "license": "GPL", "func_info": None}


def test_fds_do_not_key_the_verdict() -> None:
    a, b = _job(prog(7), {7: A}, KW, None), _job(prog(9), {9: A}, KW, None)
    assert a is not None and a == b and hash(a) == hash(b)


def test_map_specs_type_and_license_do() -> None:
    base = _job(prog(7), {7: A}, KW, None)
    assert base != _job(prog(7), {7: B}, KW, None)
    assert base != _job(prog(7), {7: A}, dict(KW, prog_type=3), None)
    assert base != _job(prog(7), {7: A}, dict(KW, license="MIT"), None)
    assert base != _job(prog(7), {7: A}, KW, object())  # another object's BTF


def test_the_memoised_verdicts_are_the_verifiers() -> None:
    ok = _job(prog(7), {7: A}, KW, None)
    small = _job(prog(7), {7: B}, KW, None)  # an 8-byte read from a 4-byte value
    assert ok is not None and small is not None
    assert _verdict(ok).accepted
    v = _verdict(small)
    assert not v.accepted and v.error == "invalid access to map value, value_size=4 off=0 size=8"
    assert _verdict(small) is v  # memoised
