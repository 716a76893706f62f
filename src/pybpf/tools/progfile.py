"""Reading a program file (the one reader `pybpf run`, `prog`, `asm` and `verify` share):
raw bytecode, hex text (bytes or 64-bit words, comments allowed) or assembly in the
kernel's syntax or the conformance one (detected by its %r registers)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ..errors import PyBPFError

HEX_TEXT = re.compile(r"^[0-9a-fA-F\s]*$")


class ProgramFileError(PyBPFError):
    """A program file that cannot be read or holds no program."""


def strip_comments(text: str) -> str:
    """Each line up to its first `;`, `#` or `//` comment."""
    return "\n".join(re.split(r"[;#]|//", line, maxsplit=1)[0] for line in text.splitlines())


def detect_syntax(text: str) -> str:
    """The assembly syntax of `text`: conformance (`mov %r0, 1`) or kernel (`r0 = 1`)."""
    return "conformance" if "%r" in text else "kernel"


def read_program_bytes(path: str, syntax: str | None = None) -> bytes:
    """The bytecode of FILE ("-": standard input): binary as it is, hex text decoded,
    assembly assembled (`syntax`, or detected). Raises ProgramFileError (or the
    assembler's error) on what is none of them."""
    try:
        data = Path(path).read_bytes() if path != "-" else sys.stdin.buffer.read()
    except OSError as e:
        raise ProgramFileError(f"cannot read {path}: {e.strerror}") from None
    if not data.strip():
        raise ProgramFileError(f"{path} is empty: no bytecode, hex or assembly to read")
    try:
        text = data.decode("utf-8")
        is_text = all(c.isprintable() or c.isspace() for c in text)
    except UnicodeDecodeError:
        text, is_text = "", False
    if not is_text:
        if len(data) % 8:
            raise ProgramFileError(f"{path}: binary bytecode of {len(data)} bytes is not a "
                                   "multiple of 8")
        return data
    body = strip_comments(text)
    if syntax is None and body.strip() and HEX_TEXT.match(body):
        digits = "".join(body.split())
        if len(digits) % 16:
            raise ProgramFileError(f"{path}: hex bytecode of {len(digits) // 2} bytes is not "
                                   "a multiple of 8")
        return bytes.fromhex(digits)
    from ..asm import assemble
    return assemble(text, syntax=syntax or detect_syntax(text))
