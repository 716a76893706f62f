"""The LLVM IR of the map helpers' fast paths on hash maps (hash, percpu_hash and their
LRU variants) and LPM tries: find, insert and delete in the map's key index
(pybpf.maps.keyindex, header words pybpf.jit.layout.Key), the very arrays the map's
Python code uses, and the map's dict key -> slot kept exact through the C API (the GIL
is held while native code runs).

Each @ki_<op>(st, entry, r2, r3, r4) returns {r0, units, handled} as the other fast
paths (pybpf.jit.fastcall_ir) and handles a call only when its answer and its effect
are the Python helper's: a key or value not in plain memory, a flag other than
BPF_ANY / BPF_NOEXIST / BPF_EXIST, an index that needs rebuilding, a map that must
grow, a delete or eviction while a walk is in progress (its cursor is Python's) or a
failed C API call leave the call, untouched, to the Python helper."""

from __future__ import annotations


from .layout import (INDEX_TOMB, LINK_WORDS, NIL, Key, KeyFlag, Link)

RET = "{ i64, i64, i1 }"
NO = f"  ret {RET} {{ i64 0, i64 0, i1 false }}\n"
EEXIST = 17
ENOENT = 2
E2BIG = 7
ENOSPC = 28
MAX_LPM_KEY = 4 + 256  # struct bpf_lpm_trie_key: prefixlen and at most 256 bytes of data
FIND = "{ i64, i64, i1 }"  # slot (-1: absent), index position (its, or where it goes), empty

# what the IR calls in the host process: name -> (library, symbol)
SYMBOLS = {
    "pybpf_bytes": ("python", "PyBytes_FromStringAndSize"),
    "pybpf_long": ("python", "PyLong_FromSsize_t"),
    "pybpf_dict_set": ("python", "PyDict_SetItem"),
    "pybpf_dict_del": ("python", "PyDict_DelItem"),
    "pybpf_dict_size": ("python", "PyDict_Size"),
    "pybpf_memcmp": ("libc", "memcmp"),
}
DECLS = """declare ptr @pybpf_bytes(ptr, i64)
declare ptr @pybpf_long(i64)
declare i32 @pybpf_dict_set(ptr, ptr, ptr)
declare i32 @pybpf_dict_del(ptr, ptr)
declare i64 @pybpf_dict_size(ptr)
declare i32 @pybpf_memcmp(ptr, ptr, i64)
declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)
declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)
"""


def _crc_table() -> str:
    """The CRC-32 table (zlib's polynomial), as a constant."""
    values = [_entry(i) for i in range(256)]
    body = ", ".join(f"i32 {v - (1 << 32) if v >= 1 << 31 else v}" for v in values)
    return f"@ki_crc_table = internal constant [256 x i32] [{body}]\n"


def _entry(i: int) -> int:
    """Entry i of the table of zlib.crc32 (the reflected polynomial 0xEDB88320)."""
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
    return c


def _w(name: str, word: int, base: str = "%h", ty: str = "i64") -> str:
    """Load word `word` of the header (or a fast map-table entry) as `name`."""
    return (f"  {name}.p = getelementptr i64, ptr {base}, i64 {int(word)}\n"
            f"  {name} = load {ty}, ptr {name}.p\n")


def _set(word: int, value: str, name: str, base: str = "%h") -> str:
    """Store `value` in word `word` of the header (`name`: a fresh IR name)."""
    return (f"  {name} = getelementptr i64, ptr {base}, i64 {int(word)}\n"
            f"  store i64 {value}, ptr {name}\n")


def _crc() -> str:
    """@ki_crc(p, n): zlib.crc32 of n bytes at p."""
    return (
        "define internal i64 @ki_crc(ptr %p, i64 %n) {\n"
        "entry:\n  br label %loop\n"
        "loop:\n  %i = phi i64 [0, %entry], [%i1, %body]\n"
        "  %c = phi i32 [-1, %entry], [%c1, %body]\n"
        "  %done = icmp uge i64 %i, %n\n  br i1 %done, label %out, label %body\n"
        "body:\n  %bp = getelementptr i8, ptr %p, i64 %i\n  %b = load i8, ptr %bp\n"
        "  %b32 = zext i8 %b to i32\n  %x = xor i32 %c, %b32\n  %xi = and i32 %x, 255\n"
        "  %xi64 = zext i32 %xi to i64\n"
        "  %tp = getelementptr [256 x i32], ptr @ki_crc_table, i64 0, i64 %xi64\n"
        "  %t = load i32, ptr %tp\n  %sh = lshr i32 %c, 8\n  %c1 = xor i32 %t, %sh\n"
        "  %i1 = add i64 %i, 1\n  br label %loop\n"
        "out:\n  %r = xor i32 %c, -1\n  %r64 = zext i32 %r to i64\n  ret i64 %r64\n}\n")


