"""`pybpf verify`, `pybpf fuzz verify`, `pybpf bench verify` logic (tools.verify): exit
statuses, the JSON schema, --compare-kernel, --dot."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from pybpf.asm import assemble_insns
from pybpf.tools import verify as tv

ROOT = Path(__file__).resolve().parents[2]
UNCHECKED = "r2 = *(u32 *)(r1 + 0)\nr0 = *(u8 *)(r2 + 0)\nexit\n"
GOOD = "r0 = 2\nexit\n"
SCHEMA = {"name", "section", "type", "accepted", "error", "pc", "insns_processed",
          "verify_ns", "log"}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pybpf")
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify")
    tv.add_verify_arguments(v)
    v.set_defaults(fn=tv.run_verify)
    f = sub.add_parser("fuzz-verify")
    tv.add_fuzz_verify_arguments(f)
    f.set_defaults(fn=tv.run_fuzz_verify)
    b = sub.add_parser("bench-verify")
    tv.add_bench_verify_arguments(b)
    b.set_defaults(fn=tv.run_bench_verify)
    return p


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        args = _parser().parse_args(list(argv))
        rc = args.fn(args)
    except SystemExit as e:
        rc = int(e.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return rc, out, err


@pytest.fixture
def prog(tmp_path):
    def write(text: str, name: str = "p.s") -> str:
        p = tmp_path / name
        p.write_text(text)
        return str(p)
    return write


def test_accepted_and_refused_exit_status(capsys, prog) -> None:
    rc, out, _ = run(capsys, "verify", prog(GOOD), "--type", "xdp")
    assert rc == 0 and "accepted" in out
    rc, out, _ = run(capsys, "verify", prog(UNCHECKED), "--type", "xdp")
    assert rc == 1 and "invalid access to packet" in out


def test_json_schema(capsys, prog) -> None:
    rc, out, _ = run(capsys, "verify", prog(UNCHECKED), "--type", "xdp", "--json",
                     "--log-level", "1")
    d = json.loads(out)
    [p] = d["programs"]
    assert rc == 1 and SCHEMA <= set(p)
    assert p["type"] == "xdp" and p["accepted"] is False and p["pc"] == 1
    assert p["error"].startswith("invalid access to packet") and p["log"]


def test_elf_object_every_program(capsys) -> None:
    rc, out, _ = run(capsys, "verify", str(ROOT / "tests/cli/data/multi.o"), "--json")
    d = json.loads(out)
    by = {p["name"]: p for p in d["programs"]}
    assert set(by) == {"xdp_count", "xdp_unchecked", "tc_drop"}
    assert by["tc_drop"]["type"] == "sched_cls" and by["tc_drop"]["section"] == "tc"
    assert by["xdp_unchecked"]["accepted"] is False and rc == 1
    rc, out, _ = run(capsys, "verify", str(ROOT / "tests/cli/data/multi.o"), "--program",
                     "tc_drop")
    assert rc == 0 and "tc_drop" in out and "xdp_count" not in out


@pytest.mark.parametrize("argv, msg", [
    (["/nonexistent.s", "--type", "xdp"], "cannot read"),
    (["{good}"], "--type is needed"),
    (["{good}", "--type", "nope"], "unknown program type"),
    (["{good}", "--type", "xdp", "--caps", "bpf,root"], "unknown capability"),
    (["{good}", "--type", "xdp", "--program", "x"], "--program needs an ELF object"),
    (["{multi}", "--program", "nope"], "no program 'nope'"),
    (["{multi}", "--type", "xdp"], "--type sets the type of one program"),
    (["{garbage}", "--type", "xdp"], ""),
    (["{empty}", "--type", "xdp"], "is empty"),
    (["{odd}", "--type", "xdp"], "not a multiple of 8"),
])
def test_bad_input_is_exit_2(capsys, prog, tmp_path, argv, msg) -> None:
    (tmp_path / "g.bin").write_bytes(b"\x00\xff\x13" * 5)
    files = {"good": prog(GOOD), "multi": str(ROOT / "tests/cli/data/multi.o"),
             "garbage": prog("this is not assembly at all\n", "g.s"),
             "empty": prog("", "e.s"), "odd": str(tmp_path / "g.bin")}
    rc, _, err = run(capsys, "verify", *[a.format(**files) for a in argv])
    assert rc == 2 and err.startswith("pybpf: error:") and msg in err


def test_dot_marks_the_failing_instruction(capsys, prog, tmp_path) -> None:
    out = tmp_path / "g.dot"
    rc, _, _ = run(capsys, "verify", prog(UNCHECKED), "--type", "xdp", "--dot", str(out))
    text = out.read_text()
    assert rc == 1 and text.startswith('digraph "p"')
    assert "fillcolor" in text and "invalid access to packet" in text


def test_cfg_dot_blocks_and_edges() -> None:
    insns = assemble_insns("r0 = 0\nif r1 > 3 goto out\nr0 = 1\ncall sub\nout:\nexit\n"
                           "sub:\nr0 = 2\nexit")
    dot = tv.cfg_dot(insns, name="x", error_pc=2, path=[(1, False)], error="boom")
    assert dot.count("->") >= 4
    assert 'label="T"' in dot and 'label="F"' in dot and "style=dashed" in dot
    assert "boom" in dot and "color=red" in dot
    assert tv.cfg_dot([], name="e") == 'digraph "e" {}\n'


def test_first_difference() -> None:
    assert tv.first_difference("a\nb\nverification time 3 usec\n", "a\nb\nstack depth 0\n") \
        is None
    assert tv.first_difference("a\nb\n", "a\nc\n") == {"line": 2, "pybpf": "b", "kernel": "c"}
    assert tv.first_difference("a\n", "a\nb\n") == {"line": 2, "pybpf": None, "kernel": "b"}


@pytest.mark.kernel
def test_compare_kernel(capsys, prog) -> None:
    rc, out, _ = run(capsys, "verify", prog(UNCHECKED), "--type", "xdp", "--compare-kernel",
                     "--json")
    [p] = json.loads(out)["programs"]
    assert rc == 1 and p["kernel"]["accepted"] is False
    assert p["kernel"]["error"].startswith("invalid access to packet") and p["agree"] is True
    rc, out, _ = run(capsys, "verify", prog(GOOD), "--type", "kprobe", "--compare-kernel",
                     "--caps", "bpf,net_admin")
    assert "kernel: refused: EPERM" in out


@pytest.mark.kernel
def test_compare_kernel_on_an_object(capsys) -> None:
    rc, out, _ = run(capsys, "verify", str(ROOT / "tests/cli/data/multi.o"),
                     "--compare-kernel", "--json", "--log-level", "1")
    by = {p["name"]: p for p in json.loads(out)["programs"]}
    assert by["xdp_unchecked"]["kernel"]["accepted"] is False
    assert by["tc_drop"]["kernel"]["accepted"] is True
    for p in by.values():
        assert "first_difference" in p


@pytest.mark.kernel
def test_fuzz_verify_json(capsys, tmp_path) -> None:
    rc, out, _ = run(capsys, "fuzz-verify", "--count", "20", "--seed", "3", "--json",
                     "--save", str(tmp_path), "--caps", "all")
    d = json.loads(out)
    assert d["count"] == 20 and d["caps_modes"] == ["all"]
    assert d["total"]["cases"] == 20 and d["cases_per_second"] > 0
    assert rc == (0 if not d["total"]["false_accepts"] and not d["total"]["errors"] else 1)
    assert len(list(tmp_path.glob("*.json"))) == d["total"]["false_accepts"]


@pytest.mark.parametrize("argv", [["--count", "0"], ["--count", "x"], ["--seed", "-1"],
                                  ["--timeout", "0"]])
def test_fuzz_verify_bad_options(capsys, argv) -> None:
    rc, _, err = run(capsys, "fuzz-verify", *argv)
    assert rc == 2 and "error" in err


def test_fuzz_verify_bad_caps(capsys) -> None:
    rc, _, err = run(capsys, "fuzz-verify", "--caps", "bpf,root", "--count", "1")
    assert rc == 2 and "unknown capability" in err


@pytest.mark.kernel
def test_bench_verify_on_the_examples() -> None:
    report = tv.bench_verify(objects=[ROOT / "examples" / "sockfilter_proto.o",
                                      ROOT / "tests/cli/data/multi.o"],
                             big_iterations=2000)
    assert len(report["programs"]) == 4
    for r in report["programs"]:
        assert r["kernel_us"] is not None and r["pybpf_wall_s"] >= 0
    assert report["median_ratio"] is not None
    m = report["million"]
    assert m["kernel_accepted"] and m["kernel_insns_processed"] >= 4000
    assert "median ratio" in tv.format_bench(report)
