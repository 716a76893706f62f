"""Lowering of one function body (Python AST) to LLVM IR: statements, expressions,
calls to helpers, maps, sub-functions and the compiler's builtins, each instruction
tagged with the Python line and column it comes from."""

from __future__ import annotations

import ast
import ctypes as C
from llvmlite import ir

from ...helper_protos import proto
from .errors import CompileError
from .exprs import IntegerOps
from .lang import BUILTINS, Config, MapDecl, Program, Subprogram
from .module import FuncInfo, MapInfo, ModuleState
from .types import (
    BOOL,
    I32,
    I64,
    U32,
    U64,
    VOID,
    ArrayTy,
    BoolTy,
    IntTy,
    PtrTy,
    StructTy,
    Ty,
    TypeMapError,
    from_ctype,
)
from .values import LVal, Val

I1, I8T, I32T, I64T = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
PTR = ir.PointerType()
STACK_LIMIT = 512  # MAX_BPF_STACK

_UNSUPPORTED_STMT = {
    ast.Try: "BPF has no exceptions: test results and return early",
    ast.Raise: "BPF has no exceptions: return a verdict instead",
    ast.With: "there are no context managers in a BPF program",
    ast.FunctionDef: "define sub-functions at module level",
    ast.AsyncFunctionDef: "BPF programs are not async",
    ast.ClassDef: "define structs at module level (ctypes.Structure)",
    ast.Nonlocal: "declare module-level state as a map or a Config",
    ast.Import: "import at module level",
    ast.ImportFrom: "import at module level",
    ast.Delete: "delete a map entry with m.delete(key)",
    ast.Assert: "test the condition with if and return a verdict",
    ast.Match: "use if/elif",
}
_UNSUPPORTED_EXPR = {
    ast.List: "BPF has no lists: use a map or a ctypes array in a struct",
    ast.Tuple: "BPF has no tuples: return one value, or write into a map",
    ast.Dict: "BPF has no dicts: declare a HashMap at module level",
    ast.Set: "BPF has no sets: declare a HashMap at module level",
    ast.ListComp: "BPF has no lists: use a for loop over range(N)",
    ast.SetComp: "use a for loop over range(N)",
    ast.DictComp: "use a for loop over range(N)",
    ast.GeneratorExp: "use a for loop over range(N)",
    ast.Lambda: "define a function at module level",
    ast.Await: "BPF programs are not async",
    ast.Yield: "BPF programs are not generators",
    ast.YieldFrom: "BPF programs are not generators",
    ast.NamedExpr: "assign on a line of its own",
    ast.Starred: "pass the arguments one by one",
    ast.Slice: "index one element at a time",
    ast.JoinedStr: "f-strings are only for print()",
}


class _Callee(ir.values.Value):
    """A helper called through its id, as clang emits it: `inttoptr (i64 id to ptr)`."""

    def __init__(self, helper_id: int, fnty: ir.FunctionType) -> None:
        self.type = PTR
        self.function_type = fnty
        self._id = helper_id

    def get_reference(self) -> str:
        return f"inttoptr (i64 {self._id} to ptr)"

    def _to_string(self) -> str:
        return f"ptr {self.get_reference()}"


class _VolatileLoad(ir.instructions.LoadInstr):
    """`load volatile`: context fields are read where they are used, so the zero
    extension of a 32-bit data/data_end load stays next to it (a `w5 = w5` on a packet
    pointer kept in a register would make it a scalar for the verifier)."""

    def descr(self, buf: list[str]) -> None:
        inner: list[str] = []
        super().descr(inner)
        buf.append(inner[0].replace("load ", "load volatile ", 1))


