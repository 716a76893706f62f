"""Making a compiler's .BTF loadable by BPF_BTF_LOAD, as a loader must before loading an
object's programs and maps.

Clang leaves DATASEC sizes and the offsets of global variables at 0 (the ELF symbol
table has them) and describes extern symbols in ways the kernel's BTF checker refuses:
a FUNC with extern linkage ("Invalid func linkage"), VARs with extern linkage ("Linkage
not supported"), typeless `extern const void x __ksym` variables, a FUNC inside the
`.ksyms` DATASEC, prototype parameters without names ("Invalid arg#N"). This module
fixes those on a copy, keeping every type id, so .BTF.ext records stay valid:

* each DATASEC of an ELF section gets the section's size and its variables the offsets
  of their symbols (sorted by offset, as the kernel requires); variables and global
  functions whose symbol is hidden become static;
* `.kconfig` externs become allocated variables laid out like libbpf does (largest
  alignment first, then smallest size, then name), their offsets reported so the loader
  can build the `.kconfig` map value the same way;
* `.ksyms` externs become 4-byte int variables at consecutive offsets (FUNCs are
  replaced in the DATASEC by one dummy variable), their FUNCs get global linkage;
* every FUNC's prototype gets names for unnamed parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Collection, Mapping

from .blob import Btf
from .errors import BTFError
from .types import (
    Datasec, Func, FuncLinkage, FuncProto, Int, IntEncoding, Param, Var, VarLinkage,
    VarSecinfo,
)

__all__ = ["SanitizedBtf", "sanitize_for_kernel", "KCONFIG_SEC", "KSYMS_SEC"]

KCONFIG_SEC = ".kconfig"
KSYMS_SEC = ".ksyms"
DUMMY_KSYM = "dummy_ksym"


@dataclass
class SanitizedBtf:
    """The loadable copy and what the loader needs to know about the externs."""

    btf: Btf
    kconfig_offsets: dict[str, int] = field(default_factory=dict)
    kconfig_size: int = 0
    ksyms: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)


def _find_int(btf: Btf) -> int:
    for type_id, t in btf.items(with_base=True):
        if isinstance(t, Int) and t.size == 4 and t.bits == 32 and t.offset == 0:
            return type_id
    return btf.add(Int("int", 4, IntEncoding.SIGNED))


def _kconfig_layout(btf: Btf, sec: Datasec) -> tuple[dict[str, int], int]:
    """Offsets of the .kconfig externs: by alignment (largest first), size, name."""
    items = []
    for v in sec.vars:
        t = btf[v.type]
        if not isinstance(t, Var):
            raise BTFError(f"{KCONFIG_SEC}: [{v.type}] {t.kind.name} is not a variable")
        size = btf.size_of(t.type)
        align = btf.align_of(t.type)
        items.append((-align, size, t.name, align))
    items.sort()
    offsets: dict[str, int] = {}
    off = 0
    for _, size, name, align in items:
        off = -(-off // align) * align
        offsets[name] = off
        off += size
    return offsets, off


# a data symbol's offset by name, by (section, name), or either (Mapping's key is invariant)
SymbolOffsets = (Mapping[str, int] | Mapping[tuple[str, str], int]
                 | Mapping[str | tuple[str, str], int])


def _symbol(symbol_offsets: Mapping, sec: str, name: str) -> int | None:
    got = symbol_offsets.get((sec, name))
    if got is None:
        got = symbol_offsets.get(name)
    return got


def sanitize_for_kernel(btf: Btf, section_sizes: Mapping[str, int],
                        symbol_offsets: SymbolOffsets, *,
                        hidden_symbols: Collection[str] = (),
                        kconfig_offsets: Mapping[str, int] | None = None) -> SanitizedBtf:
    """A copy of a compiler's `btf` that BPF_BTF_LOAD accepts (see the module doc).

    `section_sizes` maps ELF section names to sizes; `symbol_offsets` maps a variable's
    symbol name (or a (section, name) pair, tried first) to its st_value; variables in
    `hidden_symbols` (STV_HIDDEN/INTERNAL) become static. `kconfig_offsets` overrides the
    .kconfig layout. BTFError names a DATASEC whose section or a variable whose symbol is
    missing."""
    out = btf.copy()
    res = SanitizedBtf(out)
    own = range(out.start_id, len(out))

    # prototypes of FUNCs need named parameters
    protos = {t.type for t in map(out.__getitem__, own) if isinstance(t, Func)}
    for pid in sorted(protos):
        if pid < out.start_id:
            continue
        p = out[pid]
        if not isinstance(p, FuncProto):
            raise BTFError(f"FUNC prototype [{pid}] is a {p.kind.name}")
        params = list(p.params)
        changed = False
        for i, a in enumerate(params):
            variadic = i == len(params) - 1 and a.type == 0
            if not a.name and not variadic:
                params[i] = Param(f"arg{i}", a.type)
                changed = True
        if changed:
            out[pid] = replace(p, params=tuple(params))
            res.changes.append(f"[{pid}] FUNC_PROTO: named unnamed parameters")

    for type_id in own:
        t = out[type_id]
        if isinstance(t, Func) and t.linkage == FuncLinkage.EXTERN:
            out[type_id] = replace(t, linkage=FuncLinkage.GLOBAL)
            res.changes.append(f"[{type_id}] FUNC {t.name}: extern -> global linkage")
        elif (isinstance(t, Func) and t.linkage == FuncLinkage.GLOBAL
              and t.name in hidden_symbols):
            # a hidden global subprogram is verified like a static one
            out[type_id] = replace(t, linkage=FuncLinkage.STATIC)
            res.changes.append(f"[{type_id}] FUNC {t.name}: hidden symbol -> static")

    int_id = 0
    dummy_id = 0
    for type_id in own:
        sec = out[type_id]
        if not isinstance(sec, Datasec):
            continue
        if sec.name == KSYMS_SEC:
            if not int_id:
                int_id = _find_int(out)
            new_vars = []
            for i, v in enumerate(sec.vars):
                vt = out[v.type]
                res.ksyms.append(vt.name)
                vid = v.type
                if isinstance(vt, Func):
                    if not dummy_id:
                        dummy_id = out.add(Var(DUMMY_KSYM, int_id, VarLinkage.GLOBAL))
                    vid = dummy_id
                elif isinstance(vt, Var):
                    out[v.type] = replace(vt, type=int_id, linkage=VarLinkage.GLOBAL)
                else:
                    raise BTFError(f"{KSYMS_SEC}: [{v.type}] {vt.kind.name} is not a "
                                   f"variable or function")
                new_vars.append(VarSecinfo(vid, 4 * i, 4))
            out[type_id] = replace(sec, size=4 * len(new_vars), vars=tuple(new_vars))
            res.changes.append(f"[{type_id}] DATASEC {KSYMS_SEC}: {len(new_vars)} externs "
                               f"as 4-byte variables")
            continue
        if sec.name == KCONFIG_SEC:
            if kconfig_offsets is not None:
                offsets = dict(kconfig_offsets)
                size = 0
                for v in sec.vars:
                    vt = out[v.type]
                    if vt.name not in offsets:
                        raise BTFError(f"{KCONFIG_SEC}: no offset given for {vt.name!r}")
                    size = max(size, offsets[vt.name] + v.size)
            else:
                offsets, size = _kconfig_layout(out, sec)
            new_vars = []
            for v in sec.vars:
                vt = out[v.type]
                if isinstance(vt, Var) and vt.linkage != VarLinkage.GLOBAL:
                    out[v.type] = replace(vt, linkage=VarLinkage.GLOBAL)
                new_vars.append(replace(v, offset=offsets[vt.name]))
            new_vars.sort(key=lambda v: v.offset)
            out[type_id] = replace(sec, size=size, vars=tuple(new_vars))
            res.kconfig_offsets = offsets
            res.kconfig_size = size
            res.changes.append(f"[{type_id}] DATASEC {KCONFIG_SEC}: {len(new_vars)} externs "
                               f"laid out in {size} bytes")
            continue
        size = sec.size
        fix_offsets = size == 0
        if fix_offsets:
            if sec.name not in section_sizes:
                raise BTFError(f"DATASEC [{type_id}] {sec.name!r}: no ELF section of that "
                               f"name to take the size from")
            size = section_sizes[sec.name]
            if size <= 0:
                raise BTFError(f"DATASEC [{type_id}] {sec.name!r}: ELF section is empty")
        new_vars = []
        for v in sec.vars:
            vt = out[v.type]
            if not isinstance(vt, Var):
                raise BTFError(f"DATASEC [{type_id}] {sec.name!r}: [{v.type}] "
                               f"{vt.kind.name} is not a variable")
            off = v.offset
            if vt.linkage == VarLinkage.EXTERN:
                out[v.type] = vt = replace(vt, linkage=VarLinkage.GLOBAL)
            got = _symbol(symbol_offsets, sec.name, vt.name)
            if got is None and vt.linkage != VarLinkage.STATIC:
                raise BTFError(f"DATASEC [{type_id}] {sec.name!r}: no symbol for variable "
                               f"{vt.name!r}")
            if fix_offsets and got is not None:
                off = got
            if vt.name in hidden_symbols and vt.linkage != VarLinkage.STATIC:
                out[v.type] = replace(vt, linkage=VarLinkage.STATIC)
                res.changes.append(f"[{v.type}] VAR {vt.name}: hidden symbol -> static")
            new_vars.append(replace(v, offset=off))
        new_vars.sort(key=lambda v: v.offset)
        for v in new_vars:
            if v.offset + v.size > size:
                raise BTFError(f"DATASEC [{type_id}] {sec.name!r}: variable [{v.type}] at "
                               f"{v.offset} size {v.size} ends past the section ({size})")
        if size != sec.size or tuple(new_vars) != sec.vars:
            out[type_id] = replace(sec, size=size, vars=tuple(new_vars))
            res.changes.append(f"[{type_id}] DATASEC {sec.name}: size {size}, "
                               f"{len(new_vars)} variable offsets")
    return res
