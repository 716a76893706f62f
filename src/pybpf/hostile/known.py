"""Failures the harness may find that belong to fixes being made elsewhere: each entry
names its issue item and recognises its failures, and a campaign counts and reports
them apart from new failures without failing on them; `strict` (pybpf fuzz hostile
--strict) counts them as failures again. None is open: the entries for issue 11's items
4, 6, 8 and 9 came out when their fixes were merged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .case import Case


@dataclass(frozen=True)
class KnownFailure:
    """Failures of `item` (an issue item fixed elsewhere): `matches(case, outcome,
    detail)` recognises one."""

    item: int
    description: str
    matches: Callable[[Case, str, str], bool]


KNOWN: tuple[KnownFailure, ...] = ()
ITEMS = {k.item: k.description for k in KNOWN}


def known_item(case: Case, outcome: str, detail: str) -> int | None:
    """The item a failure belongs to, or None for a new failure."""
    if outcome in ("ok", "error"):
        return None
    return next((k.item for k in KNOWN if k.matches(case, outcome, detail)), None)
