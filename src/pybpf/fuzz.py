"""Differential fuzzing: random programs that the kernel's verifier accepts, run on the
VM and in the kernel, with r0 and the memory after the run compared.

Programs are drawn with hypothesis strategies, so a mismatch shrinks to a minimal
program. The calling convention is the conformance one (r1 = input memory, r2 = its
length); the kernel side runs it through `pybpf.kernel.run.RawRunner`, whose prolog
proves the memory's length to the verifier.

Register roles in generated programs: r6 = memory pointer, r7 = memory length (read
only), r9 = scratch pointer, r10 = frame pointer; r0-r5 and r8 hold scalars. Only
scalars are ever ALU operands, so every program is one the verifier can accept.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from hypothesis import strategies as st

from . import isa
from .isa import (BPF_ADD, BPF_ALU, BPF_ALU64, BPF_AND, BPF_ARSH, BPF_ATOMIC, BPF_B,
                  BPF_CMPXCHG, BPF_DIV, BPF_DW, BPF_FETCH, BPF_H, BPF_JMP, BPF_JMP32, BPF_K,
                  BPF_LDX, BPF_LSH, BPF_MEM, BPF_MEMSX, BPF_MOD, BPF_MOV, BPF_MUL, BPF_NEG,
                  BPF_OR, BPF_PSEUDO_CALL, BPF_RSH, BPF_ST, BPF_STX, BPF_SUB, BPF_W, BPF_X,
                  BPF_XCHG, BPF_XOR, COND_JUMPS, OPCODE_CALL, OPCODE_EXIT,
                  Instruction)

MAIN_SCALARS = (0, 1, 2, 3, 4, 5, 8)
SUB_SCALARS = (0, 1, 2, 3, 4, 5)
R_MEM, R_LEN, R_TMP, R_LOOP = 6, 7, 9, 8
STACK_WINDOW = 64  # bytes zeroed at each function's entry; spills stay inside
ALU_OPS = (BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND, BPF_LSH, BPF_RSH, BPF_NEG,
           BPF_MOD, BPF_XOR, BPF_MOV, BPF_ARSH)
ATOMIC_OPS = tuple(op | f for op in (BPF_ADD, BPF_OR, BPF_AND, BPF_XOR) for f in (0, BPF_FETCH)) \
    + (BPF_XCHG, BPF_CMPXCHG)
SIZES = (BPF_B, BPF_H, BPF_W, BPF_DW)
# while the counter (counting down from 1-6) is still positive
LOOP_CONDITIONS = ((isa.BPF_JNE, 0), (isa.BPF_JGT, 0), (isa.BPF_JSGT, 0), (isa.BPF_JGE, 1),
                   (isa.BPF_JSGE, 1))
SIZE_BYTES = isa.SIZE_BYTES
INTERESTING_IMM = (0, 1, -1, 2, 7, 8, 15, 16, 31, 32, 63, 64, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000,
                   0xFFFF, 0x7FFFFFFF, -0x80000000, -2, 0x12345678)
INTERESTING_U64 = (0, 1, (1 << 64) - 1, 1 << 63, (1 << 63) - 1, 1 << 32, (1 << 32) - 1,
                   0x8000_0000, 0xFFFF_FFFF_8000_0000, 0x0123_4567_89AB_CDEF)


# --- building programs with labels -------------------------------------------------------

@dataclass
class _Builder:
    """Instructions with symbolic jump targets, resolved to offsets by `build`."""

    items: list[tuple[str, Instruction | int, object]] = field(default_factory=list)
    labels: int = 0

    def label(self) -> int:
        self.labels += 1
        return self.labels

    def place(self, label: int) -> None:
        self.items.append(("label", label, None))

    def emit(self, insn: Instruction) -> None:
        self.items.append(("insn", insn, None))

    def jump(self, insn: Instruction, label: int) -> None:
        self.items.append(("jump", insn, label))

    def build(self) -> list[Instruction]:
        where: dict[object, int] = {}
        pc = 0
        for _, a, _ in self.items:
            if isinstance(a, Instruction):
                pc += a.slots
            else:  # a label
                where[a] = pc
        out: list[Instruction] = []
        pc = 0
        for kind, insn, b in self.items:
            if not isinstance(insn, Instruction):
                continue
            if kind == "jump":
                rel = where[b] - pc - 1
                if insn.opcode == OPCODE_CALL:
                    insn = Instruction(insn.opcode, insn.dst, insn.src, 0, rel)
                else:
                    insn = Instruction(insn.opcode, insn.dst, insn.src, rel, insn.imm)
            out.append(insn)
            pc += insn.slots
        return out


# --- strategies ---------------------------------------------------------------------------------

imm32 = st.one_of(st.sampled_from(INTERESTING_IMM), st.integers(-(1 << 31), (1 << 31) - 1))
imm64 = st.one_of(st.sampled_from(INTERESTING_U64), st.integers(0, (1 << 64) - 1))


def _alu(draw: st.DrawFn, scalars: tuple[int, ...], b: _Builder) -> None:
    """One ALU/ALU64 instruction of any kind, v4 included, on scalar registers."""
    dst = draw(st.sampled_from(scalars))
    kind = draw(st.sampled_from(["op", "op", "op", "endian", "movsx", "signed"]))
    is64 = draw(st.booleans())
    cls = BPF_ALU64 if is64 else BPF_ALU
    bits = 64 if is64 else 32
    if kind == "endian":
        width = draw(st.sampled_from([16, 32, 64]))
        opcode = draw(st.sampled_from([0xD4, 0xDC, 0xD7]))
        b.emit(Instruction(opcode, dst, 0, 0, width))
        return
    if kind == "movsx":
        off = draw(st.sampled_from([8, 16, 32] if is64 else [8, 16]))
        b.emit(Instruction(cls | BPF_MOV | BPF_X, dst, draw(st.sampled_from(scalars)), off, 0))
        return
    if kind == "signed":
        op = draw(st.sampled_from([BPF_DIV, BPF_MOD]))
        if draw(st.booleans()):
            b.emit(Instruction(cls | op | BPF_X, dst, draw(st.sampled_from(scalars)), 1, 0))
        else:  # the verifier rejects a constant zero divisor
            b.emit(Instruction(cls | op | BPF_K, dst, 0, 1, draw(imm32.filter(bool))))
        return
    op = draw(st.sampled_from(ALU_OPS))
    if op == BPF_NEG:
        b.emit(Instruction(cls | BPF_NEG, dst))
        return
    if draw(st.booleans()):
        b.emit(Instruction(cls | op | BPF_X, dst, draw(st.sampled_from(scalars))))
        return
    imm = draw(imm32.filter(bool) if op in (BPF_DIV, BPF_MOD) else imm32)
    if op in (BPF_LSH, BPF_RSH, BPF_ARSH):
        imm = draw(st.integers(0, bits - 1))  # the verifier rejects wider constant shifts
    b.emit(Instruction(cls | op | BPF_K, dst, 0, 0, imm))


def _slot(draw: st.DrawFn, size: int) -> int:
    """A stack offset below r10, aligned to the access size, inside the zeroed window."""
    n = SIZE_BYTES[size]
    return -n * draw(st.integers(1, STACK_WINDOW // n))


def _stack(draw: st.DrawFn, scalars: tuple[int, ...], b: _Builder) -> None:
    """A spill, fill, sign-extending fill or immediate store on the stack."""
    size = draw(st.sampled_from(SIZES))
    off = _slot(draw, size)
    reg = draw(st.sampled_from(scalars))
    what = draw(st.sampled_from(["spill", "fill", "fillsx", "store_imm", "var"]))
    if what == "var":  # r9 = r10 - window + (scalar & mask): a variable-offset access
        n = SIZE_BYTES[size]
        b.emit(Instruction(BPF_ALU64 | BPF_MOV | BPF_X, R_TMP, draw(st.sampled_from(scalars))))
        b.emit(Instruction(BPF_ALU64 | BPF_AND | BPF_K, R_TMP, 0, 0, (STACK_WINDOW - n) & -n))
        b.emit(Instruction(BPF_ALU64 | BPF_ADD | BPF_X, R_TMP, 10))
        if draw(st.booleans()):
            b.emit(Instruction(BPF_LDX | BPF_MEM | size, reg, R_TMP, -STACK_WINDOW))
        else:
            b.emit(Instruction(BPF_STX | BPF_MEM | size, R_TMP, reg, -STACK_WINDOW))
    elif what == "spill":
        b.emit(Instruction(BPF_STX | BPF_MEM | size, 10, reg, off))
    elif what == "fill":
        b.emit(Instruction(BPF_LDX | BPF_MEM | size, reg, 10, off))
    elif what == "fillsx" and size != BPF_DW:
        b.emit(Instruction(BPF_LDX | BPF_MEMSX | size, reg, 10, off))
    else:
        b.emit(Instruction(BPF_ST | BPF_MEM | size, 10, 0, off, draw(imm32)))


def _atomic(draw: st.DrawFn, scalars: tuple[int, ...], b: _Builder) -> None:
    size = draw(st.sampled_from([BPF_W, BPF_DW]))
    op = draw(st.sampled_from(ATOMIC_OPS))
    src = draw(st.sampled_from([r for r in scalars if r != 0] if op == BPF_CMPXCHG else scalars))
    b.emit(Instruction(BPF_STX | BPF_ATOMIC | size, 10, src, _slot(draw, size), op))


def _memory(draw: st.DrawFn, scalars: tuple[int, ...], mem_len: int, b: _Builder) -> None:
    """A read or write of the input memory, checked against the length at run time
    (and, through the prolog, provable to the verifier)."""
    size = draw(st.sampled_from(SIZES))
    n = SIZE_BYTES[size]
    if mem_len < n:
        return
    reg = draw(st.sampled_from(scalars))
    skip = b.label()
    off = draw(st.integers(0, mem_len - n))
    b.jump(Instruction(BPF_JMP | isa.BPF_JLT | BPF_K, R_LEN, 0, 0, off + n), skip)
    base = R_MEM
    what = draw(st.sampled_from(["load", "loadsx", "store", "store_imm"]))
    if what == "load" or (what == "loadsx" and size == BPF_DW):
        b.emit(Instruction(BPF_LDX | BPF_MEM | size, reg, base, off))
    elif what == "loadsx":
        b.emit(Instruction(BPF_LDX | BPF_MEMSX | size, reg, base, off))
    elif what == "store":
        b.emit(Instruction(BPF_STX | BPF_MEM | size, base, reg, off))
    else:
        b.emit(Instruction(BPF_ST | BPF_MEM | size, base, 0, off, draw(imm32)))
    b.place(skip)


def _simple(draw: st.DrawFn, scalars: tuple[int, ...], mem_len: int, b: _Builder) -> None:
    choice = draw(st.sampled_from(["alu", "alu", "alu", "stack", "atomic", "memory"]))
    if choice == "alu":
        _alu(draw, scalars, b)
    elif choice == "stack":
        _stack(draw, scalars, b)
    elif choice == "atomic":
        _atomic(draw, scalars, b)
    else:
        _memory(draw, scalars, mem_len, b)


def _cond_jump(draw: st.DrawFn, scalars: tuple[int, ...]) -> Instruction:
    cls = draw(st.sampled_from([BPF_JMP, BPF_JMP32]))
    op = draw(st.sampled_from(COND_JUMPS))
    dst = draw(st.sampled_from(scalars))
    if draw(st.booleans()):
        return Instruction(cls | op | BPF_X, dst, draw(st.sampled_from(scalars)))
    return Instruction(cls | op | BPF_K, dst, 0, 0, draw(imm32))


def _zero_stack(b: _Builder) -> None:
    for off in range(-8, -STACK_WINDOW - 1, -8):
        b.emit(Instruction(BPF_ST | BPF_MEM | BPF_DW, 10, 0, off, 0))


def _init(draw: st.DrawFn, reg: int, scalars: tuple[int, ...], b: _Builder) -> None:
    if draw(st.booleans()):
        b.emit(Instruction.lddw(reg, draw(imm64)))
    else:
        b.emit(Instruction(BPF_ALU64 | BPF_MOV | BPF_K, reg, 0, 0, draw(imm32)))


@st.composite
def subprogram(draw: st.DrawFn) -> list[Instruction]:
    """A BPF-to-BPF callee: uses its arguments r1-r5 and its own stack, returns r0."""
    b = _Builder()
    _zero_stack(b)
    b.emit(Instruction(BPF_ALU64 | BPF_MOV | BPF_X, 0, draw(st.sampled_from([1, 2, 3, 4, 5]))))
    for _ in range(draw(st.integers(0, 6))):
        choice = draw(st.sampled_from(["alu", "alu", "stack", "atomic"]))
        {"alu": _alu, "stack": _stack, "atomic": _atomic}[choice](draw, SUB_SCALARS, b)
    b.emit(Instruction(OPCODE_EXIT))
    return b.build()


@dataclass(frozen=True)
class FuzzCase:
    """One generated program and its input memory."""

    code: bytes
    mem: bytes

    def to_json(self) -> dict[str, str]:
        return {"code": self.code.hex(), "mem": self.mem.hex()}


@st.composite
def fuzz_cases(draw: st.DrawFn, max_segments: int = 12) -> FuzzCase:
    """A program the verifier accepts: straight-line ALU/stack/atomic/memory code,
    forward conditional jumps (64- and 32-bit, every condition), bounded loops,
    BPF-to-BPF calls and early exits, plus input memory of 14-80 bytes."""
    mem = draw(st.binary(min_size=14, max_size=80))
    b = _Builder()
    exit_label = b.label()
    subs: list[tuple[int, list[Instruction]]] = []
    b.emit(Instruction(BPF_ALU64 | BPF_MOV | BPF_X, R_MEM, 1))
    b.emit(Instruction(BPF_ALU64 | BPF_MOV | BPF_X, R_LEN, 2))
    _zero_stack(b)
    for reg in MAIN_SCALARS:
        _init(draw, reg, MAIN_SCALARS, b)
    for _ in range(draw(st.integers(1, max_segments))):
        kind = draw(st.sampled_from(["simple", "simple", "branch", "branch", "loop", "call",
                                     "early_exit"]))
        if kind == "simple":
            for _ in range(draw(st.integers(1, 4))):
                _simple(draw, MAIN_SCALARS, len(mem), b)
        elif kind == "branch":
            skip = b.label()
            b.jump(_cond_jump(draw, MAIN_SCALARS), skip)
            for _ in range(draw(st.integers(1, 3))):
                _simple(draw, MAIN_SCALARS, len(mem), b)
            b.place(skip)
        elif kind == "early_exit":
            b.jump(_cond_jump(draw, MAIN_SCALARS), exit_label)
        elif kind == "loop":
            body_regs = tuple(r for r in MAIN_SCALARS if r != R_LOOP)
            head = b.label()
            is32 = draw(st.booleans())
            b.emit(Instruction(BPF_ALU64 | BPF_MOV | BPF_K, R_LOOP, 0, 0, draw(st.integers(1, 6))))
            b.place(head)
            for _ in range(draw(st.integers(1, 4))):
                _simple(draw, body_regs, len(mem), b)
            b.emit(Instruction((BPF_ALU if is32 else BPF_ALU64) | BPF_SUB | BPF_K, R_LOOP, 0, 0, 1))
            op, bound = draw(st.sampled_from(LOOP_CONDITIONS))
            b.jump(Instruction((BPF_JMP32 if is32 else BPF_JMP) | op | BPF_K, R_LOOP, 0, 0, bound),
                   head)
        else:  # call
            if len(subs) < 3 and (not subs or draw(st.booleans())):
                label = b.label()
                subs.append((label, draw(subprogram())))
            else:
                label = subs[draw(st.integers(0, len(subs) - 1))][0]
            b.jump(Instruction(OPCODE_CALL, 0, BPF_PSEUDO_CALL), label)
            for reg in (1, 2, 3, 4, 5):  # r1-r5 are clobbered by a call
                if draw(st.booleans()):
                    b.emit(Instruction(BPF_ALU64 | BPF_MOV | BPF_X, reg,
                                       draw(st.sampled_from([0, 8]))))
                else:
                    b.emit(Instruction(BPF_ALU64 | BPF_MOV | BPF_K, reg, 0, 0, draw(imm32)))
    b.place(exit_label)
    b.emit(Instruction(OPCODE_EXIT))
    for label, body in subs:
        b.place(label)
        for insn in body:
            b.emit(insn)
    return FuzzCase(isa.encode(b.build()), mem)


# --- running both sides -----------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    """r0 and the memory after a run, or the error that ended it."""

    r0: int | None
    mem_out: bytes
    error: str | None = None


def run_vm(case: FuzzCase, engine: str | None = "interp") -> Outcome:
    """The case on the VM, on `engine` (pybpf.jit.engine: "interp", "jit", ...)."""
    from .errors import PyBPFError
    from .jit.engine import make_vm
    from .vm import Memory
    try:
        vm = make_vm(case.code, engine=engine)
        memory = Memory()
        region = memory.map("mem", bytearray(case.mem))
        memory.packet = region
        r0 = vm.execute(memory, region.base, len(case.mem)).r0
    except PyBPFError as e:
        return Outcome(None, b"", f"{type(e).__name__}: {e}")
    return Outcome(r0, bytes(region.buf))


class KernelSide:
    """Runs cases in the kernel through one RawRunner (one result map for all runs)."""

    def __init__(self) -> None:
        from .kernel.run import RawRunner
        self.runner = RawRunner()

    def run(self, case: FuzzCase) -> Outcome:
        from .kernel import KernelVerifierError
        try:
            res = self.runner.run(case.code, case.mem)
        except KernelVerifierError as e:
            return Outcome(None, b"", f"rejected: {e.reason if hasattr(e, 'reason') else e}")
        return Outcome(res.r0, res.mem_out[:len(case.mem)])

    def close(self) -> None:
        self.runner.close()


def compare(case: FuzzCase, vm: Outcome, kernel: Outcome) -> str | None:
    """None when both sides agree; else what differs."""
    if kernel.error is not None:
        return None if vm.error is not None else f"kernel {kernel.error}"
    if vm.error is not None:
        return f"VM failed: {vm.error}"
    if vm.r0 != kernel.r0:
        return f"r0: vm {vm.r0:#x} != kernel {kernel.r0:#x}"
    if vm.mem_out != kernel.mem_out:
        return f"memory: vm {vm.mem_out.hex()} != kernel {kernel.mem_out.hex()}"
    return None


# Mismatches where the kernel, not the VM, departs from RFC 9669 (and from the kernel's
# own interpreter). They are counted and kept, but do not stop a campaign.
CMPXCHG32_ZEXT = ("known kernel deviation: after a 32-bit cmpxchg that succeeds, r0 keeps its "
                  "upper 32 bits on the x86-64 JIT when the verifier drops the zero-extension "
                  "it should insert (RFC 9669: the old value is zero-extended into r0)")


SUBPROG_FP_FRAME0 = ("known kernel deviation: in a subprogram, `rX += r10` with rX a scalar "
                     "gives a pointer the 6.18 verifier files under frame 0's stack, so it "
                     "believes a store through it changed the caller's stack and removes "
                     "branches it then thinks dead (RFC 9669: r10 is the callee's frame)")


def _subprog_scalar_plus_fp(code: bytes) -> bool:
    """`rX += r10` (64-bit, register source) at or after the first BPF-to-BPF call's
    target: the pattern of SUBPROG_FP_FRAME0."""
    insns = list(isa.decode(code))
    pcs = isa.slot_offsets(insns)
    targets = [pc + i.imm + 1 for pc, i in zip(pcs, insns)
               if i.opcode == (isa.BPF_JMP | isa.BPF_CALL) and i.src == isa.BPF_PSEUDO_CALL]
    if not targets:
        return False
    first = min(targets)
    return any(pc >= first and i.opcode == (isa.BPF_ALU64 | isa.BPF_ADD | isa.BPF_X)
               and i.src == 10 and i.dst != 10 for pc, i in zip(pcs, insns))


def known_deviation(case: FuzzCase, vm: Outcome, kernel: Outcome) -> str | None:
    """The name of a known kernel deviation this mismatch matches, or None."""
    if vm.r0 is None or kernel.r0 is None:
        return None
    if _subprog_scalar_plus_fp(case.code):
        return SUBPROG_FP_FRAME0
    if vm.mem_out != kernel.mem_out:
        return None
    has_cmpxchg32 = any(i.imm == BPF_CMPXCHG and i.size == BPF_W
                        and isa.classify(i) == isa.InsnKind.ATOMIC for i in isa.decode(case.code))
    if has_cmpxchg32 and (vm.r0 ^ kernel.r0) & 0xFFFF_FFFF == 0 and vm.r0 >> 32 == 0:
        return CMPXCHG32_ZEXT
    return None


def write_reproducer(directory: Path, case: FuzzCase, vm: Outcome, kernel: Outcome,
                     detail: str, known: str | None = None) -> Path:
    """Save a mismatch as JSON (with the disassembly) for tests/regressions to replay."""
    from .asm import disassemble
    directory.mkdir(parents=True, exist_ok=True)
    import hashlib
    digest = hashlib.sha256(case.code + b"|" + case.mem).hexdigest()[:12]
    path = directory / f"diff-{digest}.json"
    record = {
        **case.to_json(),
        "kernel_r0": kernel.r0, "kernel_mem_out": kernel.mem_out.hex(),
        "kernel_error": kernel.error, "vm_r0_at_discovery": vm.r0,
        "detail": detail, "disassembly": disassemble(case.code).splitlines(),
    }
    if known:  # the VM is right: replay checks the VM's value and that the kernel still deviates
        record["known_kernel_deviation"] = known
        record["vm_r0"] = vm.r0
        record["vm_mem_out"] = vm.mem_out.hex()
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


@dataclass
class CampaignStats:
    runs: int = 0
    agreed: int = 0
    kernel_rejected: int = 0
    known_deviations: dict[str, int] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)
    rejections: dict[str, int] = field(default_factory=dict)
    opcodes: set[tuple[int, int]] = field(default_factory=set)  # (opcode, imm of atomics)
    seconds: float = 0.0

    def note(self, case: FuzzCase) -> None:
        for insn in isa.decode(case.code):
            self.opcodes.add((insn.opcode, insn.imm if isa.classify(insn) == isa.InsnKind.ATOMIC
                              else insn.off if insn.opcode & 0x07 in (BPF_ALU, BPF_ALU64) else 0))

    def summary(self, seed: int) -> str:
        lines = [f"seed {seed}: {self.runs} programs in {self.seconds:.1f} s, "
                 f"{self.agreed} agreed, {self.kernel_rejected} rejected by the kernel, "
                 f"{len(self.mismatches)} mismatches",
                 f"distinct instruction forms exercised: {len(self.opcodes)}"]
        for reason, n in sorted(self.rejections.items(), key=lambda kv: -kv[1]):
            lines.append(f"  rejected x{n}: {reason}")
        for what, n in self.known_deviations.items():
            lines.append(f"  known kernel deviation x{n}: {what}")
        lines += [f"  MISMATCH {m}" for m in self.mismatches]
        return "\n".join(lines)


def campaign(count: int, seed: int, out_dir: Path,
             progress: Callable[[CampaignStats], None] | None = None,
             max_segments: int = 12, engine: str | None = "interp") -> CampaignStats:
    """Run `count` random programs on both sides (the VM's on `engine`). A mismatch is
    shrunk by hypothesis to a minimal program and written to `out_dir`; the campaign
    then stops."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    kernel = KernelSide()
    stats = CampaignStats()
    last_failure: list[tuple[FuzzCase, Outcome, Outcome, str]] = []

    @settings(max_examples=count, database=None, deadline=None,
              phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck),
              report_multiple_bugs=False)
    @given(fuzz_cases(max_segments=max_segments))
    def check(case: FuzzCase) -> None:
        vm_out = run_vm(case, engine)
        k_out = kernel.run(case)
        detail = compare(case, vm_out, k_out)
        if detail is not None and detail.startswith("kernel rejected"):
            reason = detail.split(":", 2)[-1].strip()[:80]
            stats.rejections[reason] = stats.rejections.get(reason, 0) + 1
            stats.kernel_rejected += 1
            detail = None
        elif k_out.error is not None:
            stats.kernel_rejected += 1
        stats.runs += 1
        stats.note(case)
        known = known_deviation(case, vm_out, k_out) if detail is not None else None
        if known is not None:
            if known not in stats.known_deviations:
                write_reproducer(out_dir, case, vm_out, k_out, detail or "", known)
            stats.known_deviations[known] = stats.known_deviations.get(known, 0) + 1
            detail = None
        if detail is not None:
            last_failure[:] = [(case, vm_out, k_out, detail)]
            raise AssertionError(detail)
        stats.agreed += known is None
        if progress:
            progress(stats)

    check = hseed(seed)(check)
    start = time.monotonic()
    try:
        check()
    except AssertionError:
        case, vm_out, k_out, detail = last_failure[-1]
        path = write_reproducer(out_dir, case, vm_out, k_out, detail)
        stats.mismatches.append(f"{detail} -> {path}")
    finally:
        kernel.close()
        stats.seconds = time.monotonic() - start
    return stats


