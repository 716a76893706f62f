"""The "conformance" assembler syntax: the mnemonic syntax of the bpf_conformance
and uBPF test vectors (``-- asm`` sections of their ``.data`` files).

A line is a mnemonic and comma-separated operands. Registers are ``%r0``..``%r10``;
a memory operand is ``[%rN]``, ``[%rN+off]`` or ``[%rN-off]``; a jump target is a
label, ``+N`` or ``-N``; the label ``exit`` names the first ``exit`` instruction
unless a label of that name is defined. What the disassembler prints::

    add %r1, 2        add32 %r1, %r2     (add sub mul div or and lsh rsh mod xor mov arsh;
                                          no suffix = ALU64, 32 = ALU)
    sdiv %r1, 3       smod32 %r1, %r2    (signed div/mod, off = 1)
    neg %r1           neg32 %r1
    movsx832 %r0, %r1   movsx1632   movsx864   movsx1664   movsx3264
    le16 %r1   be32 %r1   bswap64 %r1
    ldxb %r0, [%r1+4]   ldxh ldxw ldxdw     ldxsb ldxsh ldxsw (sign-extending)
    stb [%r10-1], 5     sth stw stdw        stxb [%r10-1], %r1   stxh stxw stxdw
    lock add [%r1+8], %r2        lock add32 ...   (add and or xor)
    lock fetch add [%r1], %r2    lock fetch add32 ...
    lock xchg [%r1], %r2         lock xchg32 ...
    lock cmpxchg [%r1], %r2      lock cmpxchg32 ...
    ja +3     ja32 +100000 (gotol)
    jeq %r1, 5, +2     jsgt32 %r1, %r2, -1   (jeq jne jgt jge jlt jle jsgt jsge jslt jsle
                                              jset; 32 = JMP32)
    call 1 (helper)    call local +3 (src 1)   call runtime 1234 (src 2)   call %r2 (callx)
    exit
    lddw %r0, 0x1122334455667788

pybpf's extensions (the conformance assembler has no spelling for these)::

    lddw %r1, map_fd 5            lddw with pseudo src 1 (imm = fd)
    lddw %r1, map_value 5, 8      src 2 (imm = fd, second imm = offset)
    lddw %r1, btf_id 1234         src 3
    lddw %r1, func +3             src 4 (a relative slot offset or a label)
    lddw %r1, map_idx 0           src 5
    lddw %r1, map_idx_value 0, 8  src 6
    call runtime 1234, 2          kfunc call with a non-zero off (BTF fd index)
    may_goto +3                   BPF_JMP | BPF_JCOND (may_goto)
    ldacqb %r0, [%r1+0]           load-acquire (ldacqb ldacqh ldacqw ldacqdw)
    strelw [%r1+0], %r2           store-release (strelb strelh strelw streldw)
    ldabsb 12                     legacy LD_ABS (ldabsb ldabsh ldabsw)
    ldindh %r3, 12                legacy LD_IND (ldindb ldindh ldindw)

Also accepted: a ``64`` suffix on the ALU mnemonics (``add64``, ``neg64``,
``sdiv64``, ...), ``swap16/32/64`` for ``bswap16/32/64``, ``call helper N`` and
``callx %rN``. Immediates print in decimal, 64-bit ones in hex.
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
    (isa.BPF_ADD, "add"), (isa.BPF_SUB, "sub"), (isa.BPF_MUL, "mul"), (isa.BPF_DIV, "div"),
    (isa.BPF_OR, "or"), (isa.BPF_AND, "and"), (isa.BPF_LSH, "lsh"), (isa.BPF_RSH, "rsh"),
    (isa.BPF_MOD, "mod"), (isa.BPF_XOR, "xor"), (isa.BPF_MOV, "mov"), (isa.BPF_ARSH, "arsh"),
)
SIGNED_ALU_OPS = ((isa.BPF_DIV, "sdiv"), (isa.BPF_MOD, "smod"))  # off = 1
# class -> (canonical suffix, alias suffixes)
ALU_CLASSES = ((BPF_ALU64, "", ("64",)), (BPF_ALU, "32", ()))
MOVSX = ((BPF_ALU, 8, "movsx832"), (BPF_ALU, 16, "movsx1632"), (BPF_ALU64, 8, "movsx864"),
         (BPF_ALU64, 16, "movsx1664"), (BPF_ALU64, 32, "movsx3264"))
ENDIAN = ((BPF_ALU | BPF_TO_LE, "le", ()), (BPF_ALU | BPF_TO_BE, "be", ()),
          (BPF_ALU64, "bswap", ("swap",)))
JMP_OPS = (
    (isa.BPF_JEQ, "jeq"), (isa.BPF_JGT, "jgt"), (isa.BPF_JGE, "jge"), (isa.BPF_JSET, "jset"),
    (isa.BPF_JNE, "jne"), (isa.BPF_JSGT, "jsgt"), (isa.BPF_JSGE, "jsge"),
    (isa.BPF_JLT, "jlt"), (isa.BPF_JLE, "jle"), (isa.BPF_JSLT, "jslt"),
    (isa.BPF_JSLE, "jsle"),
)
SIZES = ((BPF_B, "b"), (BPF_H, "h"), (BPF_W, "w"), (BPF_DW, "dw"))
ATOMIC_RMW = ((isa.BPF_ADD, "add"), (isa.BPF_OR, "or"), (isa.BPF_AND, "and"),
              (isa.BPF_XOR, "xor"))
PSEUDO = ((isa.BPF_PSEUDO_MAP_FD, "map_fd", 1), (isa.BPF_PSEUDO_MAP_VALUE, "map_value", 2),
          (isa.BPF_PSEUDO_BTF_ID, "btf_id", 1), (isa.BPF_PSEUDO_FUNC, "func", 1),
          (isa.BPF_PSEUDO_MAP_IDX, "map_idx", 1),
          (isa.BPF_PSEUDO_MAP_IDX_VALUE, "map_idx_value", 2))


def _forms() -> list[Form]:
    f = Form.make
    out: list[Form] = []

    def spell(names: tuple[str, ...], template: str, opcode: int, **fixed: int) -> None:
        """The first name prints; the others are aliases."""
        for k, name in enumerate(names):
            out.append(f(template.replace("@", name), opcode, canonical=k == 0, **fixed))

    # ALU / ALU64
    for cls, sfx, aliases in ALU_CLASSES:
        def names(base: str, sfx: str = sfx, aliases: tuple[str, ...] = aliases
                  ) -> tuple[str, ...]:
            return (base + sfx,) + tuple(base + a for a in aliases)
        for op, base in ALU_OPS:
            spell(names(base), "@ {dst}, {imm}", cls | op | BPF_K)
            spell(names(base), "@ {dst}, {src}", cls | op | BPF_X)
        for op, base in SIGNED_ALU_OPS:
            spell(names(base), "@ {dst}, {imm}", cls | op | BPF_K, off=1)
            spell(names(base), "@ {dst}, {src}", cls | op | BPF_X, off=1)
        spell(names("neg"), "@ {dst}", cls | BPF_NEG | BPF_K)
    for cls, bits, name in MOVSX:
        spell((name,), "@ {dst}, {src}", cls | BPF_MOV | BPF_X, off=bits)
    for code, base, aliases in ENDIAN:
        for bits in (16, 32, 64):
            spell(tuple(n + str(bits) for n in (base,) + aliases), "@ {dst}",
                  code | BPF_END, imm=bits)
    # jumps and calls
    spell(("ja",), "@ {joff}", isa.OPCODE_JA)
    spell(("ja32",), "@ {jimm}", isa.OPCODE_JA32)
    for cls, sfx in ((BPF_JMP, ""), (BPF_JMP32, "32")):
        for op, base in JMP_OPS:
            spell((base + sfx,), "@ {dst}, {imm}, {joff}", cls | op | BPF_K)
            spell((base + sfx,), "@ {dst}, {src}, {joff}", cls | op | BPF_X)
    spell(("may_goto",), "@ {joff}", BPF_JMP | isa.BPF_JCOND)
    spell(("call", "call helper"), "@ {helper}", isa.OPCODE_CALL)
    spell(("call local",), "@ {jimm}", isa.OPCODE_CALL, src=isa.BPF_PSEUDO_CALL)
    spell(("call runtime",), "@ {imm}", isa.OPCODE_CALL, src=isa.BPF_PSEUDO_KFUNC_CALL,
          off=0)
    spell(("call runtime",), "@ {imm}, {koff}", isa.OPCODE_CALL,
          src=isa.BPF_PSEUDO_KFUNC_CALL)
    spell(("call", "callx"), "@ {dst}", isa.OPCODE_CALLX)
    spell(("exit",), "@", isa.OPCODE_EXIT)
    # loads and stores
    for size, s in SIZES:
        spell((f"ldx{s}",), "@ {dst}, [{src}{off}]", BPF_LDX | BPF_MEM | size)
        if size != BPF_DW:
            spell((f"ldxs{s}",), "@ {dst}, [{src}{off}]", BPF_LDX | BPF_MEMSX | size)
        spell((f"st{s}",), "@ [{dst}{off}], {imm}", BPF_ST | BPF_MEM | size)
        spell((f"stx{s}",), "@ [{dst}{off}], {src}", BPF_STX | BPF_MEM | size)
        spell((f"ldacq{s}",), "@ {dst}, [{src}{off}]", BPF_STX | BPF_ATOMIC | size,
              imm=isa.BPF_LOAD_ACQ)
        spell((f"strel{s}",), "@ [{dst}{off}], {src}", BPF_STX | BPF_ATOMIC | size,
              imm=isa.BPF_STORE_REL)
        if size != BPF_DW:
            spell((f"ldabs{s}",), "@ {imm}", BPF_LD | BPF_ABS | size)
            spell((f"ldind{s}",), "@ {src}, {imm}", BPF_LD | BPF_IND | size)
    # atomics
    for size, sfx in ((BPF_DW, ""), (BPF_W, "32")):
        code = BPF_STX | BPF_ATOMIC | size
        for op, base in ATOMIC_RMW:
            spell((f"lock {base}{sfx}",), "@ [{dst}{off}], {src}", code, imm=op)
            spell((f"lock fetch {base}{sfx}",), "@ [{dst}{off}], {src}", code,
                  imm=op | BPF_FETCH)
        spell((f"lock xchg{sfx}",), "@ [{dst}{off}], {src}", code, imm=isa.BPF_XCHG)
        spell((f"lock cmpxchg{sfx}",), "@ [{dst}{off}], {src}", code, imm=isa.BPF_CMPXCHG)
    # 64-bit immediate loads
    spell(("lddw",), "@ {dst}, {imm64}", isa.OPCODE_LDDW)
    for src, name, nargs in PSEUDO:
        arg = "{jimm}" if src == isa.BPF_PSEUDO_FUNC else "{imm}"
        if nargs == 2:
            arg += ", {imm2}"
        spell(("lddw",), f"@ {{dst}}, {name} {arg}", isa.OPCODE_LDDW, src=src)
    return out


SYNTAX = Syntax.build(
    "conformance", _forms(), reg64="%r", reg32="%r", reg_re=r"(%r)(\d+)", pc_targets=False,
    implicit_exit_label=True, mnemonic_style=True, helper_names=False,
    omit_zero_offset=True)
