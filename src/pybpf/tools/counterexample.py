"""Counterexamples to a verifier refusal: an input (packet bytes, context fields, map
contents) on which the program, run on the VM *without* the verifier, really does what
the verifier feared: a MemoryAccessError at the refused instruction, or a return value
outside the program type's range.

The search is guided by the failing path's branch decisions (VerifierResult.path): the
path is replayed over the instructions, tracking which registers are packet pointers,
packet bytes, context fields or the packet length, so that each decision becomes a
constraint ("len >= 14", "byte 12..13 == 0x0800", "ctx byte 12 == 7"); inputs that meet
them are tried at the lengths around the bounds, with the free bytes filled with a few
patterns (zeros, 0xff, ...), which also exercises unbounded indexes. Each input is run
with the object's maps as they start (empty) and again with the first entries of its
array and hash maps filled with the same pattern, since a value read from a map (an
index, a length) is as unknown to the verifier as a packet byte; a counterexample that
needs them carries them as `--map NAME=@FILE.json` files."""

from __future__ import annotations

import hashlib
import json
import shlex
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PyBPFError, VMRuntimeError
from ..isa import (BPF_ADD, BPF_ALU, BPF_ALU64, BPF_AND, BPF_CALL, BPF_END, BPF_EXIT, BPF_JA,
                   BPF_JCOND, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JLE, BPF_JLT, BPF_JMP, BPF_JMP32,
                   BPF_JNE, BPF_JSET, BPF_JSGE, BPF_JSGT, BPF_JSLE, BPF_JSLT, BPF_K, BPF_LDX,
                   BPF_LSH, BPF_MEM, BPF_MOV, BPF_OR, BPF_RSH, BPF_SUB, BPF_X, OPCODE_LDDW,
                   Instruction, slot_offsets)
from ..uapi import MapType, ProgType

MAX_RUNS = 400
TIME_LIMIT_S = 5.0
RUN_BUDGET = 200_000  # VM instructions per run
_FILLS = (0x00, 0xFF, 0x80, 0x01, 0x7F)
_SKB_TYPES = {ProgType.SCHED_CLS, ProgType.SCHED_ACT, ProgType.SOCKET_FILTER,
              ProgType.CGROUP_SKB, ProgType.LWT_IN, ProgType.LWT_OUT, ProgType.LWT_XMIT,
              ProgType.LWT_SEG6LOCAL}
# context fields that are the packet: offset -> meaning ("pkt", "pkt_end", "pkt_len")
_CTX_PACKET: dict[int, dict[int, str]] = {ProgType.XDP: {0: "pkt", 4: "pkt_end"},
               **{t: {76: "pkt", 80: "pkt_end", 0: "pkt_len"} for t in _SKB_TYPES}}
_CTX_SIZE: dict[int, int] = {ProgType.XDP: 24}
_MIN_LEN: dict[int, int] = {ProgType.XDP: 14, **{t: 14 for t in _SKB_TYPES}}
# maps whose first entries a search fills, and how many of their keys (0, 1, ...)
_FILLED_MAPS = {MapType.ARRAY, MapType.HASH, MapType.LRU_HASH}
_FILLED_KEYS = 4


@dataclass
class Counterexample:
    """An input on which the unverified program performs the refused operation."""

    program: str
    data_in: bytes | None
    ctx_in: bytes | None
    outcome: str  # what happened on the VM: the MemoryAccessError, or the bad retval
    tried: int  # inputs run to find it
    files: list[str] = field(default_factory=list)
    command: str = ""
    # map name -> its entries as `pybpf run --map` reads them (typed by BTF)
    maps: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"data_in": None if self.data_in is None else self.data_in.hex(),
                "ctx_in": None if self.ctx_in is None else self.ctx_in.hex(),
                "maps": self.maps, "outcome": self.outcome, "tried": self.tried,
                "files": self.files, "command": self.command}


