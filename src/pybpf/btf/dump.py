"""Printing BTF: the raw listing `bpftool btf dump file X` prints (`dump_raw`), C names and
declarations of types (`type_name`, `type_decl`), a C definition of one type
(`format_c`), and a whole compilable C header in the spirit of bpftool's `format c`
(`dump_c`: every named type, dependencies first, padding and packing made explicit so the
compiler reproduces each layout)."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Callable

from .blob import MAX_RESOLVE_DEPTH, Btf
from .errors import BTFError
from .types import (
    MODIFIERS, Array, BtfKind, BtfType, Datasec, DeclTag, Enum, Enum64, Float, Func,
    FuncLinkage, FuncProto, Fwd, Int, IntEncoding, Ptr, Struct, Typedef, TypeTag, Union_,
    Var, VarLinkage,
)

__all__ = ["btf_type_json", "dump_raw", "format_raw", "type_name", "type_decl", "format_c",
           "dump_c"]

_ENC = {IntEncoding.NONE: "(none)", IntEncoding.SIGNED: "SIGNED", IntEncoding.CHAR: "CHAR",
        IntEncoding.BOOL: "BOOL"}
_FUNC_LINKAGE = {FuncLinkage.STATIC: "static", FuncLinkage.GLOBAL: "global",
                 FuncLinkage.EXTERN: "extern"}
_VAR_LINKAGE = {VarLinkage.STATIC: "static", VarLinkage.GLOBAL: "global",
                VarLinkage.EXTERN: "extern"}


def _q(name: str) -> str:
    return f"'{name or '(anon)'}'"


# --- raw -----------------------------------------------------------------------------------------

def format_raw(btf: Btf, type_id: int) -> str:
    """One type in bpftool's raw format (member lines tab-indented, no final newline)."""
    t = btf[type_id]
    k = t.kind
    head = f"[{type_id}] {k.name} {_q(t.name)}"
    if isinstance(t, Int):
        return (f"{head} size={t.size} bits_offset={t.offset} nr_bits={t.bits} "
                f"encoding={_ENC.get(t.encoding, 'UNKN')}")
    if k in (BtfKind.PTR, BtfKind.TYPEDEF, BtfKind.VOLATILE, BtfKind.CONST, BtfKind.RESTRICT,
             BtfKind.TYPE_TAG):
        return f"{head} type_id={t.type}"  # type: ignore[union-attr]  # these kinds refer to one
    if isinstance(t, Array):
        return f"{head} type_id={t.type} index_type_id={t.index_type} nr_elems={t.nelems}"
    if isinstance(t, (Struct, Union_)):
        lines = [f"{head} size={t.size} vlen={len(t.members)}"]
        for m in t.members:
            line = f"\t{_q(m.name)} type_id={m.type} bits_offset={m.offset}"
            if m.bitfield_size:
                line += f" bitfield_size={m.bitfield_size}"
            lines.append(line)
        return "\n".join(lines)
    if isinstance(t, (Enum, Enum64)):
        enc = "SIGNED" if t.signed else "UNSIGNED"
        lines = [f"{head} encoding={enc} size={t.size} vlen={len(t.values)}"]
        suffix = ("LL" if t.signed else "ULL") if isinstance(t, Enum64) else ""
        for e in t.values:
            lines.append(f"\t{_q(e.name)} val={e.value}{suffix}")
        return "\n".join(lines)
    if isinstance(t, Fwd):
        return f"{head} fwd_kind={'union' if t.union else 'struct'}"
    if isinstance(t, Func):
        return f"{head} type_id={t.type} linkage={_FUNC_LINKAGE.get(t.linkage, 'UNKN')}"
    if isinstance(t, FuncProto):
        lines = [f"{head} ret_type_id={t.return_type} vlen={len(t.params)}"]
        for p in t.params:
            lines.append(f"\t{_q(p.name)} type_id={p.type}")
        return "\n".join(lines)
    if isinstance(t, Var):
        return f"{head} type_id={t.type}, linkage={_VAR_LINKAGE.get(t.linkage, 'UNKN')}"
    if isinstance(t, Datasec):
        lines = [f"{head} size={t.size} vlen={len(t.vars)}"]
        for v in t.vars:
            line = f"\ttype_id={v.type} offset={v.offset} size={v.size}"
            try:
                vt = btf[v.type]
                line += f" ({vt.kind.name} {_q(vt.name)})"
            except BTFError:
                pass
            lines.append(line)
        return "\n".join(lines)
    if isinstance(t, Float):
        return f"{head} size={t.size}"
    if isinstance(t, DeclTag):
        return f"{head} type_id={t.type} component_idx={t.component_idx}"
    return head


