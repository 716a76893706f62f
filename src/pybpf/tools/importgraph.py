"""Print the import cycles between pybpf's modules, read from the source with `ast`.

Every `import` / `from ... import` counts, at module level and inside functions; an
import inside `if TYPE_CHECKING:` is marked and left out of the cycles unless
--type-checking is given (it never runs). Importing `a.b.c` also imports the packages
`a.b` and `a` (their `__init__`), so those edges are added too. A cycle is printed as
the strongly connected component it lies in, with one shortest cycle through it and
where each edge of that cycle is written (file:line, and `in function` / `TYPE_CHECKING`).

An import inside a function whose line carries the comment `# importgraph: facade` is a
public path kept for users that has to reach up (e.g. `pybpf.helpers.default_helpers`,
which assembles helpers of the layers above the registry): it is listed on its own and
left out of the cycles, so every such exception is written where it is made.

    scripts/importgraph.py [src/pybpf] [--type-checking] [--packages] [--edges MODULE]

The one reader of pybpf's imports: tests/test_architecture.py checks the layers and the
cycles with it, and scripts/importgraph.py prints them. It imports nothing of pybpf.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path

FACADE = "# importgraph: facade"
SRC = Path(__file__).resolve().parent.parent  # the pybpf package directory


@dataclass(frozen=True)
class Edge:
    """One import of `target` written in `source` at `line`."""

    source: str
    target: str
    line: int
    lazy: bool  # inside a function (runs when called, not at import)
    type_checking: bool  # inside `if TYPE_CHECKING:` (never runs)
    facade: bool = False  # marked `# importgraph: facade` (a public path reaching up)

    def where(self, root: Path) -> str:
        how = " TYPE_CHECKING" if self.type_checking else " facade" if self.facade else \
            " in function" if self.lazy else ""
        return f"{module_file(root, self.source)}:{self.line}{how}"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def module_file(root: Path, name: str) -> str:
    rel = Path(*name.split("."))
    base = root.parent / rel
    return str(base / "__init__.py") if base.is_dir() else str(base.with_suffix(".py"))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _Imports(ast.NodeVisitor):
    """Collects (target module candidates, line, lazy, type_checking) of one file."""

    def __init__(self, name: str, is_package: bool, lines: list[str]) -> None:
        self.name = name
        self.lines = lines
        self.package = name if is_package else name.rpartition(".")[0]
        self.found: list[tuple[list[str], int, bool, bool, bool]] = []
        self._depth = 0
        self._tc = 0

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]  # same walk, ast's two node types

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self._tc += 1
            for child in node.body:
                self.visit(child)
            self._tc -= 1
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def _add(self, names: list[str], line: int) -> None:
        lazy = self._depth > 0
        facade = lazy and FACADE in self.lines[line - 1]
        self.found.append((names, line, lazy, self._tc > 0, facade))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add([alias.name], node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")
            if node.level > 1:
                base = base[:len(base) - (node.level - 1)]
            mod = ".".join(base + ([node.module] if node.module else []))
        else:
            mod = node.module or ""
        # `from pkg import name`: name may be a submodule; both are candidates
        self._add([mod] + [f"{mod}.{a.name}" for a in node.names], node.lineno)


def read_graph(root: Path) -> tuple[set[str], list[Edge]]:
    """The modules under `root` (a package directory) and the imports between them."""
    files = sorted(root.rglob("*.py"))
    modules = {module_name(root, p) for p in files}
    edges: list[Edge] = []
    for path in files:
        name = module_name(root, path)
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text, str(path))
        v = _Imports(name, path.name == "__init__.py", text.splitlines())
        v.visit(tree)
        for candidates, line, lazy, tc, facade in v.found:
            for target in candidates:
                if target not in modules:
                    continue
                # importing a.b.c runs a, a.b and a.b.c
                parts = target.split(".")
                for k in range(1, len(parts) + 1):
                    t = ".".join(parts[:k])
                    if t in modules and t != name and not name.startswith(t + "."):
                        edges.append(Edge(name, t, line, lazy, tc, facade))
    return modules, edges


def strongly_connected(nodes: set[str], succ: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, iter(sorted(succ.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(succ.get(nxt, ())))))
                elif nxt in on:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def shortest_cycle(comp: list[str], succ: dict[str, set[str]]) -> list[str]:
    """A shortest cycle through the component's first node (BFS inside it)."""
    members = set(comp)
    start = comp[0]
    prev: dict[str, str] = {}
    queue = deque([start])
    seen = {start}
    while queue:
        node = queue.popleft()
        for nxt in sorted(succ.get(node, ())):
            if nxt not in members:
                continue
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if nxt not in seen:
                seen.add(nxt)
                prev[nxt] = node
                queue.append(nxt)
    return [start]