@dataclass
class _Constraints:
    len_lo: int = 0
    len_hi: int = 1 << 16
    data: dict[int, int] = field(default_factory=dict)  # packet byte offset -> value
    ctx: dict[int, int] = field(default_factory=dict)  # ctx byte offset -> value


# --- the goal -------------------------------------------------------------------------------

def _goal(error: str) -> tuple[str, Any] | None:
    """What a run must show: ("fault", None) a VM memory fault at the refused insn, or
    ("retval", (lo, hi)) a return value outside [lo, hi]; None when the VM cannot show it
    (uninitialised stack reads: the VM's stack is zeroed; reference leaks)."""
    import re
    m = re.search(r"should have been in \[(-?\d+), (-?\d+)\]", error)
    if m:
        return "retval", (int(m[1]), int(m[2]))
    if re.search(r"invalid access to (packet|map value|memory)|invalid mem access|"
                 r"type=\S+ expected=|outside of the allowed memory range|"
                 r"min value is negative|unbounded memory access|"
                 r"invalid size of register|"
                 r"R\d+ (bitwise operator|pointer arithmetic)", error):
        return "fault", None
    return None


def why_none(error: str | None) -> str:
    """Why no counterexample is searched for this refusal."""
    if error and ("read from stack" in error or "!read_ok" in error):
        return "the VM zeroes its stack and registers, so an uninitialised read shows no fault"
    if error and error.startswith("Unreleased reference"):
        return "a leaked reference shows no fault on the VM"
    return "the VM cannot show this refusal as a fault or a bad return value"


# --- replaying the failing path -----------------------------------------------------------------

def path_trace(insns: Sequence[Instruction], path: Sequence[tuple[int, bool]],
               stop: int | None, limit: int = 100_000) -> list[int] | None:
    """The pcs the failing path executes, from 0 to `stop`, following its branch decisions;
    None when it cannot be replayed (a local call, a decision that does not match)."""
    by_pc = dict(zip(slot_offsets(insns), insns))
    decisions = iter(path)
    pc = 0
    out: list[int] = []
    while len(out) < limit:
        insn = by_pc.get(pc)
        if insn is None:
            return None
        out.append(pc)
        if pc == stop:
            return out
        cls, op = insn.cls, insn.op
        if insn.opcode == OPCODE_LDDW:
            pc += 2
            continue
        if cls in (BPF_JMP, BPF_JMP32):
            if op == BPF_EXIT:
                return out if stop is None else None
            if op == BPF_CALL:
                if insn.src == 1:
                    return None  # bpf-to-bpf calls are not replayed
                pc += 1
                continue
            if op == BPF_JA:
                pc += 1 + (insn.imm if cls == BPF_JMP32 else insn.off)
                continue
            d = next(decisions, None)
            if d is None or d[0] != pc:
                return None
            pc = pc + 1 + insn.off if d[1] else pc + 1
            continue
        pc += 1
    return None


def _satisfy(op: int, imm: int, taken: bool, bits: int) -> int | None:
    """A value v with (v op imm) == taken, in `bits` bits, or None."""
    mask = (1 << bits) - 1
    imm &= mask

    def signed(x: int) -> int:
        return x - (1 << bits) if x >> (bits - 1) else x
    for v in (0, imm, imm + 1, imm - 1, mask, 1 << (bits - 1), imm | 1, imm ^ mask):
        v &= mask
        r = {BPF_JEQ: v == imm, BPF_JNE: v != imm, BPF_JGT: v > imm, BPF_JGE: v >= imm,
             BPF_JLT: v < imm, BPF_JLE: v <= imm, BPF_JSET: bool(v & imm),
             BPF_JSGT: signed(v) > signed(imm), BPF_JSGE: signed(v) >= signed(imm),
             BPF_JSLT: signed(v) < signed(imm), BPF_JSLE: signed(v) <= signed(imm)}.get(op)
        if r is None:
            return None
        if r == taken:
            return v
    return None


