"""Batch runs in native code: a JitVM's packet program over many packets in one native
call (@batch_drive, pybpf.jit.batch_ir), the packets cut out of classic-pcap records.

The program type's layer says where the packet goes (a `PacketSetup`: the page, the
headroom, the context's fields, how to bring its Python model up to date); this module
runs the records and hands back to its caller every packet that needs Python (a length
the page cannot take, a fault or any other status, a return value past the histogram)
with the state as the packet left it, so that the caller finishes it exactly as a
Python run would. While a batch runs, the state's callback serves the packet window and
the context natively and sends everything else to the VM's own callback, after the
Python model of the packet has been given the native window (`PacketSetup.window_in`)
and, after a helper, read back from it (`window_out`)."""

from __future__ import annotations

import ctypes
import functools
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ..isa import M32, M64
from ..vm import Memory
from .batch_ir import (EXTRA_WORDS, FRAME_HEAD, PCAP_RECORD, TAB_FIELDS, TAB_WORDS, BatchExit,
                       FieldValue, Flag, Tab, Word, batch_ir)
from .layout import MAX_TABLE, Op, Slot, Status
from .machine import _BUDGET_MAX, CALLBACK, JitVM, _Run, _signature, host_address

_U64 = ctypes.c_uint64
DRIVE_TYPE = ctypes.PYFUNCTYPE(ctypes.c_int64, ctypes.c_void_p)  # keeps the GIL
NCOUNT = 1 << 16  # return values counted natively (the others are handed back): a
# socket filter's lengths too
ARENA = 1 << 16  # bytes of output frames collected between two returns to Python


class _Driver:
    """The compiled driver module (one a process): @batch_drive and @batch_cb."""

    def __init__(self) -> None:
        from .fastcall import register_symbols
        from .native import _llvm, _new_target_machine, _pass_builder
        llvm = _llvm()
        register_symbols(llvm)
        t0 = time.process_time()
        mod = llvm.parse_assembly(batch_ir())
        mod.verify()
        pb = _pass_builder(2)
        pb.getModulePassManager().run(mod, pb)
        self._engine = llvm.create_mcjit_compiler(mod, _new_target_machine(2))
        self._engine.finalize_object()
        self.drive = DRIVE_TYPE(self._engine.get_function_address("batch_drive"))
        cb_address = ctypes.CFUNCTYPE(ctypes.c_int64)(
            self._engine.get_function_address("batch_cb_address"))
        self.callback = int(cb_address())
        self.compile_ms = (time.process_time() - t0) * 1000


@functools.lru_cache(maxsize=1)
def driver() -> _Driver:
    """The process's driver (compiled at the first batch; JitUnavailable without
    llvmlite)."""
    return _Driver()


class _BatchRun(_Run):
    """The batch's run state: the region table made again after a helper only when the
    regions changed (a batch calls helpers on every packet; the regions are nearly
    always the same ones, in memory that cannot move), and the extra regions (plain
    ones at segments past the table: the maps' values) for @batch_cb."""

    __slots__ = ("_seen", "_extra")
    windows = False  # the packet window is in the batch's words (@batch_cb serves it)

    def sync(self) -> None:
        regions = self.memory.regions
        seen = getattr(self, "_seen", None)
        # the regions with their buffers, writability, bases and accesses (tuples compare
        # item by identity first: nothing is compared by value unless it was replaced)
        sig = _signature(regions)
        if seen is not None and seen == sig:
            return
        super().sync()
        rows: list[int] = []
        pinned = True
        for seg, region in regions.items():
            if region.access is None and not isinstance(region.buf, memoryview):
                pinned = False  # a bytearray may move: look again next time
            if seg < MAX_TABLE or region.access is not None or \
                    region.base != (seg << 32) + (1 << 31):
                continue
            host = self._host(region)
            if host is None:
                continue
            size = len(region.buf)
            rows += [seg, size, size if region.writable else 0, host]
        self._extra = (_U64 * max(len(rows), EXTRA_WORDS))(*rows)
        st = self.st
        if len(st) > int(Slot.SIZE) + int(Word.NEXTRA):
            st[int(Slot.SIZE) + Word.EXTRA] = ctypes.addressof(self._extra)
            st[int(Slot.SIZE) + Word.NEXTRA] = len(rows) // EXTRA_WORDS
        self._seen = sig if pinned else None


