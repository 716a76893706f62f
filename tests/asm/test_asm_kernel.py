"""The kernel (verifier log / llvm-objdump) syntax: known encodings, accepted
spellings, labels, and a cross-check against LLVM's assembler when installed."""

from __future__ import annotations

import random
import re
import shutil
import subprocess

import pytest

from pybpf import isa
from pybpf.asm import assemble, assemble_insns, disassemble, disassemble_insn
from pybpf.isa import Instruction


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def test_example_used_by_others() -> None:
    assert assemble("r0 = 1\nexit\n") == bytes.fromhex("b700000001000000" "9500000000000000")
    assert disassemble(bytes.fromhex("b700000001000000" "9500000000000000")) == "r0 = 1\nexit\n"


# encodings checked against `llvm-mc -triple bpfel -mattr=+alu32 -show-encoding`
# (LLVM 14) or, for the newer instructions, the kernel's instruction-set document
KNOWN = [
    ("r0 = 1", "b7 00 0000 01000000"),
    ("w1 += w2", "0c 21 0000 00000000"),
    ("r0 = r10", "bf a0 0000 00000000"),
    ("r0 -= 1", "17 00 0000 01000000"),
    ("r3 *= -3", "27 03 0000 fdffffff"),
    ("r0 /= r1", "3f 10 0000 00000000"),
    ("r0 %= 7", "97 00 0000 07000000"),
    ("r0 |= r1", "4f 10 0000 00000000"),
    ("w0 &= 255", "54 00 0000 ff000000"),
    ("r0 ^= r1", "af 10 0000 00000000"),
    ("r0 <<= 3", "67 00 0000 03000000"),
    ("r0 >>= 3", "77 00 0000 03000000"),
    ("r0 s>>= 3", "c7 00 0000 03000000"),
    ("w0 s>>= w1", "cc 10 0000 00000000"),
    ("r0 = -r0", "87 00 0000 00000000"),
    ("w0 = -w0", "84 00 0000 00000000"),
    ("r0 s/= r1", "3f 10 0100 00000000"),
    ("w0 s/= 3", "34 00 0100 03000000"),
    ("r0 s%= r1", "9f 10 0100 00000000"),
    ("r0 = (s8)r1", "bf 10 0800 00000000"),
    ("r0 = (s16)r1", "bf 10 1000 00000000"),
    ("r0 = (s32)r1", "bf 10 2000 00000000"),
    ("w0 = (s8)w1", "bc 10 0800 00000000"),
    ("w0 = (s16)w1", "bc 10 1000 00000000"),
    ("r0 = be16 r0", "dc 00 0000 10000000"),
    ("r0 = be64 r0", "dc 00 0000 40000000"),
    ("r0 = le16 r0", "d4 00 0000 10000000"),
    ("r0 = le64 r0", "d4 00 0000 40000000"),
    ("r0 = bswap16 r0", "d7 00 0000 10000000"),
    ("r2 = bswap32 r2", "d7 02 0000 20000000"),
    ("goto +3", "05 00 0300 00000000"),
    ("goto -1", "05 00 ffff 00000000"),
    ("gotol +10", "06 00 0000 0a000000"),
    ("if r1 > 0x5 goto +3", "25 01 0300 05000000"),
    ("if r1 > r2 goto +3", "2d 21 0300 00000000"),
    ("if w1 == -0x5 goto -2", "16 01 feff fbffffff"),
    ("if w1 s<= w2 goto -2", "de 21 feff 00000000"),
    ("if r1 & 0x7 goto +1", "45 01 0100 07000000"),
    ("if r1 != r2 goto +1", "5d 21 0100 00000000"),
    ("if r1 s< 0x0 goto +1", "c5 01 0100 00000000"),
    ("may_goto +3", "e5 00 0300 00000000"),
    ("call bpf_map_lookup_elem", "85 00 0000 01000000"),
    ("call pc+3", "85 10 0000 03000000"),
    ("call kfunc 1234", "85 20 0000 d2040000"),
    ("call kfunc 1234, 2", "85 20 0200 d2040000"),
    ("callx r2", "8d 02 0000 00000000"),
    ("exit", "95 00 0000 00000000"),
    ("r0 = *(u8 *)(r1 +4)", "71 10 0400 00000000"),
    ("r0 = *(u16 *)(r1 -2)", "69 10 feff 00000000"),
    ("r0 = *(u32 *)(r1 +0)", "61 10 0000 00000000"),
    ("r0 = *(u64 *)(r10 -8)", "79 a0 f8ff 00000000"),
    ("r0 = *(s8 *)(r1 +0)", "91 10 0000 00000000"),
    ("r0 = *(s16 *)(r1 +0)", "89 10 0000 00000000"),
    ("r0 = *(s32 *)(r1 +0)", "81 10 0000 00000000"),
    ("*(u32 *)(r10 -4) = r1", "63 1a fcff 00000000"),
    ("*(u64 *)(r10 -8) = 5", "7a 0a f8ff 05000000"),
    ("*(u8 *)(r10 -1) = -1", "72 0a ffff ffffffff"),
    ("lock *(u64 *)(r1 +0) += r2", "db 21 0000 00000000"),
    ("lock *(u32 *)(r1 +0) += w2", "c3 21 0000 00000000"),
    ("lock *(u64 *)(r1 +0) |= r2", "db 21 0000 40000000"),
    ("lock *(u32 *)(r1 +0) &= w2", "c3 21 0000 50000000"),
    ("lock *(u32 *)(r1 +0) ^= w2", "c3 21 0000 a0000000"),
    ("r2 = atomic_fetch_add((u64 *)(r1 +0), r2)", "db 21 0000 01000000"),
    ("w2 = atomic_fetch_or((u32 *)(r1 +8), w2)", "c3 21 0800 41000000"),
    ("r2 = atomic_fetch_and((u64 *)(r1 +0), r2)", "db 21 0000 51000000"),
    ("r2 = atomic_fetch_xor((u64 *)(r1 +0), r2)", "db 21 0000 a1000000"),
    ("r2 = xchg((u64 *)(r1 +0), r2)", "db 21 0000 e1000000"),
    ("w2 = xchg((u32 *)(r1 +0), w2)", "c3 21 0000 e1000000"),
    ("r0 = cmpxchg((u64 *)(r1 +0), r0, r2)", "db 21 0000 f1000000"),
    ("w0 = cmpxchg((u32 *)(r1 +0), w0, w2)", "c3 21 0000 f1000000"),
    ("r0 = load_acquire((u64 *)(r1 +0))", "db 10 0000 00010000"),
    ("w0 = load_acquire((u8 *)(r1 +0))", "d3 10 0000 00010000"),
    ("store_release((u32 *)(r1 +0), w2)", "c3 21 0000 10010000"),
    ("store_release((u64 *)(r1 -8), r2)", "db 21 f8ff 10010000"),
    ("r1 = 0x1122334455667788 ll", "18 01 0000 88776655 00 00 0000 44332211"),
    ("r1 = map_fd(5)", "18 11 0000 05000000 00 00 0000 00000000"),
    ("r1 = map_value(5, 8)", "18 21 0000 05000000 00 00 0000 08000000"),
    ("r1 = btf_id(1234)", "18 31 0000 d2040000 00 00 0000 00000000"),
    ("r1 = func(+3)", "18 41 0000 03000000 00 00 0000 00000000"),
    ("r1 = map_idx(0)", "18 51 0000 00000000 00 00 0000 00000000"),
    ("r1 = map_idx_value(0, 8)", "18 61 0000 00000000 00 00 0000 08000000"),
    ("r0 = *(u8 *)skb[12]", "30 00 0000 0c000000"),
    ("r0 = *(u16 *)skb[12]", "28 00 0000 0c000000"),
    ("r0 = *(u32 *)skb[12]", "20 00 0000 0c000000"),
    ("r0 = *(u16 *)skb[r3 + 12]", "48 30 0000 0c000000"),
    ("r0 = *(u8 *)skb[r3 - 2]", "50 30 0000 feffffff"),
]


