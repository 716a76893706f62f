"""The verifier's refusal as an exception inside the engine (the public verdict is
VerifierResult / VerifierError): one module below the engine and its halves."""

from __future__ import annotations


class Refusal(Exception):
    """The verifier's refusal: `lines` are the error lines (the first is the error)."""

    def __init__(self, *lines: str, pc: int | None = None) -> None:
        super().__init__(lines[0])
        self.lines = lines
        self.pc = pc


class Unsupported(Refusal):
    """Something pybpf's verifier does not model yet (refused, saying so)."""
