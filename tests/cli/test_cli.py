"""The pybpf command: each subcommand on good input, and clear errors (never a
traceback) on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]



def test_main_job_example(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(capsys, "run", str(ROOT / "examples/ipv4_checksum.s"),
                         "--mem", "@" + str(ROOT / "examples/ipv4_header.hex"))
    assert rc == 0 and out == "r0 = 0x0 (0)\n"
    # a corrupted checksum byte gives a non-zero folded sum
    hdr = (ROOT / "examples/ipv4_header.hex").read_text().split()
    hdr[10] = "b8"
    hdr[11] = "60"
    rc, out, _ = run_cli(capsys, "run", str(ROOT / "examples/ipv4_checksum.s"), "--mem",
                         "".join(hdr), "--json")
    assert rc == 0 and json.loads(out)["r0"] == 1


@pytest.mark.kernel
def test_main_job_example_runs_in_the_kernel_too(capsys: pytest.CaptureFixture[str]) -> None:
    """The assembly example is verifiable (its carries fold a fixed number of times):
    the kernel gives what the VM gives, intact and corrupted."""
    example = str(ROOT / "examples/ipv4_checksum.s")
    hdr = (ROOT / "examples/ipv4_header.hex").read_text().split()
    bad = "".join(hdr[:10] + ["ff", "ff"] + hdr[12:])
    for mem in ("@" + str(ROOT / "examples/ipv4_header.hex"), bad, "00" * 20):
        vm = run_cli(capsys, "run", example, "--mem", mem)
        kernel = run_cli(capsys, "run", example, "--mem", mem, "--backend", "kernel")
        assert vm[0] == kernel[0] == 0 and vm[1] == kernel[1], (mem, vm, kernel)


def test_asm_disasm_run_roundtrip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "p.s"
    src.write_text("r0 = 5\nr0 *= 3\nexit\n")
    binary = tmp_path / "p.bin"
    assert run_cli(capsys, "asm", str(src), "-o", str(binary))[0] == 0
    assert binary.read_bytes().hex() == "b700000005000000" "2700000003000000" "9500000000000000"
    rc, out, _ = run_cli(capsys, "asm", str(src))
    assert out.splitlines()[0] == "b7 00 00 00 05 00 00 00"
    hexfile = tmp_path / "p.hex"
    hexfile.write_text(out)
    for f in (binary, hexfile, src):
        assert run_cli(capsys, "run", str(f))[1] == "r0 = 0xf (15)\n"
    rc, out, _ = run_cli(capsys, "disasm", str(binary))
    assert out == "r0 = 5\nr0 *= 3\nexit\n"
    rc, out, _ = run_cli(capsys, "disasm", str(binary), "--syntax", "conformance")
    assert out.splitlines()[0] == "mov %r0, 5"


def test_conformance_syntax_detected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "c.s"
    src.write_text("mov %r0, 1\nadd %r0, %r1\nexit\n")
    assert run_cli(capsys, "run", str(src))[1] == "r0 = 0x1 (1)\n"


@pytest.mark.parametrize("argv,message", [
    (["run", "/nonexistent.s"], "cannot read /nonexistent.s"),
    (["run", "BAD_ASM"], "line 2, column"),
    (["run", "BAD_BIN"], "not a multiple of 8"),
    (["run", "GOOD", "--mem", "zz"], "--mem is not valid hex"),
    (["run", "OOB"], "invalid load of 4 bytes"),
    (["disasm", "RESERVED"], "reserved field"),
    (["prog", "load", "GOOD", "--type", "nonsense"], "unknown program type 'nonsense'"),
])
def test_bad_input_gives_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       argv: list[str], message: str) -> None:
    files = {"BAD_ASM": ("r0 = 1\nr0 += r99\nexit\n", "s"),
             "BAD_BIN": (b"\x95\x00\x00", "bin"), "GOOD": ("r0 = 0\nexit\n", "s"),
             "OOB": ("r0 = *(u32 *)(r1 +0)\nexit\n", "s"),
             "RESERVED": (bytes.fromhex("0410000001000000"), "bin")}
    args = []
    for a in argv:
        if a in files:
            content, ext = files[a]
            p = tmp_path / f"{a}.{ext}"
            p.write_bytes(content) if isinstance(content, bytes) else p.write_text(content)
            a = str(p)
        args.append(a)
    rc, out, err = run_cli(capsys, *args)
    assert rc == 1, (out, err)
    assert message in err and "Traceback" not in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "frobnicate")[0] == 2
    assert run_cli(capsys, "run")[0] == 2
    rc, _, err = run_cli(capsys, "run", "x", "--budget", "many")
    assert rc == 2 and "--budget: not an integer" in err


def test_no_traceback_in_a_real_process(tmp_path: Path) -> None:
    bad = tmp_path / "bad.s"
    bad.write_text("r0 = = 1\n")
    proc = subprocess.run([sys.executable, "-m", "pybpf.cli", "run", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "line 1" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.kernel
def test_prog_load_prints_the_verifier_log(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.s"
    good.write_text("r0 = 2\nexit\n")
    rc, out, _ = run_cli(capsys, "prog", "load", str(good), "--type", "xdp")
    assert rc == 0 and "processed 2 insns" in out and "accepted" in out
    bad = tmp_path / "bad.s"
    bad.write_text("r0 = r5\nexit\n")
    rc, out, err = run_cli(capsys, "prog", "load", str(bad), "--type", "socket_filter",
                           "--log-level", "2")
    assert rc == 1 and "R5 !read_ok" in out and "rejected" in err


@pytest.mark.kernel
def test_features_and_kernel_backend(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(capsys, "features", "--json", "--no-helpers")
    report = json.loads(out)
    assert rc == 0 and report["prog_types"]["xdp"] is True
    src = tmp_path / "p.s"
    src.write_text("r0 = 0x1122334455667788 ll\nexit\n")
    rc, out, _ = run_cli(capsys, "run", str(src), "--backend", "kernel")
    assert out == "r0 = 0x1122334455667788 (1234605616436508552)\n"
    proc = subprocess.run([sys.executable, "-m", "pybpf.cli", "conformance-plugin",
                           "--backend", "kernel", "--program",
                           "61 10 00 00 00 00 00 00 95 00 00 00 00 00 00 00",
                           "efbeadde" + "00" * 10],
                          capture_output=True, text=True, timeout=60)
    assert proc.stdout == "deadbeef\n", proc.stderr


def test_features_vm_lists_helpers_with_status(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(capsys, "features", "--backend", "vm", "--json")
    report = json.loads(out)
    helpers = {h["name"]: h for h in report["helpers"]}
    assert rc == 0 and len(helpers) >= 60
    lookup = helpers["bpf_map_lookup_elem"]
    assert lookup["status"] == "vm" and "xdp" in lookup["prog_types"]
    assert lookup["proto"] == "void *bpf_map_lookup_elem(struct bpf_map *map, const void *key)"
    assert helpers["bpf_xdp_adjust_head"]["prog_types"] == ["xdp"]
    assert any(h["status"] == "kernel only" for h in helpers.values())
    rc, out, _ = run_cli(capsys, "features", "--backend", "vm")
    assert rc == 0 and "run on the VM" in out and "bpf_skb_store_bytes(" in out