def _len_bound(op: int, k: int, taken: bool, pkt_is_dst: bool, c: _Constraints) -> None:
    """A jump of (pkt + k) against pkt_end: the packet length it implies."""
    if not pkt_is_dst:  # end OP pkt+k  <=>  pkt+k OP' end
        op = {BPF_JGT: BPF_JLT, BPF_JGE: BPF_JLE, BPF_JLT: BPF_JGT, BPF_JLE: BPF_JGE}.get(op, op)
    # pkt + k OP pkt + len, i.e. k OP len
    lo, hi = {(BPF_JGT, True): (0, k - 1), (BPF_JGT, False): (k, 1 << 16),
              (BPF_JGE, True): (0, k), (BPF_JGE, False): (k + 1, 1 << 16),
              (BPF_JLT, True): (k + 1, 1 << 16), (BPF_JLT, False): (0, k),
              (BPF_JLE, True): (k, 1 << 16), (BPF_JLE, False): (0, k - 1)
              }.get((op, taken), (0, 1 << 16))
    c.len_lo, c.len_hi = max(c.len_lo, lo), min(c.len_hi, hi)


def _bytes_of(region: str, off: int, size: int) -> tuple[str, str, dict[int, int]]:
    """A value loaded from `region` ("pkt" or "ctx") at `off`: {bit shift: byte offset}
    (little endian, as the VM loads)."""
    return ("val", region, {8 * i: off + i for i in range(size)})


def _alu_bytes(insn: Instruction, cur: Any, other: Any) -> Any:
    """A value of input bytes through shifts, ors, byte swaps and whole-byte masks (the
    compiler's ways of putting a field together); None when it is lost."""
    op, k = insn.op, insn.imm if insn.source == BPF_K else (
        other[1] if other and other[0] == "const" else None)
    region, m = cur[1], cur[2]
    if op == BPF_END:
        n = insn.imm
        if cls_swaps(insn):
            return ("val", region, {n - 8 - sh: o for sh, o in m.items() if sh < n})
        return ("val", region, {sh: o for sh, o in m.items() if sh < n})
    if op == BPF_OR and other and other[0] == "val" and other[1] == region and \
            not set(m) & set(other[2]):
        return ("val", region, {**m, **other[2]})
    if k is None:
        return None
    if op == BPF_LSH and k % 8 == 0:
        return ("val", region, {sh + k: o for sh, o in m.items() if sh + k < 64})
    if op == BPF_RSH and k % 8 == 0:
        return ("val", region, {sh - k: o for sh, o in m.items() if sh >= k})
    if op == BPF_AND and all((k >> sh) & 0xFF in (0, 0xFF) for sh in range(0, 64, 8)):
        return ("val", region, {sh: o for sh, o in m.items() if (k >> sh) & 0xFF})
    return None


def cls_swaps(insn: Instruction) -> bool:
    """A byte-order insn that swaps on this (little-endian) VM: bswap, or to big endian."""
    return insn.cls == BPF_ALU64 or insn.source == BPF_X


def _put(where: dict[int, int], m: dict[int, int], value: int) -> bool:
    """Set the bytes of value `value` (given as {shift: offset}); False when the value has
    bits in no tracked byte."""
    covered = sum(0xFF << sh for sh in m)
    if value & ~covered:
        return False
    for sh, off in m.items():
        where.setdefault(off, (value >> sh) & 0xFF)
    return True


