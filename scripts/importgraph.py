#!/usr/bin/env python3
"""Print the import cycles between pybpf's modules (see pybpf.tools.importgraph)."""

import sys

from pybpf.tools.importgraph import main

if __name__ == "__main__":
    sys.exit(main())