def dump_raw(btf: Btf, *, with_base: bool = False) -> str:
    """All types (of a split BTF: its own, or the base's too), one `format_raw` each."""
    return "".join(format_raw(btf, i) + "\n" for i, _ in btf.items(with_base=with_base))


# --- C declarations ------------------------------------------------------------------------------

BaseFn = Callable[[int, BtfType], str]

# The longest C declaration rendered (the kernel's longest function-pointer member is a
# few hundred characters). Every level of a declarator adds characters, so this bounds the
# work too: a chain of FUNC_PROTOs taking and returning the previous one doubles the
# declaration at each level, and would otherwise take exponential time.
MAX_DECL_LEN = 16384
# The longest struct/union definition rendered with its anonymous members inline.
MAX_DEF_LEN = 1 << 18


def _check_len(type_id: int, length: int) -> None:
    if length > MAX_DECL_LEN:
        raise BTFError(f"type [{type_id}]: C declaration longer than {MAX_DECL_LEN} characters")


def _plain_base(btf: Btf, type_id: int, t: BtfType) -> str:
    k = t.kind
    if k == BtfKind.UNKN:
        return "void"
    if isinstance(t, (Struct, Union_)):
        kw = "struct" if k == BtfKind.STRUCT else "union"
        return f"{kw} {t.name}" if t.name else f"{kw} (anon)"
    if isinstance(t, (Enum, Enum64)):
        return f"enum {t.name}" if t.name else "enum (anon)"
    if isinstance(t, Fwd):
        return f"{'union' if t.union else 'struct'} {t.name}"
    return t.name or f"({k.name.lower()} [{type_id}])"


def _decl(btf: Btf, type_id: int, inner: str, base: BaseFn, quals: list[str] | None = None,
          depth: int = 0) -> str:
    """The C declaration of `inner` (a name or a partial declarator) as `type_id`."""
    if depth > MAX_RESOLVE_DEPTH * 4:
        raise BTFError(f"type [{type_id}]: declarator too deep or a loop")
    _check_len(type_id, len(inner))
    quals = quals or []
    t = btf[type_id]
    k = t.kind
    if k in MODIFIERS:
        target = t.type  # type: ignore[union-attr]  # a modifier refers to a type
        nxt = btf[btf.skip_mods(target)] if target else None
        if isinstance(t, TypeTag):
            # a type tag follows what it tags: `int __attribute__((btf_type_tag("x"))) *p`
            word = f'__attribute__((btf_type_tag("{t.name}")))'
            if nxt is not None and nxt.kind == BtfKind.PTR:
                return _decl(btf, target, f"{word} {inner}".rstrip(), base, None, depth + 1)
            return _decl(btf, target, f"{word} {inner}".rstrip(), base, quals, depth + 1)
        word = k.name.lower()
        if nxt is not None and nxt.kind == BtfKind.PTR:
            return _decl(btf, target, f"{word} {inner}".rstrip(), base, None, depth + 1)
        return _decl(btf, target, inner, base, quals + [word], depth + 1)
    if isinstance(t, Ptr):
        return _decl(btf, t.type, f"*{inner}", base, None, depth + 1)
    if isinstance(t, Array):
        if inner.startswith("*"):
            inner = f"({inner})"
        return _decl(btf, t.type, f"{inner}[{t.nelems}]", base, quals, depth + 1)
    if isinstance(t, FuncProto):
        if inner.startswith("*"):
            inner = f"({inner})"
        params = _params(btf, t, base, depth)
        return _decl(btf, t.return_type, f"{inner}({params})", base, None, depth + 1)
    head = " ".join(quals + [base(type_id, t)])
    if not inner:
        return head
    return f"{head}{inner}" if inner.startswith("[") else f"{head} {inner}"


def _params(btf: Btf, t: FuncProto, base: BaseFn, depth: int) -> str:
    if not t.params:
        return "void"
    out, length = [], 0
    for i, p in enumerate(t.params):
        if i == len(t.params) - 1 and p.type == 0 and not p.name:
            out.append("...")
        else:
            out.append(_decl(btf, p.type, p.name, base, None, depth + 1))
            length += len(out[-1]) + 2
            _check_len(p.type, length)
    return ", ".join(out)


