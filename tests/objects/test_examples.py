"""Every example object runs on both backends with the same retval, data_out and maps,
over every packet of examples/traffic.pcap. The tracepoint example, which the kernel
cannot test_run, is compared in tests/tools/test_tools_examples.py: real syscalls
counted by the kernel against VM runs on the same tracepoint records."""

from __future__ import annotations

from pathlib import Path

import pytest

import pybpf
from pybpf.objects.runner import dump_maps
from pybpf.pcap import read_pcap
from tests.conftest import on_cpu

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PACKET_EXAMPLES = ["xdp_firewall", "xdp_lb", "sockfilter_proto", "tc_classifier",
                   "ringbuf_events", "tailcall_dispatch", "rodata_config"]
# fields that hold bpf_ktime_get_ns() values: compared as "set", not by value
TIME_FIELDS = {"rate_table": "window_start_ns"}


def _normalise(maps: dict) -> dict:
    out = {}
    for name, entries in maps.items():
        norm = []
        for e in entries:
            value = e["value"]
            if name in TIME_FIELDS:
                assert isinstance(value, dict), "the example's BTF decodes its values"
                assert value[TIME_FIELDS[name]], f"{name}: time field unset"
                value = {**value, TIME_FIELDS[name]: "set"}
            norm.append((repr(e["key"]), repr(value)))
        out[name] = sorted(norm)
    return out


def _blocklist(obj) -> None:  # type: ignore[no-untyped-def]
    """The blocklist examples/README.md assumes: 203.0.113.0/24."""
    if "blocklist" in obj.maps:
        key = (24).to_bytes(4, "little") + bytes([203, 0, 113, 0])
        obj.maps["blocklist"][key] = (1).to_bytes(obj.maps["blocklist"].value_size, "little")


def _run(path: Path, backend: str, packets: list) -> tuple[list, dict]:
    spec = pybpf.load(path)
    with spec.instantiate(backend) as obj:
        _blocklist(obj)
        prog = list(obj.programs.values())[-1]
        start = __import__("time").monotonic_ns()
        prog.set_clock(lambda: start)  # VM: frozen, as a kernel replay of ~10 ms looks
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


@pytest.mark.kernel
@pytest.mark.parametrize("name", PACKET_EXAMPLES)
def test_example_same_on_both_backends(name: str, packets: list) -> None:
    with on_cpu(0):  # per-CPU maps: the kernel then counts on CPU 0, as the VM
        kernel = _run(EXAMPLES / f"{name}.o", "kernel", packets)
    vm = _run(EXAMPLES / f"{name}.o", "vm", packets)
    assert len(vm[0]) == len(packets) == 302
    diffs = [i for i, (a, b) in enumerate(zip(kernel[0], vm[0])) if a != b]
    assert not diffs, (f"first difference at packet {diffs[0]}: "
                       f"kernel {kernel[0][diffs[0]]} vm {vm[0][diffs[0]]}")
    assert kernel[1] == vm[1]
    assert any(kernel[1].values()) or name in ("ringbuf_events", "rodata_config")


def test_examples_run_on_the_vm_without_the_kernel(packets: list) -> None:
    """The firewall's verdicts over the sample capture, on the VM alone (what the README's
    main job prints)."""
    results, maps = _run(EXAMPLES / "xdp_firewall.o", "vm", packets)
    verdicts = [r for r, _ in results]
    assert verdicts.count(2) == 240 and verdicts.count(1) == 62  # XDP_PASS / XDP_DROP
    assert "fw_stats" in maps
