"""Named mutations of accepted programs, each a way real programs go wrong: a bounds
check removed or shifted, a null check dropped, an uninitialised register or stack slot
read, forbidden pointer arithmetic, a pointer leaked into a map or R0, a wrong helper
argument, a leaked reference, a loop without bound, a return value out of range, an
access off by one, a narrow context load at an odd offset, a write to r10 ...

A mutation finds the instruction to change by the seed's tags (templates) or by the
instructions themselves (object programs), and returns None when the program has no
such place. Every result is valid bytecode (jumps are kept pointing where they did)."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Callable, Mapping, Sequence

from ...asm import assemble_insns
from ...isa import (
    BPF_ALU64,
    BPF_B,
    BPF_DW,
    BPF_H,
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JLE,
    BPF_JLT,
    BPF_JNE,
    BPF_K,
    BPF_LDX,
    BPF_MEM,
    BPF_MOV,
    BPF_PSEUDO_CALL,
    BPF_W,
    BPF_X,
    SIZE_BYTES,
    InsnKind,
    Instruction,
    classify,
)
from .edit import insert, nop_at, replace_at, targets
from .seeds import PROFILES, Seed

# helpers whose result may be NULL, and those that release a reference
OR_NULL_HELPERS = frozenset({1, 84, 85, 99, 131, 155, 156})  # lookup, sk_lookup_*, skc, reserve
RELEASE_HELPERS = frozenset({86, 132, 133})  # sk_release, ringbuf_submit, ringbuf_discard
GPL_ONLY_HELPERS = frozenset({6, 25, 113, 114, 115, 130, 131, 132, 133})


@dataclass(frozen=True)
class Mutant:
    insns: tuple[Instruction, ...]
    license: str | None = None


Mutation = Callable[[Seed, random.Random], "Mutant | None"]


def _asm(text: str) -> list[Instruction]:
    return assemble_insns(text)


def _mut(insns: Sequence[Instruction], **kw: object) -> Mutant:
    return Mutant(tuple(insns), **kw)  # type: ignore[arg-type]  # kw: Mutant's own fields


# --- finding places ------------------------------------------------------------------------

def _is_helper_call(i: Instruction) -> bool:
    return classify(i) == InsnKind.CALL and i.src == 0


def _tagged(seed: Seed, *names: str) -> list[int]:
    out: list[int] = []
    for n in names:
        out += seed.tags.get(n, ())
    return sorted(set(out))


def null_checks(insns: Sequence[Instruction]) -> list[int]:
    """`if rX == 0` / `if rX != 0` on the result of a helper that may return NULL (or a
    copy of it) within a few instructions of the call."""
    out = []
    for i, insn in enumerate(insns):
        if not (_is_helper_call(insn) and insn.imm in OR_NULL_HELPERS):
            continue
        regs = {0}
        for j in range(i + 1, min(i + 6, len(insns))):
            nxt = insns[j]
            if classify(nxt) == InsnKind.ALU and nxt.op == BPF_MOV and nxt.source == BPF_X \
                    and nxt.src in regs and nxt.cls == BPF_ALU64:
                regs.add(nxt.dst)
                continue
            if classify(nxt) == InsnKind.JCOND and nxt.source == BPF_K and nxt.imm == 0 \
                    and nxt.op in (BPF_JEQ, BPF_JNE) and nxt.dst in regs:
                out.append(j)
                break
    return out


def bounds_checks(insns: Sequence[Instruction]) -> list[int]:
    """Register-register unsigned comparisons (how a pointer is checked against data_end)."""
    return [i for i, insn in enumerate(insns)
            if classify(insn) == InsnKind.JCOND and insn.source == BPF_X
            and insn.op in (BPF_JGT, BPF_JGE, BPF_JLT, BPF_JLE)]


def memory_accesses(insns: Sequence[Instruction], *, stack: bool | None = None) -> list[int]:
    """Loads and stores (not atomics); `stack` True: through r10 only, False: not."""
    out = []
    for i, insn in enumerate(insns):
        k = classify(insn)
        if k == InsnKind.LDX:
            base = insn.src
        elif k in (InsnKind.ST, InsnKind.STX):
            base = insn.dst
        else:
            continue
        if stack is None or (base == 10) == stack:
            out.append(i)
    return out


def ctx_loads(insns: Sequence[Instruction]) -> list[int]:
    """Loads through the context pointer: r1 at entry (until r1 is written or a call)
    and the registers it was copied to."""
    out, ctx = [], {1}
    for i, insn in enumerate(insns):
        k = classify(insn)
        if k == InsnKind.LDX and insn.src in ctx:
            out.append(i)
        if k == InsnKind.ALU and insn.cls == BPF_ALU64 and insn.op == BPF_MOV and \
                insn.source == BPF_X and insn.src in ctx:
            ctx.add(insn.dst)
            continue
        if k in (InsnKind.CALL, InsnKind.JCOND, InsnKind.JA, InsnKind.EXIT):
            break
        if k in (InsnKind.ALU, InsnKind.LDX, InsnKind.LDDW, InsnKind.ENDIAN):
            ctx.discard(insn.dst)
        if not ctx:
            break
    return out


def return_sets(insns: Sequence[Instruction]) -> list[int]:
    """`r0 = K` right before an exit (or one instruction before it)."""
    out = []
    for i, insn in enumerate(insns):
        if classify(insn) != InsnKind.EXIT:
            continue
        for j in (i - 1, i - 2):
            if j >= 0 and classify(insns[j]) == InsnKind.ALU and insns[j].dst == 0 and \
                    insns[j].op == BPF_MOV and insns[j].source == BPF_K:
                out.append(j)
                break
    return out


def back_edges(insns: Sequence[Instruction]) -> list[int]:
    tg = targets(insns)
    return [i for i, t in enumerate(tg) if t is not None and t <= i
            and classify(insns[i]) == InsnKind.JCOND]


def helper_calls(insns: Sequence[Instruction]) -> list[int]:
    return [i for i, insn in enumerate(insns) if _is_helper_call(insn)]


def _main_end(insns: Sequence[Instruction]) -> int:
    """The index after the main function (before the first local call target)."""
    tg = targets(insns)
    starts = [t for i, t in enumerate(tg) if t is not None and
              ((classify(insns[i]) == InsnKind.CALL and insns[i].src == BPF_PSEUDO_CALL)
               or classify(insns[i]) == InsnKind.LDDW)]
    return min(starts) if starts else len(insns)


def _pick(rng: random.Random, items: Sequence[int]) -> int | None:
    return rng.choice(list(items)) if items else None


# --- the mutations ---------------------------------------------------------------------------

def drop_bounds_check(seed: Seed, rng: random.Random) -> Mutant | None:
    at = _pick(rng, _tagged(seed, "bounds") or bounds_checks(seed.insns))
    return None if at is None else _mut(nop_at(seed.insns, at))


_INVERSE = {BPF_JGT: BPF_JLE, BPF_JLE: BPF_JGT, BPF_JGE: BPF_JLT, BPF_JLT: BPF_JGE}


def invert_bounds_check(seed: Seed, rng: random.Random) -> Mutant | None:
    at = _pick(rng, _tagged(seed, "bounds") or bounds_checks(seed.insns))
    if at is None:
        return None
    insn = seed.insns[at]
    op = _INVERSE.get(insn.op)
    if op is None:
        return None
    return _mut(replace_at(seed.insns, at, replace(insn, opcode=(insn.opcode & 0x0F) | op)))


def shift_bounds_check(seed: Seed, rng: random.Random) -> Mutant | None:
    """The length a check proves becomes shorter than what is read (or the check
    compares one byte less): `r4 += 14` -> `r4 += 13`."""
    cands = _tagged(seed, "boundsadd")
    if not cands:  # objects: an `rX += K` right before a bounds check on rX
        for b in bounds_checks(seed.insns):
            for j in range(max(0, b - 3), b):
                i = seed.insns[j]
                if classify(i) == InsnKind.ALU and i.cls == BPF_ALU64 and i.op == 0 and \
                        i.source == BPF_K and i.imm > 0 and i.dst in (seed.insns[b].dst,
                                                                      seed.insns[b].src):
                    cands.append(j)
    at = _pick(rng, cands)
    if at is None:
        return None
    insn = seed.insns[at]
    delta = rng.choice((1, 1, 2, 4, insn.imm))
    return _mut(replace_at(seed.insns, at, replace(insn, imm=insn.imm - delta)))


def drop_null_check(seed: Seed, rng: random.Random) -> Mutant | None:
    at = _pick(rng, _tagged(seed, "null") or null_checks(seed.insns))
    return None if at is None else _mut(nop_at(seed.insns, at))


def uninit_register(seed: Seed, rng: random.Random) -> Mutant | None:
    """Read a register no one wrote: at entry (only r1 and r10 are set) or right after
    a helper call (which clobbers r1-r5)."""
    calls = helper_calls(seed.insns[:_main_end(seed.insns)])
    if calls and rng.random() < 0.4:
        at = rng.choice(calls) + 1
        reg = rng.randrange(1, 6)
    else:
        at, reg = 0, rng.choice((0, 2, 3, 4, 5, 6, 7, 8, 9))
    dst = rng.choice([r for r in range(10) if r != reg])
    form = rng.choice((f"r{dst} = r{reg}", f"r{reg} += 1", f"if r{reg} > 0 goto +0",
                       f"*(u64 *)(r10 - 8) = r{reg}", f"r{dst} += r{reg}"))
    if form.startswith(f"r{dst} += ") and dst not in (1,):
        form = f"r{dst} = 0\n" + form
    return _mut(insert(seed.insns, at, _asm(form)))


def drop_register_init(seed: Seed, rng: random.Random) -> Mutant | None:
    """Remove a `rX = K` / `rX = rY` that a later instruction reads."""
    cands = [i for i, insn in enumerate(seed.insns)
             if classify(insn) == InsnKind.ALU and insn.op == BPF_MOV and insn.dst != 10]
    at = _pick(rng, cands)
    return None if at is None else _mut(nop_at(seed.insns, at))


def uninit_stack(seed: Seed, rng: random.Random) -> Mutant | None:
    """Read a stack slot no one wrote, or drop the store that fills a buffer a helper
    reads."""
    stores = _tagged(seed, "keystore", "valstore", "tuplestore", "stackstore")
    if stores and rng.random() < 0.5:
        return _mut(nop_at(seed.insns, rng.choice(stores)))
    off = -8 * rng.randrange(1, 64)
    size = rng.choice(("u8", "u16", "u32", "u64"))
    return _mut(insert(seed.insns, 0, _asm(f"r0 = *({size} *)(r10 {off})")))


_PTR_OPS = ("r{r} *= 2", "r{r} <<= 1", "r{r} |= 1", "w{r} += 1", "r{r} = -r{r}",
            "r{r} /= 2", "r{r} &= -8", "r{r} s>>= 1", "r{r} ^= 3", "r{r} += r{r}",
            "r{r} -= r10", "r{r} += r10", "r{r} = be16 r{r}", "r{r} %= 3", "r{r} >>= 1",
            "w{r} = w{r}")


def pointer_arithmetic(seed: Seed, rng: random.Random) -> Mutant | None:
    """An ALU operation the verifier forbids on a pointer (ctx at entry, a stack
    pointer, a map value or a value not yet null-checked)."""
    choice = rng.random()
    nulls = _tagged(seed, "null") or null_checks(seed.insns)
    if nulls and choice < 0.3:  # arithmetic on a map_value_or_null before the check
        at = rng.choice(nulls)
        reg = seed.insns[at].dst
        op = rng.choice((f"r{reg} += 8", f"r{reg} += 1", f"r{reg} -= 4")
                        + tuple(f.format(r=reg) for f in _PTR_OPS[:4]))
        return _mut(insert(seed.insns, at, _asm(op)))
    if choice < 0.6:  # on ctx at entry, then used as ctx
        op = rng.choice(_PTR_OPS).format(r=1)
        return _mut(insert(seed.insns, 0, _asm(op)))
    reg = rng.choice((2, 3, 4, 5, 6, 7, 8, 9))
    op = rng.choice(_PTR_OPS).format(r=reg)
    tail = rng.choice(("", f"\nr0 = *(u8 *)(r{reg} - 8)", f"\n*(u8 *)(r{reg} - 1) = 0"))
    return _mut(insert(seed.insns, 0, _asm(f"r{reg} = r10\n{op}{tail}")))


def pointer_leak_map(seed: Seed, rng: random.Random) -> Mutant | None:
    """Store a pointer (stack, ctx or the value itself) into a map value."""
    reads = _tagged(seed, "valread", "valwrite", "recwrite")
    if not reads:
        nulls = null_checks(seed.insns)
        if not nulls:
            return None
        at = rng.choice(nulls) + 1
        reg = seed.insns[at - 1].dst
    else:
        at = rng.choice(reads)
        insn = seed.insns[at]
        reg = insn.src if classify(insn) == InsnKind.LDX else insn.dst
    src = rng.choice(("r10", f"r{reg}", "r6" if 6 != reg else "r10"))
    return _mut(insert(seed.insns, at, _asm(f"*(u64 *)(r{reg} + 0) = {src}")))


def pointer_leak_r0(seed: Seed, rng: random.Random) -> Mutant | None:
    """Return a pointer: `r0 = r10` (or the context) before an exit."""
    rets = _tagged(seed, "ret") or return_sets(seed.insns)
    exits = [i for i, insn in enumerate(seed.insns[:_main_end(seed.insns)])
             if classify(insn) == InsnKind.EXIT]
    src = rng.choice(("r10", "r1", "r10"))
    if rets and rng.random() < 0.7:
        at = rng.choice(rets)
        if src == "r1" and at != 0:
            src = "r10"
        return _mut(replace_at(seed.insns, at, _asm(f"r0 = {src}")))
    exit_at = _pick(rng, exits)
    if exit_at is None:
        return None
    return _mut(insert(seed.insns, exit_at, _asm("r0 = r10"), jumps_into_new=True))


def helper_arg_type(seed: Seed, rng: random.Random) -> Mutant | None:
    """A helper argument of the wrong kind: a scalar for a pointer, the frame pointer
    itself, a pointer for a scalar."""
    at = _pick(rng, helper_calls(seed.insns))
    if at is None:
        return None
    reg = rng.randrange(1, 6)
    val = rng.choice(("0", "8", "r10", "-1", "r10\nr{r} += -512", "r10\nr{r} += 8"))
    text = f"r{reg} = " + val.replace("{r}", str(reg))
    return _mut(insert(seed.insns, at, _asm(text), jumps_into_new=False))


def helper_arg_size(seed: Seed, rng: random.Random) -> Mutant | None:
    """A size argument that is zero, negative, or larger than the buffer."""
    at = _pick(rng, _tagged(seed, "size"))
    if at is None:
        return None
    insn = seed.insns[at]
    new = rng.choice((0, -1, insn.imm + 1, insn.imm + 8, insn.imm * 2 + 16, 1 << 20, 513))
    return _mut(replace_at(seed.insns, at, replace(insn, imm=new)))


def helper_arg_const(seed: Seed, rng: random.Random) -> Mutant | None:
    """A size (or index) that must be known to the verifier becomes an unknown value
    read from the context (unbounded, or bounded only one way)."""
    cands = _tagged(seed, "size", "index")
    at = _pick(rng, cands)
    prof = PROFILES.get(seed.prog_type)
    if at is None or prof is None or "unknown" in seed.tags:
        return None
    reg = seed.insns[at].dst
    bound = rng.choice(("", f"\nif r{reg} > 64 goto +1", f"\nr{reg} &= 0xff"))
    out = replace_at(seed.insns, at, _asm(f"r{reg} = r9{bound}"))
    return _mut(insert(out, 0, _asm(prof.unknown)))


def leak_reference(seed: Seed, rng: random.Random) -> Mutant | None:
    """The release of an acquired reference (sk_release, ringbuf_submit/discard) is
    dropped."""
    cands = _tagged(seed, "release") or [i for i in helper_calls(seed.insns)
                                         if seed.insns[i].imm in RELEASE_HELPERS]
    at = _pick(rng, cands)
    return None if at is None else _mut(replace_at(seed.insns, at, _asm("r0 = 0")))


def unbounded_loop(seed: Seed, rng: random.Random) -> Mutant | None:
    """The loop's exit disappears: the back-edge becomes unconditional, the counter
    stops counting, or the bound becomes an unknown value."""
    jumps = _tagged(seed, "loopjmp") or back_edges(seed.insns)
    at = _pick(rng, jumps)
    if at is None:
        return None
    way = rng.random()
    incs = _tagged(seed, "loopinc")
    if incs and way < 0.35:
        return _mut(nop_at(seed.insns, rng.choice(incs)))
    insn = seed.insns[at]
    if way < 0.7:
        return _mut(replace_at(seed.insns, at, replace(insn, opcode=0x05, dst=0, src=0,
                                                       imm=0)))
    return _mut(replace_at(seed.insns, at, replace(insn, opcode=(insn.opcode & 0xF7) | 0x08,
                                                   src=10 if insn.dst != 10 else 1, imm=0)))


def return_out_of_range(seed: Seed, rng: random.Random) -> Mutant | None:
    """A return value outside the program type's range (or one the verifier cannot
    bound)."""
    rets = _tagged(seed, "ret", "cbret") or return_sets(seed.insns)
    at = _pick(rng, rets)
    if at is None:
        return None
    prof = PROFILES.get(seed.prog_type)
    bad = list(prof.bad_rets) if prof and prof.bad_rets else [2, 5, -1, 0x10000]
    if rng.random() < 0.3:  # an unknown 32-bit value
        return _mut(replace_at(seed.insns, at, _asm("call get_prandom_u32")))
    return _mut(replace_at(seed.insns, at, replace(seed.insns[at], imm=rng.choice(bad))))


def off_by_one(seed: Seed, rng: random.Random) -> Mutant | None:
    """A load or store one byte (or one element) past what was proven."""
    at = _pick(rng, _tagged(seed, "pkt", "mem", "valread", "valwrite", "recwrite",
                            "sockread", "subread") or memory_accesses(seed.insns, stack=False))
    if at is None:
        return None
    insn = seed.insns[at]
    size = SIZE_BYTES[insn.size]
    delta = rng.choice((1, -1, size, 8, -size))
    return _mut(replace_at(seed.insns, at, replace(insn, off=insn.off + delta)))


def narrow_ctx_load(seed: Seed, rng: random.Random) -> Mutant | None:
    """A context field read with another size or at an odd offset."""
    at = _pick(rng, _tagged(seed, "ctxload") or ctx_loads(seed.insns))
    if at is None:
        return None
    insn = seed.insns[at]
    size = rng.choice((BPF_B, BPF_H, BPF_W, BPF_DW))
    off = insn.off + rng.choice((0, 1, 2, 3, 5))
    return _mut(replace_at(seed.insns, at, replace(insn, opcode=BPF_LDX | BPF_MEM | size,
                                                   off=off)))


def ctx_write(seed: Seed, rng: random.Random) -> Mutant | None:
    """A store into the context at entry (most fields are read-only)."""
    prof = PROFILES.get(seed.prog_type)
    fields = list(prof.fields) if prof else [(0, 4)]
    off, size = rng.choice(fields)
    sz = {4: "u32", 8: "u64"}[size]
    form = rng.choice((f"*({sz} *)(r1 + {off}) = 0", f"*({sz} *)(r1 + {off}) = r1",
                       f"r2 = 1\n*({sz} *)(r1 + {off}) = r2"))
    return _mut(insert(seed.insns, 0, _asm(form)))


def r10_write(seed: Seed, rng: random.Random) -> Mutant | None:
    """A write to the read-only frame pointer."""
    at = rng.randrange(0, len(seed.insns))
    form = rng.choice(("r10 = 0", "r10 += 8", "r10 = r1", "w10 = w10", "r10 -= 16"))
    return _mut(insert(seed.insns, at, _asm(form)))


def stack_out_of_bounds(seed: Seed, rng: random.Random) -> Mutant | None:
    """A stack access below the 512 bytes or above the frame."""
    cands = memory_accesses(seed.insns, stack=True)
    at = _pick(rng, cands)
    if at is None:
        return _mut(insert(seed.insns, 0, _asm(
            rng.choice(("*(u64 *)(r10 - 520) = 0", "*(u64 *)(r10 + 0) = 0",
                        "r0 = *(u32 *)(r10 + 8)")))))
    insn = seed.insns[at]
    return _mut(replace_at(seed.insns, at, replace(
        insn, off=rng.choice((-520, -513, 0, 8, insn.off - 512)))))


def misaligned_stack(seed: Seed, rng: random.Random) -> Mutant | None:
    """A spill or fill of a pointer at a misaligned or partial slot."""
    spills = _tagged(seed, "spill", "fill")
    at = _pick(rng, spills)
    if at is None:
        return None
    insn = seed.insns[at]
    if rng.random() < 0.5:
        return _mut(replace_at(seed.insns, at, replace(insn, off=insn.off + rng.choice((1, 4)))))
    size = rng.choice((BPF_W, BPF_H, BPF_B))
    return _mut(replace_at(seed.insns, at, replace(insn, opcode=(insn.opcode & ~0x18) | size)))


def drop_var_bound(seed: Seed, rng: random.Random) -> Mutant | None:
    """A variable offset loses the mask that bounded it."""
    at = _pick(rng, _tagged(seed, "mask"))
    if at is None:
        return None
    if rng.random() < 0.5:
        return _mut(nop_at(seed.insns, at))
    insn = seed.insns[at]
    return _mut(replace_at(seed.insns, at, replace(insn, imm=(insn.imm << 4) | 0xF)))


# helpers a program of some type may not call: (helper, a type it is refused in)
_FOREIGN_HELPERS = (16, 26, 44, 23, 14, 113, 6, 25, 51, 8, 9, 10)


def helper_for_wrong_type(seed: Seed, rng: random.Random) -> Mutant | None:
    """A helper the program's type may not call (or that does not exist)."""
    at = _pick(rng, helper_calls(seed.insns))
    new = rng.choice(_FOREIGN_HELPERS + (250, 212, 0))
    if at is None:
        return _mut(insert(seed.insns, 0, _asm(f"call {new}")))
    return _mut(replace_at(seed.insns, at, replace(seed.insns[at], imm=new)))


