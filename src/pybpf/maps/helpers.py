"""The map helpers on the VM, under the kernel's helper IDs.

A helper finds its map through the running VM's MapTable by the map pointer a program
got from `lddw map_fd(N)`. Results follow the kernel: bpf_map_lookup_elem returns the
address of the value inside the map's region (so stores through it persist) or 0;
updates return 0 or -errno. Calls the verifier would reject (a lookup on a queue, an
update of a map that is BPF_F_RDONLY_PROG, a pointer that is not a map) raise
HelperError, since the VM checks at run time what the kernel checks at load time.

bpf_for_each_map_elem and bpf_tail_call run program code: they are "frame" helpers,
called with the memory, the free call frames, the executed count and the budget.
"""

from __future__ import annotations

import errno as E
from typing import Any, Callable, Generator

from ..errors import HelperError, VMRuntimeError
from ..helpers.access import charge_bytes, read_bytes
from ..helpers.registry import (CallContext, FrameHelperFn, HelperFn, HelperRegistry,
                               ProgramExit)
from ..isa import M32, M64
from ..uapi import BPF_F_CTXLEN_MASK, BPF_F_CURRENT_CPU, BPF_F_INDEX_MASK, MapFlag, MapType
from .errors import MapError
from .vmmaps import (ArrayMap, BloomFilterMap, HashMap, PerfEventArrayMap, ProgArrayMap,
                     QueueStackMap, RingBufMap, VMMap)

MAX_TAIL_CALL_CNT = 33
_FOR_EACH_TYPES = frozenset({MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH,
                             MapType.LRU_PERCPU_HASH, MapType.ARRAY, MapType.PERCPU_ARRAY})


def _neg(err: int) -> int:
    return (-err) & M64 if err else 0


def _map(ctx: CallContext, ptr: int, what: str) -> VMMap:
    table = getattr(ctx.vm, "maps", None)
    m = table.by_pointer(ptr) if table is not None else None
    if m is None or ptr != m.pointer:
        extra = "" if table is not None else " (this VM was given no maps)"
        raise HelperError(ctx.pc, f"{what}: {ptr:#x} is not a map pointer{extra}")
    return m


def _refuse(ctx: CallContext, what: str, m: VMMap, why: str = "") -> HelperError:
    why = why or "not allowed (the verifier refuses it)"
    return HelperError(ctx.pc, f"{what} on {m.spec.type_name} map {m.name or m.id}: {why}")


def _writable(ctx: CallContext, m: VMMap, what: str) -> None:
    if m.spec.flags & MapFlag.RDONLY_PROG:
        raise _refuse(ctx, what, m, "write into map forbidden (BPF_F_RDONLY_PROG)")


def map_lookup_elem(ctx: CallContext, r1: int, r2: int, *_: int) -> int:
    m = _map(ctx, r1, "bpf_map_lookup_elem")
    try:
        return m.prog_lookup(ctx.memory.read(r2, m.key_size, ctx.pc))
    except MapError as e:
        raise _refuse(ctx, "bpf_map_lookup_elem", m, str(e)) from None