def constraints(insns: Sequence[Instruction], trace: Sequence[int],
                path: Sequence[tuple[int, bool]], prog_type: int) -> _Constraints:
    """The input constraints of the failing path's decisions (see the module docstring)."""
    by_pc = dict(zip(slot_offsets(insns), insns))
    ctx_fields = _CTX_PACKET.get(prog_type, {})
    decisions = iter(path)
    c = _Constraints()
    regs: dict[int, Any] = {1: ("ctx",)}
    for pc in trace:
        insn = by_pc[pc]
        cls, op, d, s = insn.cls, insn.op, insn.dst, insn.src
        if cls in (BPF_ALU, BPF_ALU64):
            cur = regs.get(d)
            other = regs.get(s) if insn.source == BPF_X else None
            if op == BPF_MOV:
                regs[d] = ("const", insn.imm) if insn.source == BPF_K else regs.get(s)
            elif op in (BPF_ADD, BPF_SUB) and cur and cur[0] == "pkt":
                k = insn.imm if insn.source == BPF_K else (
                    other[1] if other and other[0] == "const" else None)
                regs[d] = None if k is None else ("pkt", cur[1] + (k if op == BPF_ADD else -k))
            elif cur and cur[0] == "val":
                regs[d] = _alu_bytes(insn, cur, other)
            else:
                regs[d] = None
        elif cls == BPF_LDX and insn.mode == BPF_MEM:
            base = regs.get(s)
            size = {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}[insn.size]
            if base and base[0] == "ctx":
                kind = ctx_fields.get(insn.off)
                regs[d] = ("pkt", 0) if kind == "pkt" else ("pkt_end",) if kind == "pkt_end" \
                    else ("len",) if kind == "pkt_len" else _bytes_of("ctx", insn.off, size)
            elif base and base[0] == "pkt":
                regs[d] = _bytes_of("pkt", base[1] + insn.off, size)
            else:
                regs[d] = None
        elif insn.opcode == OPCODE_LDDW:
            regs[d] = None
        elif cls in (BPF_JMP, BPF_JMP32) and op == BPF_CALL:
            for r in range(6):
                regs.pop(r, None)
        elif cls in (BPF_JMP, BPF_JMP32) and op not in (BPF_JA, BPF_EXIT, BPF_JCOND):
            dec = next(decisions, None)
            if dec is None:
                break
            taken = dec[1]
            a = regs.get(d)
            b = ("const", insn.imm) if insn.source == BPF_K else regs.get(s)
            bits = 32 if cls == BPF_JMP32 else 64
            if a and b and {a[0], b[0]} == {"pkt", "pkt_end"}:
                pkt = a if a[0] == "pkt" else b
                _len_bound(op, pkt[1], taken, a[0] == "pkt", c)
            elif a and b and b[0] == "const" and a[0] == "len":
                v = _satisfy(op, b[1], taken, bits)
                if v is not None and (op, taken) in ((BPF_JEQ, True), (BPF_JNE, False)):
                    c.len_lo, c.len_hi = max(c.len_lo, v), min(c.len_hi, v)
                elif v is not None:
                    _len_from_value(op, b[1], taken, c)
            elif a and b and b[0] == "const" and a[0] == "val":
                width = min(bits, max(a[2], default=0) + 8)
                v = _satisfy(op, b[1], taken, width)
                if v is None:
                    continue
                if a[1] == "pkt":
                    _put(c.data, a[2], v)
                elif v:  # the context is zero unless given
                    _put(c.ctx, a[2], v)
    return c


def _len_from_value(op: int, imm: int, taken: bool, c: _Constraints) -> None:
    """A jump on skb->len against a constant."""
    lo, hi = {(BPF_JGT, True): (imm + 1, 1 << 16), (BPF_JGT, False): (0, imm),
              (BPF_JGE, True): (imm, 1 << 16), (BPF_JGE, False): (0, imm - 1),
              (BPF_JLT, True): (0, imm - 1), (BPF_JLT, False): (imm, 1 << 16),
              (BPF_JLE, True): (0, imm), (BPF_JLE, False): (imm + 1, 1 << 16)
              }.get((op, taken), (0, 1 << 16))
    c.len_lo, c.len_hi = max(c.len_lo, lo), min(c.len_hi, hi)


# --- the search -----------------------------------------------------------------------------------

def _lengths(c: _Constraints, prog_type: int, error: str) -> list[int]:
    """Packet lengths to try: the path's bounds first, then around them."""
    import re
    lo = max(c.len_lo, _MIN_LEN.get(prog_type, 1))
    hi = min(c.len_hi, 4096)
    cands = [lo, lo + 1, lo + 2, lo + 3]
    m = re.search(r"off=(-?\d+) size=(\d+)", error)
    if m:
        end = int(m[1]) + int(m[2])
        cands += [end - 1, end - 2, end]
    top = max(c.data, default=0) + 1
    cands += [top, top + 1, *range(lo, min(hi, lo + 64) + 1), hi - 1, hi, 64, 128, 256, 1500]
    seen: list[int] = []
    for n in cands:
        if lo <= n <= hi and n not in seen:
            seen.append(n)
    return seen