def _find() -> str:
    """@ki_find(h, key): {slot or -1, position, landed on EMPTY}: the key's index entry,
    or where a new key goes (the first tombstone passed, else the empty entry)."""
    return (
        f"define internal {FIND} @ki_find(ptr %h, ptr %key) {{\n"
        "entry:\n" + _w("%ks", Key.KEY_SIZE) + _w("%stride", Key.KEY_STRIDE)
        + _w("%mask", Key.IMASK) + _w("%idx", Key.INDEX, ty="ptr") + _w("%keys", Key.KEYS, ty="ptr")
        + "  %crc = call i64 @ki_crc(ptr %key, i64 %ks)\n  %i0 = and i64 %crc, %mask\n"
        "  br label %loop\n"
        "loop:\n  %i = phi i64 [%i0, %entry], [%inext, %skip]\n"
        "  %tomb = phi i64 [-1, %entry], [%tomb1, %skip]\n"
        "  %ep = getelementptr i32, ptr %idx, i64 %i\n  %e = load i32, ptr %ep\n"
        "  %isempty = icmp eq i32 %e, 0\n  br i1 %isempty, label %miss, label %full\n"
        f"full:\n  %istomb = icmp eq i32 %e, {INDEX_TOMB - (1 << 32)}\n"
        "  br i1 %istomb, label %tombed, label %cmp\n"
        "tombed:\n  %had = icmp ne i64 %tomb, -1\n"
        "  %tsel = select i1 %had, i64 %tomb, i64 %i\n  br label %skip\n"
        "cmp:\n  %e64 = zext i32 %e to i64\n  %slot = sub i64 %e64, 1\n"
        "  %ko = mul i64 %slot, %stride\n  %kp = getelementptr i8, ptr %keys, i64 %ko\n"
        "  %mc = call i32 @pybpf_memcmp(ptr %kp, ptr %key, i64 %ks)\n"
        "  %same = icmp eq i32 %mc, 0\n  br i1 %same, label %hit, label %skip\n"
        "skip:\n  %tomb1 = phi i64 [%tsel, %tombed], [%tomb, %cmp]\n"
        "  %i1 = add i64 %i, 1\n  %inext = and i64 %i1, %mask\n  br label %loop\n"
        f"hit:\n  %r1 = insertvalue {FIND} undef, i64 %slot, 0\n"
        f"  %r2 = insertvalue {FIND} %r1, i64 %i, 1\n"
        f"  %r3 = insertvalue {FIND} %r2, i1 false, 2\n  ret {FIND} %r3\n"
        "miss:\n  %nt = icmp eq i64 %tomb, -1\n"
        "  %pos = select i1 %nt, i64 %i, i64 %tomb\n"
        f"  %m1 = insertvalue {FIND} undef, i64 -1, 0\n"
        f"  %m2 = insertvalue {FIND} %m1, i64 %pos, 1\n"
        f"  %m3 = insertvalue {FIND} %m2, i1 %nt, 2\n  ret {FIND} %m3\n}}\n")


def _lists() -> str:
    """@ki_append / @ki_remove(h, slot, next, prev, head, tail): a slot last in, or out
    of, one of the orders (link words next/prev, header words head/tail)."""
    nil = NIL
    return (
        "define internal void @ki_append(ptr %h, i64 %s, i64 %nx, i64 %pv, i64 %hw, "
        "i64 %tw) alwaysinline {\n"
        "entry:\n" + _w("%lk", Key.LINKS, ty="ptr")
        + "  %tp = getelementptr i64, ptr %h, i64 %tw\n  %last = load i64, ptr %tp\n"
        f"  %sb = mul i64 %s, {LINK_WORDS}\n"
        "  %pvi = add i64 %sb, %pv\n  %pvp = getelementptr i32, ptr %lk, i64 %pvi\n"
        "  %last32 = trunc i64 %last to i32\n  store i32 %last32, ptr %pvp\n"
        "  %nxi = add i64 %sb, %nx\n  %nxp = getelementptr i32, ptr %lk, i64 %nxi\n"
        "  store i32 -1, ptr %nxp\n"
        f"  %none = icmp eq i64 %last, {nil}\n  br i1 %none, label %head, label %after\n"
        "head:\n  %hp = getelementptr i64, ptr %h, i64 %hw\n  store i64 %s, ptr %hp\n"
        "  br label %done\n"
        f"after:\n  %lb = mul i64 %last, {LINK_WORDS}\n  %li = add i64 %lb, %nx\n"
        "  %lp = getelementptr i32, ptr %lk, i64 %li\n  %s32 = trunc i64 %s to i32\n"
        "  store i32 %s32, ptr %lp\n  br label %done\n"
        "done:\n  store i64 %s, ptr %tp\n  ret void\n}\n"
        "define internal void @ki_remove(ptr %h, i64 %s, i64 %nx, i64 %pv, i64 %hw, "
        "i64 %tw) alwaysinline {\n"
        "entry:\n" + _w("%lk", Key.LINKS, ty="ptr")
        + f"  %sb = mul i64 %s, {LINK_WORDS}\n"
        "  %pvi = add i64 %sb, %pv\n  %pvp = getelementptr i32, ptr %lk, i64 %pvi\n"
        "  %p32 = load i32, ptr %pvp\n  %p = zext i32 %p32 to i64\n"
        "  %nxi = add i64 %sb, %nx\n  %nxp = getelementptr i32, ptr %lk, i64 %nxi\n"
        "  %n32 = load i32, ptr %nxp\n  %n = zext i32 %n32 to i64\n"
        f"  %pnil = icmp eq i64 %p, {nil}\n  br i1 %pnil, label %sethead, label %setpn\n"
        "sethead:\n  %hp = getelementptr i64, ptr %h, i64 %hw\n  store i64 %n, ptr %hp\n"
        "  br label %two\n"
        f"setpn:\n  %pb = mul i64 %p, {LINK_WORDS}\n  %pi = add i64 %pb, %nx\n"
        "  %pp = getelementptr i32, ptr %lk, i64 %pi\n  store i32 %n32, ptr %pp\n"
        "  br label %two\n"
        f"two:\n  %nnil = icmp eq i64 %n, {nil}\n  br i1 %nnil, label %settail, label %setnp\n"
        "settail:\n  %tp = getelementptr i64, ptr %h, i64 %tw\n  store i64 %p, ptr %tp\n"
        "  ret void\n"
        f"setnp:\n  %nb = mul i64 %n, {LINK_WORDS}\n  %ni = add i64 %nb, %pv\n"
        "  %np = getelementptr i32, ptr %lk, i64 %ni\n  store i32 %p32, ptr %np\n"
        "  ret void\n}\n")


