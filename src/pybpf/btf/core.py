"""CO-RE (compile once, run everywhere) relocations.

A program's BTF (the *local* BTF) describes the types the program was compiled against;
each `CoreRelo` record says "instruction X encodes <kind> of local type T, accessed by
the path "0:1:2"". Relocating finds the same thing in the *target* BTF (the running
kernel's, by default) and computes the value the instruction must carry there:

* field relocations (byte offset, byte size, existence, signedness, the two shifts that
  extract a bitfield from a u64) follow the access path member by member, by name,
  looking through anonymous structs/unions and into arrays;
* type relocations (local/target id, existence, size, "matches") compare types;
* enum value relocations find an enumerator by name.

Candidates are target types of a compatible kind whose name equals the local one once
"flavor" suffixes (`task_struct___v2` -> `task_struct`) are dropped. When nothing matches,
the result says so: existence checks become 0, and a relocation that needs a real value
comes back `poison=True`, which `patch_insn` turns into a call to an invalid helper that
the verifier rejects only if the instruction is reachable (the libbpf convention).

The semantics follow the CO-RE definition shared by libbpf and the kernel
(tools/lib/bpf/relo_core.c); this is an independent implementation."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Iterable

from .blob import MAX_RESOLVE_DEPTH, Btf, load_file, load_vmlinux, parse
from .corepatch import POISON_HELPER_ID, patch_insn
from .errors import BTFError, CoreError, PatchError
from .ext import CoreRelo, CoreReloKind
from .types import (Array, BtfKind, Enum, Enum64, FuncProto, Fwd, Int, IntEncoding, Ptr, Struct,
                    Union_)

__all__ = ["CoreReloKind", "CoreRelo", "Accessor", "CoreSpec", "CoreResult", "CoreRelocator",
           "relocate", "patch_insn", "essential_name", "parse_spec", "types_are_compat",
           "types_match", "fields_are_compat", "POISON_HELPER_ID", "SPEC_MAX_LEN"]

SPEC_MAX_LEN = 64
_TYPES_DEPTH = 32



def essential_name(name: str) -> str:
    """`name` without its flavor suffix: the part before the last "___" that sits between
    two non-underscore characters (`foo___bar` -> `foo`, `foo____bar` unchanged)."""
    if "___" not in name:
        return name
    for i in range(len(name) - 5, -1, -1):
        if (name[i] != "_" and name[i + 1:i + 4] == "___" and name[i + 4] != "_"):
            return name[:i + 1]
    return name


def _kinds_compat(k1: BtfKind, k2: BtfKind) -> bool:
    if k1 == k2:
        return True
    enums = (BtfKind.ENUM, BtfKind.ENUM64)
    return k1 in enums and k2 in enums


def _is_composite(k: BtfKind) -> bool:
    return k in (BtfKind.STRUCT, BtfKind.UNION)


@dataclass(frozen=True)
class Accessor:
    """One step of a resolved access path: a named member of composite `type_id`
    (`name` set), or an array index / the root index into `type_id` (`name` None). For
    enum value relocations, the enumerator `idx` of enum `type_id`."""

    type_id: int
    idx: int
    name: str | None = None


@dataclass
class CoreSpec:
    """An access path resolved in one BTF: named accessors, the raw indexes (anonymous
    members included) and the bit offset of the accessed field from the root pointer."""

    btf: Btf
    root_type_id: int
    kind: CoreReloKind
    accessors: list[Accessor] = field(default_factory=list)
    raw: list[int] = field(default_factory=list)
    bit_offset: int = 0

    def describe(self) -> str:
        """A one-line description like `[11] struct task_struct.pid (0:3 @ offset 20)`."""
        from .dump import type_name
        head = f"[{self.root_type_id}] {type_name(self.btf, self.root_type_id)}"
        if self.kind.is_type:
            return head
        if self.kind.is_enumval:
            acc = self.accessors[0] if self.accessors else None
            return f"{head}::{acc.name if acc else '?'} ({':'.join(map(str, self.raw))})"
        path = "".join(f".{a.name}" if a.name else f"[{a.idx}]" for a in self.accessors[1:])
        raw = ":".join(map(str, self.raw))
        off = self.bit_offset // 8
        bits = f"+{self.bit_offset % 8} bits" if self.bit_offset % 8 else ""
        return f"{head}{path} ({raw} @ offset {off}{bits})"


@dataclass(frozen=True)
class CoreResult:
    """The outcome of one relocation. `orig_val` is what the compiler put in the
    instruction (from the local BTF), `new_val` what it must become. `poison` means the
    relocation could not be resolved (field, enum value or array element missing from
    the target; or an access whose size change cannot be applied): the instruction must
    be replaced by a poisoned call. `validate` says the instruction's current value must
    equal `orig_val` before patching. `orig_size`/`new_size` are the accessed memory sizes
    for loads/stores (0 when not a plain field offset), `fail_memsz_adjust` that they
    differ in a way a load/store cannot absorb."""

    kind: CoreReloKind
    orig_val: int
    new_val: int
    poison: bool = False
    validate: bool = True
    orig_size: int = 0
    new_size: int = 0
    fail_memsz_adjust: bool = False
    local_spec: str = ""
    target_spec: str = ""
    target_type_id: int = 0
    candidates: tuple[int, ...] = ()

    @property
    def found(self) -> bool:
        """Whether the relocated thing exists in the target."""
        return bool(self.candidates)


# --- access specs ------------------------------------------------------------------------------

def parse_spec(btf: Btf, type_id: int, access: str, kind: CoreReloKind) -> CoreSpec:
    """Resolve an access string ("0:1:2") against the local BTF."""
    kind = CoreReloKind(kind)
    parts = access.split(":")
    raw: list[int] = []
    for p in parts:
        if not p.isdigit() or not p.isascii():
            raise CoreError(f"relocation for [{type_id}]: bad access string {access!r}")
        raw.append(int(p))
    if len(raw) > SPEC_MAX_LEN:
        raise CoreError(f"relocation for [{type_id}]: access string {access!r} is longer "
                        f"than {SPEC_MAX_LEN}")
    spec = CoreSpec(btf, type_id, kind, raw=list(raw))
    if kind.is_type:
        if raw != [0]:
            raise CoreError(f"type relocation for [{type_id}] needs access string '0', "
                            f"got {access!r}")
        return spec
    try:
        tid = btf.resolve(type_id)
        t = btf[tid]
        idx = raw[0]
        if kind.is_enumval:
            if not isinstance(t, (Enum, Enum64)):
                raise CoreError(f"enum value relocation for [{type_id}] {t.kind.name}: not "
                                f"an enum")
            if idx >= len(t.values):
                raise CoreError(f"enum value relocation for [{type_id}]: enumerator {idx} "
                                f"out of range ({len(t.values)} values)")
            spec.accessors.append(Accessor(tid, idx, t.values[idx].name))
            return spec
        if not kind.is_field:
            raise CoreError(f"unknown relocation kind {kind}")
        spec.accessors.append(Accessor(tid, idx, None))
        spec.bit_offset = idx * btf.size_of(tid) * 8
        for idx in raw[1:]:
            tid = btf.resolve(tid)
            t = btf[tid]
            if isinstance(t, (Struct, Union_)):
                if idx >= len(t.members):
                    raise CoreError(f"relocation for [{type_id}] {access!r}: member {idx} of "
                                    f"[{tid}] out of range ({len(t.members)} members)")
                m = t.members[idx]
                spec.bit_offset += m.offset
                if m.name:
                    spec.accessors.append(Accessor(tid, idx, m.name))
                tid = m.type
            elif isinstance(t, Array):
                elem = btf.resolve(t.type)
                if not _is_flex(btf, spec.accessors[-1], t) and idx >= t.nelems:
                    raise CoreError(f"relocation for [{type_id}] {access!r}: index {idx} out "
                                    f"of array [{tid}] bounds ({t.nelems})")
                spec.accessors.append(Accessor(elem, idx, None))
                spec.bit_offset += idx * btf.size_of(elem) * 8
                tid = elem
            else:
                raise CoreError(f"relocation for [{type_id}] {access!r}: cannot index into "
                                f"[{tid}] {t.kind.name}")
    except CoreError:
        raise
    except BTFError as e:
        raise CoreError(f"relocation for [{type_id}] {access!r}: {e}") from None
    return spec


def _is_flex(btf: Btf, acc: Accessor, arr: Array) -> bool:
    """A zero-length array that is the last member of the struct `acc` names."""
    if acc.name is None or arr.nelems > 0:
        return False
    t = btf[acc.type_id]
    return isinstance(t, (Struct, Union_)) and acc.idx == len(t.members) - 1


# --- compatibility -----------------------------------------------------------------------------

def _names_match(n1: str, n2: str) -> bool:
    if not n1 or not n2:
        return True
    return essential_name(n1) == essential_name(n2)


def _int_offset_zero(t: Int) -> bool:
    return t.offset == 0


def fields_are_compat(local: Btf, local_id: int, targ: Btf, targ_id: int) -> bool:
    """Whether a local field's type can stand for the target field's: composites always,
    same-kind scalars (ints of any size, pointers, floats), enums/fwds of the same
    essential name, arrays of compatible elements."""
    for _ in range(MAX_RESOLVE_DEPTH):
        local_id = local.resolve(local_id)
        targ_id = targ.resolve(targ_id)
        lt, tt = local[local_id], targ[targ_id]
        if _is_composite(lt.kind) and _is_composite(tt.kind):
            return True
        if not _kinds_compat(lt.kind, tt.kind):
            return False
        k = lt.kind
        if k in (BtfKind.PTR, BtfKind.FLOAT):
            return True
        if k in (BtfKind.FWD, BtfKind.ENUM, BtfKind.ENUM64):
            a, b = essential_name(lt.name), essential_name(tt.name)
            return not a or not b or a == b
        if k == BtfKind.INT:
            assert isinstance(lt, Int) and isinstance(tt, Int)  # the kind is the class's
            return lt.offset == 0 and tt.offset == 0
        if k == BtfKind.ARRAY:
            assert isinstance(lt, Array) and isinstance(tt, Array)
            local_id, targ_id = lt.type, tt.type
            continue
        return False
    raise CoreError(f"field compatibility of [{local_id}] and [{targ_id}]: too deep")


def types_are_compat(local: Btf, local_id: int, targ: Btf, targ_id: int,
                     level: int = _TYPES_DEPTH) -> bool:
    """CO-RE type compatibility (TYPE_EXISTS/TYPE_SIZE/TYPE_ID_TARGET): same kind after
    typedefs; composites, enums and fwds by name only; ints without bit offsets;
    pointers/arrays recursively; prototypes by arity, params and return type."""
    if not _kinds_compat(local[local_id].kind, targ[targ_id].kind):
        return False
    for _ in range(_TYPES_DEPTH):
        local_id = local.resolve(local_id)
        targ_id = targ.resolve(targ_id)
        lt, tt = local[local_id], targ[targ_id]
        if not _kinds_compat(lt.kind, tt.kind):
            return False
        k = lt.kind
        if k in (BtfKind.UNKN, BtfKind.STRUCT, BtfKind.UNION, BtfKind.ENUM, BtfKind.FWD,
                 BtfKind.ENUM64):
            return True
        if k == BtfKind.INT:
            assert isinstance(lt, Int) and isinstance(tt, Int)  # the kind is the class's
            return lt.offset == 0 and tt.offset == 0
        if k in (BtfKind.PTR, BtfKind.ARRAY):
            assert isinstance(lt, (Ptr, Array)) and isinstance(tt, (Ptr, Array))
            local_id, targ_id = lt.type, tt.type
            continue
        if k == BtfKind.FUNC_PROTO:
            assert isinstance(lt, FuncProto) and isinstance(tt, FuncProto)
            lp, tp = lt.params, tt.params
            if len(lp) != len(tp):
                return False
            for a, b in zip(lp, tp):
                if level <= 0:
                    raise CoreError("type compatibility: prototypes nested too deep")
                if not types_are_compat(local, local.resolve(a.type), targ,
                                        targ.resolve(b.type), level - 1):
                    return False
            local_id, targ_id = lt.return_type, tt.return_type
            continue
        return False
    raise CoreError(f"type compatibility of [{local_id}] and [{targ_id}]: too deep or a loop")


def _enums_match(local: Btf, lt: Enum | Enum64, targ: Btf, tt: Enum | Enum64) -> bool:
    if lt.size != tt.size or len(lt.values) > len(tt.values):
        return False
    for lv in lt.values:
        if not any(_names_match(lv.name, tv.name) for tv in tt.values):
            return False
    return True


def types_match(local: Btf, local_id: int, targ: Btf, targ_id: int,
                behind_ptr: bool = False, level: int = _TYPES_DEPTH) -> bool:
    """CO-RE TYPE_MATCHES: a stricter, shape-level comparison. Names must match (ignoring
    flavors; anonymous matches anything); every local member/enumerator must have a
    matching one in the target; ints must agree in size and signedness; arrays in
    length. Behind a pointer, a struct matches a forward declaration of it."""
    if level <= 0:
        raise CoreError("type match: nesting too deep")
    for _ in range(_TYPES_DEPTH):
        local_id = local.resolve(local_id)
        targ_id = targ.resolve(targ_id)
        lt, tt = local[local_id], targ[targ_id]
        if not _names_match(lt.name, tt.name):
            return False
        lk, tk = lt.kind, tt.kind
        if lk == BtfKind.UNKN:
            return tk == BtfKind.UNKN
        if lk == BtfKind.FWD:
            assert isinstance(lt, Fwd)  # the kind is the class's
            lu = lt.union
            if behind_ptr:
                if isinstance(tt, Fwd):
                    return lu == tt.union
                return (tk == BtfKind.STRUCT and not lu) or (tk == BtfKind.UNION and lu)
            return isinstance(tt, Fwd) and lu == tt.union
        if lk in (BtfKind.ENUM, BtfKind.ENUM64):
            if tk not in (BtfKind.ENUM, BtfKind.ENUM64):
                return False
            assert isinstance(lt, (Enum, Enum64)) and isinstance(tt, (Enum, Enum64))
            return _enums_match(local, lt, targ, tt)
        if lk in (BtfKind.STRUCT, BtfKind.UNION):
            if behind_ptr:
                if lk == tk:
                    return True
                if not isinstance(tt, Fwd):
                    return False
                return (lk == BtfKind.UNION) == tt.union
            if lk != tk:
                return False
            assert isinstance(lt, (Struct, Union_)) and isinstance(tt, (Struct, Union_))
            lm, tm = lt.members, tt.members
            if len(lm) > len(tm):
                return False
            for m in lm:
                for n in tm:
                    if not _names_match(m.name, n.name):
                        continue
                    if types_match(local, m.type, targ, n.type, behind_ptr, level - 1):
                        break
                else:
                    return False
            return True
        if lk == BtfKind.INT:
            if not isinstance(tt, Int):
                return False
            assert isinstance(lt, Int)  # the kind is the class's
            return (lt.size == tt.size
                    and bool(lt.encoding & IntEncoding.SIGNED)
                    == bool(tt.encoding & IntEncoding.SIGNED))
        if lk == BtfKind.PTR:
            if not isinstance(tt, Ptr):
                return False
            assert isinstance(lt, Ptr)
            behind_ptr = True
            local_id, targ_id = lt.type, tt.type
            continue
        if lk == BtfKind.ARRAY:
            if not isinstance(tt, Array):
                return False
            assert isinstance(lt, Array)
            if lt.nelems != tt.nelems:
                return False
            local_id, targ_id = lt.type, tt.type
            continue
        if lk == BtfKind.FUNC_PROTO:
            if not isinstance(tt, FuncProto):
                return False
            assert isinstance(lt, FuncProto)
            lp, tp = lt.params, tt.params
            if len(lp) != len(tp):
                return False
            for a, b in zip(lp, tp):
                if not types_match(local, a.type, targ, b.type, behind_ptr, level - 1):
                    return False
            local_id, targ_id = lt.return_type, tt.return_type
            continue
        return False
    raise CoreError(f"type match of [{local_id}] and [{targ_id}]: too deep or a loop")


# --- matching a spec in a candidate -----------------------------------------------------------

_MISMATCH = -1


def _match_member(local: Btf, lacc: Accessor, targ: Btf, targ_id: int, spec: CoreSpec,
                  depth: int = 0) -> int | None:
    """Find local member `lacc` in target composite `targ_id`, descending into anonymous
    members. Pushes onto `spec`; returns the matched member's type id, None when there is
    no member of that name, _MISMATCH when there is one but of an incompatible type."""
    if depth > MAX_RESOLVE_DEPTH:
        raise CoreError(f"member search in [{targ_id}]: anonymous members nested too deep")
    lt = local[lacc.type_id]
    lm = lt.members[lacc.idx]  # type: ignore[union-attr]  # a named member's parent: composite
    targ_id = targ.resolve(targ_id)
    tt = targ[targ_id]
    if not isinstance(tt, (Struct, Union_)):
        return None
    for i, m in enumerate(tt.members):
        if len(spec.raw) >= SPEC_MAX_LEN:
            raise CoreError(f"member search in [{targ_id}]: access path too long")
        spec.bit_offset += m.offset
        spec.raw.append(i)
        if not m.name:
            found = _match_member(local, lacc, targ, m.type, spec, depth + 1)
            if found is not None:
                return found
        elif m.name == lm.name:
            if not fields_are_compat(local, lm.type, targ, m.type):
                return _MISMATCH
            spec.accessors.append(Accessor(targ_id, i, m.name))
            return m.type
        spec.bit_offset -= m.offset
        spec.raw.pop()
    return None


def _spec_match(lspec: CoreSpec, targ: Btf, targ_id: int) -> CoreSpec | None:
    """The local spec resolved in candidate `targ_id`, or None when it does not match."""
    local = lspec.btf
    tspec = CoreSpec(targ, targ_id, lspec.kind)
    kind = lspec.kind
    if kind.is_type:
        if kind == CoreReloKind.TYPE_MATCHES:
            ok = types_match(local, lspec.root_type_id, targ, targ_id)
        else:
            ok = types_are_compat(local, lspec.root_type_id, targ, targ_id)
        return tspec if ok else None
    lacc0 = lspec.accessors[0]
    if kind.is_enumval:
        tid = targ.resolve(targ_id)
        tt = targ[tid]
        if not isinstance(tt, (Enum, Enum64)):
            return None
        want = essential_name(lacc0.name or "")
        for i, e in enumerate(tt.values):
            if essential_name(e.name) == want:
                tspec.accessors.append(Accessor(tid, i, e.name))
                tspec.raw.append(i)
                return tspec
        return None
    tid = targ_id
    for i, lacc in enumerate(lspec.accessors):
        tid = targ.resolve(tid)
        tt = targ[tid]
        if lacc.name is not None:
            found = _match_member(local, lacc, targ, tid, tspec)
            if found is None or found == _MISMATCH:
                return None
            tid = found
            continue
        if i > 0:
            if not isinstance(tt, Array):
                return None
            if not _is_flex(targ, tspec.accessors[-1], tt) and lacc.idx >= tt.nelems:
                return None
            tid = targ.resolve(tt.type)
        if len(tspec.raw) >= SPEC_MAX_LEN:
            raise CoreError("target access path too long")
        tspec.accessors.append(Accessor(tid, lacc.idx, None))
        tspec.raw.append(lacc.idx)
        tspec.bit_offset += lacc.idx * targ.size_of(tid) * 8
    return tspec


# --- computing values --------------------------------------------------------------------------

@dataclass
class _FieldVal:
    val: int = 0
    size: int = 0
    type_id: int = 0
    validate: bool = True
    poison: bool = False


def _calc_field(kind: CoreReloKind, spec: CoreSpec | None) -> _FieldVal:
    out = _FieldVal()
    if kind == CoreReloKind.FIELD_EXISTS:
        out.val = 1 if spec is not None else 0
        return out
    if spec is None:
        out.poison = True
        return out
    btf = spec.btf
    acc = spec.accessors[-1]
    if acc.name is None:
        # a[n] (or the root) accessor: only its offset and size make sense
        size = btf.size_of(acc.type_id)
        if kind == CoreReloKind.FIELD_BYTE_OFFSET:
            out.val = spec.bit_offset // 8
            out.size = size
            out.type_id = acc.type_id
        elif kind == CoreReloKind.FIELD_BYTE_SIZE:
            out.val = size
        else:
            raise CoreError(f"{kind.name} relocation cannot apply to an array element or "
                            f"root access ({spec.describe()})")
        return out
    t = btf[acc.type_id]
    m = t.members[acc.idx]  # type: ignore[union-attr]  # a field accessor's parent: composite
    field_id = btf.resolve(m.type)
    mt = btf[field_id]
    bit_off = spec.bit_offset
    bit_sz = m.bitfield_size
    bitfield = bit_sz > 0
    if bitfield:
        byte_sz = getattr(mt, "size", 0)
        if byte_sz <= 0 or mt.kind not in (BtfKind.INT, BtfKind.ENUM, BtfKind.ENUM64):
            raise CoreError(f"bitfield {m.name!r} of [{acc.type_id}] has type [{field_id}] "
                            f"{mt.kind.name} without an integer size")
        byte_off = bit_off // 8 // byte_sz * byte_sz
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8:
            if byte_sz >= 8:
                raise CoreError(f"bitfield {m.name!r} ({spec.describe()}) cannot be read "
                                f"with a 64-bit load")
            byte_sz *= 2
            byte_off = bit_off // 8 // byte_sz * byte_sz
    else:
        byte_sz = btf.size_of(field_id)
        byte_off = bit_off // 8
        bit_sz = byte_sz * 8
    # bitfield offsets/shifts depend on how the compiler loaded the field: not checkable
    out.validate = not bitfield
    if kind == CoreReloKind.FIELD_BYTE_OFFSET:
        out.val = byte_off
        if not bitfield:
            out.size = byte_sz
            out.type_id = field_id
    elif kind == CoreReloKind.FIELD_BYTE_SIZE:
        out.val = byte_sz
    elif kind == CoreReloKind.FIELD_SIGNED:
        signed = ((isinstance(mt, (Enum, Enum64)) and mt.signed)
                  or (isinstance(mt, Int) and mt.signed))
        out.val = int(signed)
        out.validate = True
    elif kind == CoreReloKind.FIELD_LSHIFT_U64:
        out.val = 64 - (bit_off + bit_sz - byte_off * 8)  # little-endian layout
    elif kind == CoreReloKind.FIELD_RSHIFT_U64:
        out.val = 64 - bit_sz
        out.validate = True
    else:
        raise CoreError(f"{kind.name} is not a field relocation")
    return out


def _calc_type(kind: CoreReloKind, spec: CoreSpec | None) -> int:
    if spec is None:
        return 0
    if kind == CoreReloKind.TYPE_ID_TARGET:
        return spec.root_type_id
    if kind in (CoreReloKind.TYPE_EXISTS, CoreReloKind.TYPE_MATCHES):
        return 1
    if kind == CoreReloKind.TYPE_SIZE:
        return spec.btf.size_of(spec.root_type_id)
    raise CoreError(f"{kind.name} is not a type relocation")


def _calc_enumval(kind: CoreReloKind, spec: CoreSpec | None) -> tuple[int, bool]:
    if kind == CoreReloKind.ENUMVAL_EXISTS:
        return (1 if spec is not None else 0), False
    if spec is None:
        return 0, True
    acc = spec.accessors[0]
    t = spec.btf[acc.type_id]
    v = t.values[acc.idx].value  # type: ignore[union-attr]  # an enumval spec's type: an enum
    if isinstance(t, Enum):
        # a 32-bit enumerator is a signed 32-bit value, widened to 64 bits
        v &= 0xFFFFFFFF
        if v & 0x80000000:
            v -= 1 << 32
    return v & 0xFFFFFFFFFFFFFFFF, False


def _calc(kind: CoreReloKind, lspec: CoreSpec, tspec: CoreSpec | None) -> CoreResult:
    desc_l = lspec.describe()
    desc_t = tspec.describe() if tspec is not None else ""
    targ_id = tspec.root_type_id if tspec is not None else 0
    if kind.is_field:
        lo = _calc_field(kind, lspec)
        if lo.poison:  # pragma: no cover - the local spec always exists
            raise CoreError(f"local spec of {desc_l} does not resolve")
        tv = _calc_field(kind, tspec)
        fail = False
        if not tv.poison and lo.size != tv.size and tspec is not None:
            ot = lspec.btf[lo.type_id]
            nt = tspec.btf[tv.type_id]
            both_ptr = ot.kind == BtfKind.PTR and nt.kind == BtfKind.PTR
            both_unsigned = (isinstance(ot, Int) and isinstance(nt, Int)
                             and ot.encoding != IntEncoding.SIGNED
                             and nt.encoding != IntEncoding.SIGNED)
            fail = not (both_ptr or both_unsigned)
        return CoreResult(kind, lo.val, tv.val, poison=tv.poison, validate=lo.validate,
                          orig_size=lo.size, new_size=tv.size, fail_memsz_adjust=fail,
                          local_spec=desc_l, target_spec=desc_t, target_type_id=targ_id)
    if kind.is_type:
        return CoreResult(kind, _calc_type(kind, lspec), _calc_type(kind, tspec),
                          validate=kind != CoreReloKind.TYPE_ID_TARGET, local_spec=desc_l,
                          target_spec=desc_t, target_type_id=targ_id)
    lv, _ = _calc_enumval(kind, lspec)
    tv2, poison = _calc_enumval(kind, tspec)
    return CoreResult(kind, lv, tv2, poison=poison, local_spec=desc_l, target_spec=desc_t,
                      target_type_id=targ_id)


# --- the relocator -----------------------------------------------------------------------------

class CoreRelocator:
    """Resolves CO-RE relocations of one local BTF against one target BTF (the running
    kernel's when none is given), caching the target's name index and the candidates
    of each local type."""

    def __init__(self, local: Btf,
                 target: Btf | bytes | str | os.PathLike[str] | None = None) -> None:
        """`target`: a parsed Btf, a raw blob, a path to a raw BTF file, or None for
        /sys/kernel/btf/vmlinux."""
        self.local = local
        if target is None:
            self.target = load_vmlinux()
        elif isinstance(target, Btf):
            self.target = target
        elif isinstance(target, (bytes, bytearray, memoryview)):
            self.target = parse(target, lazy=True)
        else:
            self.target = load_file(target)
        self._by_essential: dict[str, list[int]] | None = None
        self._cands: dict[int, list[int]] = {}

    def _index(self) -> dict[str, list[int]]:
        if self._by_essential is None:
            index: dict[str, list[int]] = {}
            chain = []
            b: Btf | None = self.target
            while b is not None:
                chain.append(b)
                b = b.base
            for btf in reversed(chain):
                for name, ids in btf.names().items():
                    index.setdefault(essential_name(name), []).extend(ids)
            self._by_essential = index
        return self._by_essential

    def candidates(self, local_id: int) -> list[int]:
        """Target ids whose kind is compatible with local type `local_id` and whose name
        equals its name minus flavor suffixes (in id order)."""
        cached = self._cands.get(local_id)
        if cached is not None:
            return cached
        lt = self.local[local_id]
        if not lt.name:
            raise CoreError(f"CO-RE relocation of anonymous type [{local_id}] "
                            f"{lt.kind.name}: candidates are found by name")
        want = essential_name(lt.name)
        out = [i for i in self._index().get(want, ())
               if _kinds_compat(self.target._kind_of(i), lt.kind)]
        out.sort()
        self._cands[local_id] = out
        return out

    def relocate(self, relo: CoreRelo) -> CoreResult:
        """Compute one relocation (see CoreResult). CoreError when the record itself is
        bad or the candidates disagree."""
        kind = CoreReloKind(relo.kind)
        try:
            self.local[relo.type_id]
        except BTFError as e:
            raise CoreError(f"relocation at insn offset {relo.insn_off}: {e}") from None
        lspec = parse_spec(self.local, relo.type_id, relo.access, kind)
        if kind == CoreReloKind.TYPE_ID_LOCAL:
            return CoreResult(kind, relo.type_id, relo.type_id, validate=False,
                              local_spec=lspec.describe(), target_type_id=relo.type_id,
                              candidates=(relo.type_id,))
        chosen: CoreResult | None = None
        chosen_spec: CoreSpec | None = None
        matched: list[int] = []
        try:
            for cand in self.candidates(relo.type_id):
                tspec = _spec_match(lspec, self.target, cand)
                if tspec is None:
                    continue
                res = _calc(kind, lspec, tspec)
                if chosen is None or chosen_spec is None:
                    chosen, chosen_spec = res, tspec
                elif tspec.bit_offset != chosen_spec.bit_offset:
                    raise CoreError(f"{lspec.describe()}: field offset ambiguity between "
                                    f"candidates [{chosen.target_type_id}] and [{cand}]: "
                                    f"{chosen_spec.bit_offset // 8} != {tspec.bit_offset // 8}")
                elif res.poison != chosen.poison or res.new_val != chosen.new_val:
                    raise CoreError(f"{lspec.describe()}: candidates [{chosen.target_type_id}]"
                                    f" and [{cand}] give different results: {chosen.new_val} "
                                    f"!= {res.new_val}")
                matched.append(cand)
            if chosen is None:
                return _calc(kind, lspec, None)
        except CoreError:
            raise
        except BTFError as e:
            raise CoreError(f"{lspec.describe()}: {e}") from None
        return dataclasses.replace(chosen, candidates=tuple(matched))

    def apply(self, code: bytearray, relos: Iterable[CoreRelo], *,
              insn_off_base: int = 0) -> list[CoreResult]:
        """Relocate and patch each record into `code` (one program's instructions); a
        record's instruction is at (insn_off - insn_off_base) // 8."""
        results = []
        for relo in relos:
            res = self.relocate(relo)
            off = relo.insn_off - insn_off_base
            if off % 8 or off < 0:
                raise PatchError(off // 8, f"relocation offset {relo.insn_off} is not an "
                                 f"instruction boundary of this program")
            patch_insn(code, off // 8, res)
            results.append(res)
        return results


def relocate(local: Btf, relo: CoreRelo,
             target: Btf | bytes | str | os.PathLike[str] | None = None) -> CoreResult:
    """One relocation (a CoreRelocator for repeated use keeps the target's index)."""
    return CoreRelocator(local, target).relocate(relo)