def _inputs(c: _Constraints, prog_type: int, error: str
            ) -> Iterator[tuple[bytes, bytes | None]]:
    ctx_size = _CTX_SIZE.get(prog_type)
    ctx = None
    if c.ctx and ctx_size:
        buf = bytearray(ctx_size)
        for off, b in c.ctx.items():
            if off < ctx_size:
                buf[off] = b
        ctx = bytes(buf)
    for n in _lengths(c, prog_type, error):
        for fill in _FILLS:
            pkt = bytearray([fill]) * n
            for off, b in c.data.items():
                if off < n:
                    pkt[off] = b
            yield bytes(pkt), ctx


def _fillable(obj: Any) -> list[Any]:
    """The object's maps a search fills: arrays and hashes the program declares (not the
    .data/.bss/.rodata of its globals)."""
    return [m for name, m in obj.maps.items()
            if m.spec.type in _FILLED_MAPS and not name.startswith(".")
            and m.key_size <= 64 and m.value_size <= 4096]


def _keys(m: Any) -> list[bytes]:
    n = min(m.max_entries, _FILLED_KEYS)
    return [i.to_bytes(8, "little")[:m.key_size].ljust(m.key_size, b"\0") for i in range(n)]


def _set_maps(maps: list[Any], fill: int | None) -> None:
    """Fill the first keys of each map with `fill` bytes, or (None) empty them again
    (array values to zero, hash keys deleted)."""
    for m in maps:
        for k in _keys(m):
            if fill is not None:
                m.update(k, bytes([fill]) * m.value_size)
            elif m.spec.type == MapType.ARRAY:
                m.update(k, bytes(m.value_size))
            elif k in m:
                del m[k]


def _needed_maps(maps: list[Any], fill: int, goal: tuple[str, Any], pc: int | None,
                 prog: Any, data: bytes | None, ctx: bytes | None) -> list[Any]:
    """The filled maps the outcome needs: each is emptied in turn and stays empty when
    the run still shows the outcome without it."""
    needed = list(maps)
    for m in maps:
        _set_maps([m], None)
        if _outcome(goal, pc, prog, data, ctx) is not None:
            needed.remove(m)
        else:
            _set_maps([m], fill)
    return needed


def _map_json(maps: list[Any]) -> dict[str, list[dict[str, Any]]]:
    """The filled maps' entries as `pybpf run --map` reads them."""
    from ..objects.session import _plain
    out = {}
    for m in maps:
        typed = m.typed
        out[m.name] = [{"key": _plain(typed.decode_key(k)),
                        "value": _plain(typed.decode_value(m[k]))} for k in _keys(m)]
    return out


def _outcome(goal: tuple[str, Any], pc: int | None, prog: Any, data: bytes | None,
             ctx: bytes | None) -> str | None:
    """What a run of `prog` showed, when it is what the verifier feared."""
    kind, arg = goal
    try:
        res = prog.test_run(data, ctx_in=ctx)
    except VMRuntimeError as e:
        if kind == "fault" and (pc is None or e.pc == pc):
            return f"{type(e).__name__}: {e}"
        return None
    except PyBPFError:
        return None
    if kind == "retval":
        r = res.retval - (1 << 32) if res.retval >> 31 else res.retval
        if not arg[0] <= r <= arg[1]:
            return f"retval {r}, outside [{arg[0]}, {arg[1]}]"
    return None