def _orders(op: str, lru: bool, slot: str = "%s") -> str:
    """Call @ki_<op> (append or remove) for `slot` on the iteration order, or on the
    LRU order."""
    words = (Link.LRU_NEXT, Link.LRU_PREV, Key.LRU_HEAD, Key.LRU_TAIL) if lru else \
        (Link.NEXT, Link.PREV, Key.FIRST, Key.LAST)
    args = ", ".join(f"i64 {int(w)}" for w in words)
    return f"  call void @ki_{op}(ptr %h, i64 {slot}, {args})\n"


def _slot_ops() -> str:
    """@ki_touch(h, s): an LRU map's slot most recent. @ki_drop(h, s, pos): slot s (at
    index position pos) out of the index and the orders, onto the freed stack (its
    dict entry already gone). @ki_dict_del(h, key) / @ki_dict_set(h, key, s): the
    dict's entry, false (the error cleared) when the C API failed."""
    return (
        "define internal void @ki_touch(ptr %h, i64 %s) {\n"
        "entry:\n" + _w("%tail", Key.LRU_TAIL)
        + "  %is = icmp eq i64 %tail, %s\n  br i1 %is, label %done, label %move\n"
        "move:\n" + _orders("remove", True) + _orders("append", True)
        + "  br label %done\ndone:\n  ret void\n}\n"
        "define internal void @ki_drop(ptr %h, i64 %s, i64 %pos) {\n"
        "entry:\n" + _w("%idx", Key.INDEX, ty="ptr")
        + "  %ep = getelementptr i32, ptr %idx, i64 %pos\n"
        f"  store i32 {INDEX_TOMB - (1 << 32)}, ptr %ep\n"
        + _orders("remove", False)
        + _w("%fl", Key.FLAGS) + f"  %lb = and i64 %fl, {int(KeyFlag.LRU)}\n"
        "  %lru = icmp ne i64 %lb, 0\n  br i1 %lru, label %lr, label %free\n"
        "lr:\n" + _orders("remove", True) + "  br label %free\n"
        "free:\n" + _w("%nf", Key.NFREED) + _w("%fr", Key.FREED, ty="ptr")
        + "  %fp = getelementptr i32, ptr %fr, i64 %nf\n  %s32 = trunc i64 %s to i32\n"
        "  store i32 %s32, ptr %fp\n  %nf1 = add i64 %nf, 1\n"
        + _set(Key.NFREED, "%nf1", "%nfp") + "  ret void\n}\n"
        "define internal i1 @ki_dict_del(ptr %h, ptr %key) {\n"
        "entry:\n" + _w("%d", Key.DICT, ty="ptr") + _w("%ks", Key.KEY_SIZE)
        + "  %k = call ptr @pybpf_bytes(ptr %key, i64 %ks)\n"
        "  %nk = icmp eq ptr %k, null\n  br i1 %nk, label %err, label %del\n"
        "del:\n  %r = call i32 @pybpf_dict_del(ptr %d, ptr %k)\n"
        "  call void @pybpf_decref(ptr %k)\n  %bad = icmp ne i32 %r, 0\n"
        "  br i1 %bad, label %err, label %ok\n"
        "ok:\n  ret i1 true\nerr:\n  call void @pybpf_err_clear()\n  ret i1 false\n}\n"
        "define internal i1 @ki_dict_set(ptr %h, ptr %key, i64 %s) {\n"
        "entry:\n" + _w("%d", Key.DICT, ty="ptr") + _w("%ks", Key.KEY_SIZE)
        + "  %k = call ptr @pybpf_bytes(ptr %key, i64 %ks)\n"
        "  %nk = icmp eq ptr %k, null\n  br i1 %nk, label %err, label %val\n"
        "val:\n  %v = call ptr @pybpf_long(i64 %s)\n  %nv = icmp eq ptr %v, null\n"
        "  br i1 %nv, label %errk, label %set\n"
        "set:\n  %r = call i32 @pybpf_dict_set(ptr %d, ptr %k, ptr %v)\n"
        "  call void @pybpf_decref(ptr %k)\n  call void @pybpf_decref(ptr %v)\n"
        "  %bad = icmp ne i32 %r, 0\n  br i1 %bad, label %err, label %ok\n"
        "ok:\n  ret i1 true\nerrk:\n  call void @pybpf_decref(ptr %k)\n  br label %err\n"
        "err:\n  call void @pybpf_err_clear()\n  ret i1 false\n}\n")