def type_decl(btf: Btf, type_id: int, name: str = "") -> str:
    """The C declaration of `name` as type `type_id`: `char b[4]`, `int (*fn)(void)`."""
    return _decl(btf, type_id, name, lambda i, t: _plain_base(btf, i, t))


def type_name(btf: Btf, type_id: int) -> str:
    """The C spelling of a type: `struct foo`, `const char *`, `int[4]`, `void`; a
    FUNC is its name, a VAR its name with `var`, a DATASEC `SEC(name)`."""
    t = btf[type_id]
    if isinstance(t, Func):
        return t.name
    if isinstance(t, Var):
        return f"var {t.name}"
    if isinstance(t, Datasec):
        return f"SEC({t.name})"
    if isinstance(t, DeclTag):
        return f"decl_tag {t.name}"
    return type_decl(btf, type_id)


# --- C definitions ------------------------------------------------------------------------------

class _CWriter:
    """Renders C definitions; anonymous structs/unions/enums are written inline."""

    def __init__(self, btf: Btf, names: dict[int, str] | None = None,
                 enumerator_names: dict[tuple[int, int], str] | None = None) -> None:
        self.btf = btf
        self.names = names or {}
        self.enumerator_names = enumerator_names or {}
        self.depth = 0

    def name(self, type_id: int, t: BtfType) -> str:
        return self.names.get(type_id, t.name)

    def base(self, type_id: int, t: BtfType, lvl: int) -> str:
        if isinstance(t, (Struct, Union_)) and not t.name:
            return self.composite(type_id, t, lvl)
        if isinstance(t, (Enum, Enum64)) and not t.name:
            return self.enum(type_id, t, lvl)
        if isinstance(t, (Struct, Union_, Enum, Enum64, Fwd, Typedef)):
            kw = {BtfKind.STRUCT: "struct ", BtfKind.UNION: "union ", BtfKind.ENUM: "enum ",
                  BtfKind.ENUM64: "enum ", BtfKind.TYPEDEF: ""}.get(t.kind)
            if isinstance(t, Fwd):
                kw = "union " if t.union else "struct "
            return f"{kw}{self.name(type_id, t)}"
        return _plain_base(self.btf, type_id, t)

    def decl(self, type_id: int, inner: str, lvl: int) -> str:
        return _decl(self.btf, type_id, inner, lambda i, t: self.base(i, t, lvl))

    def enum(self, type_id: int, t: Enum | Enum64, lvl: int) -> str:
        name = self.name(type_id, t)
        head = f"enum {name}" if name else "enum"
        if not t.values:
            return head
        pad = "\t" * (lvl + 1)
        suffix = ("LL" if t.signed else "ULL") if isinstance(t, Enum64) else ""
        body = "".join(f"\n{pad}{self.enumerator_names.get((type_id, i), e.name)} = "
                       f"{e.value}{suffix}," for i, e in enumerate(t.values))
        # a 1- or 2-byte enum (GCC's packed enums) keeps its size only when packed
        tail = " __attribute__((packed))" if t.size < 4 else ""
        return f"{head} {{{body}\n{chr(9) * lvl}}}{tail}"

    def composite(self, type_id: int, t: Struct | Union_, lvl: int) -> str:
        self.depth += 1
        if self.depth > MAX_RESOLVE_DEPTH:
            raise BTFError(f"type [{type_id}]: anonymous members nested too deep or a loop")
        try:
            text = self._composite(type_id, t, lvl)
        finally:
            self.depth -= 1
        if len(text) > MAX_DEF_LEN:  # anonymous members inline: a doubling chain
            raise BTFError(f"type [{type_id}]: C definition longer than {MAX_DEF_LEN} characters")
        return text

    def _composite(self, type_id: int, t: Struct | Union_, lvl: int) -> str:
        btf = self.btf
        kw = "struct" if isinstance(t, Struct) else "union"
        name = self.name(type_id, t)
        head = f"{kw} {name}" if name else kw
        packed = _is_packed(btf, t)
        pad = "\t" * (lvl + 1)
        lines: list[str] = []
        cur = 0  # end of the previous member, in bits
        for m in t.members:
            if isinstance(t, Struct):
                lines.extend(_padding(btf, cur, m.offset, m.type, m.bitfield_size, packed,
                                      pad))
            text = self.decl(m.type, m.name, lvl + 1)
            if m.bitfield_size:
                text += f": {m.bitfield_size}"
            lines.append(f"{pad}{text};")
            if isinstance(t, Struct):
                size = m.bitfield_size or _safe_size(btf, m.type) * 8
                cur = max(cur, m.offset + size)
        if isinstance(t, Struct):
            align = 8 if packed else _safe_align(btf, type_id) * 8
            natural = -(-cur // align) * align
            if t.size * 8 > natural:
                lines.extend(_fill(cur, t.size * 8, pad))
        body = "\n".join(lines)
        tail = " __attribute__((packed))" if packed else ""
        if not lines:
            return f"{head} {{}}{tail}"
        return f"{head} {{\n{body}\n{chr(9) * lvl}}}{tail}"


def _safe_size(btf: Btf, type_id: int) -> int:
    try:
        return btf.size_of(type_id)
    except BTFError:
        return 0


def _safe_align(btf: Btf, type_id: int) -> int:
    try:
        return max(btf.align_of(type_id), 1)
    except BTFError:
        return 1


def _is_packed(btf: Btf, t: Struct | Union_) -> bool:
    """Whether the layout needs __attribute__((packed)): a member below its natural
    alignment, or a size that is not a multiple of the alignment."""
    align = 1
    for m in t.members:
        a = _safe_align(btf, m.type)
        align = max(align, a)
        if not m.bitfield_size and m.offset % (a * 8):
            return True
    return bool(t.size % align)


# Gaps wider than this (in bits) become one char array instead of a run of bitfields.
_ARRAY_PAD_BITS = 512
_PAD_TYPES = ((8, "char"), (16, "short"), (32, "int"), (64, "long"))


def _fill(cur: int, end: int, pad: str) -> list[str]:
    """Unnamed bitfields that move the layout from bit `cur` to bit `end`: each stays in
    one 64-bit unit and uses the smallest type that holds it without crossing its own
    unit (unnamed bitfields do not change a struct's alignment on BPF/x86-64). A very
    wide gap is one `char __pad_<offset>[n]` array instead."""
    out = []
    while cur < end:
        if cur % 8 == 0 and end - cur > _ARRAY_PAD_BITS:
            n = (end - cur) // 8
            out.append(f"{pad}char __pad_{cur // 8}[{n}];")
            cur += n * 8
            continue
        n = min(64 - cur % 64, end - cur)
        name = next(name for bits, name in _PAD_TYPES
                    if n <= bits and cur // bits == (cur + n - 1) // bits)
        out.append(f"{pad}{name}: {n};")
        cur += n
    return out


def _padding(btf: Btf, cur: int, off: int, type_id: int, bitfield: int, packed: bool,
             pad: str) -> list[str]:
    """Explicit padding before a member at bit `off` when the compiler would otherwise
    place it at a different offset."""
    if off <= cur:
        return []
    if bitfield:
        unit = max(_safe_size(btf, type_id), 1) * 8
        if packed or cur // unit == (cur + bitfield - 1) // unit:
            natural = cur
        else:
            natural = -(-cur // unit) * unit
    else:
        align = 8 if packed else _safe_align(btf, type_id) * 8
        natural = -(-cur // align) * align
    if natural == off:
        return []
    return _fill(cur, off, pad)


def format_c(btf: Btf, type_id: int) -> str:
    """A C definition of one type: `struct foo {\\n\\tint a;\\n\\tchar b[4];\\n};` for
    composites and enums, `typedef ... name;`, a prototype for a FUNC, a declaration for
    a VAR, a commented listing for a DATASEC, the C spelling for anything else."""
    t = btf[type_id]
    w = _CWriter(btf)
    if isinstance(t, (Struct, Union_)):
        return w.composite(type_id, t, 0) + ";"
    if isinstance(t, (Enum, Enum64)):
        return w.enum(type_id, t, 0) + ";"
    if isinstance(t, Fwd):
        return f"{'union' if t.union else 'struct'} {t.name};"
    if isinstance(t, Typedef):
        return f"typedef {w.decl(t.type, t.name, 0)};"
    if isinstance(t, Func):
        proto = btf[t.type]
        kw = {FuncLinkage.STATIC: "static ", FuncLinkage.EXTERN: "extern "}.get(t.linkage, "")
        if isinstance(proto, FuncProto):
            return f"{kw}{w.decl(t.type, t.name, 0)};"
        return f"{kw}/* {t.name}: not a prototype */"
    if isinstance(t, Var):
        kw = {VarLinkage.STATIC: "static ", VarLinkage.EXTERN: "extern "}.get(t.linkage, "")
        return f"{kw}{w.decl(t.type, t.name, 0)};"
    if isinstance(t, Datasec):
        lines = [f"/* SEC(\"{t.name}\") size {t.size} */"]
        for v in t.vars:
            vt = btf[v.type]
            text = format_c(btf, v.type) if isinstance(vt, (Var, Func)) else type_name(btf,
                                                                                      v.type)
            lines.append(f"{text} /* offset {v.offset} size {v.size} */")
        return "\n".join(lines)
    if isinstance(t, DeclTag):
        return f'__attribute__((btf_decl_tag("{t.name}"))) /* on [{t.type}] ' \
               f'component {t.component_idx} */'
    return type_name(btf, type_id)


# --- a whole header -----------------------------------------------------------------------------

class _HeaderDumper:
    """Emits every named struct/union/enum/typedef (and unreferenced anonymous enums) so
    that each definition comes after what it needs by value; pointers only need a
    forward declaration. Names used twice by different types get `___N` suffixes."""

    def __init__(self, btf: Btf) -> None:
        self.btf = btf
        self.out: list[str] = []
        self.done: set[int] = set()
        self.declared: set[int] = set()
        self.busy: set[int] = set()
        # (type id, by value) of function prototypes and anonymous composites whose needs
        # are met: a chain of prototypes sharing one another is walked once, not 2^n times
        self.needs_met: set[tuple[int, bool]] = set()
        self.names: dict[int, str] = {}
        self.enumerators: dict[tuple[int, int], str] = {}
        self._assign_names()
        for type_id, t in btf.items(with_base=True):
            if isinstance(t, Typedef) and t.name in _BUILTIN_TYPEDEFS:
                self.done.add(type_id)  # the compiler defines it
        self.writer = _CWriter(btf, self.names, self.enumerators)

    def _assign_names(self) -> None:
        tags: dict[str, int] = {}
        idents: dict[str, int] = {}
        for type_id, t in self.btf.items(with_base=True):
            if not t.name:
                if isinstance(t, (Enum, Enum64)):
                    self._enumerators(type_id, t, idents)
                continue
            if isinstance(t, (Struct, Union_, Enum, Enum64)):
                space = tags
            elif isinstance(t, Typedef):
                space = idents
            else:
                continue
            n = space.get(t.name, 0) + 1
            space[t.name] = n
            if n > 1:
                self.names[type_id] = f"{t.name}___{n}"
            if isinstance(t, (Enum, Enum64)):
                self._enumerators(type_id, t, idents)

    def _enumerators(self, type_id: int, t: Enum | Enum64, idents: dict[str, int]) -> None:
        for i, e in enumerate(t.values):
            n = idents.get(e.name, 0) + 1
            idents[e.name] = n
            if n > 1:
                self.enumerators[(type_id, i)] = f"{e.name}___{n}"

    def need(self, type_id: int, by_value: bool, depth: int = 0) -> None:
        """Make sure what a use of `type_id` needs is emitted before the current type."""
        btf = self.btf
        for _ in range(MAX_RESOLVE_DEPTH * 4):
            t = btf[type_id]
            k = t.kind
            if k in MODIFIERS:
                type_id = t.type  # type: ignore[union-attr]  # a modifier refers to a type
                continue
            if isinstance(t, Array):
                type_id = t.type
                continue
            if isinstance(t, Ptr):
                by_value = False
                type_id = t.type
                continue
            break
        else:
            raise BTFError(f"type [{type_id}]: chain too long or a loop")
        if depth > MAX_RESOLVE_DEPTH * 4:
            raise BTFError(f"type [{type_id}]: nested too deep or a loop")
        if isinstance(t, (FuncProto, Struct, Union_)) and not t.name:
            if (type_id, by_value) in self.needs_met:
                return
        if isinstance(t, FuncProto):
            self.need(t.return_type, False, depth + 1)
            for p in t.params:
                self.need(p.type, False, depth + 1)
            self.needs_met.add((type_id, by_value))
        elif isinstance(t, Typedef):
            self.emit(type_id, depth + 1)
            if by_value:
                self.need(t.type, True, depth + 1)
        elif isinstance(t, (Struct, Union_)):
            if not t.name:
                for m in t.members:
                    self.need(m.type, True, depth + 1)
                self.needs_met.add((type_id, by_value))
            elif by_value:
                self.emit(type_id, depth + 1)
            elif type_id not in self.done and type_id not in self.declared:
                kw = "struct" if isinstance(t, Struct) else "union"
                self.out.append(f"{kw} {self.writer.name(type_id, t)};\n\n")
                self.declared.add(type_id)
        elif isinstance(t, (Enum, Enum64)):
            if t.name:
                self.emit(type_id, depth + 1)
        elif isinstance(t, Fwd):
            if type_id not in self.declared:
                kw = "union" if t.union else "struct"
                self.out.append(f"{kw} {self.writer.name(type_id, t)};\n\n")
                self.declared.add(type_id)

    def emit(self, type_id: int, depth: int = 0) -> None:
        """Emit the definition of named type `type_id` (after what it needs)."""
        if type_id in self.done:
            return
        t = self.btf[type_id]
        if type_id in self.busy:
            if isinstance(t, Typedef):
                return
            raise BTFError(f"type [{type_id}] {t.kind.name} {t.name!r} contains itself")
        self.busy.add(type_id)
        w = self.writer
        if isinstance(t, (Struct, Union_)):
            for m in t.members:
                self.need(m.type, True, depth + 1)
            text = w.composite(type_id, t, 0) + ";"
        elif isinstance(t, (Enum, Enum64)):
            text = w.enum(type_id, t, 0) + ";"
        elif isinstance(t, Typedef):
            self.need(t.type, False, depth + 1)
            # an anonymous struct/union/enum is written inline: its members by value
            inner = self.btf[self.btf.skip_mods(t.type)]
            if isinstance(inner, (Struct, Union_)) and not inner.name:
                for m in inner.members:
                    self.need(m.type, True, depth + 1)
            text = f"typedef {w.decl(t.type, w.name(type_id, t), 0)};"
        elif isinstance(t, Fwd):
            kw = "union" if t.union else "struct"
            text = f"{kw} {w.name(type_id, t)};"
        else:
            text = ""
        self.busy.discard(type_id)
        if type_id in self.done:
            return
        self.done.add(type_id)
        if text:
            self.out.append(text + "\n\n")

    def run(self) -> str:
        btf = self.btf
        referenced: set[int] = set()
        for _, t in btf.items(with_base=True):
            for ref in _refs(t):
                referenced.add(ref)
        for type_id, t in btf.items(with_base=True):
            if isinstance(t, (Struct, Union_, Typedef)) and t.name:
                self.emit(type_id)
            elif isinstance(t, (Enum, Enum64)) and (t.name or type_id not in referenced):
                self.emit(type_id)
        return "".join(self.out)


_BUILTIN_TYPEDEFS = frozenset({"__builtin_va_list"})


def _refs(t: BtfType) -> list[int]:
    if isinstance(t, (Struct, Union_)):
        return [m.type for m in t.members]
    if isinstance(t, FuncProto):
        return [t.return_type] + [p.type for p in t.params]
    if isinstance(t, Datasec):
        return [v.type for v in t.vars]
    ref = getattr(t, "type", None)
    return [ref] if isinstance(ref, int) else []


def dump_c(btf: Btf, *, guard: str = "__VMLINUX_H__",
           preserve_access_index: bool = True) -> str:
    """A C header defining every named type (with the base's, for split BTF), as
    `bpftool btf dump file X format c` does: compilable, each layout reproduced."""
    body = _HeaderDumper(btf).run()
    head = [f"#ifndef {guard}", f"#define {guard}", ""]
    tail = []
    if preserve_access_index:
        head += ["#ifndef BPF_NO_PRESERVE_ACCESS_INDEX",
                 "#pragma clang attribute push (__attribute__((preserve_access_index)), "
                 "apply_to = record)", "#endif", ""]
        tail += ["#ifndef BPF_NO_PRESERVE_ACCESS_INDEX", "#pragma clang attribute pop",
                 "#endif", ""]
    return "\n".join(head) + "\n" + body + "\n".join(tail) + f"#endif /* {guard} */\n"


def btf_type_json(t: Any) -> dict[str, Any]:
    """A BTF type as JSON-able data: its kind, name and fields (enums by name), as
    `pybpf btf dump --json` prints it."""

    def plain(v: Any) -> Any:
        if isinstance(v, enum.Enum):
            return v.name
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v

    out: dict[str, Any] = {"kind": t.kind.name, "name": getattr(t, "name", "")}
    body = plain(t)
    if isinstance(body, dict):
        out.update({k: v for k, v in body.items() if k != "name"})
    return out
