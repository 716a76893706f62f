"""`JitVM`: a VM whose program runs as native code. Everything around the run (maps,
stacks, the CallContext, helpers, tail calls, callbacks) is the interpreter's VM; only
`_fn`, the function a run calls, is native.

A run fills a state array (pybpf.jit.layout) and a region table of the Memory's plain
regions (host address, size, writable) and calls the entry point holding the GIL.
Native code calls back into Python for helpers, legacy packet loads, callx and any
access it cannot prove in bounds of a plain region; the callback re-reads the region
table after anything that may have changed the memory. An exception in a callback is
kept and re-raised here once native code has returned."""

from __future__ import annotations

import ctypes
import operator
import time
from dataclasses import dataclass
from typing import Any, Sequence, cast

from .. import isa
from ..errors import (BytecodeError, HelperError, InstructionLimitExceeded, InvalidProgram,
                      PyBPFError, VMRuntimeError)
from ..helpers.registry import FrameHelperFn, HelperFn, ProgramExit, helper_name
from ..isa import (BPF_PSEUDO_FUNC, BPF_PSEUDO_KFUNC_CALL, M64,
                   MAX_BPF_STACK, MAX_CALL_FRAMES, Instruction)
from ..vm import CODE_SEGMENT, CORE_POISON_HELPER, SEGMENT_HALF, VM, Memory, Region
from ..vm.translate import _ldpkt
from .access import ctx_offsets
from .fastcall import FastPaths
from .layout import (CTX_WORDS, NO_FRAME, TABLE_WORDS, CtxWord, Entry, Op, Slot, Status,
                     table_index, table_shape)
from .native import DEFAULT_CACHE, JitCache, NativeProgram

_U64 = ctypes.c_uint64
CALLBACK = ctypes.CFUNCTYPE(_U64, ctypes.c_void_p, _U64, _U64, _U64, _U64, _U64)
_BUDGET_MAX = (1 << 63) - 1
_CTX_BASE, _CTX_MASK, _CTX_VALUES = (int(w) for w in CtxWord)
_M64 = (1 << 64) - 1
JIT_MAX_INSNS = 32_768  # past this a program runs on the interpreter
_VIEW_CACHE = 1024  # memoryviews whose address a VM remembers (they are kept alive)
_TABLE_CACHE = 64  # region tables a VM remembers
# _run_native stores these slots two runs of consecutive slots at a time
assert (Slot.R1, Slot.START, Slot.N, Slot.BUDGET) == (1, 6, 7, 8) and \
    (Slot.NTOPS, Slot.TOPS, Slot.STACKHOST, Slot.CALLBACK) == (13, 14, 15, 16)


def host_address(buf: Any) -> int | None:
    """Where a writable buffer's bytes are, or None (read-only, empty): the export is
    released at once, so nothing is pinned once native code has returned. None too
    for a released view."""
    try:
        if len(buf) == 0:
            return None
        c = ctypes.c_char.from_buffer(buf)
    except (TypeError, ValueError, BufferError):
        return None
    addr = ctypes.addressof(c)
    del c
    return addr


@dataclass(frozen=True)
class _Table:
    """A region table native code reads (`address`, in a table of 2 ** (64 - shift)
    entries hashed by `mult`): an entry a plain region's segment at index
    table_index(segment, shift, mult), the smallest table (at most layout.MAX_TABLE)
    where they do not collide; a region that still collides is left to Python, as are
    the regions with no entry (limits 0). A packet's window moves from run to run:
    its entry (`windows`: segment -> word index) is written at each sync."""

    words: Any  # the ctypes array (kept alive as long as the table)
    address: int
    shift: int
    mult: int
    windows: dict[int, int]

    @classmethod
    def of(cls, rows: tuple[tuple[int, int, bool, int], ...],
           window_segs: tuple[int, ...] = ()) -> "_Table":
        """The table of `rows` (segment, size, writable, host address each) with an
        entry kept for each segment of `window_segs` (limits 0 until written)."""
        segs = [row[0] for row in rows] + list(window_segs)
        shift, mult = table_shape(tuple(segs))
        words = (_U64 * ((1 << (64 - shift)) * TABLE_WORDS))()
        windows: dict[int, int] = {}
        for seg, size, writable, host in rows:
            i = table_index(seg, shift, mult) * TABLE_WORDS
            if words[i + Entry.BASE]:
                continue  # collides at MAX_TABLE entries: Python serves it
            words[i:i + TABLE_WORDS] = [size, size if writable else 0, host,
                                        (seg << 32) + SEGMENT_HALF]
        for seg in window_segs:
            i = table_index(seg, shift, mult) * TABLE_WORDS
            if not words[i + Entry.BASE]:
                words[i + Entry.BASE] = (seg << 32) + SEGMENT_HALF
                windows[seg] = i
        return cls(words, ctypes.addressof(words), shift, mult, windows)


