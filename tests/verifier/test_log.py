"""The log in the kernel's format (levels 1 and 2), the error classes shared with the
kernel backend, and verify_spec on the example objects."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pybpf.asm import assemble_insns
from pybpf.errors import VerifierError
from pybpf.verifier import verify, verify_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_level2_lines():
    r = verify(assemble_insns("r0 = 0\nr1 = r10\nr1 += -8\nexit"), 1, log_level=2)
    lines = r.log.splitlines()
    assert lines[0] == "0: R1=ctx() R10=fp0"
    assert lines[1] == "0: (b7) r0 = 0                        ; R0=0"
    assert lines[2] == "1: (bf) r1 = r10                      ; R1=fp0 R10=fp0"
    assert lines[3] == "2: (07) r1 += -8                      ; R1=fp-8"
    assert re.fullmatch(r"processed 4 insns \(limit 1000000\) max_states_per_insn \d+ "
                        r"total_states \d+ peak_states \d+ mark_read 0", lines[-1])


def test_scalar_state_format():
    r = verify(assemble_insns("call bpf_get_prandom_u32\nr0 &= 0xff\nr0 = 0\nexit"), 1,
               log_level=2)
    assert "R0=scalar(smin=smin32=0,smax=umax=smax32=umax32=255,var_off=(0x0; 0xff))" in r.log


def test_level1_failure_shows_the_path_and_error():
    r = verify(assemble_insns("r2 = *(u32 *)(r1 +0)\nr0 = *(u8 *)(r2 +0)\nexit"), 6,
               log_level=1)
    assert r.log.splitlines()[-3:-1] == [
        "invalid access to packet, off=0 size=1, R2(id=0,off=0,r=0)",
        "R2 offset is outside of the packet"]
    assert r.pc == 1 and r.hint


def test_level0_has_no_log():
    assert verify(assemble_insns("r0 = 0\nexit"), 1).log == ""


def test_kernel_error_is_a_verifier_error():
    from pybpf.kernel.errors import KernelVerifierError, verifier_error
    e = verifier_error(13, "0: R1=ctx() R10=fp0\n0: (bf) r0 = r3\nR3 !read_ok\n"
                           "processed 1 insns (limit 1000000) max_states_per_insn 0 "
                           "total_states 0 peak_states 0 mark_read 0\n")
    assert isinstance(e, VerifierError) and isinstance(e, KernelVerifierError)
    assert e.pc == 0 and e.error == "R3 !read_ok" and "R3 !read_ok" in e.log


@pytest.mark.parametrize("obj", sorted(EXAMPLES.glob("*.o")), ids=lambda p: p.name)
def test_examples_verify(obj):
    from pybpf.elf import load
    spec = load(obj)
    for name, prog in spec.programs.items():
        if prog.type:
            r = verify_spec(spec, name)
            assert r.accepted, (name, r.error)


def test_verify_spec_unknown_program():
    from pybpf.elf import load
    spec = load(EXAMPLES / "xdp_lb.o")
    with pytest.raises(VerifierError):
        verify_spec(spec, "nope")


@given(st.integers(0, 255), st.integers(0, 15), st.integers(0, 15),
       st.integers(-(1 << 15), (1 << 15) - 1), st.integers(-(1 << 31), (1 << 31) - 1))
def test_insn_text_of_any_instruction(opcode: int, dst: int, src: int, off: int,
                                      imm: int) -> None:
    """Every instruction prints as "(op) text": the kernel's syntax, or "unknown
    opcode" for one no syntax has (only pybpf's own errors are caught there)."""
    from pybpf.isa import Instruction
    from pybpf.verifier.log import insn_text
    text = insn_text(Instruction(opcode, dst, src, off, imm), 0, [])
    assert text.startswith(f"({opcode:02x}) ") and len(text) > 5
