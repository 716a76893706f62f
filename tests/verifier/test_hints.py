"""Hints for the common refusals, each checked on a real refused C program (clang) whose
first error line is compared with the kernel's (the oracle), in the capability mode
where the kernel refuses it."""

from __future__ import annotations

import pytest

from pybpf.tools.verify import verify_file
from pybpf.verifier.hints import hint_for
from tests.verifier.refused import REFUSED, compiled

# program -> words its hint must say (what to add to the source)
EXPECT = {
    "pkt_unchecked": ["first 13 bytes", "only 10 bytes are checked",
                      "if (data + 13 > data_end)"],
    "pkt_popped": ["first 2 bytes", "no length check", "if (data + 2 > data_end)"],
    "pkt_proto": ["first 24 bytes", "only 14 bytes are checked", "if (data + 24 > data_end)"],
    "null_check": ["map lookup may return NULL", "if (!ptr)"],
    "var_offset": ["bound the index", "64-byte map value", "if (idx >= 8)", "idx &= 7"],
    "map_index": ["bound the variable offset", "if (idx >= N)", "idx &= N - 1"],
    "uninit_stack": ["16 bytes of stack", "initialise", "= {}"],
    "ref_leak": ["acquired at insn 5", "bpf_ringbuf_submit"],
    "r0_range": ["[0, 1]", "values 0..3"],
    "helper_arg": ["argument 2 (R2)", "must be a pointer", "&key"],
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_hint_of_a_refused_program(name: str) -> None:
    caps, start = REFUSED[name]
    [r] = verify_file(str(compiled(name)), caps=caps)
    assert not r["accepted"] and r["error"].startswith(start)
    for words in EXPECT[name]:
        assert words in r["hint"], (words, r["hint"])
    assert "\n" not in r["hint"]


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_first_error_line_is_the_kernels(name: str) -> None:
    caps, start = REFUSED[name]
    [r] = verify_file(str(compiled(name)), caps=caps, compare_kernel=True)
    k = r["kernel"]
    assert k["accepted"] is False and k["error"].startswith(start)
    assert r["error"] == k["error"]


def test_hint_figures_come_from_the_error_line() -> None:
    h = hint_for("invalid access to packet, off=20 size=4, R3(id=0,off=20,r=14)")
    assert h is not None and "first 24 bytes" in h and "only 14 bytes" in h
    h = hint_for("invalid access to packet, off=2 size=2, R3(id=5,off=2,r=0)")
    assert h is not None and "4 bytes from the pointer in R3" in h and "ptr + 4 >" in h
    h = hint_for("invalid access to map value, value_size=16 off=16 size=4",
                 ["R1 max value is outside of the allowed memory range"])
    assert h is not None and "if (idx >= 4)" in h and "idx &= 3" in h
    h = hint_for("invalid access to map value, value_size=16 off=16 size=4")
    assert h is not None and "offset 16 of a 16-byte" in h
    h = hint_for("R1 invalid mem access 'ringbuf_mem_or_null'")
    assert h is not None and "bpf_ringbuf_reserve()" in h
    h = hint_for("At program exit the register R0 has unknown scalar value should have "
                 "been in [0, 1]")
    assert h is not None and "[0, 1]" in h
    assert hint_for("R1 type=ctx expected=fp") is not None
    h = hint_for("invalid read from stack R1 var_off (0x0; 0x7)")
    assert h is not None and h.startswith("stack is read but not all were written")
    assert hint_for(None) is None and hint_for("BPF_EXIT uses reserved fields") is None
