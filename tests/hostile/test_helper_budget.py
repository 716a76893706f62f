"""The instruction budget covers helper work: a helper is charged for the bytes it
scans and copies (helpers.charge), so a loop of expensive helper calls ends with the
budget error within a bounded multiple of its budget in wall time; the trace pipe is
bounded as the kernel's ring; helper faults name the pc of the call."""

from __future__ import annotations

import pytest

from pybpf.asm import assemble
from pybpf.errors import InstructionLimitExceeded, MemoryAccessError
from pybpf.helpers import TRACE_BUFFER_BYTES, TracePipe
from pybpf.vm import VM, Memory
from tests.hostile.limits import run_limited

BIG = 1 << 16
# (name, loop body run forever on r6 = a 64 KB region, the region's bytes)
LOOPS = {
    "snprintf": ("r1 = r10\nr1 += -16\nr2 = 16\nr3 = r6\nr4 = 0\nr5 = 0\ncall 165",
                 b"A" * (BIG - 1) + b"\0"),
    "snprintf_wide": ("r1 = r10\nr1 += -16\nr2 = 16\nr3 = r6\nr4 = r10\nr4 += -8\n"
                      "*(u64 *)(r10 - 8) = 0\nr5 = 8\ncall 165",
                      b"%" + b"9" * 40 + b"d\0" + bytes(BIG - 43)),
    "strncmp": ("r1 = r6\nr2 = 65535\nr3 = r6\ncall 182", b"A" * (BIG - 1) + b"\0"),
    "trace_printk": ("r1 = r6\nr2 = 65536\ncall 6", b"A" * (BIG - 1) + b"\0"),
    "strtol": ("r1 = r6\nr2 = 65536\nr3 = 0\nr4 = r10\nr4 += -8\ncall 105", b" " * BIG),
    "probe_read_kernel_str": ("r1 = r6\nr2 = 65536\nr3 = r6\ncall 115",
                              b"A" * (BIG - 1) + b"\0"),
    "csum_diff": ("r1 = r6\nr2 = 65536\nr3 = r6\nr4 = 65536\nr5 = 0\ncall 28", b"\xff" * BIG),
}

CHILD = """
    import json, time
    from pybpf.asm import assemble
    from pybpf.errors import PyBPFError
    from pybpf.vm import VM, Memory
    out = {{}}
    for name, (body, data) in {loops!r}.items():
        vm = VM(assemble("r6 = r1\\nloop:\\n" + body + "\\ngoto loop\\nexit"), insn_budget={budget})
        mem = Memory()
        region = mem.map("data", bytearray(data))
        t = time.perf_counter()
        try:
            vm.execute(mem, region.base)
            err = "no error"
        except PyBPFError as e:
            err = type(e).__name__
        out[name] = [err, time.perf_counter() - t, len(vm.trace_pipe)]
    print(json.dumps(out))
"""