@pytest.mark.parametrize("text,hexcode", KNOWN)
def test_known_encodings(text: str, hexcode: str) -> None:
    code = h(hexcode)
    assert assemble(text) == code
    assert disassemble(code) == text + "\n"   # KNOWN lists the printed form


# other accepted spellings -> the printed form
ALIASES = [
    ("goto pc+3", "goto +3"),
    ("goto pc-2", "goto -2"),
    ("if r1 > 5 goto pc+3", "if r1 > 0x5 goto +3"),
    ("if w1 == 0xfffffffb goto -2", "if w1 == -0x5 goto -2"),
    ("may_goto pc+1", "may_goto +1"),
    ("gotol pc-4", "gotol -4"),
    ("call map_lookup_elem", "call bpf_map_lookup_elem"),
    ("call 1", "call bpf_map_lookup_elem"),
    ("call 0x1", "call bpf_map_lookup_elem"),
    ("call bpf_tail_call", "call bpf_tail_call"),
    ("call 100000", "call 100000"),
    ("call -1", "call -1"),
    ("call r2", "callx r2"),
    ("r0 = *(u8 *)(r1 + 4)", "r0 = *(u8 *)(r1 +4)"),
    ("r0 = *(u8 *)(r1+4)", "r0 = *(u8 *)(r1 +4)"),
    ("r0 = *(u8 *)(r1 - 4)", "r0 = *(u8 *)(r1 -4)"),
    ("r0 = *(u8 *)(r1)", "r0 = *(u8 *)(r1 +0)"),
    ("r0 = *(u8 *)(r1 +0x10)", "r0 = *(u8 *)(r1 +16)"),
    ("w0 = *(u32 *)(r1 + 0)", "r0 = *(u32 *)(r1 +0)"),
    ("*(u16 *)(r10 - 2) = w1", "*(u16 *)(r10 -2) = r1"),
    ("r0=r1", "r0 = r1"),
    ("r0 = 0xffffffff", "r0 = -1"),
    ("w0 = 0x80000000", "w0 = -2147483648"),
    ("r0 -= -0x10", "r0 -= -16"),
    ("lock *(u32 *)(r1 +0) += r2", "lock *(u32 *)(r1 +0) += w2"),
    ("r2 = atomic64_fetch_add((u64 *)(r1 +0), r2)", "r2 = atomic_fetch_add((u64 *)(r1 +0), r2)"),
    ("r2 = atomic_fetch_add((u32 *)(r1 +0), r2)", "w2 = atomic_fetch_add((u32 *)(r1 +0), w2)"),
    ("r2 = atomic64_xchg((u64 *)(r1 +0), r2)", "r2 = xchg((u64 *)(r1 +0), r2)"),
    ("r2 = atomic_xchg((u32 *)(r1 +0), r2)", "w2 = xchg((u32 *)(r1 +0), w2)"),
    ("r0 = atomic64_cmpxchg((u64 *)(r1 +0), r0, r2)", "r0 = cmpxchg((u64 *)(r1 +0), r0, r2)"),
    ("r0 = atomic_cmpxchg((u32 *)(r1 +0), r0, r2)", "w0 = cmpxchg((u32 *)(r1 +0), w0, w2)"),
    ("r2 = xchg_64(r1 + 0, r2)", "r2 = xchg((u64 *)(r1 +0), r2)"),
    ("w2 = xchg32_32(r1 + 0, w2)", "w2 = xchg((u32 *)(r1 +0), w2)"),
    ("r0 = cmpxchg_64(r1 + 0, r0, r2)", "r0 = cmpxchg((u64 *)(r1 +0), r0, r2)"),
    ("w0 = cmpxchg32_32(r1 + 0, w0, w2)", "w0 = cmpxchg((u32 *)(r1 +0), w0, w2)"),
    ("r0 = load_acquire((u8 *)(r1 +0))", "w0 = load_acquire((u8 *)(r1 +0))"),
    ("store_release((u16 *)(r1 +0), r2)", "store_release((u16 *)(r1 +0), w2)"),
    ("r0 = *(u16 *)skb[r3]", "r0 = *(u16 *)skb[r3 + 0]"),
    ("r1 = -1 ll", "r1 = 0xffffffffffffffff ll"),
    ("r1 = 18446744073709551615 ll", "r1 = 0xffffffffffffffff ll"),
    ("r1 = 5 ll", "r1 = 0x5 ll"),
    ("r1 = func(pc+3)", "r1 = func(+3)"),
    ("call kfunc 7, 0", "call kfunc 7"),
]


