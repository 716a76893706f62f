"""pybpf's architecture, read from the source (imports inside functions included, with
pybpf.tools.importgraph): the layers below as a table, no import cycle, the kernel
backend beside the VM side, the context tables free of the VM, no file over 800 lines.
ARCHITECTURE.md shows the same table; a new package gets a row here first."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pybpf.tools import importgraph as ig

SRC = ig.SRC

# The layers, bottom up: (level, name, units). A unit is a package or a top-level
# module of pybpf ("" is pybpf/__init__ itself). A unit may import units of a lower
# level and units of its own row; two rows of one level (the kernel backend and the
# VM core) may not import each other.
LAYERS: list[tuple[int, str, set[str]]] = [
    (0, "leaves", {"errors", "uapi", "uapi_structs", "cpus", "backend", "packets", "pcap",
                   "eventwait", "ringwalk"}),
    (1, "instruction set", {"isa", "helper_ids", "helper_protos"}),
    (2, "control flow", {"cfg", "check"}),
    (3, "kernel backend", {"kernel"}),
    (3, "VM core", {"asm", "vm", "helpers", "jit"}),  # jit: the VM's LLVM engine
    (4, "maps and network model", {"maps", "net"}),
    (5, "program types", {"progtypes"}),
    (6, "BTF", {"btf"}),
    (7, "spec", {"spec"}),
    # pybpf's verifier: above the context tables, map specs and BTF, below objects (which
    # verify every program on the VM); its generator and campaign are a tool
    # (tools/verifygen)
    (7, "verifier", {"verifier"}),
    (8, "front ends", {"elf", "builder", "frontend"}),
    (9, "objects", {"objects"}),
    (10, "tools", {"tools", "bench", "bench_pcap", "fuzz", "hostile", "conformance", "limits",
                   "pytest_plugin", "gen_uapi", "gen_uapi_structs"}),
    (11, "command line and API", {"cli", "__main__", "", "bcc"}),
]

# Units held to less than their level allows: exactly what they may import.
NARROW: dict[str, set[str]] = {
    "net": {"errors", "isa", "uapi"},
    "kernel": {"errors", "isa", "uapi", "uapi_structs", "helper_ids", "cpus", "eventwait",
               "ringwalk"},
    "btf": {"errors", "isa", "uapi"},
    "backend": {"errors"},
    # generated from vmlinux BTF, and the host's CPUs: beneath everything
    "uapi": set(), "uapi_structs": set(), "cpus": set(),
}

# Beside each other (module prefixes): neither side imports the other. The maps
# package holds the one Map API over both: its kernel modules are on the kernel side,
# its VM maps on the VM side, and pin/base/spec/typed are shared.
KERNEL_SIDE = ("pybpf.kernel", "pybpf.objects.kernelbackend", "pybpf.maps.kernelmap",
               "pybpf.maps.pinbyname")
VM_SIDE = ("pybpf.vm", "pybpf.jit", "pybpf.helpers", "pybpf.progtypes", "pybpf.net",
           "pybpf.conformance",
           "pybpf.objects.vmbackend", "pybpf.maps.vmbase", "pybpf.maps.vmmaps",
           "pybpf.maps.arraymap", "pybpf.maps.hashmap", "pybpf.maps.lpmtrie",
           "pybpf.maps.queuemaps", "pybpf.maps.redirect", "pybpf.maps.ringbuf",
           "pybpf.maps.fdarray", "pybpf.maps.memory", "pybpf.maps.table", "pybpf.maps.helpers")
# Shared code that asks a pybpf.backend.Backend instead of importing either side.
NEITHER_SIDE = ("pybpf.backend", "pybpf.spec", "pybpf.objects.instance",
                "pybpf.objects.output")

# The public paths kept for users that reach up, each marked `# importgraph: facade`.
FACADES = {
    # pybpf.helpers.default_helpers(): the registry sits below the maps and program
    # types whose helpers it assembles (pybpf.progtypes.helpersets)
    ("pybpf.helpers", "pybpf.progtypes.helpersets"),
    # VM(code, maps=[m, ...]): a caller's list of VM maps becomes a pybpf.maps.MapTable
    ("pybpf.vm.machine", "pybpf.maps.table"),
}

MAX_LINES = 800
GENERATED = {"uapi.py", "uapi_structs.py"}  # written by pybpf.gen_uapi from vmlinux BTF


def _unit(module: str) -> str:
    return module.split(".", 2)[1] if "." in module else ""


def _row(unit: str) -> tuple[int, str]:
    for level, name, units in LAYERS:
        if unit in units:
            return level, name
    raise AssertionError(f"pybpf.{unit} is in no row of LAYERS")


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@pytest.fixture(scope="module")
def graph() -> tuple[set[str], list[ig.Edge]]:
    return ig.read_graph(SRC)


def _where(e: ig.Edge) -> str:
    return f"{e.where(SRC)}: {e.source} -> {e.target}"


def test_every_unit_has_a_row(graph: tuple[set[str], list[ig.Edge]]) -> None:
    modules, _ = graph
    units = {_unit(m) for m in modules}
    rows = [u for _, _, us in LAYERS for u in us]
    assert len(rows) == len(set(rows)), "a unit in two rows"
    assert units == set(rows), (f"not in LAYERS: {sorted(units - set(rows))}; "
                                f"gone: {sorted(set(rows) - units)}")


def test_no_cycle_between_packages(graph: tuple[set[str], list[ig.Edge]]) -> None:
    modules, edges = graph
    used = ig.package_edges(ig.runtime_edges(edges))
    assert ig.cycles({ig.package_of(m) for m in modules}, used) == []


def test_no_cycle_between_modules(graph: tuple[set[str], list[ig.Edge]]) -> None:
    modules, edges = graph
    assert ig.cycles(modules, ig.runtime_edges(edges)) == []


def test_imports_follow_the_layers(graph: tuple[set[str], list[ig.Edge]]) -> None:
    _, edges = graph
    bad = []
    for e in ig.runtime_edges(edges):
        src, dst = _unit(e.source), _unit(e.target)
        if src == dst:
            continue
        (ls, rs), (ld, rd) = _row(src), _row(dst)
        if ld > ls or (ld == ls and rd != rs):
            bad.append(f"{_where(e)} (row {rs!r} imports row {rd!r})")
        elif src in NARROW and dst not in NARROW[src]:
            bad.append(f"{_where(e)} (pybpf.{src} may import only {sorted(NARROW[src])})")
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_the_backends_stand_beside_each_other(graph: tuple[set[str], list[ig.Edge]]) -> None:
    _, edges = graph
    bad = []
    for e in ig.runtime_edges(edges):
        if _within(e.source, KERNEL_SIDE) and _within(e.target, VM_SIDE):
            bad.append(f"{_where(e)} (the kernel side imports the VM side)")
        if _within(e.source, VM_SIDE) and _within(e.target, KERNEL_SIDE):
            bad.append(f"{_where(e)} (the VM side imports the kernel side)")
        if _within(e.source, NEITHER_SIDE) and _within(e.target, KERNEL_SIDE + VM_SIDE):
            bad.append(f"{_where(e)} (shared code imports a backend's side)")
    assert not bad, "\n".join(bad)


def test_the_facades_are_the_listed_ones(graph: tuple[set[str], list[ig.Edge]]) -> None:
    _, edges = graph
    found = {(e.source, e.target) for e in edges if e.facade and e.target.count(".") > 1}
    found = {(s, t) for s, t in found if not any(t2.startswith(t + ".") for s2, t2 in found
                                                 if s2 == s)}
    assert found == FACADES


def test_lazy_imports_are_counted(graph: tuple[set[str], list[ig.Edge]]) -> None:
    # the checks above see imports inside functions: pybpf has many, and they count
    _, edges = graph
    assert sum(e.lazy for e in ig.runtime_edges(edges)) > 100


@pytest.mark.parametrize("module", ["pybpf.progtypes.ctx", "pybpf.progtypes.contexts"])
def test_context_tables_load_no_vm_module(module: str) -> None:
    code = (f"import sys, {module}; print(' '.join(m for m in sys.modules "
            "if m.startswith('pybpf.')))")
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                            text=True).stdout.split()
    runtime = ("pybpf.vm", "pybpf.helpers", "pybpf.kernel", "pybpf.objects", "pybpf.net",
               "pybpf.maps.vmbase", "pybpf.maps.vmmaps", "pybpf.cfg", "pybpf.asm")
    assert module in loaded
    assert [m for m in loaded if _within(m, runtime)] == []


def test_no_file_over_800_lines() -> None:
    long = []
    for path in sorted(SRC.rglob("*.py")):
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_LINES and path.relative_to(SRC).as_posix() not in GENERATED:
            long.append(f"{path.relative_to(SRC)}: {n} lines")
    assert not long, "\n".join(long)


def test_the_reader(tmp_path: Path) -> None:
    """The reader on a small package: relative and absolute imports, inside functions,
    `from pkg import submodule`, TYPE_CHECKING and facade imports, and a cycle."""
    pkg = tmp_path / "p"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "a.py": "from . import b\n",
        "b.py": """
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                from .sub import c
            def f():
                from p.sub.d import x
            def g():
                from .a import y  # importgraph: facade
        """,
        "sub/__init__.py": "",
        "sub/c.py": "import p.a\n",
        "sub/d.py": "def h():\n    from .. import a\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(textwrap.dedent(text))
    modules, edges = ig.read_graph(pkg)
    assert modules == {"p", "p.a", "p.b", "p.sub", "p.sub.c", "p.sub.d"}
    got = {(e.source, e.target, e.lazy, e.type_checking, e.facade) for e in edges}
    assert ("p.a", "p.b", False, False, False) in got
    assert ("p.b", "p.sub.c", False, True, False) in got
    assert ("p.b", "p.sub.d", True, False, False) in got
    assert ("p.b", "p.sub", True, False, False) in got  # importing p.sub.d runs p.sub
    assert ("p.b", "p.a", True, False, True) in got
    assert ("p.sub.d", "p.a", True, False, False) in got
    assert ("p.sub.c", "p.a", False, False, False) in got
    run = ig.runtime_edges(edges)
    assert ig.cycles(modules, run) == [["p.a", "p.b", "p.sub.d"]]
    # between packages (two dotted parts) the cycle runs through p.sub
    units = {ig.package_of(m) for m in modules}
    assert ig.cycles(units, ig.package_edges(run)) == [["p.a", "p.b", "p.sub"]]
