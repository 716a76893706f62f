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
