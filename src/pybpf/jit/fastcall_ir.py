"""The LLVM IR of the helper fast paths (pybpf.jit.fastcall): native versions of the hot
helpers that native code tries before the Python callback.

Each @fast_<helper>(st, r1..r5, n, budget) returns {r0, units charged, handled}. It
handles a call only when the answer is certain to be the Python helper's: the helper
is pybpf's own (st[FAST]), the map is an array the table lists, every byte it reads is
in a plain region of the region table and the budget covers the charge. Anything else
(a fault, a bad flag, a map of another type, an exception in a Python callable) is not
handled and the callback runs the Python helper, which gives the interpreter's result
or error."""

from __future__ import annotations

from .keyindex_ir import keyindex_ir
from .layout import (MAP_LOOKUP, MAP_WORDS, MAP_WRITE, TABLE_WORDS, Entry,
                     FastBit, MapKind, Slot)

RET = "{ i64, i64, i1 }"  # r0, units charged, handled
ARGS = "ptr %st, i64 %r1, i64 %r2, i64 %r3, i64 %r4, i64 %r5, i64 %n, i64 %budget"
NO = f"  ret {RET} {{ i64 0, i64 0, i1 false }}\n"
CLOCK_MONOTONIC = 1
CLOCK_BOOTTIME = 7
EINVAL = 22
E2BIG = 7

# what native code calls in the host process: name in the IR -> (library, symbol)
SYMBOLS = {
    "pybpf_call": ("python", "PyObject_CallNoArgs"),
    "pybpf_as_u64": ("python", "PyLong_AsUnsignedLongLongMask"),
    "pybpf_err_occurred": ("python", "PyErr_Occurred"),
    "pybpf_err_clear": ("python", "PyErr_Clear"),
    "pybpf_decref": ("python", "Py_DecRef"),
    "pybpf_clock_gettime": ("libc", "clock_gettime"),
}
_DECLS = """declare ptr @pybpf_call(ptr)
declare i64 @pybpf_as_u64(ptr)
declare ptr @pybpf_err_occurred()
declare void @pybpf_err_clear()
declare void @pybpf_decref(ptr)
declare i32 @pybpf_clock_gettime(i32, ptr)
declare { i64, i1 } @llvm.uadd.with.overflow.i64(i64, i64)
declare void @llvm.memmove.p0.p0.i64(ptr, ptr, i64, i1)
"""


def _slot(name: str, slot: Slot, ty: str = "i64") -> str:
    return (f"  {name}.p = getelementptr i64, ptr %st, i64 {int(slot)}\n"
            f"  {name} = load {ty}, ptr {name}.p\n")


def _enabled(bit: FastBit) -> str:
    """entry: on to %go when st[FAST] has `bit`, else not handled."""
    return ("entry:\n" + _slot("%fl", Slot.FAST)
            + f"  %on = and i64 %fl, {int(bit)}\n  %y = icmp ne i64 %on, 0\n"
            "  br i1 %y, label %go, label %no\nno:\n" + NO)


def _handled(r0: str, units: str = "0") -> str:
    return (f"  %h1 = insertvalue {RET} undef, i64 {r0}, 0\n"
            f"  %h2 = insertvalue {RET} %h1, i64 {units}, 1\n"
            f"  %h3 = insertvalue {RET} %h2, i1 true, 2\n  ret {RET} %h3\n")


