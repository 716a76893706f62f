"""The host's CPUs as the kernel counts them: possible CPUs (the size of a per-CPU map
value) and online CPUs (where perf events open). Read by both backends, so it imports
nothing of pybpf."""

from __future__ import annotations

import functools
import os


def _cpu_list(path: str) -> list[int] | None:
    """The CPU numbers of a sysfs CPU list ("0-3,8"), None if it cannot be read."""
    try:
        with open(path, encoding="ascii") as f:
            text = f.read().strip()
    except OSError:
        return None
    cpus: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


@functools.lru_cache(maxsize=1)
def possible_cpus() -> int:
    """The number of possible CPUs (/sys/devices/system/cpu/possible), as the kernel
    sizes per-CPU map values."""
    cpus = _cpu_list("/sys/devices/system/cpu/possible")
    return len(cpus) if cpus is not None else os.cpu_count() or 1


def online_cpus() -> list[int]:
    """The online CPUs (/sys/devices/system/cpu/online), e.g. [0, 1]."""
    cpus = _cpu_list("/sys/devices/system/cpu/online")
    return cpus if cpus is not None else list(range(os.cpu_count() or 1))
