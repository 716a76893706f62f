"""Hostile programs for the VM: random bytecode and random well-formed instructions
through `pybpf.run`, helper-calling programs of every program type over maps of every VM
map type (arguments drawn from pointers, sizes and garbage), and the real objects'
programs test-run with random packets and contexts."""

from __future__ import annotations

import random
from typing import Any

from .. import isa
from ..isa import Instruction
from .case import Case, Env

# opcodes the ISA defines (one byte each); random bytecode draws from these most of the time
_VALID_OPCODES: tuple[int, ...] = tuple(sorted(
    {cls | op | src for cls in (isa.BPF_ALU, isa.BPF_ALU64)
     for op in range(0, 0xE0, 0x10) for src in (isa.BPF_K, isa.BPF_X)}
    | {cls | op | src for cls in (isa.BPF_JMP, isa.BPF_JMP32)
       for op in range(0, 0xE0, 0x10) for src in (isa.BPF_K, isa.BPF_X)}
    | {isa.BPF_LDX | m | s for m in (isa.BPF_MEM, isa.BPF_MEMSX) for s in isa.SIZE_BYTES}
    | {isa.BPF_ST | isa.BPF_MEM | s for s in isa.SIZE_BYTES}
    | {isa.BPF_STX | m | s for m in (isa.BPF_MEM, isa.BPF_ATOMIC) for s in isa.SIZE_BYTES}
    | {isa.OPCODE_LDDW}))
_IMMS = (0, 1, -1, 2, 7, 8, 16, 31, 32, 63, 64, 255, 0x7FFF_FFFF, -0x8000_0000, 4096, 65535)
_ATOMIC_IMMS = (0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xA0, 0xA1, 0xE1, 0xF1, 0x100, 0x110)

# program types the VM runs with test_run, and those it gives a context to only
TEST_RUN_TYPES = ("socket_filter", "sched_cls", "sched_act", "xdp", "cgroup_skb", "lwt_in",
                  "lwt_out", "lwt_xmit", "raw_tracepoint")
CONTEXT_TYPES = ("kprobe", "tracepoint", "perf_event", "raw_tracepoint_writable")
MAP_TYPES = ("array", "percpu_array", "hash", "percpu_hash", "lru_hash", "lru_percpu_hash",
             "lpm_trie", "queue", "stack", "bloom_filter", "ringbuf", "perf_event_array",
             "prog_array", "array_of_maps", "hash_of_maps", "devmap", "devmap_hash", "cpumap",
             "xskmap")
_BIG = (0, 1, 2, 4, 8, 16, 64, 255, 256, 512, 4095, 4096, 65535, 65536, 1 << 20, 1 << 24,
        (1 << 31) - 1, 1 << 31, (1 << 32) - 1, 1 << 32, (1 << 63), (1 << 64) - 1)


def generate(rng: random.Random, seed: int, env: Env) -> Case:
    kind = rng.choices(["bytecode", "insns", "helpers", "object"], [2, 3, 8, 2])[0]
    if kind == "bytecode":
        return Case("vm", seed, kind, _random_bytecode(rng), _mem_meta(rng))
    if kind == "insns":
        return Case("vm", seed, kind, isa.encode(_random_insns(rng)), _mem_meta(rng))
    if kind == "helpers":
        return _helper_case(rng, seed)
    return _object_case(rng, seed, env)


def _mem_meta(rng: random.Random) -> dict[str, Any]:
    size = rng.choice([0, 1, 8, 64, 512, 4096, rng.randrange(0, 70000)])
    return {"mem": rng.randbytes(min(size, 70000)).hex() if rng.random() < 0.9 else None,
            "budget": rng.choice([1000, 100_000, 1_000_000])}


