"""Typed maps and globals of an instantiated object (tests/objects/data/typed_io.c):
`obj.maps[name].typed` decodes by the object's BTF, `obj.globals` reads and writes
.bss/.data and refuses .rodata after load, `spec.set_global` takes typed values; the
same answers on the VM and in the kernel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import pybpf
from pybpf.maps import Record
from pybpf.objects.typed import (
    GlobalValueError,
    ReadOnlyGlobalError,
    UnknownGlobalError,
)

DATA = Path(__file__).parent / "data"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BACKENDS = ["vm", pytest.param("kernel", marks=pytest.mark.kernel)]
KEY = bytes([10, 0, 0, 1, 0x50, 0, 6, 0])  # struct flow_key {10.0.0.1, 80, 6}
PKT = KEY + bytes(52)




def _obj(backend: str, **sets: Any) -> Any:
    spec = pybpf.load(DATA / "typed_io.o")
    for name, value in sets.items():
        spec.set_global(name, value)
    return spec.instantiate(backend)


def _state(obj: Any) -> dict[str, Any]:
    return {"globals": obj.globals.to_dict(),
            "flows": sorted(obj.maps["flows"].typed.items(), key=repr),
            "per_cpu": obj.maps["per_cpu"].typed.summed()}


@pytest.mark.parametrize("backend", BACKENDS)
def test_globals_read_and_write(backend: str) -> None:
    with _obj(backend) as obj:
        g = obj.globals
        assert g.mode == "MODE_COUNT" and g.verbose is True
        assert g.limits == {"max_len": 1000, "burst": 4, "enabled": True}
        assert g["label"] == "new" and g.ports == [53, 80, 443] and g.runs == 0
        assert g.last == {"run": 0, "len": 0, "mode": "MODE_OFF", "label": ""}
        assert "runs" in g and "nope" not in g and "runs" in dir(g)
        assert set(g.to_dict()) == {".bss", ".data", ".rodata"}
        g.label = "drop"
        g.ports = [1, 2]  # a list is the whole array: the rest is 0
        g["runs"] = 41
        g.last = {"mode": "MODE_LEARN"}
        assert (g.label, g.ports, g.runs) == ("drop", [1, 2, 0], 41)
        assert g.last["mode"] == "MODE_LEARN"
        # the program sees what was written
        assert obj.programs["typed_io"].test_run(PKT).retval == 2
        assert g.runs == 42 and g.last == {"run": 42, "len": 60, "mode": "MODE_COUNT",
                                           "label": "drop"}
        assert obj.maps["flows"].typed[{"addr": 0x0100000A, "port": 80, "proto": 6}]["tag"] \
            == "drop"


@pytest.mark.parametrize("backend", BACKENDS)
def test_global_errors_name_the_variable(backend: str) -> None:
    with _obj(backend) as obj:
        g = obj.globals
        with pytest.raises(ReadOnlyGlobalError, match=r"global mode is in \.rodata.*"
                                                      r"spec\.set_global\('mode'"):
            g.mode = "MODE_OFF"
        with pytest.raises(ReadOnlyGlobalError):
            g["limits"] = {"max_len": 1}
        assert g.mode == "MODE_COUNT"
        with pytest.raises(AttributeError, match="no global variable 'nope'"):
            _ = g.nope
        with pytest.raises(UnknownGlobalError, match="no global variable 'nope'"):
            g["nope"] = 1
        with pytest.raises(KeyError):
            g["nope"]
        with pytest.raises(GlobalValueError, match="global runs: -1 does not fit"):
            g.runs = -1
        with pytest.raises(GlobalValueError, match="global label: 9 bytes do not fit"):
            g.label = "123456789"
        with pytest.raises(GlobalValueError, match="last.mode: enum 'mode' has no"):
            g.last = {"mode": "MODE_BAD"}
        assert isinstance(GlobalValueError("x", "global x: bad"), (ValueError, pybpf.PyBPFError))


def test_set_global_takes_typed_values() -> None:
    spec = pybpf.load(DATA / "typed_io.o")
    spec.set_global("mode", "MODE_LEARN")
    spec.set_global("verbose", False)
    spec.set_global("limits", {"max_len": 50})  # a partial struct keeps burst/enabled
    spec.set_global("label", "hi")
    spec.set_global("runs", 7)
    spec.set_global("ports", b"\x01\x00\x02\x00\x03\x00")  # bytes as they are
    assert spec.global_bytes("mode") == (2).to_bytes(4, "little")
    assert spec.global_bytes("limits") == bytes.fromhex("32000000 0400 0100")
    with spec.instantiate("vm") as obj:
        assert obj.globals.to_dict((".rodata", ".data")) == {
            ".rodata": {"mode": "MODE_LEARN", "verbose": False,
                        "limits": {"max_len": 50, "burst": 4, "enabled": True},
                        "typed_io.____fmt": "typed_io: run %llu len %u"},
            ".data": {"label": "hi", "ports": [1, 2, 3]}}
        assert obj.globals.runs == 7
        # MODE_LEARN: unknown flows are not inserted; the 60-byte packet is dropped
        assert obj.programs["typed_io"].test_run(PKT).retval == 1
        assert len(obj.maps["flows"]) == 0
    for name, value, msg in (("mode", "MODE_X", "no enumerator 'MODE_X'"),
                             ("limits", {"max": 1}, "has no member 'max'"),
                             ("runs", 1.5, "expected an int"),
                             ("label", "far too long", "do not fit")):
        with pytest.raises(ValueError, match=msg):
            spec.set_global(name, value)
    with pytest.raises(KeyError, match="no global variable 'nope'"):
        spec.set_global("nope", 1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_typed_maps_of_an_object(backend: str, cpu0: None) -> None:
    with _obj(backend) as obj:
        flows = obj.maps["flows"].typed
        flows[{"addr": 0x0100000A, "port": 80, "proto": 6}] = {"tag": "drop"}
        prog = obj.programs["typed_io"]
        assert prog.test_run(PKT).retval == 1  # tagged "drop"
        assert prog.test_run(bytes(range(20))).retval == 2
        assert dict(flows) == {
            Record(addr=0x0100000A, port=80, proto=6, pad=0):
                {"packets": 1, "bytes": 60, "tag": "drop"},
            Record(addr=0x03020100, port=0x0504, proto=6, pad=7):
                {"packets": 1, "bytes": 20, "tag": "new"}}
        per_cpu = obj.maps["per_cpu"].typed
        assert per_cpu.sum(0) == {"packets": 2, "bytes": 80}
        assert per_cpu[0][0] == {"packets": 2, "bytes": 80}  # CPU 0
        assert per_cpu.summed()[1] == {"packets": 0, "bytes": 0}
        # data sections are maps too: their value is a dict of their variables
        assert obj.maps[".bss"].typed[0]["runs"] == 2
        # maps without BTF types stay bytes; fd maps are not typed
        assert not obj.maps["perf_events"].typed.value_codec.typed


@pytest.mark.kernel
def test_same_state_on_both_backends(cpu0: None) -> None:
    states = []
    for backend in ("vm", "kernel"):
        with _obj(backend, label="both") as obj:
            obj.maps["flows"].typed[{"addr": 1}] = {"packets": 5, "tag": "drop"}
            obj.globals.ports = [7, 8, 9]
            for pkt in (PKT, bytes(range(20)), bytes(1) + bytes(range(1, 30)), bytes(14)):
                obj.programs["typed_io"].test_run(pkt)
            states.append(_state(obj))
    assert states[0] == states[1]
    assert states[0]["globals"][".bss"]["runs"] == 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_example_firewall_typed(backend: str, cpu0: None) -> None:
    """The examples README's numbers through the typed views: the blocklist written
    typed, the rate table and per-CPU stats read typed."""
    from pybpf.pcap import read_pcap
    spec = pybpf.load(EXAMPLES / "xdp_firewall.o")
    with spec.instantiate(backend) as obj:
        obj.maps["blocklist"].typed.put({"prefixlen": 24, "addr": "203.0.113.0"}, 1,
                                        text_ints=True)
        fw = obj.programs["xdp_firewall"]
        fw.set_clock(lambda: 0)  # VM: one window for the whole replay, as a fast kernel
        for p in read_pcap(EXAMPLES / "traffic.pcap"):
            fw.test_run(p.data)
        stats = obj.maps["fw_stats"].typed.summed()
        assert [stats[i] for i in range(6)] == [227, 8, 50, 4, 10, 3]
        rates = dict(obj.maps["rate_table"].typed)
        assert len(rates) == 14
        assert rates[int.from_bytes(bytes([198, 51, 100, 23]), "little")]["count"] == 100
        assert obj.globals.rate_limit_pps == 100