def _region() -> str:
    """@fast_region(st, a, size, w): the host pointer of [a, a+size) in a plain region
    of the table (a writable one when w), or null (as the runtime's lookup): the entry
    of segment a >> 32 (pybpf.jit.layout.table_index), the offset a - its base,
    inside the entry's load (or store) limit."""
    return (
        "define internal ptr @fast_region(ptr %st, i64 %a, i64 %size, i64 %w) {\n"
        "entry:\n" + _slot("%tbl", Slot.TABLE, "ptr") + _slot("%shift", Slot.SHIFT)
        + _slot("%mult", Slot.MULT)
        + "  %seg = lshr i64 %a, 32\n  %sm = mul i64 %seg, %mult\n"
        "  %ix = lshr i64 %sm, %shift\n"
        f"  %e = mul i64 %ix, {TABLE_WORDS}\n"
        "  %ep = getelementptr i64, ptr %tbl, i64 %e\n"
        f"  %wl = icmp ne i64 %w, 0\n  %li = select i1 %wl, i64 {int(Entry.WLIMIT)}, "
        f"i64 {int(Entry.LIMIT)}\n"
        "  %lp = getelementptr i64, ptr %ep, i64 %li\n  %lim = load i64, ptr %lp\n"
        f"  %bp = getelementptr i64, ptr %ep, i64 {int(Entry.BASE)}\n"
        "  %base = load i64, ptr %bp\n  %x = sub i64 %a, %base\n"
        "  %room = icmp ule i64 %size, %lim\n  %most = sub i64 %lim, %size\n"
        "  %inb = icmp ule i64 %x, %most\n  %ok = and i1 %room, %inb\n"
        "  br i1 %ok, label %hit, label %miss\n"
        f"hit:\n  %hp = getelementptr i64, ptr %ep, i64 {int(Entry.HOST)}\n"
        "  %host = load i64, ptr %hp\n  %h = add i64 %host, %x\n"
        "  %hptr = inttoptr i64 %h to ptr\n  ret ptr %hptr\n"
        "miss:\n  ret ptr null\n}\n")


def _map() -> str:
    """@fast_map(st, pointer, want): the fast map-table entry of the map whose pointer
    is exactly `pointer` and whose flags have all of `want`, or null."""
    return (
        "define internal ptr @fast_map(ptr %st, i64 %ptr, i64 %want) {\n"
        "entry:\n" + _slot("%tbl", Slot.MAPS, "ptr") + _slot("%cnt", Slot.NMAPS)
        + "  br label %loop\n"
        "loop:\n  %i = phi i64 [0, %entry], [%i1, %next]\n"
        "  %done = icmp uge i64 %i, %cnt\n  br i1 %done, label %miss, label %body\n"
        f"body:\n  %e = mul i64 %i, {MAP_WORDS}\n  %ep = getelementptr i64, ptr %tbl, i64 %e\n"
        "  %p = load i64, ptr %ep\n  %fp = getelementptr i64, ptr %ep, i64 5\n"
        "  %f = load i64, ptr %fp\n  %fw = and i64 %f, %want\n"
        "  %m1 = icmp eq i64 %p, %ptr\n  %m2 = icmp eq i64 %fw, %want\n"
        "  %m = and i1 %m1, %m2\n  br i1 %m, label %found, label %next\n"
        "next:\n  %i1 = add i64 %i, 1\n  br label %loop\n"
        "found:\n  ret ptr %ep\nmiss:\n  ret ptr null\n}\n")


def _field(name: str, entry: str, word: int) -> str:
    return (f"  {name}.p = getelementptr i64, ptr {entry}, i64 {word}\n"
            f"  {name} = load i64, ptr {name}.p\n")


def _key(want: int, other: str) -> str:
    """go: the map entry of r1 (%e); a hash map or LPM trie goes to `other` (IR that
    returns); an array's u32 key at r2 is %idx, else not handled."""
    return (f"go:\n  %e = call ptr @fast_map(ptr %st, i64 %r1, i64 {want})\n"
            "  %ne = icmp eq ptr %e, null\n  br i1 %ne, label %no, label %kind\n"
            "kind:\n" + _field("%knd", "%e", 6)
            + f"  %isarr = icmp eq i64 %knd, {int(MapKind.ARRAY)}\n"
            "  br i1 %isarr, label %k, label %other\nother:\n" + other
            + "k:\n  %kp = call ptr @fast_region(ptr %st, i64 %r2, i64 4, i64 0)\n"
            "  %nk = icmp eq ptr %kp, null\n  br i1 %nk, label %no, label %kk\n"
            "kk:\n  %k32 = load i32, ptr %kp, align 1\n  %idx = zext i32 %k32 to i64\n"
            + _field("%max", "%e", 2))


