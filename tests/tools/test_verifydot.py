"""`pybpf verify --dot`: the control-flow graph (pybpf.cfg) in DOT with the failing path
marked, the source lines in the blocks, and SVG when Graphviz is installed."""

from __future__ import annotations

import re
import shutil

import pytest

from pybpf.asm import assemble_insns
from pybpf.cfg import ControlFlowGraph
from pybpf.tools.verifydot import cfg_dot, dot_escape, path_edges
from tests.conftest import run_cli
from tests.verifier.refused import compiled


def _edges(dot: str) -> dict[tuple[str, str], str]:
    return {(m[1], m[2]): m[3] or "" for m in
            re.finditer(r"^\s*(\w+) -> (\w+)(?: \[(.*)\])?;$", dot, re.M)}


def test_the_failing_path_is_red(capsys: pytest.CaptureFixture[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "g.dot"
    rc, _, err = run_cli(capsys, "verify", str(compiled("pkt_proto")), "--dot", str(out),
                         "--no-counterexample")
    dot = out.read_text()
    assert rc == 1 and f"wrote {out}" in err
    edges = _edges(dot)
    # 5: if r3 > r2 (not taken) -> 6..10: if w3 != 0x8 (not taken) -> 11: the failing load
    assert 'label="F", color=red' in edges[("b0", "b1")]
    assert 'label="F", color=red' in edges[("b1", "b2")]
    assert "red" not in edges[("b0", "b4")] and "red" not in edges[("b2", "b3")]
    b2 = next(ln for ln in dot.splitlines() if ln.strip().startswith("b2 ["))
    assert "fillcolor" in b2 and "11: r1 = *(u8 *)(r1 +23)  \\<-- invalid access to packet" in b2
    assert "; if (ip-\\>protocol == IPPROTO_UDP) @ pkt_proto.c:20" in b2


def test_path_edges_without_a_replay() -> None:
    """A path through a local call is not replayed: its decisions' edges are marked."""
    insns = assemble_insns("r0 = 0\nif r1 > 3 goto out\ncall sub\nout:\nexit\n"
                           "sub:\nif r1 == 2 goto +1\nr0 = 2\nexit")
    cfg = ControlFlowGraph.of(insns)
    blocks, edges = path_edges(cfg, [(1, False), (4, True)], 6)
    b = cfg.block_at
    assert (b(1), b(2)) in edges and (b(4), b(6)) in edges and b(6) in blocks
    assert (b(1), b(3)) not in edges


def test_escape_and_empty() -> None:
    assert dot_escape('a{b}|<c>"\\') == 'a\\{b\\}\\|\\<c\\>\\"\\\\'
    assert cfg_dot([], name="e") == 'digraph "e" {}\n'


def test_svg_beside_the_dot(capsys: pytest.CaptureFixture[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    try:
        import graphviz  # type: ignore[import-not-found]  # noqa: F401
        have = True
    except ImportError:
        have = shutil.which("dot") is not None
    if not have:
        pytest.skip("Graphviz is not installed (no `dot` binary, no graphviz package): "
                    "--dot writes the DOT file only")
    out = tmp_path / "g.dot"
    rc, _, err = run_cli(capsys, "verify", str(compiled("null_check")), "--dot", str(out),
                         "--no-counterexample")
    svg = tmp_path / "g.svg"
    assert rc == 1 and svg.exists() and f"wrote {svg}" in err
    text = svg.read_text()
    assert text.lstrip().startswith(("<?xml", "<svg", "<!--")) and "</svg>" in text
    assert "#ffd0d0" in text  # the failing block, filled
