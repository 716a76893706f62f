"""The entry points a campaign attacks, each with its generator (seeded random: a case
is a function of its target and seed) and its runner (what the worker calls)."""

from __future__ import annotations

import random
from typing import Callable

from . import gen_btf, gen_cli, gen_elf, gen_pcap, gen_vm
from .case import Case, Env

TARGETS = ("loader", "vm", "btf", "pcap", "cli")

GENERATORS: dict[str, Callable[[random.Random, int, Env], Case]] = {
    "loader": gen_elf.generate, "vm": gen_vm.generate, "btf": gen_btf.generate,
    "pcap": gen_pcap.generate, "cli": gen_cli.generate,
}
RUNNERS: dict[str, Callable[[Case, Env], object]] = {
    "loader": gen_elf.execute, "vm": gen_vm.execute, "btf": gen_btf.execute,
    "pcap": gen_pcap.execute, "cli": gen_cli.execute,
}


def load_plugins() -> None:
    """Add the targets of the modules named in PYBPF_HOSTILE_PLUGINS (comma-separated):
    each module's HOSTILE_TARGETS maps a name to (generate, execute). Both sides of a
    campaign load them, so a test can bring a target of its own."""
    import importlib
    import os
    for name in filter(None, os.environ.get("PYBPF_HOSTILE_PLUGINS", "").split(",")):
        module = importlib.import_module(name.strip())
        for target, (gen, run) in module.HOSTILE_TARGETS.items():
            GENERATORS[target] = gen
            RUNNERS[target] = run
