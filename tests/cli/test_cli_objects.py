"""The pybpf command on ELF objects: disasm with source lines, prog load by SEC() type,
the options `run` refuses instead of ignoring, --budget/--type/--program/--clock, and
raw-IP and truncated captures."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pybpf.cli import build_parser
from pybpf.pcap import (
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_RAW,
    Packet,
    read_pcap,
    write_pcap,
)
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
EXAMPLES = ROOT / "examples"
FIREWALL = str(EXAMPLES / "xdp_firewall.o")
TRAFFIC = str(EXAMPLES / "traffic.pcap")
ETH_FRAME = "ffffffffffff" "020000000001" "0800" + "45000014000000004011" + "00" * 10



# --- disasm ------------------------------------------------------------------------------------

def test_disasm_object_shows_programs_with_source_lines(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(capsys, "disasm", FIREWALL)
    assert rc == 0
    lines = out.splitlines()
    assert lines[0] == "xdp_firewall: xdp, section xdp, 221 instructions"
    # the first instruction, under the C line it came from (file:line:column)
    i = lines.index("    0: r2 = *(u32 *)(r1 +4)")
    assert lines[i - 1] == ("; void *data_end = (void *)(long)ctx->data_end;  "
                            "[./xdp_firewall.c:128:38]")
    assert "over_rate_limit:" in lines  # the subprogram linked after the entry
    assert any(line.endswith("; map fw_stats") and "ll" in line for line in lines)
    assert any("call pc" in line and line.endswith("; over_rate_limit") for line in lines)
    assert not any(line.startswith("  ") and "0x7f" in line for line in lines[:3])


def test_disasm_object_program_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(capsys, "disasm", str(DATA / "multi.o"), "--program", "tc_drop")
    assert rc == 0
    assert out == ("tc_drop: sched_cls, section tc, 2 instructions\n"
                   "; return TC_ACT_SHOT;  [./multi.c:30:2]\n"
                   "  0: w0 = 2\n"
                   "  1: exit\n")
    rc, out, _ = run_cli(capsys, "disasm", str(DATA / "multi.o"), "-j")
    progs = {p["name"]: p for p in json.loads(out)["programs"]}
    assert set(progs) == {"xdp_count", "tc_drop", "xdp_unchecked"}
    first = progs["tc_drop"]["insns"][0]
    assert first == {"pc": 0, "bytes": "b400000002000000", "text": "w0 = 2",
                     "function": "tc_drop",
                     "source": {"file": "./multi.c", "line": "\treturn TC_ACT_SHOT;",
                                "line_num": 30, "column": 2}}
    assert any(i.get("map") == "runs" for i in progs["xdp_count"]["insns"])
    rc, _, err = run_cli(capsys, "disasm", str(DATA / "multi.o"), "--program", "nope")
    assert rc == 1 and "no program 'nope'" in err and "tc_drop" in err


def test_disasm_raw_bytecode_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prog = tmp_path / "p.s"
    prog.write_text("r0 = 0x1122334455667788 ll\nexit\n")
    rc, out, _ = run_cli(capsys, "disasm", str(prog), "--json")
    assert rc == 0 and json.loads(out)["insns"] == [
        {"pc": 0, "bytes": "18000000887766550000000044332211",
         "text": "r0 = 0x1122334455667788 ll"},
        {"pc": 2, "bytes": "9500000000000000", "text": "exit"}]
    rc, _, err = run_cli(capsys, "disasm", str(prog), "--program", "x")
    assert rc == 1 and "not an ELF object" in err


# --- prog load ---------------------------------------------------------------------------------

@pytest.mark.kernel
def test_prog_load_object_uses_each_sections_type(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run_cli(capsys, "prog", "load", str(DATA / "multi.o"))
    assert rc == 1  # one program is rejected; the others load all the same
    assert "xdp_count (xdp): accepted: 12 instructions" in out
    assert "tc_drop (sched_cls): accepted: 2 instructions" in out
    assert "invalid access to packet" in out  # the rejected program's verifier log
    assert "xdp_unchecked (xdp): rejected:" in err and "(EACCES)" in err
    rc, out, _ = run_cli(capsys, "prog", "load", str(DATA / "multi.o"), "--program", "tc_drop",
                         "-j")
    (prog,) = json.loads(out)["programs"]
    assert rc == 0 and prog["accepted"] and prog["type"] == "sched_cls" and prog["jited_len"] > 0
    rc, out, _ = run_cli(capsys, "prog", "load", FIREWALL, "--json")
    (prog,) = json.loads(out)["programs"]
    assert rc == 0 and prog["name"] == "xdp_firewall" and prog["verified_insns"] > 0


@pytest.mark.kernel
def test_prog_load_object_prints_the_log_of_accepted_programs(
        capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(capsys, "prog", "load", FIREWALL, "--log-level", "2")
    assert rc == 0 and "R10=fp0" in out and "processed" in out   # every state, then stats
    assert out.rstrip().splitlines()[-1].startswith("xdp_firewall (xdp): accepted:")
    rc, out, _ = run_cli(capsys, "prog", "load", FIREWALL, "--log-level", "2", "--json")
    (prog,) = json.loads(out)["programs"]
    assert rc == 0 and prog["accepted"] and "R10=fp0" in prog["log"]
    rc, out, _ = run_cli(capsys, "prog", "load", FIREWALL, "--log-level", "0", "--json")
    (prog,) = json.loads(out)["programs"]
    assert rc == 0 and prog["log"] == ""


@pytest.mark.kernel
def test_prog_load_program_with_its_tail_call_targets(
        capsys: pytest.CaptureFixture[str]) -> None:
    dispatch = str(EXAMPLES / "tailcall_dispatch.o")
    rc, out, _ = run_cli(capsys, "prog", "load", dispatch, "--program", "dispatcher", "-j")
    assert rc == 0 and [p["name"] for p in json.loads(out)["programs"]] == ["dispatcher"]
    rc, out, _ = run_cli(capsys, "prog", "load", dispatch, "-j")   # each one on its own
    assert rc == 0 and [p["name"] for p in json.loads(out)["programs"]] == \
        ["handle_ipv4", "handle_ipv6", "dispatcher"]


@pytest.mark.kernel
def test_prog_load_raw_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.s"
    good.write_text("r0 = 2\nexit\n")
    rc, out, _ = run_cli(capsys, "prog", "load", str(good), "--type", "xdp", "-j")
    (prog,) = json.loads(out)["programs"]
    assert rc == 0 and prog["accepted"] and "processed 2 insns" in prog["log"]


def test_prog_load_argument_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = tmp_path / "p.s"
    raw.write_text("r0 = 0\nexit\n")
    rc, _, err = run_cli(capsys, "prog", "load", str(raw))
    assert rc == 1 and "--type is needed for raw bytecode" in err
    rc, _, err = run_cli(capsys, "prog", "load", str(raw), "--type", "xdp", "--program", "p")
    assert rc == 1 and "not an ELF object" in err
    rc, _, err = run_cli(capsys, "prog", "load", str(DATA / "multi.o"), "--type", "xdp")
    assert rc == 1 and "choose it with --program" in err
    rc, _, err = run_cli(capsys, "prog", "load", str(DATA / "multi.o"), "--program", "nope")
    assert rc == 1 and "no program 'nope'" in err
    rc, _, err = run_cli(capsys, "prog", "load", str(DATA / "multi.o"), "--license", "MIT")
    assert rc == 1 and "--license applies to raw bytecode" in err   # not silently ignored


# --- run: what it refuses ----------------------------------------------------------------------

@pytest.mark.parametrize("argv,message", [
    (["OBJ", "--mem", "00"], "--mem applies to raw programs"),
    (["OBJ", "--syntax", "kernel"], "--syntax applies to raw programs"),
    (["RAW", "--set", "x=1"], "--set needs an ELF object"),
    (["RAW", "--pcap", TRAFFIC, "--program", "p"], "--program, --pcap need an ELF object"),
    (["RAW", "--repeat", "3"], "--repeat needs an ELF object"),
    (["RAW", "--clock", "wall"], "--clock needs an ELF object"),
    (["OBJ", "--pcap-out", "/tmp/never.pcap"], "--pcap-out writes the packets of --pcap"),
    (["OBJ", "--pcap", TRAFFIC, "--data-in", "00"], "--data-in cannot go with --pcap"),
    (["OBJ", "--pcap", TRAFFIC, "--ctx-in", "00"], "--ctx-in cannot go with --pcap"),
    (["OBJ", "--pcap", TRAFFIC, "--repeat", "2"], "--repeat cannot go with --pcap"),
    (["OBJ", "--backend", "kernel", "--budget", "10"], "--budget is the VM's"),
    (["RAW", "--backend", "kernel", "--budget", "10"], "--budget is the VM's"),
    (["OBJ", "--backend", "kernel", "--pcap", TRAFFIC, "--clock", "capture"],
     "--clock capture needs --backend vm"),
    (["OBJ", "--clock", "capture"], "--clock capture replays a capture's timestamps"),
    (["OBJ", "--clock", "wall", "--data-in", ETH_FRAME], "without --pcap bpf_ktime_get_ns "
                                                         "reads the host's clock already"),
    (["OBJ", "--type", "nonsense"], "unknown program type 'nonsense'"),
    (["MULTI", "--type", "xdp"], "--type sets the type of one program"),
    (["MULTI", "--program", "nope"], "no program 'nope'"),
    (["TP", "--program", "count_sys_enter", "--pcap", TRAFFIC],
     "program count_sys_enter is a tracepoint program, which takes none"),
])
def test_run_refuses_what_it_would_ignore(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          argv: list[str], message: str) -> None:
    raw = tmp_path / "p.s"
    raw.write_text("r0 = 0\nexit\n")
    files = {"OBJ": FIREWALL, "RAW": str(raw), "MULTI": str(DATA / "multi.o"),
             "TP": str(EXAMPLES / "tp_syscalls.o")}
    rc, out, err = run_cli(capsys, "run", *[files.get(a, a) for a in argv])
    assert rc == 1 and message in err, err
    assert err.count("\n") == 1 and out == ""  # one line, before anything ran


@pytest.mark.parametrize("value", ["0", "-5", "5000000000", "4294967296", "1e3", "many"])
def test_run_repeat_outside_a_u32_is_a_usage_error(capsys: pytest.CaptureFixture[str],
                                                   value: str) -> None:
    rc, _, err = run_cli(capsys, "run", FIREWALL, "--repeat", value, "--data-in", ETH_FRAME)
    assert rc == 2 and "--repeat" in err


def test_run_repeat_bounds_accepted() -> None:
    parser = build_parser()
    for value, expected in (("1", 1), ("4294967295", 0xFFFF_FFFF), ("0x10", 16)):
        assert parser.parse_args(["run", "x.o", "--repeat", value]).repeat == expected


def test_run_repeat_runs(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(capsys, "run", str(DATA / "multi.o"), "--program", "xdp_count",
                         "--data-in", ETH_FRAME, "--repeat", "7", "-j")
    report = json.loads(out)
    assert rc == 0 and report["verdict"] == "XDP_PASS"
    assert report["maps"]["runs"] == [{"key": 0, "value": 7}]


def test_run_budget_stops_an_endless_object_program(capsys: pytest.CaptureFixture[str]) -> None:
    t0 = time.monotonic()
    # the verifier refuses the endless loop first; --no-verify shows the budget at work
    rc, _, err = run_cli(capsys, "run", str(DATA / "spin.o"), "--data-in", ETH_FRAME)
    assert rc == 1 and "verifier refused" in err
    rc, _, err = run_cli(capsys, "run", str(DATA / "spin.o"), "--data-in", ETH_FRAME,
                         "--budget", "5000", "--no-verify")
    assert rc == 1 and "instruction budget of 5000 exhausted" in err
    assert time.monotonic() - t0 < 5
    # over a capture each packet stops at the budget, counted as an error
    rc, out, _ = run_cli(capsys, "run", str(DATA / "spin.o"), "--pcap", TRAFFIC,
                         "--budget", "100", "-j", "--no-verify")
    report = json.loads(out)
    assert rc == 0 and report["verdicts"] == {"error": 302}
    (err_text,) = report["errors"]
    assert "instruction budget of 100 exhausted" in err_text


def test_run_type_and_program(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(capsys, "run", str(DATA / "multi.o"), "--program", "tc_drop",
                         "--data-in", ETH_FRAME, "-j")
    assert rc == 0 and json.loads(out)["verdict"] == "TC_ACT_SHOT"
    # --type overrides the section's type, as ProgramSpec.type does
    rc, out, _ = run_cli(capsys, "run", str(DATA / "multi.o"), "--program", "xdp_count",
                         "--type", "socket_filter", "--data-in", ETH_FRAME, "-j")
    assert rc == 0 and json.loads(out)["verdict"].startswith("keep ")


def test_run_type_for_an_unknown_section(capsys: pytest.CaptureFixture[str]) -> None:
    """cilium's `SEC("2/1")`: no known type until the user gives one."""
    from pybpf import load
    from pybpf.elf import ELFError
    try:
        load(str(DATA / "unknown_sec.o"))
    except ELFError as e:
        if "has no known program type" in str(e):
            pytest.skip("the ELF loader does not yet parse unknown SEC() names (issue 10, "
                        "section 2)")
        raise
    obj = str(DATA / "unknown_sec.o")
    rc, _, err = run_cli(capsys, "run", obj, "--program", "tail_drop", "--data-in", ETH_FRAME)
    assert rc == 1 and "tail_drop" in err and "--type" in err
    rc, out, _ = run_cli(capsys, "run", obj, "--program", "tail_drop", "--type", "xdp",
                         "--data-in", ETH_FRAME, "-j")
    assert rc == 0 and json.loads(out)["verdict"] == "XDP_DROP"
    # without --program the typed program runs and the untyped one is named
    rc, out, err = run_cli(capsys, "run", obj, "--data-in", ETH_FRAME, "-j")
    assert rc == 0 and json.loads(out)["program"] == "entry"
    assert "tail_drop" in err and "not loaded" in err


