"""The fixed part of every native module: the region table's bounds check in IR, the
out-of-line accessors big programs call, the slow path to Python and the alias
metadata.

The region table (pybpf.jit.layout) is indexed by segment: an address's entry is
table[table_index(a >> 32, shift, mult)], and its offset in the entry's region is a minus
the entry's base (an address below the region's start, or in another segment, gets a
huge offset, past any region). An access is native when offset + size <= the entry's limit (the read
limit, or the write limit: 0 for a read-only region or one with rewritten fields);
anything else goes to Python (Op.LOAD / Op.STORE), which either serves it or raises
the interpreter's MemoryAccessError."""

from __future__ import annotations

from ..isa import MAX_BPF_STACK
from .layout import TABLE_WORDS, Entry, Op, Slot

CALLBACK_TYPE = "i64 (ptr, i64, i64, i64, i64, i64)"
IT = {1: "i8", 2: "i16", 4: "i32", 8: "i64"}

# Alias scopes: BPF memory (stacks, packets, map values) never overlaps the state array,
# the region table or the frame arrays, so loads of the latter survive stores of the
# former (and move out of loops); their contents change only in callbacks (calls).
MEM = ", !alias.scope !3, !noalias !4"  # a load or store of BPF memory
META = ", !alias.scope !4, !noalias !3"  # a load of the state, table or frame arrays
INVARIANT = META + ", !invariant.load !5"  # the frame arrays: fixed for a whole run
# A load or store Python does touches BPF memory and st[STATUS], never the table or the
# frame arrays (only helpers and callx re-read the regions), so META loads survive it.
SLOW = ", !noalias !4"
_METADATA = """
!0 = distinct !{!0, !"bpf"}
!1 = distinct !{!1, !0, !"bpf memory"}
!2 = distinct !{!2, !0, !"runtime state"}
!3 = !{!1}
!4 = !{!2}
!5 = !{}
!6 = !{!"branch_weights", i32 1, i32 2000}
!7 = !{!"branch_weights", i32 2000, i32 1}
"""


def table_check(a: str, guess: str, size: int, write: bool,
                n: str) -> tuple[list[str], str, str]:
    """IR lines that check `a` against the region of `guess`'s segment (names prefixed
    `n`): returns (lines, i1 "native access allowed", host pointer valid when it is).
    `guess` is the pointer `a` was computed from (a loop-invariant base makes every
    table load loop-invariant); a wrong guess only sends the access to Python."""
    limit = int(Entry.WLIMIT if write else Entry.LIMIT)
    return ([
        f"{n}tp = getelementptr i64, ptr %st, i64 {int(Slot.TABLE)}",
        f"{n}t = load ptr, ptr {n}tp{META}",
        f"{n}cp = getelementptr i64, ptr %st, i64 {int(Slot.SHIFT)}",
        f"{n}c = load i64, ptr {n}cp{META}",
        f"{n}sg = lshr i64 {guess}, 32",
        f"{n}mp = getelementptr i64, ptr %st, i64 {int(Slot.MULT)}",
        f"{n}mu = load i64, ptr {n}mp{META}",
        f"{n}sm = mul i64 {n}sg, {n}mu",
        f"{n}ix = lshr i64 {n}sm, {n}c",
        f"{n}lp = getelementptr [{TABLE_WORDS} x i64], ptr {n}t, i64 {n}ix, i64 {limit}",
        f"{n}lim = load i64, ptr {n}lp{META}",
        f"{n}hp = getelementptr [{TABLE_WORDS} x i64], ptr {n}t, i64 {n}ix, "
        f"i64 {int(Entry.HOST)}",
        f"{n}h = load ptr, ptr {n}hp{META}",
        # x: the offset into the entry's region (huge when a is below or in another one)
        f"{n}bp = getelementptr [{TABLE_WORDS} x i64], ptr {n}t, i64 {n}ix, "
        f"i64 {int(Entry.BASE)}",
        f"{n}b = load i64, ptr {n}bp{META}",
        f"{n}x = sub i64 {a}, {n}b",
        # in bounds: 0 <= x <= limit - size, i.e. x < sat(limit + 1 - size)
        f"{n}l1 = add i64 {n}lim, 1",
        f"{n}ls = call i64 @llvm.usub.sat.i64(i64 {n}l1, i64 {size})",
        f"{n}ok = icmp ult i64 {n}x, {n}ls",
        f"{n}p = getelementptr i8, ptr {n}h, i64 {n}x",
    ], f"{n}ok", f"{n}p")


