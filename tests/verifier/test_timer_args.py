"""bpf_timer_* arguments (process_timer_func): the timer must be the map value's one
`struct bpf_timer`, at a constant offset, in a map with BTF, and bpf_timer_init's map
the one the timer lives in. Each program's verdict and first error line are compared
with the kernel's (maps created with the same BTF)."""

from __future__ import annotations

import pytest

from pybpf import isa
from pybpf.asm import assemble_insns
from pybpf.btf import Builder
from pybpf.isa import Instruction
from pybpf.maps.spec import MapSpec
from pybpf.uapi import ProgType
from pybpf.verifier import verify
from tests.conftest import kernel_available


def _btf() -> tuple[bytes, int, int, int]:
    b = Builder()
    i32 = b.int("int", 4, signed=True)
    u64 = b.int("long long unsigned int", 8)
    timer = b.struct("bpf_timer", [("__opaque", b.array(u64, 2))])
    timerv = b.struct("timerv", [("timer", timer), ("n", u64)])
    plain = b.struct("plain", [("a", u64), ("b", u64), ("c", u64)])
    return b.btf.to_bytes(), i32, timerv, plain


BTF, I32, TIMERV, PLAIN = _btf()
MAPS = [MapSpec("array", 4, 24, 1, name="tmap", key_type=I32, value_type=TIMERV),
        MapSpec("array", 4, 24, 1, name="plain", key_type=I32, value_type=PLAIN),
        MapSpec("array", 4, 24, 2, name="tmap2", key_type=I32, value_type=TIMERV)]


def _prog(lookup_map: int, timer_off: str, init_map: int) -> list[Instruction]:
    """Look up key 0 of map `lookup_map`, then bpf_timer_init(value + off, map, 1)."""
    return ([Instruction.lddw(1, lookup_map, isa.BPF_PSEUDO_MAP_FD)] + assemble_insns(
        "*(u32 *)(r10 -4) = 0\nr2 = r10\nr2 += -4\ncall bpf_map_lookup_elem\n"
        "if r0 == 0x0 goto +6\nr1 = r0\n" + timer_off) +
        [Instruction.lddw(2, init_map, isa.BPF_PSEUDO_MAP_FD)] + assemble_insns(
        "r3 = 1\ncall bpf_timer_init\nr0 = 0\nexit"))


CASES = {
    "good": (_prog(0, "r1 += 0\n", 0), None),
    "off_8": (_prog(0, "r1 += 8\n", 0),
              "off 8 doesn't point to 'struct bpf_timer' that is at 0"),
    "no_timer": (_prog(1, "r1 += 0\n", 1), "map 'plain' has no valid bpf_timer"),
    "other_map": (_prog(0, "r1 += 0\n", 2),
                  "timer pointer in R1 map_uid=0 doesn't match map pointer in R2 map_uid=0"),
}


def _pybpf(insns):
    return verify(insns, ProgType.SCHED_CLS, maps=dict(enumerate(MAPS)), btf=BTF)


@pytest.mark.parametrize("name", list(CASES))
def test_timer_arguments(name):
    insns, expect = CASES[name]
    r = _pybpf(insns)
    assert r.error == expect
    assert r.accepted == (expect is None)


@pytest.mark.kernel
@pytest.mark.parametrize("name", list(CASES))
def test_the_kernel_agrees(name):
    ok, why = kernel_available()
    if not ok:
        pytest.skip(why)
    from pybpf.kernel.verdict import KernelOracle
    insns, expect = CASES[name]
    with KernelOracle() as oracle:
        k = oracle.verdict(insns, ProgType.SCHED_CLS, maps=MAPS, btf=BTF, log_level=1)
    assert k.accepted == (expect is None), k.log[-400:]
    assert k.error_line == expect