def package_of(module: str, depth: int = 2) -> str:
    """`pybpf.maps.vmmaps` -> `pybpf.maps`; a top-level module stays itself."""
    return ".".join(module.split(".")[:depth])


def runtime_edges(edges: list[Edge]) -> list[Edge]:
    """The imports that run: all but those under TYPE_CHECKING and the marked facades."""
    return [e for e in edges if not e.type_checking and not e.facade]


def package_edges(edges: list[Edge]) -> list[Edge]:
    """`edges` between packages (`package_of` both ends), those inside one left out."""
    return [Edge(package_of(e.source), package_of(e.target), e.line, e.lazy, e.type_checking,
                 e.facade) for e in edges if package_of(e.source) != package_of(e.target)]


def cycles(nodes: set[str], edges: list[Edge]) -> list[list[str]]:
    """The strongly connected components of more than one node that `edges` make."""
    succ: dict[str, set[str]] = {}
    for e in edges:
        succ.setdefault(e.source, set()).add(e.target)
    return strongly_connected(nodes, succ)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", nargs="?", default=str(SRC))
    ap.add_argument("--type-checking", action="store_true",
                    help="count imports under `if TYPE_CHECKING:` too")
    ap.add_argument("--packages", action="store_true",
                    help="cycles between packages (pybpf.maps, pybpf.vm, ...) not modules")
    ap.add_argument("--edges", metavar="MODULE", help="list what MODULE imports and stop")
    args = ap.parse_args(argv)
    root = Path(args.root).resolve()
    modules, edges = read_graph(root)
    if args.edges:
        for e in sorted(edges, key=lambda e: (e.target, e.line)):
            if e.source == args.edges:
                print(f"{e.target:40} {e.where(root)}")
        return 0
    used = [e for e in edges if (args.type_checking or not e.type_checking) and not e.facade]
    if args.packages:
        used = package_edges(used)
        modules = {package_of(m) for m in modules}
    succ: dict[str, set[str]] = {}
    where: dict[tuple[str, str], Edge] = {}
    for e in used:
        succ.setdefault(e.source, set()).add(e.target)
        where.setdefault((e.source, e.target), e)
    comps = strongly_connected(modules, succ)
    lazy = sum(1 for e in edges if e.lazy and not e.type_checking)
    tc = sum(1 for e in edges if e.type_checking)
    unit = "packages" if args.packages else "modules"
    print(f"{len(modules)} {unit}, {len(edges)} imports ({lazy} inside functions, "
          f"{tc} under TYPE_CHECKING{', counted' if args.type_checking else ', not counted'})")
    facades = sorted({(e.source, e.line) for e in edges if e.facade})
    print(f"{len(facades)} facade import(s), not counted:")
    for src, line in facades:
        tgt = max((e.target for e in edges if e.facade and e.source == src and e.line == line),
                  key=len)
        print(f"  {src} -> {tgt}  ({module_file(root, src)}:{line})")
    print(f"{len(comps)} cycle(s)")
    for comp in comps:
        print(f"\ncycle through {len(comp)} {unit}: {', '.join(comp)}")
        cyc = shortest_cycle(comp, succ)
        for a, b in zip(cyc, cyc[1:]):
            e = where[(a, b)]
            at = f"  ({e.where(root)})" if not args.packages else \
                (" (in function)" if e.lazy else "")
            print(f"  {a} -> {b}{at}")
    return 1 if comps else 0


if __name__ == "__main__":
    sys.exit(main())
