"""What `pybpf run FILE.o` does around the run itself: typed `--set NAME=VALUE`,
`--map NAME=@file.json` to fill maps first, and after the run the `.bss`/`.data`
globals, ring-buffer and perf-buffer records and bpf_printk messages (RunCapture),
as data for --json and as text.

The JSON of `--map` (the same shape `pybpf run --json` prints under "maps"):

* a list of {"key": K, "value": V} objects, or an object {"K": V} when keys are
  scalars (the JSON key text is read as JSON, else as text);
* keys and values typed by the map's BTF: numbers for integers (or text: "0x1f",
  "10.0.0.1" for a 4-byte integer, stored in network order as BPF programs keep
  addresses), enumerator names, strings for char arrays, objects for structs (unset
  members 0), lists for arrays; a side without BTF takes a number (little-endian) or
  hex bytes;
* per-CPU maps: one value (every CPU) or a list with one value per possible CPU;
* program arrays: program names as values; queues, stacks and bloom filters: a list
  of values, pushed in order.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..errors import PyBPFError
from .output import RunCapture
from ..spec import ObjectSpec
from .typed import encode_global

__all__ = ["RunInputError", "apply_sets", "set_global_text", "fill_maps", "fill_map",
           "parse_record_types", "run_session", "run_extras", "format_extras",
           "map_entry_text"]


class RunInputError(PyBPFError):
    """A --set, --map or --record-type that cannot be applied; the message names it."""


def _candidates(text: str) -> list[Any]:
    """A command-line value: as JSON when it parses (numbers, true/false, objects,
    lists, "strings"), then as the text itself."""
    out: list[Any] = []
    try:
        out.append(json.loads(text))
    except (ValueError, RecursionError):
        pass
    if not out or out[0] != text:
        out.append(text)
    return out


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def set_global_text(spec: ObjectSpec, name: str, text: str) -> None:
    """`--set NAME=VALUE`: VALUE typed by the global's BTF type (see the module
    docstring: JSON, or the text for enumerators, char arrays and integers)."""
    first: PyBPFError | None = None
    for value in _candidates(text):
        try:
            raw = encode_global(spec, name, value, text_ints=True)
        except KeyError as e:
            raise RunInputError(f"--set {name}: {e}") from None
        except PyBPFError as e:
            first = first or e
            continue
        spec.set_global(name, raw)
        return
    raise RunInputError(f"--set {name}={_short(text)}: {first}")


def apply_sets(spec: ObjectSpec, assignments: list[str] | None) -> None:
    """Every `--set NAME=VALUE`, in order."""
    for assignment in assignments or []:
        name, sep, text = assignment.partition("=")
        if not sep or not name:
            raise RunInputError(f"--set takes NAME=VALUE, got {assignment!r}")
        set_global_text(spec, name, text)


def _load_json(name: str, text: str) -> Any:
    where = f"--map {name}"
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as e:
            raise RunInputError(f"{where}: cannot read {text[1:]}: {e.strerror}") from None
        except UnicodeDecodeError:
            raise RunInputError(f"{where}: {text[1:]} is not UTF-8 text") from None
    try:
        return json.loads(text)
    except ValueError as e:
        raise RunInputError(f"{where}: not JSON: {e}") from None
    except RecursionError:
        raise RunInputError(f"{where}: JSON nested too deep") from None


def _pairs(name: str, data: Any) -> list[tuple[Any, Any]]:
    if isinstance(data, dict):
        pairs = []
        for k, v in data.items():
            cands = _candidates(k)
            pairs.append((cands[0], v))
        return pairs
    if isinstance(data, list):
        pairs = []
        for i, e in enumerate(data):
            if not isinstance(e, dict) or set(e) != {"key", "value"}:
                raise RunInputError(f"--map {name}: entry {i} is not "
                                    '{"key": ..., "value": ...}')
            pairs.append((e["key"], e["value"]))
        return pairs
    raise RunInputError(f"--map {name}: expected a list of {{\"key\", \"value\"}} objects "
                        f"or an object of key: value, got {type(data).__name__}")


def fill_map(obj: Any, name: str, data: Any) -> int:
    """Write JSON-shaped `data` (see the module docstring) into map `name` of `obj`;
    returns how many entries were written."""
    if name not in obj.maps:
        raise RunInputError(f"--map {name}: the object has no such map (maps: "
                            f"{', '.join(obj.maps)})")
    m = obj.maps[name]
    tname = m.spec.type_name
    typed = m.typed
    try:
        if tname in ("ringbuf", "user_ringbuf", "perf_event_array", "array_of_maps",
                     "hash_of_maps"):
            raise RunInputError(f"--map {name}: a {tname} map cannot be filled from JSON")
        if m.key_size == 0:
            if not isinstance(data, list):
                raise RunInputError(f"--map {name}: a {tname} map takes a list of values")
            for v in data:
                m.push(typed.encode_value(v, text_ints=True))
            return len(data)
        pairs = _pairs(name, data)
        for i, (k, v) in enumerate(pairs):
            try:
                if tname == "prog_array":
                    if v not in obj.programs:
                        raise RunInputError(f"program {v!r} is not in the object "
                                            f"(programs: {', '.join(obj.programs)})")
                    m.update(typed.encode_key(k, text_ints=True), obj.programs[v].handle)
                else:
                    typed.put(k, v, text_ints=True)
            except (PyBPFError, TypeError, ValueError) as e:
                raise RunInputError(f"--map {name}: entry {i} (key {_short(repr(k))}): "
                                    f"{e}") from None
        return len(pairs)
    except RunInputError:
        raise
    except (PyBPFError, TypeError, ValueError) as e:
        raise RunInputError(f"--map {name}: {e}") from None


def fill_maps(obj: Any, assignments: list[str] | None) -> None:
    """Every `--map NAME=@FILE.json` (or NAME=JSON), in order."""
    for assignment in assignments or []:
        name, sep, text = assignment.partition("=")
        if not sep or not name or not text:
            raise RunInputError(f"--map takes NAME=@FILE.json or NAME=JSON, got "
                                f"{assignment!r}")
        fill_map(obj, name, _load_json(name, text))


def parse_record_types(items: list[str] | None) -> dict[str, list[str]]:
    """`--record-type MAP=TYPE[,TYPE...]` into {map: [type names]}."""
    out: dict[str, list[str]] = {}
    for item in items or []:
        name, sep, types = item.partition("=")
        names = [t.strip() for t in types.split(",") if t.strip()]
        if not sep or not name or not names:
            raise RunInputError(f"--record-type takes MAP=TYPE[,TYPE...], got {item!r}")
        out.setdefault(name, []).extend(names)
    return out


@contextmanager
def run_session(spec: ObjectSpec, args: Any, programs: "list[str] | None" = None
                ) -> Iterator[tuple[Any, RunCapture]]:
    """The object instantiated on args.backend (its `programs`, default those that
    autoload) with args.map applied, and a RunCapture collecting its output
    (args.record_type types the records) until the end."""
    with spec.instantiate(args.backend, programs=programs,
                          pin_root=getattr(args, "pin_root", None),
                          verify=not getattr(args, "no_verify", False),
                          engine=getattr(args, "engine", None)) as obj:
        fill_maps(obj, getattr(args, "map", None))
        types = parse_record_types(getattr(args, "record_type", None))
        try:
            cap = RunCapture(obj, types)
        except PyBPFError as e:
            raise RunInputError(f"--record-type: {e}") from None
        with cap:
            yield obj, cap


def run_extras(obj: Any, cap: RunCapture) -> dict[str, Any]:
    """What `pybpf run` reports besides verdicts and maps: the `.bss`/`.data` globals,
    the records and the bpf_printk messages (keys only when there is something)."""
    cap.collect()
    out: dict[str, Any] = {}
    sections = obj.globals.to_dict((".bss", ".data"))
    hidden = set(cap.record_anchors)  # pointers that only declare record types
    sections = {s: {k: _plain(v) for k, v in vs.items() if "." not in k and k not in hidden}
                for s, vs in sections.items()}
    if any(sections.values()):
        out["globals"] = {s: vs for s, vs in sections.items() if vs}
    if cap.records:
        out["records"] = [r.as_dict() for r in cap.records]
    if cap.printk:
        out["printk"] = list(cap.printk)
    if cap.warnings:
        out["warnings"] = list(cap.warnings)
    return out


def _plain(value: Any) -> Any:
    """Typed data as JSON has it: bytes (what BTF does not type) as hex."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _shown(value: Any) -> str:
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def map_entry_text(entry: dict[str, Any]) -> str:
    """One entry of dump_maps() as text: `key = value`, per-CPU values summed."""
    if "sum" in entry:
        return f"{entry['key']} = {entry['sum']} (sum over CPUs)"
    return f"{entry['key']} = {entry['value']}"


