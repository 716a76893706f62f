"""`pybpf verify --dot OUT`: a program's control-flow graph (pybpf.cfg) in Graphviz DOT,
one node per basic block (its instructions, with the C source lines where the object
has line info), with the failing path marked: the blocks and edges the refused path
walked in red, the failing instruction's block filled and its error beside it. SVG too
when Graphviz (`dot`, or the graphviz Python package) is installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, Sequence

from ..cfg import ControlFlowGraph, Exit
from ..errors import PyBPFError
from ..isa import Instruction, jump_target

_RED = "color=red, penwidth=2"


class DotError(PyBPFError):
    """The graph could not be written or rendered."""


def dot_escape(s: str) -> str:
    """Text for a record label: DOT's quote and the record syntax's special characters."""
    for c in "\\\"{}<>|":
        s = s.replace(c, "\\" + c)
    return s


def path_edges(cfg: ControlFlowGraph, path: Sequence[tuple[int, bool]],
               error_pc: int | None) -> tuple[set[int], set[tuple[int, int]]]:
    """The blocks and edges (block, block) the failing path walked: replayed from pc 0
    along its branch decisions where it can be (tools.counterexample.path_trace), else
    the decision edges alone."""
    from .counterexample import path_trace
    blocks: set[int] = set()
    edges: set[tuple[int, int]] = set()
    trace = path_trace(cfg.insns, path, error_pc) if error_pc is not None else None
    if trace:
        seq = [cfg.block_at(pc) for pc in trace]
        blocks.update(seq)
        edges.update((a, b) for a, b in zip(seq, seq[1:]) if a != b)
        return blocks, edges
    for pc, taken in path:
        i = cfg.index_of(pc)
        if i is None:
            continue
        insn = cfg.insns[i]
        tgt = jump_target(insn, pc) if taken else pc + insn.slots
        if tgt is None or tgt >= cfg.total:
            continue
        a, b = cfg.block_at(pc), cfg.block_at(tgt)
        blocks.update((a, b))
        edges.add((a, b))
    if error_pc is not None and 0 <= error_pc < cfg.total:
        blocks.add(cfg.block_at(error_pc))
    return blocks, edges


def cfg_dot(insns: Sequence[Instruction], *, name: str = "prog", error_pc: int | None = None,
            path: Sequence[tuple[int, bool]] = (), error: str | None = None,
            line_info: Any = (), cluster: bool = False) -> str:
    """The control-flow graph of a program in DOT (see the module docstring): edges
    "T" / "F" for a branch taken / not taken, dashed "call" edges into subprograms."""
    from ..asm import disassemble_insn
    from ..verifier.log import SourceLines
    if not insns:
        return f'digraph "{dot_escape(name)}" {{}}\n'
    cfg = ControlFlowGraph.of(insns)
    hot, hot_edges = path_edges(cfg, path, error_pc)
    err_block = cfg.block_at(error_pc) if error_pc is not None and \
        0 <= error_pc < cfg.total else None
    lines = SourceLines(line_info or ())
    pre = f"{name}_" if cluster else ""
    out = [f'subgraph "cluster_{dot_escape(name)}" {{' if cluster else
           f'digraph "{dot_escape(name)}" {{',
           f'  label="{dot_escape(name)}"; labelloc=t;' if cluster else "",
           '  node [shape=record, fontname="monospace", fontsize=10];']
    for blk in cfg:
        text = []
        for i in range(blk.first, blk.last):
            pc = cfg.pcs[i]
            src = lines.log_line(pc)
            if src:
                text.append(dot_escape(src.rstrip("\n")) + "\\l")
            try:
                ins = disassemble_insn(insns[i])
            except PyBPFError:
                ins = f"(bad instruction {insns[i].opcode:#04x})"
            mark = f"  <-- {error}" if pc == error_pc and error else ""
            text.append(dot_escape(f"{pc}: {ins}{mark}") + "\\l")
        style = ""
        if blk.index == err_block:
            style = f', style=filled, fillcolor="#ffd0d0", {_RED}'
        elif blk.index in hot:
            style = f", {_RED}"
        out.append(f'  {pre}b{blk.index} [label="{{{"".join(text)}}}"{style}];')
    for blk in cfg:
        edges: list[tuple[int, str, str]] = []
        if blk.exit is Exit.BRANCH:
            last = cfg.pcs[blk.last - 1]
            tgt = jump_target(insns[blk.last - 1], last)
            for s in blk.succs:
                label = "T" if tgt is not None and cfg.block_start(s) == tgt else "F"
                edges.append((s, label, ""))
        else:
            edges += [(s, "", "") for s in blk.succs]
        if blk.callee is not None:
            edges.append((blk.callee, "call", "dashed"))
        for s, label, st in edges:
            attrs = [f'label="{label}"'] if label else []
            if st:
                attrs.append(f"style={st}")
            if (blk.index, s) in hot_edges:
                attrs.append(_RED)
            a = f" [{', '.join(attrs)}]" if attrs else ""
            out.append(f"  {pre}b{blk.index} -> {pre}b{s}{a};")
    out.append("}")
    return "\n".join(x for x in out if x) + "\n"


def render_svg(dot_text: str, out: Path) -> bool:
    """DOT to SVG with Graphviz's `dot` (or the graphviz package); False when neither
    is installed."""
    exe = shutil.which("dot")
    if exe:
        res = subprocess.run([exe, "-Tsvg", "-o", str(out)], input=dot_text.encode(),
                             capture_output=True, timeout=60, check=False)
        if res.returncode != 0:
            raise DotError(f"dot could not render the graph: "
                           f"{res.stderr.decode(errors='replace').strip()[:200]}")
        return True
    try:
        import graphviz  # type: ignore[import-not-found]  # optional, and without stubs
    except ImportError:
        return False
    out.write_bytes(graphviz.Source(dot_text).pipe(format="svg"))
    return True


def write_dot(path: str, programs: Sequence[tuple[str, Sequence[Instruction], dict[str, Any],
                                                  Any]]) -> list[str]:
    """Write the graphs of `programs` ((name, insns, result dict, line info)) to PATH
    (DOT; the result dict's "pc", "error" and "path" mark the failing path); SVG beside
    it (PATH with .svg) when Graphviz is installed. Returns the files written."""
    def one(name: str, insns: Sequence[Instruction], rec: dict[str, Any], li: Any,
            cluster: bool) -> str:
        steps = [(s["pc"], s["taken"]) for s in rec.get("path") or ()]
        return cfg_dot(insns, name=name, error_pc=rec.get("pc"), path=steps,
                       error=rec.get("error"), line_info=li, cluster=cluster)
    if len(programs) == 1:
        text = one(*programs[0], cluster=False)
    else:
        text = "digraph verify {\n" + "".join(one(*p, cluster=True) for p in programs) + "}\n"
    out = Path(path)
    try:
        out.write_text(text)
    except OSError as e:
        raise DotError(f"cannot write {path}: {e.strerror}") from None
    files = [str(out)]
    svg = out.with_suffix(".svg") if out.suffix != ".svg" else out.with_suffix(".svg.svg")
    if render_svg(text, svg):
        files.append(str(svg))
    return files
