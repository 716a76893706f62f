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
from .layout import CTX_FIELDS, TABLE_WORDS, CtxWord, Entry, Op, Slot

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


def table_check(a: str, guess: str, size: int, write: bool, n: str,
                hoist: bool = False) -> tuple[list[str], str, str]:
    """IR lines that check `a` against the region of `guess`'s segment (names prefixed
    `n`): returns (lines, i1 "native access allowed", host pointer valid when it is).
    `guess` is the pointer `a` was computed from (a loop-invariant base makes every
    table load loop-invariant); a wrong guess only sends the access to Python. `hoist`:
    for checks in line, optimised, maybe in a loop: the entry in one load (_whole_entry)
    and the limit through @llvm.usub.sat (_saturated)."""
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
        *(_whole_entry(n, limit) if hoist else _entry_words(n, limit)),
        f"{n}x = sub i64 {a}, {n}b",
        # in bounds: 0 <= x <= limit - size, i.e. x < sat(limit + 1 - size)
        f"{n}l1 = add i64 {n}lim, 1",
        *_saturated(n, size, hoist),
        f"{n}ok = icmp ult i64 {n}x, {n}ls",
        f"{n}p = getelementptr i8, ptr {n}h, i64 {n}x",
    ], f"{n}ok", f"{n}p")


def _saturated(n: str, size: int, optimised: bool) -> list[str]:
    """`n`ls = `n`l1 - size, or 0 below it. Where the code is optimised, @llvm.usub.sat,
    which a loop's invariant code motion moves out whole (an equivalent select leaves a
    compare of the limit in the loop); out of line, unoptimised, a select, which fast
    instruction selection can do and the intrinsic it cannot."""
    if optimised:
        return [f"{n}ls = call i64 @llvm.usub.sat.i64(i64 {n}l1, i64 {size})"]
    return [f"{n}lb = icmp uge i64 {n}l1, {size}", f"{n}ld = sub i64 {n}l1, {size}",
            f"{n}ls = select i1 {n}lb, i64 {n}ld, i64 0"]


def _entry_words(n: str, limit: int) -> list[str]:
    """The entry's limit, host and base as three loads (`n`lim, `n`h, `n`b)."""
    def word(w: int) -> str:
        return f"{n}{w}p = getelementptr [{TABLE_WORDS} x i64], ptr {n}t, i64 {n}ix, i64 {w}"
    return [word(limit), f"{n}lim = load i64, ptr {n}{limit}p{META}",
            word(int(Entry.HOST)), f"{n}h = load ptr, ptr {n}{int(Entry.HOST)}p{META}",
            word(int(Entry.BASE)), f"{n}b = load i64, ptr {n}{int(Entry.BASE)}p{META}"]


def _whole_entry(n: str, limit: int) -> list[str]:
    """The same from one load of the whole entry. The limit and base decide the branch,
    the host address is used only on the fast path: loaded alone it would sink into that
    path and, being conditional there, stay in a loop (reloaded every time round) where
    the limit and base move out of it. One load serves all three, so all three move."""
    v = f"<{TABLE_WORDS} x i64>"
    return [f"{n}ep = getelementptr [{TABLE_WORDS} x i64], ptr {n}t, i64 {n}ix",
            f"{n}e = load {v}, ptr {n}ep, align 8{META}",
            f"{n}lim = extractelement {v} {n}e, i64 {limit}",
            f"{n}hi = extractelement {v} {n}e, i64 {int(Entry.HOST)}",
            f"{n}h = inttoptr i64 {n}hi to ptr",
            f"{n}b = extractelement {v} {n}e, i64 {int(Entry.BASE)}"]


def _slow() -> str:
    """@mem_slow(st, kind, x, b, v, pc): a load or store at x + b that the region table
    does not serve (cold, out of line), kind = op << 8 | size (six arguments: what fast
    instruction selection passes in registers): a 4-byte load of a context field from
    the context's words (CtxWord), else Python; st[STATUS] is non-zero after it when it
    raised."""
    return (
        "define internal i64 @mem_slow(ptr %st, i64 %kind, i64 %x, i64 %b, i64 %v, "
        "i64 %pc) noinline cold {\n"
        "entry:\n  %a = add i64 %x, %b\n"
        f"  %ld4 = icmp eq i64 %kind, {slow_kind(Op.LOAD, 4)}\n"
        "  br i1 %ld4, label %ctx, label %python\n"
        f"ctx:\n  %cwp = getelementptr i64, ptr %st, i64 {int(Slot.CTX)}\n"
        "  %cw = load ptr, ptr %cwp\n  %none = icmp eq ptr %cw, null\n"
        "  br i1 %none, label %python, label %field\n"
        "field:\n  %cb0 = load i64, ptr %cw\n  %d = sub i64 %a, %cb0\n"
        f"  %in = icmp ult i64 %d, {4 * CTX_FIELDS}\n  %lo = and i64 %d, 3\n"
        "  %al = icmp eq i64 %lo, 0\n  %inal = and i1 %in, %al\n"
        "  br i1 %inal, label %bit, label %python\n"
        "bit:\n  %i = lshr i64 %d, 2\n"
        f"  %mp = getelementptr i64, ptr %cw, i64 {int(CtxWord.MASK)}\n"
        "  %m = load i64, ptr %mp\n  %mb = lshr i64 %m, %i\n  %m1 = and i64 %mb, 1\n"
        "  %has = icmp ne i64 %m1, 0\n  br i1 %has, label %word, label %python\n"
        f"word:\n  %vi = add i64 %i, {int(CtxWord.VALUES)}\n"
        "  %vp = getelementptr i64, ptr %cw, i64 %vi\n  %val = load i64, ptr %vp\n"
        "  ret i64 %val\n"
        "python:\n"
        f"  %cbp = getelementptr i64, ptr %st, i64 {int(Slot.CALLBACK)}\n"
        "  %cb = load ptr, ptr %cbp\n  %op = lshr i64 %kind, 8\n"
        "  %size = and i64 %kind, 255\n"
        "  %r = call i64 %cb(ptr %st, i64 %op, i64 %a, i64 %size, i64 %v, i64 %pc)\n"
        "  ret i64 %r\n}\n")