@dataclass
class PacketSetup:
    """Where a program type puts each packet and how its Python model follows:
    `page` (the packet buffer, at VM address `pkt_base`), the packet's offset in it
    (`headroom`), the lengths the native loop takes (others run in Python), the
    context at `ctx_base` with `ctx_fields` (per 4-byte field: a FieldValue and the
    value a packet starts with, or None for a field Python serves) and `ctx_stores`
    (field index: the mask a 4-byte store keeps, for fields stores go natively to), the
    return value whose frames are kept (`pass_value`); `fresh()` resets the model for a
    new packet, `window_in(meta, data, end)` gives it the native window, `window_out()`
    reads it back. An sk_buff's setup has `skb_dev` (its device's hardware and
    broadcast addresses: protocol and pkt_type are found natively), `ctx_py` (once a
    packet has called Python, its model is the context), `page_of()` (the host
    address of the model's buffer, where the packet is from then on) and `data_off`
    (data starts that far past the headroom: at the network header)."""

    page: bytearray
    headroom: int
    min_len: int
    max_len: int
    pkt_base: int
    pkt_writable: bool
    ctx_base: int
    ctx_fields: list[tuple[FieldValue, int] | None]
    pass_value: int
    fresh: Callable[[], None]
    window_in: Callable[[int, int, int], None]
    window_out: Callable[[], tuple[int, int, int]]
    ctx_stores: dict[int, int] = field(default_factory=dict)
    ctx_py: bool = False
    skb_dev: tuple[bytes, bytes] | None = None
    page_of: Callable[[], int] | None = None
    data_off: int = 0


@dataclass
class Frame:
    """An output frame the native loop kept: capture time, original length, bytes."""

    ts_ns: int
    orig_len: int
    data: bytes