def test_helper_loops_end_with_the_budget_error_in_bounded_time() -> None:
    """Before: a snprintf over a 64 KB format cost 225 ms a call and counted as one
    instruction, so a 1M budget allowed hours. Now every loop stops at its budget, in
    well under 10 us per budgeted instruction."""
    budget = 1_000_000
    res = run_limited(CHILD.format(loops=LOOPS, budget=budget), timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    for name, (err, seconds, _) in res.json().items():
        assert err == "InstructionLimitExceeded", (name, err)
        assert seconds < budget * 10e-6, (name, seconds)


def _run(text: str, data: bytes, budget: int = 1_000_000) -> tuple[VM, Memory, int]:
    vm = VM(assemble(text), insn_budget=budget)
    mem = Memory()
    region = mem.map("data", bytearray(data))
    return vm, mem, region.base


def test_helper_work_counts_in_executed() -> None:
    """A probe read of 4096 bytes costs 4096 / 8 instructions beside the call."""
    text = "r6 = r1\nr1 = r6\nr2 = 4096\nr3 = r6\ncall 113\nexit"
    vm, mem, base = _run(text, bytes(4096))
    assert vm.execute(mem, base).executed == 6 + 4096 // 8


def test_trace_pipe_is_bounded_as_the_kernels_ring() -> None:
    """3,000 messages of 1,000 bytes: the newest that fit in the ring stay, the
    oldest are dropped and counted."""
    text = ("r6 = r1\nr7 = 3000\nloop:\nr1 = r6\nr2 = 1001\ncall 6\nr7 += -1\n"
            "if r7 != 0 goto loop\nexit")
    vm, mem, base = _run(text, b"B" * 1000 + b"\0", budget=10_000_000)
    vm.execute(mem, base)
    pipe = vm.trace_pipe
    assert sum(len(m) + 1 for m in pipe) <= TRACE_BUFFER_BYTES
    assert len(pipe) == TRACE_BUFFER_BYTES // 1001
    assert pipe.dropped == 3000 - len(pipe)
    assert pipe[-1] == "B" * 1000


def test_trace_pipe_reads_like_a_list() -> None:
    pipe = TracePipe(limit=10)
    for m in ("ab", "cd", "ef", "gh"):
        pipe.append(m)
    assert list(pipe) == ["cd", "ef", "gh"] and pipe == ["cd", "ef", "gh"]
    assert pipe.dropped == 1 and len(pipe) == 3 and pipe[0] == "cd"
    assert pipe[1:] == ["ef", "gh"]
    pipe.clear()
    assert list(pipe) == []


def test_trace_pipe_marks_survive_dropping() -> None:
    """A reader that marks `written` gets exactly the messages written since, while the
    ring still holds them, however many the ring has dropped in between."""
    pipe = TracePipe(limit=10)
    seen: list[str] = []
    mark = pipe.written
    for i in range(40):
        pipe.append(f"m{i % 10}")
        if i % 2:
            seen += pipe.since(mark)
            mark = pipe.written
    assert seen == [f"m{i % 10}" for i in range(40)] and pipe.dropped == 40 - len(pipe)
    for i in range(5):
        pipe.append(f"x{i}")
    assert pipe.since(mark) == list(pipe)  # three of the five: two were dropped unread


FAULTS = [
    ("strtol res", "r1 = r6\nr2 = 4\nr3 = 0\nr4 = 0\ncall 105\nexit", 4),
    ("strtol buf", "r1 = 0\nr2 = 4\nr3 = 0\nr4 = r10\nr4 += -8\ncall 105\nexit", 5),
    ("trace_printk fmt", "r1 = 0\nr2 = 8\ncall 6\nexit", 2),
    ("trace_vprintk data", "r1 = r6\nr2 = 4\nr3 = 16\nr4 = 8\ncall 177\nexit", 4),
    ("snprintf fmt", "r1 = r10\nr1 += -8\nr2 = 8\nr3 = 0\nr4 = 0\nr5 = 0\ncall 165\nexit", 6),
    ("snprintf out", "r1 = 0\nr2 = 8\nr3 = r6\nr4 = 0\nr5 = 0\ncall 165\nexit", 5),
    ("strncmp", "r1 = 0\nr2 = 8\nr3 = r6\ncall 182\nexit", 3),
    ("get_current_comm", "r1 = 0\nr2 = 16\ncall 16\nexit", 2),
    ("probe_read_kernel", "r1 = 0\nr2 = 8\nr3 = r6\ncall 113\nexit", 3),
]


@pytest.mark.parametrize("name,text,pc", FAULTS, ids=[f[0] for f in FAULTS])
def test_helper_faults_name_the_pc_of_the_call(name: str, text: str, pc: int) -> None:
    vm, mem, base = _run("r6 = r1\n" + text, b"%d\0" + bytes(30))
    with pytest.raises(MemoryAccessError) as info:
        vm.execute(mem, base)
    assert info.value.pc == pc + 1, str(info.value)
    assert f"at pc {pc + 1}" in str(info.value)


def test_budget_error_in_a_helper_names_the_call() -> None:
    vm, mem, base = _run("r6 = r1\nr1 = r6\nr2 = 65536\nr3 = r6\ncall 113\nexit", bytes(BIG),
                         budget=100)
    with pytest.raises(InstructionLimitExceeded) as info:
        vm.execute(mem, base)
    assert info.value.pc == 4
