"""The conformance (bpf_conformance / uBPF) syntax, checked against the vectors in
../shared/conformance: exact bytes where a file has both asm and raw, every asm
section assembles and round-trips, and the negative assembler vectors fail."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pybpf import isa
from pybpf.asm import assemble, assemble_insns, disassemble
from pybpf.errors import AsmError
from pybpf.isa import Instruction

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
needs_vectors = pytest.mark.skipif(not VECTORS.exists(), reason=f"no vectors at {VECTORS}")


def sections(path: Path) -> dict[str, str]:
    """The sections of a .data file; `asm @ file` includes are read in."""
    out: dict[str, str] = {}
    name = None
    for line in path.read_text().splitlines():
        if line.startswith("--"):
            name = line[2:].strip()
            if name.startswith("asm @"):
                out["asm"] = (path.parent / name.split("@", 1)[1].strip()).read_text()
                name = None
            else:
                out.setdefault(name, "")
            continue
        if name is not None:
            out[name] += line + "\n"
    return out


def raw_words(text: str) -> bytes:
    words = [t for line in text.splitlines() for t in line.split("#")[0].split()]
    return b"".join(struct.pack("<Q", int(w, 0)) for w in words)


def data_files(*patterns: str) -> list[Path]:
    if not VECTORS.exists():
        return []
    return sorted(p for pat in patterns for p in VECTORS.glob(pat))


ALL = [p for p in data_files("bpf_conformance/*.data", "ubpf/**/*.data")
       if "asm" in sections(p)]
WITH_RAW = [p for p in ALL if "raw" in sections(p)]
# uBPF vectors whose program must be rejected because of a bad register
BAD_REGISTER = {"err-invalid-reg-dst.data", "err-invalid-reg-src.data"}


def test_vectors_were_found() -> None:
    if not VECTORS.exists():
        pytest.skip(f"no vectors at {VECTORS}")
    assert len(ALL) > 300 and len(WITH_RAW) == 7


@needs_vectors
@pytest.mark.parametrize("path", WITH_RAW, ids=lambda p: p.name)
def test_asm_assembles_to_raw(path: Path) -> None:
    s = sections(path)
    assert assemble(s["asm"], syntax="conformance") == raw_words(s["raw"])


@needs_vectors
@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(VECTORS)))
def test_every_asm_section(path: Path) -> None:
    text = sections(path)["asm"]
    if path.name in BAD_REGISTER:
        with pytest.raises(AsmError, match="invalid register '%r11'"):
            assemble(text, syntax="conformance")
        return
    code = assemble(text, syntax="conformance")
    for syntax in ("conformance", "kernel"):
        assert assemble(disassemble(code, syntax), syntax) == code


NEGATIVE = {
    "invalid_imm32_dec_range.data": (2, 12, "out of range"),
    "invalid_imm32_hex_range.data": (2, 12, "out of range"),
    "invalid_label.data": (1, 4, "undefined label 'NOT_A_LABEL'"),
    "invalid_lock.data": (1, 1, "number of operands for 'lock or'"),
    "invalid_lock2.data": (1, 5, "'lock'"),
    "invalid_mnemonic.data": (2, 1, "unknown mnemonic 'ldxq'"),
    "invalid_offset.data": (1, 11, "expected '\\['"),
    "invalid_offset_range.data": (2, 15, "out of range"),
    "invalid_operand_count.data": (1, 1, "number of operands for 'lddw'"),
    "invalid_register.data": (1, 9, "invalid register '%r50'"),
    "empty.data": (1, 1, "empty program"),
    "empty_instructions.data": (1, 1, "empty program"),
}


@needs_vectors
@pytest.mark.parametrize("name", sorted(NEGATIVE))
def test_negative_assembler_vectors(name: str) -> None:
    line, col, reason = NEGATIVE[name]
    text = sections(VECTORS / "bpf_conformance" / "negative" / name).get("asm", "")
    with pytest.raises(AsmError, match=reason) as info:
        assemble(text, syntax="conformance")
    assert (info.value.line, info.value.column) == (line, col)


@needs_vectors
def test_negative_error_vector_is_not_an_assembler_error() -> None:
    """negative/error.data (`or %r0, %r10`) is a runner self-test: the program is
    well formed (bpf_conformance's own assembler accepts it) and the file expects an
    error the runtime will not give. It must assemble."""
    text = sections(VECTORS / "bpf_conformance" / "negative" / "error.data")["asm"]
    assert assemble(text, syntax="conformance") == bytes.fromhex(
        "4fa0000000000000" "9500000000000000")


@needs_vectors
@pytest.mark.parametrize("path", data_files("bpf_conformance/negative/unused-*.data"),
                         ids=lambda p: p.name)
def test_reserved_fields_do_not_disassemble(path: Path) -> None:
    """The unused-* vectors set a reserved field; such bytes have no text form."""
    hexbytes = "".join(sections(path)["raw"].split("#")[0].split())
    with pytest.raises(isa.InvalidInstruction):
        disassemble(bytes.fromhex(hexbytes), syntax="conformance")


# --- the syntax itself ---------------------------------------------------------------

KNOWN = [
    ("mov %r0, 1", "b7 00 0000 01000000"),
    ("mov32 %r0, -10", "b4 00 0000 f6ffffff"),
    ("add32 %r9, -1", "04 09 0000 ffffffff"),
    ("neg %r1", "87 01 0000 00000000"),
    ("neg32 %r1", "84 01 0000 00000000"),
    ("sdiv %r0, %r1", "3f 10 0100 00000000"),
    ("smod32 %r0, 3", "94 00 0100 03000000"),
    ("movsx832 %r0, %r1", "bc 10 0800 00000000"),
    ("movsx1632 %r0, %r1", "bc 10 1000 00000000"),
    ("movsx864 %r0, %r1", "bf 10 0800 00000000"),
    ("movsx1664 %r0, %r1", "bf 10 1000 00000000"),
    ("movsx3264 %r0, %r1", "bf 10 2000 00000000"),
    ("le16 %r1", "d4 01 0000 10000000"),
    ("be64 %r1", "dc 01 0000 40000000"),
    ("bswap32 %r1", "d7 01 0000 20000000"),
    ("ldxw %r0, [%r1+4]", "61 10 0400 00000000"),
    ("ldxsh %r0, [%r10-2]", "89 a0 feff 00000000"),
    ("ldxdw %r1, [%r2]", "79 21 0000 00000000"),
    ("stb [%r10-1], 128", "72 0a ffff 80000000"),
    ("stxdw [%r10-8], %r1", "7b 1a f8ff 00000000"),
    ("lock add [%r10-8], %r1", "db 1a f8ff 00000000"),
    ("lock add32 [%r10-4], %r1", "c3 1a fcff 00000000"),
    ("lock fetch xor [%r10-8], %r1", "db 1a f8ff a1000000"),
    ("lock xchg32 [%r10-8], %r1", "c3 1a f8ff e1000000"),
    ("lock cmpxchg [%r10-8], %r1", "db 1a f8ff f1000000"),
    ("ja +1", "05 00 0100 00000000"),
    ("ja32 +100000", "06 00 0000 a0860100"),
    ("jeq %r1, 51, +1", "15 01 0100 33000000"),
    ("jsgt32 %r1, %r2, -1", "6e 21 ffff 00000000"),
    ("call 1", "85 00 0000 01000000"),
    ("call local +3", "85 10 0000 03000000"),
    ("call runtime 1234", "85 20 0000 d2040000"),
    ("call %r2", "8d 02 0000 00000000"),
    ("exit", "95 00 0000 00000000"),
    ("lddw %r0, 0x1122334455667788", "18 00 0000 88776655 00 00 0000 44332211"),
    # pybpf extensions
    ("lddw %r1, map_fd 5", "18 11 0000 05000000 00 00 0000 00000000"),
    ("lddw %r1, map_value 5, 8", "18 21 0000 05000000 00 00 0000 08000000"),
    ("lddw %r1, btf_id 1234", "18 31 0000 d2040000 00 00 0000 00000000"),
    ("lddw %r1, func +3", "18 41 0000 03000000 00 00 0000 00000000"),
    ("lddw %r1, map_idx 0", "18 51 0000 00000000 00 00 0000 00000000"),
    ("lddw %r1, map_idx_value 0, 8", "18 61 0000 00000000 00 00 0000 08000000"),
    ("call runtime 1234, 2", "85 20 0200 d2040000"),
    ("may_goto +3", "e5 00 0300 00000000"),
    ("ldacqb %r0, [%r1]", "d3 10 0000 00010000"),
    ("ldacqdw %r0, [%r1+8]", "db 10 0800 00010000"),
    ("strelh [%r1-2], %r2", "cb 21 feff 10010000"),
    ("strelw [%r1], %r2", "c3 21 0000 10010000"),
    ("ldabsb 12", "30 00 0000 0c000000"),
    ("ldabsw -4", "20 00 0000 fcffffff"),
    ("ldindh %r3, 12", "48 30 0000 0c000000"),
]


@pytest.mark.parametrize("text,hexcode", KNOWN)
def test_known_encodings(text: str, hexcode: str) -> None:
    code = bytes.fromhex(hexcode.replace(" ", ""))
    assert assemble(text, syntax="conformance") == code
    assert disassemble(code, syntax="conformance") == text + "\n"


ALIASES = [
    ("add64 %r1, 2", "add %r1, 2"),
    ("mov64 %r1, %r2", "mov %r1, %r2"),
    ("neg64 %r1", "neg %r1"),
    ("sdiv64 %r1, 3", "sdiv %r1, 3"),
    ("swap16 %r0", "bswap16 %r0"),
    ("swap64 %r0", "bswap64 %r0"),
    ("call helper 5", "call 5"),
    ("call 0x1", "call 1"),
    ("callx %r3", "call %r3"),
    ("ldxb %r0, [%r1+0]", "ldxb %r0, [%r1]"),
    ("ldxb %r0, [ %r1 + 0x10 ]", "ldxb %r0, [%r1+16]"),
    ("add32 %r9, 0xffffffff", "add32 %r9, -1"),
    ("jeq %r1, 0x80000000, +1", "jeq %r1, -2147483648, +1"),
    ("lddw %r0, -1", "lddw %r0, 0xffffffffffffffff"),
    ("lddw %r1, 0xFFFFFFFF80000000", "lddw %r1, 0xffffffff80000000"),
    ("call runtime 7, 0", "call runtime 7"),
]


@pytest.mark.parametrize("text,printed", ALIASES)
def test_accepted_spellings(text: str, printed: str) -> None:
    code = assemble(text, syntax="conformance")
    assert disassemble(code, syntax="conformance") == printed + "\n"


def test_labels_and_implicit_exit() -> None:
    text = """
        mov %r0, 0          # comment
        jeq %r1, 0, exit
    loop:
        add %r0, 1
        jlt32 %r0, 10, loop
        lddw %r2, func sub
        call local sub
        ja exit
        mov %r0, 7
        exit
    sub:
        mov %r0, 1
        exit
    """
    insns = assemble_insns(text, "conformance")
    assert insns[1].off == 7            # first exit is slot 9
    assert insns[3].off == -2
    assert insns[4].imm == 5            # lddw at slot 4 (like a jump: from slot 5) to 10
    assert insns[5] == Instruction(isa.OPCODE_CALL, 0, 1, 0, 3)
    assert insns[6].off == 1


def test_explicit_exit_label_wins() -> None:
    insns = assemble_insns("ja exit\nexit\nexit:\nexit", "conformance")
    assert insns[0].off == 1


def test_duplicate_and_undefined_labels() -> None:
    with pytest.raises(AsmError, match="duplicate label 'a'") as info:
        assemble("a:\nexit\n  a:\nexit", "conformance")
    assert (info.value.line, info.value.column) == (3, 3)
    with pytest.raises(AsmError, match="undefined label 'b'") as info:
        assemble("exit\njne %r1, 2, b", "conformance")
    assert (info.value.line, info.value.column) == (2, 13)
