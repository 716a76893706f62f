"""The private stack of tracing programs (bpf_enable_priv_stack) is a feature of the
target kernel's JIT: off, the combined frames count; on, large frames move out. The
running kernel's answer is probed and pybpf, told it, agrees."""

from __future__ import annotations

import pytest

from pybpf.asm import assemble_insns
from pybpf.uapi import ProgType
from pybpf.verifier import verify
from tests.conftest import kernel_available

TWO_FRAMES = ("r1 = 0\n*(u64 *)(r10 -504) = r1\ncall pc+2\nr0 = 0\nexit\n"
              "r1 = 0\n*(u64 *)(r10 -16) = r1\nr0 = 0\nexit")


@pytest.mark.parametrize("prog_type", [ProgType.KPROBE, ProgType.TRACEPOINT,
                                       ProgType.PERF_EVENT, ProgType.RAW_TRACEPOINT])
def test_without_a_private_stack_the_frames_add_up(prog_type):
    r = verify(assemble_insns(TWO_FRAMES), prog_type)
    assert not r.accepted
    assert r.error == "combined stack size of 2 calls is 528. Too large"


def test_a_private_stack_takes_large_frames_of_tracing_programs_only():
    assert verify(assemble_insns(TWO_FRAMES), ProgType.KPROBE, private_stack=True).accepted
    r = verify(assemble_insns(TWO_FRAMES), ProgType.SOCKET_FILTER, private_stack=True)
    assert r.error == "combined stack size of 2 calls is 528. Too large"


@pytest.mark.kernel
def test_the_probe_tells_pybpf_what_this_kernel_does():
    ok, why = kernel_available()
    if not ok:
        pytest.skip(why)
    from pybpf.kernel.probe import probe_private_stack
    from pybpf.kernel.verdict import KernelOracle
    with KernelOracle() as oracle:
        k = oracle.verdict(assemble_insns(TWO_FRAMES), ProgType.KPROBE, log_level=1)
        assert oracle.private_stack == probe_private_stack()
    p = verify(assemble_insns(TWO_FRAMES), ProgType.KPROBE,
               private_stack=probe_private_stack())
    assert k.accepted == p.accepted