def map_update_elem(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    m = _map(ctx, r1, "bpf_map_update_elem")
    _writable(ctx, m, "bpf_map_update_elem")
    if isinstance(m, (QueueStackMap, BloomFilterMap, RingBufMap)):
        raise _refuse(ctx, "bpf_map_update_elem", m)
    key = ctx.memory.read(r2, m.key_size, ctx.pc)
    value = ctx.memory.read(r3, m.value_size, ctx.pc)
    try:
        return _neg(m.prog_update(key, value, r4))
    except MapError as e:
        raise _refuse(ctx, "bpf_map_update_elem", m, str(e)) from None


def map_delete_elem(ctx: CallContext, r1: int, r2: int, *_: int) -> int:
    m = _map(ctx, r1, "bpf_map_delete_elem")
    _writable(ctx, m, "bpf_map_delete_elem")
    if isinstance(m, (QueueStackMap, BloomFilterMap, RingBufMap)):
        raise _refuse(ctx, "bpf_map_delete_elem", m)
    try:
        return _neg(m.prog_delete(ctx.memory.read(r2, m.key_size, ctx.pc)))
    except MapError as e:
        raise _refuse(ctx, "bpf_map_delete_elem", m, str(e)) from None


def map_push_elem(ctx: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    m = _map(ctx, r1, "bpf_map_push_elem")
    if not isinstance(m, (QueueStackMap, BloomFilterMap)):
        raise _refuse(ctx, "bpf_map_push_elem", m)
    _writable(ctx, m, "bpf_map_push_elem")
    return _neg(m._op_update(None, ctx.memory.read(r2, m.value_size, ctx.pc), r3, True))


def _pop_or_peek(ctx: CallContext, r1: int, r2: int, delete: bool) -> int:
    what = "bpf_map_pop_elem" if delete else "bpf_map_peek_elem"
    m = _map(ctx, r1, what)
    if isinstance(m, BloomFilterMap) and not delete:
        return _neg(m.test(ctx.memory.read(r2, m.value_size, ctx.pc)))
    if not isinstance(m, QueueStackMap):
        raise _refuse(ctx, what, m)
    if delete:
        _writable(ctx, m, what)
    err, value = m._op_pop(delete)
    ctx.memory.write(r2, value if value is not None else bytes(m.value_size), ctx.pc)
    return _neg(err)


def map_pop_elem(ctx: CallContext, r1: int, r2: int, *_: int) -> int:
    return _pop_or_peek(ctx, r1, r2, True)


def map_peek_elem(ctx: CallContext, r1: int, r2: int, *_: int) -> int:
    return _pop_or_peek(ctx, r1, r2, False)


def map_lookup_percpu_elem(ctx: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    m = _map(ctx, r1, "bpf_map_lookup_percpu_elem")
    if not isinstance(m, (ArrayMap, HashMap)) or not m.percpu:
        raise _refuse(ctx, "bpf_map_lookup_percpu_elem", m, "not a per-CPU map")
    key = ctx.memory.read(r2, m.key_size, ctx.pc)
    return m.prog_lookup_percpu(key, r3 & M32)


# --- ring buffers ---------------------------------------------------------------------------

def spin_lock(ctx: CallContext, r1: int, *_: int) -> int:
    """bpf_spin_lock: a VM run is the only one touching its maps, so taking the lock is
    checking that the lock word is there (4 writable bytes); the verifier has checked
    that it is the value's `struct bpf_spin_lock` and that it is released."""
    ctx.memory.write(r1, ctx.memory.read(r1, 4, ctx.pc), ctx.pc)
    return 0


def spin_unlock(ctx: CallContext, r1: int, *_: int) -> int:
    """bpf_spin_unlock: as spin_lock."""
    ctx.memory.write(r1, ctx.memory.read(r1, 4, ctx.pc), ctx.pc)
    return 0


def _ringbuf(ctx: CallContext, r1: int, what: str) -> RingBufMap:
    m = _map(ctx, r1, what)
    if not isinstance(m, RingBufMap):
        raise _refuse(ctx, what, m, "not a ring buffer")
    return m


def ringbuf_output(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    m = _ringbuf(ctx, r1, "bpf_ringbuf_output")
    return m.output(read_bytes(ctx, r2, r3 & M64), r4) & M64  # checked, charged, copied


def ringbuf_reserve(ctx: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    m = _ringbuf(ctx, r1, "bpf_ringbuf_reserve")
    if r3:
        return 0
    off = m.reserve(r2)
    return 0 if off < 0 else m.base + off


def _commit(ctx: CallContext, r1: int, r2: int, discard: bool) -> int:
    what = "bpf_ringbuf_discard" if discard else "bpf_ringbuf_submit"
    table = getattr(ctx.vm, "maps", None)
    m = table.by_pointer(r1) if table is not None else None
    if not isinstance(m, RingBufMap) or not m.is_reserved(r1 - m.base):
        raise HelperError(ctx.pc, f"{what}: {r1:#x} is not a reserved ring buffer record")
    m.commit(r1 - m.base, r2, discard)
    return 0


def ringbuf_submit(ctx: CallContext, r1: int, r2: int, *_: int) -> int:
    return _commit(ctx, r1, r2, False)


def ringbuf_discard(ctx: CallContext, r1: int, r2: int, *_: int) -> int:
    return _commit(ctx, r1, r2, True)


def ringbuf_query(ctx: CallContext, r1: int, r2: int, *_: int) -> int:
    return _ringbuf(ctx, r1, "bpf_ringbuf_query").query(r2)




def perf_event_output(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, r5: int,
                      ctx_data: "Callable[[int], bytes | None] | None" = None) -> int:
    """bpf_perf_event_output(ctx, map, flags, data, size): the sample goes to the slot
    of flags' index (BPF_F_CURRENT_CPU: the VM's CPU 0). `ctx_data(n)` is given by the
    packet program types (the kernel's skb/xdp variants): it gives the first n packet
    bytes (None when the packet is shorter), which flags' BPF_F_CTXLEN_MASK appends."""
    m = _map(ctx, r2, "bpf_perf_event_output")
    if not isinstance(m, PerfEventArrayMap):
        raise _refuse(ctx, "bpf_perf_event_output", m, "not a perf_event_array")
    allowed = BPF_F_INDEX_MASK | (BPF_F_CTXLEN_MASK if ctx_data is not None else 0)
    if r3 & ~allowed:
        return _neg(E.EINVAL)
    extra = b""
    ctx_len = (r3 & BPF_F_CTXLEN_MASK) >> 32
    if ctx_len:
        assert ctx_data is not None
        got = ctx_data(ctx_len)
        if got is None:
            return _neg(E.EFAULT)
        extra = got
    index = r3 & BPF_F_INDEX_MASK
    if index == BPF_F_CURRENT_CPU:
        index = 0
    charge_bytes(ctx, len(extra))
    return m.output(index, read_bytes(ctx, r4, r5) + extra) & M64  # checked, charged


# --- helpers that run program code ------------------------------------------------------------

def for_each_map_elem(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, r5: int,
                      mem: Any, tops: tuple, n: int, budget: int) -> tuple[int, int]:
    """bpf_for_each_map_elem(map, callback, ctx, flags): callback(map, &key, &value, ctx)
    for each element until it returns 1; returns the number of calls."""
    m = _map(ctx, r1, "bpf_for_each_map_elem")
    if m.spec.type not in _FOR_EACH_TYPES:
        raise _refuse(ctx, "bpf_for_each_map_elem", m)
    if r4:
        return _neg(E.EINVAL), n
    vm = ctx.vm
    assert vm is not None
    if len(tops) < 2:
        raise VMRuntimeError(ctx.pc, "call depth exceeds 8 frames (for_each callback)")
    # lazily: an array's indexes one at a time, a hash's keys by a walk that skips keys
    # deleted meanwhile (the callback may stop at the first element of a huge map)
    keys: Generator[bytes, None, None]
    if isinstance(m, ArrayMap):
        keys = (i.to_bytes(4, "little") for i in range(m.max_entries))
    else:
        assert isinstance(m, HashMap)  # the hash types of _FOR_EACH_TYPES
        keys = m.walk()
    scratch = mem.map(f"{m.region.name}:key", bytearray(m.key_size), writable=False)
    seg = scratch.base >> 32
    pc = ctx.pc
    count = 0
    try:
        for k in keys:
            off = m._op_lookup(k)
            if off < 0:
                continue  # deleted by an earlier callback
            scratch.buf[:] = k
            count += 1
            r0, n = vm.call_function(ctx, mem, tops[1:], r2,
                                     (m.pointer, scratch.base, m.base + off, r3, 0), n, budget)
            if r0 & M64:
                break
    finally:
        keys.close()  # ends a hash walk
        del mem.regions[seg]
        ctx.pc = pc
    return count, n


def tail_call(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, r5: int,
              mem: Any, tops: tuple, n: int, budget: int) -> tuple[int, int]:
    """bpf_tail_call(ctx, prog_array, index): run the program in the slot with the same
    r1 and end this one with its r0; an empty slot, an index past the end or more than
    33 tail calls fall through to the next instruction, as in the kernel."""
    m = _map(ctx, r2, "bpf_tail_call")
    if not isinstance(m, ProgArrayMap):
        raise _refuse(ctx, "bpf_tail_call", m, "not a prog_array")
    idx = r3 & M32
    target = m._objs.get(idx) if idx < m.max_entries else None
    if target is None or ctx.tail_calls >= MAX_TAIL_CALL_CNT:
        return 0, n
    if len(tops) != 8:
        raise VMRuntimeError(ctx.pc, "tail calls from subprograms are not supported on the VM")
    ctx.tail_calls += 1
    r0, n = target.tail_called(ctx, mem, tops, r1, n, budget)
    raise ProgramExit(r0)


_PLAIN: dict[str, HelperFn] = {
    "map_lookup_elem": map_lookup_elem,
    "map_update_elem": map_update_elem,
    "map_delete_elem": map_delete_elem,
    "map_push_elem": map_push_elem,
    "map_pop_elem": map_pop_elem,
    "map_peek_elem": map_peek_elem,
    "map_lookup_percpu_elem": map_lookup_percpu_elem,
    "ringbuf_output": ringbuf_output,
    "ringbuf_reserve": ringbuf_reserve,
    "ringbuf_submit": ringbuf_submit,
    "ringbuf_discard": ringbuf_discard,
    "ringbuf_query": ringbuf_query,
    "perf_event_output": perf_event_output,
    "spin_lock": spin_lock,
    "spin_unlock": spin_unlock,
}
_FRAME: dict[str, FrameHelperFn] = {
    "for_each_map_elem": for_each_map_elem,
    "tail_call": tail_call,
}


def register_map_helpers(reg: HelperRegistry) -> HelperRegistry:
    """Add the map helpers to `reg` under the kernel's IDs."""
    reg.register_named(_PLAIN)
    reg.register_named(_FRAME, frame=True)
    return reg
