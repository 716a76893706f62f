"""The verifier's test generator: program edits keep jumps, cases are deterministic and
valid bytecode, every mutation applies somewhere, case files round-trip."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pybpf.asm import assemble_insns
from pybpf.isa import Instruction, decode, encode, validate
from pybpf.tools.verifygen import (
    ALL_CAPS,
    MUTATIONS,
    TEMPLATES,
    Case,
    CaseFormatError,
    Generator,
    load_case,
    save_case,
    template_seed,
)
from pybpf.tools.verifygen.edit import insert, nop_at, splice, targets
from pybpf.tools.verifygen.seeds import assemble_tagged

PROG = """
r0 = 0
loop:
r0 += 1
r1 = map_fd(0)
if r0 < 5 goto loop
call sub
exit
sub:
r0 = 1
exit
"""


def _jump_map(insns: list[Instruction]) -> dict[int, int]:
    return {i: t for i, t in enumerate(targets(insns)) if t is not None}


def test_insert_keeps_every_jump_on_its_instruction() -> None:
    p = assemble_insns(PROG)
    q = insert(p, 1, assemble_insns("r3 = 7\nr4 = 8"))
    # the loop's back-edge now lands on the inserted code (jumps_into_new), the call
    # still reaches `sub` (shifted by 2)
    assert _jump_map(q) == {5: 1, 6: 8}
    r = insert(p, 1, assemble_insns("r3 = 7"), jumps_into_new=False)
    assert _jump_map(r) == {4: 2, 5: 7}
    assert encode(r)  # still valid bytecode


def test_nop_keeps_lengths_and_deleting_moves_targets() -> None:
    p = assemble_insns(PROG)
    q = nop_at(p, 2)  # lddw: two slots become two `goto +0`
    assert sum(i.slots for i in q) == sum(i.slots for i in p)
    assert _jump_map(q)[4] == 1
    d = splice(p, 1, 1, [])  # delete the loop head: the back-edge lands on what follows
    assert _jump_map(d)[2] == 1


@given(st.integers(0, 6), st.integers(0, 3))
def test_insertions_anywhere_keep_targets(at: int, n: int) -> None:
    p = assemble_insns(PROG)
    q = insert(p, at, [Instruction(0xB7, 5, 0, 0, k) for k in range(n)],
               jumps_into_new=False)
    before = {i: t for i, t in enumerate(targets(p)) if t is not None}
    moved = {(i + n if i >= at else i): (t + n if t >= at else t) for i, t in before.items()}
    assert _jump_map(q) == moved
    decode(encode(q))


def test_tags_name_their_instructions() -> None:
    insns, tags = assemble_tagged("r1 = 0  ; @a\nl: r2 = 1\nif r1 > r2 goto l  ; @b @c\nexit")
    assert len(insns) == 4
    assert tags == {"a": (0,), "b": (2,), "c": (2,)}


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_assembles_for_several_draws(name: str) -> None:
    for i in range(20):
        s = template_seed(name, random.Random(i))
        assert s.insns and all(validate(x) is None for x in s.insns)
        for tag, where in s.tags.items():
            assert all(0 <= j < len(s.insns) for j in where), tag


def test_generator_is_deterministic_and_index_addressed() -> None:
    a = Generator(5, objects=[]).cases(60)
    b = Generator(5, objects=[])
    listed = list(a)
    assert [b.case(i) for i in (59, 3, 17)] == [listed[59], listed[3], listed[17]]
    assert listed == list(Generator(5, objects=[]).cases(60))
    assert listed != list(Generator(6, objects=[]).cases(60))


def test_generated_cases_are_valid_bytecode_of_many_kinds() -> None:
    g = Generator(1, objects=[])
    cases = list(g.cases(400))
    kinds = {c.kind.split("+")[0] for c in cases}
    types = {c.prog_type for c in cases}
    assert len(types) >= 8
    assert {"seed"} | set(MUTATIONS) - {"object"} <= kinds | {"seed"}
    for c in cases:
        assert decode(c.code) == list(c.insns)
    # caps modes alternate
    assert {c.caps for c in cases[::2]} == {ALL_CAPS}
    assert {c.caps for c in cases[1::2]} == {frozenset({"bpf", "net_admin"})}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_every_mutation_applies_to_some_template(name: str) -> None:
    rng = random.Random(name)
    made = 0
    for t in sorted(TEMPLATES):
        for i in range(4):
            m = MUTATIONS[name](template_seed(t, random.Random(i)), rng)
            if m is not None:
                made += 1
                decode(encode(m.insns))
    assert made, f"{name} never applies"


def test_object_programs_are_seeds() -> None:
    g = Generator(0)
    origins = {s.origin for s in g.object_seeds}
    assert any(o.startswith("object:examples/") for o in origins)
    assert any("xdp_lb" in o for o in origins)


def test_case_file_round_trip(tmp_path) -> None:
    c = next(c for c in Generator(3, objects=[]).cases(50) if c.maps)
    p = save_case(tmp_path / "c.json", c, kernel={"accepted": False, "error": "x"},
                  pybpf={"accepted": True, "error": None, "pc": None})
    saved = load_case(p)
    assert saved.case == c
    assert saved.kernel["error"] == "x" and saved.pybpf["accepted"] is True
    d = json.loads(p.read_text())
    assert d["prog_type"] == c.type_name and d["asm"]


def test_case_file_keeps_map_btf_types(tmp_path) -> None:
    """A map's BTF key and value types (a value with a lock) survive the case file, so
    a saved case replays with the same map as the campaign's."""
    from pathlib import Path
    obj = Path(__file__).resolve().parents[2] / "verifier" / "data" / "spinlock.o"
    g = Generator(1, objects=[obj])
    s = next(s for s in g.object_seeds if any(m.value_type for m in s.maps))
    c = Case(s.insns, s.prog_type, s.maps, s.expected_attach_type, origin=s.origin,
             btf=s.btf, func_info=s.func_info)
    saved = load_case(save_case(tmp_path / "c.json", c))
    assert saved.case == c
    assert [m.value_type for m in saved.case.maps] == [m.value_type for m in c.maps]


