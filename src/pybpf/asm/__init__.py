"""Assembler and disassembler for eBPF in two text syntaxes.

* ``"kernel"`` (the default): the style of the kernel verifier log and of
  ``llvm-objdump -d``, e.g. ``r0 = *(u8 *)(r1 +4)`` or ``if r1 > 0x5 goto +3``.
  See :mod:`pybpf.asm.kernel` for the full grammar and pybpf's extensions.
* ``"conformance"``: the mnemonic syntax of the bpf_conformance and uBPF test
  vectors, e.g. ``ldxb %r0, [%r1+4]`` or ``jgt %r1, 5, +3``.
  See :mod:`pybpf.asm.conformance`.

Both syntaxes are driven by one engine. Each syntax is a table of *forms*: a
template such as ``"{dst} += {imm}"`` plus the opcode and the fixed fields it
stands for. The assembler matches a line against the templates; the
disassembler picks the first printable form whose opcode and fixed fields fit
the instruction and fills in its template. One table therefore serves both
directions, and every valid instruction round-trips:
``assemble(disassemble(code, s), s) == code``.

Rules common to both syntaxes:

* One instruction per line. Comments run from ``;``, ``#`` or ``//`` to the end
  of the line. Blank lines are ignored.
* A label is ``name:`` at the start of a line, alone or before an instruction.
  Jump and call targets may name a label or give a relative offset ``+N``/``-N``
  (counted in 8-byte slots from the next instruction; ``lddw`` takes two).
* Numbers are decimal or ``0x`` hex, optionally negative. A 32-bit immediate
  accepts -2147483648..2147483647 in decimal and up to 0xffffffff in hex (hex
  values above 0x7fffffff wrap to negative, as the field is signed). 16-bit
  offsets accept -32768..32767. A 64-bit immediate accepts
  -2**63..2**64-1.
* A leading ``N:`` instruction number, optionally followed by the raw bytes
  ``llvm-objdump`` prints, or the ``(op)`` the verifier log prints, is skipped,
  as is a trailing ``<symbol>`` annotation on such a line.
* Text with no instruction at all is an error (an empty program).

Every syntax error raises :class:`pybpf.errors.AsmError` with the 1-based line
and column of the offending token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Mapping, Sequence

from .. import isa
from ..errors import AsmError, InvalidInstruction
from ..helper_ids import HELPER_IDS, HELPER_NAMES
from ..isa import Instruction

__all__ = [
    "SYNTAXES",
    "assemble",
    "assemble_insns",
    "disassemble",
    "disassemble_insn",
    "Form",
    "Kind",
    "PLACEHOLDERS",
    "Syntax",
    "Token",
    "tokenize",
]

SYNTAXES = ("kernel", "conformance")

_S16_MIN, _S16_MAX = -(1 << 15), (1 << 15) - 1
_S32_MIN, _S32_MAX = -(1 << 31), (1 << 31) - 1
_FIELDS = ("dst", "src", "off", "imm", "next_imm")


# --- tokens ---------------------------------------------------------------------

NUM, ID, OP, PH = "num", "id", "op", "ph"

_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>\d\w*)
  | (?P<sop>s(?:>>=|>=|<=|>|<|/=|%=))
  | (?P<id>%?[A-Za-z_.][\w.]*)
  | (?P<op><<=|>>=|[-+*/%|&^!=<>]=|[-+*/%&|^<>=()\[\],:])
  | (?P<ph>\{\w+\})
  | (?P<bad>.)
""", re.VERBOSE | re.DOTALL)
_HEX_RE = re.compile(r"0[xX][0-9a-fA-F]+")
_DEC_RE = re.compile(r"[0-9]+")
_PH_SUB_RE = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token; `col` is 1-based. Numbers carry their value and base."""

    kind: str
    text: str
    col: int
    value: int = 0
    hex: bool = False


def tokenize(text: str, line: int = 1, start: int = 0, end: int | None = None,
             *, template: bool = False) -> list[Token]:
    """Split `text[start:end]` into tokens, keeping columns relative to `text`."""
    end = len(text) if end is None else end
    out: list[Token] = []
    for m in _TOKEN_RE.finditer(text, start, end):
        kind = m.lastgroup
        if kind == "ws":
            continue
        tok = m.group()
        col = m.start() + 1
        if kind == "id":
            out.append(Token(ID, tok, col))
        elif kind == "op" or kind == "sop":
            out.append(Token(OP, tok, col))
        elif kind == "num":
            if _HEX_RE.fullmatch(tok):
                out.append(Token(NUM, tok, col, int(tok, 16), True))
            elif _DEC_RE.fullmatch(tok):
                out.append(Token(NUM, tok, col, int(tok, 10)))
            else:
                raise AsmError(line, col, f"invalid number {tok!r}", text)
        elif kind == "ph" and template:
            out.append(Token(PH, tok, col))
        else:  # "bad", or a placeholder outside a template
            raise AsmError(line, col, f"unexpected character {tok[0]!r}", text)
    return out


# --- forms ----------------------------------------------------------------------

class Kind(Enum):
    """What a template placeholder stands for (and how it is parsed and printed).
    The value is the description used in error messages."""

    REG64 = "register"
    REG32 = "32-bit register"
    IMM = "immediate"
    XIMM = "immediate (printed in hex)"
    SIMM = "'+ N' or '- N'"
    IMM64 = "64-bit immediate"
    MEMOFF = "offset"
    KOFF = "kfunc offset"
    JOFF = "jump target"
    JIMM = "32-bit jump target"
    PCIMM = "call target (pc+N, pc-N or a label)"
    HELPER = "helper name or number"


# placeholder name -> (instruction field it binds, kind)
PLACEHOLDERS: Mapping[str, tuple[str, Kind]] = MappingProxyType({
    "dst": ("dst", Kind.REG64),
    "src": ("src", Kind.REG64),
    "wdst": ("dst", Kind.REG32),
    "wsrc": ("src", Kind.REG32),
    "imm": ("imm", Kind.IMM),
    "ximm": ("imm", Kind.XIMM),
    "imm2": ("next_imm", Kind.IMM),
    "simm": ("imm", Kind.SIMM),
    "imm64": ("imm", Kind.IMM64),
    "off": ("off", Kind.MEMOFF),
    "koff": ("off", Kind.KOFF),
    "joff": ("off", Kind.JOFF),
    "jimm": ("imm", Kind.JIMM),
    "pcimm": ("imm", Kind.PCIMM),
    "helper": ("imm", Kind.HELPER),
})


def _count_operands(items: Sequence[Token]) -> int:
    """The number of comma-separated operands in `items` (brackets nest)."""
    if not items:
        return 0
    depth, count = 0, 1
    for t in items:
        if t.text in ("[", "("):
            depth += 1
        elif t.text in ("]", ")"):
            depth -= 1
        elif t.text == "," and depth == 0:
            count += 1
    return count


def _split_mnemonic(items: Sequence[Token]) -> tuple[tuple[str, ...], int]:
    """The leading literal words of a template and its number of operands."""
    n = 0
    while n < len(items) and items[n].kind == ID:
        n += 1
    return tuple(t.text for t in items[:n]), _count_operands(items[n:])


@dataclass(frozen=True)
class Form:
    """One spelling of one instruction shape.

    `template` mixes literal text with placeholders (see PLACEHOLDERS); fields that
    no placeholder binds take their value from `fixed` (0 when absent). A
    non-canonical form is an alias: accepted by the assembler, never printed.
    """

    template: str
    opcode: int
    fixed: Mapping[str, int]
    canonical: bool
    items: tuple[Token, ...]
    bound: frozenset[str]
    mnemonic: tuple[str, ...]
    operands: int
    literals: frozenset[str]

    @classmethod
    def make(cls, template: str, opcode: int, *, canonical: bool = True,
             **fixed: int) -> "Form":
        items = tuple(tokenize(template, template=True))
        bound: set[str] = set()
        for t in items:
            if t.kind == PH:
                name = t.text[1:-1]
                if name not in PLACEHOLDERS:
                    raise ValueError(f"unknown placeholder {t.text} in {template!r}")
                fld, kind = PLACEHOLDERS[name]
                bound.add(fld)
                if kind is Kind.IMM64:
                    bound.add("next_imm")
        for name in fixed:
            if name not in _FIELDS or name in bound:
                raise ValueError(f"bad fixed field {name} in {template!r}")
        mnemonic, operands = _split_mnemonic(items)
        literals = frozenset(t.text for t in items if t.kind != PH)
        return cls(template, opcode, MappingProxyType(dict(fixed)), canonical, items,
                   frozenset(bound), mnemonic, operands, literals)

    def fits(self, insn: Instruction) -> bool:
        """Whether this form can print `insn` (same opcode and fixed fields)."""
        if insn.opcode != self.opcode:
            return False
        for name in _FIELDS:
            if name not in self.bound and getattr(insn, name) != self.fixed.get(name, 0):
                return False
        return True


# --- syntaxes -------------------------------------------------------------------

@dataclass(frozen=True)
class Syntax:
    """A named table of forms plus the few spelling rules that differ per syntax."""

    name: str
    forms: tuple[Form, ...]
    reg64: str                  # register prefix for 64-bit registers: "r" / "%r"
    reg32: str                  # ... for 32-bit views: "w" / "%r"
    reg_re: re.Pattern[str]     # anything that looks like a register (prefix, number)
    pc_targets: bool            # accept "pc+N" / "pc-N" as jump targets
    implicit_exit_label: bool   # label "exit" names the first exit instruction
    mnemonic_style: bool        # leading words select the forms; operands are counted
    helper_names: bool          # print helper calls by name
    omit_zero_offset: bool      # print "[%r1]" rather than "[%r1+0]"
    by_first: Mapping[str, tuple[Form, ...]]
    by_mnemonic: Mapping[tuple[str, ...], tuple[Form, ...]]
    by_opcode: Mapping[int, tuple[Form, ...]]
    first_words: frozenset[str]
    max_words: int

    @classmethod
    def build(cls, name: str, forms: Sequence[Form], *, reg64: str, reg32: str,
              reg_re: str, pc_targets: bool, implicit_exit_label: bool,
              mnemonic_style: bool, helper_names: bool,
              omit_zero_offset: bool) -> "Syntax":
        by_first: dict[str, list[Form]] = {}
        by_mnemonic: dict[tuple[str, ...], list[Form]] = {}
        by_opcode: dict[int, list[Form]] = {}
        for f in forms:
            head = f.items[0]
            key = "<reg>" if head.kind == PH else head.text
            by_first.setdefault(key, []).append(f)
            by_mnemonic.setdefault(f.mnemonic, []).append(f)
            if f.canonical:
                by_opcode.setdefault(f.opcode, []).append(f)

        def freeze(d: dict) -> Mapping:
            return MappingProxyType({k: tuple(v) for k, v in d.items()})

        return cls(name, tuple(forms), reg64, reg32, re.compile(reg_re), pc_targets,
                   implicit_exit_label, mnemonic_style, helper_names, omit_zero_offset,
                   freeze(by_first), freeze(by_mnemonic), freeze(by_opcode),
                   frozenset(m[0] for m in by_mnemonic if m),
                   max(len(m) for m in by_mnemonic))

    # --- registers ---------------------------------------------------------------
    def register(self, tok: Token, line: int, text: str) -> tuple[str, int] | None:
        """(prefix, number) if `tok` is a register, None if it does not look like
        one; a register-like token out of r0-r10 is an AsmError."""
        if tok.kind != ID:
            return None
        m = self.reg_re.fullmatch(tok.text)
        if m is None:
            if tok.text.startswith("%"):
                raise AsmError(line, tok.col, f"invalid register {tok.text!r}", text)
            return None
        num = m.group(2)
        if (len(num) > 1 and num[0] == "0") or int(num) >= isa.MAX_BPF_REG:
            raise AsmError(line, tok.col, f"invalid register {tok.text!r} "
                                          f"(registers are {self.reg64}0-{self.reg64}10)", text)
        return m.group(1), int(num)

    def is_label_name(self, tok: Token) -> bool:
        return (tok.kind == ID and not tok.text.startswith("%")
                and self.reg_re.fullmatch(tok.text) is None)


def _syntax(name: str) -> Syntax:
    """The table for a syntax name (the modules are imported on first use)."""
    if name == "kernel":
        from .kernel import SYNTAX
        return SYNTAX
    if name == "conformance":
        from .conformance import SYNTAX
        return SYNTAX
    raise ValueError(f"unknown assembler syntax {name!r} (expected one of "
                     f"{', '.join(SYNTAXES)})")


# --- matching ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Operand:
    """A parsed placeholder: a number (with its base) or a label reference."""

    kind: Kind
    tok: Token
    text: str
    value: int = 0
    hex: bool = False
    label: str | None = None


@dataclass(frozen=True, slots=True)
class _Failure:
    """Why a form did not match: at token `pos`, `expected` (a description) or a
    specific `message`."""

    pos: int
    expected: tuple[str, ...] = ()
    message: str | None = None


def _number(toks: list[Token], i: int, *, sign: str) -> tuple[int, bool, str, int] | _Failure:
    """A number at `i`, preceded by a sign: sign="opt" (+ or - allowed),
    "neg" (only -), "req" (+ or - required). Returns value, hex, text, next index."""
    n = len(toks)
    neg = False
    text = ""
    if i < n and toks[i].kind == OP and toks[i].text in ("+", "-"):
        if toks[i].text == "+" and sign == "neg":
            return _Failure(i, ("number",))
        neg = toks[i].text == "-"
        text = toks[i].text
        i += 1
    elif sign == "req":
        return _Failure(i, ("'+' or '-'",))
    if i < n and toks[i].kind == NUM:
        t = toks[i]
        return (-t.value if neg else t.value), t.hex, text + t.text, i + 1
    return _Failure(i, ("number",))


def _parse_operand(kind: Kind, toks: list[Token], i: int, syn: Syntax, line: int,
                   text: str) -> tuple[Operand, int] | _Failure:
    n = len(toks)
    tok = toks[i] if i < n else None
    if kind is Kind.REG64 or kind is Kind.REG32:
        reg = syn.register(tok, line, text) if tok is not None else None
        want = syn.reg64 if kind is Kind.REG64 else syn.reg32
        if tok is None or reg is None or reg[0] != want:
            return _Failure(i, (f"register {want}N",))
        return Operand(kind, tok, tok.text, reg[1]), i + 1
    if kind in (Kind.JOFF, Kind.JIMM, Kind.PCIMM):
        if tok is None:
            return _Failure(i, (kind.value,))
        if tok.kind == OP and tok.text in ("+", "-") and kind is not Kind.PCIMM:
            res = _number(toks, i, sign="req")
            if isinstance(res, _Failure):
                return res
            return Operand(kind, tok, res[2], res[0], res[1]), res[3]
        if (syn.pc_targets and tok.text == "pc" and i + 1 < n
                and toks[i + 1].text in ("+", "-")):
            res = _number(toks, i + 1, sign="req")
            if isinstance(res, _Failure):
                return res
            return Operand(kind, tok, "pc" + res[2], res[0], res[1]), res[3]
        if syn.register(tok, line, text) is None and syn.is_label_name(tok):
            return Operand(kind, tok, tok.text, label=tok.text), i + 1
        return _Failure(i, ("label or +N/-N" if kind is not Kind.PCIMM else kind.value,))
    if kind is Kind.HELPER:
        if tok is not None and tok.kind == ID and syn.helper_names:
            name = tok.text[4:] if tok.text.startswith("bpf_") else tok.text
            if name in HELPER_IDS:
                return Operand(kind, tok, tok.text, HELPER_IDS[name]), i + 1
            return _Failure(i, (kind.value,))
        res = _number(toks, i, sign="neg")
        if isinstance(res, _Failure):
            return _Failure(res.pos, (kind.value,))
        assert tok is not None  # _number read it
        return Operand(kind, tok, res[2], res[0], res[1]), res[3]
    if kind is Kind.MEMOFF:
        if tok is None or tok.text not in ("+", "-"):
            return Operand(kind, tok or Token(OP, "", 0), "", 0), i  # no offset: 0
        res = _number(toks, i, sign="req")
    elif kind is Kind.SIMM:
        res = _number(toks, i, sign="req")
    else:  # IMM, XIMM, IMM64, KOFF
        res = _number(toks, i, sign="opt")
    if isinstance(res, _Failure):
        return res
    assert tok is not None  # _number read it
    return Operand(kind, tok, res[2], res[0], res[1]), res[3]


def _match(form: Form, toks: list[Token], start: int, syn: Syntax, line: int,
           text: str) -> dict[str, Operand] | _Failure:
    i = start
    n = len(toks)
    ops: dict[str, Operand] = {}
    for item in form.items:
        if item.kind != PH:
            if i < n and toks[i].text == item.text:
                i += 1
                continue
            return _Failure(i, (repr(item.text),))
        name = item.text[1:-1]
        res = _parse_operand(PLACEHOLDERS[name][1], toks, i, syn, line, text)
        if isinstance(res, _Failure):
            return res
        op, nxt = res
        prev = ops.get(name)
        if prev is not None and prev.value != op.value:
            return _Failure(i, message=f"expected {prev.text} again here (this instruction "
                                       f"uses the same register twice), got {op.text!r}")
        ops[name] = op
        i = nxt
    if i != n:
        return _Failure(i, ("end of instruction",))
    return ops


def _better(a: _Failure | None, b: _Failure) -> _Failure:
    """Keep the failure that got furthest; merge descriptions on a tie."""
    if a is None or b.pos > a.pos:
        return b
    if b.pos < a.pos:
        return a
    if a.message:
        return a
    if b.message:
        return b
    return _Failure(a.pos, tuple(sorted(set(a.expected) | set(b.expected))))


def _failure_error(f: _Failure, toks: list[Token], line: int, text: str) -> AsmError:
    if f.pos < len(toks):
        col = toks[f.pos].col
        got = repr(toks[f.pos].text)
    else:
        last = toks[-1]
        col = last.col + len(last.text)
        got = "end of line"
    if f.message:
        return AsmError(line, col, f.message, text)
    options = list(f.expected) or ["something else"]
    if len(options) > 8:
        options = options[:8] + ["..."]
    want = options[0] if len(options) == 1 else ", ".join(options[:-1]) + " or " + options[-1]
    return AsmError(line, col, f"unexpected {got}, expected {want}", text)


def _candidates(syn: Syntax, toks: list[Token], line: int,
                text: str) -> tuple[Form, ...]:
    """The forms a line could be, or an AsmError for an unknown mnemonic or a wrong
    operand count."""
    head = toks[0]
    if syn.mnemonic_style:
        words = []
        for t in toks[:syn.max_words]:
            if t.kind != ID:
                break
            words.append(t.text)
        mnemonic: tuple[str, ...] = ()
        for k in range(len(words), 0, -1):
            if tuple(words[:k]) in syn.by_mnemonic:
                mnemonic = tuple(words[:k])
                break
        if not mnemonic:
            if head.kind == ID and head.text in syn.first_words:
                nxt = sorted({m[1] for m in syn.by_mnemonic if len(m) > 1 and m[0] == head.text})
                pos = toks[1] if len(toks) > 1 else None
                col = pos.col if pos else head.col + len(head.text)
                raise AsmError(line, col, f"incomplete or unknown {head.text!r} instruction "
                                          f"(expected {', '.join(nxt)} after {head.text!r})", text)
            raise AsmError(line, head.col, f"unknown mnemonic {head.text!r}", text)
        forms = syn.by_mnemonic[mnemonic]
        count = _count_operands(toks[len(mnemonic):])
        fitting = tuple(f for f in forms if f.operands == count)
        if not fitting:
            counts = sorted({f.operands for f in forms})
            want = " or ".join(str(c) for c in counts)
            raise AsmError(line, head.col, f"invalid number of operands for "
                                           f"{' '.join(mnemonic)!r}: expected {want}, "
                                           f"got {count}", text)
        return fitting
    forms = syn.by_first.get(head.text, ())
    if syn.register(head, line, text) is not None:
        forms = syn.by_first.get("<reg>", ()) + forms
    if not forms:
        what = "instruction" if head.kind == ID else "start of an instruction"
        raise AsmError(line, head.col, f"unknown {what} {head.text!r}", text)
    return forms


def _match_line(syn: Syntax, toks: list[Token], line: int,
                text: str) -> tuple[Form, dict[str, Operand]]:
    """The first form that matches the whole line, or the AsmError of the failure
    that got furthest."""
    candidates = _candidates(syn, toks, line, text)
    present = {t.text for t in toks}
    # fast path: only forms whose literal words all occur in the line can match
    for form in candidates:
        if form.literals <= present:
            res = _match(form, toks, 0, syn, line, text)
            if not isinstance(res, _Failure):
                return form, res
    best: _Failure | None = None
    for form in candidates:
        res = _match(form, toks, 0, syn, line, text)
        assert isinstance(res, _Failure)
        best = _better(best, res)
    assert best is not None
    raise _failure_error(best, toks, line, text)


# --- lines ---------------------------------------------------------------------

_NUMBER_PREFIX_RE = re.compile(
    r"\s*\d+:\s*(?:\([0-9a-fA-F]{2}\)\s*)?(?:(?:[0-9a-fA-F]{2}[ \t]+){8}){0,2}")
_ANNOTATION_RE = re.compile(r"\s*<[^<>]*>\s*$")
_SKIP_LINE_RE = re.compile(r"\s*(?:[0-9a-fA-F]+\s+<[^<>]*>:|Disassembly of section .*:"
                           r"|\S+:\s+file format .*)\s*$")


def _code_span(text: str) -> tuple[int, int]:
    """The [start, end) of the code in a line: comments, an instruction-number
    prefix and a trailing <symbol> annotation removed."""
    end = len(text)
    for marker in (";", "#", "//"):
        k = text.find(marker, 0, end)
        if k >= 0:
            end = k
    start = 0
    m = _NUMBER_PREFIX_RE.match(text, 0, end)
    if m:
        start = m.end()
        a = _ANNOTATION_RE.search(text, start, end)
        if a:
            end = a.start()
    return start, end


@dataclass(frozen=True, slots=True)
class _Pending:
    """A matched line waiting for its labels to be resolved."""

    form: Form
    ops: dict[str, Operand]
    line: int
    text: str
    pc: int
    col: int


def _imm32(op: Operand, line: int, text: str) -> int:
    """A 32-bit immediate: decimal must fit s32, hex may go up to 0xffffffff (wraps)."""
    v = op.value
    hi = isa.M32 if op.hex else _S32_MAX
    if not _S32_MIN <= v <= hi:
        raise AsmError(line, op.tok.col, f"immediate {op.text} out of range for a 32-bit "
                                         f"field (-2147483648..2147483647, or hex up to "
                                         f"0xffffffff)", text)
    return isa.s32(v)


def _build(p: _Pending, labels: Mapping[str, tuple[int, int]]) -> Instruction:
    vals = {name: p.form.fixed.get(name, 0) for name in _FIELDS}
    line, text = p.line, p.text
    for name, op in p.ops.items():
        fld, kind = PLACEHOLDERS[name]
        if kind in (Kind.REG64, Kind.REG32):
            vals[fld] = op.value
        elif kind in (Kind.IMM, Kind.XIMM, Kind.SIMM, Kind.HELPER):
            vals[fld] = _imm32(op, line, text)
        elif kind is Kind.IMM64:
            if not -(1 << 63) <= op.value <= isa.M64:
                raise AsmError(line, op.tok.col, f"immediate {op.text} out of range for "
                                                 f"64 bits", text)
            v = op.value & isa.M64
            vals["imm"], vals["next_imm"] = isa.s32(v), isa.s32(v >> 32)
        elif kind in (Kind.MEMOFF, Kind.KOFF):
            if not _S16_MIN <= op.value <= _S16_MAX:
                raise AsmError(line, op.tok.col, f"offset {op.text} out of range for a "
                                                 f"16-bit field (-32768..32767)", text)
            vals[fld] = op.value
        else:  # jump / call targets
            wide = fld == "imm"
            lo, hi = (_S32_MIN, _S32_MAX) if wide else (_S16_MIN, _S16_MAX)
            if op.label is not None:
                if op.label not in labels:
                    raise AsmError(line, op.tok.col, f"undefined label {op.label!r}", text)
                delta = labels[op.label][0] - (p.pc + 1)
                if not lo <= delta <= hi:
                    raise AsmError(line, op.tok.col, f"jump to {op.label!r} out of range: "
                                                     f"offset {delta:+d} does not fit in "
                                                     f"{32 if wide else 16} bits", text)
            else:
                delta = op.value
                if not lo <= delta <= hi:
                    raise AsmError(line, op.tok.col, f"jump offset {op.text} out of range "
                                                     f"({lo}..{hi})", text)
            vals[fld] = delta
    insn = Instruction(p.form.opcode, vals["dst"], vals["src"], vals["off"], vals["imm"],
                       vals["next_imm"])
    try:
        isa.validate(insn, p.pc)
    except InvalidInstruction as e:  # a table bug, not user error; report it anyway
        raise AsmError(line, p.col, e.reason, text) from None
    return insn


# --- public API ------------------------------------------------------------------

def assemble_insns(text: str, syntax: str = "kernel") -> list[Instruction]:
    """Assemble `text` into instructions (labels resolved, each one validated)."""
    syn = _syntax(syntax)
    labels: dict[str, tuple[int, int]] = {}   # name -> (slot, line)
    pending: list[_Pending] = []
    pc = 0
    first_exit: int | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        if _SKIP_LINE_RE.match(raw):
            continue
        start, end = _code_span(raw)
        toks = tokenize(raw, lineno, start, end)
        while len(toks) >= 2 and toks[0].kind == ID and toks[1].text == ":":
            name = toks[0]
            if not syn.is_label_name(name):
                raise AsmError(lineno, name.col, f"invalid label name {name.text!r}", raw)
            if name.text in labels:
                raise AsmError(lineno, name.col, f"duplicate label {name.text!r} (first "
                                                 f"defined on line {labels[name.text][1]})",
                               raw)
            labels[name.text] = (pc, lineno)
            toks = toks[2:]
        if not toks:
            continue
        form, ops = _match_line(syn, toks, lineno, raw)
        pending.append(_Pending(form, ops, lineno, raw, pc, toks[0].col))
        if form.opcode == isa.OPCODE_EXIT and first_exit is None:
            first_exit = pc
        pc += 2 if form.opcode == isa.OPCODE_LDDW else 1
    if not pending:
        raise AsmError(1, 1, "empty program: no instructions")
    if syn.implicit_exit_label and "exit" not in labels and first_exit is not None:
        labels["exit"] = (first_exit, 0)
    return [_build(p, labels) for p in pending]


def assemble(text: str, syntax: str = "kernel") -> bytes:
    """Assemble `text` into bytecode. Raises AsmError (line, column) on bad text and
    ValueError for an unknown syntax name."""
    return isa.encode(assemble_insns(text, syntax))


def _format(name: str, insn: Instruction, syn: Syntax) -> str:
    """The text of placeholder `name` for `insn` (the inverse of _parse_operand)."""
    fld, kind = PLACEHOLDERS[name]
    v = getattr(insn, fld)
    if kind is Kind.REG64:
        return f"{syn.reg64}{v}"
    if kind is Kind.REG32:
        return f"{syn.reg32}{v}"
    if kind in (Kind.IMM, Kind.KOFF):
        return str(v)
    if kind is Kind.XIMM:
        return f"-{-v:#x}" if v < 0 else f"{v:#x}"
    if kind is Kind.SIMM:
        return f"- {-v}" if v < 0 else f"+ {v}"
    if kind is Kind.IMM64:
        return f"{insn.imm64:#x}"
    if kind is Kind.MEMOFF:
        return "" if v == 0 and syn.omit_zero_offset else f"{v:+d}"
    if kind in (Kind.JOFF, Kind.JIMM):
        return f"{v:+d}"
    if kind is Kind.PCIMM:
        return f"pc{v:+d}"
    # HELPER
    if syn.helper_names and v > 0:
        if v in HELPER_NAMES:
            return "bpf_" + HELPER_NAMES[v]
    return str(v)


def disassemble_insn(insn: Instruction, syntax: str = "kernel") -> str:
    """One instruction as text (no newline). Raises InvalidInstruction if it is not
    a valid instruction."""
    syn = _syntax(syntax)
    isa.validate(insn)
    for form in syn.by_opcode.get(insn.opcode, ()):
        if form.fits(insn):
            return _PH_SUB_RE.sub(lambda m: _format(m.group(1), insn, syn), form.template)
    raise InvalidInstruction(0, f"no {syn.name} syntax for opcode {insn.opcode:#04x}")


def disassemble(code: bytes, syntax: str = "kernel") -> str:
    """Bytecode as text, one instruction per line, each line newline-terminated.
    Jump targets are printed as relative offsets. Raises InvalidInstruction for
    bytecode that does not decode."""
    syn = _syntax(syntax)
    return "".join(disassemble_insn(insn, syn.name) + "\n" for insn in isa.decode(code))