def _random_bytecode(rng: random.Random) -> bytes:
    n = rng.choice([0, 1, 2, 3, 8, 32, 200, rng.randrange(1, 2000)])
    out = bytearray()
    for _ in range(n):
        if rng.random() < 0.1:
            out += rng.randbytes(8)
            continue
        op = rng.choice(_VALID_OPCODES)
        regs = (rng.randrange(256) if rng.random() < 0.05
                else rng.randrange(11) | rng.randrange(11) << 4)
        off = rng.choice([0, 1, -1, 2, -2, rng.randrange(-40, 40), rng.randrange(-32768, 32768)])
        imm = rng.choice(_IMMS + _ATOMIC_IMMS + (rng.getrandbits(32) - (1 << 31),))
        out += bytes([op, regs]) + (off & 0xFFFF).to_bytes(2, "little") + \
            (imm & 0xFFFF_FFFF).to_bytes(4, "little")
    if rng.random() < 0.7:
        out += isa.encode([Instruction(0xB7, 0, 0, 0, 0), Instruction(isa.OPCODE_EXIT)])
    return bytes(out)


def _random_insns(rng: random.Random) -> list[Instruction]:
    """Well-formed instructions (they decode), with jumps inside the program, loops and
    memory accesses through r1 (the input), r10 and garbage pointers."""
    n = rng.randrange(1, 120)
    body: list[Instruction] = []
    jumps: dict[int, int] = {}
    for i in range(n):
        r = rng.random()
        dst, src = rng.randrange(10), rng.randrange(11)
        if r < 0.4:
            cls = rng.choice([isa.BPF_ALU, isa.BPF_ALU64])
            op = rng.choice([0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0,
                             0xB0, 0xC0])
            x = rng.choice([0, 8]) if op != 0x80 else 0
            body.append(Instruction(cls | op | x, dst, src if src < 10 and x else 0,
                                    rng.choice([0, 0, 0, 1]) if op in (0x30, 0x90) else 0,
                                    0 if x or op == 0x80 else rng.choice(_IMMS)))
        elif r < 0.55:
            size = rng.choice(list(isa.SIZE_BYTES))
            base = rng.choice([1, 10, 10, src])
            off = rng.choice([0, 8, -8, -512, -520, rng.randrange(-600, 600)])
            kind = rng.choice([isa.BPF_LDX | isa.BPF_MEM, isa.BPF_ST | isa.BPF_MEM,
                               isa.BPF_STX | isa.BPF_MEM])
            if kind == isa.BPF_LDX | isa.BPF_MEM:
                body.append(Instruction(kind | size, dst, base, off))
            elif kind == isa.BPF_ST | isa.BPF_MEM:
                body.append(Instruction(kind | size, base, 0, off, rng.choice(_IMMS)))
            else:
                body.append(Instruction(kind | size, base, src if src < 10 else 0, off))
        elif r < 0.65:
            size = rng.choice([isa.BPF_W, isa.BPF_DW])
            body.append(Instruction(isa.BPF_STX | isa.BPF_ATOMIC | size,
                                    rng.choice([10, 1]), rng.randrange(10),
                                    rng.choice([-8, -16, 0]), rng.choice(_ATOMIC_IMMS)))
        elif r < 0.85:  # a jump to an instruction index (made a slot offset below)
            target = rng.randrange(0, n + 1) if rng.random() < 0.95 else i + rng.randrange(-3, 4)
            cls = rng.choice([isa.BPF_JMP, isa.BPF_JMP32])
            op = rng.choice([0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xA0, 0xB0, 0xC0, 0xD0])
            x = rng.choice([0, 8])
            jumps[i] = target
            body.append(Instruction(cls | op | x, dst, src if src < 10 and x else 0,
                                    0, 0 if x else rng.choice(_IMMS)))
        elif r < 0.92:
            body.append(Instruction.lddw(dst, rng.choice(_BIG)))
        else:
            body.append(Instruction(isa.OPCODE_CALL, 0, 0, 0, rng.choice(
                [1, 2, 3, 5, 6, 7, 8, 14, 16, 112, 113, 114, 115, 181, rng.randrange(220)])))
    body.append(Instruction(isa.OPCODE_EXIT))
    slots = [0]
    for insn in body:
        slots.append(slots[-1] + insn.slots)
    for i, target in jumps.items():
        off = slots[min(max(target, 0), len(body))] - slots[i] - 1
        body[i] = Instruction(body[i].opcode, body[i].dst, body[i].src,
                              max(-32768, min(32767, off)), body[i].imm)
    return body