def find_counterexample(spec: Any, program: str, result: Any, insns: Sequence[Instruction],
                        *, max_runs: int = MAX_RUNS, time_limit: float = TIME_LIMIT_S
                        ) -> tuple[Counterexample | None, str]:
    """Search an input on which `program` of `spec` (an ObjectSpec), run on the VM
    without the verifier, does what `result` (its refusal) feared, in at most `max_runs`
    runs and `time_limit` seconds. Returns (the counterexample, "") or (None, why not)."""
    if result.accepted or not result.error:
        return None, "accepted"
    goal = _goal(result.error)
    t = spec.programs[program].type
    if goal is None:
        return None, why_none(result.error)
    if t not in _MIN_LEN:
        return None, "only packet programs (xdp, tc, socket filters, cgroup skb) are searched"
    trace = path_trace(insns, result.path, result.pc)
    c = constraints(insns, trace, result.path, t) if trace else _Constraints()
    if c.len_hi < _MIN_LEN[t]:
        return None, (f"none exists in a test run: the failing path needs a packet of at "
                      f"most {c.len_hi} bytes, and a test run's packet has at least "
                      f"{_MIN_LEN[t]} (an Ethernet header)")
    try:
        obj = spec.instantiate("vm", verify=False)  # the refused program, run unchecked
    except PyBPFError as e:
        return None, f"the object does not load on the VM: {e}"
    tried = 0
    try:
        prog = obj.programs[program]
        prog.handle.insn_budget = RUN_BUDGET
        maps = _fillable(obj)
        deadline = time.monotonic() + time_limit
        for data, ctx in _inputs(c, t, result.error):
            fills: list[int | None] = [None, data[-1] if data else 0] if maps else [None]
            for fill in fills:
                if tried >= max_runs or time.monotonic() > deadline:
                    break
                tried += 1
                _set_maps(maps, fill)
                got = _outcome(goal, result.pc, prog, data, ctx)
                if got is not None:
                    needed = _needed_maps(maps, fill, goal, result.pc, prog, data, ctx) \
                        if fill is not None else []
                    return Counterexample(program, data, ctx, got, tried,
                                          maps=_map_json(needed)), ""
    finally:
        obj.close()
    return None, (f"none found in {tried} runs (packet lengths {c.len_lo}..{c.len_hi} as "
                  "the failing path needs; the refused access may be safe on every real "
                  "input, as the verifier cannot know)")


def confirm(spec: Any, cx: Counterexample, result: Any) -> bool:
    """Run the counterexample once more on a fresh VM object (as `pybpf run` will)."""
    goal = _goal(result.error or "")
    if goal is None:
        return False
    from ..objects.session import fill_map
    obj = spec.instantiate("vm", verify=False)  # the refused program, run unchecked
    try:
        for name, entries in cx.maps.items():  # as `pybpf run --map` will
            fill_map(obj, name, entries)
        prog = obj.programs[cx.program]
        prog.handle.insn_budget = RUN_BUDGET
        return _outcome(goal, result.pc, prog, cx.data_in, cx.ctx_in) is not None
    finally:
        obj.close()


def write_counterexample(cx: Counterexample, obj_path: str, directory: str | Path) -> None:
    """Write the packet to a file in `directory` (named by program and content) and set
    `cx.files` and `cx.command` (the `pybpf run` that reproduces it)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    argv = ["pybpf", "run", obj_path, "--program", cx.program]
    if cx.data_in is not None:
        h = hashlib.sha256(cx.data_in).hexdigest()[:10]
        f = d / f"{cx.program}-{h}.bin"
        f.write_bytes(cx.data_in)
        cx.files = [str(f)]
        argv += ["--data-in", f"@{f}"]
    if cx.ctx_in is not None:
        argv += ["--ctx-in", cx.ctx_in.hex()]
    for name, entries in cx.maps.items():
        text = json.dumps(entries, indent=1)
        h = hashlib.sha256(text.encode()).hexdigest()[:10]
        f = d / f"{cx.program}-{name}-{h}.json"
        f.write_text(text + "\n")
        cx.files.append(str(f))
        argv += ["--map", f"{name}=@{f}"]
    argv.append("--no-verify")
    cx.command = shlex.join(argv)
