"""The fixed part of every native module: region lookup with bounds checks, the
load/store functions every memory access calls (inlined), and the callback type.

A lookup first tries the region that matched last (st[LAST]), then scans the table;
an address in no native region, past its region's end or a store to a read-only
region falls back to Python (Op.LOAD / Op.STORE), which either serves it (a context
region with rewritten fields) or raises the interpreter's MemoryAccessError."""

from __future__ import annotations

from ..isa import MAX_BPF_STACK
from .layout import ENTRY_WORDS, FLAG_WRITABLE, Op, Slot

CALLBACK_TYPE = "i64 (ptr, i64, i64, i64, i64, i64)"
_IT = {1: "i8", 2: "i16", 4: "i32", 8: "i64"}


def _slot(name: str, slot: Slot) -> str:
    return f"  {name} = getelementptr i64, ptr %st, i64 {int(slot)}\n"


def _lookup() -> str:
    """@lookup_slow: scan the table for the address's segment; the matching entry
    becomes st[LAST]. Returns the host pointer, or null."""
    w = ENTRY_WORDS
    return (
        "define internal ptr @lookup_slow(ptr %st, i64 %a, i64 %size, i64 %w) noinline {\n"
        "entry:\n" + _slot("%tp", Slot.TABLE) + "  %tbl = load ptr, ptr %tp\n"
        + _slot("%cp", Slot.COUNT) + "  %cnt = load i64, ptr %cp\n"
        "  %seg = lshr i64 %a, 32\n  br label %loop\n"
        "loop:\n  %i = phi i64 [0, %entry], [%i1, %next]\n"
        "  %done = icmp uge i64 %i, %cnt\n  br i1 %done, label %miss, label %body\n"
        f"body:\n  %e = mul i64 %i, {w}\n  %ep = getelementptr i64, ptr %tbl, i64 %e\n"
        "  %es = load i64, ptr %ep\n  %m = icmp eq i64 %es, %seg\n"
        "  br i1 %m, label %found, label %next\n"
        "next:\n  %i1 = add i64 %i, 1\n  br label %loop\n"
        "found:\n" + _slot("%lp", Slot.LAST) + "  store ptr %ep, ptr %lp\n"
        "  %p = call ptr @check(ptr %ep, i64 %a, i64 %size, i64 %w)\n  ret ptr %p\n"
        "miss:\n  ret ptr null\n}\n")


def _check() -> str:
    """@check: the host pointer for [a, a+size) in entry `e` (whose segment matched),
    or null when out of bounds or a store to a read-only region."""
    return (
        "define internal ptr @check(ptr %e, i64 %a, i64 %size, i64 %w) alwaysinline {\n"
        "  %bp = getelementptr i64, ptr %e, i64 1\n  %base = load i64, ptr %bp\n"
        "  %sp = getelementptr i64, ptr %e, i64 2\n  %rsize = load i64, ptr %sp\n"
        "  %hp = getelementptr i64, ptr %e, i64 3\n  %host = load i64, ptr %hp\n"
        "  %fp = getelementptr i64, ptr %e, i64 4\n  %flags = load i64, ptr %fp\n"
        "  %off = sub i64 %a, %base\n"
        "  %in1 = icmp ule i64 %off, %rsize\n"
        "  %rem = sub i64 %rsize, %off\n"
        "  %in2 = icmp uge i64 %rem, %size\n"
        f"  %fw = and i64 %flags, {FLAG_WRITABLE}\n"
        "  %deny = icmp ugt i64 %w, %fw\n"
        "  %in = and i1 %in1, %in2\n"
        "  %ndeny = xor i1 %deny, true\n"
        "  %ok = and i1 %in, %ndeny\n"
        "  %h = add i64 %host, %off\n"
        "  %hp2 = inttoptr i64 %h to ptr\n"
        "  %r = select i1 %ok, ptr %hp2, ptr null\n"
        "  ret ptr %r\n}\n")


