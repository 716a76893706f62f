"""Random program bodies, in and out of the subset, never escape the compiler as a
traceback: each compiles, or is a PyBPFError (CompileError) at a line of the source;
what compiles loads on the VM and runs, or fails with a PyBPFError."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.errors import PyBPFError
from pybpf.frontend.python import CompileError, compile_source

pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")

HEAD = """\
import ctypes
from pybpf.frontend.python import *
LICENSE = "GPL"
class K(Struct):
    a: u32
    b: be16
m = HashMap(u32, u64, 8)
s = HashMap(K, K, 8)
arr = ArrayMap(u32, K, 4)
g = Global(u64)
c = Config(u32, 3)
def helper(v: u32) -> u32:
    return v + 1
@xdp
def p(ctx):
"""

LEAVES = ["0", "1", "255", "-3", "x", "y", "ctx.data", "ctx.ingress_ifindex", "c", "g",
          "u8(x)", "i64(y)", "bpf_ktime_get_ns()", "bpf_get_prandom_u32()", "helper(x)",
          "sizeof(K)", "None", "True", "1.5", "'s'", "[1]", "undefined", "m", "K(a=1)",
          "htons(x)", "ctx", "lambda: 1", "(1, 2)"]
BINOPS = ["+", "-", "*", "//", "%", "<<", ">>", "&", "|", "^", "/", "**", "==", "<", ">=",
          " and ", " or ", " is ", " is not "]


@st.composite
def expr(draw: st.DrawFn, depth: int = 0) -> str:
    if depth > 2 or draw(st.integers(0, 2)) == 0:
        return draw(st.sampled_from(LEAVES))
    kind = draw(st.integers(0, 5))
    a = draw(expr(depth + 1))
    if kind == 0:
        return f"({a}){draw(st.sampled_from(BINOPS))}({draw(expr(depth + 1))})"
    if kind == 1:
        return f"{draw(st.sampled_from(['-', '~', 'not ']))}({a})"
    if kind == 2:
        fn = draw(st.sampled_from(['m.lookup', 'm.delete', 'arr.lookup', 'u32', 'print']))
        return f"{fn}({a})"
    if kind == 3:
        return f"m.update({a}, {draw(expr(depth + 1))})"
    if kind == 4:
        return f"({a}) if ({draw(expr(depth + 1))}) else ({draw(expr(depth + 1))})"
    return f"({a})[{draw(st.sampled_from(['0', '1', 'x']))}]"


@st.composite
def stmts(draw: st.DrawFn, depth: int = 0) -> list[str]:
    out = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.integers(0, 9 if depth < 2 else 5))
        e = draw(expr())
        if kind == 0:
            out.append(f"{draw(st.sampled_from(['x', 'y', 'z', 'ctx', 'g']))} = {e}")
        elif kind == 1:
            out.append(f"{draw(st.sampled_from(['x', 'g', 'k.a', 'v[0]']))} += {e}")
        elif kind == 2:
            out.append(f"return {e}")
        elif kind == 3:
            out.append(e)
        elif kind == 4:
            out.append(draw(st.sampled_from(["pass", "break", "global g", "del x",
                                             "k = K(a=2, b=3)", "v = m.lookup(1)",
                                             "x: u16 = 7", "assert x"])))
        elif kind == 5:
            out.append(f"x = {e}")
        else:
            head = draw(st.sampled_from([f"if {e}:", f"while {e}:", "for i in range(3):",
                                         "for i in range(x):", "with x:", "try:"]))
            body = textwrap.indent("\n".join(draw(stmts(depth + 1))), "    ")
            out.append(f"{head}\n{body}")
            if head == "try:":
                out.append("except Exception:\n    pass")
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=stmts())
def test_random_programs_compile_or_fail_cleanly(body: list[str]) -> None:
    src = HEAD + textwrap.indent("x = 1\ny = 2\n" + "\n".join(body) + "\nreturn 2\n", "    ")
    try:
        spec = compile_source(src, "fuzz.py").spec()
    except CompileError as e:
        assert e.file == "fuzz.py" and (e.line == 0 or 1 <= e.line <= src.count("\n") + 1)
        return
    except PyBPFError:
        return
    try:
        with spec.instantiate("vm") as obj:
            obj.programs["p"].test_run(bytes(64))
    except PyBPFError:
        pass
