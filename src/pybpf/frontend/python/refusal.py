"""A verifier refusal told in Python terms: the instruction the kernel's log stopped at,
mapped through the program's BTF line info to the Python file, line and column."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ...errors import PyBPFError

if TYPE_CHECKING:
    from ...objects.spec import LineInfo, ObjectSpec

_INSN = re.compile(r"^(\d+): \(", re.MULTILINE)
_PROG = re.compile(r"program (\S+) \(")


class ProgramRefused(PyBPFError):
    """The kernel verifier refused a compiled program; `file`, `line`, `col` and
    `source` are the Python statement of the instruction it stopped at."""

    def __init__(self, message: str, file: str, line: int, col: int, source: str,
                 log: str) -> None:
        super().__init__(message)
        self.file, self.line, self.col, self.source, self.log = file, line, col, source, log


def refusal_site(spec: ObjectSpec, error: BaseException) -> tuple[str, LineInfo] | None:
    """(program name, the LineInfo of the refused instruction) for a verifier error
    raised instantiating `spec`, or None when the log names no instruction."""
    log = getattr(error, "log", "") or ""
    pcs = [int(m.group(1)) for m in _INSN.finditer(log)]
    m = _PROG.search(str(error))
    if not pcs or m is None or m.group(1) not in spec.programs:
        return None
    prog = spec.programs[m.group(1)]
    best: LineInfo | None = None
    for li in prog.line_info:
        if li.pc <= pcs[-1] and (best is None or li.pc >= best.pc):
            best = li
    return (prog.name, best) if best is not None else None


def explain(spec: ObjectSpec, error: BaseException) -> ProgramRefused | None:
    """A ProgramRefused for `error`, or None when it cannot be placed."""
    site = refusal_site(spec, error)
    if site is None:
        return None
    name, li = site
    log = getattr(error, "log", "") or ""
    reason = next((ln for ln in reversed(log.strip().splitlines())
                   if ln.strip() and not ln.startswith(("processed", "verification time",
                                                        "stack depth"))
                   and not _INSN.match(ln)), "refused")
    col = li.column or 1
    msg = (f"{li.file}:{li.line_num}:{col}: the kernel verifier refused program {name} "
           f"at `{li.line.strip()}`: {reason.strip()}")
    return ProgramRefused(msg, li.file, li.line_num, col, li.line, log)
