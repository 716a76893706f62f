"""The "kernel" assembler syntax: the style of the kernel verifier log and of
``llvm-objdump -d`` for BPF.

Registers are ``r0``..``r10``; ``w0``..``w10`` name their low 32 bits and select
the 32-bit class (ALU, JMP32). What the disassembler prints (one form per
instruction; the assembler also accepts the aliases listed after it)::

    r0 = 1                     w1 += w2            r0 s>>= 3    (arsh)
    r0 = -r0                   r0 s/= r1 (sdiv)    r0 s%= r1    (smod)
    r0 = (s8)r1                w0 = (s16)w1        (movsx: s8/s16/s32, s8/s16)
    r0 = be16 r0  r0 = le32 r0  r0 = bswap64 r0
    goto +3                    gotol +100000       may_goto +2
    if r1 > 0x5 goto +3        if w1 s<= w2 goto -2        (== != > >= < <= s> s>= s< s<= &)
    call bpf_map_lookup_elem   call 1000           (helper; known ids print by name)
    call pc+3                  (BPF-to-BPF call, src 1)
    call kfunc 1234            call kfunc 1234, 2  (kfunc, src 2: BTF id, then the
                                                    non-zero off, the BTF fd index)
    callx r2                   exit
    r0 = *(u8 *)(r1 +4)        r0 = *(s16 *)(r1 -2)       (u8/u16/u32/u64; s8/s16/s32)
    *(u32 *)(r10 -4) = r1      *(u64 *)(r10 -8) = 5
    lock *(u64 *)(r1 +0) += r2       lock *(u32 *)(r1 +0) |= w2     (+= |= &= ^=)
    r2 = atomic_fetch_add((u64 *)(r1 +0), r2)       (_add _or _and _xor)
    r2 = xchg((u64 *)(r1 +0), r2)
    r0 = cmpxchg((u64 *)(r1 +0), r0, r2)
    w0 = load_acquire((u8 *)(r1 +0))    r0 = load_acquire((u64 *)(r1 +0))
    store_release((u32 *)(r1 +0), w2)   store_release((u64 *)(r1 +0), r2)
    r1 = 0x1122334455667788 ll
    r0 = *(u8 *)skb[12]        r0 = *(u16 *)skb[r3 + 12]   (legacy LD_ABS / LD_IND)

pybpf's own forms for ``lddw`` with a pseudo source (src 1-6)::

    r1 = map_fd(5)              src 1, imm = map fd
    r1 = map_value(5, 8)        src 2, imm = map fd, second imm = value offset
    r1 = btf_id(1234)           src 3
    r1 = func(+3)               src 4, imm = relative slot offset (or func(label))
    r1 = map_idx(0)             src 5
    r1 = map_idx_value(0, 8)    src 6

Also accepted: ``goto pc+3``, ``if ... goto pc-2``, ``may_goto pc+N`` and labels as
jump targets; ``call label`` (local call to a label; a name that is a known helper,
with or without ``bpf_``, is a helper call instead); ``call r2`` for callx;
``call map_lookup_elem``; memory offsets written ``(r1 + 4)``, ``(r1+4)``,
``(r1 - 4)`` or ``(r1)``; ``wN`` as the value register of 8/16/32-bit loads and
stores (LLVM's alu32 output); ``rN`` instead of ``wN`` in 32-bit atomics and
load-acquire/store-release (the verifier log's spelling); the verifier log's
``atomic64_fetch_add``, ``atomic_xchg``, ``atomic64_xchg``, ``atomic_cmpxchg``,
``atomic64_cmpxchg``; LLVM's ``xchg_64(r1 + 0, r2)``, ``xchg32_32(...)``,
``cmpxchg_64(r1 + 0, r0, r2)``, ``cmpxchg32_32(...)``; ``r0 = *(u16 *)skb[r3]``.

Conditional-jump immediates print in hex (negative ones as ``-0x5``), other
immediates in decimal. Labels may not look like registers.
"""

from __future__ import annotations

from .. import isa
from ..isa import (BPF_ABS, BPF_ALU, BPF_ALU64, BPF_ATOMIC, BPF_B, BPF_DW, BPF_END,
                   BPF_FETCH, BPF_H, BPF_IND, BPF_JMP, BPF_JMP32, BPF_K, BPF_LD,
                   BPF_LDX, BPF_MEM, BPF_MEMSX, BPF_MOV, BPF_NEG, BPF_ST, BPF_STX,
                   BPF_TO_BE, BPF_TO_LE, BPF_W, BPF_X)
from . import Form, Syntax

# --- the tables (each serves the assembler and the disassembler) -----------------

