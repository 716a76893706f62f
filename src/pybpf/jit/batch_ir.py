"""The LLVM IR of the native batch driver (pybpf.jit.batch): one module for every
program, compiled once a process.

@batch_drive(st) walks classic-pcap records in a buffer and runs each packet through
the program's @bpf_main (a pointer in the batch words): the packet copied into the
page at the headroom, the window and the stacks reset, r1 the context, the verdict
counted. It returns to Python (BatchExit) whenever a packet needs more than that.
@batch_cb is the state's callback while a batch runs: loads and stores in the packet
window, whole-field loads and stores of the context and an sk_buff's LD_ABS / LD_IND
are served natively, everything else goes to the Python callback in Word.PYCB,
exactly as without the batch."""

from __future__ import annotations

from enum import IntEnum

from .layout import Op, Slot

PCAP_RECORD = 16  # a classic-pcap record header: ts_sec, ts_frac, incl_len, orig_len
FRAME_HEAD = 16  # an output frame in the arena: u64 ts, u32 orig_len, u32 length
# an extra region: segment, load limit, store limit (0: read-only), host address. The
# segments past the region table (maps' values live at 0x4d50_0000 + map id) are
# looked up here, in the callback, rather than in Python.
EXTRA_WORDS = 4


class Word(IntEnum):
    """The batch words: u64s after the state's Slot.SIZE slots (`st[Slot.SIZE + w]`)."""

    MAIN = 0  # @bpf_main's address
    PYCB = 1  # the Python callback (what the state's callback is without a batch)
    BUF = 2  # host address of the record buffer
    BUFLEN = 3
    POS = 4  # the next record's offset in the buffer (in and out)
    FLAGS = 5  # Flag bits of the capture
    LIMIT = 6  # packets still to run before returning (progress)
    MAXPKT = 7  # the most bytes a record may claim (pcap.MAX_PACKET)
    PAGE = 8  # host address of the packet's buffer (the page, or Python's skb's)
    PAGESIZE = 9
    HEADROOM = 10
    MINLEN = 11  # packets shorter or longer than these run in Python
    MAXLIN = 12
    DATA_META = 13  # the window: offsets into the page (Python syncs them)
    DATA = 14
    DATA_END = 15
    PKT_BASE = 16  # the page's VM address
    PKT_W = 17  # the packet is writable
    CTX_BASE = 18  # the context's VM address (r1)
    CTX_MASK = 19  # bit i: a 4-byte load at offset 4 i is served natively
    CTX_TAB = 20  # host address of the context table (Tab blocks of TAB_FIELDS u64)
    CTX_N = 21  # context fields in the table (4-byte words from CTX_BASE)
    CTX_PY = 22  # 1: once a packet has called Python, Python serves its context
    SKB = 23  # 1: an sk_buff's protocol and pkt_type are found at each packet's setup
    PROTO = 24  # this packet's (skb->protocol, a __be16; pkt_type: PacketType)
    PKT_TYPE = 25
    PAGE0 = 26  # host address of the batch's page (PAGE is it again at each packet)
    STACK = 27  # host address of the stacks zeroed before each packet, and the bytes
    STACKLEN = 28  # zeroed (0 for a program that never names r10: its stack stays zero)
    BUDGET = 29
    COUNTS = 30  # host address of the return value histogram (u64 per value below NCOUNT)
    NCOUNT = 31
    WANT = 32  # keep the output frames of packets returning PASSVAL
    PASSVAL = 33
    OUT = 34  # host address of the frame arena, its size and the bytes used
    OUTCAP = 35
    OUTPOS = 36
    TS = 37  # the packet's capture time (what the capture clock reads)
    ORIG = 38  # its orig_len
    LASTPOS = 39  # the offset of the last record run (a packet handed back)
    R0 = 40  # its 32-bit return value
    STATUS = 41  # its native status (layout.Status) when not OK
    DIRTY = 42  # the page is zeroed whole before the next packet (Python touched it)
    PREVLEN = 43  # bytes of the last packet (zeroed past the next one)
    CALLBACKS = 44  # Python callbacks during the current packet
    SEQ = 45  # packets set up so far (Python resets its state at a new one)
    DONE = 46  # packets finished natively
    MASK32 = 47  # the return value's mask (0xFFFFFFFF)
    EXTRA = 48  # host address of the extra regions: EXTRA_WORDS u64 each
    NEXTRA = 49
    STACKALL = 50  # the stacks' size: zeroed whole after a packet Python touched
    DEV_ADDR = 51  # an sk_buff's device: its hardware and broadcast addresses (48 bits,
    DEV_BCAST = 52  # the bytes as a little-endian load reads them)
    DATA_OFF = 53  # where data starts past HEADROOM (an sk_buff's network header: 14)
    TOUCHED = 54  # host address of the u32 return values counted since Python took the
    NTOUCHED = 55  # counts (each once), and how many
    SIZE = 56


