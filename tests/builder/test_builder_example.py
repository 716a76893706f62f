"""examples/sockfilter_proto.py (the socket filter written with the builder) gives the
same verdicts and maps as its C version, examples/sockfilter_proto.o, over every frame
of examples/traffic.pcap, on the VM and in the kernel."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import pybpf
from pybpf.pcap import read_pcap

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("sockfilter_proto_example",
                                                  EXAMPLES / "sockfilter_proto.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(spec: pybpf.ObjectSpec, backend: str, packets: list) -> tuple[list, dict]:
    with spec.instantiate(backend) as obj:
        prog = obj.programs["count_by_proto"]
        results = []
        for p in packets:
            try:
                results.append(prog.test_run(p.data).retval)
            except pybpf.PyBPFError as e:
                results.append(("error", getattr(e, "errno", type(e).__name__)))
        maps = {name: sorted((bytes(k), bytes(v)) for k, v in obj.maps[name].items())
                for name in ("size_hist", "proto_stats")}
        typed = {name: dict(obj.maps[name].typed) for name in ("size_hist", "proto_stats")}
        return results, {"raw": maps, "typed": typed}


@pytest.fixture(scope="module")
def packets() -> list:
    return read_pcap(EXAMPLES / "traffic.pcap")


@pytest.mark.parametrize("backend", ["vm", pytest.param("kernel", marks=pytest.mark.kernel)])
def test_builder_example_matches_c_version(backend: str, packets: list) -> None:
    built = _run(_example_module().build(), backend, packets)
    clang = _run(pybpf.load(EXAMPLES / "sockfilter_proto.o"), backend, packets)
    assert len(built[0]) == 302
    diffs = [i for i, (a, b) in enumerate(zip(built[0], clang[0])) if a != b]
    assert not diffs, f"packet {diffs[0]}: builder {built[0][diffs[0]]}, C {clang[0][diffs[0]]}"
    assert built[1] == clang[1]
    # the numbers examples/README.md gives for the C version
    stats = built[1]["typed"]["proto_stats"]
    assert (stats[6]["packets"], stats[6]["bytes"]) == (82, 9041)
    assert (stats[17]["packets"], stats[17]["bytes"]) == (197, 17724)


@pytest.mark.kernel
def test_builder_example_same_on_both_backends(packets: list) -> None:
    spec = _example_module().build()
    assert _run(spec, "vm", packets) == _run(spec, "kernel", packets)


def test_builder_example_main_prints_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert _example_module().main([str(EXAMPLES / "traffic.pcap")]) == 0
    out = capsys.readouterr().out
    assert "proto   6: 82 packets, 9041 bytes" in out