class NativeBatch:
    """A JitVM's program over packets natively, on `memory` (its maps and the stacks
    whose tops are `stack_tops` mounted, the page and context mapped as `setup` says).
    Use as a context manager: the VM's idle CallContext is the batch's meanwhile.
    `feed(buf, end, pos, flags, limit, maxpkt)` runs the records of `buf` from `pos`;
    the verdicts are counted in `counts` (`take_counts()`), the frames kept in the
    arena (`frames()`)."""

    def __init__(self, vm: JitVM, memory: Memory, stack_tops: tuple, setup: PacketSetup,
                 *, want_frames: bool = False, capture_clock: bool = False) -> None:
        assert vm.native is not None
        self.vm = vm
        self.memory = memory
        self.stack_tops = stack_tops
        self.setup = setup
        self.want = want_frames
        self.capture_clock = capture_clock
        self._driver = driver()
        self.counts = (_U64 * NCOUNT)()
        self.touched = (ctypes.c_uint32 * NCOUNT)()
        self.arena = bytearray(ARENA if want_frames else 8)
        self._arena_view = memoryview(self.arena)
        self._tab = (_U64 * TAB_WORDS)()
        self._ctx: Any = None
        self._run: _Run | None = None
        self._key = 0
        self._seq = -1
        self._window_in = setup.window_in
        self._window_out = setup.window_out
        self._on_callback = vm._on_callback
        self._pycb = CALLBACK(self._forward)
        self.words: Any = None

    # --- the state -----------------------------------------------------------------
    def __enter__(self) -> "NativeBatch":
        vm = self.vm
        ctx = vm._idle_ctx
        if ctx is None:
            raise RuntimeError("a batch cannot start inside a run of the same program")
        vm._idle_ctx = None
        self._ctx = ctx
        ctx.memory = self.memory
        ctx.vm = vm
        ctx.budget = vm.insn_budget
        run = _BatchRun(ctx, self.memory, self.stack_tops, vm.insn_budget, vm._views,
                        vm._tables)
        run.st = (_U64 * (int(Slot.SIZE) + int(Word.SIZE)))()
        run.sync()
        frames = vm._frames_of(run)
        if frames is None:
            vm._idle_ctx = ctx
            raise RuntimeError("the stacks are not plain memory")
        st = run.st
        run.tops_arr, run.host_arr, tops_addr, host_addr = frames
        st[Slot.NTOPS] = len(self.stack_tops)
        st[Slot.TOPS] = tops_addr
        st[Slot.STACKHOST] = host_addr
        st[Slot.CALLBACK] = self._driver.callback
        if self.capture_clock:  # bpf_ktime_get_ns: the packet's time, read from its word
            ts = memoryview(st).cast("B")[8 * (int(Slot.SIZE) + Word.TS):][:8]
            vm.clock_ns = functools.partial(int.from_bytes, ts, "little")
        if vm._fast.used:
            run.keep = vm._fast.fill(st, ctx, vm)
            if self.capture_clock:  # the ktime fast paths read the word itself
                st[Slot.CLOCK] = (ctypes.addressof(st) + 8 * (int(Slot.SIZE) + Word.TS)) | 1
        self._run = run
        self._key = ctypes.addressof(st)
        vm._runs[self._key] = run
        self.words = st
        self._fill(st)
        return self

    def _fill(self, st: Any) -> None:
        s, b = self.setup, int(Slot.SIZE)
        vm = self.vm
        assert vm.native is not None
        page = host_address(s.page)
        stacks = host_address(vm._stacks)
        arena = host_address(self.arena)
        assert page is not None and stacks is not None and arena is not None
        if len(s.ctx_fields) > TAB_FIELDS:
            raise ValueError(f"a context of more than {TAB_FIELDS} fields")
        tab = self._tab
        mask = 0
        for i, f in enumerate(s.ctx_fields):
            if f is not None:
                mask |= 1 << i
                tab[int(Tab.KIND) * TAB_FIELDS + i] = int(f[0])
                tab[int(Tab.TEMPLATE) * TAB_FIELDS + i] = f[1] & M64
        for i, keep in s.ctx_stores.items():
            tab[int(Tab.SMASK) * TAB_FIELDS + i] = keep
        dev = s.skb_dev or (bytes(6), bytes(6))
        values = {
            Word.MAIN: vm.native.address, Word.PYCB: ctypes.cast(self._pycb, ctypes.c_void_p).value,
            Word.MAXPKT: 0, Word.PAGE: page, Word.PAGE0: page, Word.PAGESIZE: len(s.page),
            Word.HEADROOM: s.headroom, Word.MINLEN: s.min_len, Word.MAXLIN: s.max_len,
            Word.PKT_BASE: s.pkt_base, Word.PKT_W: int(s.pkt_writable),
            Word.CTX_BASE: s.ctx_base, Word.CTX_MASK: mask,
            Word.CTX_TAB: ctypes.addressof(tab), Word.CTX_N: len(s.ctx_fields),
            Word.CTX_PY: int(s.ctx_py), Word.SKB: int(s.skb_dev is not None),
            Word.DEV_ADDR: int.from_bytes(dev[0], "little"),
            Word.DEV_BCAST: int.from_bytes(dev[1], "little"), Word.DATA_OFF: s.data_off,
            Word.STACK: stacks, Word.STACKALL: len(vm._stacks),
            # a program that never names r10 cannot reach its stack (a callback into
            # Python, which may, marks the page and stacks dirty)
            Word.STACKLEN: len(vm._stacks) if any(
                i.dst == 10 or i.src == 10 for i in vm.insns) else 0,
            Word.BUDGET: min(vm.insn_budget, _BUDGET_MAX),
            Word.COUNTS: ctypes.addressof(self.counts), Word.NCOUNT: NCOUNT,
            Word.TOUCHED: ctypes.addressof(self.touched), Word.NTOUCHED: 0,
            Word.WANT: int(self.want), Word.PASSVAL: s.pass_value, Word.OUT: arena,
            Word.OUTCAP: len(self.arena), Word.DIRTY: 1, Word.MASK32: M32,
        }
        for w, v in values.items():
            st[b + w] = v or 0

    def ctx_value(self, i: int) -> int:
        """Context field i's value now (Tab.VALS: what a native store left there)."""
        return int(self._tab[int(Tab.VALS) * TAB_FIELDS + i])

    def __exit__(self, *exc: object) -> None:
        vm = self.vm
        vm._runs.pop(self._key, None)
        if self.capture_clock and self.words is not None:  # the last packet's time stays
            last = self.word(Word.TS)
            vm.clock_ns = lambda: last
        ctx = self._ctx
        if ctx is not None:
            from ..vm.machine import _NO_MEMORY
            ctx.memory = _NO_MEMORY
            ctx.host_task = None
            vm._idle_ctx = ctx
            self._ctx = None

    def python(self) -> "_Suspended":
        """While a packet runs in Python (a plain run of the VM): the idle context is
        the VM's again."""
        return _Suspended(self)

    def word(self, w: Word) -> int:
        return int(self.words[int(Slot.SIZE) + w])

    def set_word(self, w: Word, value: int) -> None:
        self.words[int(Slot.SIZE) + w] = value

    # --- runs ----------------------------------------------------------------------
    def feed(self, buf: bytes | bytearray, end: int, pos: int, flags: Flag | int, limit: int,
             maxpkt: int) -> tuple[BatchExit, int]:
        """Run the records of `buf` from offset `pos` to `end` (at most `limit`
        packets); (why it stopped, the offset of the next record)."""
        st, b = self.words, int(Slot.SIZE)
        if isinstance(buf, bytearray):
            addr = host_address(buf) or 0
        else:
            addr = ctypes.cast(ctypes.c_char_p(buf), ctypes.c_void_p).value or 0
        st[b + Word.BUF] = addr
        st[b + Word.BUFLEN] = min(end, len(buf))
        st[b + Word.POS] = pos
        st[b + Word.FLAGS] = int(flags)
        st[b + Word.LIMIT] = limit
        st[b + Word.MAXPKT] = maxpkt
        code = self._driver.drive(self._key)
        st[b + Word.BUF] = 0
        return BatchExit(code), int(st[b + Word.POS])

    def frames(self) -> Iterator[Frame]:
        """The frames kept since the last call (the arena is emptied)."""
        used = self.word(Word.OUTPOS)
        view = self._arena_view
        pos = 0
        while pos < used:
            ts = int.from_bytes(view[pos:pos + 8], "little")
            orig = int.from_bytes(view[pos + 8:pos + 12], "little")
            n = int.from_bytes(view[pos + 12:pos + 16], "little")
            yield Frame(ts, orig, view[pos + FRAME_HEAD:pos + FRAME_HEAD + n].tobytes())
            pos += (n + FRAME_HEAD + 7) & ~7
        self.set_word(Word.OUTPOS, 0)

    def take_counts(self) -> dict[int, int]:
        """The return values counted natively so far, by value (the histogram is
        cleared)."""
        counts, out = self.counts, {}
        for r in self.touched[:self.word(Word.NTOUCHED)]:
            out[r] = int(counts[r])
            counts[r] = 0
        self.set_word(Word.NTOUCHED, 0)
        return out

    def outcome(self) -> tuple[int | None, BaseException | None]:
        """The packet handed back with BatchExit.STATUS or VERDICT: (its 32-bit return
        value, None) or (None, the error it ended with), as the Python run gives them
        (a ProgramExit is the return value it carries)."""
        from ..helpers.registry import ProgramExit
        run = self._run
        assert run is not None
        status = self.word(Word.STATUS)
        if status == Status.OK:
            return self.word(Word.R0), None
        self.set_word(Word.STATUS, 0)
        if status == Status.RAISED:
            exc, run.pending = run.pending, None
            run.st[Slot.STATUS] = 0
            if isinstance(exc, ProgramExit):
                return exc.retval & M32, None
            assert exc is not None
            return None, exc
        return None, self.vm._failure(run, status, self.vm.insn_budget)

    def window(self) -> tuple[int, int, int]:
        """The last packet's window (data_meta, data, data_end) in the page."""
        return self.word(Word.DATA_META), self.word(Word.DATA), self.word(Word.DATA_END)

    def last_frame(self) -> bytes:
        """The last packet as it left its buffer (the page, or the model's): data_meta
        .. data_end."""
        meta, end = self.word(Word.DATA_META), self.word(Word.DATA_END)
        return ctypes.string_at(self.word(Word.PAGE) + meta, max(end - meta, 0))

    def record(self) -> bytes:
        """The record of the packet running now, as the capture holds it."""
        return ctypes.string_at(self.word(Word.BUF) + self.word(Word.POS) + PCAP_RECORD,
                                self.word(Word.PREVLEN))

    # --- the callback --------------------------------------------------------------
    def _forward(self, stp: int, op: int, a: int, b: int, c: int, pc: int) -> int:
        """What @batch_cb does not serve: the Python model brought up to date, then the
        VM's callback, then the window read back after a helper."""
        st = self.words
        seq = st[_SEQ]
        if seq != self._seq:
            self._seq = seq
            ctx = self._ctx
            ctx.pc = -1
            ctx.tail_calls = 0
            ctx.n = 0
            ctx.host_task = None
            self.setup.fresh()
        self._window_in(st[_META], st[_DATA], st[_END])
        page_of = self.setup.page_of
        if page_of is not None:
            st[_PAGE] = page_of()
        r = self._on_callback(stp, op, a, b, c, pc)
        if op == _HELPER or op == _CALLX:
            st[_META], st[_DATA], st[_END] = self._window_out()
            if page_of is not None:
                st[_PAGE] = page_of()
        return r


