"""`pybpf verify FILE`: pybpf's verifier on every program of an object (or on raw
bytecode / assembly with --type), with the kernel's verdict and log, hints, a
counterexample, --compare-kernel and --dot. The logic is pybpf.tools.verify; this
module only registers the command (`pybpf fuzz verify` and `pybpf bench verify` are
in their groups)."""

from __future__ import annotations

import argparse

from ..tools import verify as tools_verify


def cmd_verify(args: argparse.Namespace) -> int:
    return tools_verify.run_verify(args)


def register(sub: argparse._SubParsersAction) -> None:
    """The verify command."""
    p = sub.add_parser("verify", help="prove programs safe as the kernel's verifier does: "
                                      "verdict, log, hint, counterexample (exit 0 accepted, "
                                      "1 refused, 2 bad input)")
    tools_verify.add_verify_arguments(p)
    p.set_defaults(fn=cmd_verify)
