"""bpf_spin_lock / bpf_spin_unlock (the kernel's process_spin_lock) and what a held lock
forbids: the lock is the one `struct bpf_spin_lock` of a map value with BTF, at a
constant offset; one lock at a time, released by an unlock of the same value (the
register id the lookup gave, kept through the null check for such values); while it is
held no helper but bpf_spin_unlock may be called, no kfunc, no global function, no
LD_ABS, and the main program may not exit. `VState.lock` is the held lock: (register
id, map)."""

from __future__ import annotations

from typing import Any

from ..isa import s64

BPF_FUNC_SPIN_LOCK, BPF_FUNC_SPIN_UNLOCK = 93, 94
LOCK = "bpf_spin_lock"

# program types that may not use a map whose value holds a lock or timer
# (check_map_prog_compatibility; is_tracing_prog_type)
_SOCKET_FILTER = 1
_TRACING = frozenset({2, 5, 7, 17, 24})  # kprobe, tracepoint, perf_event, raw_tp(_writable)


def map_name(m: Any) -> str:
    """The map's name as the kernel knows it (BPF_OBJ_NAME_LEN - 1 characters)."""
    return (getattr(m, "name", "") or "")[:15]


def check_map_prog_compat(v: Any, m: Any) -> None:
    """A map of the program (at its lddw): program types that cannot use a value's
    lock, timer or workqueue yet."""
    f = v.map_fields(m)
    if not f.fields:
        return
    if f.has(LOCK):
        if v.prog_type == _SOCKET_FILTER:
            v.fail("socket filter progs cannot use bpf_spin_lock yet")
        if v.prog_type in _TRACING:
            v.fail("tracing progs cannot use bpf_spin_lock yet")
    for name in ("bpf_timer", "bpf_wq"):
        if f.has(name) and v.prog_type in _TRACING:
            v.fail(f"tracing progs cannot use {name} yet")


def special_field_arg(v: Any, regno: int, reg: Any, name: str) -> Any:
    """A helper argument that must point at the map value's one `struct <name>` (a lock
    or a timer): a constant offset, a map with BTF, the field's own offset. Its map."""
    if not reg.var_off.is_const():
        v.fail(f"R{regno} doesn't have constant offset. {name} has to be at the "
               "constant offset")
    m = reg.map
    f = v.map_fields(m)
    if not f.typed:
        v.fail(f"map '{map_name(m)}' has to have BTF in order to use {name}")
    field_off = f.offset_of(name)
    if field_off is None:
        v.fail(f"map '{map_name(m)}' has no valid {name}")
    val = s64((reg.var_off.value + reg.off) & ((1 << 64) - 1))
    if val != field_off:
        v.fail(f"off {val} doesn't point to 'struct {name}' that is at {field_off}")
    return m


def process_spin_lock(v: Any, regno: int, reg: Any, is_lock: bool) -> None:
    """The lock (or unlock) argument `reg` in R`regno` (already a map value)."""
    m = special_field_arg(v, regno, reg, LOCK)
    st = v.st
    if is_lock:
        if st.lock is not None:
            v.fail("Locking two bpf_spin_locks are not allowed")
        st.lock = (reg.id, m)
        return
    if st.lock is None:
        v.fail("bpf_spin_unlock without taking a lock")
    if st.lock[0] != reg.id or st.lock[1] is not m:
        v.fail("bpf_spin_unlock of different lock")
    st.lock = None


def process_timer_func(v: Any, regno: int, reg: Any, meta: dict) -> None:
    """A bpf_timer_* helper's timer argument in R`regno` (already a map value): the
    value's one `struct bpf_timer`, at a constant offset; its map is the helper's map
    (bpf_timer_init's map argument must then be the same map)."""
    meta["map"] = special_field_arg(v, regno, reg, "bpf_timer")


def check_timer_map_arg(v: Any, reg: Any, meta: dict) -> None:
    """ARG_CONST_MAP_PTR after a timer argument: the map the timer lives in (map_uid
    is 0 for every map here: no inner maps are tracked by uid)."""
    if meta.get("map") is not None and meta["map"] is not reg.map:
        v.fail("timer pointer in R1 map_uid=0 doesn't match map pointer in R2 map_uid=0")


def check_call_while_locked(v: Any, insn: Any) -> None:
    """A call while a lock is held: only bpf_spin_unlock (kfuncs are not modelled: the
    kernel allows a few graph kfuncs here)."""
    if v.st.lock is None:
        return
    if insn.src == 0 and insn.imm == BPF_FUNC_SPIN_UNLOCK:
        return
    if insn.src in (0, 2):  # a helper, a kfunc
        v.fail("function calls are not allowed while holding a lock")


def check_not_locked(v: Any, what: str) -> None:
    """`what` (an exit of the main program, LD_ABS) while a lock is held."""
    if v.st.lock is not None:
        v.fail(f"{what} cannot be used inside bpf_spin_lock-ed region")