@pytest.mark.parametrize("text", ["", "[]", "{}", '{"format": "pybpf-verifier-case/1"}',
                                  ('{"format": "pybpf-verifier-case/1", "code": "zz", '
                                  '"prog_type": "xdp"}'),
                                  ('{"format": "pybpf-verifier-case/1", "code": "00", '
                                  '"prog_type": "nope"}')])
def test_bad_case_files_are_clear_errors(tmp_path, text: str) -> None:
    p = tmp_path / "bad.json"
    p.write_text(text)
    with pytest.raises(CaseFormatError):
        load_case(p)


def test_with_caps_and_kind() -> None:
    c = Case(tuple(assemble_insns("r0 = 0\nexit")), 6, origin="seed:x")
    assert c.kind == "seed" and c.with_caps(frozenset({"bpf"})).caps == {"bpf"}
    assert Case(c.insns, 6, origin="object:a.o:p").kind == "object"


def test_object_cases_do_not_depend_on_where_the_checkout_lives(tmp_path, monkeypatch) -> None:
    """The same objects under checkouts at different paths (before and after the
    system objects' directory in sorting order) are drawn in the same order with the
    same origins, so a seed names the same cases in any checkout."""
    import shutil
    from pathlib import Path

    from pybpf.tools.verifygen import objects

    examples = Path(__file__).resolve().parents[3] / "examples"
    system = tmp_path / "m" / "bpf"
    system.mkdir(parents=True)
    shutil.copy(examples / "xdp_lb.o", system / "xdp_lb_system.o")
    monkeypatch.setattr(objects, "SYSTEM_OBJECTS", str(system / "*.o"))
    drawn = []
    for prefix in ("a", "z"):
        root = tmp_path / prefix / "checkout"
        (root / "examples").mkdir(parents=True)
        for name in ("xdp_firewall.o", "tc_classifier.o"):
            shutil.copy(examples / name, root / "examples" / name)
        monkeypatch.setattr(objects, "project_root", lambda root=root: root)
        paths = objects.object_files()
        drawn.append(([objects.object_name(p) for p in paths],
                      [s.origin for s in objects.object_seeds(paths)]))
    assert drawn[0] == drawn[1]
    assert {"examples/tc_classifier.o", "examples/xdp_firewall.o"} <= set(drawn[0][0])