def _keyed(op: str, args: str) -> str:
    """Return what @ki_<op> (a hash map's) or @ki_lpm_<op> (an LPM trie's) gives for
    (st, e, args) (pybpf.jit.keyindex_ir)."""
    return (f"  %lpm = icmp eq i64 %knd, {int(MapKind.LPM)}\n"
            "  br i1 %lpm, label %trie, label %hash\n"
            f"trie:\n  %tr = call {RET} @ki_lpm_{op}(ptr %st, ptr %e, {args})\n"
            f"  ret {RET} %tr\n"
            f"hash:\n  %kr = call {RET} @ki_{op}(ptr %st, ptr %e, {args})\n"
            f"  ret {RET} %kr\n")


def _lookup() -> str:
    """bpf_map_lookup_elem on an array or per-CPU array: the value's VM address (CPU
    0's copy), 0 past max_entries (ArrayMap.prog_lookup)."""
    return (
        f"define internal {RET} @fast_map_lookup_elem({ARGS}) {{\n"
        + _enabled(FastBit.MAP_LOOKUP)
        + _key(MAP_LOOKUP, _keyed("lookup", "i64 %r2"))
        + "  %in = icmp ult i64 %idx, %max\n  br i1 %in, label %hit, label %out\n"
        "hit:\n" + _field("%base", "%e", 1) + _field("%stride", "%e", 3)
        + "  %off = mul i64 %idx, %stride\n  %addr = add i64 %base, %off\n"
        + _handled("%addr").replace("%h", "%a")
        + "out:\n" + _handled("0") + "}\n")


def _update() -> str:
    """bpf_map_update_elem on an array with flags BPF_ANY or BPF_EXIST: the value
    copied over this CPU's copy (0), -E2BIG past max_entries (ArrayMap._op_update);
    on a hash map, keyindex_ir's."""
    return (
        f"define internal {RET} @fast_map_update_elem({ARGS}) {{\n"
        + _enabled(FastBit.MAP_UPDATE)
        + _key(MAP_WRITE, _keyed("update", "i64 %r2, i64 %r3, i64 %r4"))
        + "  %any = icmp eq i64 %r4, 0\n  %exist = icmp eq i64 %r4, 2\n"
        "  %fok = or i1 %any, %exist\n  br i1 %fok, label %arr, label %no\n"
        "arr:\n" + _field("%vsz", "%e", 4)
        + "  %vp = call ptr @fast_region(ptr %st, i64 %r3, i64 %vsz, i64 0)\n"
        "  %nv = icmp eq ptr %vp, null\n  br i1 %nv, label %no, label %v\n"
        "v:\n  %in = icmp ult i64 %idx, %max\n  br i1 %in, label %put, label %big\n"
        "put:\n" + _field("%base", "%e", 1) + _field("%stride", "%e", 3)
        + "  %off = mul i64 %idx, %stride\n  %addr = add i64 %base, %off\n"
        "  %dp = call ptr @fast_region(ptr %st, i64 %addr, i64 %vsz, i64 1)\n"
        "  %nd = icmp eq ptr %dp, null\n  br i1 %nd, label %no, label %copy\n"
        "copy:\n  call void @llvm.memmove.p0.p0.i64(ptr %dp, ptr %vp, i64 %vsz, i1 false)\n"
        + _handled("0").replace("%h", "%c")
        + "big:\n" + _handled(str(-E2BIG)) + "}\n")


def _delete() -> str:
    """bpf_map_delete_elem on an array: -EINVAL once the key is read (arrays have no
    delete)."""
    return (
        f"define internal {RET} @fast_map_delete_elem({ARGS}) {{\n"
        + _enabled(FastBit.MAP_DELETE) + _key(MAP_WRITE, _keyed("delete", "i64 %r2"))
        + _handled(str(-EINVAL)) + "}\n")


