"""LLVM debug metadata for the compiled module. LLVM's BPF back end turns it into
`.BTF` (map, global and function types) and `.BTF.ext` (func info, and line info
whose file, line, column and text are the Python source's)."""

from __future__ import annotations

import os

from llvmlite import ir

from .types import ArrayTy, BoolTy, IntTy, PtrTy, StructTy, Ty, VoidTy

_BASE_NAMES = {(8, False): "unsigned char", (16, False): "unsigned short",
               (32, False): "unsigned int", (64, False): "unsigned long long",
               (8, True): "signed char", (16, True): "short", (32, True): "int",
               (64, True): "long long"}


class DebugInfo:
    """Builds DI nodes into `module` for the source file `path` (its text embedded, so
    BTF line info quotes the Python lines whatever the working directory)."""

    def __init__(self, module: ir.Module, path: str, source: str) -> None:
        self.m = module
        directory, name = os.path.split(os.path.abspath(path)) if path else ("", "<source>")
        self.file = module.add_debug_info("DIFile", {"filename": name, "directory": directory,
                                                     "source": source})
        self._types: dict[object, ir.DIValue] = {}
        self._globals: list[ir.DIValue] = []
        self.cu: ir.DIValue | None = None
        module.add_named_metadata("llvm.module.flags",
                                  module.add_metadata([ir.IntType(32)(7), "Dwarf Version",
                                                       ir.IntType(32)(5)]))
        module.add_named_metadata("llvm.module.flags",
                                  module.add_metadata([ir.IntType(32)(2), "Debug Info Version",
                                                       ir.IntType(32)(3)]))

    # ---- types ----
    def basic(self, bits: int, signed: bool) -> ir.DIValue:
        key = ("base", bits, signed)
        if key not in self._types:
            enc = ("DW_ATE_signed" if signed else "DW_ATE_unsigned") if bits > 8 else \
                ("DW_ATE_signed_char" if signed else "DW_ATE_unsigned_char")
            self._types[key] = self.m.add_debug_info("DIBasicType", {
                "name": _BASE_NAMES[(bits, signed)], "size": bits, "encoding": ir.DIToken(enc)})
        return self._types[key]

    def int_type(self, t: IntTy) -> ir.DIValue:
        key = ("int", t.bits, t.signed, t.be)
        if key not in self._types:
            self._types[key] = self.m.add_debug_info("DIDerivedType", {
                "tag": ir.DIToken("DW_TAG_typedef"), "name": t.cname, "file": self.file,
                "baseType": self.basic(t.bits, t.signed)})
        return self._types[key]

    def type(self, t: Ty) -> ir.DIValue | None:
        """The DI node of a compiler type (None for void)."""
        if isinstance(t, IntTy):
            return self.int_type(t)
        if isinstance(t, BoolTy):
            return self.basic(8, False)
        if isinstance(t, VoidTy):
            return None
        if isinstance(t, PtrTy):
            return self.pointer(self.type(t.target))
        if isinstance(t, ArrayTy):
            return self.array(self.type(t.elem), t.count, t.size * 8)
        if isinstance(t, StructTy):
            return self.struct(t)
        raise TypeError(t)

    def pointer(self, base: ir.DIValue | None) -> ir.DIValue:
        return self.m.add_debug_info("DIDerivedType", {
            "tag": ir.DIToken("DW_TAG_pointer_type"), "baseType": base, "size": 64})

    def array(self, elem: ir.DIValue | None, count: int, bits: int) -> ir.DIValue:
        sub = self.m.add_debug_info("DISubrange", {"count": count})
        return self.m.add_debug_info("DICompositeType", {
            "tag": ir.DIToken("DW_TAG_array_type"), "baseType": elem, "size": bits,
            "elements": self.m.add_metadata([sub])})

    def struct(self, t: StructTy) -> ir.DIValue:
        key = ("struct", id(t))
        if key in self._types:
            return self._types[key]
        members = []
        for f in t.fields.values():
            if f.name.startswith("_pad"):
                continue
            ops: dict[str, object] = {"tag": ir.DIToken("DW_TAG_member"), "name": f.name,
                                      "file": self.file, "baseType": self.type(f.ty)}
            if f.bit_size:
                ops.update(size=f.bit_size, offset=f.offset * 8 + f.bit_offset,
                           flags=ir.DIToken("DIFlagBitField"),
                           extraData=ir.IntType(64)(f.offset * 8))
            else:
                ops.update(size=f.ty.size * 8, offset=f.offset * 8)
            members.append(self.m.add_debug_info("DIDerivedType", ops))
        node = self.m.add_debug_info("DICompositeType", {
            "tag": ir.DIToken("DW_TAG_structure_type"), "name": t.name, "file": self.file,
            "size": t.size * 8, "elements": self.m.add_metadata(members)})
        self._types[key] = node
        return node

    def map_struct(self, fields: list[tuple[str, ir.DIValue]]) -> ir.DIValue:
        """libbpf's BTF-defined map: an anonymous struct of pointer members."""
        members = [self.m.add_debug_info("DIDerivedType", {
            "tag": ir.DIToken("DW_TAG_member"), "name": name, "file": self.file,
            "baseType": base if name == "values" else self.pointer(base),
            "size": 0 if name == "values" else 64, "offset": 64 * i})
            for i, (name, base) in enumerate(fields)]  # `values`: __array(), no pointer
        return self.m.add_debug_info("DICompositeType", {
            "tag": ir.DIToken("DW_TAG_structure_type"), "file": self.file,
            "size": 64 * sum(name != "values" for name, _ in fields),
            "elements": self.m.add_metadata(members)})

    def uint_array(self, value: int) -> ir.DIValue:
        """`int [value]`, the pointee of __uint(name, value)."""
        return self.array(self.basic(32, True), value, 32 * value)

    def qualified(self, base: ir.DIValue, *tags: str) -> ir.DIValue:
        for tag in tags:
            base = self.m.add_debug_info("DIDerivedType", {"tag": ir.DIToken(tag),
                                                           "baseType": base})
        return base

    # ---- variables, functions, locations ----
    def global_var(self, gv: ir.GlobalVariable, name: str, dtype: ir.DIValue, line: int,
                   local: bool = False) -> None:
        var = self.m.add_debug_info("DIGlobalVariable", {
            "name": name, "scope": self.file, "file": self.file, "line": line, "type": dtype,
            "isLocal": local, "isDefinition": True}, is_distinct=True)
        gve = self.m.add_debug_info("DIGlobalVariableExpression", {
            "var": var, "expr": self.m.add_debug_info("DIExpression", {})})
        gv.set_metadata("dbg", gve)
        self._globals.append(gve)

    def compile_unit(self) -> ir.DIValue:
        """The compile unit; made once every global variable is declared."""
        if self.cu is None:
            self.cu = self.m.add_debug_info("DICompileUnit", {
                "language": ir.DIToken("DW_LANG_C99"), "file": self.file,
                "producer": "pybpf restricted-Python compiler", "isOptimized": True,
                "runtimeVersion": 0, "emissionKind": ir.DIToken("FullDebug"),
                "globals": self.m.add_metadata(self._globals)}, is_distinct=True)
            self.m.add_named_metadata("llvm.dbg.cu", self.cu)
        return self.cu

    def subprogram(self, name: str, line: int, ret: ir.DIValue | None,
                   params: list[ir.DIValue | None], local: bool) -> ir.DIValue:
        stype = self.m.add_debug_info("DISubroutineType", {
            "types": self.m.add_metadata([ret, *params])})
        flags = "DISPFlagDefinition | DISPFlagOptimized" + (" | DISPFlagLocalToUnit"
                                                            if local else "")
        return self.m.add_debug_info("DISubprogram", {
            "name": name, "scope": self.file, "file": self.file, "line": line,
            "type": stype, "scopeLine": line, "flags": ir.DIToken("DIFlagPrototyped"),
            "spFlags": ir.DIToken(flags), "unit": self.compile_unit()}, is_distinct=True)

    def location(self, line: int, col: int, scope: ir.DIValue) -> ir.DIValue:
        return self.m.add_debug_info("DILocation", {"line": line, "column": col,
                                                    "scope": scope})
