"""The compiler's entry points: a Python file, source text or module in, a BPF ELF
object (bytes) or an ObjectSpec out. LLVM comes from llvmlite: IR is optimised at
-O2 and emitted for bpfel (cpu v3) in-process; no clang, no llc, no libbpf."""

from __future__ import annotations

import ast
import functools
import os
import runpy
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from llvmlite import binding as llvm
from llvmlite import ir

from ...errors import PyBPFError
from ...spec import ObjectSpec
from .calls import declare_function
from .debuginfo import DebugInfo
from .errors import CompileError
from .lang import Program
from .lower import FunctionLowering
from .module import (
    DATALAYOUT,
    TRIPLE,
    FuncInfo,
    ModuleState,
    binding_lines,
    declare_globals,
    declare_record_types,
    fill_prog_arrays,
    function_defs,
)
from .refusal import explain
from .types import StructTy, TypeMapError, from_ctype, struct_type

if TYPE_CHECKING:
    from ...objects.instance import Object

_CTX_DEFAULTS = {"xdp": "XdpMd", "tc": "SkBuff", "socket_filter": "SkBuff",
                 "cgroup_skb": "SkBuff", "kprobe": "PtRegs", "uprobe": "PtRegs",
                 "raw_tp": "RawTpArgs"}


@dataclass
class CompiledObject:
    """The result of a compilation: the ELF object, the optimised IR, and the names of
    the programs in it."""

    elf: bytes
    ir: str
    programs: list[str]
    name: str

    def spec(self) -> ObjectSpec:
        from ...elf import load
        return load(self.elf, name=self.name)

    def instantiate(self, backend: str = "vm", **kw: Any) -> Object:
        """spec().instantiate(backend): a verifier refusal is raised as ProgramRefused,
        which names the Python line of the refused instruction."""
        spec = self.spec()
        try:
            return spec.instantiate(backend, **kw)
        except PyBPFError as e:
            refused = explain(spec, e) if getattr(e, "log", None) else None
            if refused is None:
                raise
            raise refused from e


@functools.lru_cache(maxsize=1)
def _target_machine() -> llvm.TargetMachine:
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    # LLVM's BPF back end ends the process (exit 1) on a stack over 512 bytes; the
    # compiler checks what it can (StackLimit) and leaves the rest to the verifier
    llvm.set_option("pybpf", "-bpf-stack-size=65536")
    target = llvm.Target.from_triple(TRIPLE)
    return target.create_target_machine(cpu="v3", features="", opt=2, reloc="static",
                                        codemodel="small")


def compile_file(path: str | os.PathLike[str]) -> CompiledObject:
    """Compile the programs of the Python file at `path` (the file is run as a module
    named `__pybpf_compile__`, so its `if __name__ == "__main__"` block does not run)."""
    p = Path(path)
    try:
        source = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise CompileError(f"cannot read: {e}", str(p)) from None
    tree = _parse(source, str(p))
    namespace = _run(p, str(p))
    return _compile(namespace, source, str(p), tree)


def compile_source(source: str, filename: str = "<source>",
                   namespace: dict[str, Any] | None = None) -> CompiledObject:
    """Compile Python source text (executed first in a fresh namespace, or in
    `namespace` when given, to evaluate its declarations)."""
    tree = _parse(source, filename)
    ns: dict[str, Any] = {"__name__": "__pybpf_compile__"} if namespace is None else namespace
    if namespace is None:
        try:
            exec(compile(tree, filename, "exec"), ns)  # noqa: S102
        except CompileError:
            raise
        except SystemExit as e:
            raise CompileError(f"the module exited (SystemExit {e.code}) while it was "
                               "run", filename) from None
        except Exception as e:  # noqa: BLE001 - the user's module raised: report where
            raise _raised(e, filename) from None
    return _compile(ns, source, filename, tree)


def compile_module(module: ModuleType) -> CompiledObject:
    """Compile the programs of an imported module."""
    path = getattr(module, "__file__", None)
    if not path:
        raise CompileError("the module has no source file", module.__name__)
    source = Path(path).read_text()
    return _compile(vars(module), source, path, _parse(source, path))


def compile_program(path_or_source: str | os.PathLike[str]) -> ObjectSpec:
    """A file path or source text in, an ObjectSpec out."""
    if isinstance(path_or_source, str) and "\n" in path_or_source:
        return compile_source(path_or_source).spec()
    return compile_file(path_or_source).spec()


def _parse(source: str, filename: str) -> ast.Module:
    try:
        return ast.parse(source, filename)
    except SyntaxError as e:
        raise CompileError(f"syntax error: {e.msg}", filename, e.lineno or 0,
                           e.offset or 0) from None
    except ValueError as e:  # NUL bytes
        raise CompileError(f"not Python source: {e}", filename) from None
    except (RecursionError, MemoryError):
        raise CompileError("the source is nested too deeply to parse", filename) from None


def _run(path: Path, filename: str) -> dict[str, Any]:
    saved = sys.path[:]
    sys.path.insert(0, str(path.resolve().parent))
    try:
        return runpy.run_path(str(path), run_name="__pybpf_compile__")
    except CompileError:
        raise
    except SystemExit as e:
        raise CompileError(f"the module exited (SystemExit {e.code}) while it was "
                           "imported", filename) from None
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        raise _raised(e, filename) from None
    finally:
        sys.path[:] = saved


