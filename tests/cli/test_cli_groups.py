"""The cli package: one module per command group, each registering its own commands."""

from __future__ import annotations

import argparse
import json

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
    assert list(top.choices) == ["asm", "disasm", "compile", "cc", "run", "conformance-plugin",
                                 "verify", "fuzz", "obj", "btf", "features", "net", "link",
                                 "prog", "bench", "top", "trace", "map", "cgroup", "attach",
                                 "jit"]


def test_compile_and_cc_run_through_the_command_line(tmp_path, capsys) -> None:
    """`pybpf compile` writes an object that pybpf's loader reads; a source outside the
    subset is one error line and exit 1."""
    from pybpf.cli import main
    from pybpf.elf import load
    src = tmp_path / "prog.py"
    src.write_text("from pybpf.frontend.python import XDP_PASS, XdpMd, xdp\n\n"
                   "@xdp\ndef ok(ctx: XdpMd) -> int:\n    return XDP_PASS\n")
    out = tmp_path / "prog.o"
    assert main(["compile", str(src), "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["output"] == str(out) and report["programs"] == ["ok"]
    assert "ok" in load(out.read_bytes()).programs
    bad = tmp_path / "bad.py"
    bad.write_text("from pybpf.frontend.python import XdpMd, xdp\n\n"
                   "@xdp\ndef bad(ctx: XdpMd) -> int:\n    return [1][0]\n")
    assert main(["compile", str(bad), "-o", str(tmp_path / "bad.o")]) == 1
    assert "bad.py:5" in capsys.readouterr().err