def non_gpl_license(seed: Seed, rng: random.Random) -> Mutant | None:
    """A GPL-only helper called from a program whose license is not GPL-compatible."""
    calls = [i for i in helper_calls(seed.insns) if seed.insns[i].imm in GPL_ONLY_HELPERS]
    lic = rng.choice(("Proprietary", "MIT", "BSD", "none"))
    if not calls:
        return _mut(insert(seed.insns, 0, _asm("call ktime_get_ns")), license=lic) \
            if rng.random() < 0.2 else None
    return _mut(seed.insns, license=lic)


def bad_jump(seed: Seed, rng: random.Random) -> Mutant | None:
    """Code after the last exit becomes unreachable, or a jump lands out of range."""
    if rng.random() < 0.5:
        return _mut(list(seed.insns) + _asm("r0 = 0\nexit"))
    at = rng.randrange(0, len(seed.insns))
    return _mut(insert(seed.insns, at, [Instruction(0x05, off=rng.choice((-1000, 5000, -1)))]))


MUTATIONS: Mapping[str, Mutation] = {
    "drop_bounds_check": drop_bounds_check,
    "invert_bounds_check": invert_bounds_check,
    "shift_bounds_check": shift_bounds_check,
    "drop_null_check": drop_null_check,
    "uninit_register": uninit_register,
    "drop_register_init": drop_register_init,
    "uninit_stack": uninit_stack,
    "pointer_arithmetic": pointer_arithmetic,
    "pointer_leak_map": pointer_leak_map,
    "pointer_leak_r0": pointer_leak_r0,
    "helper_arg_type": helper_arg_type,
    "helper_arg_size": helper_arg_size,
    "helper_arg_const": helper_arg_const,
    "leak_reference": leak_reference,
    "unbounded_loop": unbounded_loop,
    "return_out_of_range": return_out_of_range,
    "off_by_one": off_by_one,
    "narrow_ctx_load": narrow_ctx_load,
    "ctx_write": ctx_write,
    "r10_write": r10_write,
    "stack_out_of_bounds": stack_out_of_bounds,
    "misaligned_stack": misaligned_stack,
    "drop_var_bound": drop_var_bound,
    "helper_for_wrong_type": helper_for_wrong_type,
    "non_gpl_license": non_gpl_license,
    "bad_jump": bad_jump,
}
