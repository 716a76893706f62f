"""`pybpf run FILE.o` around the run: typed --set, --map NAME=@file.json, and after the
run the .bss/.data globals, ring/perf records and bpf_printk (text and --json) on both
backends; `pybpf obj show` prints globals typed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
TYPED = str(ROOT / "tests/objects/data/typed_io.o")
FIREWALL = str(ROOT / "examples/xdp_firewall.o")
PCAP = str(ROOT / "examples/traffic.pcap")
BACKENDS = ["vm", pytest.param("kernel", marks=pytest.mark.kernel)]
KEY_HEX = "0a000001" "5000" "0600"
RECORD_TYPES = ("--record-type", "events=struct event", "--record-type", "perf_events=event")





@pytest.mark.parametrize("backend", BACKENDS)
def test_run_prints_globals_records_and_printk(backend: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run_cli(capsys, "run", TYPED, "--backend", backend, "--data-in",
                           KEY_HEX + "00" * 8, *RECORD_TYPES)
    assert rc == 0, err
    assert "globals .bss:\n  runs = 1\n  last = {'run': 1, 'len': 16, 'mode': 'MODE_COUNT', " \
           "'label': 'new'}\n" in out
    assert "globals .data:\n  label = new\n  ports = [53, 80, 443]\n" in out
    assert "ring buffer events: 1 record\n  struct event {'run': 1, 'len': 16" in out
    assert "perf buffer perf_events: 1 record\n  cpu " in out
    assert "bpf_printk: 1 message\n  typed_io: run 1 len 16\n" in out
    assert "map flows:\n  {'addr': 16777226, 'port': 80, 'proto': 6, 'pad': 0} = " \
           "{'packets': 1, 'bytes': 16, 'tag': 'new'}" in out
    assert "map per_cpu:\n  0 = {'packets': 1, 'bytes': 16} (sum over CPUs)" in out
    # without --record-type the records are hex
    rc, out, _ = run_cli(capsys, "run", TYPED, "--backend", backend, "--data-in", "00" * 16)
    assert "ring buffer events: 1 record (hex; --record-type events=TYPE decodes them)\n" \
           "  0100000000000000100000000100000" in out


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_json_has_the_same(backend: str, capsys: pytest.CaptureFixture[str],
                               cpu0: None) -> None:
    rc, out, _ = run_cli(capsys, "run", TYPED, "--backend", backend, "--data-in",
                         "00" * 20, "--repeat", "1", "--json", *RECORD_TYPES)
    assert rc == 0
    d = json.loads(out)
    assert d["globals"][".bss"]["last"] == {"run": 1, "len": 20, "mode": "MODE_COUNT",
                                            "label": "new"}
    assert [r["map"] for r in d["records"]] == ["events", "perf_events"]
    assert d["records"][0]["value"]["len"] == 20 and d["records"][0]["type"] == "struct event"
    assert d["printk"] == ["typed_io: run 1 len 20"]
    assert d["maps"]["per_cpu"][0]["sum"] == {"packets": 1, "bytes": 20}


@pytest.mark.parametrize("backend", BACKENDS)
def test_set_takes_typed_values(backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run_cli(capsys, "run", TYPED, "--backend", backend, "--json",
                           "--data-in", "00" * 16,
                           "--set", "mode=MODE_LEARN",          # an enumerator
                           "--set", "verbose=false",             # a bool
                           "--set", 'limits={"max_len": 10}',    # a struct (JSON), partial
                           "--set", "label=123",                 # a char array, digits too
                           "--set", "ports=[1, 2, 3]",           # an array
                           "--set", "runs=0x10")                 # hex
    assert rc == 0, err
    d = json.loads(out)
    assert d["verdict"] == "XDP_DROP"  # limits.max_len 10 < 16 bytes
    assert d["globals"][".bss"]["runs"] == 17
    assert d["globals"][".bss"]["last"]["mode"] == "MODE_LEARN"
    assert d["globals"][".data"] == {"label": "123", "ports": [1, 2, 3]}
    assert "printk" not in d and "flows" not in d["maps"]  # verbose off, MODE_LEARN


@pytest.mark.parametrize("argv,message", [
    (["--set", "nope=1"], "no global variable 'nope' (globals: "),
    (["--set", "mode=MODE_BAD"], "--set mode=MODE_BAD: global mode: enum 'mode' has no "
                                 "enumerator 'MODE_BAD'"),
    (["--set", 'limits={"max": 1}'], "struct limits has no member 'max'"),
    (["--set", "runs=-1"], "global runs: -1 does not fit"),
    (["--set", "label=far too long"], "global label: 12 bytes do not fit"),
    (["--set", "runs"], "--set takes NAME=VALUE"),
    (["--map", "nope=[]"], "--map nope: the object has no such map (maps: "),
    (["--map", "flows=[1]"], 'entry 0 is not {"key": ..., "value": ...}'),
    (["--map", "flows={"], "--map flows: not JSON"),
    (["--map", "flows=@/nonexistent.json"], "cannot read /nonexistent.json"),
    (["--map", 'flows=[{"key": {"port": 70000}, "value": {}}]'],
     "--map flows: entry 0 (key {'port': 70000}): port: 70000 does not fit"),
    (["--map", "events=[]"], "a ringbuf map cannot be filled from JSON"),
    (["--map", "flows"], "--map takes NAME=@FILE.json"),
    (["--record-type", "events"], "--record-type takes MAP=TYPE"),
    (["--record-type", "events=struct nope"], "no type 'struct nope'"),
    (["--record-type", "flows=event"], "not a ring buffer"),
])
def test_bad_set_and_map_are_clear_errors(argv: list[str], message: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run_cli(capsys, "run", TYPED, "--data-in", "00" * 16, *argv)
    assert rc == 1 and message in err, err


@pytest.mark.parametrize("backend", BACKENDS)
def test_map_file_reproduces_the_examples_blocklist(backend: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    cpu0: None) -> None:
    """examples/README.md: with blocklist {24, 203.0.113.0} -> 1, XDP_PASS 240 and
    XDP_DROP 62, fw_stats 227, 8, 50, 4, 10, 3."""
    rc, out, err = run_cli(capsys, "run", FIREWALL, "--pcap", PCAP, "--backend", backend,
                           "--map", f"blocklist=@{ROOT / 'examples/blocklist.json'}",
                           "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["verdicts"] == {"XDP_PASS": 240, "XDP_DROP": 62}
    assert d["maps"]["blocklist"] == [{"key": {"prefixlen": 24, "addr": 0x0071_00CB},
                                       "value": 1}]
    assert [e["sum"] for e in d["maps"]["fw_stats"]] == [227, 8, 50, 4, 10, 3]
    # the object form, with scalar keys and a per-CPU value for every CPU
    f = tmp_path / "stats.json"
    f.write_text(json.dumps({"5": 1000}))
    rc, out, _ = run_cli(capsys, "run", FIREWALL, "--pcap", PCAP, "--backend", backend,
                         "--map", f"fw_stats=@{f}", "--json")
    d = json.loads(out)
    five = [e for e in d["maps"]["fw_stats"] if e["key"] == 5][0]
    assert five["value"][0] == 1003 and five["sum"] == 1003 + 1000 * (len(five["value"]) - 1)


def test_map_prog_array_takes_program_names(capsys: pytest.CaptureFixture[str]) -> None:
    obj = str(ROOT / "examples/tailcall_dispatch.o")
    rc, out, _ = run_cli(capsys, "run", obj, "--program", "dispatcher", "--pcap", PCAP,
                         "--map", 'jump_table={"2": "handle_ipv4"}', "--json")
    assert rc == 0
    stats = {e["key"]: e["sum"] for e in json.loads(out)["maps"]["dispatch_stats"]}
    assert stats[4] == 7  # the 3 ARP frames no longer fall through (10 before)
    rc, _, err = run_cli(capsys, "run", obj, "--program", "dispatcher", "--data-in", "00" * 14,
                         "--map", 'jump_table={"2": "nope"}')
    assert rc == 1 and "program 'nope' is not in the object" in err


def test_obj_show_prints_typed_globals(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(capsys, "obj", "show", TYPED)
    assert rc == 0
    for line in ("const volatile enum mode mode = MODE_COUNT",
                 "const volatile struct limits limits = {'max_len': 1000, 'burst': 4, "
                 "'enabled': True}",
                 "const volatile _Bool verbose = True", "char label[8] = 'new'",
                 "__u16 ports[3] = [53, 80, 443]", "__u64 runs = 0"):
        assert line in out, line
    assert "6e657700" not in out  # no little-endian hex where BTF types the value
    rc, out, _ = run_cli(capsys, "obj", "show", TYPED, "--json")
    g = {x["name"]: x for x in json.loads(out)["globals"]}
    assert g["limits"]["value"] == {"max_len": 1000, "burst": 4, "enabled": True}
    assert g["limits"]["initial"] == "e803000004000100"
    assert g["mode"]["type"] == "const volatile enum mode" and g["mode"]["value"] == "MODE_COUNT"


@pytest.mark.parametrize("backend", BACKENDS)
def test_ringbuf_example_records_decode_without_options(
        backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    """examples/ringbuf_events.o declares its record types in BTF: `pybpf run` decodes
    each record as the declared type of its size, and does not list the declaring
    pointers among the globals."""
    example = str(ROOT / "examples/ringbuf_events.o")
    rc, out, err = run_cli(capsys, "run", example, "--backend", backend, "--pcap", PCAP)
    assert rc == 0, err
    assert "globals .bss:\n  lost_events = 0\nring buffer events: 302 records\n" \
           "  struct other_event {'kind': 2, 'pad': 0, 'ethertype': 2054, 'len': 60}\n" in out
    assert "unused_" not in out and "hex;" not in out
    rc, out, _ = run_cli(capsys, "run", example, "--backend", backend, "--pcap", PCAP, "-j")
    records = json.loads(out)["records"]
    assert [r["type"] for r in records].count("struct pkt_event") == 287
    assert records[2]["value"]["kind"] == 1 and records[2]["hex"].startswith("01")
    assert json.loads(out)["globals"] == {".bss": {"lost_events": 0}}
