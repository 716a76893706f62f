"""The module-level half of the compiler: reads the declarations a user's module made
(maps, `.rodata` config, constants, programs, sub-functions) and emits them as LLVM
globals with debug info; the function bodies are lowered by `lower.FunctionLowering`."""

from __future__ import annotations

import ast
import enum
from dataclasses import dataclass, field
from typing import Any

from llvmlite import ir

from ...uapi import MapType
from .debuginfo import DebugInfo
from .errors import CompileError, error_at
from .lang import Config, Global, MapDecl, Program, Subprogram
from .types import IntTy, PtrTy, StructTy, Ty, TypeMapError, from_ctype

TRIPLE = "bpfel"
DATALAYOUT = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"


@dataclass
class MapInfo:
    name: str
    decl: MapDecl
    gv: ir.GlobalVariable
    key: Ty | None
    value: Ty | None


@dataclass
class ConfigInfo:
    """A `.rodata` Config, or (writable) a `.data`/`.bss` Global."""

    name: str
    ty: IntTy
    gv: ir.GlobalVariable
    writable: bool = False


@dataclass
class FuncInfo:
    """A compiled (or being compiled) function: program or sub-function."""

    name: str
    node: ast.FunctionDef
    fn: ir.Function
    params: list[Ty]
    ret: Ty
    program: Program | None = None
    scope: ir.DIValue | None = None  # the DISubprogram
    ctx: StructTy | None = None
    maps: dict[str, str] = field(default_factory=dict)  # map parameter -> map bound
    ctx_param: str | None = None  # a sub-function's parameter holding the context


@dataclass
class ModuleState:
    """Everything the lowering of one function needs from the module."""

    path: str
    source: str
    namespace: dict[str, Any]
    module: ir.Module
    di: DebugInfo
    tree: ast.Module
    maps: dict[str, MapInfo] = field(default_factory=dict)
    configs: dict[str, ConfigInfo] = field(default_factory=dict)
    funcs: dict[str, FuncInfo] = field(default_factory=dict)
    pending: list[FuncInfo] = field(default_factory=list)
    strings: dict[bytes, ir.GlobalVariable] = field(default_factory=dict)
    defs: dict[str, ast.FunctionDef] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    calls: dict[str, list[tuple[str, ast.AST]]] = field(default_factory=dict)
    records: dict[str, StructTy] = field(default_factory=dict)  # sent to ring/perf buffers

    def err(self, node: ast.AST | None, msg: str, hint: str = "") -> CompileError:
        return error_at(node, self.path, msg, hint)

    def ctype(self, ct: object, node: ast.AST | None) -> Ty:
        try:
            return from_ctype(ct)
        except TypeMapError as e:
            raise self.err(node, str(e)) from None

    def constant(self, name: str) -> int | None:
        """The value of a module-level integer constant (int, bool, IntEnum member)."""
        v = self.namespace.get(name)
        if isinstance(v, bool | int | enum.IntEnum | enum.IntFlag):
            return int(v)
        return None

    def string(self, data: bytes) -> ir.GlobalVariable:
        """A NUL-terminated string in `.rodata` (bpf_trace_printk formats)."""
        gv = self.strings.get(data)
        if gv is None:
            raw = bytearray(data + b"\0")
            ty = ir.ArrayType(ir.IntType(8), len(raw))
            gv = ir.GlobalVariable(self.module, ty, f".str.{len(self.strings)}")
            gv.global_constant = True
            gv.linkage = "private"
            gv.initializer = ir.Constant(ty, raw)
            gv.section = ".rodata"
            gv.align = 1
            self.strings[data] = gv
        return gv


def declare_globals(st: ModuleState) -> None:
    """The maps (in `.maps`, BTF-defined as libbpf reads them), the `.rodata` config
    variables and the license, in the order the module binds them."""
    for name, value in st.namespace.items():
        line = st.lines.get(name, 1)
        if isinstance(value, MapDecl):
            _declare_map(st, name, value, line)
        elif isinstance(value, Config | Global):
            _declare_config(st, name, value, line)
    lic = st.namespace.get("LICENSE", "GPL")
    if not isinstance(lic, str):
        raise st.err(None, "LICENSE must be a string such as \"GPL\"")
    data = bytearray(lic.encode() + b"\0")
    ty = ir.ArrayType(ir.IntType(8), len(data))
    gv = ir.GlobalVariable(st.module, ty, "LICENSE")
    gv.initializer = ir.Constant(ty, data)
    gv.section = "license"
    gv.align = 1
    st.di.global_var(gv, "LICENSE", st.di.array(st.di.basic(8, True), len(data),
                                                8 * len(data)), st.lines.get("LICENSE", 1))