@pytest.mark.parametrize("text,printed", ALIASES)
def test_accepted_spellings(text: str, printed: str) -> None:
    code = assemble(text)
    assert disassemble(code) == printed + "\n"
    assert assemble(printed) == code


def test_comments_blank_lines_and_labels() -> None:
    text = """
    ; a comment
    # another
    // and another
    start:                      // label on its own line
        r0 = 0                  ; trailing comment
    loop: r0 += 1               # label before an instruction
        if r0 < 10 goto loop
        r1 = 0x1122334455667788 ll
        if r0 == 10 goto done
        goto loop
    done:
        call sub
        exit
    sub:
        r1 = func(start)
        r0 = 2
        exit
    """
    insns = assemble_insns(text)
    assert [i.off for i in insns[:5]] == [0, 0, -2, 0, 1]
    assert insns[4] == Instruction(0x15, 0, 0, 1, 10)       # over lddw (2 slots) + goto
    assert insns[5].off == -6                               # goto loop from slot 6
    assert insns[6] == Instruction(isa.OPCODE_CALL, 0, 1, 0, 1)
    assert insns[8].imm == -10                               # func(start) from slot 9
    assert insns[8].src == isa.BPF_PSEUDO_FUNC


def test_label_at_end_and_pc_relative_mix() -> None:
    code = assemble("goto end\nr0 = 1\nend:\nexit\n")
    assert assemble_insns(disassemble(code)) == assemble_insns("goto +1\nr0 = 1\nexit")