# --- helper-calling programs ----------------------------------------------------------------

_VALUES = (1, 4, 8, 16, 64, 512, 4096)


def _map_spec(rng: random.Random) -> dict[str, Any]:
    """A map the VM can create (valid for its type), one time in six with one field set
    to a hostile value (huge sizes and counts, random flags)."""
    t = rng.choice(MAP_TYPES)
    val = rng.choice(_VALUES)
    n = rng.choice([1, 2, 4, 16, 256, 4096])
    spec: dict[str, Any] = {"type": t, "key_size": rng.choice([4, 8, 16]), "value_size": val,
                            "max_entries": n, "flags": 0}
    if t in ("array", "percpu_array"):
        spec.update(key_size=4, flags=rng.choice([0, 0x400]) if t == "array" else 0)
    elif t.endswith("hash") and t not in ("devmap_hash", "hash_of_maps"):
        spec["flags"] = rng.choice([0, 1] if not t.startswith("lru") else [0, 2])
    elif t == "lpm_trie":
        spec.update(key_size=rng.choice([8, 20]), flags=1)
    elif t in ("queue", "stack"):
        spec.update(key_size=0)
    elif t == "bloom_filter":
        spec.update(key_size=0, map_extra=rng.randrange(16))
    elif t == "ringbuf":
        spec.update(key_size=0, value_size=0, max_entries=rng.choice([4096, 8192, 1 << 16]))
    elif t in ("prog_array", "perf_event_array", "xskmap"):
        spec.update(key_size=4, value_size=4)
    elif t in ("array_of_maps", "hash_of_maps"):
        spec.update(value_size=4, key_size=4 if t == "array_of_maps" else spec["key_size"],
                    inner={"type": "array", "key_size": 4, "value_size": 8, "max_entries": 4})
    elif t in ("devmap", "devmap_hash", "cpumap"):
        spec.update(key_size=4, value_size=rng.choice([4, 8]), max_entries=min(n, 256))
    if rng.random() < 1 / 6:
        field_ = rng.choice(["key_size", "value_size", "max_entries", "flags"])
        spec[field_] = rng.choice(_BIG) if field_ != "flags" else rng.getrandbits(16)
    return spec


def _helper_case(rng: random.Random, seed: int) -> Case:
    from ..helpers import default_helpers
    from ..progtypes import helpers_for
    from ..uapi import ProgType
    ptype = rng.choice(TEST_RUN_TYPES * 3 + CONTEXT_TYPES + ("none",))
    if ptype == "none":
        ids = sorted(default_helpers())
    else:
        ids = sorted(helpers_for(ProgType[ptype.upper()], default_helpers()))
    maps = [_map_spec(rng) for _ in range(rng.randrange(0, 4))]
    calls = []
    for _ in range(rng.randrange(1, 9)):
        hid = rng.choice(ids) if rng.random() < 0.95 else rng.randrange(1, 220)
        typed = _typed_args(rng, hid, len(maps)) if rng.random() < 0.75 else []
        args = typed + [_arg(rng, len(maps)) for _ in range(5 - len(typed))]
        calls.append({"helper": hid, "args": args})
    meta = {"prog_type": ptype, "maps": maps, "calls": calls,
            "loop": rng.choice([0, 0, 1, 10, 1000, 100_000]),
            "budget": rng.choice([10_000, 100_000, 1_000_000]),
            "data": rng.randbytes(rng.choice([14, 64, 64, 1500, 1500, 3000, 3700])
                                  if rng.random() < 0.95 else rng.randrange(9000)).hex(),
            "ctx": (rng.randbytes if rng.random() < 0.2 else bytes)(
                rng.choice([0, 8, 64, 192, 1024] if ptype != "raw_tracepoint"
                           else [8, 16, 48, 96, 96])).hex()
            if rng.random() < (0.1 if ptype != "raw_tracepoint" else 0.95) else None,
            "ret": rng.choice([0, 1, 2, 3, 4, -1, 0x7FFF_FFFF])}
    return Case("vm", seed, "helpers", b"", meta)


