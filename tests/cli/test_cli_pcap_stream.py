"""`run --pcap` and `top --pcap` stream captures (issue 11, item 8): memory stays flat
over the capture's size, --pcap-out is written as the run goes, and a malformed capture
is a one-line error with a non-zero exit."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from pybpf.cli import main
from pybpf.pcap import read_pcap, write_pcap

ROOT = Path(__file__).resolve().parents[2]
FIREWALL = str(ROOT / "examples" / "xdp_firewall.o")
TRAFFIC = ROOT / "examples" / "traffic.pcap"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        rc = main(list(argv))
    except SystemExit as e:
        rc = int(e.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "internal error" not in err, err
    return rc, out, err


def _block(btype: int, body: bytes) -> bytes:
    return struct.pack("<II", btype, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))


SHB = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
IDB = _block(1, struct.pack("<HHI", 1, 0, 0))


def _epb(data: bytes, ts_us: int) -> bytes:
    return _block(6, struct.pack("<IIIII", 0, ts_us >> 32, ts_us & 0xFFFFFFFF, len(data),
                                 len(data)) + data + bytes(-len(data) % 4))


@pytest.mark.parametrize("content,message", [
    (SHB + _block(1, b""), "interface description block after packet 0 is 12 bytes"),
    (SHB + IDB + _block(6, bytes(12)), "enhanced packet block after packet 0 is 24 bytes"),
    (SHB + IDB + _block(3, b""), "simple packet block after packet 0 is 12 bytes"),
    (struct.pack("<IIIHHq", 0x0A0D0D0A, 0xFFFFFFFF, 0x1A2B3C4D, 1, 0, -1),
     "bad block length 4294967295"),
    (b"GIF89a" + bytes(30), "not a pcap or pcapng file"),
])
@pytest.mark.parametrize("command", ["run", "top"])
def test_malformed_captures_exit_1_with_the_reason(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   content: bytes, message: str,
                                                   command: str) -> None:
    cap = tmp_path / "bad.pcapng"
    cap.write_bytes(content)
    argv = ["run", FIREWALL, "--pcap", str(cap)] if command == "run" else \
        ["top", "--pcap", str(cap)]
    rc, _, err = run_cli(capsys, *argv)
    assert rc == 1 and err.startswith("pybpf: error:") and message in err, err


def test_malformed_block_after_good_packets_still_fails(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    frame = read_pcap(TRAFFIC)[0].data
    cap = tmp_path / "late.pcapng"
    cap.write_bytes(SHB + IDB + _epb(frame, 1) + _epb(frame, 2) + _block(6, bytes(4)))
    rc, _, err = run_cli(capsys, "run", FIREWALL, "--pcap", str(cap), "--pcap-out",
                         str(tmp_path / "o.pcap"))
    assert rc == 1 and "enhanced packet block after packet 2 is 16 bytes" in err


def test_pcap_out_past_2106_is_an_error_not_a_traceback(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    frame = read_pcap(TRAFFIC)[0].data  # a frame the firewall passes
    late_us = (1 << 32) * 1_000_000 + 5  # 2106-02-07 and a bit
    cap = tmp_path / "late.pcapng"
    cap.write_bytes(SHB + IDB + _epb(frame, 1_000_000) + _epb(frame, late_us))
    out = tmp_path / "out.pcap"
    rc, _, err = run_cli(capsys, "run", FIREWALL, "--pcap", str(cap), "--pcap-out", str(out))
    assert rc == 1 and "cannot write packet 2" in err and "32-bit seconds" in err


def test_pcap_out_is_written_as_the_run_goes(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.pcap"
    rc, text, _ = run_cli(capsys, "run", FIREWALL, "--pcap", str(TRAFFIC), "--pcap-out",
                          str(out), "--json")
    report = json.loads(text)
    passed = read_pcap(out)
    assert rc == 0 and report["pcap_out"]["packets"] == len(passed) > 0
    assert sum(n for v, n in report["verdicts"].items() if v == "XDP_PASS") == len(passed)


def _capture(path: Path, n: int) -> None:
    base = read_pcap(TRAFFIC)
    write_pcap(path, (base[i % len(base)] for i in range(n)))


_PEAK = """
import contextlib, gc, io, sys, tracemalloc
from pybpf.cli import main
def run():
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(sys.argv[1:]) == 0
run()  # warm: imports and caches
gc.collect()
gc.set_threshold(100, 1, 1)
tracemalloc.start()
run()
print(tracemalloc.get_traced_memory()[1])
"""


def _peak(argv: list[str]) -> int:
    """Peak traced memory of a CLI run, in a fresh interpreter (pytest's own machinery
    stays out of the figure). The cyclic collector runs often meanwhile: the VM's test
    runs leave reference cycles, which the default thresholds let pile up for a while;
    what is measured is what the run keeps, not the collector's pace."""
    proc = subprocess.run([sys.executable, "-c", _PEAK, *argv], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.split()[-1])


@pytest.mark.parametrize("command", ["run", "top"])
def test_memory_is_flat_over_the_capture_size(tmp_path: Path, command: str) -> None:
    """Before streaming, 10x the packets cost ~10x the memory of the packets (every
    packet read into a list, every passed one copied); now the peak is the same. top's
    socket filter runs on the auto engine, which compiles it (a peak of its own, once)
    only for a capture that will cost more than compiling: both of its captures do."""
    peaks = []
    for n in ((500, 5000) if command == "run" else (10_000, 100_000)):
        cap = tmp_path / f"c{n}.pcap"
        _capture(cap, n)
        argv = (["run", FIREWALL, "--pcap", str(cap), "--pcap-out", str(tmp_path / "o.pcap"),
                 "--json"] if command == "run" else ["top", "--pcap", str(cap), "--json"])
        peaks.append(_peak(argv))
    small, big = peaks
    assert big - small < 128 << 10, peaks
