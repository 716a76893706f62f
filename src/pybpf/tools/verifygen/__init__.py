"""The verifier's test generator and campaign: cases of many program types (templates,
real object programs and named mutations of them, about half refused by the kernel),
the kernel as oracle (pybpf.kernel.verdict), and the comparison with pybpf's verifier."""

from __future__ import annotations

from .campaign import CampaignReport, Outcome, Tally, check_case, run_campaign
from .case import (
                   ALL_CAPS,
                   Case,
                   CaseFormatError,
                   SavedCase,
                   caps_name,
                   load_case,
                   save_case,
)
from .generator import DEFAULT_CAPS_MODES, UNPRIVILEGED_CAPS, Generator, Mix, generate
from .mutations import MUTATIONS
from .objects import object_files, object_seeds, program_case
from .seeds import TEMPLATES, Seed, template_seed

__all__ = ["ALL_CAPS", "CampaignReport", "Case", "CaseFormatError", "DEFAULT_CAPS_MODES",
           "Generator", "MUTATIONS", "Mix", "Outcome", "SavedCase", "Seed", "TEMPLATES",
           "Tally", "UNPRIVILEGED_CAPS", "caps_name", "check_case", "generate", "load_case",
           "object_files", "object_seeds", "program_case", "run_campaign", "save_case",
           "template_seed"]