@dataclass(eq=False)
class _Synced:
    """What the last sync of one Memory's regions found, for the next sync to check
    rather than redo (_Run.sync): the regions (their segments, Region objects and their
    buffers, writability, bases and accesses, compared by identity first), the table
    made of them, the memoryviews in it (released: start again), the bytearrays with
    the size and host address they had (resized or moved: start again) and the regions
    with a window."""

    regions: dict[int, Region]
    sig: tuple
    table: _Table
    views: tuple[memoryview, ...]
    arrays: tuple[tuple[Any, int, int], ...]
    windowed: tuple[tuple[int, Region, Any], ...]  # segment, region, plain_window
    window_segs: tuple[int, ...]


def _signature(regions: dict[int, Region]) -> tuple:
    values = tuple(regions.values())
    return (tuple(regions), values, tuple(map(_FIELDS, values)))


_FIELDS = operator.attrgetter("buf", "writable", "base", "access")
_SYNCED_MAX = 16  # Memories a VM remembers the last sync of


class _Run:
    """One native run in progress: its memory, frames and the state native code sees."""

    __slots__ = ("ctx", "memory", "tops", "budget", "st", "table", "pending", "exit_n",
                 "views", "tables", "tops_arr", "host_arr", "keep", "synced",
                 "ctx_region", "ctx_words", "ctx_offsets")

    def __init__(self, ctx: Any, memory: Memory, tops: tuple, budget: int,
                 views: dict[int, tuple[Any, int, int | None]],
                 tables: "dict[tuple, _Table] | None" = None,
                 synced: "dict[int, _Synced] | None" = None) -> None:
        self.ctx = ctx
        self.memory = memory
        self.tops = tops
        self.budget = budget
        self.st = (_U64 * Slot.SIZE)()
        self.table: Any = None
        self.pending: BaseException | None = None
        self.exit_n = 0
        self.views = views  # the VM's: memoryviews by id, with their host address
        self.tables = {} if tables is None else tables  # the VM's: region tables by rows
        self.tops_arr: Any = None  # the frames' r10 values and stack addresses (kept alive)
        self.host_arr: Any = None
        self.keep: list[Any] = []  # Python callables native code calls (fast paths)
        self.synced = synced  # the VM's: the last sync of each Memory, by id(regions)
        # the context's words (CtxWord): its fields at ctx_offsets as its program type's
        # model gives them, made again at each sync; a store Python does there puts
        # the words it reaches out of use
        self.ctx_region: Region | None = None
        self.ctx_words: Any = None
        self.ctx_offsets: tuple[int, ...] = ()

    windows = True
    """Whether a packet's window (pybpf.vm.WindowAccess) gets a row: not in a batch,
    whose packets' windows live in native words while the batch runs."""

    def sync(self) -> None:
        """The region table and the context's words from the Memory as it is now."""
        self._sync_table()
        if self.ctx_region is not None:
            self.fill_ctx()

    def with_ctx(self, region: Region, offsets: tuple[int, ...], words: Any) -> None:
        """Serve 4-byte loads at `offsets` of the context in `region` from `words`."""
        self.ctx_region = region
        self.ctx_offsets = offsets
        self.ctx_words = words
        self.st[Slot.CTX] = ctypes.addressof(words)

    def fill_ctx(self) -> None:
        """The context's words as its model gives them now (ContextAccess.native_words);
        none once its region is gone."""
        region = self.ctx_region
        assert region is not None
        words = self.ctx_words
        words[_CTX_BASE] = region.base
        mask = 0
        if self.memory.regions.get(region.base >> 32) is region:
            native_words = region.access.native_words  # type: ignore[union-attr]  # checked
            for off, v in native_words(self.ctx_offsets):
                words[_CTX_VALUES + (off >> 2)] = v
                mask |= 1 << (off >> 2)
        words[_CTX_MASK] = mask

    def forget_ctx(self, off: int, size: int) -> None:
        """The context's words of bytes off .. off + size are no longer served (a store
        went there: Python loads them from now on)."""
        keep = 0
        for i in range(off >> 2, (off + size + 3) >> 2):
            keep |= 1 << i if 0 <= i < 64 else 0
        self.ctx_words[_CTX_MASK] &= ~keep & _M64

    def _sync_table(self) -> None:
        """The region table from the Memory as it is now (regions come and go in
        helpers: a map value scratch, a packet whose buffer was replaced, a window
        moved): the table of its plain regions' rows (segment, size, writable, host
        address), remembered by the VM (a table is a function of its rows, and the
        same few recur run after run), with the packets' windows written in. When the
        regions are the ones the last sync of this Memory saw, only what may have
        changed under the same objects is looked at again (_Synced)."""
        regions = self.memory.regions
        synced = self.synced
        sig = None
        if synced is not None:
            sig = _signature(regions)
            last = synced.get(id(regions))
            if last is not None and last.regions is regions and last.sig == sig and \
                    self._same(last):
                return
        rows = []
        windows = []
        views: list[memoryview] = []
        arrays: list[tuple[Any, int, int]] = []
        windowed: list[tuple[int, Region, Any]] = []
        for seg, region in regions.items():
            if region.base != (seg << 32) + SEGMENT_HALF:
                continue
            access = region.access
            if access is None:
                host = self._host(region)
                if host is not None:
                    buf = region.buf
                    rows.append((seg, len(buf), region.writable, host))
                    if isinstance(buf, memoryview):
                        views.append(buf)
                    else:
                        arrays.append((buf, len(buf), host))
                continue
            plain = getattr(access, "plain_window", None) if self.windows else None
            if plain is not None:
                windowed.append((seg, region, plain))
                window = self._window(seg, region, plain)
                if window is not None:
                    windows.append(window)
        key = (tuple(rows), tuple(w[0] for w in windows))
        table = self.tables.get(key)
        if table is None:
            if len(self.tables) >= _TABLE_CACHE:
                self.tables.clear()
            table = self.tables[key] = _Table.of(*key)
        if synced is not None and sig is not None:
            if len(synced) >= _SYNCED_MAX:
                synced.clear()
            synced[id(regions)] = _Synced(regions, sig, table, tuple(views), tuple(arrays),
                                          tuple(windowed), key[1])
        self._install(table, windows)

    def _same(self, last: _Synced) -> bool:
        """Whether `last`'s table still holds (no view released, no bytearray resized
        or moved, the same regions with a window): then it is installed with the
        windows as they are now."""
        try:
            for view in last.views:
                len(view)  # raises once released
        except ValueError:
            return False
        for buf, size, address in last.arrays:
            if len(buf) != size or host_address(buf) != address:
                return False
        windows = []
        for seg, region, plain in last.windowed:
            window = self._window(seg, region, plain)
            if window is not None:
                windows.append(window)
        if tuple(w[0] for w in windows) != last.window_segs:
            return False
        self._install(last.table, windows)
        return True

    def _window(self, seg: int, region: Region,
                plain: Any) -> tuple[int, int, int, bool, int] | None:
        """The row of a packet's window as it is now (segment, lo, hi, writable, host
        address), or None (no window, or one Python serves)."""
        window = plain(region.buf)
        if window is None:
            return None
        lo, hi, writable = window
        if not 0 <= lo < hi <= len(region.buf):
            return None
        host = self._host(region)
        return None if host is None else (seg, lo, hi, writable and region.writable, host)

    def _install(self, table: _Table, windows: list[tuple[int, int, int, bool, int]]) -> None:
        """Write the windows into `table` and give it to native code."""
        words = table.words
        for seg, lo, hi, writable, host in windows:
            i = table.windows.get(seg)
            if i is not None:  # (else it collides: Python serves it)
                words[i:i + TABLE_WORDS] = [hi - lo, hi - lo if writable else 0, host + lo,
                                            (seg << 32) + SEGMENT_HALF + lo]
        self.table = table
        st = self.st
        st[Slot.TABLE] = table.address
        st[Slot.SHIFT] = table.shift
        st[Slot.MULT] = table.mult

    def _host(self, region: Region) -> int | None:
        buf = region.buf
        if isinstance(buf, memoryview):
            # a view's memory cannot move while the view lives (its exporter is pinned)
            hit = self.views.get(id(buf))
            if hit is not None and hit[0] is buf:
                try:
                    if len(buf) == hit[1]:
                        return hit[2]
                except ValueError:  # released
                    return None
            addr = host_address(buf)
            try:
                size = len(buf)
            except ValueError:  # released: Python serves it (and says so)
                return None
            if len(self.views) >= _VIEW_CACHE:
                self.views.clear()
            self.views[id(buf)] = (buf, size, addr)
            return addr
        return host_address(buf)  # a bytearray may have been resized: ask each time


