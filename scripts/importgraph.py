#!/usr/bin/env python3
"""Print the import cycles between pybpf's modules (see pybpf.tools.importgraph)."""

import sys
from pathlib import Path

# runs from a checkout without installing pybpf (the reader needs only the standard library)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from pybpf.tools.importgraph import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