# the batch words _forward reads, as plain indexes of the state
_SEQ, _META, _DATA, _END, _PAGE = (int(Slot.SIZE) + int(w) for w in (
    Word.SEQ, Word.DATA_META, Word.DATA, Word.DATA_END, Word.PAGE))
_HELPER, _CALLX = int(Op.HELPER), int(Op.CALLX)


class _Suspended:
    """NativeBatch.python()'s context manager."""

    def __init__(self, batch: NativeBatch) -> None:
        self.batch = batch

    def __enter__(self) -> None:
        b = self.batch
        b.vm._idle_ctx = b._ctx
        b.set_word(Word.DIRTY, 1)

    def __exit__(self, *exc: object) -> None:
        b = self.batch
        ctx = b.vm._idle_ctx
        b.vm._idle_ctx = None
        if ctx is not None:
            b._ctx = ctx
            ctx.memory = b.memory
            ctx.vm = b.vm
            if b._run is not None:
                b._run.ctx = ctx
        b._seq = -1


def compile_now(vm: Any) -> bool:
    """Make sure `vm` has native code for a batch: a JitVM has it (or never will: too
    big); an AutoVM still on the interpreter compiles now (its trial for single runs
    goes on as before). False where there is none (no llvmlite, LLVM failed, too big)."""
    from .auto import AutoVM
    if getattr(vm, "native", None) is not None:
        return True
    if isinstance(vm, AutoVM) and vm.hot >= 0 and vm._idle_ctx is not None:
        vm._promote()
    return getattr(vm, "native", None) is not None


def auto_pending(vm: Any) -> bool:
    """Whether `vm` is an AutoVM that has not compiled yet but may (the batch runs its
    first packets in Python and compiles once they cost what compiling would)."""
    from .auto import AutoVM
    return isinstance(vm, AutoVM) and vm.native is None and vm.hot >= 0


def compile_cost_ns(vm: Any) -> int:
    """What compiling `vm`'s program for a batch costs, in CPU ns: the auto engine's
    units for it (hot_units) at COMPILE_NS_PER_UNIT, and the driver's compile the first
    time in a process (measured: 137 ms for the 221-slot firewall, 50-90 ms for the
    driver, on a loaded 2-core host)."""
    from .auto import hot_units
    first = DRIVER_NS if driver.cache_info().currsize == 0 else 0
    return hot_units(vm.cfg.total) * COMPILE_NS_PER_UNIT + first


COMPILE_NS_PER_UNIT = 200
DRIVER_NS = 60_000_000


__all__ = ["ARENA", "COMPILE_NS_PER_UNIT", "DRIVER_NS", "NCOUNT", "Frame", "NativeBatch",
           "PacketSetup", "auto_pending", "compile_cost_ns", "compile_now", "driver"]