def _pycall() -> str:
    """@fast_pycall(obj): obj() as a u64 (an int masked to 64 bits, as `& M64`), handled
    unless the call raised or gave no integer (the exception is cleared: the Python
    helper then runs and raises it)."""
    return (
        "define internal { i64, i1 } @fast_pycall(ptr %obj) {\n"
        "entry:\n  %res = call ptr @pybpf_call(ptr %obj)\n"
        "  %bad = icmp eq ptr %res, null\n  br i1 %bad, label %err, label %conv\n"
        "conv:\n  %v = call i64 @pybpf_as_u64(ptr %res)\n"
        "  call void @pybpf_decref(ptr %res)\n"
        "  %m1 = icmp eq i64 %v, -1\n  br i1 %m1, label %chk, label %good\n"
        "chk:\n  %oc = call ptr @pybpf_err_occurred()\n"
        "  %raised = icmp ne ptr %oc, null\n  br i1 %raised, label %err, label %good\n"
        "good:\n  %g1 = insertvalue { i64, i1 } undef, i64 %v, 0\n"
        "  %g2 = insertvalue { i64, i1 } %g1, i1 true, 1\n  ret { i64, i1 } %g2\n"
        "err:\n  call void @pybpf_err_clear()\n"
        "  ret { i64, i1 } { i64 0, i1 false }\n}\n")


def _from_pycall(obj: str) -> str:
    """Return what @fast_pycall(obj) gave, handled or not."""
    return (f"  %pc = call {{ i64, i1 }} @fast_pycall(ptr {obj})\n"
            "  %pv = extractvalue { i64, i1 } %pc, 0\n"
            "  %pok = extractvalue { i64, i1 } %pc, 1\n"
            f"  %p1 = insertvalue {RET} undef, i64 %pv, 0\n"
            f"  %p2 = insertvalue {RET} %p1, i64 0, 1\n"
            f"  %p3 = insertvalue {RET} %p2, i1 %pok, 2\n  ret {RET} %p3\n")


def _clock(name: str, bit: FastBit, clock_id: int) -> str:
    """A ktime helper: the VM's clock_ns() when it has one, else clock_gettime(clock_id)
    (what time.monotonic_ns / time.clock_gettime_ns read); st[CLOCK] with bit 0 set is
    the address (| 1) of a u64 that clock_ns() would return (a batch's capture clock,
    pybpf.jit.batch)."""
    return (
        f"define internal {RET} @fast_{name}({ARGS}) {{\n" + _enabled(bit)
        + "go:\n" + _slot("%clk", Slot.CLOCK)
        + "  %host = icmp eq i64 %clk, 0\n  br i1 %host, label %native, label %given\n"
        "given:\n  %tag = and i64 %clk, 1\n  %word = icmp ne i64 %tag, 0\n"
        "  br i1 %word, label %read, label %py\n"
        "read:\n  %wa = and i64 %clk, -2\n  %wp = inttoptr i64 %wa to ptr\n"
        "  %wv = load i64, ptr %wp\n" + _handled("%wv").replace("%h", "%w")
        + "py:\n  %obj = inttoptr i64 %clk to ptr\n" + _from_pycall("%obj")
        + "native:\n  %ts = alloca [2 x i64]\n"
        f"  %rc = call i32 @pybpf_clock_gettime(i32 {clock_id}, ptr %ts)\n"
        "  %failed = icmp ne i32 %rc, 0\n  br i1 %failed, label %no, label %ok\n"
        "ok:\n  %sec = load i64, ptr %ts\n  %nsp = getelementptr i64, ptr %ts, i64 1\n"
        "  %nsec = load i64, ptr %nsp\n  %ns0 = mul i64 %sec, 1000000000\n"
        "  %ns = add i64 %ns0, %nsec\n" + _handled("%ns") + "}\n")


def _prandom() -> str:
    """bpf_get_prandom_u32: the run's rng.getrandbits(32), called directly."""
    return (
        f"define internal {RET} @fast_get_prandom_u32({ARGS}) {{\n"
        + _enabled(FastBit.PRANDOM) + "go:\n" + _slot("%obj", Slot.RAND, "ptr")
        + "  %none = icmp eq ptr %obj, null\n  br i1 %none, label %no, label %call\n"
        "call:\n" + _from_pycall("%obj") + "}\n")