ALU_OPS = (
    (isa.BPF_ADD, "+="), (isa.BPF_SUB, "-="), (isa.BPF_MUL, "*="), (isa.BPF_DIV, "/="),
    (isa.BPF_OR, "|="), (isa.BPF_AND, "&="), (isa.BPF_LSH, "<<="), (isa.BPF_RSH, ">>="),
    (isa.BPF_MOD, "%="), (isa.BPF_XOR, "^="), (isa.BPF_MOV, "="), (isa.BPF_ARSH, "s>>="),
)
SIGNED_ALU_OPS = ((isa.BPF_DIV, "s/="), (isa.BPF_MOD, "s%="))  # off = 1
MOVSX = {BPF_ALU64: (8, 16, 32), BPF_ALU: (8, 16)}  # mov X with off = bits
JMP_OPS = (
    (isa.BPF_JEQ, "=="), (isa.BPF_JNE, "!="), (isa.BPF_JGT, ">"), (isa.BPF_JGE, ">="),
    (isa.BPF_JLT, "<"), (isa.BPF_JLE, "<="), (isa.BPF_JSGT, "s>"), (isa.BPF_JSGE, "s>="),
    (isa.BPF_JSLT, "s<"), (isa.BPF_JSLE, "s<="), (isa.BPF_JSET, "&"),
)
ENDIAN = ((BPF_ALU | BPF_TO_BE, "be"), (BPF_ALU | BPF_TO_LE, "le"), (BPF_ALU64, "bswap"))
SIZES = ((BPF_B, 8), (BPF_H, 16), (BPF_W, 32), (BPF_DW, 64))
ATOMIC_RMW = ((isa.BPF_ADD, "+=", "add"), (isa.BPF_OR, "|=", "or"),
              (isa.BPF_AND, "&=", "and"), (isa.BPF_XOR, "^=", "xor"))
# lddw pseudo sources: src -> (name, number of arguments; "func" takes a target)
PSEUDO = ((isa.BPF_PSEUDO_MAP_FD, "map_fd", 1), (isa.BPF_PSEUDO_MAP_VALUE, "map_value", 2),
          (isa.BPF_PSEUDO_BTF_ID, "btf_id", 1), (isa.BPF_PSEUDO_FUNC, "func", 1),
          (isa.BPF_PSEUDO_MAP_IDX, "map_idx", 1),
          (isa.BPF_PSEUDO_MAP_IDX_VALUE, "map_idx_value", 2))