def _handled(r0: str, p: str = "%hd") -> str:
    return (f"  {p}1 = insertvalue {RET} undef, i64 {r0}, 0\n"
            f"  {p}2 = insertvalue {RET} {p}1, i64 0, 1\n"
            f"  {p}3 = insertvalue {RET} {p}2, i1 true, 2\n  ret {RET} {p}3\n")


def _head(name: str, args: str) -> str:
    """Start of @ki_<name>(st, e, ...): %h, %ks, %flags, %lru and %kp, the key in plain
    memory (else not handled)."""
    return (
        f"define internal {RET} @ki_{name}(ptr %st, ptr %e, {args}) {{\n"
        "entry:\n" + _w("%hw", 7, "%e") + "  %h = inttoptr i64 %hw to ptr\n"
        + _w("%ks", Key.KEY_SIZE) + _w("%flags", Key.FLAGS)
        + f"  %lb = and i64 %flags, {int(KeyFlag.LRU)}\n  %lru = icmp ne i64 %lb, 0\n"
        "  %kp = call ptr @fast_region(ptr %st, i64 %r2, i64 %ks, i64 0)\n"
        "  %nk = icmp eq ptr %kp, null\n  br i1 %nk, label %no, label %key\n"
        "no:\n" + NO + "key:\n")


def _value_of(slot: str, out: str) -> str:
    """`out` = the VM address of slot `slot`'s value (CPU 0's)."""
    return (_w(f"{out}b", 1, "%e") + _w(f"{out}st", 3, "%e")
            + f"  {out}o = mul i64 {slot}, {out}st\n  {out} = add i64 {out}b, {out}o\n")


def _lookup() -> str:
    """bpf_map_lookup_elem: the value's address or 0; a program's lookup makes an LRU
    map's key the most recent (LRUHashMap._touch)."""
    return (
        _head("lookup", "i64 %r2")
        + "  %f = call { i64, i64, i1 } @ki_find(ptr %h, ptr %kp)\n"
        "  %slot = extractvalue { i64, i64, i1 } %f, 0\n"
        "  %absent = icmp eq i64 %slot, -1\n  br i1 %absent, label %zero, label %hit\n"
        "zero:\n" + _handled("0", "%z")
        + "hit:\n  br i1 %lru, label %touch, label %addr\n"
        "touch:\n  call void @ki_touch(ptr %h, i64 %slot)\n  br label %addr\n"
        "addr:\n" + _value_of("%slot", "%va") + _handled("%va") + "}\n")