class Flag(IntEnum):
    BIG_ENDIAN = 1
    NANO = 2


class FieldValue(IntEnum):
    """What a native context field load returns."""

    CONST = 0  # the field's value in Tab.VALS (the template's, or what a store left)
    DATA = 1  # PKT_BASE + DATA
    DATA_END = 2
    DATA_META = 3
    LEN = 4  # DATA_END - DATA
    PROTO = 5  # Word.PROTO
    PKT_TYPE = 6  # Word.PKT_TYPE


class Tab(IntEnum):
    """The context table's blocks, TAB_FIELDS u64 each (field i at block + i): how a
    load is served, the mask a 4-byte store keeps (0: Python does the store), the
    values a packet starts with and its values now."""

    KIND = 0
    SMASK = 1
    TEMPLATE = 2
    VALS = 3


TAB_FIELDS = 48  # struct __sk_buff's 192 bytes (the batch's table; a single run's words: layout)
TAB_WORDS = 4 * TAB_FIELDS
ETH_P_802_3 = 0x0001  # eth_type_trans's protocols for a length field
ETH_P_802_2 = 0x0004
ETH_P_802_3_MIN = 0x0600
PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST = 0, 1, 2, 3
ETH_HLEN = 14
SKF_NET_OFF = -0x100000  # LD_ABS offsets from the network header, and the MAC header
SKF_LL_OFF = -0x200000


class BatchExit(IntEnum):
    """Why @batch_drive returned."""

    MORE = 0  # no complete record left at POS: refill, or the capture ended
    LIMIT = 1  # LIMIT packets ran
    PYTHON = 2  # the record at POS runs in Python (its length)
    BAD = 3  # the record at POS claims more than MAXPKT bytes
    STATUS = 4  # the packet at LASTPOS ended with STATUS (a fault, an exception...)
    VERDICT = 5  # the packet at LASTPOS returned R0 >= NCOUNT
    FULL = 6  # the frame arena has no room for another frame


def _w(name: str, word: Word, ty: str = "i64") -> str:
    return (f"  {name}.p = getelementptr i64, ptr %st, i64 {int(Slot.SIZE) + int(word)}\n"
            f"  {name} = load {ty}, ptr {name}.p\n")


_names = iter(range(1, 1 << 30))  # fresh names for the stores' pointers


def _put(word: Word, value: str) -> str:
    return _s(int(Slot.SIZE) + int(word), value)


def _s(index: int, value: str) -> str:
    k = next(_names)
    return (f"  %q{k} = getelementptr inbounds i64, ptr %st, i64 {int(index)}\n"
            f"  store i64 {value}, ptr %q{k}\n")