def _csum_partial() -> str:
    """@fast_csum_partial(p, len, seed): pybpf.net.csum.csum_partial: the 64-bit words
    (the last one zero-padded) added with end-around carry, folded to 32 bits, plus
    the seed."""
    return (
        "define internal i64 @fast_csum_partial(ptr %p, i64 %len, i64 %seed) {\n"
        "entry:\n  %words = lshr i64 %len, 3\n  br label %wl\n"
        "wl:\n  %i = phi i64 [0, %entry], [%i1, %wb]\n"
        "  %acc = phi i64 [0, %entry], [%acc1, %wb]\n"
        "  %wd = icmp uge i64 %i, %words\n  br i1 %wd, label %tail, label %wb\n"
        "wb:\n  %wo = shl i64 %i, 3\n  %wp = getelementptr i8, ptr %p, i64 %wo\n"
        "  %w = load i64, ptr %wp, align 1\n"
        "  %s = call { i64, i1 } @llvm.uadd.with.overflow.i64(i64 %acc, i64 %w)\n"
        "  %sv = extractvalue { i64, i1 } %s, 0\n  %so = extractvalue { i64, i1 } %s, 1\n"
        "  %c = zext i1 %so to i64\n  %acc1 = add i64 %sv, %c\n"
        "  %i1 = add i64 %i, 1\n  br label %wl\n"
        "tail:\n  %start = shl i64 %words, 3\n  br label %tl\n"
        "tl:\n  %j = phi i64 [%start, %tail], [%j1, %tb]\n"
        "  %t = phi i64 [0, %tail], [%t1, %tb]\n"
        "  %td = icmp uge i64 %j, %len\n  br i1 %td, label %tdone, label %tb\n"
        "tb:\n  %bp = getelementptr i8, ptr %p, i64 %j\n  %b8 = load i8, ptr %bp\n"
        "  %b = zext i8 %b8 to i64\n  %sh0 = sub i64 %j, %start\n  %sh = shl i64 %sh0, 3\n"
        "  %bs = shl i64 %b, %sh\n  %t1 = or i64 %t, %bs\n  %j1 = add i64 %j, 1\n"
        "  br label %tl\n"
        "tdone:\n"
        "  %s2 = call { i64, i1 } @llvm.uadd.with.overflow.i64(i64 %acc, i64 %t)\n"
        "  %s2v = extractvalue { i64, i1 } %s2, 0\n  %s2o = extractvalue { i64, i1 } %s2, 1\n"
        "  %c2 = zext i1 %s2o to i64\n  %a64 = add i64 %s2v, %c2\n"
        + _fold("%a64", "%f1") + _fold("%f1", "%f2")
        + "  %sd = and i64 %seed, 4294967295\n  %sum = add i64 %f2, %sd\n"
        + _fold("%sum", "%r") + "  ret i64 %r\n}\n")


def _fold(x: str, out: str) -> str:
    """out = (x & M32) + (x >> 32)."""
    return (f"  {out}.lo = and i64 {x}, 4294967295\n  {out}.hi = lshr i64 {x}, 32\n"
            f"  {out} = add i64 {out}.lo, {out}.hi\n")


