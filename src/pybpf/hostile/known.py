"""Failures the harness finds that belong to fixes made elsewhere (issue 11, items 4,
6, 8 and 9, on the loader2 branch). A campaign counts and reports them apart from the
new failures and does not fail on them; `strict` (pybpf fuzz hostile --strict) counts
them as failures again, for when those fixes are in."""

from __future__ import annotations

from .case import Case
from .gen_elf import sections

SHF_COMPRESSED = 0x800

ITEMS = {
    4: "item 4: compressed ELF sections (SHF_COMPRESSED) decompressed without a limit",
    6: "item 6: a symbol value past its section gives struct.error at instantiate",
    8: "item 8: malformed pcap/pcapng blocks, captures not streamed, write_pcap past 2106",
    9: "item 9: run --mem over 3072 bytes on --backend kernel",
}


def _has_compressed(data: bytes) -> bool:
    return any(h[2] & SHF_COMPRESSED for _, h in sections(data))


def known_item(case: Case, outcome: str, detail: str) -> int | None:
    """The issue-11 item a failure belongs to, or None for a new failure."""
    if outcome in ("ok", "error"):
        return None
    data = case.data
    target = case.target
    argv = case.meta.get("argv", []) if target == "cli" else []
    uses_object = target == "loader" or (target == "cli" and "mut.o" in argv)
    if uses_object and "struct.error" in detail and \
            any(w in detail for w in ("patch_program", "instantiate", "encode")):
        return 6
    if uses_object and _has_compressed(data):
        return 4
    if target == "pcap" or (target == "cli" and any(a.endswith(".pcap") for a in argv)):
        if outcome in ("time", "memory") or "pcap.py" in detail:
            return 8
    if target == "cli" and "--mem" in argv and "kernel" in argv and \
            detail.startswith("ValueError"):
        return 9
    return None

