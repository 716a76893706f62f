"""What `pybpf obj show` prints: an ObjectSpec described as plain data (for --json) and
as text."""

from __future__ import annotations

from typing import Any

from ..uapi import MapFlag, ProgType
from ..spec import ObjectSpec


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


def _describe_global(spec: ObjectSpec, name: str) -> dict[str, Any]:
    """A global: where it is, its BTF type, its initial value typed by BTF ("value",
    absent when there is no type) and as hex ("initial")."""
    from .typed import section_codec
    g = spec.globals[name]
    entry: dict[str, Any] = {"name": name, "section": g.map, "offset": g.offset,
                             "size": g.size}
    try:
        raw = spec.global_bytes(name)
    except (KeyError, IndexError):
        raw = b""
    entry["initial"] = raw.hex()
    try:
        codec = section_codec(spec, g.map)
        var = codec.vars[name]
        if var.type_id and len(raw) == g.size:
            entry["type"] = btf_type_name(spec.btf, var.type_id)
            from ..btf import type_decl
            entry["decl"] = type_decl(spec.btf, var.type_id, name)
            value = codec.decode_var(name, spec._data(g.map))
            entry["value"] = value.hex() if isinstance(value, bytes) else value
            from ..btf import Enum, Enum64
            if isinstance(spec.btf[spec.btf.resolve(var.type_id)], (Enum, Enum64)):
                entry["enum"] = True
    except Exception:  # noqa: BLE001 - a value is decoration; the hex stays
        pass
    return entry


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
        if m.pinning:
            entry.update(_pinning(spec, name, m.pinning))
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
    globals_ = [_describe_global(spec, name) for name in spec.globals]
    return {
        "path": spec.path, "license": spec.license, "kern_version": spec.kern_version,
        "btf": spec.btf is not None,
        "sections": [{"name": n, "kind": k, "size": s} for n, k, s in spec.sections if n],
        "programs": programs, "maps": maps, "globals": globals_,
        "warnings": list(spec.warnings),
    }


_PIN_NAMES = {1: "LIBBPF_PIN_BY_NAME", 0x101: "iproute2's PIN_OBJECT_NS",
              0x102: "iproute2's PIN_GLOBAL_NS"}


def _pinning(spec: ObjectSpec, name: str, pinning: int) -> dict[str, Any]:
    """How the kernel backend pins the map: the convention and the path under the pin
    root (/sys/fs/bpf unless instantiate(pin_root=...) says otherwise)."""
    from ..maps.errors import MapPinError
    from ..maps.pinbyname import pin_directory
    out: dict[str, Any] = {"pinning": _PIN_NAMES.get(int(pinning), str(pinning))}
    try:
        out["pin_path"] = f"{pin_directory('<pin root>', pinning, spec.sha1)}/{name}"
    except MapPinError:
        pass
    return out


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
            kv = (f"  key {m.get('key_type') or m['key_size']}"
                  f"  value {m.get('value_type') or m['value_size']}")
        out.append(f"  {m['name']:<24} {m['type']:<16} key {m['key_size']:>3} value "
                   f"{m['value_size']:>5} max {m['max_entries']:>7}{flags}")
        if kv:
            out.append(f"     {kv}")
        if m.get("inner"):
            i = m["inner"]
            out.append(f"      inner: {i['type']} key {i['key_size']} value {i['value_size']} "
                       f"max {i['max_entries']}")
        if m.get("pinning"):
            where = f" at {m['pin_path']}" if m.get("pin_path") else ""
            out.append(f"      pinned{where} ({m['pinning']})")
        if m.get("initial_values"):
            vals = ", ".join(f"[{k}] = {v}" for k, v in m["initial_values"].items())
            out.append(f"      initial values: {vals}")
    if desc["globals"]:
        out.append("")
        out.append(f"Globals ({len(desc['globals'])}):")
        order = {m["name"]: i for i, m in enumerate(desc["maps"])}
        for g in sorted(desc["globals"], key=lambda g: (order.get(g["section"], len(order)),
                                                        g["offset"])):
            out.append(_format_global(g))
    return "\n".join(out) + "\n"


def _format_global(g: dict[str, Any], width: int = 72) -> str:
    """One global: its place, then as C declares it with its typed initial value
    (`__u32 max_matches = 100`), else its bytes in hex."""
    if "value" in g:
        quote = isinstance(g["value"], str) and not g.get("enum")
        shown = repr(g["value"]) if quote else str(g["value"])
        decl = g.get("decl") or g["name"]
    else:
        shown = g["initial"] if len(g["initial"]) <= 32 else g["initial"][:32] + "..."
        shown = f"{shown} (hex)" if shown else "(no data)"
        decl = g["name"]
    if len(shown) > width:
        shown = shown[:width - 3] + "..."
    return f"  {g['section']:<10} +{g['offset']:<5} {g['size']:>4} bytes  {decl} = {shown}"