class JitVM(VM):
    """A VM (same constructor, same runs) whose program is compiled to native code by
    LLVM. `cache` holds compiled programs (default: the process's DEFAULT_CACHE). A
    program past JIT_MAX_INSNS slots runs on the interpreter (`native` is None), as a
    kernel without a JIT for it would: compiling it would take seconds and gigabytes."""

    def __init__(self, program: bytes | Sequence[Instruction], *,
                 cache: JitCache | None = None, **kw: Any) -> None:
        super().__init__(program, **kw)
        self._interp = self._fn
        self.native: NativeProgram | None = None
        # benchmarks: with bench_repeat > 0 a run runs that many times in native code
        # (state reused, as test_run's repeat) and bench_ns is the time of one
        self.bench_repeat = 0
        self.bench_ns = 0.0
        if self.cfg.total > JIT_MAX_INSNS:
            return
        self._go_native((cache or DEFAULT_CACHE).get(*self._cache_key()))

    def _cache_key(self) -> tuple[bytes, Any, dict[int, int]]:
        """What the cache compiles: the bytes, the graph and the lddw values."""
        return isa.encode(self.insns), self.cfg, self._lddw_values()

    def _go_native(self, native: NativeProgram) -> None:
        """Run `native` from now on (the interpreter's translation stays as `_interp`)."""
        self.native = native
        self._entry = native.entry
        self._callback = CALLBACK(self._on_callback)
        self._callback_addr = ctypes.cast(self._callback, ctypes.c_void_p).value
        self._runs: dict[int, _Run] = {}
        self._views: dict[int, tuple[Any, int, int | None]] = {}
        self._tables: dict[tuple, _Table] = {}
        self._synced: dict[int, _Synced] = {}
        self._frame_arrays: dict[int, tuple[tuple, list, tuple[Any, Any, int, int]]] = {}
        self._fn = self._run_native
        self._fast = FastPaths(self)
        # the context loads a run serves from words (none: the program never loads it);
        # the words are shared by runs inside a run (of a helper's callback: each sync,
        # after every call into Python, writes them again for its own run)
        self._ctx_offsets = ctx_offsets(self.insns)
        self._ctx_words = (_U64 * CTX_WORDS)()

    def _lddw_values(self) -> dict[int, int]:
        """Map-referencing lddw values by pc (the translation already resolved and
        checked them: this asks the same resolver again)."""
        values: dict[int, int] = {}
        for pc, insn in zip(self.cfg.pcs, self.insns):
            if insn.opcode == isa.OPCODE_LDDW and insn.src not in (0, BPF_PSEUDO_FUNC):
                assert self.lddw_resolver is not None  # the translation required one
                try:
                    values[pc] = self.lddw_resolver(insn) & M64
                except BytecodeError:
                    raise
                except PyBPFError as e:
                    raise InvalidProgram(pc, f"lddw with pseudo source {insn.src}: {e}") from e
        return values

    # --- a run -----------------------------------------------------------------------
    def _run_native(self, ctx: Any, memory: Memory, stack_tops: tuple, r1: int, r2: int,
                    r3: int, r4: int, r5: int, budget: int, pc: int = 0,
                    n: int = 0) -> tuple[int, int]:
        """The interpreter's `_fn` contract: run from `pc` with r1-r5 on the frames
        whose r10 values are `stack_tops`; returns (r0, executed)."""
        run = _Run(ctx, memory, stack_tops, budget, self._views, self._tables, self._synced)
        if self._ctx_offsets:  # the program may load the context: its words
            region = memory.regions.get(r1 >> 32)
            if region is not None and region.base == r1 and \
                    hasattr(region.access, "native_words"):
                run.with_ctx(region, self._ctx_offsets, self._ctx_words)
        run.sync()
        frames = self._frames_of(run)
        if frames is None:  # a stack that is not plain memory: the interpreter runs it
            return self._interp(ctx, memory, stack_tops, r1, r2, r3, r4, r5, budget, pc, n)
        st = run.st
        # r1-r5, START, N, BUDGET (slots 1-8), then NTOPS, TOPS, STACKHOST, CALLBACK
        # (13-16): two slice stores rather than twelve item stores
        st[1:9] = [r1, r2, r3, r4, r5, pc, n, min(budget, _BUDGET_MAX)]
        run.tops_arr, run.host_arr, tops_addr, host_addr = frames
        st[13:17] = [len(stack_tops), tops_addr, host_addr, self._callback_addr or 0]
        if self._fast.used:
            run.keep = self._fast.fill(st, ctx, ctx.vm or self)
        key = ctypes.addressof(st)
        self._runs[key] = run
        try:
            if self.bench_repeat > 0:
                t0 = time.thread_time_ns()  # CPU time: the host is shared
                assert self.native is not None  # only a compiled program runs here
                status = self.native.repeat(key, self.bench_repeat)
                self.bench_ns = (time.thread_time_ns() - t0) / self.bench_repeat
            else:
                status = self._entry(key)
        finally:
            del self._runs[key]
        if status == Status.OK:
            return st[Slot.R0], st[Slot.N]
        if status == Status.RAISED:
            exc = run.pending
            assert exc is not None
            if isinstance(exc, ProgramExit):  # as the interpreter: r0, the count before
                return exc.retval, run.exit_n
            raise exc
        raise self._failure(run, status, budget)

    def _frames_of(self, run: _Run) -> tuple[Any, Any, int, int] | None:
        """The frames' r10 values and stack bottoms as the arrays native code reads
        (with their addresses), or None. Made once for a VM's own stacks (the same
        regions at every top-level run, checked region by region) and kept; made afresh
        otherwise."""
        regions = run.memory.regions
        hit = self._frame_arrays.get(id(run.tops))
        if hit is not None and hit[0] is run.tops and \
                all(mounted.buf is buf and regions.get(seg) is mounted
                    for seg, mounted, buf in hit[1]):
            return hit[2]
        hosts = self._stack_hosts(run)
        if hosts is None:
            return None
        tops, host = (_U64 * MAX_CALL_FRAMES)(*run.tops), (_U64 * MAX_CALL_FRAMES)(*hosts)
        arrays = (tops, host, ctypes.addressof(tops), ctypes.addressof(host))
        frames = [(top >> 32, regions[top >> 32], regions[top >> 32].buf)
                  for top in run.tops]
        if all(isinstance(buf, memoryview) for _, _, buf in frames):  # cannot move
            if len(self._frame_arrays) >= 64:
                self._frame_arrays.clear()
            self._frame_arrays[id(run.tops)] = (run.tops, frames, arrays)
        return arrays

    def _stack_hosts(self, run: _Run) -> list[int] | None:
        """The host address of each frame's stack bottom (r10 - 512), or None."""
        hosts = []
        for top in run.tops:
            region = run.memory.regions.get(top >> 32)
            if region is None or region.access is not None or not region.writable or \
                    top - MAX_BPF_STACK < region.base or top > region.end:
                return None
            host = run._host(region)
            if host is None:
                return None
            hosts.append(host + (top - MAX_BPF_STACK - region.base))
        return hosts

    def _failure(self, run: _Run, status: int, budget: int) -> PyBPFError:
        pc = run.st[Slot.PC]
        if status == Status.BUDGET:
            return InstructionLimitExceeded(pc, f"instruction budget of {budget} exhausted")
        if status == Status.DEPTH:
            return VMRuntimeError(pc, f"call depth exceeds {MAX_CALL_FRAMES} frames")
        if status == Status.BAD_START:
            return VMRuntimeError(-1, f"no function starts at pc {run.st[Slot.START]}")
        return self._static_error(pc)

    def _static_error(self, pc: int) -> PyBPFError:
        """The error of an instruction that always fails, as the interpreter words it."""
        pcs = self.cfg.pcs
        insn = self.insns[pcs.index(pc)] if pc in pcs else None
        if insn is not None and insn.src == BPF_PSEUDO_KFUNC_CALL and \
                isa.classify(insn) == isa.InsnKind.CALL:
            return HelperError(pc, f"kfunc call (BTF id {insn.imm}): the VM has no kernel "
                                   "functions")
        return VMRuntimeError(pc, "fell off the end of the program")

    # --- the callback ----------------------------------------------------------------
    def _on_callback(self, stp: int, op: int, a: int, b: int, c: int, pc: int) -> int:
        run = self._runs[stp]
        try:
            if op == Op.LOAD:
                return run.memory.load(a, b, pc)
            if op == Op.STORE:
                run.memory.store(a, b, c, pc)
                region = run.ctx_region
                if region is not None and a >> 32 == region.base >> 32:
                    run.forget_ctx(a - region.base, b)  # those fields may have changed
                return 0
            if op == Op.HELPER:
                try:
                    return self._helper(run, a, b, pc)
                finally:
                    run.sync()
            if op == Op.LDPKT:
                return _ldpkt(run.memory, a, b, pc)
            if op == Op.CALLX:
                try:
                    return self._callx(run, a, b, pc)
                finally:
                    run.sync()
            raise VMRuntimeError(pc, f"internal error: unknown JIT callback {op}")
        except BaseException as e:  # re-raised by _run_native once native code returned
            if isinstance(e, ProgramExit):
                run.exit_n = run.st[Slot.N]
            run.pending = e
            run.st[Slot.STATUS] = 1
            return 0

    def _helper(self, run: _Run, hid: int, depth: int, pc: int) -> int:
        helper = self.helpers.get(hid)
        if helper is None:
            if hid == CORE_POISON_HELPER:
                raise VMRuntimeError(pc, "reached an instruction poisoned by a CO-RE "
                                         "relocation that could not be resolved")
            raise HelperError(pc, f"call to {helper_name(hid)} ({hid}), which this VM does "
                                  "not provide")
        st, ctx = run.st, run.ctx
        n = st[Slot.N]
        ctx.pc = pc
        ctx.n = n
        if helper.frame:
            frame_fn = cast(FrameHelperFn, helper.fn)
            r0, n = frame_fn(ctx, st[1], st[2], st[3], st[4], st[5], run.memory,
                             run.tops[depth:], n, run.budget)
            st[Slot.N] = n
            return r0 & M64
        r0 = cast(HelperFn, helper.fn)(ctx, st[1], st[2], st[3], st[4], st[5]) & M64
        st[Slot.N] = ctx.n
        return r0

    def _callx(self, run: _Run, target: int, depth: int, pc: int) -> int:
        """callx: a code address is a local call (its pc back to native code); a small
        integer is a helper ID (the conformance suite's convention)."""
        st, ctx = run.st, run.ctx
        ctx.n = st[Slot.N]
        if target >> 32 == CODE_SEGMENT:
            tpc = (target & 0xFFFFFFFF) // 8
            if (target & 7) or tpc not in self._func_starts:
                raise VMRuntimeError(pc, f"callx to {target:#x}, which is not a function start")
            if depth + MAX_CALL_FRAMES - len(run.tops) >= MAX_CALL_FRAMES - 1:
                raise VMRuntimeError(pc, f"call depth exceeds {MAX_CALL_FRAMES} frames")
            return tpc
        helper = self.helpers.get(target)
        if helper is None:
            raise HelperError(pc, f"callx to unknown helper {target:#x}")
        if helper.frame:
            raise HelperError(pc, f"{helper.name} cannot be called through callx")
        ctx.pc = pc
        st[Slot.R0] = cast(HelperFn, helper.fn)(ctx, st[1], st[2], st[3], st[4], st[5]) & M64
        st[Slot.N] = ctx.n
        return NO_FRAME





def run(code: bytes, mem: bytes | None = None, *, helpers: Any = None,
        insn_budget: int | None = None, max_insns: int | None = None) -> int:
    """pybpf.vm.run on the JIT: r1 = a copy of `mem`, r2 = its length; returns r0."""
    from ..vm import DEFAULT_INSN_BUDGET, run_on
    vm = JitVM(code, helpers=helpers, insn_budget=insn_budget or DEFAULT_INSN_BUDGET,
               max_insns=max_insns or isa.BPF_COMPLEXITY_LIMIT_INSNS)
    return run_on(vm, mem)
__all__ = ["JIT_MAX_INSNS", "JitVM", "host_address", "run"]