def _lpm_fns() -> str:
    """@ki_lpm_prefix(buf, key, l, dlen): at buf, the index key of an LPM key's first
    l bits (l, then those bits and zeros; dlen data bytes). @ki_lpm_count(h, plen,
    delta): the entries of prefix length plen change by delta (+1 or -1); a length
    gained or lost goes into or out of the lengths stored, longest first
    (KeyIndex.count_length)."""
    return (
        "define internal void @ki_lpm_prefix(ptr %buf, ptr %kp, i64 %l, i64 %dlen) {\n"
        "entry:\n  %l32 = trunc i64 %l to i32\n  store i32 %l32, ptr %buf, align 1\n"
        "  %bd = getelementptr i8, ptr %buf, i64 4\n  %kd = getelementptr i8, ptr %kp, i64 4\n"
        "  call void @llvm.memcpy.p0.p0.i64(ptr %bd, ptr %kd, i64 %dlen, i1 false)\n"
        "  %full = lshr i64 %l, 3\n  %rem = and i64 %l, 7\n"
        "  %part = icmp ne i64 %rem, 0\n  br i1 %part, label %cut, label %clear\n"
        "cut:\n  %cp = getelementptr i8, ptr %bd, i64 %full\n  %cb = load i8, ptr %cp\n"
        "  %f1 = add i64 %full, 1\n"
        "  %sh = sub i64 8, %rem\n  %m64 = shl i64 255, %sh\n  %m8 = trunc i64 %m64 to i8\n"
        "  %cb1 = and i8 %cb, %m8\n  store i8 %cb1, ptr %cp\n  br label %clear\n"
        "clear:\n  %z0 = phi i64 [%full, %entry], [%f1, %cut]\n"
        "  %zn = sub i64 %dlen, %z0\n  %zp = getelementptr i8, ptr %bd, i64 %z0\n"
        "  %zpos = icmp sgt i64 %zn, 0\n  br i1 %zpos, label %zero_tail, label %done\n"
        "zero_tail:\n  call void @llvm.memset.p0.i64(ptr %zp, i8 0, i64 %zn, i1 false)\n"
        "  br label %done\n"
        "done:\n  ret void\n}\n"
        "define internal void @ki_lpm_count(ptr %h, i64 %plen, i32 %delta) {\n"
        "entry:\n" + _w("%cs", Key.COUNTS, ty="ptr") + _w("%lens", Key.LENS, ty="ptr")
        + _w("%n", Key.NLENS) + _w("%ch", Key.CHANGES)
        + "  %ch1 = add i64 %ch, 1\n" + _set(Key.CHANGES, "%ch1", "%chp")
        + "  %cp = getelementptr i32, ptr %cs, i64 %plen\n  %c = load i32, ptr %cp\n"
        "  %c1 = add i32 %c, %delta\n  store i32 %c1, ptr %cp\n"
        "  %p32 = trunc i64 %plen to i32\n"
        "  %adding = icmp sgt i32 %delta, 0\n  br i1 %adding, label %add, label %sub\n"
        # a length gained: shift the shorter ones one place on, from the end
        "add:\n  %new = icmp eq i32 %c1, 1\n  br i1 %new, label %iloop, label %done\n"
        "iloop:\n  %j = phi i64 [%n, %add], [%jm, %imove]\n"
        "  %jz = icmp eq i64 %j, 0\n  br i1 %jz, label %iput, label %icmp\n"
        "icmp:\n  %jm = sub i64 %j, 1\n  %pp = getelementptr i32, ptr %lens, i64 %jm\n"
        "  %pv = load i32, ptr %pp\n  %less = icmp ult i32 %pv, %p32\n"
        "  br i1 %less, label %imove, label %iput\n"
        "imove:\n  %dp = getelementptr i32, ptr %lens, i64 %j\n  store i32 %pv, ptr %dp\n"
        "  br label %iloop\n"
        "iput:\n  %ip = getelementptr i32, ptr %lens, i64 %j\n  store i32 %p32, ptr %ip\n"
        "  %n1 = add i64 %n, 1\n" + _set(Key.NLENS, "%n1", "%np1") + "  br label %done\n"
        # a length lost: shift the shorter ones one place back over it
        "sub:\n  %gone = icmp eq i32 %c1, 0\n  br i1 %gone, label %rloop, label %done\n"
        "rloop:\n  %i = phi i64 [0, %sub], [%i1, %rnext]\n"
        "  %iin = icmp ult i64 %i, %n\n  br i1 %iin, label %rcmp, label %done\n"
        "rcmp:\n  %rp = getelementptr i32, ptr %lens, i64 %i\n  %rv = load i32, ptr %rp\n"
        "  %is = icmp eq i32 %rv, %p32\n  br i1 %is, label %shift, label %rnext\n"
        "rnext:\n  %i1 = add i64 %i, 1\n  br label %rloop\n"
        "shift:\n  %k = phi i64 [%i, %rcmp], [%k1, %sbody]\n  %k1 = add i64 %k, 1\n"
        "  %more = icmp ult i64 %k1, %n\n  br i1 %more, label %sbody, label %rdone\n"
        "sbody:\n  %sp = getelementptr i32, ptr %lens, i64 %k1\n  %sv = load i32, ptr %sp\n"
        "  %tp = getelementptr i32, ptr %lens, i64 %k\n  store i32 %sv, ptr %tp\n"
        "  br label %shift\n"
        "rdone:\n  %n0 = sub i64 %n, 1\n" + _set(Key.NLENS, "%n0", "%np0")
        + "  br label %done\n"
        "done:\n  ret void\n}\n")


