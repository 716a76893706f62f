"""Regressions for what the hostile-input campaign found (beyond issue 11's list)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from pybpf.helpers import TracePipe
from tests.conftest import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# Ethernet, IPv4 (ihl 5, UDP, 10.0.0.1 -> 10.0.0.2), UDP to port 53
DNS_PACKET = (bytes(12) + b"\x08\x00" + bytes.fromhex("4500001c00000000401100000a0000010a000002")
              + bytes.fromhex("3039003500080000"))


def test_run_of_an_object_that_can_printk_on_the_vm(capsys: pytest.CaptureFixture[str]) -> None:
    """Campaign seed 100, cli case 321: `pybpf run rodata_config.o --data-in ...` was an
    internal error (TypeError: the bounded trace pipe could not be sliced)."""
    rc, out, err = run_cli(capsys, "run", str(EXAMPLES / "rodata_config.o"), "--data-in",
                           "00" * 64)
    assert rc == 0, err
    assert "retval 2 (XDP_PASS)" in out


def test_printk_lines_of_a_vm_run_are_shown(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run_cli(capsys, "run", str(EXAMPLES / "rodata_config.o"), "--set",
                           "debug=true", "--data-in", DNS_PACKET.hex())
    assert rc == 0, err
    assert "rodata_config: match 0 from a000001 (v1)" in out


def test_trace_pipe_slices_and_reads_since_a_mark_across_drops() -> None:
    pipe = TracePipe(limit=20)  # room for three 5-character messages with newlines
    for i in range(3):
        pipe.append(f"msg-{i}")
    assert pipe[1:] == ["msg-1", "msg-2"] and pipe[-1] == "msg-2"
    mark = pipe.written
    for i in range(3, 7):
        pipe.append(f"msg-{i}")
    assert pipe.dropped == 4 and pipe.written == 7
    assert pipe.since(mark) == ["msg-4", "msg-5", "msg-6"]  # msg-3 was dropped
    assert pipe.since(pipe.written) == [] and pipe.since(0) == list(pipe)


def test_a_ring_buffer_past_the_address_space_cap_is_enomem() -> None:
    """Found by the cost-model test: a 2 GiB ring buffer (its data mapped twice) under a
    2 GiB RLIMIT_AS was an OSError ("mmap reserve failed"), and left its file behind."""
    from tests.hostile.limits import run_limited
    res = run_limited("""
        import errno, json, os
        from pybpf.maps import MapError, MapSpec
        from pybpf.maps.memory import shm_dir
        mine = lambda: sorted(f for f in os.listdir(shm_dir())
                              if f.startswith(f"pybpf-map-{os.getpid()}-"))
        try:
            MapSpec("ringbuf", 0, 0, 1 << 31).create("vm")
            out = "created"
        except MapError as e:
            out = [type(e).__name__, e.errno, str(e)]
        small = MapSpec("ringbuf", 0, 0, 1 << 16).create("vm")  # the cap leaves room for this
        small.close()
        print(json.dumps({"out": out, "left": mine()}))
    """, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    got = res.json()
    assert got["out"][1] == errno.ENOMEM and "ring buffer" in got["out"][2], got
    assert got["left"] == []


def test_probe_reads_read_the_host_task_once_a_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Campaign seed 7, vm case 2290: a 1M-budget loop of bpf_probe_read_kernel calls
    ran 25 s, each call reading /proc/self/task/<tid>/comm for a Task it did not need."""
    from pybpf.errors import InstructionLimitExceeded
    from pybpf.isa import Instruction as I
    from pybpf.progtypes import task
    from pybpf.vm import VM
    reads = []
    real = task._host_comm
    monkeypatch.setattr(task, "_host_comm", lambda tid: reads.append(tid) or real(tid))
    # r6 = r10 - 8 (dst), r7 = r10 - 16 (src); loop: probe_read_kernel(r6, 8, r7)
    code = [I(0xBF, 6, 10), I(0x07, 6, 0, 0, -8), I(0xBF, 7, 10), I(0x07, 7, 0, 0, -16),
            I(0xBF, 1, 6), I(0xB7, 2, 0, 0, 8), I(0xBF, 3, 7), I(0x85, 0, 0, 0, 113),
            I(0x05, 0, 0, -5, 0), I(0x95)]
    vm = VM(code, insn_budget=5000)
    for _ in range(2):
        with pytest.raises(InstructionLimitExceeded):
            vm.execute()
    assert len(reads) == 2  # once a run, not a thousand times


@pytest.mark.parametrize("map_type", ["lru_hash", "hash", "lru_percpu_hash"])
def test_a_key_index_past_the_address_space_cap_is_enomem(map_type: str) -> None:
    """Campaign seed 7101, vm cases 29293 and 59089: a hash map of 4,096 keys of 1 MiB
    wanted 4 GiB for its key index (native lookups) under a 2 GiB RLIMIT_AS: an OSError
    ("Cannot allocate memory"), not a pybpf error."""
    from tests.hostile.limits import run_limited
    res = run_limited(f"""
        import json
        from pybpf.maps import MapError, MapSpec
        try:
            MapSpec({map_type!r}, 1 << 20, 8, 4096).create("vm")
            out = "created"
        except MapError as e:
            out = [type(e).__name__, e.errno, str(e)]
        small = MapSpec({map_type!r}, 8, 8, 16).create("vm")
        small.close()
        print(json.dumps({{"out": out}}))
    """, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    got = res.json()["out"]
    assert got[1] == errno.ENOMEM and "key index" in got[2], got
