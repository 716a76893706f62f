"""The example objects give identical results on the interpreter and the JIT: every
packet example over every packet of examples/traffic.pcap (retval, data_out, maps),
and the README's main job through `pybpf run --pcap`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pybpf
from pybpf.cli.main import main
from pybpf.objects.runner import dump_maps
from pybpf.pcap import read_pcap
from tests.objects.test_examples import PACKET_EXAMPLES, _blocklist, _normalise

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def packets() -> list:
    return read_pcap(EXAMPLES / "traffic.pcap")


def _run(name: str, engine: str, packets: list) -> tuple[list, dict]:
    spec = pybpf.load(EXAMPLES / f"{name}.o")
    with spec.instantiate("vm", engine=engine) as obj:
        _blocklist(obj)
        prog = list(obj.programs.values())[-1]
        prog.set_clock(lambda: 1_700_000_000_000_000_000)
        results = []
        for p in packets:
            try:
                r = prog.test_run(p.data)
                results.append((r.retval, r.data_out))
            except pybpf.PyBPFError as e:
                results.append(("error", type(e).__name__, str(e)))
        return results, _normalise(dump_maps(obj))


@pytest.mark.parametrize("name", PACKET_EXAMPLES + ["cgroup_skb_count"])
def test_example_same_on_both_engines(name: str, packets: list) -> None:
    interp = _run(name, "interp", packets)
    jit = _run(name, "jit", packets)
    assert len(jit[0]) == 302
    diffs = [i for i, (a, b) in enumerate(zip(interp[0], jit[0])) if a != b]
    assert not diffs, f"packet {diffs[0]}: interp {interp[0][diffs[0]]} jit {jit[0][diffs[0]]}"
    assert interp[1] == jit[1]


def test_main_job_same_on_both_engines(capsys: pytest.CaptureFixture[str]) -> None:
    out = []
    for engine in ("interp", "jit"):
        assert main(["run", str(EXAMPLES / "xdp_firewall.o"), "--pcap",
                     str(EXAMPLES / "traffic.pcap"), "--engine", engine, "--json"]) == 0
        out.append(json.loads(capsys.readouterr().out))
    assert out[0] == out[1]
    assert out[1]  # something was printed