def _slow() -> str:
    """@mem_slow(st, op, a, size, v, pc): a load or store Python does (cold, out of
    line); st[STATUS] is non-zero after it when it raised."""
    return (
        "define internal i64 @mem_slow(ptr %st, i64 %op, i64 %a, i64 %size, i64 %v, "
        "i64 %pc) noinline cold {\n"
        f"  %cbp = getelementptr i64, ptr %st, i64 {int(Slot.CALLBACK)}\n"
        "  %cb = load ptr, ptr %cbp\n"
        "  %r = call i64 %cb(ptr %st, i64 %op, i64 %a, i64 %size, i64 %v, i64 %pc)\n"
        "  ret i64 %r\n}\n")


def _outline(size: int, write: bool) -> str:
    """@ldN / @stN(st, a, [v,] pc, lo, sh): a whole access out of line (what programs
    past the inlining size call): the current frame, then the table, then Python."""
    t = IT[size]
    head: list[str] = []
    if write:
        sig = f"define internal void @st{size}(ptr %st, i64 %a, i64 %v, i64 %pc, i64 %lo, ptr %sh)"
        tv = "%v" if size == 8 else "%tv"
        if size < 8:
            head.append(f"  %tv = trunc i64 %v to {t}")
        use = [f"  store {t} {tv}, ptr %p, align 1{MEM}", "  ret void"]
        slow = [f"  %r = call i64 @mem_slow(ptr %st, i64 {int(Op.STORE)}, i64 %a, i64 {size}, "
                f"i64 %v, i64 %pc){SLOW}", "  ret void"]
    else:
        sig = f"define internal i64 @ld{size}(ptr %st, i64 %a, i64 %pc, i64 %lo, ptr %sh)"
        use = [f"  %raw = load {t}, ptr %p, align 1{MEM}"]
        use += [f"  %v = zext {t} %raw to i64", "  ret i64 %v"] if size < 8 else \
            ["  ret i64 %raw"]
        slow = [f"  %r = call i64 @mem_slow(ptr %st, i64 {int(Op.LOAD)}, i64 %a, i64 {size}, "
                f"i64 0, i64 %pc){SLOW}", "  ret i64 %r"]
    lines, ok, p = table_check("%a", "%a", size, write, "%q")
    return "\n".join([
        sig + " noinline {", "entry:", *head,
        "  %so = sub i64 %a, %lo", f"  %ins = icmp ule i64 %so, {MAX_BPF_STACK - size}",
        "  br i1 %ins, label %stk, label %look",
        "stk:", "  %sp = getelementptr i8, ptr %sh, i64 %so", "  br label %have",
        "look:", *("  " + x for x in lines), f"  br i1 {ok}, label %have, label %slow",
        "have:", f"  %p = phi ptr [ %sp, %stk ], [ {p}, %look ]", *use,
        "slow:", *slow, "}", ""])


def runtime_ir() -> str:
    """Declarations and functions every module starts with."""
    parts = ["declare i16 @llvm.bswap.i16(i16)\n", "declare i32 @llvm.bswap.i32(i32)\n",
             "declare i64 @llvm.bswap.i64(i64)\n", "declare i64 @llvm.usub.sat.i64(i64, i64)\n",
             _slow()]
    for size in (1, 2, 4, 8):
        parts.append(_outline(size, False))
        parts.append(_outline(size, True))
    return "".join(parts)


def metadata() -> str:
    """The metadata nodes MEM, META and INVARIANT name (the module's last lines)."""
    return _METADATA