def test_local_call_prefers_helper_names_then_labels() -> None:
    insns = assemble_insns("call map_lookup_elem\ncall foo\nexit\nfoo:\nexit")
    assert insns[0] == Instruction(isa.OPCODE_CALL, imm=1)
    assert insns[1] == Instruction(isa.OPCODE_CALL, src=1, imm=1)


def test_llvm_objdump_and_verifier_log_text() -> None:
    objdump = """
t.o:\tfile format elf64-bpf

Disassembly of section .text:

0000000000000000 <.text>:
       0:\tb7 00 00 00 01 00 00 00\tr0 = 1
       1:\t25 01 03 00 05 00 00 00\tif r1 > 5 goto +3 <.text+0x30>
       2:\t18 01 00 00 88 77 66 55 00 00 00 00 44 33 22 11\tr1 = 1234605616436508552 ll
       4:\t63 1a fc ff 00 00 00 00\t*(u32 *)(r10 - 4) = r1
       5:\t95 00 00 00 00 00 00 00\texit
"""
    assert assemble(objdump) == h("b700000001000000 2501030005000000 1801000088776655"
                                  "0000000044332211 631afcff00000000 9500000000000000")
    log = """
0: R1=ctx() R10=fp0
; int x = 0;
0: (b7) r0 = 0                        ; R0_w=0
1: (85) call bpf_get_prandom_u32#7
2: (25) if r0 > 0x5 goto pc+1
3: (95) exit
"""
    assert assemble(log.replace("0: R1=ctx() R10=fp0\n", "")) == h(
        "b700000000000000 8500000007000000 2500010005000000 9500000000000000")


def test_disassemble_is_newline_terminated_and_rejects_bad_code() -> None:
    assert disassemble(b"") == ""
    with pytest.raises(isa.InvalidInstruction):
        disassemble(h("ff00000000000000"))
    with pytest.raises(isa.InvalidInstruction):
        disassemble(h("b7"))
    with pytest.raises(isa.InvalidInstruction):
        disassemble_insn(Instruction(0xB7, 11))


