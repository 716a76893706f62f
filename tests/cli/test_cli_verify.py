"""`pybpf verify`, `pybpf prog load --backend vm`, `pybpf run` on the VM behind the
verifier (--no-verify), and `fuzz verify` / `bench verify` in their groups, through
the real command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import kernel_available, run_cli

ROOT = Path(__file__).resolve().parents[2]
MULTI = str(ROOT / "tests/cli/data/multi.o")
GOOD = "r0 = 2\nexit\n"
UNCHECKED = "r2 = *(u32 *)(r1 + 0)\nr0 = *(u8 *)(r2 + 0)\nexit\n"


@pytest.fixture
def prog(tmp_path: Path):  # type: ignore[no-untyped-def]
    def write(text: str, name: str = "p.s") -> str:
        p = tmp_path / name
        p.write_text(text)
        return str(p)
    return write


def test_verify_exit_statuses(capsys: pytest.CaptureFixture[str], prog) -> None:  # type: ignore[no-untyped-def]
    rc, out, _ = run_cli(capsys, "verify", prog(GOOD), "--type", "xdp")
    assert rc == 0 and "accepted" in out
    rc, out, _ = run_cli(capsys, "verify", prog(UNCHECKED), "--type", "xdp")
    assert rc == 1 and "invalid access to packet" in out
    rc, _, err = run_cli(capsys, "verify", prog(GOOD))
    assert rc == 2 and "--type" in err
    rc, _, err = run_cli(capsys, "verify", prog(GOOD), "--type", "xdp", "--log-level", "7")
    assert rc == 2 and "invalid choice" in err


def test_verify_an_object_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(capsys, "verify", MULTI, "--json")
    assert rc == 1
    progs = {p["name"]: p for p in json.loads(out)["programs"]}
    assert progs["xdp_count"]["accepted"] and progs["tc_drop"]["accepted"]
    assert progs["tc_drop"]["type"] == "sched_cls"
    bad = progs["xdp_unchecked"]
    assert not bad["accepted"] and bad["error"].startswith("invalid access to packet")
    assert bad["pc"] is not None and bad["type"] == "xdp"


def test_prog_load_on_the_vm_prints_the_log(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run_cli(capsys, "prog", "load", "--backend", "vm", MULTI)
    assert rc == 1
    assert "xdp_count (xdp): accepted:" in out and "processed" in out
    assert "xdp_unchecked (xdp): rejected: invalid access to packet" in err
    assert "xlated" not in out  # the VM has no translated or JITed image
    rc, out, _ = run_cli(capsys, "prog", "load", "--backend", "vm", MULTI, "--program",
                         "xdp_unchecked", "--log-level", "2", "--json")
    rec = json.loads(out)["programs"][0]
    assert rc == 1 and not rec["accepted"] and rec["errno"] is None
    assert "R1=ctx() R10=fp0" in rec["log"] and rec["error"] in rec["log"]


def test_prog_load_on_the_vm_raw(capsys: pytest.CaptureFixture[str], prog) -> None:  # type: ignore[no-untyped-def]
    rc, out, _ = run_cli(capsys, "prog", "load", "--backend", "vm", prog(GOOD),
                         "--type", "xdp", "--json")
    rec = json.loads(out)["programs"][0]
    assert rc == 0 and rec["accepted"] and rec["verified_insns"] == 2
    assert rec["log"].startswith("processed 2 insns")
    rc, _, err = run_cli(capsys, "prog", "load", "--backend", "vm", prog(UNCHECKED),
                         "--type", "xdp")
    assert rc == 1 and "rejected: invalid access to packet" in err
    rc, _, err = run_cli(capsys, "prog", "load", "--backend", "vm", prog(GOOD))
    assert rc == 1 and "--type is needed" in err
    rc, _, err = run_cli(capsys, "prog", "load", "--backend", "vm", MULTI, "--pin-root", "/x")
    assert rc == 1 and "--pin-root" in err


@pytest.mark.kernel
def test_prog_load_vm_and_kernel_agree(capsys: pytest.CaptureFixture[str]) -> None:
    if not kernel_available()[0]:
        pytest.skip(kernel_available()[1])
    verdicts = {}
    for backend in ("vm", "kernel"):
        rc, out, _ = run_cli(capsys, "prog", "load", "--backend", backend, MULTI, "--json")
        assert rc == 1
        verdicts[backend] = {p["name"]: p["accepted"] for p in json.loads(out)["programs"]}
    assert verdicts["vm"] == verdicts["kernel"]


def test_run_refuses_what_the_verifier_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    packet = "ff" + "00" * 63
    rc, _, err = run_cli(capsys, "run", MULTI, "--program", "xdp_unchecked",
                         "--data-in", packet)
    assert rc == 1 and "verifier refused" in err and "xdp_unchecked" in err
    rc, out, _ = run_cli(capsys, "run", MULTI, "--program", "xdp_unchecked",
                         "--data-in", packet, "--no-verify", "--json")
    assert rc == 0 and json.loads(out)["verdict"] == "XDP_DROP"
    rc, out, _ = run_cli(capsys, "run", MULTI, "--program", "xdp_count", "--data-in", packet,
                         "--json")
    assert rc == 0 and json.loads(out)["verdict"] == "XDP_PASS"


def test_no_verify_only_where_it_means_something(capsys: pytest.CaptureFixture[str],
                                                 prog) -> None:  # type: ignore[no-untyped-def]
    rc, _, err = run_cli(capsys, "run", MULTI, "--backend", "kernel", "--no-verify")
    assert rc == 1 and "--no-verify" in err and "kernel verifies" in err
    rc, _, err = run_cli(capsys, "run", prog(GOOD), "--no-verify")
    assert rc == 1 and "--no-verify applies to ELF objects" in err


def test_fuzz_and_bench_verify_are_registered(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["fuzz", "verify", "--count", "0"], ["bench", "verify", "--timeout", "-1"]):
        rc, _, err = run_cli(capsys, *argv)
        assert rc == 2 and "must be" in err, argv
    rc, out, _ = run_cli(capsys, "fuzz", "verify", "--help")
    assert rc == 0 and "--count" in out and "--caps" in out
    rc, out, _ = run_cli(capsys, "bench", "verify", "--help")
    assert rc == 0 and "--no-million" in out


@pytest.mark.kernel
def test_fuzz_verify_sample(capsys: pytest.CaptureFixture[str]) -> None:
    if not kernel_available()[0]:
        pytest.skip(kernel_available()[1])
    rc, out, _ = run_cli(capsys, "fuzz", "verify", "--count", "4", "--seed", "3", "--json")
    report = json.loads(out)
    assert report["count"] == 4 and report["total"]["cases"] == 4
    assert rc in (0, 1)  # 1: a false accept, which the report lists
    assert (rc == 1) == bool(report["total"]["false_accepts"])