def _raised(e: BaseException, filename: str) -> CompileError:
    """A CompileError for an exception the module raised when run, at its line."""
    line = 0
    for fs in traceback.extract_tb(e.__traceback__):
        if os.path.abspath(fs.filename) == os.path.abspath(filename) or \
                fs.filename == filename:
            line = fs.lineno or 0
    return CompileError(f"the module raised {type(e).__name__}: {e}", filename, line, 1 if line
                        else 0)


def _compile(namespace: dict[str, Any], source: str, filename: str,
             tree: ast.Module) -> CompiledObject:
    try:
        return _compile_tree(namespace, source, filename, tree)
    except RecursionError:
        raise CompileError("an expression is nested too deeply", filename,
                           hint="split it over several assignments") from None


def _compile_tree(namespace: dict[str, Any], source: str, filename: str,
                  tree: ast.Module) -> CompiledObject:
    module = ir.Module(name=os.path.basename(filename))
    module.triple = TRIPLE
    module.data_layout = DATALAYOUT
    st = ModuleState(filename, source, namespace, module, DebugInfo(module, filename, source),
                     tree, defs=function_defs(tree), lines=binding_lines(tree))
    declare_globals(st)
    st.di.compile_unit()
    programs = [(n, v) for n, v in namespace.items() if isinstance(v, Program)]
    if not programs:
        raise CompileError("no BPF program in the module",
                           filename, hint="decorate a function with @xdp, @tc, "
                                          "@socket_filter, @tracepoint(...), ...")
    infos = [_declare_program(st, name, prog) for name, prog in programs]
    fill_prog_arrays(st)
    for info in infos:
        _lower(st, info)
    while st.pending:
        _lower(st, st.pending.pop(0))
    _check_recursion(st)
    declare_record_types(st)
    return _emit(module, [n for n, _ in programs], os.path.basename(filename))


def _declare_program(st: ModuleState, name: str, prog: Program) -> FuncInfo:
    node = st.defs.get(prog.func.__name__)
    if node is None:
        raise CompileError(f"program {name}: its def is not at module level of this file",
                           st.path)
    if prog.func.__name__ != name:
        raise st.err(node, f"program {prog.func.__name__} is bound to the name {name}",
                     "decorate the def itself")
    a = node.args
    if len(a.args) != 1 or a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs:
        raise st.err(node, f"program {name} must take one parameter, the context",
                     f"def {name}(ctx):")
    ctx_t = _ctx_type(st, prog, a.args[0])
    fn = ir.Function(st.module, ir.FunctionType(ir.IntType(32), [ir.PointerType()]), name)
    fn.section = prog.section
    di = st.di
    scope = di.subprogram(name, node.lineno, di.basic(32, True), [di.pointer(None)], False)
    fn.set_metadata("dbg", scope)
    from .types import I32
    info = FuncInfo(name, node, fn, [], I32, program=prog, scope=scope, ctx=ctx_t)
    st.funcs[name] = info
    return info


def _ctx_type(st: ModuleState, prog: Program, arg: ast.arg) -> StructTy:
    if arg.annotation is not None:
        try:
            obj = eval(compile(ast.Expression(arg.annotation), st.path, "eval"),
                       dict(st.namespace))
            t = from_ctype(obj)
        except TypeMapError as e:
            raise st.err(arg.annotation, str(e)) from None
        except Exception:  # noqa: BLE001 - the user's annotation, evaluated
            raise st.err(arg.annotation, f"unknown context type "
                                         f"{ast.unparse(arg.annotation)}") from None
        if not isinstance(t, StructTy):
            raise st.err(arg.annotation, "the context is a struct (XdpMd, SkBuff, a "
                                         "tracepoint record)")
        return t
    default = _CTX_DEFAULTS.get(prog.kind)
    if default is None:
        raise st.err(arg, f"a {prog.kind} program's context needs a type",
                     f"annotate it: def {prog.func.__name__}({arg.arg}: MyRecord)")
    from . import lang
    return struct_type(getattr(lang, default))


def _check_recursion(st: ModuleState) -> None:
    """BPF has no recursion: a cycle in the call graph is a CompileError."""
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for callee, node in st.calls.get(name, []):
            if state.get(callee) == 1:
                cycle = " -> ".join([*path[path.index(callee):], callee]) \
                    if callee in path else f"{name} -> {callee}"
                raise st.err(node, f"recursion ({cycle}): BPF programs cannot recurse",
                             "write a bounded loop")
            if callee not in state:
                visit(callee, [*path, callee])
        state[name] = 2

    for name in list(st.funcs):
        if name not in state:
            visit(name, [name])


def _lower(st: ModuleState, info: FuncInfo) -> None:
    FunctionLowering(st, info).lower()


def _emit(module: ir.Module, programs: list[str], name: str) -> CompiledObject:
    text = str(module)
    try:
        mod = llvm.parse_assembly(text)
        mod.verify()
    except RuntimeError as e:
        raise CompileError(f"internal error: LLVM refused the IR: {e}", name) from None
    tm = _target_machine()
    pto = llvm.create_pipeline_tuning_options(speed_level=2)
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    obj = tm.emit_object(mod)
    return CompiledObject(bytes(obj), str(mod), programs, name)


__all__ = [
    "CompiledObject",
    "compile_file",
    "compile_module",
    "compile_program",
    "compile_source",
    "declare_function",
]