def _lpm_head(name: str, args: str, over: str) -> str:
    """_head for an LPM trie: a key of 5..MAX_LPM_KEY bytes (else not handled), its
    prefixlen %plen (past the longest prefix: to label `over`) and %dlen data bytes."""
    return (
        _head(name, args)
        + f"  %big = icmp ugt i64 %ks, {MAX_LPM_KEY}\n  %small = icmp ult i64 %ks, 5\n"
        "  %odd = or i1 %big, %small\n  br i1 %odd, label %no, label %go\n"
        "go:\n  %plen32 = load i32, ptr %kp, align 1\n  %plen = zext i32 %plen32 to i64\n"
        "  %dlen = sub i64 %ks, 4\n  %maxp = shl i64 %dlen, 3\n"
        f"  %over = icmp ugt i64 %plen, %maxp\n  br i1 %over, label %{over}, label %pfx\n"
        "pfx:\n  %buf = alloca [264 x i8], align 8\n")


def _lpm() -> str:
    """bpf_map_lookup_elem on an LPM trie: for each stored prefix length, longest
    first, that is at most the key's prefixlen, the key's prefix of that length
    looked up in the index (LPMTrieMap._op_lookup)."""
    return (
        _lpm_head("lpm_lookup", "i64 %r2", "zero")
        + _w("%nl", Key.NLENS) + _w("%lens", Key.LENS, ty="ptr")
        + "  br label %loop\n"
        "loop:\n  %i = phi i64 [0, %pfx], [%i1, %next]\n"
        "  %done = icmp uge i64 %i, %nl\n  br i1 %done, label %zero, label %len\n"
        "len:\n  %lp = getelementptr i32, ptr %lens, i64 %i\n  %l32 = load i32, ptr %lp\n"
        "  %l = zext i32 %l32 to i64\n  %fits = icmp ule i64 %l, %plen\n"
        "  br i1 %fits, label %probe, label %next\n"
        "probe:\n  call void @ki_lpm_prefix(ptr %buf, ptr %kp, i64 %l, i64 %dlen)\n"
        "  %f = call { i64, i64, i1 } @ki_find(ptr %h, ptr %buf)\n"
        "  %slot = extractvalue { i64, i64, i1 } %f, 0\n"
        "  %absent = icmp eq i64 %slot, -1\n  br i1 %absent, label %next, label %hit\n"
        "next:\n  %i1 = add i64 %i, 1\n  br label %loop\n"
        "hit:\n" + _value_of("%slot", "%va") + _handled("%va")
        + "zero:\n" + _handled("0", "%z") + "}\n")


def _keyed_head(name: str, args: str, lpm: bool) -> str:
    """The start of a hash map's @ki_<name> or an LPM trie's @ki_lpm_<name>: %ik, the
    index key (a trie's: the prefix the key names; prefixlen too long: not handled)."""
    if not lpm:
        return _head(name, args) + "  %ik = getelementptr i8, ptr %kp, i64 0\n"
    return (_lpm_head(f"lpm_{name}", args, "no")
            + "  call void @ki_lpm_prefix(ptr %buf, ptr %kp, i64 %plen, i64 %dlen)\n"
            "  %ik = getelementptr i8, ptr %buf, i64 0\n")


def _delete(lpm: bool) -> str:
    """bpf_map_delete_elem: 0 or -ENOENT (HashMap._op_delete, LPMTrieMap._op_delete)."""
    return (
        _keyed_head("delete", "i64 %r2", lpm)
        + "  %f = call { i64, i64, i1 } @ki_find(ptr %h, ptr %ik)\n"
        "  %slot = extractvalue { i64, i64, i1 } %f, 0\n"
        "  %pos = extractvalue { i64, i64, i1 } %f, 1\n"
        "  %absent = icmp eq i64 %slot, -1\n  br i1 %absent, label %enoent, label %walks\n"
        "enoent:\n" + _handled(str(-ENOENT), "%z")
        + "walks:\n" + _w("%wk", Key.WALKS)
        + "  %walking = icmp ne i64 %wk, 0\n  br i1 %walking, label %no, label %dict\n"
        "dict:\n  %ok = call i1 @ki_dict_del(ptr %h, ptr %ik)\n"
        "  br i1 %ok, label %drop, label %no\n"
        "drop:\n  call void @ki_drop(ptr %h, i64 %slot, i64 %pos)\n"
        + ("  call void @ki_lpm_count(ptr %h, i64 %plen, i32 -1)\n" if lpm else "")
        + _handled("0") + "}\n")