def _forms() -> list[Form]:
    f = Form.make
    out: list[Form] = []
    # ALU / ALU64
    for cls, d, s in ((BPF_ALU64, "{dst}", "{src}"), (BPF_ALU, "{wdst}", "{wsrc}")):
        for op, sym in ALU_OPS:
            out.append(f(f"{d} {sym} {{imm}}", cls | op | BPF_K))
            out.append(f(f"{d} {sym} {s}", cls | op | BPF_X))
        for op, sym in SIGNED_ALU_OPS:
            out.append(f(f"{d} {sym} {{imm}}", cls | op | BPF_K, off=1))
            out.append(f(f"{d} {sym} {s}", cls | op | BPF_X, off=1))
        for bits in MOVSX[cls]:
            out.append(f(f"{d} = (s{bits}){s}", cls | BPF_MOV | BPF_X, off=bits))
        out.append(f(f"{d} = -{d}", cls | BPF_NEG | BPF_K))
    for code, name in ENDIAN:
        for bits in (16, 32, 64):
            out.append(f(f"{{dst}} = {name}{bits} {{dst}}", code | BPF_END, imm=bits))
    # jumps and calls
    out.append(f("goto {joff}", isa.OPCODE_JA))
    out.append(f("gotol {jimm}", isa.OPCODE_JA32))
    for cls, d, s in ((BPF_JMP, "{dst}", "{src}"), (BPF_JMP32, "{wdst}", "{wsrc}")):
        for op, sym in JMP_OPS:
            out.append(f(f"if {d} {sym} {{ximm}} goto {{joff}}", cls | op | BPF_K))
            out.append(f(f"if {d} {sym} {s} goto {{joff}}", cls | op | BPF_X))
    out.append(f("may_goto {joff}", BPF_JMP | isa.BPF_JCOND))
    out.append(f("call {helper}", isa.OPCODE_CALL))
    out.append(f("call {pcimm}", isa.OPCODE_CALL, src=isa.BPF_PSEUDO_CALL))
    out.append(f("call kfunc {imm}", isa.OPCODE_CALL, src=isa.BPF_PSEUDO_KFUNC_CALL, off=0))
    out.append(f("call kfunc {imm}, {koff}", isa.OPCODE_CALL, src=isa.BPF_PSEUDO_KFUNC_CALL))
    out.append(f("callx {dst}", isa.OPCODE_CALLX))
    out.append(f("call {dst}", isa.OPCODE_CALLX, canonical=False))
    out.append(f("exit", isa.OPCODE_EXIT))
    # loads and stores
    for size, bits in SIZES:
        u, sx = f"*(u{bits} *)", f"*(s{bits} *)"
        out.append(f(f"{{dst}} = {u}({{src}} {{off}})", BPF_LDX | BPF_MEM | size))
        if size != BPF_DW:
            out.append(f(f"{{dst}} = {sx}({{src}} {{off}})", BPF_LDX | BPF_MEMSX | size))
        out.append(f(f"{u}({{dst}} {{off}}) = {{imm}}", BPF_ST | BPF_MEM | size))
        out.append(f(f"{u}({{dst}} {{off}}) = {{src}}", BPF_STX | BPF_MEM | size))
        if size != BPF_DW:
            out.append(f(f"{{wdst}} = {u}({{src}} {{off}})", BPF_LDX | BPF_MEM | size,
                         canonical=False))
            out.append(f(f"{u}({{dst}} {{off}}) = {{wsrc}}", BPF_STX | BPF_MEM | size,
                         canonical=False))
            out.append(f(f"r0 = {u}skb[{{imm}}]", BPF_LD | BPF_ABS | size))
            out.append(f(f"r0 = {u}skb[{{src}} {{simm}}]", BPF_LD | BPF_IND | size))
            out.append(f(f"r0 = {u}skb[{{src}}]", BPF_LD | BPF_IND | size, imm=0,
                         canonical=False))
    # atomics
    for size, bits in ((BPF_W, 32), (BPF_DW, 64)):
        code = BPF_STX | BPF_ATOMIC | size
        mem = f"(u{bits} *)({{dst}} {{off}})"
        regs = ("{src}",) if size == BPF_DW else ("{wsrc}", "{src}")
        zeros = ("r0",) if size == BPF_DW else ("w0", "r0")
        kname = "atomic64" if size == BPF_DW else "atomic"   # verifier-log spelling
        lname = "_64" if size == BPF_DW else "32_32"         # LLVM spelling suffix
        for k, v in enumerate(regs):
            alias = k > 0
            for op, sym, name in ATOMIC_RMW:
                out.append(f(f"lock *{mem} {sym} {v}", code, imm=op, canonical=not alias))
                out.append(f(f"{v} = atomic_fetch_{name}({mem}, {v})", code,
                             imm=op | BPF_FETCH, canonical=not alias))
                if kname != "atomic":
                    out.append(f(f"{v} = {kname}_fetch_{name}({mem}, {v})", code,
                                 imm=op | BPF_FETCH, canonical=False))
            r0 = zeros[k]
            for fn, canon in (("xchg", True), (f"{kname}_xchg", False)):
                out.append(f(f"{v} = {fn}({mem}, {v})", code, imm=isa.BPF_XCHG,
                             canonical=canon and not alias))
            for fn, canon in (("cmpxchg", True), (f"{kname}_cmpxchg", False)):
                out.append(f(f"{r0} = {fn}({mem}, {r0}, {v})", code, imm=isa.BPF_CMPXCHG,
                             canonical=canon and not alias))
            out.append(f(f"{v} = xchg{lname}({{dst}} {{off}}, {v})", code, imm=isa.BPF_XCHG,
                         canonical=False))
            out.append(f(f"{r0} = cmpxchg{lname}({{dst}} {{off}}, {r0}, {v})", code,
                         imm=isa.BPF_CMPXCHG, canonical=False))
    for size, bits in SIZES:
        code = BPF_STX | BPF_ATOMIC | size
        mem = f"(u{bits} *)"
        pairs = (("{dst}", "{src}"),) if size == BPF_DW else (("{wdst}", "{wsrc}"),
                                                                ("{dst}", "{src}"))
        for k, (d, s) in enumerate(pairs):
            out.append(f(f"{d} = load_acquire({mem}({{src}} {{off}}))", code,
                         imm=isa.BPF_LOAD_ACQ, canonical=k == 0))
            out.append(f(f"store_release({mem}({{dst}} {{off}}), {s})", code,
                         imm=isa.BPF_STORE_REL, canonical=k == 0))
    # 64-bit immediate loads
    out.append(f("{dst} = {imm64} ll", isa.OPCODE_LDDW))
    for src, name, nargs in PSEUDO:
        if src == isa.BPF_PSEUDO_FUNC:
            out.append(f(f"{{dst}} = {name}({{jimm}})", isa.OPCODE_LDDW, src=src))
        elif nargs == 1:
            out.append(f(f"{{dst}} = {name}({{imm}})", isa.OPCODE_LDDW, src=src))
        else:
            out.append(f(f"{{dst}} = {name}({{imm}}, {{imm2}})", isa.OPCODE_LDDW, src=src))
    return out


SYNTAX = Syntax.build(
    "kernel", _forms(), reg64="r", reg32="w", reg_re=r"([rw])(\d+)", pc_targets=True,
    implicit_exit_label=False, mnemonic_style=False, helper_names=True,
    omit_zero_offset=False)
