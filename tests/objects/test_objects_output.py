"""RunCapture: ring-buffer and perf-buffer records and bpf_printk messages of test runs,
the same on the VM and in the kernel (tests/objects/data/typed_io.c sends one struct
event to each buffer and prints one line per run)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import pybpf
from pybpf.objects.output import RunCapture, declared_record_types, resolve_type

DATA = Path(__file__).parent / "data"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BACKENDS = ["vm", pytest.param("kernel", marks=pytest.mark.kernel)]
TYPES = {"events": ["struct event"], "perf_events": ["event"]}


def _capture(backend: str, packets: list[bytes], types: Any = TYPES) -> RunCapture:
    with pybpf.load(DATA / "typed_io.o").instantiate(backend) as obj:
        with RunCapture(obj, types) as cap:
            for p in packets:
                obj.programs["typed_io"].test_run(p)
        return cap


def _summary(cap: RunCapture) -> list[tuple]:
    return [(r.map, r.kind, r.type, r.value, r.data) for r in cap.records]


@pytest.mark.parametrize("backend", BACKENDS)
def test_records_and_printk(backend: str) -> None:
    cap = _capture(backend, [bytes(20), bytes(60)])
    ring = [r for r in cap.records if r.kind == "ringbuf"]
    perf = [r for r in cap.records if r.kind == "perf"]
    assert [r.value for r in ring] == [
        {"run": 1, "len": 20, "mode": "MODE_COUNT", "label": "new"},
        {"run": 2, "len": 60, "mode": "MODE_COUNT", "label": "new"}]
    assert [r.type for r in ring] == ["struct event"] * 2
    assert [r.value for r in perf] == [r.value for r in ring]
    assert all(r.cpu is not None and len(r.data) == 24 for r in perf)  # padding cut off
    assert cap.printk == ["typed_io: run 1 len 20", "typed_io: run 2 len 60"]
    assert cap.warnings == []
    d = ring[0].as_dict()
    assert d["hex"] == ring[0].data.hex() and d["value"]["len"] == 20


@pytest.mark.parametrize("backend", BACKENDS)
def test_untyped_records_are_bytes(backend: str) -> None:
    cap = _capture(backend, [bytes(16)], types={})
    ring = [r for r in cap.records if r.kind == "ringbuf"]
    assert ring[0].value is None and ring[0].type == ""
    assert ring[0].data == bytes.fromhex("0100000000000000" "10000000" "01000000") + b"new" + \
        bytes(5)
    assert "value" not in ring[0].as_dict()
    # a named type that fits no record leaves it bytes too
    cap = _capture(backend, [bytes(16)], types={"events": ["struct counters"]})
    assert all(r.type == "" for r in cap.records)


@pytest.mark.kernel
def test_same_output_on_both_backends() -> None:
    packets = [bytes(14 + i) for i in range(0, 200, 7)]
    vm, kernel = _capture("vm", packets), _capture("kernel", packets)
    assert _summary(vm) == _summary(kernel) and vm.printk == kernel.printk
    assert len(vm.records) == 2 * len(packets)


def test_a_full_ring_never_loses_records_over_a_long_run() -> None:
    """The ring holds 128 records; records are collected after every test run."""
    cap = _capture("vm", [bytes(20)] * 300)
    assert sum(r.kind == "ringbuf" for r in cap.records) == 300
    assert len(cap.printk) == 300


@pytest.mark.kernel
def test_kernel_trace_instance_is_removed() -> None:
    root = Path("/sys/kernel/tracing/instances")
    before = set(os.listdir(root)) if root.is_dir() else set()
    cap = _capture("kernel", [bytes(20)])
    assert cap.printk == ["typed_io: run 1 len 20"]
    after = set(os.listdir(root)) if root.is_dir() else set()
    assert not {n for n in after - before if n.startswith("pybpf_")}


def test_record_type_errors() -> None:
    with pybpf.load(DATA / "typed_io.o").instantiate("vm") as obj:
        for types, msg in (({"nope": ["event"]}, "no such map"),
                           ({"flows": ["event"]}, "not a ring buffer"),
                           ({"events": ["struct nope"]}, "no type 'struct nope'")):
            with pytest.raises(pybpf.PyBPFError, match=msg):
                RunCapture(obj, types)
    spec = pybpf.load(DATA / "typed_io.o")
    assert spec.btf.size_of(resolve_type(spec.btf, "struct event")) == 24
    assert resolve_type(spec.btf, "enum mode") == resolve_type(spec.btf, "mode")
    assert spec.btf.size_of(resolve_type(spec.btf, "__u16")) == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_ringbuf_example(backend: str) -> None:
    """examples/ringbuf_events.o: 302 records over the sample capture, the first one the
    README's bytes; the object declares its two record types (unused global pointers
    to them), so each record decodes as the one of its size."""
    from pybpf.pcap import read_pcap
    with pybpf.load(EXAMPLES / "ringbuf_events.o").instantiate(backend) as obj:
        with RunCapture(obj) as cap:
            for p in read_pcap(EXAMPLES / "traffic.pcap"):
                obj.programs["xdp_events"].test_run(p.data)
    assert len(cap.records) == 302
    assert cap.records[0].data == bytes.fromhex("020006083c000000")
    assert cap.records[0].type == "struct other_event"
    assert cap.records[0].value == {"kind": 2, "pad": 0, "ethertype": 0x0806, "len": 60}
    assert [r.type for r in cap.records].count("struct pkt_event") == 287
    assert all(r.value["kind"] == (1 if r.type == "struct pkt_event" else 2)
               for r in cap.records)
    assert cap.record_anchors == ["unused_pkt_event", "unused_other_event"]


def test_declared_record_types() -> None:
    """Unused global pointers to a struct declare record types; used globals, and
    globals that are no pointers to a struct or union, do not."""
    spec = pybpf.load(EXAMPLES / "ringbuf_events.o")
    types, anchors = declared_record_types(spec)
    assert [(name, size) for name, _, size in types] == [("struct pkt_event", 24),
                                                         ("struct other_event", 8)]
    assert anchors == ["unused_pkt_event", "unused_other_event"]   # not lost_events (a u64)
    assert declared_record_types(pybpf.load(EXAMPLES / "xdp_lb.o")) == ([], [])


def test_ambiguous_declared_record_types_stay_bytes() -> None:
    """Two declared types of one size: the record is not guessed."""
    from pybpf.objects.output import OutputRecord
    with pybpf.load(EXAMPLES / "ringbuf_events.o").instantiate("vm") as obj:
        cap = RunCapture(obj)
        name, tid, size = cap.declared[1]
        cap.declared.append(("struct twin", tid, size))
        rec = cap._decode("events", "ringbuf", bytes(8), None)
        assert isinstance(rec, OutputRecord) and rec.type == "" and rec.value is None
        rec = cap._decode("events", "ringbuf", bytes(24), None)
        assert rec.type == "struct pkt_event"


@pytest.mark.kernel
def test_no_trace_instance_without_printk(monkeypatch: pytest.MonkeyPatch) -> None:
    """A trace instance is made only for objects whose programs call bpf_trace_printk."""
    from pybpf.kernel import tracepipe

    def refuse(*a: Any, **kw: Any) -> None:
        raise AssertionError("a trace instance was made")
    monkeypatch.setattr(tracepipe.TracePrintk, "__init__", refuse)
    with pybpf.load(EXAMPLES / "xdp_lb.o").instantiate("kernel") as obj:
        with RunCapture(obj) as cap:
            obj.programs["xdp_lb"].test_run(bytes(64))
    assert cap.printk == [] and cap.warnings == []


@pytest.mark.kernel
def test_printk_unavailable_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    from pybpf.kernel import TracefsError, tracepipe

    def refuse(*a: Any, **kw: Any) -> None:
        raise TracefsError(13, "tracefs", "cannot create trace instance: Permission denied")
    monkeypatch.setattr(tracepipe.TracePrintk, "__init__", refuse)
    cap = _capture("kernel", [bytes(20)])
    assert cap.printk == [] and len(cap.records) == 2
    assert len(cap.warnings) == 1 and cap.warnings[0].startswith(
        "bpf_printk output not shown: ") and "Permission denied" in cap.warnings[0]