def _callback() -> str:
    """@batch_cb(st, op, a, b, c, pc): the packet window, the context's fields and
    the extra regions natively, the rest to Word.PYCB."""
    cases = " ".join(f"i64 {size}, label %{{}}{size}" for size in (1, 2, 4, 8))
    loads, stores = [], []
    for size in (1, 2, 4, 8):
        t = f"i{8 * size}"
        loads.append(f"l{size}:\n  %v{size} = load {t}, ptr %pl, align 1\n"
                     + (f"  %z{size} = zext {t} %v{size} to i64\n  ret i64 %z{size}\n"
                        if size < 8 else f"  ret i64 %v{size}\n"))
        value = f"%t{size}" if size < 8 else "%c"
        stores.append(f"s{size}:\n" + (f"  %t{size} = trunc i64 %c to {t}\n" if size < 8 else "")
                      + f"  store {t} {value}, ptr %ps, align 1\n  ret i64 0\n")
    return (
        "define internal i64 @batch_cb(ptr %st, i64 %op, i64 %a, i64 %b, i64 %c, i64 %pc) {\n"
        f"entry:\n  %isl = icmp eq i64 %op, {int(Op.LOAD)}\n"
        f"  %iss = icmp eq i64 %op, {int(Op.STORE)}\n  %mem = or i1 %isl, %iss\n"
        "  br i1 %mem, label %memop, label %notmem\n"
        + _ldpkt()
        + "memop:\n" + _w("%pb", Word.PKT_BASE) + _w("%lo", Word.DATA_META)
        + _w("%hi", Word.DATA_END) + _w("%psz", Word.PAGESIZE)
        + "  %off = sub i64 %a, %pb\n  %small = icmp ult i64 %off, %psz\n"
        "  %end = add i64 %off, %b\n  %okl = icmp uge i64 %off, %lo\n"
        "  %okh = icmp ule i64 %end, %hi\n  %ok1 = and i1 %small, %okl\n"
        "  %ok = and i1 %ok1, %okh\n  br i1 %ok, label %pkt, label %notpkt\n"
        "pkt:\n" + _w("%page", Word.PAGE, "ptr")
        + "  %pp = getelementptr i8, ptr %page, i64 %off\n"
        "  br i1 %isl, label %doload, label %pw\n"
        "pw:\n" + _w("%wr", Word.PKT_W) + "  %wok = icmp ne i64 %wr, 0\n"
        "  br i1 %wok, label %dostore, label %fwd\n"
        # the context: a 4-byte field at an aligned offset in the table, its load as
        # its kind says, a store kept masked (while no Python callback made the
        # packet's model the context where CTX_PY says so); the rest to Python
        "notpkt:\n" + _w("%cb", Word.CTX_BASE) + _w("%cn", Word.CTX_N)
        + "  %co = sub i64 %a, %cb\n  %clim = shl i64 %cn, 2\n  %in = icmp ult i64 %co, %clim\n"
        "  %b4 = icmp eq i64 %b, 4\n  %al = and i64 %co, 3\n  %al0 = icmp eq i64 %al, 0\n"
        "  %c1 = and i1 %in, %b4\n  %c2 = and i1 %c1, %al0\n"
        "  br i1 %c2, label %ctxpy, label %extra\n"
        "ctxpy:\n" + _w("%cpy", Word.CTX_PY) + _w("%ncb0", Word.CALLBACKS)
        + "  %py1 = icmp ne i64 %cpy, 0\n  %py2 = icmp ne i64 %ncb0, 0\n"
        "  %late = and i1 %py1, %py2\n  br i1 %late, label %fwd, label %ctxf\n"
        "ctxf:\n  %fi = lshr i64 %co, 2\n" + _w("%tab", Word.CTX_TAB, "ptr")
        + "  br i1 %isl, label %ctxl, label %ctxs\n"
        "ctxl:\n" + _w("%mask", Word.CTX_MASK)
        + "  %mb = lshr i64 %mask, %fi\n  %m1 = and i64 %mb, 1\n  %on = icmp ne i64 %m1, 0\n"
        "  br i1 %on, label %kv, label %fwd\n"
        f"kv:\n  %ki = add i64 %fi, {int(Tab.KIND) * TAB_FIELDS}\n"
        "  %kp = getelementptr i64, ptr %tab, i64 %ki\n  %k = load i64, ptr %kp\n"
        f"  switch i64 %k, label %kconst [ i64 {int(FieldValue.DATA)}, label %kdata "
        f"i64 {int(FieldValue.DATA_END)}, label %kend i64 {int(FieldValue.DATA_META)}, "
        f"label %kmeta i64 {int(FieldValue.LEN)}, label %klen "
        f"i64 {int(FieldValue.PROTO)}, label %kproto "
        f"i64 {int(FieldValue.PKT_TYPE)}, label %kptype ]\n"
        f"kconst:\n  %vi = add i64 %fi, {int(Tab.VALS) * TAB_FIELDS}\n"
        "  %vp = getelementptr i64, ptr %tab, i64 %vi\n  %cv = load i64, ptr %vp\n"
        "  ret i64 %cv\n"
        "kdata:\n" + _w("%d", Word.DATA) + "  %dv = add i64 %pb, %d\n  ret i64 %dv\n"
        "kend:\n  %ev = add i64 %pb, %hi\n  ret i64 %ev\n"
        "kmeta:\n  %mv = add i64 %pb, %lo\n  ret i64 %mv\n"
        "klen:\n" + _w("%ld", Word.DATA) + "  %lv = sub i64 %hi, %ld\n  ret i64 %lv\n"
        "kproto:\n" + _w("%pv", Word.PROTO) + "  ret i64 %pv\n"
        "kptype:\n" + _w("%tv", Word.PKT_TYPE) + "  ret i64 %tv\n"
        f"ctxs:\n  %si = add i64 %fi, {int(Tab.SMASK) * TAB_FIELDS}\n"
        "  %sp = getelementptr i64, ptr %tab, i64 %si\n  %sm = load i64, ptr %sp\n"
        "  %snone = icmp eq i64 %sm, 0\n  br i1 %snone, label %fwd, label %sput\n"
        f"sput:\n  %wi = add i64 %fi, {int(Tab.VALS) * TAB_FIELDS}\n"
        "  %wp = getelementptr i64, ptr %tab, i64 %wi\n  %wv = and i64 %c, %sm\n"
        "  store i64 %wv, ptr %wp\n  ret i64 0\n"
        # the extra regions (segments past the region table): EXTRA_WORDS words each
        "extra:\n" + _w("%xt", Word.EXTRA, "ptr") + _w("%xn", Word.NEXTRA)
        + "  %seg = lshr i64 %a, 32\n  %low = and i64 %a, 4294967295\n"
        "  %x = xor i64 %low, 2147483648\n  %xe = add i64 %x, %b\n"
        f"  %li = select i1 %isl, i64 1, i64 2\n  br label %xloop\n"
        "xloop:\n  %i = phi i64 [ 0, %extra ], [ %i1, %xnext ]\n"
        "  %xd = icmp uge i64 %i, %xn\n  br i1 %xd, label %fwd, label %xbody\n"
        f"xbody:\n  %eo = mul i64 %i, {EXTRA_WORDS}\n"
        "  %ep = getelementptr i64, ptr %xt, i64 %eo\n  %es = load i64, ptr %ep\n"
        "  %i1 = add i64 %i, 1\n  %same = icmp eq i64 %es, %seg\n"
        "  br i1 %same, label %xseg, label %xnext\n"
        "xnext:\n  br label %xloop\n"
        "xseg:\n  %lp = getelementptr i64, ptr %ep, i64 %li\n  %lim = load i64, ptr %lp\n"
        "  %xin = icmp ule i64 %xe, %lim\n  br i1 %xin, label %xhit, label %fwd\n"
        "xhit:\n  %hp = getelementptr i64, ptr %ep, i64 3\n  %host = load ptr, ptr %hp\n"
        "  %xp = getelementptr i8, ptr %host, i64 %x\n"
        "  br i1 %isl, label %doload, label %dostore\n"
        "doload:\n  %pl = phi ptr [ %pp, %pkt ], [ %xp, %xhit ]\n"
        f"  switch i64 %b, label %fwd [ {cases.format('l', 'l', 'l', 'l')} ]\n"
        + "".join(loads)
        + "dostore:\n  %ps = phi ptr [ %pp, %pw ], [ %xp, %xhit ]\n"
        f"  switch i64 %b, label %fwd [ {cases.format('s', 's', 's', 's')} ]\n"
        + "".join(stores)
        + "fwd:\n" + _w("%ncb", Word.CALLBACKS) + "  %ncb1 = add i64 %ncb, 1\n"
        "  store i64 %ncb1, ptr %ncb.p\n" + _w("%py", Word.PYCB, "ptr")
        + "  %r = call i64 %py(ptr %st, i64 %op, i64 %a, i64 %b, i64 %c, i64 %pc)\n"
        "  ret i64 %r\n}\n")