def _update(lpm: bool) -> str:
    """bpf_map_update_elem with BPF_ANY, BPF_NOEXIST or BPF_EXIST (HashMap._op_update,
    LPMTrieMap._op_update): a present key's value replaced in place; a new key in a
    free slot (the last freed, else a fresh one), last in iteration order, most recent
    in an LRU map (a full LRU map evicts its least recently used key first, a full
    hash map gives -E2BIG, a full trie -ENOSPC), a per-CPU element zeroed on the other
    CPUs. A trie's entry is the prefix its key names, and keeps the key as written."""
    # a trie's slot: the key as written after the prefix (KeyIndex.write)
    written = ("  %wo0{n} = lshr i64 %kst{n}, 1\n  %wo{n} = add i64 %{ko}, %wo0{n}\n"
               "  %wp{n} = getelementptr i8, ptr %keys{n}, i64 %wo{n}\n"
               "  call void @llvm.memcpy.p0.p0.i64(ptr %wp{n}, ptr %kp, i64 %ks, i1 false)\n")
    full = -ENOSPC if lpm else -E2BIG
    return (
        _keyed_head("update", "i64 %r2, i64 %r3, i64 %r4", lpm)
        + "  %fbad = icmp ugt i64 %r4, 2\n  br i1 %fbad, label %no, label %val\n"
        "val:\n" + _w("%vs", 4, "%e")
        + "  %vp = call ptr @fast_region(ptr %st, i64 %r3, i64 %vs, i64 0)\n"
        "  %nv = icmp eq ptr %vp, null\n  br i1 %nv, label %no, label %find\n"
        "find:\n  %f = call { i64, i64, i1 } @ki_find(ptr %h, ptr %ik)\n"
        "  %slot = extractvalue { i64, i64, i1 } %f, 0\n"
        "  %absent = icmp eq i64 %slot, -1\n  br i1 %absent, label %new, label %present\n"
        # a present key
        "present:\n  %noexist = icmp eq i64 %r4, 1\n  br i1 %noexist, label %eexist, label %put\n"
        "eexist:\n" + _handled(str(-EEXIST), "%x")
        + "put:\n" + _value_of("%slot", "%pa")
        + "  %pd = call ptr @fast_region(ptr %st, i64 %pa, i64 %vs, i64 1)\n"
        "  %npd = icmp eq ptr %pd, null\n  br i1 %npd, label %no, label %copy\n"
        "copy:\n"
        + (_w("%keys1", Key.KEYS, ty="ptr") + _w("%kst1", Key.KEY_STRIDE)
           + "  %pko = mul i64 %slot, %kst1\n" + written.format(n=1, ko="pko") if lpm else "")
        + "  call void @llvm.memmove.p0.p0.i64(ptr %pd, ptr %vp, i64 %vs, i1 false)\n"
        "  br i1 %lru, label %touch, label %done\n"
        "touch:\n  call void @ki_touch(ptr %h, i64 %slot)\n  br label %done\n"
        "done:\n" + _handled("0", "%dn")
        # a new key
        + "new:\n  %exist = icmp eq i64 %r4, 2\n  br i1 %exist, label %enoent, label %room\n"
        "enoent:\n" + _handled(str(-ENOENT), "%y")
        + "room:\n" + _w("%d", Key.DICT, ty="ptr")
        + "  %count = call i64 @pybpf_dict_size(ptr %d)\n" + _w("%cap", Key.CAPACITY)
        + "  %isfull = icmp uge i64 %count, %cap\n  br i1 %isfull, label %full, label %free\n"
        "full:\n  br i1 %lru, label %evictable, label %e2big\n"
        "e2big:\n" + _handled(str(full), "%b")
        + "evictable:\n" + _w("%wk", Key.WALKS) + _w("%victim", Key.LRU_HEAD)
        + "  %walking = icmp ne i64 %wk, 0\n"
        f"  %novictim = icmp eq i64 %victim, {NIL}\n"
        "  %cannot = or i1 %walking, %novictim\n  br i1 %cannot, label %no, label %checks\n"
        "free:\n" + _w("%nf", Key.NFREED) + _w("%fresh", Key.FRESH) + _w("%slots", Key.SLOTS)
        + "  %hasfreed = icmp ne i64 %nf, 0\n  br i1 %hasfreed, label %popped, label %fresh_ok\n"
        "popped:\n" + _w("%fr", Key.FREED, ty="ptr")
        + "  %nf0 = sub i64 %nf, 1\n  %frp = getelementptr i32, ptr %fr, i64 %nf0\n"
        "  %fs32 = load i32, ptr %frp\n  %fs = zext i32 %fs32 to i64\n  br label %checks\n"
        "fresh_ok:\n  %beyond = icmp uge i64 %fresh, %slots\n"
        "  br i1 %beyond, label %no, label %checks\n"
        "checks:\n  %ns = phi i64 [%victim, %evictable], [%fs, %popped], [%fresh, %fresh_ok]\n"
        + _w("%used", Key.USED) + _w("%mask", Key.IMASK)
        + "  %isz = add i64 %mask, 1\n  %lim0 = mul i64 %isz, 3\n  %lim = lshr i64 %lim0, 2\n"
        "  %used1 = add i64 %used, 1\n  %dense = icmp ugt i64 %used1, %lim\n"
        "  br i1 %dense, label %no, label %dest\n"
        "dest:\n" + _value_of("%ns", "%na") + _w("%sb", 3, "%e")
        + f"  %pcpu0 = and i64 %flags, {int(KeyFlag.PERCPU)}\n  %pcpu = icmp ne i64 %pcpu0, 0\n"
        "  %dsz = select i1 %pcpu, i64 %sb, i64 %vs\n"
        "  %nd = call ptr @fast_region(ptr %st, i64 %na, i64 %dsz, i64 1)\n"
        "  %nnd = icmp eq ptr %nd, null\n  br i1 %nnd, label %no, label %evict\n"
        # from here on the map changes
        "evict:\n  br i1 %isfull, label %evicting, label %set\n"
        "evicting:\n" + _w("%keys", Key.KEYS, ty="ptr") + _w("%kst", Key.KEY_STRIDE)
        + "  %vko = mul i64 %ns, %kst\n  %vkp = getelementptr i8, ptr %keys, i64 %vko\n"
        "  %vdel = call i1 @ki_dict_del(ptr %h, ptr %vkp)\n"
        "  br i1 %vdel, label %vdrop, label %no\n"
        "vdrop:\n  %vf = call { i64, i64, i1 } @ki_find(ptr %h, ptr %vkp)\n"
        "  %vpos = extractvalue { i64, i64, i1 } %vf, 1\n"
        "  call void @ki_drop(ptr %h, i64 %ns, i64 %vpos)\n"
        + _w("%ev", Key.EVICTIONS) + "  %ev1 = add i64 %ev, 1\n"
        + _set(Key.EVICTIONS, "%ev1", "%evp")
        + "  br label %set\n"
        "set:\n  %sok = call i1 @ki_dict_set(ptr %h, ptr %ik, i64 %ns)\n"
        "  br i1 %sok, label %alloc, label %no\n"
        "alloc:\n" + _w("%nf2", Key.NFREED)
        + "  %pop = icmp ne i64 %nf2, 0\n  br i1 %pop, label %apop, label %afresh\n"
        "apop:\n  %nf3 = sub i64 %nf2, 1\n" + _set(Key.NFREED, "%nf3", "%nfp3")
        + "  br label %place\n"
        "afresh:\n" + _w("%fr2", Key.FRESH) + "  %fr3 = add i64 %fr2, 1\n"
        + _set(Key.FRESH, "%fr3", "%frp3") + "  br label %place\n"
        "place:\n" + _w("%keys2", Key.KEYS, ty="ptr") + _w("%kst2", Key.KEY_STRIDE)
        + "  %nko = mul i64 %ns, %kst2\n  %nkp = getelementptr i8, ptr %keys2, i64 %nko\n"
        "  call void @llvm.memcpy.p0.p0.i64(ptr %nkp, ptr %ik, i64 %ks, i1 false)\n"
        + (written.format(n=2, ko="nko") if lpm else "")
        + "  %g = call { i64, i64, i1 } @ki_find(ptr %h, ptr %ik)\n"
        "  %gpos = extractvalue { i64, i64, i1 } %g, 1\n"
        "  %gempty = extractvalue { i64, i64, i1 } %g, 2\n"
        + _w("%idx", Key.INDEX, ty="ptr")
        + "  %gp = getelementptr i32, ptr %idx, i64 %gpos\n  %ns1 = add i64 %ns, 1\n"
        "  %ns32 = trunc i64 %ns1 to i32\n  store i32 %ns32, ptr %gp\n"
        + _w("%u2", Key.USED) + "  %inc = zext i1 %gempty to i64\n  %u3 = add i64 %u2, %inc\n"
        + _set(Key.USED, "%u3", "%up")
        + "  br label %link\n"
        "link:\n" + _orders("append", False, "%ns")
        + ("  call void @ki_lpm_count(ptr %h, i64 %plen, i32 1)\n" if lpm else "")
        + "  br i1 %lru, label %lrulink, label %write\n"
        "lrulink:\n" + _orders("append", True, "%ns") + "  br label %write\n"
        "write:\n  br i1 %pcpu, label %zeroed, label %copied\n"
        "zeroed:\n  call void @llvm.memset.p0.i64(ptr %nd, i8 0, i64 %sb, i1 false)\n"
        "  br label %copied\n"
        "copied:\n  call void @llvm.memmove.p0.p0.i64(ptr %nd, ptr %vp, i64 %vs, i1 false)\n"
        + _handled("0", "%w") + "}\n")


def keyindex_ir() -> str:
    """Every key-index function (what a module calling a map fast path includes)."""
    return "".join([DECLS, _crc_table(), _crc(), _find(), _lists(), _slot_ops(), _lookup(),
                     _lpm_fns(), _lpm(), _delete(False), _delete(True), _update(False),
                     _update(True)])


__all__ = ["SYMBOLS", "keyindex_ir"]
