"""`python -m pybpf.cli`: the pybpf command, as `python -m pybpf` and the entry point."""

import sys

from .main import main

sys.exit(main())