def format_extras(out: dict[str, Any], limit: int = 20) -> str:
    """run_extras() as text."""
    lines: list[str] = []
    for section, variables in out.get("globals", {}).items():
        lines.append(f"globals {section}:")
        for name, value in variables.items():
            lines.append(f"  {name} = {_shown(value)}")
    by_map: dict[str, list[dict[str, Any]]] = {}
    for rec in out.get("records", []):
        by_map.setdefault(rec["map"], []).append(rec)
    for name, recs in by_map.items():
        kind = "ring buffer" if recs[0]["kind"] == "ringbuf" else "perf buffer"
        hint = "" if any("type" in r for r in recs) else \
            f" (hex; --record-type {name}=TYPE decodes them)"
        lines.append(f"{kind} {name}: {len(recs)} record{'s' if len(recs) != 1 else ''}{hint}")
        for rec in recs[:limit]:
            cpu = f"cpu {rec['cpu']}: " if "cpu" in rec else ""
            body = f"{rec['type']} {rec['value']}" if "type" in rec else rec["hex"]
            lines.append(f"  {cpu}{body}")
        if len(recs) > limit:
            lines.append(f"  ... {len(recs) - limit} more")
    msgs = out.get("printk", [])
    if msgs:
        lines.append(f"bpf_printk: {len(msgs)} message{'s' if len(msgs) != 1 else ''}")
        lines.extend(f"  {m}" for m in msgs[:max(limit, 50)])
        if len(msgs) > max(limit, 50):
            lines.append(f"  ... {len(msgs) - max(limit, 50)} more")
    for w in out.get("warnings", []):
        lines.append(f"warning: {w}")
    return "\n".join(lines) + "\n" if lines else ""
