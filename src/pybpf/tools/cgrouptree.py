"""`pybpf cgroup tree [ROOT]` and `pybpf cgroup show CGROUP`: the BPF programs attached to
cgroups, per attach type (BPF_PROG_QUERY on each cgroup directory), as bpftool shows
them. JSON: tree is [{"cgroup": PATH, "programs": [...]}] for the cgroups that have
programs; each program {"id", "attach_type", "attach_flags", "name", "attach_btf_name",
"attach_btf_obj_id", "attach_btf_id"} ("attach_flags" left out with `effective`, as
bpftool does)."""

from __future__ import annotations

import os
from typing import Any, Iterator

from ..errors import PyBPFError
from ..kernel import abi
from ..kernel.abi import AttachType
from ..kernel.errors import KernelError
from ..kernel.info import CgroupAttachment, cgroup_attachments, prog_detail_by_id
from ..kernel.link import cgroup2_root


class CgroupError(PyBPFError):
    """No such cgroup, or no cgroup v2 hierarchy."""


ATTACH_FLAG_NAMES = {0: "", abi.BPF_F_ALLOW_MULTI: "multi",
                     abi.BPF_F_ALLOW_OVERRIDE: "override"}


def attach_type_name(at: int) -> Any:
    """bpftool's name of an attach type ("cgroup_inet_ingress"), or its number."""
    try:
        return AttachType(at).name.lower()
    except ValueError:
        return at


def _open(path: str) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise CgroupError(f"no cgroup {path}: it does not exist") from None
    except NotADirectoryError:
        raise CgroupError(f"{path} is not a cgroup directory") from None
    except OSError as e:
        raise CgroupError(f"cannot open cgroup {path}: {e.strerror}") from None


def _btf_func_name(type_id: int) -> str:
    """The name of a vmlinux BTF type (an LSM hook of a cgroup LSM program)."""
    from ..btf import BTFError, load_vmlinux
    try:
        return load_vmlinux().name_of(type_id)
    except (BTFError, OSError, IndexError):
        return ""


def _record(a: CgroupAttachment, effective: bool) -> dict[str, Any]:
    """bpftool's record: id, attach_type, attach_flags, name, and the attach BTF (the
    hook of a cgroup LSM program; empty and 0 for the others)."""
    rec: dict[str, Any] = {"id": a.prog_id, "attach_type": attach_type_name(a.attach_type)}
    if not effective:
        rec["attach_flags"] = ATTACH_FLAG_NAMES.get(a.attach_flags, f"{a.attach_flags:#x}")
    try:
        info = prog_detail_by_id(a.prog_id).info
    except KernelError:
        rec["name"] = ""
        return rec
    rec["name"] = info.name
    rec["attach_btf_name"] = _btf_func_name(info.attach_btf_id) if info.attach_btf_id else ""
    rec["attach_btf_obj_id"] = info.attach_btf_obj_id
    rec["attach_btf_id"] = info.attach_btf_id
    return rec


def _check_cgroup2(path: str) -> None:
    from ..kernel.objects import fs_type
    kind = fs_type(path)
    if kind is not None and kind != "cgroup2":
        raise CgroupError(f"{path} is not a cgroup: it is on a {kind} file system, not "
                          "cgroup2")


def cgroup_programs(path: str, *, effective: bool = False) -> list[dict[str, Any]]:
    """The programs of one cgroup (directory on a cgroup v2 mount)."""
    if os.path.isdir(path):
        _check_cgroup2(path)
    fd = _open(path)
    try:
        found = cgroup_attachments(fd, [int(t) for t in AttachType], effective=effective)
    finally:
        os.close(fd)
    return [_record(a, effective) for a in found]


def _walk(root: str, dev: int) -> Iterator[str]:
    """Every cgroup under `root`, pre-order, children in name order (not crossing into
    another file system)."""
    yield root
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return
    for e in entries:
        try:
            if e.is_dir(follow_symlinks=False) and e.stat(follow_symlinks=False).st_dev == dev:
                yield from _walk(e.path, dev)
        except OSError:
            continue  # removed while walked


def cgroup_tree(root: str | None = None, *, effective: bool = False) -> list[dict[str, Any]]:
    """[{"cgroup": path, "programs": [...]}] for each cgroup under `root` (the cgroup v2
    mount by default) with programs attached."""
    if root is None:
        root = cgroup2_root()
        if root is None:
            raise CgroupError("no cgroup v2 hierarchy is mounted (mount -t cgroup2 none "
                              "/sys/fs/cgroup)")
    if not os.path.isdir(root):
        raise CgroupError(f"no cgroup {root}: it does not exist")
    _check_cgroup2(root)
    out = []
    for path in _walk(root.rstrip("/") or "/", os.stat(root).st_dev):
        try:
            progs = cgroup_programs(path, effective=effective)
        except CgroupError:
            continue  # removed while walked
        if progs:
            out.append({"cgroup": path, "programs": progs})
    return out


def _prog_line(p: dict[str, Any], indent: str) -> str:
    flags = p.get("attach_flags", "")
    return f"{indent}{p['id']:<8} {p['attach_type']!s:<15} {flags:<15} {p['name']:<15}".rstrip()


def format_tree(tree: list[dict[str, Any]]) -> str:
    """bpftool's plain `cgroup tree`: a header, then each cgroup and its programs."""
    lines = ["CgroupPath", f"{'ID':<8} {'AttachType':<15} {'AttachFlags':<15} {'Name':<15}"
             .rstrip()]
    for c in tree:
        lines.append(c["cgroup"])
        lines += [_prog_line(p, "    ") for p in c["programs"]]
    return "\n".join(lines) + "\n"


def format_show(progs: list[dict[str, Any]]) -> str:
    """bpftool's plain `cgroup show`."""
    if not progs:
        return ""
    lines = [f"{'ID':<8} {'AttachType':<15} {'AttachFlags':<15} {'Name':<15}".rstrip()]
    lines += [_prog_line(p, "") for p in progs]
    return "\n".join(lines) + "\n"
