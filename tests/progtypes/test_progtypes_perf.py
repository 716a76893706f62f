"""bpf_perf_event_output from XDP and tc on the VM against the kernel: the same
clang-built object (data/perf/perf.o) runs in both with the same frames; the return
value, the frame written back and the samples must be equal. In the kernel the
samples are read from a BPF-output perf event on CPU 0 (pybpf.kernel.PerfBuffer),
the test pinned to that CPU; on the VM from the map's slot (`events(0)`). The kernel
pads a sample with zeros to its 8-byte record alignment, so that tail is checked to
be zeros of the expected length."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import pybpf

pytestmark = pytest.mark.kernel  # every test compares with the kernel

OBJ = Path(__file__).resolve().parent / "data" / "perf" / "perf.o"
BPF_F_CURRENT_CPU = 0xFFFF_FFFF


@pytest.fixture(scope="module")
def both(on_cpu0: None) -> Iterator[dict[str, Any]]:
    # on CPU 0: BPF_F_CURRENT_CPU and the event's CPU agree
    from pybpf.kernel import PerfBuffer
    spec = pybpf.load(OBJ)
    vm = spec.instantiate("vm")
    kern = spec.instantiate("kernel")
    vm.maps["events"][0] = 1  # the VM's "event" for CPU 0
    buf = PerfBuffer(cpus=[0])
    kern.maps["events"][0] = buf.fds()[0]
    try:
        yield {"vm": vm, "kernel": kern, "buf": buf}
    finally:
        buf.close()
        vm.close()
        kern.close()


def frame(index_flags: int, ctx_len: int, size: int, sample: bytes, tail: bytes) -> bytes:
    return bytes(range(14)) + struct.pack("<III", index_flags, ctx_len, size) + sample + tail


def outcome(both: dict[str, Any], backend: str, prog: str, data: bytes) -> tuple:
    obj = both[backend]
    try:
        r = obj.programs[prog].test_run(data)
        res: tuple = ("ok", r.retval, r.data_out)
    except pybpf.PyBPFError as e:
        res = ("err", getattr(e, "errno", type(e).__name__))
    if backend == "vm":
        samples = obj.maps["events"].events(0)
    else:
        samples = [raw for cpu, raw in both["buf"].read() if cpu == 0]
    return res, samples


def padded(sample: bytes) -> int:
    """The raw length the kernel gives a sample: u32 size + data rounded up to 8."""
    return (len(sample) + 4 + 7) // 8 * 8 - 4


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(prog=st.sampled_from(["xdp_perf", "tc_perf"]),
       index_flags=st.one_of(st.sampled_from([0, 0, 0, 1, 3, 4, 7, BPF_F_CURRENT_CPU]),
                             st.integers(0, 2**32 - 1)),
       ctx_len=st.one_of(st.just(0), st.integers(0, 140),
                         st.sampled_from([0xFFFFF, 0x100000, 0xFFFF_FFFF])),
       size=st.integers(0, 31), sample=st.binary(min_size=32, max_size=32),
       tail=st.binary(max_size=80))
def test_perf_event_output_matches_kernel(both: dict[str, Any], prog: str, index_flags: int,
                                          ctx_len: int, size: int, sample: bytes,
                                          tail: bytes) -> None:
    data = frame(index_flags, ctx_len, size, sample, tail)
    k_res, k_samples = outcome(both, "kernel", prog, data)
    v_res, v_samples = outcome(both, "vm", prog, data)
    assert v_res == k_res
    assert len(v_samples) == len(k_samples) <= 1
    for v, k in zip(v_samples, k_samples):
        assert len(k) == padded(v) and k[:len(v)] == v and not any(k[len(v):])


def test_perf_event_output_sample_and_packet_bytes(both: dict[str, Any]) -> None:
    """A known case, spelled out: 5 sample bytes then the frame's first 20 bytes."""
    data = frame(BPF_F_CURRENT_CPU, 20, 4, bytes(range(100, 132)), b"")
    for backend in ("kernel", "vm"):
        res, samples = outcome(both, backend, "tc_perf", data)
        assert res[:2] == ("ok", 0), backend
        assert samples[0][:25] == bytes(range(100, 105)) + data[:20], backend
    assert outcome(both, "vm", "xdp_perf", frame(2, 0, 0, bytes(32), b""))[0][1] == 2000 + 2
