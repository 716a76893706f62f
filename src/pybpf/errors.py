"""Exception classes, one family per layer. Every error pybpf raises on bad input
derives from PyBPFError, so callers (and the CLI) can report it without a traceback."""

from __future__ import annotations


class PyBPFError(Exception):
    """Base of every error pybpf raises for bad input or a failed operation."""


class BytecodeError(PyBPFError):
    """Bytecode that cannot be decoded or loaded; `pc` is the 8-byte slot index."""

    def __init__(self, pc: int, reason: str) -> None:
        self.pc = pc
        self.reason = reason
        super().__init__(f"{reason} at pc {pc}")


class InvalidInstruction(BytecodeError):
    """One instruction is malformed: unknown opcode, bad register, non-zero reserved field."""


class InvalidProgram(BytecodeError):
    """The instructions are well-formed but the program is not loadable (bad jump, ...)."""


class AsmError(PyBPFError):
    """Assembly text that cannot be assembled; names the line and column (1-based)."""

    def __init__(self, line: int, column: int, reason: str, text: str = "") -> None:
        self.line = line
        self.column = column
        self.reason = reason
        self.text = text
        super().__init__(f"line {line}, column {column}: {reason}")


class VMRuntimeError(PyBPFError):
    """A program failed while running on the VM interpreter."""

    def __init__(self, pc: int, reason: str) -> None:
        self.pc = pc
        self.reason = reason
        super().__init__(f"{reason} at pc {pc}")


class MemoryAccessError(VMRuntimeError):
    """A load or store outside every region, or into a read-only one."""

    def __init__(self, pc: int, kind: str, addr: int, size: int, region: str | None,
                 detail: str = "") -> None:
        self.kind = kind
        self.addr = addr
        self.size = size
        self.region = region
        where = f"region {region}" if region else "no region"
        extra = f": {detail}" if detail else ""
        super().__init__(pc, f"invalid {kind} of {size} bytes at {addr:#x} ({where}){extra}")


class InstructionLimitExceeded(VMRuntimeError):
    """The program executed more instructions than its budget allows."""


class HelperError(VMRuntimeError):
    """A helper call failed (unknown helper, or the helper rejected its arguments)."""
