"""Calls in a program body: helpers by name (typed from pybpf.helper_protos), map
methods, packet header views with their bounds checks, the builtins (print,
atomic_add, load_byte, sizeof), integer casts, struct constructors and sub-functions."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from llvmlite import ir

from ...helper_protos import Arg, ArgType, HelperProtoError, proto
from ...uapi import MapType
from .errors import CompileError
from .module import FuncInfo, MapInfo, ModuleState
from .types import (
    BOOL,
    I32,
    I64,
    U32,
    U64,
    VOID,
    ArrayTy,
    IntTy,
    PtrTy,
    StructTy,
    Ty,
)
from .values import LVal, Val

if TYPE_CHECKING:
    from .lower import FunctionLowering

I1, I8T, I32T, I64T = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
PTR = ir.PointerType()
_RET_TYPES = {"long": I64, "s64": I64, "u64": U64, "u32": U32, "int": I32}
_PACKET_CTX = {"XdpMd", "SkBuff"}


def lower_call(fl: FunctionLowering, node: ast.Call) -> Val:
    f = node.func
    if isinstance(f, ast.Attribute):
        base_node = f.value
        m = fl.map_named(base_node)
        if m is not None:
            return map_method(fl, m, f.attr, node)
        base = fl.expr(base_node)
        if base.kind == "ctx":
            return ctx_method(fl, base, f.attr, node)
        raise fl.err(node, f"{ast.unparse(f)}() is not a call the compiler knows",
                     "call helpers by name (bpf_...), map methods or module functions")
    if not isinstance(f, ast.Name):
        raise fl.err(node, "only named functions can be called")
    callee = fl.expr(f)
    if callee.kind == "builtin":
        return builtin(fl, callee.ref, node)
    if callee.kind == "type":
        return construct(fl, callee.ref, node)
    if callee.kind == "func":
        return call_function(fl, callee.ref, node)
    if callee.kind == "program":
        raise fl.err(node, f"{callee.ref} is a program and cannot be called",
                     "jump to it with a tail call through a ProgArray")
    raise fl.err(node, f"{f.id} is not callable in a BPF program")


def _no_kwargs(fl: FunctionLowering, node: ast.Call, allowed: tuple[str, ...] = ()) -> None:
    for kw in node.keywords:
        if kw.arg not in allowed:
            raise fl.err(kw, f"unexpected keyword argument {kw.arg!r}",
                         f"pass {', '.join(allowed)} only" if allowed else
                         "pass the arguments by position")


def _nargs(fl: FunctionLowering, node: ast.Call, lo: int, hi: int | None = None) -> None:
    hi = lo if hi is None else hi
    if not lo <= len(node.args) <= hi:
        want = str(lo) if lo == hi else f"{lo} to {hi}"
        raise fl.err(node, f"{ast.unparse(node.func)}() takes {want} arguments, "
                           f"not {len(node.args)}")


# ---- builtins ----
def builtin(fl: FunctionLowering, name: str, node: ast.Call) -> Val:
    if name == "print":
        return printk(fl, node)
    if name == "sizeof":
        _nargs(fl, node, 1)
        _no_kwargs(fl, node)
        arg = fl.expr(node.args[0])
        if arg.kind == "type":
            return Val(None, const=fl.ctype(arg.ref, node).size)
        if arg.ty is not None and not arg.kind:
            return Val(None, const=arg.ty.size)
        raise fl.err(node, "sizeof() takes a type or a variable")
    if name == "atomic_add":
        _nargs(fl, node, 2)
        _no_kwargs(fl, node)
        lv = fl.lvalue(node.args[0])
        if not isinstance(lv.ty, IntTy) or lv.ty.bits not in (32, 64) or lv.field or lv.ty.be:
            raise fl.err(node.args[0], "atomic_add() needs a u32/u64 field or element",
                         "atomics work on 32- and 64-bit integers in map values")
        v = fl.to_int(fl.expr(node.args[1]), lv.ty, node.args[1])
        old = fl.b.atomic_rmw("add", lv.ptr, v, "seq_cst")
        return Val(lv.ty, old)
    if name in ("load_byte", "load_half", "load_word"):
        _nargs(fl, node, 2)
        _no_kwargs(fl, node)
        ctx = fl.expr(node.args[0])
        if ctx.kind != "ctx":
            raise fl.err(node.args[0], f"{name}() reads the packet of the context",
                         f"write {name}(ctx, offset)")
        off = fl.to_int(fl.expr(node.args[1]), I64, node.args[1])
        iname = {"load_byte": "llvm.bpf.load.byte", "load_half": "llvm.bpf.load.half",
                 "load_word": "llvm.bpf.load.word"}[name]
        fn = fl.st.module.globals.get(iname)
        if fn is None:
            fn = ir.Function(fl.st.module, ir.FunctionType(I64T, [PTR, I64T]), iname)
        return Val(U64, fl.b.call(fn, [ctx.v, off]))
    if name in ("htons", "ntohs", "htonl", "ntohl"):
        _nargs(fl, node, 1)
        _no_kwargs(fl, node)
        t = U32 if name.endswith("l") else IntTy(16, False)
        v = fl.expr(node.args[0])
        if v.ty is None and v.const is not None:
            c = (v.const & ((1 << t.bits) - 1)).to_bytes(t.size, "big")
            return Val(None, const=int.from_bytes(c, "little"))
        return Val(t, fl.bswap(fl.to_int(v, t, node.args[0])))
    if name == "range":
        raise fl.err(node, "range() is for `for` loops only")
    return helper_call(fl, name, node)


def printk(fl: FunctionLowering, node: ast.Call) -> Val:
    """print(...) as bpf_trace_printk: strings and integers, at most three integers."""
    _no_kwargs(fl, node, ("end", "sep"))
    kws = {kw.arg: kw.value for kw in node.keywords}
    seps = []
    for k in ("sep", "end"):
        v = kws.get(k)
        if v is not None and not (isinstance(v, ast.Constant) and isinstance(v.value, str)):
            raise fl.err(v, f"print({k}=...) must be a string literal")
        seps.append(str(v.value) if isinstance(v, ast.Constant) else
                    (" " if k == "sep" else "\n"))
    parts: list[str] = []
    values: list[ir.Value] = []

    def add_value(e: ast.expr, spec: str) -> None:
        v = fl.expr(e)
        if v.kind == "str":
            parts.append(str(v.ref).replace("%", "%%"))
            return
        t = fl.int_operand(v, e)
        conv = {"x": "llx", "X": "llX", "": "lld" if t.signed else "llu", "d": "lld",
                "u": "llu"}.get(spec)
        if conv is None:
            raise fl.err(e, f"format spec {spec!r} is not supported", "use x, d or u")
        parts.append("%" + conv)
        values.append(fl.to_int(v, I64 if t.signed else U64, e))

    pieces: list[str] = []
    for a in node.args:
        start = len(parts)
        if isinstance(a, ast.JoinedStr):
            for v in a.values:
                if isinstance(v, ast.Constant):
                    parts.append(str(v.value).replace("%", "%%"))
                elif isinstance(v, ast.FormattedValue):
                    spec = ""
                    if isinstance(v.format_spec, ast.JoinedStr):
                        spec = "".join(str(c.value) for c in v.format_spec.values
                                       if isinstance(c, ast.Constant))
                    add_value(v.value, spec)
        else:
            add_value(a, "")
        pieces.append("".join(parts[start:]))
    if len(values) > 3:
        raise fl.err(node, f"print() with {len(values)} numbers: bpf_trace_printk takes "
                           "three", "print in several calls")
    fmt = (seps[0].join(pieces) + seps[1]).encode()
    gv = fl.st.string(fmt)
    args = [fl.gep(gv, [I64T(0)], source_etype=I8T), I32T(len(fmt) + 1), *values]
    return Val(I64, fl.helper("trace_printk", args, I64T))


# ---- casts and constructors ----
def construct(fl: FunctionLowering, ct: object, node: ast.Call) -> Val:
    t = fl.ctype(ct, node)
    if isinstance(t, IntTy):
        _nargs(fl, node, 1)
        _no_kwargs(fl, node)
        v = fl.expr(node.args[0])
        host = t.host
        if v.ty is None and v.const is not None:
            return Val(host, host.llvm()(v.const & ((1 << host.bits) - 1)))
        return Val(host, fl.to_int(v, host, node.args[0]))
    if isinstance(t, StructTy):
        slot = fl.alloca(t, t.name.lower())
        fl.memzero(slot, t.size)  # padding too: the verifier wants map keys initialised
        names = [n for n in t.fields if not n.startswith("_pad")]
        if len(node.args) > len(names):
            raise fl.err(node, f"{t.name} has {len(names)} fields")
        given = list(zip(names, node.args, strict=False)) + \
            [(kw.arg, kw.value) for kw in node.keywords]
        base = LVal(slot, t, align=8)
        for fname, e in given:
            if fname is None:
                raise fl.err(e, "**kwargs are not in the BPF subset")
            lv = fl.field(base, fname, e)
            fl.store_to(lv, fl.expr(e), e)
        return Val(t, slot, fresh=True)
    raise fl.err(node, f"{getattr(ct, '__name__', ct)} cannot be constructed here",
                 "declare a struct variable: k = Key(a=1)")


# ---- sub-functions ----
def call_function(fl: FunctionLowering, name: str, node: ast.Call) -> Val:
    _no_kwargs(fl, node)
    d = fl.st.defs.get(name)
    if d is None:
        raise fl.err(node, f"{name} is not a function defined in this module",
                     "sub-functions must be module-level defs in the same file")
    _check_signature(fl.st, d)
    if len(node.args) != len(d.args.args):
        raise fl.err(node, f"{name}() takes {len(d.args.args)} arguments, "
                           f"not {len(node.args)}")
    bound = {}
    for a, p in zip(node.args, d.args.args, strict=True):
        if _is_map_annotation(fl.st, p.annotation):
            m = fl.map_named(a)
            if m is None:
                raise fl.err(a, f"parameter {p.arg} of {name} is a map", "pass a map's name")
            bound[p.arg] = m.name
    info = declare_function(fl.st, name, node, bound)
    fl.st.calls.setdefault(fl.info.name, []).append((info.name, node))
    args: list[ir.Value] = []
    for a, p in zip(node.args, d.args.args, strict=True):
        if p.arg in bound:
            continue
        t = info.params[len(args)]
        v = fl.expr(a)
        if isinstance(t, PtrTy) and t.kind == "ctx":
            if v.kind != "ctx" or fl.info.ctx is not t.target:
                raise fl.err(a, f"{name}() takes the program's context ({t.target}) here",
                             f"pass {getattr(fl, 'ctx_name', 'ctx')}")
            args.append(v.v)
        elif isinstance(t, PtrTy):
            if not isinstance(v.ty, PtrTy) or v.ty.target != t.target:
                raise fl.err(a, f"{name}() wants a {t} here, not {v.what()}")
            args.append(v.v)
        elif isinstance(t, IntTy):
            args.append(fl.to_int(v, t, a))
        else:
            args.append(fl.truth(v, a))
    r = fl.b.call(info.fn, args)
    return Val(None, kind="none") if info.ret is VOID else Val(info.ret, r)


def _is_map_annotation(st: ModuleState, node: ast.expr | None) -> bool:
    from . import lang
    if node is None:
        return False
    try:
        obj = eval(compile(ast.Expression(node), st.path, "eval"), dict(st.namespace))
    except Exception:  # noqa: BLE001 - the user's annotation: not a map if it fails
        return False
    return obj is lang.MapDecl or obj in (lang.HashMap, lang.ArrayMap, lang.PerCPUHash,
                                          lang.PerCPUArray, lang.LRUHash, lang.LRUPerCPUHash,
                                          lang.LPMTrie, lang.RingBuf, lang.PerfEventArray,
                                          lang.ProgArray)


def declare_function(st: ModuleState, name: str, node: ast.AST,
                     bound: dict[str, str] | None = None) -> FuncInfo:
    """The FuncInfo of module function `name` (specialised for the maps `bound` to its
    map parameters), declared and queued for lowering on first use."""
    from .lang import Subprogram
    bound = bound or {}
    key = name + "".join(f"__{m}" for m in bound.values())
    if key in st.funcs:
        return st.funcs[key]
    d = st.defs[name]
    _check_signature(st, d)
    noinline = isinstance(st.namespace.get(name), Subprogram)
    if bound and noinline:
        raise st.err(d, f"{name} takes a map, so it cannot be a @noinline sub-program",
                     "drop @noinline: map parameters are bound when it is inlined")
    params: list[Ty] = []
    ctx_param: str | None = None
    ctx_type: StructTy | None = None
    for a in d.args.args:
        if a.arg in bound:
            continue
        if a.annotation is None:
            raise st.err(a, f"parameter {a.arg} of {name} has no type",
                         f"annotate it: {a.arg}: u32")
        pt = _annotation_type(st, a.annotation)
        if isinstance(pt, StructTy):  # the program's context, passed through
            if ctx_param is not None:
                raise st.err(a, f"{name} takes one context parameter at most")
            ctx_param, ctx_type = a.arg, pt
            pt = PtrTy(pt, "ctx")
        params.append(pt)
    ret: Ty = VOID
    if d.returns is not None and not (isinstance(d.returns, ast.Constant) and
                                      d.returns.value is None):
        ret = _annotation_type(st, d.returns)
        if not isinstance(ret, IntTy | type(BOOL)):
            raise st.err(d.returns, "a sub-function returns an integer, a bool or None")
    elif _returns_value(d):
        raise st.err(d, f"{name} returns a value but has no return annotation",
                     f"write def {name}(...) -> i64:")
    fnty = ir.FunctionType(ret.llvm(), [p.llvm() if not isinstance(p, PtrTy) else PTR
                                        for p in params])
    fn = ir.Function(st.module, fnty, key)
    fn.linkage = "internal"
    fn.attributes.add("noinline" if noinline else "alwaysinline")
    di = st.di
    scope = di.subprogram(key, d.lineno, di.type(ret), [di.type(p) for p in params], True)
    fn.set_metadata("dbg", scope)
    info = FuncInfo(key, d, fn, params, ret, scope=scope, maps=dict(bound), ctx=ctx_type,
                    ctx_param=ctx_param)
    st.funcs[key] = info
    st.pending.append(info)
    return info


def _annotation_type(st: ModuleState, node: ast.expr) -> Ty:
    from .types import TypeMapError, from_ctype
    text = ast.unparse(node)
    try:
        obj = eval(compile(ast.Expression(node), st.path, "eval"), dict(st.namespace))
    except Exception:  # noqa: BLE001 - the user's annotation, evaluated
        raise st.err(node, f"unknown type {text}") from None
    if obj is bool:
        return BOOL
    if obj is int:
        return I64
    try:
        return from_ctype(obj)
    except TypeMapError as e:
        raise st.err(node, str(e)) from None


def _check_signature(st: ModuleState, d: ast.FunctionDef) -> None:
    a = d.args
    if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs or a.defaults:
        raise st.err(d, f"{d.name}: *args, **kwargs, keyword-only and default arguments are "
                        "not in the BPF subset", "use plain positional parameters")
    if len(a.args) > 5:
        raise st.err(d, f"{d.name} has {len(a.args)} parameters; BPF passes five",
                     "pass a struct in a map, or fewer values")


def _returns_value(d: ast.FunctionDef) -> bool:
    return any(isinstance(n, ast.Return) and n.value is not None for n in ast.walk(d))


# ---- the context ----
def ctx_method(fl: FunctionLowering, ctx: Val, name: str, node: ast.Call) -> Val:
    st = fl.info.ctx
    assert st is not None
    if name not in ("header", "has_bytes"):
        raise fl.err(node, f"the context has no method {name}()",
                     "ctx.header(T, offset) and ctx.has_bytes(n)")
    kind = fl.info.program.kind if fl.info.program else ""
    if st.name not in _PACKET_CTX or kind == "socket_filter":
        raise fl.err(node, f"a {kind or st.name} context has no direct packet access",
                     "socket filters read with load_byte/half/word(ctx, offset)")
    _no_kwargs(fl, node)
    data_lv, end_lv = fl.field(LVal(ctx.v, st, align=8), "data", node), \
        fl.field(LVal(ctx.v, st, align=8), "data_end", node)
    data = fl.b.inttoptr(fl.b.zext(fl.load_volatile(data_lv.ptr, I32T, 4), I64T), PTR)
    fl.assume(fl.b.icmp_unsigned("!=", data, ir.Constant(PTR, None)))
    data_end = fl.b.inttoptr(fl.b.zext(fl.load_volatile(end_lv.ptr, I32T, 4), I64T), PTR)
    if name == "has_bytes":
        _nargs(fl, node, 1)
        n = fl.to_int(fl.expr(node.args[0]), U64, node.args[0])
        end = fl.gep(data, [n], source_etype=I8T)
        return Val(BOOL, fl.b.icmp_unsigned("<=", end, data_end))
    _nargs(fl, node, 1, 2)
    tv = fl.expr(node.args[0])
    if tv.kind != "type":
        raise fl.err(node.args[0], "ctx.header() takes a header type first",
                     "ctx.header(EthHdr, 0)")
    t = fl.ctype(tv.ref, node.args[0])
    off = fl.expr(node.args[1]) if len(node.args) > 1 else Val(None, const=0)
    p = data if off.const == 0 and off.ty is None else \
        fl.gep(data, [fl.to_int(off, U64, node.args[1])], source_etype=I8T)
    end = fl.gep(p, [I64T(t.size)], source_etype=I8T)
    ok = fl.b.icmp_unsigned("<=", end, data_end)
    view = fl.b.select(ok, p, ir.Constant(PTR, None))
    return Val(PtrTy(t, "packet", nullable=True), view)


# ---- maps ----
def address_of(fl: FunctionLowering, node: ast.expr, want: Ty, what: str) -> ir.Value:
    """A pointer to `node`'s value as a `want`: the variable or field itself when it has
    that type, else a stack copy."""
    lv = None
    if isinstance(node, ast.Name | ast.Attribute | ast.Subscript) and \
            not (isinstance(node, ast.Name) and node.id not in fl.locals):
        try:
            lv = fl.lvalue(node)
        except CompileError:
            lv = None  # not a place (a pointer's field chain that is a value): a value
        if lv is not None and lv.ty == want and lv.field is None:
            return lv.ptr
    v = fl.load(lv) if lv is not None else fl.expr(node)  # evaluated once
    if isinstance(want, StructTy | ArrayTy):
        if v.ty != want:
            raise fl.err(node, f"the {what} is a {want}, not {v.what()}",
                         f"build one: {want}(...)")
        return v.v
    if isinstance(v.ty, PtrTy) and v.ty.target == want:
        return v.v
    if not isinstance(want, IntTy):
        raise fl.err(node, f"cannot pass {v.what()} as the {what}")
    slot = fl.alloca(want, what)
    fl.store_to(LVal(slot, want, align=want.align), v, node)
    return slot


def map_method(fl: FunctionLowering, m: MapInfo, name: str, node: ast.Call) -> Val:
    t = m.decl.type
    key, value = m.key, m.value
    if name in ("lookup", "update", "delete"):
        if key is None or value is None:
            raise fl.err(node, f"{m.name} is a {t.name} map: it has no {name}()")
        return _keyed_method(fl, m, key, value, name, node)
    return _stream_method(fl, m, name, node)


def _keyed_method(fl: FunctionLowering, m: MapInfo, key: Ty, value: Ty, name: str,
                  node: ast.Call) -> Val:
    """lookup, update and delete of a map with keys and values."""
    if name == "lookup":
        _nargs(fl, node, 1)
        _no_kwargs(fl, node)
        k = address_of(fl, node.args[0], key, "key")
        r = fl.helper("map_lookup_elem", [m.gv, k], PTR)
        return Val(PtrTy(value, "map_value", nullable=True), r)
    if name == "update":
        _nargs(fl, node, 2, 3)
        _no_kwargs(fl, node, ("flags",))
        k = address_of(fl, node.args[0], key, "key")
        v = address_of(fl, node.args[1], value, "value")
        fnode = node.args[2] if len(node.args) > 2 else \
            next((kw.value for kw in node.keywords if kw.arg == "flags"), None)
        flags = fl.to_int(fl.expr(fnode), U64, fnode) if fnode is not None else I64T(0)
        return Val(I64, fl.helper("map_update_elem", [m.gv, k, v, flags], I64T))
    if name == "delete":
        _nargs(fl, node, 1)
        _no_kwargs(fl, node)
        k = address_of(fl, node.args[0], key, "key")
        return Val(I64, fl.helper("map_delete_elem", [m.gv, k], I64T))
    raise AssertionError(name)


def _stream_method(fl: FunctionLowering, m: MapInfo, name: str, node: ast.Call) -> Val:
    """The methods of maps without keys: ring buffer and perf output, tail calls."""
    t = m.decl.type
    if name == "output" and t == MapType.RINGBUF:
        _nargs(fl, node, 1, 2)
        _no_kwargs(fl, node)
        data, size = _data(fl, node.args[0])
        flags = fl.to_int(fl.expr(node.args[1]), U64, node.args[1]) if len(node.args) > 1 \
            else I64T(0)
        return Val(I64, fl.helper("ringbuf_output", [m.gv, data, I64T(size), flags], I64T))
    if name == "reserve" and t == MapType.RINGBUF:
        _nargs(fl, node, 1)
        _no_kwargs(fl, node)
        tv = fl.expr(node.args[0])
        if tv.kind != "type":
            raise fl.err(node.args[0], "reserve() takes the record's type",
                         f"e = {m.name}.reserve(Event)")
        rt = fl.ctype(tv.ref, node.args[0])
        if isinstance(rt, StructTy):
            fl.st.records[rt.name] = rt
        r = fl.helper("ringbuf_reserve", [m.gv, I64T(rt.size), I64T(0)], PTR)
        return Val(PtrTy(rt, "ringbuf_mem", nullable=True), r)
    if name in ("submit", "discard") and t == MapType.RINGBUF:
        _nargs(fl, node, 1, 2)
        _no_kwargs(fl, node)
        rec = fl.expr(node.args[0])
        if not isinstance(rec.ty, PtrTy) or rec.ty.kind != "ringbuf_mem":
            raise fl.err(node.args[0], f"{name}() takes what reserve() gave",
                         f"{m.name}.{name}(e) after e = {m.name}.reserve(T)")
        flags = fl.to_int(fl.expr(node.args[1]), U64, node.args[1]) if len(node.args) > 1 \
            else I64T(0)
        fl.helper(f"ringbuf_{name}", [rec.v, flags], ir.VoidType())
        return Val(None, kind="none")
    if name == "output" and t == MapType.PERF_EVENT_ARRAY:
        _nargs(fl, node, 2)
        _no_kwargs(fl, node)
        ctx = fl.expr(node.args[0])
        if ctx.kind != "ctx":
            raise fl.err(node.args[0], "perf output takes the context first",
                         f"{m.name}.output(ctx, data)")
        data, size = _data(fl, node.args[1])
        return Val(I64, fl.helper("perf_event_output",
                                  [ctx.v, m.gv, I64T(0xFFFFFFFF), data, I64T(size)], I64T))
    if name == "tail_call" and t == MapType.PROG_ARRAY:
        _nargs(fl, node, 2)
        _no_kwargs(fl, node)
        ctx = fl.expr(node.args[0])
        if ctx.kind != "ctx":
            raise fl.err(node.args[0], "a tail call passes the context",
                         f"{m.name}.tail_call(ctx, index)")
        idx = fl.to_int(fl.expr(node.args[1]), U32, node.args[1])
        return Val(I64, fl.helper("tail_call", [ctx.v, m.gv, idx], I64T))
    methods = {MapType.RINGBUF: "output(data), reserve(T), submit(e), discard(e)",
               MapType.PERF_EVENT_ARRAY: "output(ctx, data)",
               MapType.PROG_ARRAY: "tail_call(ctx, index)"}.get(
                   t, "lookup(key), update(key, value[, flags]), delete(key)")
    raise fl.err(node, f"{m.name} ({t.name}) has no method {name}()", f"it has {methods}")


def _data(fl: FunctionLowering, node: ast.expr) -> tuple[ir.Value, int]:
    v = fl.expr(node)
    if isinstance(v.ty, StructTy | ArrayTy):
        if isinstance(v.ty, StructTy):
            fl.st.records[v.ty.name] = v.ty
        return v.v, v.ty.size
    if isinstance(v.ty, PtrTy) and not isinstance(v.ty.target, PtrTy):
        if isinstance(v.ty.target, StructTy):
            fl.st.records[v.ty.target.name] = v.ty.target
        return v.v, v.ty.target.size
    if isinstance(v.ty, IntTy) or v.const is not None:
        t = v.ty.host if isinstance(v.ty, IntTy) else U64
        return address_of(fl, node, t, "data"), t.size
    raise fl.err(node, f"cannot output {v.what()}")


# ---- helpers by name ----
def helper_call(fl: FunctionLowering, name: str, node: ast.Call) -> Val:
    short = name.removeprefix("bpf_")
    try:
        p = proto(short)
    except HelperProtoError:
        raise fl.err(node.func, f"{name} is no BPF helper",
                     "helpers are named as in the kernel: bpf_ktime_get_ns, ...") from None
    _no_kwargs(fl, node)
    if short == "map_lookup_elem" and node.args and \
            (lookup_map := fl.map_named(node.args[0])) is not None:
        _nargs(fl, node, 2)
        return map_method(fl, lookup_map, "lookup",
                          ast.Call(node.func, node.args[1:], [], lineno=node.lineno,
                                   col_offset=node.col_offset))
    extra = len(p.unchecked_decls) and p.unchecked_decls[0] == "..."
    if len(node.args) != p.nargs and not (extra and p.nargs <= len(node.args) <= p.nargs + 3):
        raise fl.err(node, f"{name}() takes {p.nargs} arguments, not {len(node.args)}",
                     f"{name}({', '.join(a.decl for a in p.args)})")
    args: list[ir.Value] = []
    for i, a in enumerate(node.args):
        spec = p.args[i] if i < p.nargs else None
        args.append(_helper_arg(fl, a, spec))
    ret_ty: Ty
    if p.ret_ctype == "void":
        ret_ty = VOID
    elif p.ret_ctype in _RET_TYPES:
        ret_ty = _RET_TYPES[p.ret_ctype]
    else:
        ret_ty = PtrTy(IntTy(8, False), "mem", nullable=p.ret.may_be_null)
    r = fl.helper(short, args, ret_ty.llvm() if not isinstance(ret_ty, PtrTy) else PTR)
    return Val(None, kind="none") if ret_ty is VOID else Val(ret_ty, r)


def _helper_arg(fl: FunctionLowering, node: ast.expr, spec: Arg | None) -> ir.Value:
    if spec is None or not spec.is_pointer:
        v = fl.expr(node)
        if isinstance(v.ty, PtrTy):
            return fl.b.ptrtoint(v.v, I64T)
        return fl.to_int(v, I64 if (v.ty is None or getattr(v.ty, "signed", False)) else U64,
                         node)
    if spec.type == ArgType.ARG_CONST_MAP_PTR:
        m = fl.map_named(node)
        if m is not None:
            return m.gv
        raise fl.err(node, "this argument is a map", "pass the map's name")
    if isinstance(node, ast.Name | ast.Attribute | ast.Subscript):
        v = fl.expr(node)
        if v.kind in ("ctx", "map"):
            return v.v
        if isinstance(v.ty, PtrTy):
            return v.v
        if v.kind == "none":
            return ir.Constant(PTR, None)
        lv = fl.lvalue(node)
        return lv.ptr
    v = fl.expr(node)
    if v.kind == "str":
        return fl.gep(fl.st.string(str(v.ref).encode()), [I64T(0)], source_etype=I8T)
    if v.kind == "none" or (v.ty is None and v.const == 0):
        return ir.Constant(PTR, None)
    if isinstance(v.ty, StructTy | ArrayTy | PtrTy):
        return v.v
    if isinstance(v.ty, IntTy):
        slot = fl.alloca(v.ty, "arg")
        fl.b.store(v.v, slot)
        return slot
    raise fl.err(node, f"cannot pass {v.what()} where a pointer is wanted")


__all__ = ["declare_function", "lower_call"]
