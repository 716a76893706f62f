"""The entry points a campaign attacks, each with its generator (seeded random: a case
is a function of its target and seed) and its runner (what the worker calls)."""

from __future__ import annotations

import random
from typing import Callable, TypeVar

from . import gen_btf, gen_elf, gen_pcap, gen_vm
from .case import Case, Env

TARGETS = ("loader", "vm", "btf", "pcap", "cli")

# Targets that live above the harness, by module name: the CLI's is pybpf.cli's (the CLI
# imports the harness for `pybpf fuzz hostile`, so the harness must not import the CLI).
BUILTIN_PLUGINS = ("pybpf.cli.hostile_target",)


V = TypeVar("V")


class _Targets(dict[str, V]):
    """A target table that loads the plugins on the first name it does not hold."""

    def __missing__(self, key: str) -> V:
        load_plugins()
        if key in self:
            return self[key]
        raise KeyError(key)


GENERATORS: dict[str, Callable[[random.Random, int, Env], Case]] = _Targets[
    Callable[[random.Random, int, Env], Case]]({
    "loader": gen_elf.generate, "vm": gen_vm.generate, "btf": gen_btf.generate,
    "pcap": gen_pcap.generate,
})
RUNNERS: dict[str, Callable[[Case, Env], object]] = _Targets[Callable[[Case, Env], object]]({
    "loader": gen_elf.execute, "vm": gen_vm.execute, "btf": gen_btf.execute,
    "pcap": gen_pcap.execute,
})


def load_plugins() -> None:
    """Add the targets of BUILTIN_PLUGINS and of the modules named in
    PYBPF_HOSTILE_PLUGINS (comma-separated): each module's HOSTILE_TARGETS maps a name to
    (generate, execute). Both sides of a campaign load them, so a test can bring a
    target of its own."""
    import importlib
    import os
    extra = os.environ.get("PYBPF_HOSTILE_PLUGINS", "").split(",")
    for name in filter(None, (*BUILTIN_PLUGINS, *extra)):
        module = importlib.import_module(name.strip())
        for target, (gen, run) in module.HOSTILE_TARGETS.items():
            GENERATORS[target] = gen
            RUNNERS[target] = run