def _typed_args(rng: random.Random, hid: int, nmaps: int) -> list[list[Any]]:
    """Arguments of the kinds the helper's prototype names (a map for a map, a stack
    buffer for memory, a size for a size: often right, sometimes at or past an edge),
    so that calls get past the first check; [] for a helper without a prototype."""
    from ..helper_protos import ArgType, HelperProtoError, proto
    try:
        p = proto(hid)
    except HelperProtoError:
        return []
    out: list[list[Any]] = []
    for a in p.args[:5]:
        t = a.type
        if t == ArgType.ARG_CONST_MAP_PTR and nmaps:
            out.append(["map", rng.randrange(nmaps), 0])
        elif t in (ArgType.ARG_PTR_TO_MAP_KEY, ArgType.ARG_PTR_TO_MAP_VALUE,
                   ArgType.ARG_PTR_TO_MEM, ArgType.ARG_PTR_TO_STACK,
                   ArgType.ARG_PTR_TO_CONST_STR, ArgType.ARG_PTR_TO_DYNPTR,
                   ArgType.ARG_PTR_TO_TIMER, ArgType.ARG_PTR_TO_SPIN_LOCK):
            out.append(["fp", rng.choice([8, 16, 64, 256, 512])] if rng.random() < 0.8
                       else rng.choice([["ret"], ["ctx"], ["pkt"]]))
        elif t in (ArgType.ARG_CONST_SIZE, ArgType.ARG_CONST_SIZE_OR_ZERO,
                   ArgType.ARG_CONST_ALLOC_SIZE_OR_ZERO):
            out.append(["int", rng.choice([0, 1, 4, 8, 16, 64, 255, 256, 512, 513, 4096,
                                           1 << 20, (1 << 32) - 1, (1 << 64) - 1])])
        elif t == ArgType.ARG_PTR_TO_CTX:
            out.append(["ctx"])
        elif t == ArgType.ARG_PTR_TO_FUNC:
            out.append(["func"])
        elif t == ArgType.ARG_PTR_TO_RINGBUF_MEM:
            out.append(["ret"])
        else:
            out.append(_arg(rng, nmaps))
    return out


def _arg(rng: random.Random, nmaps: int) -> list[Any]:
    choice = rng.choices(["ctx", "fp", "map", "mapval", "ret", "func", "int", "rand", "pkt"],
                         [3, 4, 4 if nmaps else 0, 1 if nmaps else 0, 2, 1, 5, 2, 2])[0]
    if choice == "fp":
        return ["fp", rng.choice([8, 16, 64, 256, 512, 513, 0, rng.randrange(1, 600)])]
    if choice in ("map", "mapval"):
        return [choice, rng.randrange(nmaps), rng.choice([0, 4, 8, 4096, rng.getrandbits(32)])]
    if choice == "int":
        return ["int", rng.choice(_BIG + (-1, -8, 3, 5, 14, 20, 100))]
    if choice == "rand":
        return ["int", rng.getrandbits(64)]
    return [choice]


