"""Integer expressions: C's conversions of literals and typed values, arithmetic,
comparisons, and the boolean and conditional expressions, lowered to LLVM IR; a mixin
of FunctionLowering (which provides the builder, expr(), truth() and cond_branch())."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from llvmlite import ir

from .types import BOOL, I32, I64, U64, BoolTy, IntTy, PtrTy, common_int
from .values import Val

I1 = ir.IntType(1)
PTR = ir.PointerType()


class IntegerOps:
    """The integer half of expression lowering."""

    if TYPE_CHECKING:
        b: ir.IRBuilder

        def err(self, node: ast.AST | None, msg: str, hint: str = "") -> Exception: ...
        def expr(self, node: ast.expr) -> Val: ...
        def fresh_block(self, name: str) -> ir.Block: ...
        def cond_branch(self, node: ast.expr, yes: ir.Block, no: ir.Block) -> None: ...
        def truth(self, val: Val, node: ast.AST) -> ir.Value: ...

    def lit_type(self, c: int) -> IntTy:
        if -(1 << 31) <= c < (1 << 31):
            return I32
        return I64 if c < (1 << 63) else U64

    def int_operand(self, v: Val, node: ast.AST) -> IntTy:
        if v.ty is None and v.const is not None:
            return self.lit_type(v.const)
        if isinstance(v.ty, IntTy):
            return v.ty.host
        if isinstance(v.ty, BoolTy):
            return I32
        raise self.err(node, f"{v.what()} is not an integer")

    def to_int(self, v: Val, t: IntTy, node: ast.AST) -> ir.Value:
        """`v` converted to `t` (truncated or extended as C converts)."""
        if v.ty is None and v.const is not None:
            return t.llvm()(v.const & ((1 << t.bits) - 1))
        if isinstance(v.ty, BoolTy):
            return self.b.zext(v.v, t.llvm())
        if isinstance(v.ty, IntTy):
            src = v.ty
            if src.bits == t.bits:
                return v.v
            if src.bits > t.bits:
                return self.b.trunc(v.v, t.llvm())
            return self.b.sext(v.v, t.llvm()) if src.signed else self.b.zext(v.v, t.llvm())
        if v.kind == "none":
            raise self.err(node, "None is not an integer", "None only compares with pointers")
        raise self.err(node, f"{v.what()} is not an integer")

    def binop(self, op: ast.operator, a: Val, b: Val, node: ast.AST) -> Val:
        if isinstance(op, ast.Div):
            raise self.err(node, "/ is true division; BPF has integers only", "write //")
        if isinstance(op, ast.Pow | ast.MatMult) and not (
                a.const is not None and b.const is not None and a.ty is None and b.ty is None):
            raise self.err(node, f"{type(op).__name__} is not in the BPF subset",
                           "use shifts and multiplication")
        if a.ty is None and b.ty is None and a.const is not None and b.const is not None:
            return Val(None, const=self.fold(op, a.const, b.const, node))
        t = common_int(self.int_operand(a, node), self.int_operand(b, node))
        x, y = self.to_int(a, t, node), self.to_int(b, t, node)
        bb = self.b
        if isinstance(op, ast.Add):
            r = bb.add(x, y)
        elif isinstance(op, ast.Sub):
            r = bb.sub(x, y)
        elif isinstance(op, ast.Mult):
            r = bb.mul(x, y)
        elif isinstance(op, ast.FloorDiv | ast.Mod):
            if t.signed:
                r = self.floor_divmod(x, y, isinstance(op, ast.FloorDiv))
            else:
                r = bb.udiv(x, y) if isinstance(op, ast.FloorDiv) else bb.urem(x, y)
        elif isinstance(op, ast.LShift):
            r = bb.shl(x, y)
        elif isinstance(op, ast.RShift):
            r = bb.ashr(x, y) if t.signed else bb.lshr(x, y)
        elif isinstance(op, ast.BitAnd):
            r = bb.and_(x, y)
        elif isinstance(op, ast.BitOr):
            r = bb.or_(x, y)
        elif isinstance(op, ast.BitXor):
            r = bb.xor(x, y)
        else:
            raise self.err(node, f"{type(op).__name__} is not in the BPF subset")
        return Val(t, r)

    def floor_divmod(self, x: ir.Value, y: ir.Value, quotient: bool) -> ir.Value:
        """Python's // or % of signed x and y out of unsigned division (BPF v3 has no
        signed one): divide the magnitudes, negate when the signs differ, round toward
        minus infinity; x % y = x - (x // y) * y takes the divisor's sign. A zero
        divisor gives 0 and x, as BPF's unsigned division does."""
        bb = self.b
        zero = x.type(0)
        neg_x, neg_y = bb.icmp_signed("<", x, zero), bb.icmp_signed("<", y, zero)
        ux = bb.select(neg_x, bb.neg(x), x)
        uy = bb.select(neg_y, bb.neg(y), y)
        uq, ur = bb.udiv(ux, uy), bb.urem(ux, uy)
        differ = bb.xor(neg_x, neg_y)
        q = bb.select(differ, bb.neg(uq), uq)
        inexact = bb.and_(differ, bb.icmp_unsigned("!=", ur, zero))
        q = bb.sub(q, bb.zext(inexact, x.type))
        return q if quotient else bb.sub(x, bb.mul(q, y))

    def fold(self, op: ast.operator, a: int, b: int, node: ast.AST) -> int:
        try:
            r = {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b,
                 ast.FloorDiv: lambda: a // b, ast.Mod: lambda: a % b,
                 ast.LShift: lambda: a << b if b < 128 else 1 << 200, ast.RShift: lambda: a >> b,
                 ast.BitAnd: lambda: a & b, ast.BitOr: lambda: a | b,
                 ast.BitXor: lambda: a ^ b,
                 ast.Pow: lambda: a ** b if 0 <= b < 64 else 1 << 200}[type(op)]()
        except ZeroDivisionError:
            raise self.err(node, "division by zero") from None
        except KeyError:
            raise self.err(node, f"{type(op).__name__} is not in the BPF subset") from None
        if not -(1 << 63) <= r < (1 << 64):
            raise self.err(node, "the constant does not fit in 64 bits")
        return r

    def unary(self, node: ast.UnaryOp) -> Val:
        if isinstance(node.op, ast.Not):
            v = self.expr(node.operand)
            if v.ty is None and v.const is not None:
                return Val(BOOL, I1(0 if v.const else 1))
            return Val(BOOL, self.b.not_(self.truth(v, node.operand)))
        v = self.expr(node.operand)
        if v.ty is None and v.const is not None:
            c = {ast.USub: -v.const, ast.UAdd: v.const, ast.Invert: ~v.const}[type(node.op)]
            return Val(None, const=c)
        t = self.int_operand(v, node)
        x = self.to_int(v, t, node)
        if isinstance(node.op, ast.USub):
            return Val(t, self.b.neg(x))
        if isinstance(node.op, ast.Invert):
            return Val(t, self.b.not_(x))
        return Val(t, x)

    def compare_chain(self, node: ast.Compare) -> Val:
        left = self.expr(node.left)
        result: ir.Value | None = None
        for op, rnode in zip(node.ops, node.comparators, strict=True):
            right = self.expr(rnode)
            c = self.compare(op, left, right, node)
            result = c if result is None else self.b.and_(result, c)
            left = right
        assert result is not None
        return Val(BOOL, result)

    def compare(self, op: ast.cmpop, a: Val, b: Val, node: ast.AST) -> ir.Value:
        if isinstance(op, ast.In | ast.NotIn):
            raise self.err(node, "in is not in the BPF subset",
                           "compare with == and or, or look the key up in a map")
        if isinstance(a.ty, PtrTy) or isinstance(b.ty, PtrTy) or "none" in (a.kind, b.kind):
            if not isinstance(op, ast.Is | ast.IsNot | ast.Eq | ast.NotEq):
                raise self.err(node, "pointers compare with is None / is not None only")
            p, other = (a, b) if isinstance(a.ty, PtrTy) else (b, a)
            if other.kind != "none" or not isinstance(p.ty, PtrTy):
                raise self.err(node, "a pointer compares with None only")
            pred = "==" if isinstance(op, ast.Is | ast.Eq) else "!="
            return self.b.icmp_unsigned(pred, p.v, ir.Constant(PTR, None))
        if isinstance(op, ast.Is | ast.IsNot):
            raise self.err(node, "is compares pointers with None", "use == for numbers")
        if a.ty is None and b.ty is None and a.const is not None and b.const is not None:
            return I1(int(_py_compare(op, a.const, b.const)))
        t = common_int(self.int_operand(a, node), self.int_operand(b, node))
        x, y = self.to_int(a, t, node), self.to_int(b, t, node)
        pred = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
                ast.GtE: ">="}[type(op)]
        return self.b.icmp_signed(pred, x, y) if t.signed else self.b.icmp_unsigned(pred, x, y)

    def bool_value(self, node: ast.BoolOp) -> Val:
        yes, no, after = (self.fresh_block(n) for n in ("bool.true", "bool.false", "bool.end"))
        self.cond_branch(node, yes, no)
        self.b.position_at_end(yes)
        self.b.branch(after)
        self.b.position_at_end(no)
        self.b.branch(after)
        self.b.position_at_end(after)
        phi = self.b.phi(I1)
        phi.add_incoming(I1(1), yes)
        phi.add_incoming(I1(0), no)
        return Val(BOOL, phi)

    def if_exp(self, node: ast.IfExp) -> Val:
        yes, no, after = (self.fresh_block(n) for n in ("sel.true", "sel.false", "sel.end"))
        self.cond_branch(node.test, yes, no)
        self.b.position_at_end(yes)
        a = self.expr(node.body)
        self.b.position_at_end(no)
        b = self.expr(node.orelse)
        if isinstance(a.ty, PtrTy) or isinstance(b.ty, PtrTy) or a.kind or b.kind:
            raise self.err(node, "a conditional expression chooses between integers",
                           "use an if statement")
        t = common_int(self.int_operand(a, node), self.int_operand(b, node))
        self.b.position_at_end(yes)
        av = self.to_int(a, t, node)
        yes_end = self.b.block
        self.b.branch(after)
        self.b.position_at_end(no)
        bv = self.to_int(b, t, node)
        no_end = self.b.block
        self.b.branch(after)
        self.b.position_at_end(after)
        phi = self.b.phi(t.llvm())
        phi.add_incoming(av, yes_end)
        phi.add_incoming(bv, no_end)
        return Val(t, phi)


def _py_compare(op: ast.cmpop, a: int, b: int) -> bool:
    return {ast.Eq: a == b, ast.NotEq: a != b, ast.Lt: a < b, ast.LtE: a <= b, ast.Gt: a > b,
            ast.GtE: a >= b}[type(op)]


__all__ = ["IntegerOps"]
