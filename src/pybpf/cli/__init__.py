"""The `pybpf` command: a thin layer over the library, one module per command group
(see main.py for how a group registers). Bad input ends with a one-line message on
stderr and a non-zero exit, never a traceback. `pybpf.cli:main` is the entry point."""

from __future__ import annotations

from .common import CLIError, detect_syntax, parse_hex_arg, prog_type_value, read_program
from .main import COMMAND_GROUPS, build_parser, main

__all__ = ["COMMAND_GROUPS", "CLIError", "build_parser", "detect_syntax", "main",
           "parse_hex_arg", "prog_type_value", "read_program"]