def slow_kind(op: Op, size: int) -> int:
    """@mem_slow's `kind` argument."""
    return int(op) << 8 | size


def _outline(size: int, write: bool, rt: int | None) -> str:
    """@ldN / @stN(st, a, [v,] pc, lo, sh): a whole access out of line (what programs
    past the inlining size call): the current frame, then the table, then Python."""
    t = IT[size]
    head: list[str] = []
    get, ms = callee("mem_slow", rt, "%ms")
    get = ["  " + x for x in get]
    if write:
        sig = f"define internal void @st{size}(ptr %st, i64 %a, i64 %v, i64 %pc, i64 %lo, ptr %sh)"
        tv = "%v" if size == 8 else "%tv"
        if size < 8:
            head.append(f"  %tv = trunc i64 %v to {t}")
        use = [f"  store {t} {tv}, ptr %p, align 1{MEM}", "  ret void"]
        slow = [*get, f"  %r = call i64 {ms}(ptr %st, i64 {slow_kind(Op.STORE, size)}, "
                f"i64 %a, i64 0, i64 %v, i64 %pc){SLOW}", "  ret void"]
    else:
        sig = f"define internal i64 @ld{size}(ptr %st, i64 %a, i64 %pc, i64 %lo, ptr %sh)"
        use = [f"  %raw = load {t}, ptr %p, align 1{MEM}"]
        use += [f"  %v = zext {t} %raw to i64", "  ret i64 %v"] if size < 8 else \
            ["  ret i64 %raw"]
        slow = [*get, f"  %r = call i64 {ms}(ptr %st, i64 {slow_kind(Op.LOAD, size)}, "
                f"i64 %a, i64 0, i64 0, i64 %pc){SLOW}", "  ret i64 %r"]
    lines, ok, p = table_check("%a", "%a", size, write, "%q")
    return "\n".join([
        sig + " noinline {", "entry:", *head,
        "  %so = sub i64 %a, %lo", f"  %ins = icmp ule i64 %so, {MAX_BPF_STACK - size}",
        "  br i1 %ins, label %stk, label %look",
        "stk:", "  %sp = getelementptr i8, ptr %sh, i64 %so", "  br label %have",
        "look:", *("  " + x for x in lines), f"  br i1 {ok}, label %have, label %slow",
        "have:", f"  %p = phi ptr [ %sp, %stk ], [ {p}, %look ]", *use,
        "slow:", *slow, "}", ""])


def runtime_ir(rt: int | None = None) -> str:
    """Declarations and functions every module starts with (`rt`: see callee)."""
    parts = ["declare i16 @llvm.bswap.i16(i16)\n", "declare i32 @llvm.bswap.i32(i32)\n",
             "declare i64 @llvm.bswap.i64(i64)\n", "declare i64 @llvm.usub.sat.i64(i64, i64)\n",
             _slow()]
    for size in (1, 2, 4, 8):
        parts.append(_outline(size, False, rt))
        parts.append(_outline(size, True, rt))
    if rt is not None:
        parts.append(_kept())
    return "".join(parts)


# Big programs (compiled unoptimised) call the runtime functions through a table of
# their addresses that pybpf.jit.native fills once the module is compiled (`rt`, the
# table's address, is a constant in the IR): fast instruction selection cannot make a
# direct call in the JIT's (large) code model, and such a program has one call per
# memory access. Small programs (rt None) call them directly, and LLVM inlines them.
RUNTIME_FNS = ("mem_slow",) + tuple(f"{'st' if write else 'ld'}{size}"
                                    for size in (1, 2, 4, 8) for write in (False, True))


def callee(name: str, rt: int | None, n: str) -> tuple[list[str], str]:
    """IR lines and the callee value that calls runtime function @`name` (through
    table `rt` when there is one; `n`: the name for the loaded pointer)."""
    if rt is None:
        return [], f"@{name}"
    slot = rt + 8 * RUNTIME_FNS.index(name)
    return [f"{n} = load ptr, ptr inttoptr (i64 {slot} to ptr){INVARIANT}"], n


def _kept() -> str:
    """@llvm.used: the runtime functions stay in the module though nothing names them
    (global DCE would drop them, and the table would hold null)."""
    return (f"@llvm.used = appending global [{len(RUNTIME_FNS)} x ptr] ["
            + ", ".join(f"ptr @{name}" for name in RUNTIME_FNS)
            + '], section "llvm.metadata"\n')


def metadata() -> str:
    """The metadata nodes MEM, META and INVARIANT name (the module's last lines)."""
    return _METADATA
