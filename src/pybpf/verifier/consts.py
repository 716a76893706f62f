"""The verifier's limits and opcode tables, shared by the walk and the branch rules."""

from __future__ import annotations

from ..isa import (BPF_ADD, BPF_ALU, BPF_ALU64, BPF_AND, BPF_ARSH, BPF_DIV, BPF_END, BPF_JEQ,
                   BPF_JGE, BPF_JGT, BPF_JLE, BPF_JLT, BPF_JMP, BPF_JMP32, BPF_JNE, BPF_JSET,
                   BPF_JSGE, BPF_JSGT, BPF_JSLE, BPF_JSLT, BPF_LD, BPF_LDX, BPF_LSH, BPF_MOD,
                   BPF_MOV, BPF_MUL, BPF_NEG, BPF_OR, BPF_RSH, BPF_ST, BPF_STX, BPF_SUB, BPF_X,
                   BPF_XOR)

_RESERVED = {BPF_ALU: "BPF_ALU uses reserved fields", BPF_ALU64: "BPF_ALU uses reserved fields",
             BPF_LDX: "BPF_LDX uses reserved fields", BPF_STX: "BPF_STX uses reserved fields",
             BPF_ST: "BPF_ST uses reserved fields", BPF_LD: "invalid BPF_LD_IMM insn",
             BPF_JMP: "BPF_JMP/JMP32 uses reserved fields",
             BPF_JMP32: "BPF_JMP/JMP32 uses reserved fields"}
COMPLEXITY_LIMIT_INSNS = 1_000_000
COMPLEXITY_LIMIT_JMP_SEQ = 8192
COMPLEXITY_LIMIT_STATES = 64
BPF_MAX_VAR_OFF = 1 << 29
MAX_PACKET_OFF = 0xFFFF

ALU_NAMES = {BPF_ADD: "+=", BPF_SUB: "-=", BPF_MUL: "*=", BPF_DIV: "/=", BPF_OR: "|=",
             BPF_AND: "&=", BPF_LSH: "<<=", BPF_RSH: ">>=", BPF_NEG: "neg", BPF_MOD: "%=",
             BPF_XOR: "^=", BPF_MOV: "=", BPF_ARSH: "s>>=", BPF_END: "endian"}
_REV = {BPF_JEQ: BPF_JNE, BPF_JNE: BPF_JEQ, BPF_JGT: BPF_JLE, BPF_JLE: BPF_JGT,
        BPF_JGE: BPF_JLT, BPF_JLT: BPF_JGE, BPF_JSGT: BPF_JSLE, BPF_JSLE: BPF_JSGT,
        BPF_JSGE: BPF_JSLT, BPF_JSLT: BPF_JSGE, BPF_JSET: BPF_JSET | BPF_X}
_FLIP = {BPF_JGT: BPF_JLT, BPF_JLT: BPF_JGT, BPF_JGE: BPF_JLE, BPF_JLE: BPF_JGE,
         BPF_JSGT: BPF_JSLT, BPF_JSLT: BPF_JSGT, BPF_JSGE: BPF_JSLE, BPF_JSLE: BPF_JSGE,
         BPF_JEQ: BPF_JEQ, BPF_JNE: BPF_JNE, BPF_JSET: BPF_JSET}
