"""The compiler's errors: each names file:line:col and says what to write instead."""

from __future__ import annotations

import ast

from ...errors import PyBPFError


class CompileError(PyBPFError):
    """A construct outside the restricted-Python subset, a type error, or a program the
    compiler cannot lower; `file`, `line` and `col` (1-based) point at the Python."""

    def __init__(self, message: str, file: str = "<source>", line: int = 0, col: int = 0,
                 hint: str = "") -> None:
        self.message, self.file, self.line, self.col, self.hint = message, file, line, col, hint
        where = f"{file}:{line}:{col}: " if line else f"{file}: "
        super().__init__(where + message + (f" ({hint})" if hint else ""))


def error_at(node: ast.AST | None, file: str, message: str, hint: str = "") -> CompileError:
    """A CompileError at `node`'s position (columns 1-based, as editors count)."""
    line = getattr(node, "lineno", 0) or 0
    col = (getattr(node, "col_offset", 0) or 0) + 1 if line else 0
    return CompileError(message, file, line, col, hint)
