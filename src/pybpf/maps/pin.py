"""Pinning. A kernel map pins in bpffs. A VM map pins as a small JSON descriptor file
naming its spec and the shared file that holds its memory, so another process can open
the same memory with `Map.from_pinned(path)`; only maps whose whole state is in that
memory can be pinned (BPF_F_MMAPABLE arrays, ring buffers). `from_pinned` tells the
two apart by the filesystem of the path and asks that backend (pybpf.backend) to open
it. Maps pinned by name (libbpf, iproute2) are pinbyname.py's."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from .errors import MapExistsError, MapInvalidError, MapKeyError, MapNotSupportedError

if TYPE_CHECKING:
    from .base import Map
    from .vmbase import VMMap

DESCRIPTOR_FORMAT = "pybpf-vm-map"
DESCRIPTOR_VERSION = 1


def _is_bpffs(path: str) -> bool:
    from ..kernel.objects import is_bpffs
    try:
        return is_bpffs(path)
    except OSError:
        return False


def pin_vm_map(m: "VMMap", path: str) -> None:
    """Write `m`'s descriptor at `path` (EEXIST if something is there)."""
    if not m.shareable or m.backing_path is None:
        raise MapNotSupportedError(
            f"a VM {m.spec.type_name} map keeps its state in this process; only maps with "
            "shared memory (BPF_F_MMAPABLE arrays, ring buffers) can be pinned", op="pin")
    if _is_bpffs(os.path.dirname(os.path.abspath(path)) or "."):
        raise MapInvalidError("a VM map cannot be pinned in bpffs; use a regular directory",
                              op="pin")
    desc = {"format": DESCRIPTOR_FORMAT, "version": DESCRIPTOR_VERSION,
            "spec": m.spec.to_dict(), "backing": m.backing_path, "frozen": m.frozen}
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise MapExistsError(f"{path} already exists", op="pin") from None
    with os.fdopen(fd, "w") as f:
        json.dump(desc, f, indent=1)


def read_descriptor(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            desc = json.load(f)
    except FileNotFoundError:
        raise MapKeyError(f"nothing pinned at {path}", op="from_pinned") from None
    except (UnicodeDecodeError, json.JSONDecodeError, OSError) as e:
        raise MapInvalidError(f"{path} is not a pinned map ({e})", op="from_pinned") from None
    if not isinstance(desc, dict) or desc.get("format") != DESCRIPTOR_FORMAT:
        raise MapInvalidError(f"{path} is not a pybpf VM map descriptor", op="from_pinned")
    if desc.get("version") != DESCRIPTOR_VERSION:
        raise MapInvalidError(f"{path}: unsupported descriptor version {desc.get('version')}",
                              op="from_pinned")
    return desc


def rewrite_frozen(path: str, frozen: bool) -> None:
    """Record a freeze in a descriptor this process wrote."""
    try:
        desc = read_descriptor(path)
    except (MapKeyError, MapInvalidError):
        return
    desc["frozen"] = frozen
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(desc, f, indent=1)
    os.replace(tmp, path)


def open_pinned(path: "str | os.PathLike[str]") -> "Map":
    """The map pinned at `path`: a kernel map in bpffs, or a VM map's descriptor. Each
    backend opens its own kind (pybpf.backend), so this module imports neither."""
    from ..backend import get_backend
    p = os.fspath(path)
    return get_backend("kernel" if _is_bpffs(p) else "vm").open_pinned_map(p)


def unpin(path: "str | os.PathLike[str]") -> None:
    """Remove a pin: the bpffs entry, or a VM descriptor and its shared file (the
    memory stays mapped in processes that have the map open)."""
    p = os.fspath(path)
    if not _is_bpffs(p):
        try:
            desc = read_descriptor(p)
        except MapInvalidError:
            desc = {}
        backing = desc.get("backing")
        if backing:
            try:
                os.unlink(backing)
            except FileNotFoundError:
                pass
    try:
        os.unlink(p)
    except FileNotFoundError:
        raise MapKeyError(f"nothing pinned at {p}", op="unpin") from None