class FunctionLowering(IntegerOps):
    """Lowers `info.node` into `info.fn`."""

    def __init__(self, st: ModuleState, info: FuncInfo) -> None:
        self.st, self.info = st, info
        self.fn = info.fn
        self.entry = self.fn.append_basic_block("entry")
        self.b = ir.IRBuilder(self.entry)
        self.locals: dict[str, tuple[ir.Value, Ty]] = {}
        self.loops: list[tuple[ir.Block, ir.Block]] = []
        self.ctx: ir.Value | None = None
        self.stack = 0  # bytes of struct and array variables
        self.global_names: set[str] = set()  # named by a `global` statement
        self.node: ast.AST = info.node  # the statement being lowered

    # ---- helpers ----
    def err(self, node: ast.AST | None, msg: str, hint: str = "") -> Exception:
        return self.st.err(node, msg, hint)

    def at(self, node: ast.AST) -> None:
        line = getattr(node, "lineno", None)
        if line:
            self.b.debug_metadata = self.st.di.location(
                line, getattr(node, "col_offset", 0) + 1, self.info.scope)

    def alloca(self, ty: Ty, name: str = "", zero: bool = False) -> ir.Value:
        if isinstance(ty, StructTy | ArrayTy):
            self.stack += ty.size
            if self.stack > STACK_LIMIT:
                raise self.err(self.node, f"the structs on {self.info.name}'s stack take "
                                          f"{self.stack} bytes; a BPF stack holds {STACK_LIMIT}",
                               "keep large values in a PerCPUArray map and work through "
                               "its pointer")
        saved = self.b.block
        self.b.position_at_start(self.entry)
        a = self.b.alloca(ty.llvm() if not isinstance(ty, StructTy | ArrayTy)
                          else ir.ArrayType(I8T, max(ty.size, 1)), name=name)
        a.align = max(ty.align, 1) if not isinstance(ty, StructTy | ArrayTy) else 8
        a.type = PTR  # LLVM's pointers are opaque; llvmlite would check a pointee type
        if zero and isinstance(ty, IntTy | BoolTy | PtrTy):
            # a variable assigned on some paths only reads as 0 on the others, never as
            # uninitialised stack (which the verifier refuses); LLVM drops the dead stores
            init = ir.Constant(PTR, None) if isinstance(ty, PtrTy) else ty.llvm()(0)
            self.b.store(init, a)
        self.b.position_at_end(saved)  # lowering only ever appends to a block
        return a

    def gep(self, base: ir.Value, idx: list[ir.Value], source_etype: ir.Type = I8T) -> ir.Value:
        """base + idx bytes, an opaque pointer."""
        g = self.b.gep(base, idx, inbounds=True, source_etype=source_etype)
        g.type = PTR
        return g

    def assume(self, cond: ir.Value) -> None:
        """Tell LLVM a fact the verifier knows (a packet pointer is never null), so the
        None test of a header view is the bounds check alone."""
        fn = self.st.module.globals.get("llvm.assume")
        if fn is None:
            fn = ir.Function(self.st.module, ir.FunctionType(ir.VoidType(), [I1]), "llvm.assume")
        self.b.call(fn, [cond])

    def load_volatile(self, ptr: ir.Value, typ: ir.Type, align: int) -> ir.Value:
        ld = _VolatileLoad(self.b.block, ptr, typ=typ)
        ld.align = align
        self.b._insert(ld)
        return ld

    def map_named(self, node: ast.expr) -> MapInfo | None:
        """The MapInfo `node` names (a module map, or a map parameter), else None."""
        if not isinstance(node, ast.Name) or node.id in self.locals:
            return None
        return self.st.maps.get(self.info.maps.get(node.id, node.id))

    def terminated(self) -> bool:
        return self.b.block.is_terminated

    def fresh_block(self, name: str) -> ir.Block:
        return self.fn.append_basic_block(name)

    # ---- entry ----
    def lower(self) -> None:
        info, node = self.info, self.info.node
        self.at(node)
        args = list(self.fn.args)
        if info.program is not None:
            self.ctx = args[0]
            self.ctx_name = node.args.args[0].arg
        else:
            plain = [p for p in node.args.args if p.arg not in info.maps]
            for a, p, t in zip(args, plain, info.params, strict=True):
                if p.arg == info.ctx_param:
                    self.ctx, self.ctx_name = a, p.arg
                    continue
                slot = self.alloca(t, p.arg)
                self.b.store(a, slot)
                self.locals[p.arg] = (slot, t)
        self.block(node.body)
        if not self.terminated():
            if isinstance(info.ret, type(VOID)):
                self.b.ret_void()
            elif _always_returns(node.body):
                self.b.unreachable()
            else:
                last = node.body[-1]
                raise self.err(last, f"{info.name} can end without returning a value",
                               "end every path with return")

    def block(self, stmts: list[ast.stmt]) -> None:
        for s in stmts:
            if self.terminated():
                # code after return/break/continue: lower into an unreachable block
                self.b.position_at_end(self.fresh_block("dead"))
            self.stmt(s)

    # ---- statements ----
    def stmt(self, s: ast.stmt) -> None:
        try:
            self._stmt(s)
        except CompileError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError, AssertionError,
                RecursionError) as e:
            # a combination the checks above missed: still an error at the line
            raise self.err(s, f"cannot compile this statement ({type(e).__name__}: {e})",
                           "see the grammar in pybpf.frontend.python") from None

    def _stmt(self, s: ast.stmt) -> None:
        self.node = s
        self.at(s)
        if isinstance(s, ast.Expr):
            if isinstance(s.value, ast.Constant) and isinstance(s.value.value, str):
                return  # a docstring
            self.expr(s.value)
        elif isinstance(s, ast.Assign):
            if len(s.targets) != 1:
                raise self.err(s, "chained assignment", "assign one name per line")
            self.assign(s.targets[0], s.value, None)
        elif isinstance(s, ast.AnnAssign):
            if s.value is None:
                raise self.err(s, "a declaration without a value", "write x: u32 = 0")
            self.assign(s.target, s.value, self.annotation(s.annotation))
        elif isinstance(s, ast.AugAssign):
            self.aug_assign(s)
        elif isinstance(s, ast.If):
            self.if_stmt(s)
        elif isinstance(s, ast.While):
            self.while_stmt(s)
        elif isinstance(s, ast.For):
            self.for_stmt(s)
        elif isinstance(s, ast.Return):
            self.return_stmt(s)
        elif isinstance(s, ast.Pass):
            pass
        elif isinstance(s, ast.Global):
            for n in s.names:
                c = self.st.configs.get(n)
                if c is None or not c.writable:
                    raise self.err(s, f"{n} is not a Global of this module",
                                   f"declare it: {n} = Global(u64, 0); a Config is read-only")
                self.global_names.add(n)
        elif isinstance(s, ast.Break | ast.Continue):
            if not self.loops:
                raise self.err(s, f"{type(s).__name__.lower()} outside a loop")
            cont, brk = self.loops[-1]
            self.b.branch(brk if isinstance(s, ast.Break) else cont)
        else:
            hint = _UNSUPPORTED_STMT.get(type(s), "see the grammar in pybpf.frontend.python")
            raise self.err(s, f"{type(s).__name__} statements are not in the BPF subset", hint)

    def annotation(self, node: ast.expr) -> Ty:
        if isinstance(node, ast.Name) and node.id in ("int", "bool") and \
                node.id not in self.st.namespace:
            return I64 if node.id == "int" else BOOL  # Python's own: int is i64 here
        v = self.expr(node)
        if v.kind != "type":
            raise self.err(node, "an annotation must be a type (u8..u64, i8..i64, a struct)")
        return self.ctype(v.ref, node)

    def ctype(self, ct: object, node: ast.AST) -> Ty:
        try:
            return from_ctype(ct)
        except TypeMapError as e:
            raise self.err(node, str(e)) from None

    def assign(self, target: ast.expr, value: ast.expr, declared: Ty | None) -> None:
        if isinstance(target, ast.Name) and target.id in self.global_names:
            self.store_to(self.lvalue(target), self.expr(value), value)
        elif isinstance(target, ast.Name):
            name = target.id
            if name == getattr(self, "ctx_name", None):
                raise self.err(target, f"{name} is the program's context", "use another name")
            val = self.expr(value)
            if name in self.locals:
                slot, ty = self.locals[name]
                if declared is not None and declared != ty:
                    raise self.err(target, f"{name} is already a {ty}")
                self.store_to(LVal(slot, ty, align=ty.align), val, value)
                return
            ty = declared or self.infer(val, value)
            if isinstance(ty, StructTy | ArrayTy) and val.fresh and val.ty == ty:
                self.locals[name] = (val.v, ty)  # the temporary becomes the variable
                return
            slot = self.alloca(ty, name, zero=True)
            self.locals[name] = (slot, ty)
            self.store_to(LVal(slot, ty, align=ty.align if not isinstance(ty, StructTy) else 8),
                          val, value)
        elif isinstance(target, ast.Attribute | ast.Subscript):
            lv = self.lvalue(target)
            self.store_to(lv, self.expr(value), value)
        elif isinstance(target, ast.Tuple | ast.List):
            raise self.err(target, "unpacking assignment", "assign one name per line")
        else:
            raise self.err(target, "cannot assign to this expression")

    def infer(self, val: Val, node: ast.AST) -> Ty:
        if val.kind:
            raise self.err(node, f"a {val.kind} cannot be stored in a variable",
                           "use the name itself where it is needed")
        if val.ty is None:
            return I64 if -(1 << 63) <= (val.const or 0) < (1 << 63) else U64
        if isinstance(val.ty, IntTy):
            return val.ty.host
        return val.ty

    def aug_assign(self, s: ast.AugAssign) -> None:
        if isinstance(s.target, ast.Name) and s.target.id in self.global_names:
            lv = self.lvalue(s.target)
        elif isinstance(s.target, ast.Name):
            if s.target.id not in self.locals:
                c = self.st.configs.get(s.target.id)
                hint = f"say `global {s.target.id}` first" if c is not None and c.writable \
                    else "assign it first"
                raise self.err(s.target, f"{s.target.id} is not a local variable", hint)
            slot, ty = self.locals[s.target.id]
            lv = LVal(slot, ty, align=ty.align)
        else:
            lv = self.lvalue(s.target)
        cur = self.load(lv)
        res = self.binop(s.op, cur, self.expr(s.value), s)
        self.store_to(lv, res, s)

    def if_stmt(self, s: ast.If) -> None:
        then = self.fresh_block("if.then")
        other = self.fresh_block("if.else") if s.orelse else None
        after = self.fresh_block("if.end")
        self.cond_branch(s.test, then, other or after)
        self.b.position_at_end(then)
        self.block(s.body)
        if not self.terminated():
            self.b.branch(after)
        if other is not None:
            self.b.position_at_end(other)
            self.block(s.orelse)
            if not self.terminated():
                self.b.branch(after)
        self.b.position_at_end(after)

    def while_stmt(self, s: ast.While) -> None:
        if s.orelse:
            raise self.err(s, "while ... else", "test after the loop instead")
        head, body, after = (self.fresh_block(n) for n in ("while.cond", "while.body",
                                                           "while.end"))
        self.b.branch(head)
        self.b.position_at_end(head)
        self.cond_branch(s.test, body, after)
        self.b.position_at_end(body)
        self.loops.append((head, after))
        self.block(s.body)
        self.loops.pop()
        if not self.terminated():
            self.b.branch(head)
        self.b.position_at_end(after)

    def for_stmt(self, s: ast.For) -> None:
        hint = "write for i in range(N) with N a constant"
        if s.orelse:
            raise self.err(s, "for ... else", "test after the loop instead")
        if not (isinstance(s.iter, ast.Call) and isinstance(s.iter.func, ast.Name)
                and s.iter.func.id == "range" and not s.iter.keywords
                and 1 <= len(s.iter.args) <= 3):
            raise self.err(s.iter, "a for loop goes over range() only", hint)
        if not isinstance(s.target, ast.Name):
            raise self.err(s.target, "the loop variable must be a name")
        bounds = [self.expr(a) for a in s.iter.args]
        for a, v in zip(s.iter.args, bounds, strict=True):
            if v.const is None:
                raise self.err(a, "range() bounds must be constants (the verifier needs a "
                                  "bounded loop)", hint)
        consts = [v.const or 0 for v in bounds]
        start, stop, step = (0, consts[0], 1) if len(consts) == 1 else \
            (consts[0], consts[1], consts[2] if len(consts) == 3 else 1)
        if step == 0:
            raise self.err(s.iter, "range() step must not be zero")
        name = s.target.id
        if name not in self.locals:
            # unsigned when it never goes below zero, so i % 2 and i // 2 compile
            ity = U32 if step > 0 and start >= 0 and stop + step < (1 << 32) else I64
            self.locals[name] = (self.alloca(ity, name), ity)
        slot, ty = self.locals[name]
        lv = LVal(slot, ty, align=ty.align)
        self.store_to(lv, Val(None, const=start), s)
        head, body, step_bb, after = (self.fresh_block(n) for n in (
            "for.cond", "for.body", "for.step", "for.end"))
        self.b.branch(head)
        self.b.position_at_end(head)
        cur = self.load(lv)
        cmp = ast.Lt() if step > 0 else ast.Gt()
        self.b.cbranch(self.compare(cmp, cur, Val(None, const=stop), s), body, after)
        self.b.position_at_end(body)
        self.loops.append((step_bb, after))
        self.block(s.body)
        self.loops.pop()
        if not self.terminated():
            self.b.branch(step_bb)
        self.b.position_at_end(step_bb)
        self.store_to(lv, self.binop(ast.Add(), self.load(lv), Val(None, const=step), s), s)
        self.b.branch(head)
        self.b.position_at_end(after)

    def return_stmt(self, s: ast.Return) -> None:
        ret = self.info.ret
        if s.value is None:
            if not isinstance(ret, type(VOID)):
                raise self.err(s, f"{self.info.name} must return a value", "return an int")
            self.b.ret_void()
            return
        if isinstance(ret, type(VOID)):
            raise self.err(s, f"{self.info.name} is declared to return None")
        assert isinstance(ret, IntTy | BoolTy)
        self.b.ret(self.to_int(self.expr(s.value), ret if isinstance(ret, IntTy) else I32,
                               s.value) if isinstance(ret, IntTy) else
                   self.truth(self.expr(s.value), s.value))

    # ---- conditions ----
    def cond_branch(self, node: ast.expr, yes: ir.Block, no: ir.Block) -> None:
        if isinstance(node, ast.BoolOp):
            for i, v in enumerate(node.values):
                if i == len(node.values) - 1:
                    self.cond_branch(v, yes, no)
                else:
                    nxt = self.fresh_block("cond")
                    if isinstance(node.op, ast.And):
                        self.cond_branch(v, nxt, no)
                    else:
                        self.cond_branch(v, yes, nxt)
                    self.b.position_at_end(nxt)
            return
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            self.cond_branch(node.operand, no, yes)
            return
        self.at(node)
        val = self.expr(node)
        if val.const is not None and val.ty is None:
            self.b.branch(yes if val.const else no)
            return
        self.b.cbranch(self.truth(val, node), yes, no)

    def truth(self, val: Val, node: ast.AST) -> ir.Value:
        if val.ty is None and val.const is not None:
            return I1(1 if val.const else 0)
        if val.kind == "none":
            return I1(0)
        if isinstance(val.ty, BoolTy):
            return val.v
        if isinstance(val.ty, IntTy):
            return self.b.icmp_unsigned("!=", val.v, val.ty.llvm()(0))
        if isinstance(val.ty, PtrTy):
            return self.b.icmp_unsigned("!=", val.v, ir.Constant(PTR, None))
        raise self.err(node, f"{val.what()} has no truth value")

    # ---- expressions ----
    def expr(self, node: ast.expr) -> Val:
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.Attribute):
            return self.attribute(node)
        if isinstance(node, ast.Subscript):
            return self.load(self.lvalue(node))
        if isinstance(node, ast.BinOp):
            return self.binop(node.op, self.expr(node.left), self.expr(node.right), node)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.Compare):
            return self.compare_chain(node)
        if isinstance(node, ast.BoolOp):
            return self.bool_value(node)
        if isinstance(node, ast.IfExp):
            return self.if_exp(node)
        if isinstance(node, ast.Call):
            saved = self.b.debug_metadata
            self.at(node)
            try:
                return self.call(node)
            finally:
                self.b.debug_metadata = saved
        hint = _UNSUPPORTED_EXPR.get(type(node), "see the grammar in pybpf.frontend.python")
        raise self.err(node, f"{type(node).__name__} expressions are not in the BPF subset",
                       hint)

    def constant(self, node: ast.Constant) -> Val:
        v = node.value
        if v is None:
            return Val(None, kind="none")
        if isinstance(v, bool):
            return Val(BOOL, I1(int(v)))
        if isinstance(v, int):
            if not -(1 << 63) <= v < (1 << 64):
                raise self.err(node, f"{v} does not fit in 64 bits")
            return Val(None, const=v)
        if isinstance(v, str):
            return Val(None, kind="str", ref=v)
        if isinstance(v, float):
            raise self.err(node, "BPF has no floating point", "use integers (e.g. in "
                                                               "thousandths)")
        raise self.err(node, f"a {type(v).__name__} constant is not in the BPF subset")

    def name(self, node: ast.Name) -> Val:
        n = node.id
        if n in self.locals:
            slot, ty = self.locals[n]
            return self.load(LVal(slot, ty, align=ty.align))
        if self.ctx is not None and n == self.ctx_name:
            return Val(None, self.ctx, kind="ctx", ref=self.info.ctx)
        if n in self.info.maps:
            n = self.info.maps[n]
        if n in self.st.maps:
            return Val(None, self.st.maps[n].gv, kind="map", ref=self.st.maps[n])
        if n in self.st.configs:
            c = self.st.configs[n]
            return Val(c.ty, self.b.load(c.gv, typ=c.ty.llvm(), align=c.ty.size))
        if n in ("True", "False"):
            return Val(BOOL, I1(n == "True"))
        if n not in self.st.namespace:
            if n.startswith("bpf_") or n in BUILTINS:
                return Val(None, kind="builtin", ref=n)
            raise self.err(node, f"name {n!r} is not defined",
                           "assign it first, or define it at module level")
        v = self.st.namespace[n]
        const = self.st.constant(n)
        if const is not None:
            return Val(None, const=const)
        if isinstance(v, type) and issubclass(v, C._SimpleCData | C.Structure | C.Array |
                                                 C.BigEndianStructure):
            return Val(None, kind="type", ref=v)
        if isinstance(v, Subprogram) or (callable(v) and n in self.st.defs):
            return Val(None, kind="func", ref=n)
        if isinstance(v, Program):
            return Val(None, kind="program", ref=n)
        if callable(v) and (n.startswith("bpf_") or n in BUILTINS):
            return Val(None, kind="builtin", ref=n)
        if isinstance(v, MapDecl | Config):
            raise self.err(node, f"{n} is not a module-level binding the compiler saw")
        raise self.err(node, f"{n} is a {type(v).__name__}, which a BPF program cannot use",
                       "use ints, maps, Config values, ctypes types and functions")

    def attribute(self, node: ast.Attribute) -> Val:
        base = node.value
        if isinstance(base, ast.Name) and base.id not in self.locals and \
                base.id in self.st.namespace and not (self.ctx is not None and
                                                      base.id == self.ctx_name):
            obj = self.st.namespace[base.id]
            attr = getattr(obj, node.attr, None)
            if isinstance(attr, bool | int):  # an IntEnum member, a constant of a module
                return Val(None, const=int(attr))
            if isinstance(attr, type) and issubclass(attr, C._SimpleCData | C.Structure):
                return Val(None, kind="type", ref=attr)
            if self.map_named(base) is None:
                raise self.err(node, f"{base.id}.{node.attr} is no integer constant or type")
        return self.load(self.lvalue(node))

    # ---- places ----
    def lvalue(self, node: ast.expr) -> LVal:
        if isinstance(node, ast.Name):
            c = self.st.configs.get(node.id)
            if node.id not in self.locals and c is not None and c.writable:
                return LVal(c.gv, c.ty, align=c.ty.size)
            if node.id in self.locals:
                slot, ty = self.locals[node.id]
                return LVal(slot, ty, align=ty.align)
            raise self.err(node, f"{node.id} is not a local variable")
        if isinstance(node, ast.Attribute):
            base = self.expr(node.value)
            if base.kind == "ctx":
                st = self.info.ctx
                assert st is not None
                return self.field(LVal(base.v, st, align=8), node.attr, node)
            if isinstance(base.ty, PtrTy) and isinstance(base.ty.target, StructTy):
                return self.field(LVal(base.v, base.ty.target, align=base.ty.target.align),
                                  node.attr, node)
            if isinstance(base.ty, StructTy):
                return self.field(LVal(base.v, base.ty, align=8), node.attr, node)
            raise self.err(node, f"{base.what()} has no field {node.attr!r}")
        if isinstance(node, ast.Subscript):
            base = self.expr(node.value)
            index = self.expr(node.slice)
            if isinstance(base.ty, PtrTy):
                if index.const != 0 or index.ty is not None:
                    raise self.err(node.slice, "a pointer is read as p[0] only",
                                   "index arrays, not pointers")
                t = base.ty.target
                return LVal(base.v, t, align=t.align)
            if isinstance(base.ty, ArrayTy):
                elem = base.ty.elem
                if index.const is not None and index.ty is None:
                    if not 0 <= index.const < base.ty.count:
                        raise self.err(node.slice, f"index {index.const} is out of "
                                                   f"0..{base.ty.count - 1}")
                    off: ir.Value = I64T(index.const * elem.size)
                else:
                    i = self.to_int(index, U64, node.slice)
                    off = self.b.mul(i, I64T(elem.size))
                return LVal(self.gep(base.v, [off], source_etype=I8T), elem,
                            align=min(elem.align, 1 if index.ty else elem.align))
            raise self.err(node, f"{base.what()} cannot be indexed")
        raise self.err(node, "this expression is not a place to store to")

    def field(self, base: LVal, name: str, node: ast.AST) -> LVal:
        st = base.ty
        assert isinstance(st, StructTy)
        f = st.fields.get(name)
        if f is None or name.startswith("_pad"):
            known = ", ".join(n for n in st.fields if not n.startswith("_"))
            raise self.err(node, f"{st.name} has no field {name!r}", f"fields: {known}")
        ptr = self.gep(base.ptr, [I64T(f.offset)], source_etype=I8T) if f.offset else base.ptr
        align = f.ty.align
        while align > 1 and (f.offset % align or st.align < align):
            align //= 2
        return LVal(ptr, f.ty, f if f.bit_size else None, align=max(align, 1))

    def load(self, lv: LVal) -> Val:
        t = lv.ty
        if isinstance(t, StructTy | ArrayTy):
            return Val(t, lv.ptr)
        if isinstance(t, PtrTy):
            return Val(t, self.b.load(lv.ptr, typ=PTR, align=8))
        if isinstance(t, BoolTy):
            return Val(BOOL, self.b.load(lv.ptr, typ=I1, align=1))
        assert isinstance(t, IntTy)
        v = self.b.load(lv.ptr, typ=t.llvm(), align=lv.align)
        if t.be:
            v = self.bswap(v)
        if lv.field is not None:
            f = lv.field
            if f.bit_offset:
                v = self.b.lshr(v, t.llvm()(f.bit_offset))
            v = self.b.and_(v, t.llvm()((1 << f.bit_size) - 1))
        return Val(t.host, v)

    def store_to(self, lv: LVal, val: Val, node: ast.AST) -> None:
        t = lv.ty
        if isinstance(t, StructTy | ArrayTy):
            if val.ty != t:
                raise self.err(node, f"{val.what()} cannot be stored in a "
                                     f"{t}")
            if val.v is not lv.ptr:
                self.memcpy(lv.ptr, val.v, t.size)
            return
        if isinstance(t, PtrTy):
            if val.kind == "none":
                self.b.store(ir.Constant(PTR, None), lv.ptr, align=8)
                return
            if not isinstance(val.ty, PtrTy) or val.ty.target != t.target:
                raise self.err(node, f"{val.what()} cannot be stored in a {t}")
            self.b.store(val.v, lv.ptr, align=8)
            return
        if isinstance(t, BoolTy):
            self.b.store(self.truth(val, node), lv.ptr, align=1)
            return
        assert isinstance(t, IntTy)
        v = self.to_int(val, t.host, node)
        if lv.field is not None:
            f = lv.field
            mask = ((1 << f.bit_size) - 1) << f.bit_offset
            old = self.b.load(lv.ptr, typ=t.llvm(), align=lv.align)
            if t.be:
                old = self.bswap(old)
            v = self.b.and_(self.b.shl(v, t.llvm()(f.bit_offset)), t.llvm()(mask))
            v = self.b.or_(self.b.and_(old, t.llvm()(~mask & ((1 << t.bits) - 1))), v)
        if t.be:
            v = self.bswap(v)
        self.b.store(v, lv.ptr, align=lv.align)

    def bswap(self, v: ir.Value) -> ir.Value:
        bits = v.type.width
        if bits == 8:
            return v
        fn = self.st.module.globals.get(f"llvm.bswap.i{bits}")
        if fn is None:
            fn = ir.Function(self.st.module, ir.FunctionType(v.type, [v.type]),
                             f"llvm.bswap.i{bits}")
        return self.b.call(fn, [v])

    def memcpy(self, dst: ir.Value, src: ir.Value, n: int) -> None:
        fn = self.st.module.globals.get("llvm.memcpy.p0.p0.i64")
        if fn is None:
            fn = ir.Function(self.st.module, ir.FunctionType(ir.VoidType(),
                                                             [PTR, PTR, I64T, I1]),
                             "llvm.memcpy.p0.p0.i64")
        self.b.call(fn, [dst, src, I64T(n), I1(0)])

    def memzero(self, dst: ir.Value, n: int) -> None:
        fn = self.st.module.globals.get("llvm.memset.p0.i64")
        if fn is None:
            fn = ir.Function(self.st.module, ir.FunctionType(ir.VoidType(),
                                                             [PTR, I8T, I64T, I1]),
                             "llvm.memset.p0.i64")
        self.b.call(fn, [dst, I8T(0), I64T(n), I1(0)])











    # ---- calls ----
    def call(self, node: ast.Call) -> Val:
        from .calls import lower_call
        return lower_call(self, node)

    def helper(self, name: str, args: list[ir.Value], ret: ir.Type) -> ir.Value:
        """A call to helper `name` with LLVM values already converted."""
        p = proto(name)
        fnty = ir.FunctionType(ret, [a.type for a in args])
        return self.b.call(_Callee(p.id, fnty), args)


def _always_returns(stmts: list[ast.stmt]) -> bool:
    """Whether every path through `stmts` ends in a return."""
    for s in stmts:
        if isinstance(s, ast.Return):
            return True
        if isinstance(s, ast.If) and s.orelse and _always_returns(s.body) and \
                _always_returns(s.orelse):
            return True
        if isinstance(s, ast.While) and isinstance(s.test, ast.Constant) and s.test.value and \
                not any(isinstance(n, ast.Break) for n in ast.walk(s)):
            return True
    return False


__all__ = ["FunctionLowering"]