def build_helper_program(meta: dict[str, Any], fds: list[int],
                         arrays: list[bool]) -> list[Instruction]:
    """The program a helper case describes: r6 = ctx, a zeroed stack, the calls with their
    arguments (the result of each kept in r7), optionally in a loop, then a callback
    function (for the helpers that take one) at the end. `arrays` says which of the maps
    are arrays (whose values a map_value lddw may name)."""
    I = Instruction  # noqa: E741 (short, for the instruction lists below)
    code: list[Instruction] = [I(0xBF, 6, 1), I(0xB7, 7, 0, 0, 0)]
    code += [I(0x7A, 10, 0, -8 * k, 0) for k in range(1, 65)]  # *(u64 *)(r10 - 8k) = 0
    loop = int(meta.get("loop", 0))
    if loop:
        code.append(Instruction.lddw(8, loop))
    body_start = len(isa.encode(code)) // 8
    body: list[tuple[Instruction, bool]] = []  # (insn, is a pseudo-func lddw to patch)
    for call in meta["calls"]:
        for reg, arg in zip(range(1, 6), call["args"]):
            kind = arg[0]
            if kind == "ctx":
                body.append((I(0xBF, reg, 6), False))
            elif kind == "fp":
                body += [(I(0xBF, reg, 10), False), (I(0x07, reg, 0, 0, -int(arg[1])), False)]
            elif kind in ("map", "mapval") and fds:
                idx = int(arg[1]) % len(fds)
                fd = fds[idx]
                if kind == "map" or not arrays[idx]:
                    body.append((Instruction.lddw(reg, fd, isa.BPF_PSEUDO_MAP_FD), False))
                else:
                    body.append((Instruction(isa.OPCODE_LDDW, reg, isa.BPF_PSEUDO_MAP_VALUE, 0, fd,
                                             isa.s32(int(arg[2]))), False))
            elif kind == "ret":
                body.append((I(0xBF, reg, 7), False))
            elif kind == "func":
                body.append((Instruction(isa.OPCODE_LDDW, reg, isa.BPF_PSEUDO_FUNC, 0, 0, 0), True))
            elif kind == "pkt":  # the packet pointer of an xdp_md / __sk_buff (data at 0/76)
                body.append((I(0x61, reg, 6, 0), False))
            elif kind == "int":
                body.append((Instruction.lddw(reg, int(arg[1])), False))
            else:
                body.append((I(0xB7, reg, 0, 0, 0), False))
        body += [(I(isa.OPCODE_CALL, 0, 0, 0, int(call["helper"])), False), (I(0xBF, 7, 0), False)]
    tail = []
    if loop:
        size = sum(2 if i.opcode == isa.OPCODE_LDDW else 1 for i, _ in body)
        tail = [I(0x07, 8, 0, 0, -1), I(0x55, 8, 0, -(size + 2), 0)]
    tail += [I(0xB7, 0, 0, 0, int(meta.get("ret", 0))), I(isa.OPCODE_EXIT)]
    # the callback: r0 = 0 or 1 (continue / stop) from its first argument
    callback = [I(0xBF, 0, 1), I(0x57, 0, 0, 0, 1), I(isa.OPCODE_EXIT)]
    slots_before_cb = body_start + sum(2 if i.opcode == isa.OPCODE_LDDW else 1 for i, _ in body) \
        + len(tail)
    out = list(code)
    pc = body_start
    for insn, is_func in body:
        if is_func:
            insn = Instruction(isa.OPCODE_LDDW, insn.dst, isa.BPF_PSEUDO_FUNC, 0,
                               slots_before_cb - pc - 1, 0)
        out.append(insn)
        pc += 2 if insn.opcode == isa.OPCODE_LDDW else 1
    return out + tail + callback


def _object_case(rng: random.Random, seed: int, env: Env) -> Case:
    idx = rng.randrange(len(env.objects)) if env.objects else -1
    meta = {"object": idx, "program": rng.randrange(16),
            "data": rng.randbytes(
                rng.choice([0, 14, 34, 54, 64, 1500, rng.randrange(70000)])).hex(),
            "ctx": rng.randbytes(rng.choice([0, 4, 24, 192, 1024])).hex()
            if rng.random() < 0.3 else None,
            "repeat": rng.choice([1, 1, 2, 10]),
            "fill": rng.random() < 0.5}
    return Case("vm", seed, "object", b"", meta)


