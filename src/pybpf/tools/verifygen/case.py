"""One verifier test case (a program with everything its load needs) and its file
format: JSON that names the bytes, the type, the maps, the capabilities and, for a
saved disagreement, both verdicts, so tests/regressions can replay it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ...errors import PyBPFError
from ...isa import Instruction, decode, encode
from ...maps.spec import MapSpec
from ...uapi import AttachType, ProgType

ALL_CAPS: frozenset[str] = frozenset({"bpf", "perfmon", "net_admin", "sys_admin"})
CAPS_ORDER = ("bpf", "perfmon", "net_admin", "sys_admin")
FORMAT = "pybpf-verifier-case/1"


class CaseFormatError(PyBPFError, ValueError):
    """A verifier case file that is not one (bad JSON, missing or wrong fields)."""


def caps_name(caps: frozenset[str]) -> str:
    """"all", "none" or the comma list in the canonical order ("bpf,net_admin")."""
    if caps == ALL_CAPS:
        return "all"
    return ",".join(c for c in CAPS_ORDER if c in caps) or "none"


def prog_type_name(t: int) -> str:
    try:
        return ProgType(t).name.lower()
    except ValueError:
        return str(t)


@dataclass(frozen=True)
class Case:
    """A program for the verifier: `insns` whose map lddws (src 1 or 2) carry the map's
    index in `maps` as imm, its type, the capabilities of the load, and where it came
    from (`origin`: "seed:<template>" or "object:<file>:<program>"; `mutation`: the
    named mutations applied, "+"-joined, None for an unmutated program)."""

    insns: tuple[Instruction, ...]
    prog_type: int
    maps: tuple[MapSpec, ...] = ()
    expected_attach_type: int | None = None
    caps: frozenset[str] = ALL_CAPS
    origin: str = ""
    mutation: str | None = None
    license: str = "GPL"
    # the object's BTF (sanitized for the kernel) and (insn, BTF FUNC id) per function,
    # for programs whose functions the kernel must know (global ones, callbacks)
    btf: bytes | None = None
    func_info: tuple[tuple[int, int], ...] = ()

    @property
    def code(self) -> bytes:
        return encode(self.insns)

    @property
    def type_name(self) -> str:
        return prog_type_name(self.prog_type)

    @property
    def kind(self) -> str:
        """The mutation's name, or "seed" / "object" for unmutated programs (the key of
        the per-mutation breakdown)."""
        if self.mutation:
            return self.mutation
        return "object" if self.origin.startswith("object:") else "seed"

    def with_caps(self, caps: frozenset[str]) -> "Case":
        return replace(self, caps=frozenset(caps))

    def to_dict(self) -> dict[str, Any]:
        from ...asm import disassemble_insn
        eat = self.expected_attach_type
        return {
            "format": FORMAT, "origin": self.origin, "mutation": self.mutation,
            "prog_type": self.type_name,
            "expected_attach_type": _attach_name(eat) if eat is not None else None,
            "caps": caps_name(self.caps), "license": self.license,
            "maps": [_map_dict(m) for m in self.maps],
            "code": self.code.hex(),
            "asm": [disassemble_insn(i) for i in self.insns],
            **({"btf": self.btf.hex(), "func_info": [list(f) for f in self.func_info]}
               if self.btf is not None else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Case":
        from ...kernel.verdict import parse_caps
        try:
            if d.get("format") != FORMAT:
                raise CaseFormatError(f"not a verifier case (format {d.get('format')!r}, "
                                      f"expected {FORMAT!r})")
            from ...objects.spec import program_type
            eat = d.get("expected_attach_type")
            return cls(insns=tuple(decode(bytes.fromhex(d["code"]))),
                       prog_type=program_type(d["prog_type"]),
                       maps=tuple(_map_from(m) for m in d.get("maps", [])),
                       expected_attach_type=_attach_value(eat) if eat is not None else None,
                       caps=parse_caps(d.get("caps", "all")), origin=str(d.get("origin", "")),
                       mutation=d.get("mutation"), license=str(d.get("license", "GPL")),
                       btf=bytes.fromhex(d["btf"]) if d.get("btf") else None,
                       func_info=tuple((int(a), int(b)) for a, b in d.get("func_info", [])))
        except CaseFormatError:
            raise
        except (KeyError, TypeError, ValueError, PyBPFError) as e:
            raise CaseFormatError(f"bad verifier case: {type(e).__name__}: {e}") from None


def _attach_name(v: int) -> str | int:
    try:
        return AttachType(v).name.lower()
    except ValueError:
        return v


def _attach_value(v: "str | int") -> int:
    if isinstance(v, int):
        return v
    return int(AttachType[v.upper().removeprefix("BPF_")])


def _map_dict(m: MapSpec) -> dict[str, Any]:
    d = {"type": m.type_name, "key_size": m.key_size, "value_size": m.value_size,
         "max_entries": m.max_entries, "flags": int(m.flags)}
    if m.name:
        d["name"] = m.name
    if m.inner is not None:
        d["inner"] = _map_dict(m.inner)
    if m.map_extra:
        d["map_extra"] = m.map_extra
    if m.contents:
        d["contents"] = [[bytes(k).hex(), bytes(v).hex()] for k, v in m.contents]
    if m.freeze:
        d["freeze"] = True
    for k in ("key_type", "value_type"):  # BTF type ids in the case's btf (locks, timers)
        tid = getattr(m, k)
        if isinstance(tid, int) and not isinstance(tid, bool) and tid > 0:
            d[k] = tid
    return d


def _map_from(d: dict[str, Any]) -> MapSpec:
    inner = _map_from(d["inner"]) if d.get("inner") else None
    return MapSpec(d["type"], int(d["key_size"]), int(d["value_size"]), int(d["max_entries"]),
                   int(d.get("flags", 0)), str(d.get("name", "")), inner=inner,
                   map_extra=int(d.get("map_extra", 0)),
                   contents=tuple((bytes.fromhex(k), bytes.fromhex(v))
                                  for k, v in d.get("contents", [])),
                   freeze=bool(d.get("freeze", False)),
                   key_type=int(d["key_type"]) if d.get("key_type") else None,
                   value_type=int(d["value_type"]) if d.get("value_type") else None)


@dataclass(frozen=True)
class SavedCase:
    """A case file: the case and the verdicts recorded with it (dicts with "accepted",
    "error", ...; empty when not recorded)."""

    case: Case
    kernel: dict[str, Any] = field(default_factory=dict)
    pybpf: dict[str, Any] = field(default_factory=dict)
    path: str = ""


def save_case(path: "str | Path", case: Case, *, kernel: dict[str, Any] | None = None,
              pybpf: dict[str, Any] | None = None) -> Path:
    """Write a case file (JSON) with the verdicts of both verifiers."""
    p = Path(path)
    d = case.to_dict()
    d["kernel"] = kernel or {}
    d["pybpf"] = pybpf or {}
    p.write_text(json.dumps(d, indent=1) + "\n")
    return p


def load_case(path: "str | Path") -> SavedCase:
    """Read a case file; CaseFormatError when it is not one."""
    try:
        d = json.loads(Path(path).read_text())
    except OSError as e:
        raise CaseFormatError(f"cannot read {path}: {e.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CaseFormatError(f"{path}: not JSON ({e})") from None
    if not isinstance(d, dict):
        raise CaseFormatError(f"{path}: not a verifier case (a JSON object is expected)")
    return SavedCase(Case.from_dict(d), dict(d.get("kernel") or {}), dict(d.get("pybpf") or {}),
                     str(path))