def _skb_fields() -> str:
    """IR setting Word.PROTO and Word.PKT_TYPE as eth_type_trans finds them in the
    frame at %pagehead (%h2 bytes, zeros after them) on the device of DEV_ADDR and
    DEV_BCAST, and %ipshort: an IP frame shorter than its network header."""
    return (
        "  %dst0 = load i64, ptr %pagehead, align 1\n  %dst = and i64 %dst0, 281474976710655\n"
        "  %ishost = icmp eq i64 %dst, %devaddr\n  %isbc = icmp eq i64 %dst, %devbc\n"
        "  %mc0 = and i64 %dst, 1\n  %mc = icmp ne i64 %mc0, 0\n"
        f"  %grp = select i1 %isbc, i64 {PACKET_BROADCAST}, i64 {PACKET_MULTICAST}\n"
        f"  %away = select i1 %mc, i64 %grp, i64 {PACKET_OTHERHOST}\n"
        f"  %ptype = select i1 %ishost, i64 {PACKET_HOST}, i64 %away\n"
        + _put(Word.PKT_TYPE, "%ptype")
        + "  %tp = getelementptr i8, ptr %pagehead, i64 12\n  %raw = load i16, ptr %tp, align 1\n"
        "  %host = call i16 @llvm.bswap.i16(i16 %raw)\n"
        f"  %isproto = icmp uge i16 %host, {ETH_P_802_3_MIN}\n"
        "  %sapp = getelementptr i8, ptr %pagehead, i64 14\n"
        "  %sap = load i16, ptr %sapp, align 1\n  %raw3 = icmp eq i16 %sap, -1\n"
        f"  %llc = select i1 %raw3, i64 {ETH_P_802_3 << 8}, i64 {ETH_P_802_2 << 8}\n"
        "  %raw64 = zext i16 %raw to i64\n"
        "  %proto = select i1 %isproto, i64 %raw64, i64 %llc\n" + _put(Word.PROTO, "%proto")
        # an IPv4 or IPv6 frame shorter than its network header: the test run refuses
        # it, in Python
        + "  %ip4 = icmp eq i16 %raw, 8\n  %ip6 = icmp eq i16 %raw, -8826\n"
        "  %s4 = icmp ult i64 %h2, 34\n  %s6 = icmp ult i64 %h2, 54\n"
        "  %b4s = and i1 %ip4, %s4\n  %b6s = and i1 %ip6, %s6\n  %ipshort = or i1 %b4s, %b6s\n")


