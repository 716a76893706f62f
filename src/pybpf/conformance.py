"""The bpf_conformance / uBPF test-vector format (`.data` files), the uBPF test
helpers those vectors call, and the bpf_conformance plugin protocol.

The uBPF helpers (0 gather_bytes ... 5 unwind) are NOT kernel helpers: they are
registered only in `conformance_helpers()`, which the plugin and the vector
tests use, never in the default helper table.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from .backend import get_backend
from .errors import PyBPFError
from .helpers import (HelperContext, HelperFn, HelperRegistry, ProgramExit, default_helpers,
                      read_bytes, read_cstr, write_bytes)
from .isa import M64
UBPF_MAX_INSNS = 65536  # uBPF's loader limit, used for uBPF's own vectors


KNOWN_SECTIONS = frozenset({"asm", "raw", "mem", "result", "error", "error pattern", "c",
                            "no register offset", "no jit", "reload", "unload", "description",
                            "pyelf"})


class DataFormatError(PyBPFError):
    """A `.data` file that does not follow the format."""


@dataclass
class TestVector:
    """One `.data` file: the program (asm and/or raw), input memory and expectation."""

    path: Path
    sections: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def asm(self) -> str | None:
        return self.sections.get("asm")

    @property
    def raw(self) -> bytes | None:
        text = self.sections.get("raw")
        return None if text is None else parse_raw(text)

    @property
    def mem(self) -> bytes | None:
        text = self.sections.get("mem")
        return None if text is None else parse_hex_bytes(text)

    @property
    def result(self) -> int | None:
        text = _last_line(self.sections.get("result"))
        if text is None:
            return None
        try:
            return int(text, 0) & M64
        except ValueError:
            raise DataFormatError(f"{self.path}: bad result {text!r}") from None

    @property
    def expects_error(self) -> bool:
        return "error" in self.sections or "error pattern" in self.sections

    @property
    def error(self) -> str | None:
        return _last_line(self.sections.get("error"))

    def program(self, assemble=None) -> bytes:
        """The program bytes: `raw` when present (as the conformance runner does),
        else the assembled `asm`."""
        raw = self.raw
        if raw is not None:
            return raw
        if self.asm is None:
            raise DataFormatError(f"{self.path}: no asm or raw section")
        if assemble is None:
            from .asm import assemble
        return assemble(self.asm, syntax="conformance")


def _last_line(text: str | None) -> str | None:
    if text is None:
        return None
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _strip_comment(line: str) -> str:
    i = line.find("#")
    return line if i < 0 else line[:i]


def parse_data(path: str | Path) -> TestVector:
    """Parse a `.data` file, following `@ file` includes relative to it."""
    path = Path(path)
    vec = TestVector(path)
    current: str | None = None
    lines: list[str] = []

    def close() -> None:
        if current is not None:
            if current in vec.sections:
                raise DataFormatError(f"{path}: duplicate section {current!r}")
            vec.sections[current] = "\n".join(lines)

    for raw_line in path.read_text(encoding="utf-8").splitlines():
        if raw_line.startswith("--"):
            close()
            header = raw_line[2:].strip()
            lines = []
            if "@" in header:
                name, _, inc = header.partition("@")
                current = name.strip()
                lines = (path.parent / inc.strip()).read_text(encoding="utf-8").splitlines()
                lines = [_strip_comment(ln) for ln in lines]
            else:
                current = header
            if current not in KNOWN_SECTIONS:
                raise DataFormatError(f"{path}: unknown directive {current!r}")
            continue
        if current is None:
            continue
        keep = raw_line if current in ("c", "description", "error", "error pattern") else \
            _strip_comment(raw_line)
        lines.append(keep)
    close()
    return vec


def parse_hex_bytes(text: str) -> bytes:
    """Hex byte pairs, optionally after a `xxxx:` hexdump prefix."""
    out = bytearray()
    for line in text.splitlines():
        line = _strip_comment(line)
        if re.match(r"^\s*(0x)?[0-9a-fA-F]+:", line):
            line = line.split(":", 1)[1]
        for tok in line.split():
            try:
                out += bytes.fromhex(tok)
            except ValueError:
                raise DataFormatError(f"bad hex byte {tok!r} in memory") from None
    return bytes(out)


def parse_raw(text: str) -> bytes:
    """`-- raw`: one little-endian 64-bit word per token, or (in the negative vectors)
    8 hex bytes per instruction in memory order."""
    tokens = _strip_comment(text).split() if "\n" not in text else \
        [t for ln in text.splitlines() for t in _strip_comment(ln).split()]
    if tokens and all(re.fullmatch(r"[0-9a-fA-F]{2}", t) for t in tokens) and len(tokens) % 8 == 0:
        return bytes(int(t, 16) for t in tokens)
    out = bytearray()
    for t in tokens:
        try:
            out += (int(t, 0) & M64).to_bytes(8, "little")
        except ValueError:
            raise DataFormatError(f"bad instruction word {t!r} in raw section") from None
    return bytes(out)


# --- uBPF's test helpers ------------------------------------------------------------

def _gather_bytes(ctx: HelperContext, a: int, b: int, c: int, d: int, e: int) -> int:
    return ((a & 0xFF) << 32) | ((b & 0xFF) << 24) | ((c & 0xFF) << 16) | ((d & 0xFF) << 8) \
        | (e & 0xFF)


_FROB = bytes(b ^ 42 for b in range(256))


def _memfrob(ctx: HelperContext, ptr: int, n: int, *_: int) -> int:
    data = read_bytes(ctx, ptr, n)  # checked and charged (pybpf.helpers)
    write_bytes(ctx, ptr, data.translate(_FROB))
    return 0


def _no_op(ctx: HelperContext, *_: int) -> int:
    return 0


def _sqrti(ctx: HelperContext, x: int, *_: int) -> int:
    return math.isqrt(x & 0xFFFF_FFFF)


def _cstr(ctx: HelperContext, addr: int) -> bytes:
    return read_cstr(ctx, addr, 1 << 32)  # on slices, charged, faults at the call's pc


def _strcmp_ext(ctx: HelperContext, a: int, b: int, *_: int) -> int:
    sa, sb = _cstr(ctx, a) + b"\0", _cstr(ctx, b) + b"\0"
    for x, y in zip(sa, sb):
        if x != y:
            return (x - y) & M64
    return 0


def _unwind(ctx: HelperContext, x: int, *_: int) -> int:
    if x == 0:
        raise ProgramExit(0)
    return x


UBPF_HELPERS: dict[int, tuple[str, HelperFn]] = {
    0: ("gather_bytes", _gather_bytes), 1: ("memfrob", _memfrob),
    2: ("trash_registers", _no_op), 3: ("sqrti", _sqrti),
    4: ("strcmp_ext", _strcmp_ext), 5: ("unwind", _unwind)}


def conformance_helpers() -> HelperRegistry:
    """The default helpers with uBPF's test helpers 0-5 on top (shadowing kernel IDs
    1-5, as the vectors expect). Only for the conformance vectors and plugin."""
    reg = default_helpers()
    for hid, (name, fn) in UBPF_HELPERS.items():
        reg.register(hid, fn, name)
    return reg


# --- the bpf_conformance plugin ----------------------------------------------------------

def plugin_main(argv: list[str], stdin: TextIO, stdout: TextIO, stderr: TextIO,
                backend: str = "vm", program_hex: str | None = None) -> int:
    """bpf_conformance's plugin protocol: program bytes as base16 on one stdin line (or
    `program_hex`), optional positional base16 memory; print r0 in hex, exit 0, or a
    message on stderr and exit 1."""
    try:
        text = program_hex if program_hex is not None else stdin.readline()
        code = bytes.fromhex("".join(text.split()))
        mem = bytes.fromhex("".join(argv)) if argv else None
        platform = get_backend(backend)
        r0 = platform.run_raw(code, mem, helpers=conformance_helpers()
                              if platform.caps.custom_helpers else None)
    except (PyBPFError, ValueError, OSError) as e:
        print(f"error: {e}", file=stderr)
        return 1
    print(f"{r0:x}", file=stdout)
    return 0


def run_vector_vm(vec: TestVector, *, max_insns: int | None = None) -> int:
    """Run a vector's program on the VM with the conformance helpers; returns r0."""
    from .vm import run
    return run(vec.program(), vec.mem, helpers=conformance_helpers(), max_insns=max_insns)


