"""ObjectBuilder: programs, sub-programs and maps made in Python, linked into an
ObjectSpec that instantiates on the VM and in the kernel as a clang-built object
does (`ObjectBuilder.build().instantiate("vm" | "kernel")`).

    ob = ObjectBuilder(license="GPL")
    ob.map("pkts", "array", key="u32", value="u64", max_entries=1)
    p = ob.program("count", "xdp")
    ...
    spec = ob.build()

Linking places each program's entry function first and then every sub-program it
reaches through call_func / ld_func (as the ELF loader links .text functions), fills
jump offsets from labels, and turns map uses into MapRefs; every unresolved name is a
BuilderError naming the function, the name and the Python line that used it."""

from __future__ import annotations

import difflib
import linecache
from typing import Any, Iterable, Mapping

from .. import isa
from ..isa import Instruction
from ..maps import MapSpec
from ..spec import (ExternRef, FuncInfo, GlobalVar, LineInfo, MapRef, ObjectSpec,
                            ProgramSpec, program_type)
from .errors import (BuilderError, JumpRangeError, OperandError, UndefinedFunctionError,
                     UndefinedLabelError, UndefinedMapError)
from .function import Emitted, FunctionBuilder
from .types import TypeTable

__all__ = ["ObjectBuilder"]

_S16 = (-(1 << 15), (1 << 15) - 1)
_S32 = (-(1 << 31), (1 << 31) - 1)
_FD_MAPS = ("prog_array", "array_of_maps", "hash_of_maps")


def _hint(name: str, known: Iterable[str]) -> str:
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    listed = ", ".join(known) if known else "none"
    return (f"; did you mean {close[0]!r}?" if close else "") + f" (defined: {listed})"