def _ldpkt() -> str:
    """Blocks of @batch_cb for LD_ABS / LD_IND (Op.LDPKT: a = offset, b = size) in an
    sk_buff's batch while its packet has not called Python: the big-endian load from
    data (offset >= 0), the network header (SKF_NET_OFF) or the MAC header
    (SKF_LL_OFF), when it is inside the packet; anything else (out of bounds: the
    program ends with r0 = 0) to Python."""
    return (
        f"notmem:\n  %ld_isld = icmp eq i64 %op, {int(Op.LDPKT)}\n"
        + _w("%ld_lskb", Word.SKB) + _w("%ld_lncb", Word.CALLBACKS)
        + "  %ld_l1 = icmp ne i64 %ld_lskb, 0\n  %ld_l2 = icmp eq i64 %ld_lncb, 0\n"
        "  %ld_l3 = and i1 %ld_l1, %ld_l2\n  %ld_l4 = and i1 %ld_l3, %ld_isld\n"
        "  br i1 %ld_l4, label %ld_ldp, label %fwd\n"
        "ld_ldp:\n  %ld_o32 = trunc i64 %a to i32\n  %ld_o = sext i32 %ld_o32 to i64\n"
        + _w("%ld_ldata", Word.DATA) + _w("%ld_lhead", Word.HEADROOM)
        + _w("%ld_ltail", Word.DATA_END)
        + "  %ld_nonneg = icmp sge i64 %ld_o, 0\n"
        f"  %ld_isnet = icmp sge i64 %ld_o, {SKF_NET_OFF}\n"
        f"  %ld_isll = icmp sge i64 %ld_o, {SKF_LL_OFF}\n"
        f"  %ld_onet = add i64 %ld_o, {ETH_HLEN - SKF_NET_OFF}\n"
        "  %ld_snet = add i64 %ld_lhead, %ld_onet\n"
        f"  %ld_oll = sub i64 %ld_o, {SKF_LL_OFF}\n  %ld_sll = add i64 %ld_lhead, %ld_oll\n"
        "  %ld_sdat = add i64 %ld_ldata, %ld_o\n"
        "  %ld_s1 = select i1 %ld_isnet, i64 %ld_snet, i64 %ld_sll\n"
        "  %ld_start = select i1 %ld_nonneg, i64 %ld_sdat, i64 %ld_s1\n"
        "  %ld_lend = add i64 %ld_start, %b\n  %ld_inb = icmp ule i64 %ld_lend, %ld_ltail\n"
        "  %ld_lok = and i1 %ld_inb, %ld_isll\n  br i1 %ld_lok, label %ld_ldl, label %fwd\n"
        "ld_ldl:\n" + _w("%ld_lpage", Word.PAGE, "ptr")
        + "  %ld_lp = getelementptr i8, ptr %ld_lpage, i64 %ld_start\n"
        "  switch i64 %b, label %fwd [ i64 1, label %ld_lb1 i64 2, label %ld_lb2 "
        "i64 4, label %ld_lb4 ]\n"
        "ld_lb1:\n  %ld_lv1 = load i8, ptr %ld_lp, align 1\n"
        "  %ld_lz1 = zext i8 %ld_lv1 to i64\n"
        "  ret i64 %ld_lz1\n"
        "ld_lb2:\n  %ld_lv2 = load i16, ptr %ld_lp, align 1\n"
        "  %ld_lw2 = call i16 @llvm.bswap.i16(i16 %ld_lv2)\n"
        "  %ld_lz2 = zext i16 %ld_lw2 to i64\n"
        "  ret i64 %ld_lz2\n"
        "ld_lb4:\n  %ld_lv4 = load i32, ptr %ld_lp, align 1\n"
        "  %ld_lw4 = call i32 @llvm.bswap.i32(i32 %ld_lv4)\n"
        "  %ld_lz4 = zext i32 %ld_lw4 to i64\n"
        "  ret i64 %ld_lz4\n")