def _declare_map(st: ModuleState, name: str, d: MapDecl, line: int) -> None:
    node = _binding_node(st, name)
    if not isinstance(d.max_entries, int) or d.max_entries < 0 or d.max_entries > 0xFFFFFFFF:
        raise st.err(node, f"map {name}: max_entries must be an int 0..2**32-1")
    key = st.ctype(d.key, node) if d.key is not None else None
    value = st.ctype(d.value, node) if d.value is not None else None
    for what, t in (("key", key), ("value", value)):
        if t is not None and isinstance(t, PtrTy):
            raise st.err(node, f"map {name}: a {what} cannot be a pointer")
    di = st.di
    fields: list[tuple[str, ir.DIValue]] = [("type", di.uint_array(int(d.type)))]
    if d.max_entries or d.type != MapType.PERF_EVENT_ARRAY:
        fields.append(("max_entries", di.uint_array(d.max_entries)))
    if d.flags:
        fields.append(("map_flags", di.uint_array(d.flags)))
    if key is not None:
        fields.append(("key", di.type(key)))
    elif d.key_size:
        fields.append(("key_size", di.uint_array(d.key_size)))
    if value is not None:
        fields.append(("value", di.type(value)))
    elif d.value_size:
        fields.append(("value_size", di.uint_array(d.value_size)))
    if d.pinning:
        fields.append(("pinning", di.uint_array(d.pinning)))
    members: list[ir.Type] = [ir.PointerType()] * len(fields)
    if d.values:
        for i, prog in d.values.items():
            if not isinstance(i, int) or not 0 <= i < d.max_entries or not isinstance(prog, str):
                raise st.err(node, f"map {name}: values maps a slot 0..max_entries-1 to a "
                                   "program of this module")
        proto = st.module.add_debug_info("DISubroutineType", {"types": st.module.add_metadata(
            [di.basic(32, True), di.pointer(None)])})
        fields.append(("values", di.array(di.pointer(proto), 0, 0)))
        members.append(ir.ArrayType(ir.PointerType(), max(d.values) + 1))
    ty = ir.LiteralStructType(members)
    gv = ir.GlobalVariable(st.module, ty, name)
    gv.initializer = ir.Constant(ty, None)
    gv.section = ".maps"
    gv.align = 8
    di.global_var(gv, name, di.map_struct(fields), line)
    st.maps[name] = MapInfo(name, d, gv, key, value)


def declare_record_types(st: ModuleState) -> None:
    """For each struct a program sends through a ring buffer or perf array, an unused
    global pointer to it (`const struct X *unused_X` in .bss, bpf2go's convention), so
    the type is in BTF and readers (pybpf.objects.output) decode the records."""
    for name, t in sorted(st.records.items()):
        gv = ir.GlobalVariable(st.module, ir.PointerType(), f"unused_{name}")
        gv.initializer = ir.Constant(ir.PointerType(), None)
        gv.section = ".bss"
        gv.align = 8
        st.di.global_var(gv, gv.name, st.di.pointer(st.di.qualified(st.di.struct(t),
                                                                    "DW_TAG_const_type")), 0)


def fill_prog_arrays(st: ModuleState) -> None:
    """The `values` slots of prog arrays, once the programs they name are declared."""
    for m in st.maps.values():
        if not m.decl.values:
            continue
        ty = m.gv.value_type
        arr_ty = ty.elements[-1]
        slots: list[ir.Constant] = [ir.Constant(ir.PointerType(), None)] * arr_ty.count
        for i, prog in m.decl.values.items():
            info = st.funcs.get(prog)
            if info is None or info.program is None:
                raise st.err(_binding_node(st, m.name), f"map {m.name}: {prog!r} is not a "
                                                        "program of this module")
            slots[i] = info.fn
        consts = [ir.Constant(e, None) for e in ty.elements[:-1]]
        m.gv.initializer = ir.Constant(ty, [*consts, ir.Constant(arr_ty, slots)])


def _declare_config(st: ModuleState, name: str, c: Config | Global, line: int) -> None:
    node = _binding_node(st, name)
    what = "config" if isinstance(c, Config) else "global"
    ty = st.ctype(c.type, node)
    if not isinstance(ty, IntTy) or ty.be:
        raise st.err(node, f"{what} {name}: the type must be an integer (u8..u64, i8..i64)")
    if not isinstance(c.default, int) or isinstance(c.default, bool):
        raise st.err(node, f"{what} {name}: the default must be an int")
    gv = ir.GlobalVariable(st.module, ty.llvm(), name)
    # not an LLVM constant: the loader may patch it, so its loads are never folded
    gv.initializer = ir.Constant(ty.llvm(), c.default & ((1 << ty.bits) - 1))
    gv.align = ty.size
    if isinstance(c, Global):
        gv.section = ".data" if c.default else ".bss"
        st.di.global_var(gv, name, st.di.int_type(ty), line)
        st.configs[name] = ConfigInfo(name, ty, gv, writable=True)
        return
    gv.section = ".rodata"
    st.di.global_var(gv, name, st.di.qualified(st.di.int_type(ty), "DW_TAG_volatile_type",
                                               "DW_TAG_const_type"), line)
    st.configs[name] = ConfigInfo(name, ty, gv)


def _binding_node(st: ModuleState, name: str) -> ast.AST | None:
    for node in st.tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return node
    return None


def binding_lines(tree: ast.Module) -> dict[str, int]:
    out: dict[str, int] = {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        for t in targets:
            if isinstance(t, ast.Name):
                out.setdefault(t.id, node.lineno)
    return out


def function_defs(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def is_program(v: object) -> bool:
    return isinstance(v, Program)


def is_subprogram(v: object) -> bool:
    return isinstance(v, Subprogram)
