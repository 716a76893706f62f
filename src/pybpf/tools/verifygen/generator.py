"""The generator: deterministic cases for the verifier, drawn so that the kernel refuses
about half of them. Case i of seed S depends on S, i, the capability modes and the
object files present only (each case has its own random stream), so any case of a
campaign can be made again alone."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from ...errors import InvalidInstruction
from ...isa import validate
from .case import ALL_CAPS, Case
from .mutations import MUTATIONS
from .objects import object_files, object_seeds
from .seeds import TEMPLATES, Seed, template_seed

UNPRIVILEGED_CAPS: frozenset[str] = frozenset({"bpf", "net_admin"})
DEFAULT_CAPS_MODES: tuple[frozenset[str], ...] = (ALL_CAPS, UNPRIVILEGED_CAPS)


@dataclass(frozen=True)
class Mix:
    """How cases are drawn: the share of unmutated template programs, of unmutated
    object programs, of mutations that start from an object program, and of mutants
    mutated twice."""

    seeds: float = 0.14
    objects: float = 0.06
    mutate_objects: float = 0.2
    second_mutation: float = 0.1
    # mutations start from object programs of at most this many instructions (the
    # largest take the kernel a second to verify, and pybpf longer)
    max_mutated_object: int | None = 600


def moved_func_info(insns: Sequence, func_info: tuple[tuple[int, int], ...]
                    ) -> tuple[tuple[int, int], ...]:
    """The func_info of a program after an edit: the functions start where the local
    calls and function references now point, in the same order (unchanged when the
    count of functions changed, which the kernel then refuses, as it should)."""
    if not func_info:
        return func_info
    from ...isa import BPF_PSEUDO_CALL, InsnKind, classify, jump_target, slot_offsets
    starts = {0}
    for insn, pc in zip(insns, slot_offsets(insns)):
        k = classify(insn)
        if (k == InsnKind.CALL and insn.src == BPF_PSEUDO_CALL) or \
                (k == InsnKind.LDDW and insn.src == 4):
            t = jump_target(insn, pc)
            if t is not None:
                starts.add(t)
    if len(starts) != len(func_info):
        return func_info
    return tuple((pc, tid) for pc, (_, tid) in zip(sorted(starts), func_info))


def _valid(insns: Sequence) -> bool:
    try:
        for i in insns:
            validate(i)
            i.encode()
    except (InvalidInstruction, OverflowError, ValueError, Exception):  # noqa: BLE001
        return False
    return bool(insns)


class Generator:
    """Makes case i of a campaign (see the module docstring). `objects`: the object
    files whose programs are seeds too (default: object_files()); `mix` the shares."""

    def __init__(self, seed: int = 0,
                 caps_modes: Sequence[frozenset[str]] = DEFAULT_CAPS_MODES, *,
                 objects: "Sequence[str | Path] | None" = None, mix: Mix = Mix()) -> None:
        if not caps_modes:
            raise ValueError("at least one capability mode is needed")
        self.seed = seed
        self.caps_modes = tuple(frozenset(c) for c in caps_modes)
        self.mix = mix
        self._object_paths = objects
        self._objects: list[Seed] | None = None
        self.skipped: list[str] = []

    @property
    def object_seeds(self) -> list[Seed]:
        if self._objects is None:
            paths = object_files() if self._object_paths is None else \
                object_files(self._object_paths)
            self._objects = object_seeds(paths, self.skipped)
        return self._objects

    def _base(self, rng: random.Random, caps: frozenset[str], from_object: bool,
              max_insns: int | None = None) -> Seed:
        objs = self.object_seeds
        if max_insns is not None:
            objs = [s for s in objs if len(s.insns) <= max_insns]
        if from_object and objs:
            return rng.choice(objs)
        return template_seed(rng.choice(sorted(TEMPLATES)), rng, caps)

    def case(self, index: int) -> Case:
        """Case `index` (deterministic)."""
        rng = random.Random(f"pybpf-verifier-gen/{self.seed}/{index}")
        caps = self.caps_modes[index % len(self.caps_modes)]
        r = rng.random()
        if r < self.mix.seeds + self.mix.objects:
            s = self._base(rng, caps, r >= self.mix.seeds)
            return Case(s.insns, s.prog_type, s.maps, s.expected_attach_type, caps, s.origin,
                        None, s.license, s.btf, s.func_info)
        base = self._base(rng, caps, rng.random() < self.mix.mutate_objects,
                          self.mix.max_mutated_object)
        names = sorted(MUTATIONS)
        applied: list[str] = []
        seed, license = base, base.license
        rounds = 2 if rng.random() < self.mix.second_mutation else 1
        for _ in range(rounds):
            for _attempt in range(12):
                name = rng.choice(names)
                m = MUTATIONS[name](seed, rng)
                if m is None or not _valid(m.insns):
                    continue
                applied.append(name)
                license = m.license or license
                # a second mutation finds its place by the instructions (tags moved)
                seed = Seed(seed.name, m.insns, seed.prog_type, seed.maps,
                            seed.expected_attach_type, {}, seed.origin, license, seed.btf,
                            moved_func_info(m.insns, seed.func_info))
                break
        return Case(seed.insns, seed.prog_type, seed.maps, seed.expected_attach_type, caps,
                    base.origin, "+".join(applied) or None, license, seed.btf,
                    seed.func_info)

    def cases(self, count: int, start: int = 0) -> Iterator[Case]:
        for i in range(start, start + count):
            yield self.case(i)


def generate(count: int, seed: int = 0,
             caps_modes: Sequence[frozenset[str]] = DEFAULT_CAPS_MODES, *,
             objects: "Sequence[str | Path] | None" = None) -> list[Case]:
    """`count` cases of seed `seed`, cycling through `caps_modes`."""
    return list(Generator(seed, caps_modes, objects=objects).cases(count))
