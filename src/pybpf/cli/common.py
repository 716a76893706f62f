"""What the command groups share: reading programs and objects, choosing an object's
programs, argument types and the parser pieces. Bad input is a CLIError: one line on
stderr and exit 1."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NoReturn

from ..errors import PyBPFError
from ..tools.progfile import (HEX_TEXT, ProgramFileError, detect_syntax,  # noqa: F401
                              read_program_bytes, strip_comments)


class CLIError(PyBPFError):
    """Bad command-line input (file, arguments)."""


def read_program(path: str, syntax: str | None = None) -> bytes:
    """Bytecode from FILE: raw binary, hex text (bytes or 64-bit words), or assembly
    (pybpf.tools.progfile, the reader `pybpf verify` shares); a bad file is a CLIError."""
    try:
        return read_program_bytes(path, syntax)
    except ProgramFileError as e:
        raise CLIError(str(e)) from None


def parse_hex_arg(value: str, what: str) -> bytes:
    """HEX (spaces allowed) or @FILE holding hex or raw bytes."""
    if value.startswith("@"):
        try:
            data = Path(value[1:]).read_bytes()
        except OSError as e:
            raise CLIError(f"cannot read {value[1:]}: {e.strerror}") from None
        try:
            text = data.decode("ascii")
            if HEX_TEXT.match(strip_comments(text)):
                value = strip_comments(text)
            else:
                return data
        except UnicodeDecodeError:
            return data
    digits = "".join(value.split())
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise CLIError(f"{what} is not valid hex: {value[:40]!r}") from None


def read_text(path: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise CLIError(f"cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise CLIError(f"{path} is not UTF-8 text") from None


def read_bytes(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise CLIError(f"cannot read {path}: {e.strerror}") from None


def is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def load_object(path: str) -> Any:
    """The ObjectSpec of FILE, or a one-line error when it is not an ELF object."""
    data = read_bytes(path)
    if data[:4] != b"\x7fELF":
        what = "an empty file" if not data else f"it starts with {data[:4]!r}"
        raise CLIError(f"{path}: not an ELF object ({what}, not the ELF magic \\x7fELF)")
    from .. import load
    return load(path)


def verb(items: list[str], one: str, many: str) -> str:
    return one if len(items) == 1 else many


def choose_programs(spec: Any, program: str | None, type_name: str | None,
                     what: str = "run") -> list[str]:
    """Apply --program and --type to an object: the names of the programs to load,
    the named one (with the tail-call targets its object's prog_array slots hold) or
    every program of known type, as instantiate(programs=...) selects them
    (select_programs); --type sets the type of the chosen program, as ProgramSpec.type
    does (for SEC() names of no known type, e.g. cilium's "2/1"). Programs of unknown
    type are refused by name."""
    from ..objects.instance import select_programs, tail_call_targets
    if program is not None and program not in spec.programs:
        raise CLIError(f"no program {program!r}; {spec.path or 'the object'} has: "
                       f"{', '.join(spec.programs) or 'no programs'}")
    if type_name is not None:
        ptype = prog_type_value(type_name)
        untyped = [n for n, p in spec.programs.items() if not p.type]
        if program is not None:
            spec.programs[program].type = ptype
            # iproute2 loads every program of an object as the type its command names:
            # the tail-call targets of unknown type (cilium's "2/1") take it too
            for n in select_programs(spec, [program]):
                if not spec.programs[n].type:
                    spec.programs[n].type = ptype
        elif len(spec.programs) == 1:
            next(iter(spec.programs.values())).type = ptype
        elif untyped:  # as iproute2 does: every program of unknown type
            for n in untyped:
                spec.programs[n].type = ptype
        else:
            raise CLIError(f"--type sets the type of one program; choose it with --program "
                           f"({', '.join(spec.programs)})")
    if program is not None:
        keep = select_programs(spec, [program])
    else:
        targets = tail_call_targets(spec)
        keep = [n for n in select_programs(spec, None)
                if spec.programs[n].type or n in targets]
        for n in spec.programs:
            if n not in keep and not spec.programs[n].type:
                print(f"pybpf: note: program {n} (SEC(\"{spec.programs[n].section}\")) has "
                      f"no known program type and is not loaded; --program {n} --type TYPE "
                      f"would {what} it", file=sys.stderr)
    untyped = [n for n in keep if not spec.programs[n].type]
    if untyped or not keep:
        names = untyped or list(spec.programs)
        if not names:
            raise CLIError(f"{spec.path or 'the object'} has no programs to {what}")
        sections = ", ".join(f"{n} (SEC(\"{spec.programs[n].section}\"))" for n in names)
        raise CLIError(f"{verb(names, 'program', 'programs')} {sections} "
                       f"{verb(names, 'has', 'have')} no known program type; give it with "
                       "--program NAME --type TYPE (e.g. xdp, tc, socket_filter)")
    return keep


def caps_for_programs(spec: Any, programs: list[str]) -> list[str]:
    from ..tools.perms import caps_for
    return caps_for(spec.programs[n].type for n in programs)


def prog_type_value(name: str) -> int:
    """A program type by the kernel's name: `xdp`, `socket_filter`, `BPF_PROG_TYPE_XDP`."""
    from ..kernel import ProgType
    key = name.upper().removeprefix("BPF_PROG_TYPE_").replace("-", "_")
    aliases = {"TC": "SCHED_CLS", "CLASSIFIER": "SCHED_CLS", "ACTION": "SCHED_ACT",
               "SOCKET": "SOCKET_FILTER", "RAW_TP": "RAW_TRACEPOINT", "UPROBE": "KPROBE",
               "PERF": "PERF_EVENT"}
    key = aliases.get(key, key)
    try:
        return int(ProgType[key])
    except KeyError:
        names = ", ".join(t.name.lower() for t in ProgType if t.name != "UNSPEC")
        raise CLIError(f"unknown program type {name!r}; one of: {names}") from None


def pins(obj: Any) -> dict[str, dict[str, Any]]:
    """The maps an object pinned (by name, or in iproute2's namespaces): where, and
    whether an existing pin was reused."""
    return {name: {"path": path, "reused": bool(getattr(obj.maps[name], "reused", False))}
            for name, path in obj.pinned.items()}


def pin_lines(pins: dict[str, dict[str, Any]]) -> list[str]:
    return [f"map {name} pinned at {p['path']} "
            f"({'an existing pin, reused' if p['reused'] else 'new; the pin stays after exit'})"
            for name, p in pins.items()]


def need_hypothesis(what: str) -> None:
    """The fuzzers generate with hypothesis, an optional extra."""
    import importlib.util
    if importlib.util.find_spec("hypothesis") is None:
        raise CLIError(f"{what} needs hypothesis, which is not installed: "
                       "pip install 'pybpf[fuzz]'")


def positive(value: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return v


def positive_int(value: str) -> int:
    try:
        v = int(value, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return v


def u32_at_least_1(value: str, not_int: str, out_of_range: str) -> int:
    """An argparse value 1..2^32-1 (base prefixes allowed); the messages name it."""
    try:
        v = int(value, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{not_int}: {value!r}") from None
    if not 1 <= v <= 0xFFFF_FFFF:
        raise argparse.ArgumentTypeError(f"{out_of_range}, got {value}")
    return v


def repeat_count(value: str) -> int:
    """--repeat: BPF_PROG_TEST_RUN's repeat is a u32 of at least one run."""
    return u32_at_least_1(value, "not an integer",
                           "must be 1..4294967295 (a u32 count of runs)")


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"pybpf: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def command_group(sub: argparse._SubParsersAction, name: str,
                  help_text: str) -> argparse._SubParsersAction:
    """A command with subcommands of its own (`pybpf fuzz diff`, `pybpf prog load`)."""
    parser = sub.add_parser(name, help=help_text)
    group = parser.add_subparsers(dest="what", metavar="WHAT", parser_class=Parser)
    group.required = True
    return group


def json_option(parser: argparse.ArgumentParser, help_text: str = "machine-readable JSON "
                 "output (no progress bar)") -> None:
    parser.add_argument("-j", "--json", action="store_true", help=help_text)


SYNTAXES = ["kernel", "conformance"]  # assembly syntaxes, as pybpf.asm names them
