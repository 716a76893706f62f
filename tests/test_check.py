"""check_program, the loader's checks every engine shares: an instruction that would
write the frame pointer r10 is refused, whatever its kind (the JIT reads stack slots
through r10 directly, so a program that moved it would run differently)."""

from __future__ import annotations

import pytest

from pybpf import isa
from pybpf.errors import InvalidProgram
from pybpf.isa import Instruction as I

EXIT = I(isa.OPCODE_EXIT)
WRITES_R10 = {
    "mov": I(0xB7, 10, 0, 0, 1),
    "alu32": I(0x04, 10, 0, 0, 1),
    "endian": I(0xD4, 10, 0, 0, 16),
    "ldx": I(0x79, 10, 1, 0, 0),
    "memsx": I(isa.BPF_LDX | isa.BPF_MEMSX | isa.BPF_W, 10, 1, 0, 0),
    "atomic fetch": I(isa.BPF_STX | isa.BPF_ATOMIC | isa.BPF_DW, 1, 10, 0,
                      isa.BPF_ADD | isa.BPF_FETCH),
    "xchg": I(isa.BPF_STX | isa.BPF_ATOMIC | isa.BPF_DW, 1, 10, 0, isa.BPF_XCHG),
    "load-acquire": I(isa.BPF_STX | isa.BPF_ATOMIC | isa.BPF_DW, 10, 1, 0, isa.BPF_LOAD_ACQ),
}


@pytest.mark.parametrize("name", sorted(WRITES_R10))
def test_every_write_of_r10_is_refused_by_both_engines(name: str) -> None:
    from pybpf.jit import JitVM
    from pybpf.vm import VM
    code = isa.encode([WRITES_R10[name], I(0xB7, 0, 0, 0, 0), EXIT])
    for cls in (VM, JitVM):
        with pytest.raises(InvalidProgram, match="read only"):
            cls(code)
    VM(isa.encode([I(0xBF, 1, 10), I(0xB7, 0, 0, 0, 0), EXIT]))  # reading it is fine


def test_jit_campaign_case_that_moved_r10_now_agrees() -> None:
    """Case 20,032,894 of the JIT campaign loaded r10 with load-acquire, and the
    engines then faulted at different pcs; it is refused at load by both now."""
    from pybpf.hostile import jit_campaign
    assert jit_campaign.compare(20_032_894) is None
    code, _, _ = jit_campaign.case(20_032_894)
    with pytest.raises(InvalidProgram, match="load-acquire into r10"):
        from pybpf.vm import VM
        VM(code)
