"""Helpers check their destination before they allocate or copy anything of a
program-chosen size: a size of 4 GiB into an 8-byte stack slot is a clear
MemoryAccessError at the call's pc (the kernel's verifier refuses such a program),
never a MemoryError, even under a 2 GiB address-space cap."""

from __future__ import annotations

import pytest

from tests.hostile.limits import run_limited

# (name, program type or None for pybpf.run, assembly, pc of the call)
CASES = [
    ("probe_read_user", None, "r1 = r10\nr1 += -8\nr2 = -1\nr3 = 0\ncall 112\nexit", 4),
    ("probe_read_kernel", None, "r1 = r10\nr1 += -8\nr2 = -1\nr3 = 0\ncall 113\nexit", 4),
    ("probe_read_user_str", None, "r1 = r10\nr1 += -8\nr2 = -1\nr3 = 0\ncall 114\nexit", 4),
    ("probe_read_kernel_str", None, "r1 = r10\nr1 += -8\nr2 = -1\nr3 = 0\ncall 115\nexit", 4),
    ("get_current_comm", None, "r1 = r10\nr1 += -8\nr2 = -1\ncall 16\nexit", 3),
    ("snprintf", None, "r1 = r10\nr1 += -8\nr2 = -1\nr3 = 0\nr4 = 0\nr5 = 0\ncall 165\nexit", 6),
    ("skb_load_bytes", "SCHED_CLS",
     "r2 = 0\nr3 = r10\nr3 += -8\nr4 = -1\ncall 26\nexit", 4),
    ("skb_load_bytes_bad_offset", "SCHED_CLS",  # the failure path zeroes `len` bytes
     "r2 = -1\nr3 = r10\nr3 += -8\nr4 = -1\ncall 26\nexit", 4),
    ("skb_load_bytes_relative", "SCHED_CLS",
     "r2 = 0\nr3 = r10\nr3 += -8\nr4 = -1\nr5 = 1\ncall 68\nexit", 5),
    ("skb_get_tunnel_key", "SCHED_CLS",
     "r2 = r10\nr2 += -8\nr3 = -1\nr4 = 0\ncall 20\nexit", 4),
]

CHILD = """
    import json
    import pybpf
    from pybpf.asm import assemble
    from pybpf.errors import PyBPFError
    from pybpf.progtypes import test_run
    from pybpf.uapi import ProgType
    results = {{}}
    for name, prog_type, text, _ in {cases!r}:
        code = assemble(text)
        try:
            if prog_type is None:
                pybpf.run(code)
            else:
                test_run(code, ProgType[prog_type], data_in=bytes(64))
            results[name] = ["no error", -2]
        except PyBPFError as e:
            results[name] = [f"{{type(e).__name__}}: {{e}}", getattr(e, "pc", None)]
    print(json.dumps(results))
"""


def test_program_chosen_sizes_fault_at_the_call_under_a_memory_cap() -> None:
    res = run_limited(CHILD.format(cases=CASES), timeout=60)
    assert res.returncode == 0, res.stderr[-3000:]
    results = res.json()
    for name, _, _, pc in CASES:
        text, got_pc = results[name]
        assert text.startswith("MemoryAccessError") and "store of 4294967295 bytes" in text, \
            (name, text)
        assert got_pc == pc, (name, text)


@pytest.mark.parametrize("size", [0, 1, 8])
def test_probe_read_within_the_destination_still_works(size: int) -> None:
    """The destination check does not change a valid call (the comparisons with the
    kernel are in tests/progtypes/test_progtypes_task.py)."""
    import pybpf
    from pybpf.asm import assemble
    code = assemble(f"r1 = r10\nr1 += -8\nr2 = {size}\nr3 = r10\nr3 += -16\ncall 113\nexit")
    assert pybpf.run(code) == 0


@pytest.mark.kernel
@pytest.mark.parametrize("name,prog_type,text,pc", CASES, ids=[c[0] for c in CASES])
def test_the_kernel_refuses_what_the_vm_faults_on(name: str, prog_type: str | None, text: str,
                                                  pc: int) -> None:
    """The kernel is the judge: its verifier refuses each of these programs (the size
    cannot fit the 8-byte stack slot), so a clear VM error is the matching answer."""
    from pybpf.asm import assemble
    from pybpf.kernel.errors import KernelError
    from pybpf.kernel.progs import prog_load
    from pybpf.uapi import ProgType
    pt = ProgType[prog_type] if prog_type else ProgType.KPROBE
    with pytest.raises(KernelError):
        prog_load(int(pt), assemble(text)).close()