@dataclass(frozen=True)
class Outcome:
    """How a vector fared: `passed` when the runtime met its expectation."""

    passed: bool
    detail: str
    r0: int | None = None


def check_vector(path: str | Path, run=None) -> Outcome:
    """Parse and run one vector (on the VM unless `run(vec) -> r0` is given) and judge
    it: a `result` must match exactly, an `error` must be an error."""
    try:
        vec = parse_data(path)
        if vec.asm is None and vec.raw is None:
            raise DataFormatError(f"{path}: no program (asm or raw section)")
        r0 = (run or run_vector_vm)(vec)
    except PyBPFError as e:
        try:
            expects_error = parse_data(path).expects_error
        except PyBPFError:
            expects_error = False
        return Outcome(expects_error, f"{type(e).__name__}: {e}")
    if vec.expects_error:
        return Outcome(False, f"expected an error, got r0 = {r0:#x}", r0)
    if vec.result is None:
        return Outcome(False, f"no expected result; got r0 = {r0:#x}", r0)
    if r0 != vec.result:
        return Outcome(False, f"r0 = {r0:#x}, expected {vec.result:#x}", r0)
    return Outcome(True, f"r0 = {r0:#x}", r0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(plugin_main(sys.argv[1:], sys.stdin, sys.stdout, sys.stderr))