# --- clocks ------------------------------------------------------------------------------------

def _last_ns(out: str) -> int:
    return json.loads(out)["maps"]["last_ns"][0]["value"]


def test_run_clock_capture_or_wall(capsys: pytest.CaptureFixture[str]) -> None:
    obj = str(DATA / "clock.o")
    last_ts = read_pcap(TRAFFIC)[-1].ts_ns
    rc, out, _ = run_cli(capsys, "run", obj, "--pcap", TRAFFIC, "-j")
    assert rc == 0 and json.loads(out)["clock"] == "capture" and _last_ns(out) == last_ts
    before = time.monotonic_ns()
    rc, out, _ = run_cli(capsys, "run", obj, "--pcap", TRAFFIC, "--clock", "wall", "-j")
    assert rc == 0 and json.loads(out)["clock"] == "wall"
    assert before <= _last_ns(out) <= time.monotonic_ns()
    rc, out, _ = run_cli(capsys, "run", obj, "--pcap", TRAFFIC)
    assert "clock: capture (bpf_ktime_get_ns reads each packet's capture timestamp" in out


@pytest.mark.kernel
def test_run_clock_in_the_kernel_is_said(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(capsys, "run", str(DATA / "clock.o"), "--pcap", TRAFFIC,
                         "--backend", "kernel")
    assert rc == 0 and "clock: the kernel's" in out
    rc, out, _ = run_cli(capsys, "run", str(DATA / "clock.o"), "--pcap", TRAFFIC,
                         "--backend", "kernel", "-j")
    assert json.loads(out)["clock"] == "kernel"
    assert abs(_last_ns(out) - time.monotonic_ns()) < 60 * 10**9


# --- captures ----------------------------------------------------------------------------------

def _raw_ip_capture(path: Path, linktype: int) -> None:
    """traffic.pcap without its Ethernet headers (IPv4 and IPv6 frames only)."""
    pkts = [Packet(p.ts_ns, p.data[14:], p.orig_len - 14, linktype)
            for p in read_pcap(TRAFFIC) if p.data[12:14] in (b"\x08\x00", b"\x86\xdd")]
    write_pcap(path, pkts, linktype=linktype)


def test_run_raw_ip_capture_gets_an_ethernet_header(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    ip_only = [p for p in read_pcap(TRAFFIC) if p.data[12:14] in (b"\x08\x00", b"\x86\xdd")]
    eth = tmp_path / "eth.pcap"
    write_pcap(eth, ip_only)
    rc, out, _ = run_cli(capsys, "run", FIREWALL, "--pcap", str(eth), "-j")
    expected = json.loads(out)["verdicts"]
    raw = tmp_path / "raw.pcap"
    _raw_ip_capture(raw, LINKTYPE_RAW)
    rc, out, _ = run_cli(capsys, "run", FIREWALL, "--pcap", str(raw), "-j")
    report = json.loads(out)
    assert rc == 0 and report["verdicts"] == expected
    assert report["ethernet_added"] == len(ip_only)
    rc, out, _ = run_cli(capsys, "run", FIREWALL, "--pcap", str(raw))
    assert "(raw IP: each given an Ethernet header)" in out


@pytest.mark.parametrize("linktype,ethertype", [(LINKTYPE_IPV4, b"\x08\x00"),
                                                (LINKTYPE_IPV6, b"\x86\xdd")])
def test_run_ipv4_and_ipv6_linktypes(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     linktype: int, ethertype: bytes) -> None:
    pkts = [Packet(1, p.data[14:], p.orig_len - 14, linktype)
            for p in read_pcap(TRAFFIC) if p.data[12:14] == ethertype][:5]
    assert pkts
    cap = tmp_path / "ip.pcap"
    write_pcap(cap, pkts, linktype=linktype)
    out_cap = tmp_path / "out.pcap"
    rc, out, _ = run_cli(capsys, "run", str(DATA / "multi.o"), "--program", "xdp_count",
                         "--pcap", str(cap), "--pcap-out", str(out_cap), "-j")
    assert rc == 0 and json.loads(out)["verdicts"] == {"XDP_PASS": len(pkts)}
    passed = read_pcap(out_cap)  # what the program saw: Ethernet frames of that type
    assert [p.data[12:14] for p in passed] == [ethertype] * len(pkts)
    assert [p.data[14:] for p in passed] == [p.data for p in pkts]


def test_run_other_linktypes_are_refused(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    cap = tmp_path / "sll.pcap"
    write_pcap(cap, [Packet(1, bytes(40), 40, 113)], linktype=113)
    rc, _, err = run_cli(capsys, "run", FIREWALL, "--pcap", str(cap))
    assert rc == 1 and "LINUX_SLL (113)" in err and "neither Ethernet nor raw IP" in err


def test_run_truncated_capture_runs_the_complete_packets(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    data = Path(TRAFFIC).read_bytes()
    pkts = read_pcap(TRAFFIC)
    # cut inside the 11th packet's bytes: 24-byte file header, 16 per record header
    offset = 24 + sum(16 + len(p.data) for p in pkts[:10]) + 16 + 5
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:offset])
    rc, out, err = run_cli(capsys, "run", FIREWALL, "--pcap", str(cut), "-j")
    report = json.loads(out)
    assert rc == 0 and report["packets"] == 10 and "truncated packet 11" in report["truncated"]
    assert "warning" in err and "truncated packet 11" in err and "10 complete packets" in err
    # cut inside a record header
    cut.write_bytes(data[:24 + sum(16 + len(p.data) for p in pkts[:3]) + 7])
    rc, out, err = run_cli(capsys, "run", FIREWALL, "--pcap", str(cut))
    assert rc == 0 and "3 packets" in out and "truncated record header after packet 3" in err


# --- as a new user finds it ----------------------------------------------------------------------

def test_a_tracepoint_program_is_not_test_run(capsys: pytest.CaptureFixture[str]) -> None:
    """BPF_PROG_TEST_RUN has no tracepoint programs: say so, and what to do instead,
    not ENOTSUPP from a call the user never made."""
    rc, _, err = run_cli(capsys, "run", str(EXAMPLES / "tp_syscalls.o"), "--program",
                         "count_sys_enter")
    assert rc == 1 and err.startswith("pybpf: error: program count_sys_enter (tracepoint) is "
                                      "of a type BPF_PROG_TEST_RUN does not run")
    assert "attach" in err and "ENOTSUPP" not in err


def test_unreadable_and_empty_files_say_so(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run_cli(capsys, "prog", "load", str(tmp_path))   # not "--type is needed"
    assert rc == 1 and f"cannot read {tmp_path}: Is a directory" in err
    empty = tmp_path / "empty.o"
    empty.write_bytes(b"")
    for argv in (["disasm", str(empty)], ["run", str(empty)],
                 ["prog", "load", str(empty), "--type", "xdp"]):
        rc, _, err = run_cli(capsys, *argv)
        assert rc == 1 and f"{empty} is empty" in err, argv


def test_obj_show_says_where_maps_are_pinned(capsys: pytest.CaptureFixture[str]) -> None:
    iproute2 = ROOT / "tests/objects/data/iproute2_pinned.o"
    rc, out, _ = run_cli(capsys, "obj", "show", str(iproute2))
    assert rc == 0
    assert "pinned at <pin root>/tc/globals/pybpf_ip_global (iproute2's PIN_GLOBAL_NS)" in out
    rc, out, _ = run_cli(capsys, "obj", "show", str(ROOT / "tests/objects/data/pinned.o"), "-j")
    (pinned,) = [m for m in json.loads(out)["maps"] if "pinning" in m]
    assert pinned == {**pinned, "name": "pybpf_pin_counts", "pinning": "LIBBPF_PIN_BY_NAME",
                      "pin_path": "<pin root>/pybpf_pin_counts"}


@pytest.mark.parametrize("backend", ["vm", pytest.param("kernel", marks=pytest.mark.kernel)])
def test_a_packet_program_without_a_packet_says_how_to_give_one(
        backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run_cli(capsys, "run", str(EXAMPLES / "xdp_lb.o"), "--backend", backend)
    assert rc == 1 and err == ("pybpf: error: program xdp_lb (xdp) runs on a packet: give one "
                               "with --data-in HEX|@FILE, or --pcap FILE to run it on each "
                               "packet of a capture\n")




@pytest.mark.kernel
def test_run_and_prog_load_say_what_they_pinned(bpffs: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Pins outlive the command, as libbpf's and iproute2's do: say where they are."""
    obj = str(ROOT / "tests/objects/data/iproute2_pinned.o")
    packet = "00" * 64
    rc, out, _ = run_cli(capsys, "run", obj, "--backend", "kernel", "--pin-root", bpffs,
                         "--data-in", packet)
    assert rc == 0
    assert f"map pybpf_ip_global pinned at {bpffs}/tc/globals/pybpf_ip_global (new; the pin " \
           "stays after exit)" in out
    rc, out, _ = run_cli(capsys, "run", obj, "--backend", "kernel", "--pin-root", bpffs,
                         "--data-in", packet, "-j")
    report = json.loads(out)
    assert rc == 0 and report["pinned"]["pybpf_ip_global"]["reused"]
    assert report["maps"]["pybpf_ip_global"][0]["value"] == (2).to_bytes(8, "little").hex()
    rc, out, _ = run_cli(capsys, "prog", "load", obj, "--pin-root", bpffs)
    assert rc == 0 and "(an existing pin, reused)" in out


def test_pin_root_needs_an_object_in_the_kernel(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    obj = str(ROOT / "tests/objects/data/iproute2_pinned.o")
    rc, _, err = run_cli(capsys, "run", obj, "--pin-root", str(tmp_path), "--data-in", "00" * 64)
    assert rc == 1 and "--pin-root is where the kernel backend pins" in err
    raw = tmp_path / "p.s"
    raw.write_text("r0 = 0\nexit\n")
    rc, _, err = run_cli(capsys, "run", str(raw), "--pin-root", str(tmp_path))
    assert rc == 1 and "--pin-root needs an ELF object" in err
    rc, _, err = run_cli(capsys, "prog", "load", str(raw), "--type", "xdp", "--pin-root", "x")
    assert rc == 1 and "--pin-root needs an ELF object" in err


def test_run_prints_the_objects_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    obj = str(ROOT / "tests/objects/data/iproute2_pinned.o")
    rc, out, _ = run_cli(capsys, "run", obj, "--data-in", "00" * 64)
    assert rc == 0 and "warning: map pybpf_ip_global: iproute2's PIN_GLOBAL_NS pins only in " \
                       "the kernel" in out


@pytest.mark.parametrize("backend", ["vm", pytest.param("kernel", marks=pytest.mark.kernel)])
def test_type_reaches_the_tail_call_targets_of_unknown_type(
        backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    """iproute2 loads every program of an object as the type its command names: with
    `--type tc`, cilium-style "from-netdev" and its "2/1" tail-call target both run."""
    obj = str(ROOT / "tests/elf/data/iproute2_maps.o")
    for extra in (["--program", "from_netdev"], []):
        rc, out, err = run_cli(capsys, "run", obj, *extra, "--type", "tc", "--data-in",
                               ETH_FRAME, "--backend", backend, "-j")
        assert rc == 0, err
        assert json.loads(out)["program"] == "from_netdev"
        assert json.loads(out)["retval"] == 100   # the tail call ran: tail_one's 100 + 0


@pytest.mark.kernel
def test_prog_load_type_for_every_program_of_unknown_type(
        capsys: pytest.CaptureFixture[str]) -> None:
    obj = str(ROOT / "tests/elf/data/iproute2_maps.o")
    rc, out, err = run_cli(capsys, "prog", "load", obj, "--type", "tc", "-j")
    progs = json.loads(out)["programs"]
    assert rc == 0 and [(p["name"], p["type"], p["accepted"]) for p in progs] == \
        [("from_netdev", "sched_cls", True), ("tail_one", "sched_cls", True)]
    assert "warning" not in err   # each loaded alone: the empty slots are by design