def test_unknown_syntax_is_value_error() -> None:
    with pytest.raises(ValueError):
        assemble("exit", syntax="intel")
    with pytest.raises(ValueError):
        disassemble(h("9500000000000000"), syntax="att")


# --- cross-check with LLVM's assembler ------------------------------------------------

def _llvm_subset(rng: random.Random) -> Instruction:
    """A random instruction that LLVM 14's BPF assembler understands."""
    reg = lambda: rng.randrange(11)  # noqa: E731
    imm = lambda: rng.choice([0, 1, -1, rng.randrange(-(1 << 31), 1 << 31)])  # noqa: E731
    off = lambda: rng.randrange(-(1 << 15), 1 << 15)  # noqa: E731
    kind = rng.choice(["alu", "neg", "end", "ja", "jcond", "ldx", "stx", "lddw", "ld_abs",
                       "atomic", "exit"])
    if kind == "alu":
        cls = rng.choice([isa.BPF_ALU, isa.BPF_ALU64])
        # (LLVM 14's parser rejects "%=", so no mod)
        op = rng.choice([0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xA0, 0xB0, 0xC0])
        if rng.random() < 0.5:
            return Instruction(cls | op | isa.BPF_X, reg(), reg())
        return Instruction(cls | op, reg(), 0, 0, imm())
    if kind == "neg":
        return Instruction(rng.choice([0x84, 0x87]), reg())
    if kind == "end":
        return Instruction(rng.choice([0xD4, 0xDC]), reg(), imm=rng.choice([16, 32, 64]))
    if kind == "ja":
        return Instruction(isa.OPCODE_JA, off=off())
    if kind == "jcond":
        cls = rng.choice([isa.BPF_JMP, isa.BPF_JMP32])
        op = rng.choice([0x10, 0x20, 0x30, 0x50, 0x60, 0x70, 0xA0, 0xB0, 0xC0, 0xD0])  # no jset
        if rng.random() < 0.5:
            return Instruction(cls | op | isa.BPF_X, reg(), reg(), off())
        return Instruction(cls | op, reg(), 0, off(), imm())
    if kind == "ldx":
        return Instruction(isa.BPF_LDX | isa.BPF_MEM | rng.choice([0, 8, 0x10, 0x18]), reg(),
                           reg(), off())
    if kind == "stx":
        return Instruction(isa.BPF_STX | isa.BPF_MEM | rng.choice([0, 8, 0x10, 0x18]), reg(),
                           reg(), off())
    if kind == "lddw":
        return Instruction(isa.OPCODE_LDDW, reg(), 0, 0, imm(), imm())
    if kind == "ld_abs":
        return Instruction(isa.BPF_LD | isa.BPF_ABS | rng.choice([0, 8, 0x10]), imm=imm())
    if kind == "atomic":
        size = rng.choice([isa.BPF_W, isa.BPF_DW])
        return Instruction(isa.BPF_STX | isa.BPF_ATOMIC | size, reg(), reg(), off(),
                           rng.choice([0x00, 0x40, 0x50, 0xA0]))
    return Instruction(isa.OPCODE_EXIT)


@pytest.mark.skipif(shutil.which("llvm-mc") is None, reason="llvm-mc not installed")
def test_printed_text_matches_llvm_mc() -> None:
    rng = random.Random(1234)
    insns = [_llvm_subset(rng) for _ in range(1500)]
    text = disassemble(isa.encode(insns))
    proc = subprocess.run(["llvm-mc", "-triple", "bpfel", "-mattr=+alu32", "-show-encoding"],
                          input=text, capture_output=True, text=True, check=True)
    encodings = re.findall(r"encoding: \[([^\]]*)\]", proc.stdout)
    got = b"".join(bytes(int(b, 16) for b in e.split(",")) for e in encodings)
    assert got == isa.encode(insns)
