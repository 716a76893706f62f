"""`pybpf map list|show|dump|lookup|update|delete`: the kernel's maps as bpftool shows
them, chosen by id, `pinned PATH` or `name NAME`, elements decoded by the map's BTF."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .common import CLIError, command_group, json_option

_MAP_HOWS = ("id", "pinned", "name")
_MAP_HELP = "the map: ID, or id ID | pinned PATH | name NAME"


def split_selector(words: list[str]) -> tuple[str, str, list[str]]:
    """(how, what, the rest) from `ID ...`, `id ID ...`, `pinned PATH ...`, `name N ...`."""
    if not words:
        raise CLIError("choose the map as ID, id ID, pinned PATH or name NAME")
    if words[0] in _MAP_HOWS:
        if len(words) < 2:
            raise CLIError(f"`{words[0]}` needs a value")
        return words[0], words[1], words[2:]
    return "id", words[0], words[1:]


def cmd_map_show(args: argparse.Namespace) -> int:
    from ..tools.bpftoolview import format_map, map_details, map_list, map_record
    if args.what == "list" or not args.map:
        records, single = map_list(), False
    else:
        how, what, rest = split_selector(args.map)
        if rest:
            raise CLIError(f"unexpected {' '.join(rest)!r} after the map")
        records = [map_record(d) for d in map_details(how, what)]
        single = len(records) == 1
    if args.json:
        print(json.dumps(records[0] if single else records))
    else:
        for rec in records:
            print(format_map(rec))
    return 0


def _one_map(words: list[str]) -> tuple[Any, list[str]]:
    from ..tools.bpftoolview import map_details
    from ..tools.mapview import MapView
    how, what, rest = split_selector(words)
    found = map_details(how, what)
    if len(found) > 1:
        raise CLIError(f"{len(found)} maps are named {what} (ids "
                       f"{', '.join(str(d.info.id) for d in found)}): choose one by id")
    return MapView.open(found[0]), rest


def _key_value(rest: list[str], need_value: bool) -> tuple[list[str], list[str]]:
    """bpftool's `key K... [value V...]`, or pybpf's `K [V]` (one word each, or a `hex`
    value after a one-word key)."""
    words = rest[1:] if rest[:1] == ["key"] else rest
    if "value" in words:
        at = words.index("value")
        key, value = words[:at], words[at + 1:]
    elif need_value and (len(words) == 2 or (len(words) > 2 and words[1] == "hex")):
        key, value = words[:1], words[1:]  # KEY VALUE, KEY hex VALUE...
    else:
        key, value = words, []
    if not key:
        raise CLIError("no key given")
    if need_value and not value:
        raise CLIError("no value given (KEY VALUE, or key K... value V...)")
    if not need_value and value:
        raise CLIError("a value is given only to `map update`")
    return key, value


def cmd_map_dump(args: argparse.Namespace) -> int:
    view, rest = _one_map(args.map)
    with view:
        if rest:
            raise CLIError(f"unexpected {' '.join(rest)!r} after the map")
        records = list(view.elements())
    if args.json:
        print(json.dumps(records))
        return 0
    _print_elements(records)
    print(f"Found {len(records)} element{'s' if len(records) != 1 else ''}")
    return 0


def _print_elements(records: list[dict[str, Any]]) -> None:
    from ..tools.mapview import format_element
    formatted = [r.get("formatted") for r in records]
    if records and all(f is not None and ("value" in f or "values" in f) for f in formatted):
        print(json.dumps(formatted, indent=4))
    else:
        for r in records:
            print(format_element(r))


def cmd_map_elem(args: argparse.Namespace) -> int:
    """lookup, update, delete."""
    view, rest = _one_map(args.map)
    with view:
        key_words, value_words = _key_value(rest, args.what == "update")
        key = view.parse(key_words, "key")
        if args.what == "lookup":
            rec = view.lookup(key)
            if args.json:
                print(json.dumps(rec))
            else:
                _print_elements([rec])
            return 0
        if args.what == "update":
            value = view.parse(value_words, "value")
            flags = {"any": 0, "noexist": 1, "exist": 2}[args.flags]
            view.update(key, value, flags)
        else:
            view.delete(key)
    if args.json:
        print(json.dumps({"map": view.detail.info.id, args.what: key.hex(" ")}))
    else:
        print(f"{'updated' if args.what == 'update' else 'deleted'} key {key.hex(' ')} in "
              f"map {view.name}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """The map group."""
    msub = command_group(sub, "map", "maps in the kernel")
    ml = msub.add_parser("list", help="every map (as bpftool map list)")
    json_option(ml, "bpftool's JSON")
    ml.set_defaults(fn=cmd_map_show, need_caps=["CAP_SYS_ADMIN"], map=[])
    ms = msub.add_parser("show", help="maps by ID, `id ID`, `pinned PATH` or `name NAME` "
                                      "(all without one)")
    ms.add_argument("map", nargs="*", metavar="MAP", help=_MAP_HELP)
    json_option(ms, "bpftool's JSON")
    ms.set_defaults(fn=cmd_map_show, need_caps=["CAP_SYS_ADMIN"])
    md = msub.add_parser("dump", help="every element, decoded by the map's BTF")
    md.add_argument("map", nargs="+", metavar="MAP", help=_MAP_HELP)
    json_option(md, "bpftool's JSON")
    md.set_defaults(fn=cmd_map_dump, need_caps=["CAP_SYS_ADMIN"])
    for name, help_text in (
            ("lookup", "one element: MAP KEY (KEY: bytes `0x01 0 0 0`, `hex 01000000`, an "
                       "integer, or with BTF a value such as 10.0.0.1 or JSON)"),
            ("update", "set an element: MAP KEY VALUE, or MAP key K... value V..."),
            ("delete", "remove an element: MAP KEY")):
        mp = msub.add_parser(name, help=help_text)
        mp.add_argument("map", nargs="+", metavar="MAP KEY" + (" VALUE" if name == "update"
                                                                 else ""),
                        help=_MAP_HELP + ", then the key" + (" and the value (or key K... "
                                                             "value V...)" if name == "update"
                                                             else ""))
        if name == "update":
            mp.add_argument("--flags", choices=["any", "noexist", "exist"], default="any",
                            help="BPF_ANY (default), BPF_NOEXIST or BPF_EXIST")
        json_option(mp, "bpftool's JSON")
        mp.set_defaults(fn=cmd_map_elem, need_caps=["CAP_SYS_ADMIN"])