def _drive() -> str:
    """@batch_drive(st) -> BatchExit (see the module)."""
    hdr = "".join(
        f"  %h{i}p = getelementptr i8, ptr %rec, i64 {4 * i}\n"
        f"  %h{i}r = load i32, ptr %h{i}p, align 1\n"
        f"  %h{i}s = call i32 @llvm.bswap.i32(i32 %h{i}r)\n"
        f"  %h{i}x = select i1 %big, i32 %h{i}s, i32 %h{i}r\n"
        f"  %h{i} = zext i32 %h{i}x to i64\n" for i in range(4))
    regs = "".join(_s(r, "0") for r in (2, 3, 4, 5))
    return (
        "define i64 @batch_drive(ptr %st) {\n"
        "entry:\n" + _w("%buf", Word.BUF, "ptr") + _w("%buflen", Word.BUFLEN)
        + _w("%flags", Word.FLAGS) + _w("%maxpkt", Word.MAXPKT) + _w("%page", Word.PAGE0, "ptr")
        + _w("%tab", Word.CTX_TAB, "ptr") + _w("%cn", Word.CTX_N) + _w("%skb", Word.SKB)
        + _w("%devaddr", Word.DEV_ADDR) + _w("%devbc", Word.DEV_BCAST)
        + _w("%doff", Word.DATA_OFF)
        + _w("%psz", Word.PAGESIZE) + _w("%head", Word.HEADROOM) + _w("%minlen", Word.MINLEN)
        + _w("%maxlin", Word.MAXLIN) + _w("%main", Word.MAIN, "ptr")
        + _w("%stack", Word.STACK, "ptr") + _w("%stacklen", Word.STACKLEN)
        + _w("%stackall", Word.STACKALL)
        + _w("%budget", Word.BUDGET) + _w("%r1", Word.CTX_BASE)
        + _w("%counts", Word.COUNTS, "ptr") + _w("%ncount", Word.NCOUNT)
        + _w("%want", Word.WANT) + _w("%passval", Word.PASSVAL) + _w("%out", Word.OUT, "ptr")
        + _w("%outcap", Word.OUTCAP) + _w("%m32", Word.MASK32)
        + f"  %bg = and i64 %flags, {int(Flag.BIG_ENDIAN)}\n  %big = icmp ne i64 %bg, 0\n"
        f"  %nn = and i64 %flags, {int(Flag.NANO)}\n  %nano = icmp ne i64 %nn, 0\n"
        "  %scale = select i1 %nano, i64 1, i64 1000\n"
        "  %wants = icmp ne i64 %want, 0\n"
        "  %pagehead = getelementptr i8, ptr %page, i64 %head\n"
        "  %pagei = ptrtoint ptr %page to i64\n  %cbytes = shl i64 %cn, 3\n"
        f"  %tmpl = getelementptr i64, ptr %tab, i64 {int(Tab.TEMPLATE) * TAB_FIELDS}\n"
        f"  %vals = getelementptr i64, ptr %tab, i64 {int(Tab.VALS) * TAB_FIELDS}\n"
        "  %isskb = icmp ne i64 %skb, 0\n"
        "  br label %loop\n"
        "loop:\n" + _w("%pos", Word.POS) + _w("%lim", Word.LIMIT)
        + f"  %lz = icmp eq i64 %lim, 0\n  br i1 %lz, label %x_limit, label %l1\n"
        f"l1:\n  %need = add i64 %pos, {PCAP_RECORD}\n  %short = icmp ugt i64 %need, %buflen\n"
        "  br i1 %short, label %x_more, label %l2\n"
        "l2:\n  %rec = getelementptr i8, ptr %buf, i64 %pos\n" + hdr
        + "  %huge = icmp ugt i64 %h2, %maxpkt\n  br i1 %huge, label %x_bad, label %l3\n"
        "l3:\n  %end = add i64 %need, %h2\n  %cut = icmp ugt i64 %end, %buflen\n"
        "  br i1 %cut, label %x_more, label %l4\n"
        "l4:\n  %tiny = icmp ult i64 %h2, %minlen\n  %long = icmp ugt i64 %h2, %maxlin\n"
        "  %odd = or i1 %tiny, %long\n  br i1 %odd, label %x_python, label %l5\n"
        "l5:\n  br i1 %wants, label %room, label %go\n"
        "room:\n" + _w("%opos", Word.OUTPOS)
        + f"  %left = sub i64 %outcap, %opos\n  %need2 = add i64 %psz, {FRAME_HEAD + 8}\n"
        "  %full = icmp ult i64 %left, %need2\n  br i1 %full, label %x_full, label %go\n"
        "go:\n  %tss = mul i64 %h0, 1000000000\n  %tsf = mul i64 %h1, %scale\n"
        "  %ts = add i64 %tss, %tsf\n" + _put(Word.TS, "%ts") + _put(Word.ORIG, "%h3")
        + _w("%dirty", Word.DIRTY) + "  %isd = icmp ne i64 %dirty, 0\n"
        "  br i1 %isd, label %zall, label %ztail\n"
        "zall:\n  call void @llvm.memset.p0.i64(ptr %page, i8 0, i64 %psz, i1 false)\n"
        + _put(Word.DIRTY, "0") + "  br label %copy\n"
        "ztail:\n" + _w("%prev", Word.PREVLEN)
        + "  %grows = icmp ugt i64 %prev, %h2\n  br i1 %grows, label %zt, label %copy\n"
        "zt:\n  %zp = getelementptr i8, ptr %pagehead, i64 %h2\n  %zn = sub i64 %prev, %h2\n"
        "  call void @llvm.memset.p0.i64(ptr %zp, i8 0, i64 %zn, i1 false)\n"
        "  br label %copy\n"
        f"copy:\n  %src = getelementptr i8, ptr %rec, i64 {PCAP_RECORD}\n"
        "  call void @llvm.memcpy.p0.p0.i64(ptr %pagehead, ptr %src, i64 %h2, i1 false)\n"
        + _put(Word.PREVLEN, "%h2") + _put(Word.PAGE, "%pagei")
        + "  call void @llvm.memcpy.p0.p0.i64(ptr %vals, ptr %tmpl, i64 %cbytes, i1 false)\n"
        "  br i1 %isskb, label %skbset, label %setup\n"
        "skbset:\n" + _skb_fields() + "  br i1 %ipshort, label %x_python, label %setup\n"
        "setup:\n  %dend = add i64 %head, %h2\n"
        + "  %dstart = add i64 %head, %doff\n"
        + _put(Word.DATA_META, "%dstart") + _put(Word.DATA, "%dstart")
        + _put(Word.DATA_END, "%dend")
        + _w("%seq", Word.SEQ) + "  %seq1 = add i64 %seq, 1\n" + _put(Word.SEQ, "%seq1")
        + "  %szero = select i1 %isd, i64 %stackall, i64 %stacklen\n"
        "  call void @llvm.memset.p0.i64(ptr %stack, i8 0, i64 %szero, i1 false)\n"
        + _s(Slot.R1, "%r1") + regs + _s(Slot.START, "0") + _s(Slot.N, "0")
        + _s(Slot.BUDGET, "%budget") + _s(Slot.STATUS, "0")
        + "  %s = call i64 %main(ptr %st)\n"
        + _put(Word.LASTPOS, "%pos") + _put(Word.POS, "%end")
        + _w("%ncb", Word.CALLBACKS) + "  %cbd = icmp ne i64 %ncb, 0\n"
        "  %failed = icmp ne i64 %s, 0\n  %touched = or i1 %cbd, %failed\n"
        "  br i1 %touched, label %mark, label %after\n"
        "mark:\n" + _put(Word.DIRTY, "1") + _put(Word.CALLBACKS, "0") + "  br label %after\n"
        "after:\n  br i1 %failed, label %x_status, label %ok\n"
        "ok:\n" + "  %r0p = getelementptr inbounds i64, ptr %st, i64 0\n"
        "  %r0w = load i64, ptr %r0p\n  %r0 = and i64 %r0w, %m32\n" + _put(Word.R0, "%r0")
        + "  %big0 = icmp uge i64 %r0, %ncount\n  br i1 %big0, label %x_verdict, label %count\n"
        "count:\n  %cp = getelementptr i64, ptr %counts, i64 %r0\n  %cv = load i64, ptr %cp\n"
        "  %cv1 = add i64 %cv, 1\n  store i64 %cv1, ptr %cp\n"
        "  %first = icmp eq i64 %cv, 0\n  br i1 %first, label %touch, label %counted\n"
        # a value counted for the first time since Python last took the counts: listed
        "touch:\n" + _w("%nt", Word.NTOUCHED) + _w("%tl", Word.TOUCHED, "ptr")
        + "  %tp2 = getelementptr i32, ptr %tl, i64 %nt\n  %r32 = trunc i64 %r0 to i32\n"
        "  store i32 %r32, ptr %tp2\n  %nt1 = add i64 %nt, 1\n" + _put(Word.NTOUCHED, "%nt1")
        + "  br label %counted\n"
        "counted:\n  %pass = icmp eq i64 %r0, %passval\n  %keep = and i1 %pass, %wants\n"
        "  br i1 %keep, label %frame, label %next\n"
        "frame:\n" + _w("%fpos", Word.OUTPOS) + _w("%fm", Word.DATA_META)
        + _w("%fe", Word.DATA_END) + "  %flen = sub i64 %fe, %fm\n"
        "  %fh = getelementptr i8, ptr %out, i64 %fpos\n  store i64 %ts, ptr %fh, align 1\n"
        "  %fo = getelementptr i8, ptr %fh, i64 8\n  %o32 = trunc i64 %h3 to i32\n"
        "  store i32 %o32, ptr %fo, align 1\n  %fl = getelementptr i8, ptr %fh, i64 12\n"
        "  %l32 = trunc i64 %flen to i32\n  store i32 %l32, ptr %fl, align 1\n"
        f"  %fd = getelementptr i8, ptr %fh, i64 {FRAME_HEAD}\n"
        + _w("%fpage", Word.PAGE, "ptr")
        + "  %fsrc = getelementptr i8, ptr %fpage, i64 %fm\n"
        "  call void @llvm.memcpy.p0.p0.i64(ptr %fd, ptr %fsrc, i64 %flen, i1 false)\n"
        f"  %fa0 = add i64 %flen, {FRAME_HEAD + 7}\n  %fa = and i64 %fa0, -8\n"
        "  %fpos1 = add i64 %fpos, %fa\n" + _put(Word.OUTPOS, "%fpos1") + "  br label %next\n"
        "next:\n" + _w("%done", Word.DONE) + "  %done1 = add i64 %done, 1\n"
        + _put(Word.DONE, "%done1") + "  %lim1 = sub i64 %lim, 1\n" + _put(Word.LIMIT, "%lim1")
        + "  br label %loop\n"
        + "x_status:\n" + _put(Word.STATUS, "%s") + f"  ret i64 {int(BatchExit.STATUS)}\n"
        + "".join(f"x_{name}:\n  ret i64 {int(code)}\n" for name, code in (
            ("more", BatchExit.MORE), ("limit", BatchExit.LIMIT), ("python", BatchExit.PYTHON),
            ("bad", BatchExit.BAD), ("verdict", BatchExit.VERDICT), ("full", BatchExit.FULL)))
        + "}\n")


def batch_ir() -> str:
    """The whole module."""
    return ("declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)\n"
            "declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)\n"
            "declare i32 @llvm.bswap.i32(i32)\ndeclare i16 @llvm.bswap.i16(i16)\n"
            + _callback() + _drive()
            + "define i64 @batch_cb_address() {\n  ret i64 ptrtoint (ptr @batch_cb to i64)\n}\n")


__all__ = ["TAB_FIELDS", "EXTRA_WORDS", "FRAME_HEAD", "PCAP_RECORD", "TAB_WORDS", "BatchExit",
           "FieldValue", "Flag", "Tab", "Word", "batch_ir"]
