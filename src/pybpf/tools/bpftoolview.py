"""What is loaded, as bpftool shows it: `pybpf prog list|show`, `pybpf map list|show` and
`pybpf btf list`, plain text in bpftool's layout and JSON with bpftool's keys (so
scripts written for `bpftool -j prog list` keep working), from pybpf.kernel.info.

Records: a program is {"id", "type", "name", "tag", "gpl_compatible", ["run_time_ns",
"run_cnt"], ["recursion_misses"], "loaded_at", "uid", "bytes_xlated", "jited",
["bytes_jited"], "bytes_memlock", ["map_ids"], ["btf_id"]}; a map {"id", "type",
"name", "flags", "bytes_key", "bytes_value", "max_entries", "bytes_memlock",
["owner_prog_type", "owner_jited"], "frozen", ["btf_id"]}; a BTF object {"id",
"size", "prog_ids", "map_ids", "kernel", ["name"]}: bracketed keys only where bpftool
prints them (stats on, non-zero, a prog array, ...).
"""

from __future__ import annotations

import os
import time
from typing import Any, Iterable

from ..errors import PyBPFError
from ..kernel.abi import MapType, ProgType
from ..kernel.errors import KernelKeyError
from ..kernel.info import (BtfDetail, MapDetail, ProgDetail, iter_btfs, iter_maps, iter_progs,
                           map_detail, pinned_fd, prog_detail)
from ..kernel.objects import map_get_fd_by_id, prog_get_fd_by_id


class NoSuchObjectError(PyBPFError):
    """No program, map or BTF object with that id, pin or name."""


def type_name(enum: type, value: Any) -> Any:
    """bpftool's name of a program or map type ("xdp", "lpm_trie"), or the number for a
    type this ABI does not know (as bpftool prints it)."""
    try:
        return enum(value).name.lower()
    except ValueError:
        return int(value)


# --- programs ---------------------------------------------------------------------------

def prog_record(d: ProgDetail) -> dict[str, Any]:
    """One program with bpftool's JSON keys, in bpftool's order."""
    i = d.info
    rec: dict[str, Any] = {"id": i.id, "type": type_name(ProgType, i.type)}
    if i.name:
        rec["name"] = i.name
    rec["tag"] = i.tag
    rec["gpl_compatible"] = i.gpl_compatible
    if i.run_time_ns:
        rec["run_time_ns"] = i.run_time_ns
        rec["run_cnt"] = i.run_cnt
    if i.recursion_misses:
        rec["recursion_misses"] = i.recursion_misses
    if i.load_time:
        rec["loaded_at"] = d.loaded_at
        rec["uid"] = i.created_by_uid
    rec["bytes_xlated"] = i.xlated_prog_len
    rec["jited"] = bool(i.jited_prog_len)
    if i.jited_prog_len:
        rec["bytes_jited"] = i.jited_prog_len
    if d.memlock is not None:
        rec["bytes_memlock"] = d.memlock
    if i.map_ids:
        rec["map_ids"] = list(i.map_ids)
    if i.btf_id:
        rec["btf_id"] = i.btf_id
    return rec


def _stamp(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(epoch))


def format_prog(rec: dict[str, Any]) -> str:
    """bpftool's plain layout of one program (three or four lines)."""
    head = f"{rec['id']}: {rec['type']}  "
    if "name" in rec:
        head += f"name {rec['name']}  "
    head += f"tag {rec['tag']}"
    if rec["gpl_compatible"]:
        head += "  gpl"
    if "run_time_ns" in rec:
        head += f" run_time_ns {rec['run_time_ns']} run_cnt {rec['run_cnt']}"
    if "recursion_misses" in rec:
        head += f" recursion_misses {rec['recursion_misses']}"
    lines = [head]
    if "loaded_at" in rec:
        lines.append(f"\tloaded_at {_stamp(rec['loaded_at'])}  uid {rec['uid']}")
    sizes = f"\txlated {rec['bytes_xlated']}B  "
    sizes += f"jited {rec['bytes_jited']}B" if rec["jited"] else "not jited"
    if "bytes_memlock" in rec:
        sizes += f"  memlock {rec['bytes_memlock']}B"
    if "map_ids" in rec:
        sizes += "  map_ids " + ",".join(str(m) for m in rec["map_ids"])
    lines.append(sizes)
    if "btf_id" in rec:
        lines.append(f"\tbtf_id {rec['btf_id']}")
    return "\n".join(lines)


def prog_list() -> list[dict[str, Any]]:
    """Every loaded program's record, by id."""
    return [prog_record(d) for d in iter_progs()]


# --- selecting an object as bpftool does: id N, pinned PATH, tag T, name N ----------------------

def _by_id(get_fd: Any, obj_id: int, kind: str) -> Any:
    try:
        return get_fd(obj_id)
    except KernelKeyError:
        raise NoSuchObjectError(f"no {kind} with id {obj_id}") from None


def prog_details(how: str, what: str, *, insns: bool = False) -> list[ProgDetail]:
    """The programs chosen by `id N`, `pinned PATH`, `tag HEX` or `name NAME` (bpftool's
    PROG syntax: tag and name may match several)."""
    if how == "id":
        with _by_id(prog_get_fd_by_id, parse_id(what, "program"), "program") as fd:
            return [prog_detail(fd, insns=insns)]
    if how == "pinned":
        with _pinned(what, "prog") as fd:
            return [prog_detail(fd, insns=insns)]
    if how not in ("tag", "name"):
        raise NoSuchObjectError(f"choose a program by id, pinned, tag or name, not {how!r}")
    found = [d for d in iter_progs()
             if (d.info.tag == what.lower() if how == "tag" else d.info.name == what)]
    if not found:
        raise NoSuchObjectError(f"no program with {how} {what}")
    if not insns:
        return found
    out = []
    for d in found:
        try:
            with prog_get_fd_by_id(d.info.id) as fd:
                out.append(prog_detail(fd, insns=True))
        except KernelKeyError:
            continue
    return out


