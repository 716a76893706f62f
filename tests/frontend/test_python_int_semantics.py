"""Integer semantics of the compiler against its specification (C's conversions, as the
package docstring states), by random expressions: the model evaluates each in Python,
the compiled program evaluates it on the VM and in the kernel over inputs read from the
packet (so nothing folds at compile time)."""

from __future__ import annotations

import struct
from typing import TypeAlias

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pybpf.frontend.python import compile_source
from tests.conftest import kernel_available

TYPES = {"u8": (8, False), "u16": (16, False), "u32": (32, False), "u64": (64, False),
         "i8": (8, True), "i16": (16, True), "i32": (32, True), "i64": (64, True)}
OPS = ["+", "-", "*", "&", "|", "^", "<<", ">>", "//", "%", "<", "==", ">="]
I32 = (32, True)

# a model type (bits, signed); an expression tree: a leaf (source, ("const", value) or
# ("in", field, type name), type) or (left, operator, right)
ModelType: TypeAlias = tuple[int, bool]
Leaf: TypeAlias = tuple[str, tuple[str, int] | tuple[str, str, str], ModelType]
Expr: TypeAlias = "Leaf | tuple[Expr, str, Expr]"


def wrap(v: int, t: ModelType) -> int:
    bits, signed = t
    v &= (1 << bits) - 1
    return v - (1 << bits) if signed and v >> (bits - 1) else v


def promote(t: ModelType) -> ModelType:
    return I32 if t[0] < 32 else t


def common(a: ModelType, b: ModelType) -> ModelType:
    a, b = promote(a), promote(b)
    if a[0] != b[0]:
        return a if a[0] > b[0] else b
    return (a[0], a[1] and b[1])


@st.composite
def exprs(draw: st.DrawFn, depth: int = 0) -> Expr:
    """(source text, model value, model type) of a random typed expression."""
    if depth >= 3 or draw(st.integers(0, 3)) == 0:
        if draw(st.booleans()):
            name = draw(st.sampled_from(sorted(TYPES)))
            field = draw(st.sampled_from("abc"))
            return f"{name}(inp.{field})", ("in", field, name), TYPES[name]
        c = draw(st.integers(0, 1 << 20))
        return str(c), ("const", c), I32
    op = draw(st.sampled_from(OPS))
    left = draw(exprs(depth + 1))
    right = draw(exprs(depth + 1))
    return (left, op, right)


def evaluate(e: Expr, inputs: dict[str, int]) -> tuple[str, int, ModelType]:
    """(source, value, type) of expression tree `e` under C's rules."""
    if len(e) == 3 and isinstance(e[1], tuple):
        src, leaf, t = e
        if len(leaf) == 2:  # ("const", value)
            return src, leaf[1], t
        return src, wrap(inputs[leaf[1]], TYPES[leaf[2]]), t
    (ls, lv, lt), op, (rs, rv, rt) = evaluate(e[0], inputs), e[1], evaluate(e[2], inputs)
    t = common(lt, rt)
    a, b = wrap(lv, t), wrap(rv, t)
    if op in ("<<", ">>"):
        rs = f"({rs}) & {t[0] - 1}"
        b = wrap(rv, t) & (t[0] - 1)
        r = a << b if op == "<<" else a >> b
        return f"({ls}) {op} ({rs})", wrap(r, t), t
    if op in ("//", "%"):
        # Python's floor division and modulo, signed or not (the divisor made odd, so
        # never zero)
        b = wrap(wrap(rv, t) | 1, t)
        src = f"({ls}) {op} (({rs}) | 1)"
        return src, wrap(a // b if op == "//" else a % b, t), t
    if op in ("<", "==", ">="):
        r = {"<": a < b, "==": a == b, ">=": a >= b}[op]
        return f"u32(({ls}) {op} ({rs}))", int(r), (32, False)
    r = {"+": a + b, "-": a - b, "*": a * b, "&": a & b, "|": a | b, "^": a ^ b}[op]
    return f"({ls}) {op} ({rs})", wrap(r, t), t


def _leaf(e: Expr) -> bool:
    return len(e) == 3 and isinstance(e[1], tuple)


def _literals_only(e: Expr) -> bool:
    if _leaf(e):
        return len(e[1]) == 2  # ("const", value)
    return _literals_only(e[0]) and _literals_only(e[2])


def folds(e: Expr) -> bool:
    """Some operation of `e` has literals only on both sides (the compiler folds it)."""
    if _leaf(e):
        return False
    return _literals_only(e) or folds(e[0]) or folds(e[2])


PROGRAM = """
import ctypes
from pybpf.frontend.python import *
LICENSE = "GPL"

class Inputs(ctypes.Structure):
    _fields_ = [("a", u64), ("b", u64), ("c", u64)]

out = ArrayMap(u32, u64, 1)

@xdp
def p(ctx):
    inp = ctx.header(Inputs)
    if inp is None:
        return 1
    slot = out.lookup(0)
    if slot is not None:
        slot[0] = u64({expr})
    return 2
"""

BACKENDS = ["vm"] + (["kernel"] if kernel_available()[0] else [])


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(tree=exprs(), a=st.integers(0, (1 << 64) - 1), b=st.integers(0, (1 << 64) - 1),
       c=st.sampled_from([0, 1, 7, 255, 256, 0xFFFF, 0x8000_0000, (1 << 64) - 1]))
def test_random_expressions_follow_c_conversions(tree: Expr, a: int, b: int,
                                                  c: int) -> None:
    # an operation on two literals folds at compile time as Python integers (untyped
    # constants, exact), not as C ints: this model covers expressions over typed values
    assume(not folds(tree))
    src, value, _ = evaluate(tree, {"a": a, "b": b, "c": c})
    spec = compile_source(PROGRAM.replace("{expr}", src), "expr.py").spec()
    data = struct.pack("<QQQ", a, b, c) + bytes(40)
    for backend in BACKENDS:
        with spec.instantiate(backend) as obj:
            assert obj.programs["p"].test_run(data).retval == 2
            got = int.from_bytes(obj.maps["out"][(0).to_bytes(4, "little")][:8], "little")
        assert got == value & ((1 << 64) - 1), f"{backend}: {src} = {got:#x}, want {value:#x}"