def _csum_diff() -> str:
    """bpf_csum_diff(from, from_size, to, to_size, seed) (pybpf.progtypes.common):
    both buffers readable and their reads charged (a word each 8 bytes) within the
    budget, else the Python helper runs (and faults or stops the run)."""
    return (
        f"define internal {RET} @fast_csum_diff({ARGS}) {{\n" + _enabled(FastBit.CSUM_DIFF)
        + "go:\n  %fs = and i64 %r2, 4294967295\n  %ts = and i64 %r4, 4294967295\n"
        "  %hasf = icmp ne i64 %fs, 0\n  %hast = icmp ne i64 %ts, 0\n"
        "  br i1 %hasf, label %rf, label %rf_done\n"
        "rf:\n  %fp0 = call ptr @fast_region(ptr %st, i64 %r1, i64 %fs, i64 0)\n"
        "  %nf = icmp eq ptr %fp0, null\n  br i1 %nf, label %no, label %rf_done\n"
        "rf_done:\n  %fp = phi ptr [null, %go], [%fp0, %rf]\n"
        "  br i1 %hast, label %rt, label %rt_done\n"
        "rt:\n  %tp0 = call ptr @fast_region(ptr %st, i64 %r3, i64 %ts, i64 0)\n"
        "  %nt = icmp eq ptr %tp0, null\n  br i1 %nt, label %no, label %rt_done\n"
        "rt_done:\n  %tp = phi ptr [null, %rf_done], [%tp0, %rt]\n"
        "  %uf0 = add i64 %fs, 7\n  %uf = lshr i64 %uf0, 3\n"
        "  %ut0 = add i64 %ts, 7\n  %ut = lshr i64 %ut0, 3\n  %units = add i64 %uf, %ut\n"
        "  %after = add i64 %n, %units\n  %over = icmp ugt i64 %after, %budget\n"
        "  br i1 %over, label %no, label %sum\n"
        "sum:\n  %seed = and i64 %r5, 4294967295\n"
        "  br i1 %hast, label %with_to, label %only_from\n"
        "with_to:\n"
        "  %ct = call i64 @fast_csum_partial(ptr %tp, i64 %ts, i64 %seed)\n"
        "  br i1 %hasf, label %both, label %fold\n"
        "both:\n  %cf = call i64 @fast_csum_partial(ptr %fp, i64 %fs, i64 0)\n"
        "  %ncf = xor i64 %cf, 4294967295\n  %ncf32 = and i64 %ncf, 4294967295\n"
        + _fold_add("%ct", "%ncf32", "%bsum") + "  br label %fold\n"
        "only_from:\n  br i1 %hasf, label %from, label %fold\n"
        "from:\n  %nseed = xor i64 %seed, 4294967295\n"
        "  %cf2 = call i64 @fast_csum_partial(ptr %fp, i64 %fs, i64 %nseed)\n"
        "  %ncf2 = xor i64 %cf2, -1\n  %fsum = and i64 %ncf2, 4294967295\n  br label %fold\n"
        "fold:\n  %ret = phi i64 [%ct, %with_to], [%bsum, %both], [%seed, %only_from], "
        "[%fsum, %from]\n"
        "  %c = and i64 %ret, 4294967295\n  %rh = lshr i64 %c, 16\n"
        "  %rl = shl i64 %c, 16\n  %rot0 = or i64 %rh, %rl\n"
        "  %rot = and i64 %rot0, 4294967295\n  %s0 = add i64 %c, %rot\n"
        "  %s = and i64 %s0, 4294967295\n  %r16 = lshr i64 %s, 16\n"
        + _handled("%r16", "%units") + "}\n")


def _fold_add(a: str, b: str, out: str) -> str:
    """out = csum_add(a, b): 32-bit one's complement addition."""
    return (f"  {out}.a = and i64 {a}, 4294967295\n  {out}.s = add i64 {out}.a, {b}\n"
            + _fold(f"{out}.s", out))


# helper id -> the IR function that serves it natively first
FUNCTIONS = {1: "fast_map_lookup_elem", 2: "fast_map_update_elem", 3: "fast_map_delete_elem",
             5: "fast_ktime_get_ns", 160: "fast_ktime_get_ns", 125: "fast_ktime_get_boot_ns",
             7: "fast_get_prandom_u32", 28: "fast_csum_diff"}


def fast_ir() -> str:
    """Every fast path's IR (what a module calling a fast helper includes)."""
    return "".join([_DECLS, keyindex_ir(), _region(), _map(), _lookup(), _update(),
                    _delete(), _pycall(),
                    _clock("ktime_get_ns", FastBit.KTIME, CLOCK_MONOTONIC),
                    _clock("ktime_get_boot_ns", FastBit.KTIME_BOOT, CLOCK_BOOTTIME),
                    _prandom(), _csum_partial(), _csum_diff()])
