"""The network model's place in the layers, read from the source (imports inside
functions included): pybpf.net knows neither maps nor program types nor the VM, maps
reach the network model through pybpf.net and never through progtypes, and the context
tables of progtypes import no run-time module. Also: no module of these packages grows
past ~800 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pybpf

SRC = Path(pybpf.__file__).parent
MAX_LINES = 800


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every pybpf module `path` imports, at any depth of the code, made absolute."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("pybpf"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.startswith("pybpf"):
                out.add(mod)
                # `from . import x` names a submodule
                out.update(f"{mod}.{a.name}" for a in node.names
                           if (SRC.parent / Path(*f"{mod}.{a.name}".split("."))).with_suffix(
                               ".py").exists())
    return out


def _files(*rel: str) -> list[Path]:
    out: list[Path] = []
    for r in rel:
        p = SRC / r
        out += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    return out


def _under(mod: str, *prefixes: str) -> bool:
    return any(mod == p or mod.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("path", _files("net"), ids=lambda p: p.name)
def test_net_imports_only_below_it(path: Path) -> None:
    bad = [m for m in _imports(path)
           if not _under(m, "pybpf.net", "pybpf.errors", "pybpf.isa", "pybpf.uapi")]
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", _files("maps"), ids=lambda p: p.name)
def test_maps_never_import_progtypes(path: Path) -> None:
    bad = [m for m in _imports(path) if _under(m, "pybpf.progtypes")]
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", _files("progtypes/ctx.py", "progtypes/errors.py",
                                        "progtypes/contexts"), ids=lambda p: p.name)
def test_context_tables_import_no_runtime(path: Path) -> None:
    allowed = ("pybpf.errors", "pybpf.isa", "pybpf.uapi", "pybpf.progtypes.ctx",
               "pybpf.progtypes.errors", "pybpf.progtypes.contexts")
    bad = [m for m in _imports(path) if not _under(m, *allowed)]
    assert not bad, f"{path.name} imports {bad}"


def test_the_checker_sees_imports_inside_functions() -> None:
    # the reader itself: a function-level relative import is found and made absolute
    imports = _imports(SRC / "maps" / "redirect.py")
    assert "pybpf.net.netns" in imports and "pybpf.maps.vmbase" in imports


@pytest.mark.parametrize("path", _files("net", "maps", "progtypes"),
                         ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_over_800_lines(path: Path) -> None:
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(SRC)} has {n} lines"