# --- running ----------------------------------------------------------------------------

def execute(case: Case, env: Env) -> None:
    """Run the case (a PyBPFError propagates to the worker)."""
    meta = case.meta
    if case.kind in ("bytecode", "insns"):
        mem = bytes.fromhex(meta["mem"]) if meta.get("mem") is not None else None
        if int(meta["budget"]) == 1_000_000:  # the public entry point, its default budget
            import pybpf
            pybpf.run(case.data, mem)
        else:
            from ..vm import run
            run(case.data, mem, insn_budget=int(meta["budget"]))
        return None
    if case.kind == "helpers":
        return _run_helpers(meta)
    return _run_object(meta, env)


def _run_helpers(meta: dict[str, Any]) -> None:
    from .. import progtypes
    from ..helpers import default_helpers
    from ..maps import MapSpec, MapTable
    from ..uapi import ProgType
    from ..errors import PyBPFError
    from ..vm import VM, Memory
    maps = []
    try:
        for m in meta["maps"]:
            inner = MapSpec(**m["inner"]) if m.get("inner") else None
            spec = MapSpec(**{**m, "inner": inner})
            maps.append(spec.create("vm"))
        table = MapTable(maps)
        insns = build_helper_program(meta, [m.fd for m in maps],
                                     [m.spec.type_name == "array" for m in maps])
        ptype = meta["prog_type"]
        helpers = default_helpers() if ptype == "none" else \
            progtypes.helpers_for(ProgType[ptype.upper()], default_helpers())
        vm = VM(insns, helpers=helpers, maps=table, check_helpers=False,
                insn_budget=int(meta["budget"]))
        data = bytes.fromhex(meta["data"])
        ctx = bytes.fromhex(meta["ctx"]) if meta.get("ctx") is not None else None
        if ptype == "raw_tracepoint":
            progtypes.test_run(vm, ProgType.RAW_TRACEPOINT, ctx_in=ctx, data_size_out=0,
                               ctx_size_out=0, repeat=0)
        elif ptype in TEST_RUN_TYPES:
            progtypes.test_run(vm, ProgType[ptype.upper()], data_in=data if data else None,
                               ctx_in=ctx)
        else:
            mem = Memory()
            region = mem.map("ctx", bytearray(ctx or data or bytes(64)))
            vm.execute(mem, region.base, region.size)
        for m in maps:  # what the program left is readable
            try:
                for _ in zip(range(64), m.items()):
                    pass
            except PyBPFError:
                pass
    finally:
        for m in maps:
            try:
                m.close()
            except Exception:  # noqa: BLE001 - closing is best effort here
                pass
    return None


def _run_object(meta: dict[str, Any], env: Env) -> None:
    from ..elf import load
    if meta["object"] < 0 or not env.objects:
        return None
    spec = load(env.objects[meta["object"] % len(env.objects)])
    obj = spec.instantiate("vm", verify=False)  # the VM must stay safe unverified
    try:
        names = sorted(obj.programs)
        if not names:
            return None
        prog = obj.programs[names[meta["program"] % len(names)]]
        if meta["fill"]:
            rng = random.Random(meta["data"][:16])
            for m in obj.maps.values():
                ks, vs = m.spec.key_size, m.spec.value_size
                try:
                    for _ in range(4):
                        m[rng.randbytes(ks)] = rng.randbytes(vs)
                except Exception as e:  # noqa: BLE001 - a map refusing is the map's business
                    from ..errors import PyBPFError
                    if not isinstance(e, (PyBPFError, KeyError)):
                        raise
        data = bytes.fromhex(meta["data"])
        ctx = bytes.fromhex(meta["ctx"]) if meta.get("ctx") is not None else None
        prog.test_run(data if data else None, ctx_in=ctx, repeat=int(meta["repeat"]))
    finally:
        obj.close()
    return None
