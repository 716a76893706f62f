"""The cli package: one module per command group, each registering its own commands."""

from __future__ import annotations

import argparse

from pybpf.cli import COMMAND_GROUPS, build_parser


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
            ) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [(path, parser)]
    out = []
    for name, sub in subs[0].choices.items():
        if sub not in [p for _, p in out]:
            out += _leaves(sub, path + (name,))
    return out


def test_every_command_runs_a_function_of_the_group_that_registered_it() -> None:
    for group in COMMAND_GROUPS:
        parser = argparse.ArgumentParser()
        group.register(parser.add_subparsers())
        leaves = _leaves(parser)
        assert leaves, f"{group.__name__} registers no command"
        for path, leaf in leaves:
            fn = leaf.get_default("fn")
            assert callable(fn) and fn.__module__ == group.__name__, (path, fn)


def test_the_groups_make_the_whole_command_line_in_help_order() -> None:
    top = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)][0]
    assert list(top.choices) == ["asm", "disasm", "run", "conformance-plugin", "verify", "fuzz", "obj",
                                 "btf", "features", "net", "link", "prog", "bench", "top",
                                 "trace"]
