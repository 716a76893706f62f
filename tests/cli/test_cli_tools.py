"""`pybpf top` and `pybpf trace syscalls`: their numbers against counts made in Python
(from the capture, from known syscalls), and clear errors without tracebacks."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from pybpf.pcap import read_pcap
from pybpf.tools.hist import format_log2_hist, hist_json, log2_bucket
from tests.conftest import kernel_available, run_cli

ROOT = Path(__file__).resolve().parents[2]
PCAP = ROOT / "examples" / "traffic.pcap"



def expected_from_pcap() -> tuple[dict[int, tuple[int, int]], list[int], int]:
    """What the socket filter must count under BPF_PROG_TEST_RUN, computed from the
    frames: the skb starts at the network header (len = frame - 14), skb->protocol is
    the outer EtherType; the kernel refuses IPv4 frames shorter than 14 + 20 bytes."""
    stats: dict[int, list[int]] = {}
    hist = [0] * 64
    refused = 0
    for pkt in read_pcap(PCAP):
        frame = pkt.data
        ethertype = int.from_bytes(frame[12:14], "big")
        if ethertype == 0x0800 and len(frame) < 34:
            refused += 1
            continue
        length = len(frame) - 14
        hist[log2_bucket(length)] += 1
        if ethertype == 0x0800:
            proto = frame[14 + 9]
        elif ethertype == 0x86DD:
            proto = frame[14 + 6]
        else:
            continue
        row = stats.setdefault(proto, [0, 0])
        row[0] += 1
        row[1] += length
    return {p: (v[0], v[1]) for p, v in stats.items()}, hist, refused


@pytest.mark.parametrize("backend", ["vm", pytest.param("kernel", marks=pytest.mark.kernel)])
def test_top_pcap_counts_match_python(capsys: pytest.CaptureFixture[str], backend: str) -> None:
    stats, hist, refused = expected_from_pcap()
    rc, out, err = run_cli(capsys, "top", "--pcap", str(PCAP), "--backend", backend, "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["packets"] == 302 and sum(doc["errors"].values()) == refused == 1
    got = {r["proto"]: (r["packets"], r["bytes"]) for r in doc["protocols"]}
    assert got == stats
    assert [r["name"] for r in doc["protocols"]] == ["udp", "tcp", "icmp"]  # by bytes
    assert doc["size_histogram"] == hist_json(hist)

    rc, out, _ = run_cli(capsys, "top", "--pcap", str(PCAP), "--backend", backend)
    assert rc == 0
    lines = out.splitlines()
    table = lines[lines.index("PROTO  NUM  PACKETS  BYTES") + 1:]
    for (proto, (packets, nbytes)), line in zip(sorted(stats.items(),
                                                       key=lambda kv: -kv[1][1]), table):
        assert line.split()[1:] == [str(proto), str(packets), str(nbytes)]
    assert out.endswith("packet sizes:\n" + format_log2_hist(hist, "bytes"))


def test_top_pcap_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture at all")
    for argv, msg in [
        (["top", "--pcap", str(tmp_path / "missing.pcap")], "cannot read"),
        (["top", "--pcap", str(bad)], "not a pcap"),
        (["top", "--pcap", str(PCAP), "--interface", "lo"], "--interface applies only to --live"),
        (["top", "--pcap", str(PCAP), "--interval", "2", "--count", "3"],
         "--interval and --count apply only to --live"),
        (["top", "--live", "--backend", "vm"], "--backend applies to --pcap"),
    ]:
        rc, _, err = run_cli(capsys, *argv)
        assert rc == 1 and msg in err and "Traceback" not in err, (argv, err)
    for argv in (["top"], ["top", "--pcap", str(PCAP), "--live"],
                 ["top", "--live", "--interval", "0"], ["trace", "syscalls", "--duration", "-1"],
                 ["trace", "syscalls", "--pid", "abc"]):
        rc, _, err = run_cli(capsys, *argv)
        assert rc == 2 and "error:" in err and "Traceback" not in err


@pytest.mark.kernel
def test_top_live_counts_udp_on_lo(capsys: pytest.CaptureFixture[str]) -> None:
    """~1 s of `top --live` on lo while 40 UDP datagrams are sent: each is counted once
    (the outgoing copy is skipped), as a whole frame (lo is shared with whatever else
    runs here: test_top_live_counts_each_loopback_packet_once counts exactly)."""
    done = threading.Event()

    def send() -> None:
        time.sleep(0.3)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            rx.bind(("127.0.0.1", 0))
            for _ in range(40):
                tx.sendto(b"p" * 58, rx.getsockname())
                time.sleep(0.005)
        done.set()

    sender = threading.Thread(target=send)
    sender.start()
    try:
        rc, out, err = run_cli(capsys, "top", "--live", "--interface", "lo", "--duration", "1",
                               "--interval", "0.5", "--json")
    finally:
        sender.join()
    assert rc == 0, err
    assert done.is_set()
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 3 and lines[-1]["final"] and lines[0]["interface"] == "lo"
    udp = [r for r in lines[-1]["protocols"] if r["name"] == "udp"]
    assert udp and udp[0]["packets"] >= 40
    assert udp[0]["bytes"] >= 40 * (14 + 20 + 8 + 58)
    hist = {b["low"]: b["count"] for b in lines[-1]["size_histogram"]}
    assert hist.get(64, 0) >= 40  # 100-byte frames

    # text mode, not a terminal: one timestamped table per interval, then the histogram
    rc, out, err = run_cli(capsys, "top", "--live", "-i", "lo", "--count", "2",
                           "--interval", "0.2")
    assert rc == 0, err
    assert out.count("pybpf top on lo") == 2 and out.count("PROTO  NUM  PACKETS") == 2


@pytest.mark.kernel
def test_top_live_no_such_interface(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run_cli(capsys, "top", "--live", "--interface", "nosuchif0", "--count", "1")
    assert rc == 1 and "no such network interface: nosuchif0" in err
    assert "Traceback" not in err


CHILD = f"""
import sys, time
sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
from tests.syscall_load import make_syscalls
time.sleep(0.6)
make_syscalls(1000, 5)
time.sleep(30)
"""


@pytest.mark.kernel
def test_trace_syscalls_of_one_process(capsys: pytest.CaptureFixture[str]) -> None:
    """`trace syscalls --pid` sees exactly the child's 1000 getppid calls and its 5
    failed closes, names them, and reports its comm."""
    child = subprocess.Popen([sys.executable, "-c", CHILD])
    try:
        rc, out, err = run_cli(capsys, "trace", "syscalls", "--pid", str(child.pid),
                               "--duration", "1.5", "--interval", "0.5", "--json")
    finally:
        child.kill()
        child.wait()
    assert rc == 0, err
    docs = [json.loads(line) for line in out.splitlines()]
    final = docs[-1]
    assert final["final"] and final["pid"] == child.pid and len(docs) == 4
    by_name = {s["name"]: s for s in final["syscalls"]}
    assert by_name["getppid"]["count"] == 1000
    assert by_name["close"]["errors"] == 5
    assert [p["pid"] for p in final["processes"]] == [child.pid]
    assert final["processes"][0]["count"] == final["total"] >= 1005
    assert final["processes"][0]["comm"].startswith("python")
    # every syscall that ended in the window has a latency
    assert sum(b["count"] for b in final["latency_ns"]) >= 1005


@pytest.mark.kernel
def test_trace_syscalls_text(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run_cli(capsys, "trace", "syscalls", "--duration", "0.4", "--interval",
                           "0.2", "--top", "3", "--latency")
    assert rc == 0, err
    assert out.count("SYSCALL") == 2 and out.count("PID  COMM") == 2
    assert "syscall latency:\n     nsecs               : count     distribution\n" in out


def test_trace_errors(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import pybpf.kernel
    rc, _, err = run_cli(capsys, "trace", "syscalls", "--pid", "999999999", "--duration", "1")
    if kernel_available()[0]:
        assert rc == 1 and "no process with pid 999999999" in err
    else:  # without the capabilities tracing needs, it says which
        assert rc == 1 and ("CAP_" in err or "needs bpf(2)" in err)
    monkeypatch.setattr(pybpf.kernel, "available", lambda *need: (False, "bpf(2) is not here"))
    rc, _, err = run_cli(capsys, "trace", "syscalls", "--duration", "1")
    assert rc == 1 and "needs bpf(2)" in err and "bpf(2) is not here" in err
    rc, _, err = run_cli(capsys, "top", "--live", "--count", "1")
    assert rc == 1 and "needs bpf(2)" in err and "Traceback" not in err


@pytest.mark.kernel
def test_trace_without_tracefs(capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import pybpf.kernel.tracefs as tracefs
    monkeypatch.setattr(tracefs, "TRACEFS_ROOTS", (str(tmp_path / "a"), str(tmp_path / "b")))
    monkeypatch.setattr(tracefs, "_mount_tracefs", lambda: None)
    rc, _, err = run_cli(capsys, "trace", "syscalls", "--duration", "0.2")
    assert rc == 1 and "tracefs is not mounted" in err and "Traceback" not in err


def test_protocol_names() -> None:
    from pybpf.tools.top import proto_name
    assert [proto_name(p) for p in (6, 17, 1, 58, 47, 132)] == \
        ["tcp", "udp", "icmp", "ipv6-icmp", "gre", "sctp"]
    assert proto_name(1000) == "proto-1000"
    counts = Counter(proto_name(p) for p in range(256))
    assert counts["tcp"] == 1 and counts["udp"] == 1
