"""Compile-time benchmark: `python -m pybpf.frontend.python.bench [FILE.py] [-n 20]`
compiles a program n times and prints the median, min and max in milliseconds (the
default program is examples/python/tp_syscalls.py, 99 lines, when run from a
checkout)."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from .compiler import compile_file

DEFAULT = Path(__file__).resolve().parents[4] / "examples" / "python" / "tp_syscalls.py"


def measure(path: Path, runs: int = 20) -> list[float]:
    """Seconds per compile_file(path), `runs` times (the first includes LLVM's start)."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        compile_file(path)
        times.append(time.perf_counter() - t)
    return times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", default=str(DEFAULT))
    ap.add_argument("-n", "--runs", type=int, default=20)
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    path = Path(args.file)
    lines = len(path.read_text().splitlines())
    ms = [t * 1000 for t in measure(path, args.runs)]
    print(f"{path.name} ({lines} lines): median {statistics.median(ms):.1f} ms, "
          f"min {min(ms):.1f} ms, max {max(ms):.1f} ms over {args.runs} compiles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
