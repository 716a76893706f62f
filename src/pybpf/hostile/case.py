"""One hostile input: which entry point it is for, the seed it was drawn from, and the
input itself (bytes plus JSON metadata), so that a failure can be written out and
replayed exactly."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Case:
    """A generated input. `data` is the main payload (an object, a BTF blob, a capture,
    bytecode); `meta` what else the entry point is called with (JSON-able)."""

    target: str
    seed: int
    kind: str
    data: bytes = b""
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "seed": self.seed, "kind": self.kind,
                "data": self.data.hex(), "meta": self.meta}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Case":
        return cls(d["target"], int(d["seed"]), d["kind"], bytes.fromhex(d["data"]),
                   dict(d["meta"]))


@dataclass(frozen=True)
class Env:
    """What generators draw from: real objects to mutate, a real capture, and a scratch
    directory the CLI's file options point into."""

    objects: tuple[bytes, ...]
    object_names: tuple[str, ...]
    capture: bytes
    scratch: Path


def source_root() -> Path | None:
    """The source tree pybpf runs from (for examples/ and the test objects), if any."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / "examples").is_dir() else None


def make_env(scratch: Path) -> Env:
    """The seed objects (examples/*.o and the test objects from a source tree, else the
    objects installed with pybpf) and the example capture."""
    paths: list[Path] = []
    root = source_root()
    if root is not None:
        paths += sorted((root / "examples").glob("*.o"))
        paths += sorted((root / "tests").rglob("*.o"))
    paths += sorted((Path(__file__).resolve().parents[1] / "tools" / "data").glob("*.o"))
    seen: dict[bytes, str] = {}
    for p in paths:
        try:
            data = p.read_bytes()
        except OSError:
            continue
        if data[:4] == b"\x7fELF" and len(data) < (1 << 20):
            seen.setdefault(data, str(p.relative_to(root) if root and p.is_relative_to(root)
                                      else p.name))
    capture = b""
    if root is not None and (root / "examples" / "traffic.pcap").is_file():
        capture = (root / "examples" / "traffic.pcap").read_bytes()
    scratch.mkdir(parents=True, exist_ok=True)
    return Env(tuple(seen), tuple(seen.values()), capture, scratch)


def case_rng(target: str, seed: int) -> random.Random:
    """The generator for one case: a function of the target and the case's seed only."""
    return random.Random(f"{target}:{seed}")


def write_reproducer(directory: Path, case: Case, outcome: str, detail: str) -> Path:
    """Save a failing case as JSON (and its payload as a file of its own) for replay with
    pybpf.hostile.replay."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{case.target}-{case.kind}-{case.seed}"
    ext = {"loader": ".o", "pcap": ".pcap", "btf": ".btf", "vm": ".bin"}.get(case.target, ".bin")
    if case.data:
        (directory / (stem + ext)).write_bytes(case.data)
    path = directory / (stem + ".json")
    path.write_text(json.dumps({**case.to_json(), "outcome": outcome, "detail": detail},
                               indent=1) + "\n")
    return path