def _lookup_fast() -> str:
    """@lookup: the last matching entry first (inlined), then @lookup_slow."""
    return (
        "define internal ptr @lookup(ptr %st, i64 %a, i64 %size, i64 %w) alwaysinline {\n"
        "entry:\n" + _slot("%lp", Slot.LAST) + "  %e = load ptr, ptr %lp\n"
        "  %es = load i64, ptr %e\n  %seg = lshr i64 %a, 32\n"
        "  %m = icmp eq i64 %es, %seg\n  br i1 %m, label %hit, label %slow\n"
        "hit:\n  %p = call ptr @check(ptr %e, i64 %a, i64 %size, i64 %w)\n"
        "  %ok = icmp ne ptr %p, null\n  br i1 %ok, label %done, label %slow\n"
        "done:\n  ret ptr %p\n"
        "slow:\n  %q = call ptr @lookup_slow(ptr %st, i64 %a, i64 %size, i64 %w)\n"
        "  ret ptr %q\n}\n")


def _callback_call(res: str, op: Op, a: str, b: str, c: str, pc: str) -> str:
    return (_slot("%cbp", Slot.CALLBACK) + "  %cb = load ptr, ptr %cbp\n"
            f"  {res} = call i64 %cb(ptr %st, i64 {int(op)}, i64 {a}, i64 {b}, i64 {c}, "
            f"i64 {pc})\n")


def _frame_or_lookup(size: int, write: int) -> str:
    """%p for [a, a+size): the current frame's stack first (lo = r10 - 512, sh = its host
    address: two instructions), then the region table; null when neither holds it."""
    return (
        f"entry:\n  %so = sub i64 %a, %lo\n  %ins = icmp ule i64 %so, {MAX_BPF_STACK - size}\n"
        "  br i1 %ins, label %stk, label %look\n"
        "stk:\n  %sp = getelementptr i8, ptr %sh, i64 %so\n  br label %have\n"
        f"look:\n  %p0 = call ptr @lookup(ptr %st, i64 %a, i64 {size}, i64 {write})\n"
        "  %ok = icmp ne ptr %p0, null\n  br i1 %ok, label %have, label %slow\n"
        "have:\n  %p = phi ptr [ %sp, %stk ], [ %p0, %look ]\n")


def _load_fn(size: int) -> str:
    t = _IT[size]
    ext = f"  %v = zext {t} %raw to i64\n" if size < 8 else ""
    val = "%v" if size < 8 else "%raw"
    return (
        f"define internal i64 @ld{size}(ptr %st, i64 %a, i64 %pc, ptr %fail, i64 %lo, "
        "ptr %sh) alwaysinline {\n" + _frame_or_lookup(size, 0)
        + f"  %raw = load {t}, ptr %p, align 1\n{ext}"
        f"  store i64 0, ptr %fail\n  ret i64 {val}\n"
        "slow:\n" + _callback_call("%r", Op.LOAD, "%a", str(size), "0", "%pc")
        + _slot("%stp", Slot.STATUS) + "  %s = load i64, ptr %stp\n"
        "  store i64 %s, ptr %fail\n  ret i64 %r\n}\n")


def _store_fn(size: int) -> str:
    t = _IT[size]
    tr = f"  %tv = trunc i64 %v to {t}\n" if size < 8 else ""
    val = "%tv" if size < 8 else "%v"
    return (
        f"define internal void @st{size}(ptr %st, i64 %a, i64 %v, i64 %pc, ptr %fail, "
        "i64 %lo, ptr %sh) alwaysinline {\n" + _frame_or_lookup(size, 1)
        + f"{tr}  store {t} {val}, ptr %p, align 1\n"
        "  store i64 0, ptr %fail\n  ret void\n"
        "slow:\n" + _callback_call("%r", Op.STORE, "%a", str(size), "%v", "%pc")
        + _slot("%stp", Slot.STATUS) + "  %s = load i64, ptr %stp\n"
        "  store i64 %s, ptr %fail\n  ret void\n}\n")


def runtime_ir() -> str:
    """Declarations and helper functions every module starts with."""
    parts = ["declare i16 @llvm.bswap.i16(i16)\n", "declare i32 @llvm.bswap.i32(i32)\n",
             "declare i64 @llvm.bswap.i64(i64)\n", _check(), _lookup(), _lookup_fast()]
    for size in (1, 2, 4, 8):
        parts.append(_load_fn(size))
        parts.append(_store_fn(size))
    return "".join(parts)
