"""A target for testing the harness itself (loaded through PYBPF_HOSTILE_PLUGINS): by
its seed, a case is fine, a pybpf error, a non-pybpf exception, a MemoryError, a hang,
the worker's death, or 1.2 CPU seconds of work (past the test's limit, then an answer)."""

from __future__ import annotations

import os
import random
import time

from pybpf.errors import PyBPFError
from pybpf.hostile.case import Case, Env

BEHAVIOURS = ("ok", "error", "exception", "memory", "hang", "die", "burn")


def generate(rng: random.Random, seed: int, env: Env) -> Case:
    return Case("selftest", seed, BEHAVIOURS[seed % len(BEHAVIOURS)])


def execute(case: Case, env: Env) -> None:
    if case.kind == "error":
        raise PyBPFError("a clear error")
    if case.kind == "exception":
        raise KeyError("a bug")
    if case.kind == "memory":
        bytearray(3 << 30)  # past the 2 GiB cap
    if case.kind == "hang":
        time.sleep(3600)
    if case.kind == "die":
        os._exit(9)
    if case.kind == "burn":
        end = time.process_time() + 1.2
        while time.process_time() < end:
            pass


HOSTILE_TARGETS = {"selftest": (generate, execute)}
