"""The C source line of the failing instruction (BTF line info) in the verifier log, on
VerifierResult / VerifierError, and the path (branch decisions) that reached it."""

from __future__ import annotations

import json

import pytest

from pybpf import load
from pybpf.errors import VerifierError
from pybpf.spec.objectspec import LineInfo
from pybpf.verifier import SourceLines, verify_spec
from tests.conftest import run_cli
from tests.verifier.refused import compiled, libbpf_log, source_lines


def test_line_of_an_insn_is_the_last_record_at_or_before_it() -> None:
    lines = SourceLines([LineInfo(4, "/src/a.c", "  x = 1;", 7, 3),
                         LineInfo(0, "/src/a.c", "int f(void)", 5, 1)])
    assert lines.at(0).line == 5 and lines.at(3).line == 5 and lines.at(9).line == 7
    assert SourceLines([LineInfo(2, "a.c", "y", 1, 1)]).at(1) is None
    assert str(lines.at(4)) == "a.c:7: x = 1;"


def test_log_prints_a_line_once_per_change_of_line() -> None:
    """verbose_linfo: two records of one file and line (different columns) print once,
    and the text is left-trimmed with the file's base name."""
    lines = SourceLines([LineInfo(0, "/src/a.c", "\tif (x)", 3, 2),
                         LineInfo(1, "/src/a.c", "\tif (x)", 3, 9),
                         LineInfo(2, "/src/a.c", "", 0, 0)])
    assert lines.log_line(0) == "; if (x) @ a.c:3\n"
    assert lines.log_line(1) == "" and lines.log_line(0) == ""
    assert lines.log_line(2) == ";  @ a.c:0\n"


def test_result_and_error_carry_the_source_line() -> None:
    spec = load(str(compiled("pkt_unchecked")))
    r = verify_spec(spec, "xdp_unchecked")
    assert not r.accepted and r.pc == 11
    assert r.line == 16 and r.source.text.strip() == "return p[12];"
    assert r.source.basename == "pkt_unchecked.c"
    assert r.path == ((2, False), (7, False), (10, False))
    with pytest.raises(VerifierError) as e:
        r.raise_for_refusal()
    assert e.value.line == 16 and e.value.source is r.source and e.value.path == r.path
    assert "pkt_unchecked.c:16: return p[12];" in str(e.value)


def test_the_vm_refusal_names_the_source_line() -> None:
    spec = load(str(compiled("null_check")))
    with pytest.raises(VerifierError) as e:
        spec.instantiate("vm", verify=True)
    assert e.value.line == 17 and "*v += 1;" in str(e.value)
    assert "; *v += 1; @ null_check.c:17" in e.value.log


def test_verify_prints_source_and_path(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(capsys, "verify", str(compiled("pkt_unchecked")))
    assert rc == 1
    assert "  at pkt_unchecked.c:16: return p[12];" in out
    assert "pc 7: if r3 > r1 not taken" in out and "pkt_unchecked.c:13" in out
    rc, out, _ = run_cli(capsys, "verify", str(compiled("pkt_popped")), "--json")
    [p] = json.loads(out)["programs"]
    assert {"name", "error", "pc", "log", "source", "path"} <= set(p)
    assert p["source"]["line"] == 16 and p["source"]["text"] == "return p[1];"
    assert p["path"] == [{"pc": 4, "insn": "if r3 > r2", "taken": True,
                          "source": "pkt_popped.c:11: if (data + 14 <= data_end) {"}]


def test_no_line_info_no_source(capsys: pytest.CaptureFixture[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "p.s"
    f.write_text("r2 = *(u32 *)(r1 + 0)\nr0 = *(u8 *)(r2 + 0)\nexit\n")
    rc, out, _ = run_cli(capsys, "verify", str(f), "--type", "xdp", "--json")
    [p] = json.loads(out)["programs"]
    assert rc == 1 and p["source"] is None and p["path"] == []


@pytest.mark.kernel
@pytest.mark.parametrize("name", ["pkt_unchecked", "pkt_popped", "null_check"])
def test_source_lines_as_the_kernel_prints_them(name: str) -> None:
    """The kernel (loaded by libbpf with the object's line info) and pybpf print the same
    source lines before the same instructions at log level 1."""
    obj = compiled(name)
    spec = load(str(obj))
    [prog] = spec.programs
    ours = verify_spec(spec, prog, log_level=1)
    theirs = libbpf_log(obj)
    assert source_lines(ours.log) == source_lines(theirs)
    assert source_lines(ours.log)
