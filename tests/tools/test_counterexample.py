"""Counterexamples to refusals (tools.counterexample): inputs found by following the
failing path's branch conditions, on which the program run on the VM without the
verifier really faults or returns out of range; and the `pybpf run` command printed for
each really shows it."""

from __future__ import annotations

import json
import shlex

import pytest

from pybpf import load
from pybpf.asm import assemble_insns
from pybpf.tools.counterexample import constraints, find_counterexample, path_trace
from pybpf.verifier import verify_spec
from tests.conftest import run_cli
from tests.verifier.refused import REFUSED, compiled

# program -> what the VM run shows
FOUND = {
    "pkt_proto": "MemoryAccessError",
    "null_check": "MemoryAccessError",
    "var_offset": "MemoryAccessError",
    "map_index": "MemoryAccessError",  # needs a map value: the index comes from `config`
    "helper_arg": "MemoryAccessError",
    "r0_range": "outside [0, 1]",
}
NONE = {
    "pkt_popped": "at most 13 bytes",
    "pkt_unchecked": "none found",
    "ref_leak": "leaked reference",
    "uninit_stack": "zeroes its stack",
}


def _refusal(name: str):  # type: ignore[no-untyped-def]
    spec = load(str(compiled(name)))
    [prog] = spec.programs
    caps = REFUSED[name][0]
    r = verify_spec(spec, prog, caps=("bpf", "net_admin") if caps != "all" else
                    ("bpf", "perfmon", "net_admin", "sys_admin"))
    assert not r.accepted
    return spec, prog, r


@pytest.mark.parametrize("name", sorted(FOUND))
def test_counterexample_found(name: str) -> None:
    spec, prog, r = _refusal(name)
    cx, why = find_counterexample(spec, prog, r, spec.programs[prog].instructions)
    assert cx is not None, why
    assert FOUND[name] in cx.outcome
    if cx.outcome.startswith("MemoryAccessError"):
        assert cx.outcome.endswith(f"at pc {r.pc}")
    assert cx.tried <= 20  # guided, not blind


@pytest.mark.parametrize("name", sorted(NONE))
def test_no_counterexample_says_why(name: str) -> None:
    spec, prog, r = _refusal(name)
    cx, why = find_counterexample(spec, prog, r, spec.programs[prog].instructions,
                                  max_runs=60)
    assert cx is None and NONE[name] in why


def test_the_path_conditions_become_input_bytes() -> None:
    """h_proto, loaded as two bytes and put together with a shift and an or, must be
    0x0800 (big endian) for the failing path: bytes 12 and 13 are 08 00; the packet is at
    least 14 bytes (the data + 14 > data_end check not taken)."""
    spec, prog, r = _refusal("pkt_proto")
    insns = spec.programs[prog].instructions
    trace = path_trace(insns, r.path, r.pc)
    assert trace is not None and trace[-1] == r.pc
    c = constraints(insns, trace, r.path, spec.programs[prog].type)
    assert c.data == {12: 0x08, 13: 0x00} and c.len_lo == 14
    spec, prog, r = _refusal("ref_leak")  # `if (*e == 1)` taken, *e = ingress_ifindex
    insns = spec.programs[prog].instructions
    c = constraints(insns, path_trace(insns, r.path, r.pc), r.path, spec.programs[prog].type)
    assert c.ctx == {12: 1, 13: 0, 14: 0, 15: 0}


def test_path_trace_refuses_a_path_that_does_not_fit() -> None:
    insns = assemble_insns("r0 = 0\nif r1 > 3 goto +1\nr0 = 1\nexit")
    assert path_trace(insns, ((1, True),), 3) == [0, 1, 3]
    assert path_trace(insns, ((1, False),), 3) == [0, 1, 2, 3]
    assert path_trace(insns, ((2, True),), 3) is None


@pytest.mark.parametrize("name", ["pkt_proto", "r0_range", "map_index"])
def test_the_printed_command_reproduces_it(capsys: pytest.CaptureFixture[str], tmp_path,
                                           name: str) -> None:  # type: ignore[no-untyped-def]
    obj = str(compiled(name))
    rc, out, _ = run_cli(capsys, "verify", obj, "--json", "--counterexample-dir",
                         str(tmp_path))
    [p] = json.loads(out)["programs"]
    cx = p["counterexample"]
    assert rc == 1 and cx is not None and p["counterexample_note"] is None
    assert cx["files"] and cx["files"][0].startswith(str(tmp_path))
    argv = shlex.split(cx["command"])
    assert argv[:2] == ["pybpf", "run"] and "--no-verify" in argv
    rc, out, err = run_cli(capsys, *argv[1:])
    if name == "pkt_proto":
        assert rc != 0 and "outside the packet" in err and "at pc 11" in err
    elif name == "map_index":  # the index read from `config`, as its JSON file sets it
        assert rc != 0 and "no region" in err and f"at pc {p['pc']}" in err
        assert cx["maps"] == {"config": [{"key": 0, "value": 0xFFFFFFFF}]}
        assert argv.count("--map") == 1 and any(f.endswith(".json") for f in cx["files"])
        rc, out, err = run_cli(capsys, *[a for a in argv[1:] if "config=@" not in a
                                         and a != "--map"])
        assert rc == 0  # without the map contents the run is safe
    else:
        assert rc == 0 and "retval 2" in out
    rc, out, _ = run_cli(capsys, *argv[1:-1])  # with the verifier: refused
    assert rc != 0


def test_text_output_and_opting_out(capsys: pytest.CaptureFixture[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    obj = str(compiled("null_check"))
    rc, out, _ = run_cli(capsys, "verify", obj, "--counterexample-dir", str(tmp_path))
    assert "counterexample: a 14-byte packet, run on the VM without the verifier: " \
           "MemoryAccessError" in out and "pybpf run " in out
    rc, out, _ = run_cli(capsys, "verify", obj, "--json", "--no-counterexample")
    [p] = json.loads(out)["programs"]
    assert "counterexample" not in p
    rc, out, _ = run_cli(capsys, "verify", str(compiled("map_index")))
    assert "counterexample: a 14-byte packet and map config with 1 entry (0: 4294967295)" \
        in out
    rc, out, _ = run_cli(capsys, "verify", str(compiled("ref_leak")))
    assert "counterexample: none: a leaked reference" in out
