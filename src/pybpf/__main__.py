"""`python -m pybpf`: the pybpf command."""

import sys

from .cli import main

sys.exit(main())