def map_details(how: str, what: str) -> list[MapDetail]:
    """The map chosen by `id N`, `pinned PATH` or `name NAME` (bpftool's MAP syntax)."""
    if how == "id":
        with _by_id(map_get_fd_by_id, parse_id(what, "map"), "map") as fd:
            return [map_detail(fd)]
    if how == "pinned":
        with _pinned(what, "map") as fd:
            return [map_detail(fd)]
    if how != "name":
        raise NoSuchObjectError(f"choose a map by id, pinned or name, not {how!r}")
    found = [d for d in iter_maps() if d.info.name == what]
    if not found:
        raise NoSuchObjectError(f"no map with name {what}")
    return found


def _pinned(path: str, kind: str) -> Any:
    if not os.path.exists(path):
        raise NoSuchObjectError(f"nothing is pinned at {path}")
    what = "program" if kind == "prog" else kind
    if os.path.isdir(path):
        raise NoSuchObjectError(f"{path} is a directory, not a pinned {what}")
    from ..kernel.objects import is_bpffs
    if not is_bpffs(path):
        raise NoSuchObjectError(f"{path} is not on a BPF file system (bpffs): not a pinned "
                                f"{what}")
    return pinned_fd(path, kind)


def parse_id(text: str, kind: str) -> int:
    try:
        v = int(text, 0)
    except ValueError:
        raise NoSuchObjectError(f"not a {kind} id: {text!r}") from None
    if not 1 <= v <= 0xFFFF_FFFF:
        raise NoSuchObjectError(f"a {kind} id is 1..4294967295, got {text}")
    return v


# --- maps --------------------------------------------------------------------------------------

def map_record(d: MapDetail) -> dict[str, Any]:
    """One map with bpftool's JSON keys, in bpftool's order."""
    i = d.info
    rec: dict[str, Any] = {"id": i.id, "type": type_name(MapType, i.type)}
    if i.name:
        rec["name"] = i.name
    rec.update({"flags": i.map_flags, "bytes_key": i.key_size, "bytes_value": i.value_size,
                "max_entries": i.max_entries})
    if d.memlock is not None:
        rec["bytes_memlock"] = d.memlock
    if d.owner_prog_type is not None:
        rec["owner_prog_type"] = type_name(ProgType, d.owner_prog_type)
        rec["owner_jited"] = bool(d.owner_jited)
    if d.frozen is not None:
        rec["frozen"] = int(d.frozen)
    if i.btf_id:
        rec["btf_id"] = i.btf_id
    if i.btf_vmlinux_value_type_id:
        rec["btf_vmlinux_value_type_id"] = i.btf_vmlinux_value_type_id
    return rec


def format_map(rec: dict[str, Any]) -> str:
    """bpftool's plain layout of one map."""
    head = f"{rec['id']}: {rec['type']}  "
    if "name" in rec:
        head += f"name {rec['name']}  "
    head += f"flags {rec['flags']:#x}"
    body = (f"\tkey {rec['bytes_key']}B  value {rec['bytes_value']}B  "
            f"max_entries {rec['max_entries']}")
    if "bytes_memlock" in rec:
        body += f"  memlock {rec['bytes_memlock']}B"
    lines = [head, body]
    tail = []
    if "owner_prog_type" in rec:
        tail.append(f"owner_prog_type {rec['owner_prog_type']}  "
                    f"owner{'' if rec['owner_jited'] else ' not'} jited")
    if "btf_id" in rec:
        tail.append(f"btf_id {rec['btf_id']}")
    if rec.get("frozen"):
        tail.append("frozen")
    if tail:
        lines.append("\t" + "  ".join(tail))
    return "\n".join(lines)


def map_list() -> list[dict[str, Any]]:
    return [map_record(d) for d in iter_maps()]


# --- BTF ---------------------------------------------------------------------------------------

def btf_list() -> list[dict[str, Any]]:
    """Every BTF object with the programs and maps that use it, as `bpftool btf list`."""
    users: dict[int, tuple[list[int], list[int]]] = {}
    for p in iter_progs():
        if p.info.btf_id:
            users.setdefault(p.info.btf_id, ([], []))[0].append(p.info.id)
    for m in iter_maps():
        if m.info.btf_id:
            users.setdefault(m.info.btf_id, ([], []))[1].append(m.info.id)
    return [btf_record(b, *users.get(b.info.id, ([], []))) for b in iter_btfs()]


def btf_record(b: BtfDetail, prog_ids: Iterable[int] = (),
               map_ids: Iterable[int] = ()) -> dict[str, Any]:
    rec: dict[str, Any] = {"id": b.info.id, "size": b.info.btf_size,
                           "prog_ids": sorted(prog_ids), "map_ids": sorted(map_ids),
                           "kernel": b.info.kernel_btf}
    if b.info.name:
        rec["name"] = b.info.name
    return rec


def format_btf(rec: dict[str, Any]) -> str:
    """bpftool's plain layout: "ID: name [vmlinux]  size NB  prog_ids ..  map_ids .."
    (a kernel BTF's name in brackets, an unnamed one <anon>)."""
    name = rec.get("name", "")
    shown = f"[{name}]" if rec["kernel"] and name else name or "<anon>"
    parts = [f"{rec['id']}: name {shown}", f"size {rec['size']}B"]
    if rec["prog_ids"]:
        parts.append("prog_ids " + ",".join(map(str, rec["prog_ids"])))
    if rec["map_ids"]:
        parts.append("map_ids " + ",".join(map(str, rec["map_ids"])))
    return "  ".join(parts)
