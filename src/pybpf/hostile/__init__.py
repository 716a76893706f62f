"""pybpf.hostile: the hostile-input harness (issue 11). Every entry point (the VM's
runs, the loader and `obj show`, BTF parsing and dumping, the capture readers and
writer, the CLI) gets seeded random hostile input in worker processes under an
address-space cap and a time limit; any exception that is not a PyBPFError, any case
past its time and any MemoryError is a failure, with a reproducer.

    result = run_campaign(1000, ["loader", "vm"], seed=1, jobs=2)

`pybpf fuzz hostile --count N` runs a campaign from the command line."""

from __future__ import annotations

from .campaign import (CASE_TIMEOUT, MEMORY_CAP, CampaignResult, Failure, TargetStats,
                       replay, run_campaign)
from .case import Case
from .targets import TARGETS

__all__ = ["run_campaign", "replay", "CampaignResult", "TargetStats", "Failure", "Case",
           "TARGETS", "MEMORY_CAP", "CASE_TIMEOUT"]
