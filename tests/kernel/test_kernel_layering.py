"""The kernel backend stands beside the VM: read from the source (imports inside
functions included), pybpf.kernel imports nothing of the VM side, and the VM side
imports nothing of pybpf.kernel."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pybpf

SRC = Path(pybpf.__file__).parent

# What pybpf.kernel may import from the rest of pybpf: the layers beneath both backends.
KERNEL_MAY_IMPORT = ("pybpf.kernel", "pybpf.errors", "pybpf.isa", "pybpf.uapi",
                     "pybpf.uapi_structs", "pybpf.helper_ids", "pybpf.cpus")
# The VM side (packages or modules); maps' kernel bridge (kernelmap, pin) is the
# objects layer's meeting point and is left out.
VM_SIDE = ("vm", "helpers", "progtypes", "net", "maps")
VM_SIDE_BRIDGES = {"maps/kernelmap.py", "maps/pin.py"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in a file, at any depth; `from . import
    x` gives both the package and package.x, so a submodule import is seen."""
    tree = ast.parse(path.read_text(), str(path))
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((node.lineno, mod))
            out += [(node.lineno, f"{mod}.{a.name}") for a in node.names if a.name != "*"]
    return out


def _pybpf_imports(path: Path) -> list[tuple[int, str]]:
    return [(n, m) for n, m in imports_of(path) if m == "pybpf" or m.startswith("pybpf.")]


def _is_module(name: str) -> bool:
    """Whether a dotted name is a pybpf module or package (not a name inside one)."""
    rel = Path(*name.split(".")[1:])
    return (SRC / rel).with_suffix(".py").exists() or (SRC / rel / "__init__.py").exists()


def _within(name: str, roots: tuple[str, ...]) -> bool:
    return any(name == r or name.startswith(r + ".") for r in roots)


def test_kernel_imports_nothing_of_the_vm_side() -> None:
    bad = []
    for path in sorted((SRC / "kernel").rglob("*.py")):
        for line, mod in _pybpf_imports(path):
            if _is_module(mod) and not _within(mod, KERNEL_MAY_IMPORT):
                bad.append(f"{path.relative_to(SRC)}:{line}: {mod}")
    assert not bad, "pybpf.kernel reaches past its layer:\n" + "\n".join(bad)


def test_vm_side_imports_nothing_of_the_kernel() -> None:
    bad = []
    for root in VM_SIDE:
        paths = [SRC / f"{root}.py"] if (SRC / f"{root}.py").exists() else \
            sorted((SRC / root).rglob("*.py")) if (SRC / root).is_dir() else []
        for path in paths:
            if str(path.relative_to(SRC)) in VM_SIDE_BRIDGES:
                continue
            for line, mod in _pybpf_imports(path):
                if _within(mod, ("pybpf.kernel",)):
                    bad.append(f"{path.relative_to(SRC)}:{line}: {mod}")
    assert not bad, "the VM side imports the kernel backend:\n" + "\n".join(bad)


@pytest.mark.parametrize("leaf", ["uapi", "uapi_structs", "cpus"])
def test_generated_and_host_modules_are_leaves(leaf: str) -> None:
    """uapi, uapi_structs and cpus sit beneath everything: they import no pybpf module
    (gen_uapi, the tool that writes them, is not one of them)."""
    assert _pybpf_imports(SRC / f"{leaf}.py") == []


def test_the_scanner_sees_imports_inside_functions() -> None:
    mod = SRC / "kernel" / "maps.py"
    found = {m for _, m in imports_of(mod)}
    assert "pybpf.cpus.possible_cpus" in found and "pybpf.kernel.objects.fd_kind" in found
