"""Replay reproducers a campaign wrote: `python -m pybpf.hostile.replay FILE.json ...`
runs each case again in this process and prints its outcome."""

from __future__ import annotations

import sys
from pathlib import Path

from .campaign import replay


def main(argv: list[str]) -> int:
    failed = 0
    for name in argv:
        outcome, detail = replay(Path(name))
        failed += outcome not in ("ok", "error")
        print(f"{name}: {outcome}{': ' + detail if detail else ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