class ObjectBuilder:
    """Builds one object: `program()` and `function()` give FunctionBuilders, `map()`
    adds a MapSpec, `build()` links everything into an ObjectSpec."""

    def __init__(self, license: str = "GPL", *, name: str = "builder",
                 source_lines: bool = True) -> None:
        self.license = license
        self.name = name
        self.source_lines = source_lines
        self.maps: dict[str, MapSpec] = {}
        self.map_values: dict[str, list[tuple[int, str]]] = {}
        self.programs: dict[str, tuple[FunctionBuilder, str, int | None]] = {}
        self.functions: dict[str, FunctionBuilder] = {}
        self._types: TypeTable | None = None
        self._funcs: dict[str, int] = {}
        self._var_ids: dict[tuple[str, str], int] = {}
        self._spec_globals: dict[str, GlobalVar] = {}
        self._spec_maps: dict[str, MapSpec] = {}
        # global variables: name -> (section, BTF type id, initial bytes or None)
        self.globals: dict[str, tuple[str, int, bytes | None]] = {}

    # --- definitions -------------------------------------------------------------------
    def _new_name(self, name: str) -> None:
        if name in self.functions:
            raise BuilderError(f"a function or program named {name!r} exists already")

    def program(self, name: str, section: str, *, type: "str | int | None" = None
                ) -> FunctionBuilder:
        """A program entered at its first instruction. `section` is its SEC() name
        ("xdp", "socket", "tc", "tracepoint/syscalls/sys_enter_write", ...), which gives
        its type as libbpf reads it; `type` sets the type where the section does not."""
        if not isinstance(section, str) or not section:
            raise OperandError(f"program {name!r}: a section is a non-empty string")
        self._new_name(name)
        ptype = program_type(type) if type is not None else None
        f = FunctionBuilder(name, source_lines=self.source_lines)
        self.functions[name] = f
        self.programs[name] = (f, section, ptype)
        return f

    def function(self, name: str) -> FunctionBuilder:
        """A sub-program (a static function in .text), linked into the programs that
        call it (call_func) or take its address (ld_func)."""
        self._new_name(name)
        f = FunctionBuilder(name, source_lines=self.source_lines)
        self.functions[name] = f
        return f

    @property
    def types(self) -> TypeTable:
        if self._types is None:
            self._types = TypeTable()
        return self._types

    def map(self, name: str, type: "str | int", *, key: Any = 4, value: Any = 4,
            max_entries: int = 1, flags: int = 0, inner: "MapSpec | str | None" = None,
            map_extra: int = 0, pinning: int = 0,
            contents: Iterable[tuple[bytes, bytes]] = (), freeze: bool = False,
            values: "Mapping[int, str] | None" = None) -> MapSpec:
        """A map. `key` / `value`: a size in bytes, or a type ("u32", ctypes.c_uint64, a
        ctypes Structure, Struct(...), Array(...)) that gives the size and the BTF the
        typed map view decodes with. `values`: initial slots of a prog_array (program
        names) or map-in-map (map names), filled at instantiation. `inner`: the inner
        map of a map-in-map (a MapSpec or the name of a map of this object)."""
        if not isinstance(name, str) or not name:
            raise OperandError(f"a map needs a non-empty name, got {name!r}")
        if name in self.maps:
            raise BuilderError(f"map {name!r} is defined twice")
        key_size, key_type = self._sized(key, f"map {name} key")
        value_size, value_type = self._sized(value, f"map {name} value")
        if isinstance(inner, str):
            if inner not in self.maps:
                raise UndefinedMapError(f"map {name}: inner map {inner!r} is not defined"
                                        + _hint(inner, self.maps))
            inner = self.maps[inner]
        spec = MapSpec(type, key_size, value_size, max_entries, flags=flags, name=name,
                       inner=inner, map_extra=map_extra, pinning=pinning, key_type=key_type,
                       value_type=value_type, contents=tuple(contents), freeze=freeze)
        slots: list[tuple[int, str]] = []
        if values:
            if not isinstance(values, Mapping):
                raise OperandError(f"map {name}: values maps slot indexes to program or map "
                                   f"names, not {values.__class__.__name__}")
            for index, ref in values.items():
                if not isinstance(index, int) or not 0 <= index < max_entries:
                    raise OperandError(f"map {name}: slot {index!r} is not an index below "
                                       f"max_entries {max_entries}")
                if not isinstance(ref, str):
                    raise OperandError(f"map {name}: slot {index} holds a program or map "
                                       f"name, not {ref!r}")
                slots.append((index, ref))
        self.maps[name] = spec
        if slots:
            self.map_values[name] = sorted(slots)
        return spec

    def global_var(self, name: str, type: Any, value: Any = None, *,
                   section: str | None = None, const: bool = False) -> None:
        """A global variable of `type` (as map keys and values are typed) in `.rodata`
        (`const`), `.data` (with a `value`) or `.bss`: laid out in its section's
        single-slot array map as clang would, typed by BTF (`obj.globals.name`), set
        before loading with `spec.set_global`, read in programs with ld_global().
        `value`: bytes, or Python data encoded by the type (int, dict, list)."""
        if not isinstance(name, str) or not name.isidentifier():
            raise OperandError(f"a global variable needs an identifier name, got {name!r}")
        if name in self.globals:
            raise BuilderError(f"global variable {name!r} is defined twice")
        if section is None:
            section = ".rodata" if const else ".data" if value is not None else ".bss"
        if not section.startswith((".rodata", ".data", ".bss")):
            raise OperandError(f"global {name}: section {section!r} is not .rodata, .data "
                               "or .bss (or one of their .name variants)")
        tid = self.types.add(type, f"global {name}")
        size = self.types.size_of(tid)
        data: bytes | None = None
        if value is not None:
            if isinstance(value, (bytes, bytearray)):
                data = bytes(value)
            else:
                from ..btf import encode_value
                data = encode_value(self.types.btf, tid, value, path=name)
            if len(data) != size:
                raise OperandError(f"global {name}: {len(data)} bytes of value for a "
                                   f"{size}-byte type")
        self.globals[name] = (section, tid, data)

    def _data_sections(self, spec: ObjectSpec) -> None:
        """Lay the globals out in their sections' maps, with a BTF DATASEC each."""
        b = self.types.builder if self.globals else None
        sections: dict[str, list[str]] = {}
        for name, (section, _, _) in self.globals.items():
            sections.setdefault(section, []).append(name)
        for section, names in sections.items():
            assert b is not None
            buf = bytearray()
            members = []
            for name in names:
                _, tid, data = self.globals[name]
                align = b.btf.align_of(tid)
                off = -(-len(buf) // align) * align
                size = b.btf.size_of(tid)
                buf += bytes(off - len(buf))
                buf += data if data is not None else bytes(size)
                key = ("var", name)
                if key not in self._var_ids:
                    self._var_ids[key] = b.var(name, tid, "global")
                members.append((self._var_ids[key], off))
                spec.globals[name] = GlobalVar(name, section, off, size, tid)
                spec.symbol_offsets[name] = off  # what an ELF symbol table would say
            key = ("sec", f"{section} {members} {len(buf)}")  # a new DATASEC if it grew
            if key not in self._var_ids:
                self._var_ids[key] = b.datasec(section, members, len(buf))
            ro = section.startswith(".rodata")
            spec.sections.append((section, "bss" if section.startswith(".bss") else "data",
                                  len(buf)))
            spec.maps[section] = MapSpec("array", 4, max(len(buf), 1), 1, name=section,
                                         flags=(1 << 7) if ro else 0,  # BPF_F_RDONLY_PROG
                                         contents=((b"\0\0\0\0", bytes(buf)),) if any(buf)
                                         else (), freeze=ro)

    def _sized(self, desc: Any, what: str) -> tuple[int, int | None]:
        if isinstance(desc, int) and not isinstance(desc, bool):
            return desc, None
        tid = self.types.add(desc, what)
        return self.types.size_of(tid), tid

    # --- linking ----------------------------------------------------------------------
    def build(self) -> ObjectSpec:
        """Link every program into an ObjectSpec (deterministic; may be called again
        after more is added)."""
        spec = ObjectSpec(license=self.license, path=f"<{self.name}>")
        spec.maps = dict(self.maps)
        clash = set(self.maps) & {sec for sec, _, _ in self.globals.values()}
        if clash:
            raise BuilderError(f"map {sorted(clash)[0]!r} has the name of a data section")
        self._data_sections(spec)
        self._spec_globals = spec.globals
        self._spec_maps = spec.maps
        funcs = self._funcs  # function name -> its BTF FUNC id (kept: builds stay alike)
        for name, (entry, section, ptype) in self.programs.items():
            spec.programs[name] = self._link(entry, section, ptype, funcs)
        if self._types is not None:
            spec.btf = self._types.btf
        for mname, slots in self.map_values.items():
            kind = spec.maps[mname].type_name
            for index, ref in slots:
                if kind == "prog_array" and ref not in self.programs:
                    raise UndefinedFunctionError(
                        f"map {mname} slot {index}: no program {ref!r}" + _hint(ref, self.programs))
                if kind != "prog_array" and ref not in self.maps:
                    raise UndefinedMapError(f"map {mname} slot {index}: no map {ref!r}"
                                            + _hint(ref, self.maps))
        spec.map_values = {k: list(v) for k, v in self.map_values.items()}
        return spec

    def _where(self, func: FunctionBuilder, item: Emitted) -> str:
        if item.source is None:
            return f"function {func.name}"
        return f"function {func.name} ({item.source[0]}:{item.source[1]})"

    def _func_type(self, name: str, funcs: dict[str, int]) -> int:
        """The BTF FUNC of a function (static, `int name(void)`): the kernel needs
        func_info for programs with callbacks (bpf_loop & co.), and names the functions
        in its log with it. Static functions' argument types are not checked."""
        if name not in funcs:
            b = self.types.builder
            ret = self.types.add("s32")
            proto = b.func_proto(ret, ())
            funcs[name] = b.func(name, proto, "static")
        return funcs[name]

    def _link(self, entry: FunctionBuilder, section: str, ptype: int | None,
              funcs: dict[str, int]) -> ProgramSpec:
        order = [entry]
        i = 0
        while i < len(order):
            func = order[i]
            i += 1
            if not func.items:
                raise BuilderError(f"function {func.name} has no instructions")
            for item in func.items:
                ref = item.ref
                if ref is not None and ref.kind in ("call", "func"):
                    target = self.functions.get(ref.name)
                    if target is None:
                        raise UndefinedFunctionError(
                            f"{self._where(func, item)}: call of undefined function "
                            f"{ref.name!r}" + _hint(ref.name, self.functions))
                    if target not in order:
                        order.append(target)
        bases: dict[str, int] = {}
        pc = 0
        for func in order:
            bases[func.name] = pc
            pc += sum(it.insn.slots for it in func.items)
        insns: list[Instruction] = []
        map_refs: list[MapRef] = []
        extern_refs: list[ExternRef] = []
        line_info: list[LineInfo] = []
        last_source: tuple[str, int] | None = None
        for func in order:
            base = bases[func.name]
            local = isa.slot_offsets([it.insn for it in func.items])
            end = local[-1] + func.items[-1].insn.slots
            labels = {}
            for label, idx in func.labels.items():
                labels[label] = local[idx] if idx < len(local) else end
            last_source = None
            for idx, item in enumerate(func.items):
                at = base + local[idx]
                insn = item.insn
                if item.source is not None and item.source != last_source:
                    file, line = item.source
                    line_info.append(LineInfo(at, file, linecache.getline(file, line).rstrip("\n"),
                                              line, 0))
                    last_source = item.source
                ref = item.ref
                if ref is not None:
                    insn = self._resolve(func, item, insn, at, labels, local[idx], end, bases,
                                         map_refs, extern_refs)
                insns.append(insn)
        prog = ProgramSpec(name=entry.name, section=section, type=0, instructions=insns,
                           license=self.license, map_refs=map_refs, extern_refs=extern_refs,
                           functions=[(f.name, bases[f.name]) for f in order],
                           func_info=[FuncInfo(bases[f.name], self._func_type(f.name, funcs))
                                      for f in order],
                           line_info=line_info)
        from ..elf.sections import classify_section
        info = classify_section(section)
        if info is not None:
            prog.type, prog.expected_attach_type = info.prog_type, info.attach_type
            prog.attach_to, prog.flags = info.attach_to, info.flags
        if ptype is not None:
            prog.type = ptype
        return prog

    def _resolve(self, func: FunctionBuilder, item: Emitted, insn: Instruction, at: int,
                 labels: dict[str, int], local_pc: int, end: int, bases: dict[str, int],
                 map_refs: list[MapRef], extern_refs: list[ExternRef]) -> Instruction:
        ref = item.ref
        assert ref is not None
        where = self._where(func, item)
        if ref.kind in ("jump", "jump32"):
            if ref.name not in labels:
                raise UndefinedLabelError(f"{where}: jump to undefined label {ref.name!r}"
                                          + _hint(ref.name, func.labels))
            target = labels[ref.name]
            if target >= end:
                raise UndefinedLabelError(f"{where}: label {ref.name!r} marks no instruction "
                                          f"(it is after the last one of {func.name})")
            delta = target - (local_pc + 1)
            lo, hi = _S32 if ref.kind == "jump32" else _S16
            if not lo <= delta <= hi:
                raise JumpRangeError(
                    f"{where}: jump to {ref.name!r} is {delta:+d} slots away, beyond the "
                    f"{'32' if ref.kind == 'jump32' else '16'}-bit offset ({lo}..{hi})"
                    + ("; use ja32 (gotol) for a long unconditional jump, or jump over a "
                       "ja32 with the opposite condition" if ref.kind == "jump" else ""))
            if ref.kind == "jump32":
                return Instruction(insn.opcode, insn.dst, insn.src, insn.off, delta)
            return Instruction(insn.opcode, insn.dst, insn.src, delta, insn.imm)
        if ref.kind in ("call", "func"):
            delta = bases[ref.name] - (at + 1)
            if not _S32[0] <= delta <= _S32[1]:  # pragma: no cover - programs are < 2**31
                raise JumpRangeError(f"{where}: call of {ref.name!r} out of range")
            return Instruction(insn.opcode, insn.dst, insn.src, insn.off, delta, insn.next_imm)
        if ref.kind in ("map_fd", "map_value"):
            m = self._spec_maps.get(ref.name)
            if m is None:
                raise UndefinedMapError(f"{where}: undefined map {ref.name!r}"
                                        + _hint(ref.name, self._spec_maps))
            if ref.kind == "map_value" and ref.offset >= m.value_size:
                raise OperandError(f"{where}: offset {ref.offset} is beyond map {ref.name}'s "
                                   f"{m.value_size}-byte value")
            map_refs.append(MapRef(at, ref.name, "fd" if ref.kind == "map_fd" else "value",
                                   ref.offset))
            return insn
        if ref.kind == "global":
            g = self.globals.get(ref.name)
            if g is None:
                raise UndefinedMapError(f"{where}: undefined global variable {ref.name!r}"
                                        + _hint(ref.name, self.globals))
            var = self._spec_globals[ref.name]
            if ref.offset >= var.size:
                raise OperandError(f"{where}: offset {ref.offset} is beyond global "
                                   f"{ref.name} ({var.size} bytes)")
            map_refs.append(MapRef(at, var.map, "value", var.offset + ref.offset))
            return insn
        if ref.kind == "kfunc":
            extern_refs.append(ExternRef(at, ref.name, ".ksyms", "call"))
            return insn
        raise BuilderError(f"{where}: unknown reference kind {ref.kind!r}")  # pragma: no cover