def progress_bar(total: int, stream: TextIO = sys.stderr) -> Callable[[CampaignStats], None]:
    start = time.monotonic()

    def show(stats: CampaignStats) -> None:
        if stats.runs % 50 and stats.runs != total:
            return
        frac = min(1.0, stats.runs / total) if total else 1.0
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        rate = stats.runs / max(1e-9, time.monotonic() - start)
        stream.write(f"\r[{bar}] {stats.runs}/{total} agreed {stats.agreed} "
                     f"rejected {stats.kernel_rejected} ({rate:.0f}/s)")
        stream.flush()

    return show


# --- robustness fuzzing of the ELF loader ----------------------------------------------------

INTERESTING_WORDS = (0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF)


@st.composite
def mutated_objects(draw: st.DrawFn, seeds: tuple[bytes, ...]) -> bytes:
    """A real object with a few mutations: byte and word overwrites (often in the ELF and
    section headers, where they hurt most), bit flips, truncation and splices."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        what = draw(st.sampled_from(["byte", "word", "flip", "truncate", "splice", "header"]))
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        if what == "header":  # the ELF header or the section header table
            shoff = int.from_bytes(data[0x28:0x30], "little") if len(data) >= 0x30 else 0
            region = [0, min(64, len(data))]
            if 0 < shoff < len(data):
                region = [shoff, len(data)]
            pos = draw(st.integers(region[0], max(region[0], region[1] - 1)))
            what = "word"
        if what == "byte":
            data[pos] = draw(st.integers(0, 255))
        elif what == "word":
            word = draw(st.sampled_from(INTERESTING_WORDS)).to_bytes(4, "little")
            data[pos:pos + 4] = word
        elif what == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif what == "truncate":
            del data[pos:]
        else:
            n = draw(st.integers(1, 64))
            if draw(st.booleans()):
                del data[pos:pos + n]
            else:
                data[pos:pos] = draw(st.binary(min_size=1, max_size=n))
    return bytes(data)


@dataclass
class ElfFuzzStats:
    runs: int = 0
    loaded: int = 0
    rejected: int = 0
    crashes: list[str] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)


def elf_campaign(seeds: list[bytes], count: int, seed: int,
                 progress: Callable[[int], None] | None = None) -> ElfFuzzStats:
    """Feed `count` mutated objects to the ELF loader: each must load or raise a
    PyBPFError; anything else is a crash (the first one stops the campaign, shrunk)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    from . import elf
    from .errors import PyBPFError

    stats = ElfFuzzStats()

    @hseed(seed)
    @settings(max_examples=count, database=None, deadline=None,
              phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    @given(mutated_objects(tuple(seeds)))
    def check(data: bytes) -> None:
        stats.runs += 1
        try:
            elf.load(data)
            stats.loaded += 1
        except PyBPFError as e:
            stats.rejected += 1
            reason = str(e).split(":")[0][:60]
            stats.reasons[reason] = stats.reasons.get(reason, 0) + 1
        if progress:
            progress(stats.runs)

    try:
        check()
    except Exception as e:  # noqa: BLE001 - an uncaught exception is exactly what we hunt
        stats.crashes.append(f"{type(e).__name__}: {e}")
    return stats
