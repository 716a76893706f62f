"""The `pybpf` parser and entry point. Each command group is a module of this package
with a `register(sub)` that adds its commands (and their `fn`); COMMAND_GROUPS lists
them in the order `pybpf --help` shows them. A new group (e.g. `verify`, calling
pybpf.tools.verify) is a new module here and one more entry in COMMAND_GROUPS.
main() runs one command and turns errors into one line on stderr and an exit code,
never a traceback."""

from __future__ import annotations

import argparse
import os
import sys
from types import ModuleType
from typing import Callable, Sequence

from ..backend import get_backend
from ..errors import PyBPFError
from . import (asm, attach, bench, build, cgroup, features, fuzz, jit, maps, net, obj, prog,
               run, trace, verify)
from .common import Parser

# the command groups, in the order of `pybpf --help`
COMMAND_GROUPS: tuple[ModuleType, ...] = (asm, build, run, verify, fuzz, obj, features, net,
                                          prog, bench, trace, maps, cgroup, attach, jit)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("pybpf")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


class _VersionAction(argparse.Action):
    """--version, reading the installed version only when asked (importlib.metadata
    is a large share of the command line's start-up)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"pybpf {_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The whole `pybpf` command line: every group's commands under one parser."""
    p = Parser(prog="pybpf", description="The eBPF platform in Python.")
    p.add_argument("--version", action=_VersionAction, nargs=0,
                   help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for group in COMMAND_GROUPS:
        group.register(sub)
    return p


def _error_text(err: PyBPFError, args: argparse.Namespace) -> str:
    """The one-line message; an EPERM on the kernel path says which capabilities the
    command needs and which sysctl governs bpf(2) without them (not the bpf(2) call
    that happened to come first, such as a hidden .rodata map's creation)."""
    from ..tools.perms import is_permission_error, permission_message
    backend = getattr(args, "backend", None) or "kernel"  # commands without one: kernel
    if get_backend(backend).caps.host_bpf and is_permission_error(err):
        need = getattr(args, "need_caps", None) or ["CAP_BPF"]
        what = " ".join(str(w) for w in (args.command, getattr(args, "what", None),
                                         getattr(args, "file", None)) if w)
        return permission_message(f"the kernel refused pybpf {what}", need)
    return str(err)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    prepare: Callable[[argparse.Namespace], None] | None = getattr(args, "prepare", None)
    if prepare is not None:  # defaults that depend on other options (top's --backend)
        prepare(args)
    fn: Callable[[argparse.Namespace], int] = args.fn
    try:
        return fn(args)
    except PyBPFError as e:
        print(f"pybpf: error: {_error_text(e, args)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pybpf: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as e:  # a file or device the command was pointed at
        where = f" {e.filename}" if e.filename else ""
        print(f"pybpf: error:{where} {e.strerror or e}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - a pybpf bug: one line, not a traceback
        if os.environ.get("PYBPF_DEBUG"):
            raise
        print(f"pybpf: internal error: {type(e).__name__}: {e} (a bug in pybpf; "
              "PYBPF_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 70
