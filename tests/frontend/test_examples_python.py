"""The examples written again in restricted Python (examples/python/) give the same
verdicts, packets and maps as their C versions (examples/*.o) over every frame of
examples/traffic.pcap, on the VM and in the kernel."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import pybpf
from pybpf.frontend.python import compile_file
from pybpf.objects.runner import dump_maps
from pybpf.pcap import read_pcap
from tests.conftest import on_cpu
from tests.objects.test_examples import _blocklist, _normalise

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
# example -> its program
PACKET_EXAMPLES = {"xdp_firewall": "xdp_firewall", "sockfilter_proto": "count_by_proto",
                   "tc_classifier": "classify"}


def run_packets(spec: pybpf.ObjectSpec, prog_name: str, backend: str,
                packets: list) -> tuple[list, dict]:
    with spec.instantiate(backend) as obj:
        _blocklist(obj)
        prog = obj.programs[prog_name]
        start = time.monotonic_ns()
        prog.set_clock(lambda: start)
        results = []
        for p in packets:
            try:
                r = prog.test_run(p.data)
                results.append((r.retval, r.data_out))
            except pybpf.PyBPFError as e:
                results.append(("error", getattr(e, "errno", type(e).__name__)))
        return results, _normalise(dump_maps(obj))


@pytest.fixture(scope="module")
def packets() -> list:
    return read_pcap(EXAMPLES / "traffic.pcap")


def _compare(name: str, backend: str, packets: list) -> tuple[list, dict]:
    py = compile_file(EXAMPLES / "python" / f"{name}.py").spec()
    c = pybpf.load(EXAMPLES / f"{name}.o")
    got = run_packets(py, PACKET_EXAMPLES[name], backend, packets)
    want = run_packets(c, PACKET_EXAMPLES[name], backend, packets)
    assert len(got[0]) == 302
    diffs = [i for i, (a, b) in enumerate(zip(got[0], want[0])) if a != b]
    assert not diffs, f"packet {diffs[0]}: Python {got[0][diffs[0]]}, C {want[0][diffs[0]]}"
    assert got[1] == want[1]
    assert any(got[1].values())
    return got


@pytest.mark.parametrize("name", sorted(PACKET_EXAMPLES))
def test_python_example_matches_c_on_the_vm(name: str, packets: list) -> None:
    _compare(name, "vm", packets)


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(PACKET_EXAMPLES))
def test_python_example_matches_c_in_the_kernel(name: str, packets: list) -> None:
    with on_cpu(0):
        _compare(name, "kernel", packets)


def test_examples_run_as_scripts(capsys: pytest.CaptureFixture[str]) -> None:
    import runpy
    import sys
    for name in ("xdp_firewall", "tp_syscalls"):
        old = sys.argv
        sys.argv = [name, str(EXAMPLES / "traffic.pcap")]
        try:
            with pytest.raises(SystemExit) as ei:
                runpy.run_path(str(EXAMPLES / "python" / f"{name}.py"), run_name="__main__")
        finally:
            sys.argv = old
        assert ei.value.code == 0
    out = capsys.readouterr().out
    assert "xdp_firewall: 1: " in out and '"fw_stats"' in out
    assert "count_sys_enter: a tracepoint/raw_syscalls/sys_enter program runs attached" in out
