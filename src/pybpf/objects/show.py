"""What `pybpf obj show` prints: an ObjectSpec described as plain data (for --json) and
as text."""

from __future__ import annotations

from typing import Any

from ..uapi import MapFlag, ProgType
from .spec import ObjectSpec


def _prog_type_name(t: int) -> str:
    if t == ProgType.UNSPEC:  # a section no SEC() convention knows; the user sets it
        return "unknown"
    try:
        return ProgType(t).name.lower()
    except ValueError:
        return str(t)


def btf_type_name(btf: Any, type_id: Any) -> str:
    """A C-ish name for a BTF type id (`struct key`, `__u32`, `unsigned int[4]`)."""
    if btf is None or not isinstance(type_id, int) or type_id <= 0:
        return ""
    try:
        from ..btf import type_name
        return type_name(btf, type_id)
    except Exception:  # noqa: BLE001 - a name is decoration; never fail the listing
        return f"type#{type_id}"


def describe(spec: ObjectSpec) -> dict[str, Any]:
    """The object as JSON-able data: sections, programs, maps and globals."""
    maps = []
    for name, m in spec.maps.items():
        entry: dict[str, Any] = {
            "name": name, "type": m.type_name, "key_size": m.key_size,
            "value_size": m.value_size, "max_entries": m.max_entries,
            "flags": [f.name for f in MapFlag if f.value and m.flags & f.value] if m.flags else [],
        }
        if m.key_type is not None:
            entry["key_type"] = btf_type_name(spec.btf, m.key_type)
        if m.value_type is not None:
            entry["value_type"] = btf_type_name(spec.btf, m.value_type)
        if m.inner is not None:
            entry["inner"] = {"type": m.inner.type_name, "key_size": m.inner.key_size,
                              "value_size": m.inner.value_size,
                              "max_entries": m.inner.max_entries}
        if m.freeze:
            entry["frozen"] = True
        if name in spec.map_values:
            entry["initial_values"] = {str(i): ref for i, ref in spec.map_values[name]}
        maps.append(entry)
    programs = []
    for name, p in spec.programs.items():
        programs.append({
            "name": name, "section": p.section, "type": _prog_type_name(p.type),
            "attach_to": p.attach_to, "instructions": p.insn_count,
            "functions": [f for f, _ in p.functions[1:]],
            "maps": sorted({r.map for r in p.map_refs}),
            "core_relocations": len(p.core_relos),
            "externs": sorted({e.name for e in p.extern_refs}),
        })
    globals_ = []
    for name, g in spec.globals.items():
        try:
            initial = spec.global_bytes(name).hex()
        except (KeyError, IndexError):
            initial = ""
        globals_.append({"name": name, "section": g.map, "offset": g.offset, "size": g.size,
                         "initial": initial})
    return {
        "path": spec.path, "license": spec.license, "kern_version": spec.kern_version,
        "btf": spec.btf is not None,
        "sections": [{"name": n, "kind": k, "size": s} for n, k, s in spec.sections if n],
        "programs": programs, "maps": maps, "globals": globals_,
        "warnings": list(spec.warnings),
    }


def format_show(desc: dict[str, Any]) -> str:
    """`describe()` as text."""
    out = [f"{desc['path'] or 'object'}: license {desc['license'] or '-'}"
           f"{', BTF' if desc['btf'] else ''}"]
    out += [f"warning: {w}" for w in desc.get("warnings", ())]
    out.append("")
    out.append("Sections:")
    for s in desc["sections"]:
        out.append(f"  {s['name']:<28} {s['kind']:<7} {s['size']:>8}")
    out.append("")
    out.append(f"Programs ({len(desc['programs'])}):")
    for p in desc["programs"]:
        extra = f" -> {p['attach_to']}" if p["attach_to"] else ""
        out.append(f"  {p['name']:<24} {p['type']:<16} {p['instructions']:>6} insns  "
                   f"section {p['section']}{extra}")
        if p["functions"]:
            out.append(f"      calls: {', '.join(p['functions'])}")
        if p["maps"]:
            out.append(f"      maps: {', '.join(p['maps'])}")
        if p["core_relocations"]:
            out.append(f"      CO-RE relocations: {p['core_relocations']}")
        if p["externs"]:
            out.append(f"      externs: {', '.join(p['externs'])}")
    out.append("")
    out.append(f"Maps ({len(desc['maps'])}):")
    for m in desc["maps"]:
        flags = f" flags={'|'.join(m['flags'])}" if m["flags"] else ""
        kv = ""
        if m.get("key_type") or m.get("value_type"):
            kv = f"  key {m.get('key_type') or m['key_size']}  value {m.get('value_type') or m['value_size']}"
        out.append(f"  {m['name']:<24} {m['type']:<16} key {m['key_size']:>3} value "
                   f"{m['value_size']:>5} max {m['max_entries']:>7}{flags}")
        if kv:
            out.append(f"     {kv}")
        if m.get("inner"):
            i = m["inner"]
            out.append(f"      inner: {i['type']} key {i['key_size']} value {i['value_size']} "
                       f"max {i['max_entries']}")
        if m.get("initial_values"):
            vals = ", ".join(f"[{k}] = {v}" for k, v in m["initial_values"].items())
            out.append(f"      initial values: {vals}")
    if desc["globals"]:
        out.append("")
        out.append(f"Globals ({len(desc['globals'])}):")
        for g in desc["globals"]:
            init = g["initial"]
            shown = init if len(init) <= 32 else init[:32] + "..."
            out.append(f"  {g['name']:<28} {g['section']:<10} +{g['offset']:<5} "
                       f"{g['size']:>4} bytes = {shown}")
    return "\n".join(out) + "\n"
