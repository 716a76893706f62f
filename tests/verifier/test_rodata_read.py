"""Loads from a frozen, program-read-only array (a .rodata) are constants
(bpf_map_direct_read); a value the spec gives no bytes for is zeros, as the kernel's
array is, so branches on it are decided the same way (xdp-dispatcher's config)."""

from __future__ import annotations

import pytest

from pybpf import isa
from pybpf.asm import assemble_insns
from pybpf.isa import Instruction
from pybpf.maps.spec import MapSpec
from pybpf.uapi import ProgType
from pybpf.verifier import verify
from tests.conftest import kernel_available

RODATA = MapSpec("array", 4, 16, 1, flags=1 << 7, name=".rodata", freeze=True)
# r1 = &.rodata[0]; if its byte 2 is 0 the exit reading an unset r0 is dead
PROG = [Instruction.lddw(1, 0, isa.BPF_PSEUDO_MAP_VALUE)] + assemble_insns(
    "r2 = *(u8 *)(r1 +2)\nif r2 == 0x0 goto +1\nexit\nr0 = 0\nexit")


@pytest.mark.parametrize("contents,accepted", [
    ((), True),                                   # no bytes given: zeros
    (((b"\0" * 4, b"\0\0\1" + b"\0" * 13),), False),  # byte 2 set: the bad exit is live
])
def test_a_frozen_rodata_value_is_a_constant(contents, accepted):
    spec = RODATA.with_(contents=contents)
    r = verify(PROG, ProgType.SOCKET_FILTER, maps={0: spec})
    assert r.accepted == accepted, r.error
    if not accepted:
        assert r.error == "R0 !read_ok"


@pytest.mark.kernel
@pytest.mark.parametrize("contents", [(), ((b"\0" * 4, b"\0\0\1" + b"\0" * 13),)])
def test_the_kernel_agrees(contents):
    ok, why = kernel_available()
    if not ok:
        pytest.skip(why)
    from pybpf.kernel.verdict import KernelOracle
    spec = RODATA.with_(contents=contents)
    with KernelOracle() as oracle:
        k = oracle.verdict(PROG, ProgType.SOCKET_FILTER, maps=[spec], log_level=1)
    assert k.accepted == verify(PROG, ProgType.SOCKET_FILTER, maps={0: spec}).accepted
