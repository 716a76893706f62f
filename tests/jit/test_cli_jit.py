"""`pybpf jit dump` and `pybpf bench jit` (its parts, on small sizes), `pybpf run
--engine`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pybpf.cli.main import main
from pybpf.tools import jitbench

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_dump_an_object_program_with_ir(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jit", "dump", str(EXAMPLES / "xdp_firewall.o"), "--program",
                 "xdp_firewall", "--ir"]) == 0
    out = capsys.readouterr().out
    assert "; program xdp_firewall:" in out
    assert "bpf_main:" in out and "ret" in out  # native code
    assert "define i64 @bpf_main(ptr %st)" in out  # and the IR


def test_dump_raw_program_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "p.s"
    src.write_text("r0 = 42\nexit\n")
    assert main(["jit", "dump", str(src), "--json"]) == 0
    (item,) = json.loads(capsys.readouterr().out)
    assert item["insns"] == 2 and "bpf_main" in item["asm"] and "ir" not in item


@pytest.mark.parametrize("argv, message", [
    (["jit", "dump", "/nonexistent.o"], "nonexistent"),
    (["jit", "dump", str(EXAMPLES / "xdp_firewall.o"), "--program", "nope"], "no program"),
])
def test_dump_errors_are_one_line(argv: list[str], message: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_dump_refuses_a_malformed_program(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(bytes.fromhex("ff00000000000000"))
    assert main(["jit", "dump", str(bad)]) != 0
    assert "Traceback" not in capsys.readouterr().err


def test_run_engine_jit_on_a_raw_program(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "p.s"
    src.write_text("r0 = *(u8 *)(r1 + 1)\nexit\n")
    assert main(["run", str(src), "--mem", "0a0b", "--engine", "jit", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["r0"] == 0x0B
    assert main(["run", str(src), "--engine", "jit", "--backend", "kernel"]) != 0


def test_bench_parts() -> None:
    """The benchmark's rows: same r0 on both engines, compile rows by size."""
    row = jitbench._loop_row("bpf_calls", 1, 100, None)
    assert row["same_r0"] and row["jit_ns"] > 0 and row["kernel_ns"] is None
    (c,) = jitbench.compile_rows(sizes=(100,), repeat=1)
    assert c["insns"] >= 100 and c["compile_ms"] > 0
    text = jitbench.format_jit({"programs": [row], "kernel": "no", "compile": [c]})
    assert "bpf_calls" in text and "compile" in text
