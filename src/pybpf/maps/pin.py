"""Pinning. A kernel map pins in bpffs. A VM map pins as a small JSON descriptor file
naming its spec and the shared file that holds its memory, so another process can open
the same memory with `Map.from_pinned(path)`; only maps whose whole state is in that
memory can be pinned (BPF_F_MMAPABLE arrays, ring buffers). `from_pinned` tells the
two apart by the filesystem of the path."""

from __future__ import annotations

import json
import os
import re
from typing import TYPE_CHECKING, Any

from .errors import (MapExistsError, MapInvalidError, MapKeyError, MapNotSupportedError,
                     MapPinError)
from .spec import MapSpec, Pinning

if TYPE_CHECKING:
    from .base import Map
    from .kernelmap import KernelMap
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
    """The map pinned at `path`: a kernel map in bpffs, or a VM map's descriptor."""
    p = os.fspath(path)
    if _is_bpffs(p):
        from ..kernel import Map as KMap
        from .kernelmap import KernelMap, translated
        with translated("from_pinned"):
            kmap = KMap.from_pin(p)
        return KernelMap.from_kmap(kmap)
    desc = read_descriptor(p)
    from .vmmaps import attach_vm_map
    backing = desc["backing"]
    if not os.path.exists(backing):
        raise MapKeyError(f"the memory of the map pinned at {p} ({backing}) is gone",
                          op="from_pinned")
    return attach_vm_map(MapSpec.from_dict(desc["spec"]), backing, bool(desc.get("frozen")))


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


# --- LIBBPF_PIN_BY_NAME and iproute2's namespaces ----------------------------------------

# the fields a pinned map must share with the spec to be reused (libbpf's
# map_is_reuse_compat): type, key/value size, max_entries, flags, map_extra
REUSE_FIELDS = ("type", "key_size", "value_size", "max_entries", "flags", "map_extra")
_PIN_NAME_RE = re.compile(r"[A-Za-z0-9_.]+")


def reuse_mismatch(spec: MapSpec, pinned: MapSpec) -> list[str]:
    """How the map pinned (`pinned`, as the kernel reports it) differs from `spec` in
    the fields that must match for reuse; empty when it may be reused."""
    out = []
    for f in REUSE_FIELDS:
        want, have = getattr(spec, f), getattr(pinned, f)
        if want != have:
            if f == "type":
                want, have = spec.type_name, pinned.type_name
            elif f == "flags":
                want, have = hex(want), hex(have)
            out.append(f"{f} {have} (pinned) vs {want} (this object)")
    return out


IPROUTE2_DIR = "tc"  # iproute2's work directory in bpffs (xdp/ and ip/ link to it)
IPROUTE2_GLOBALS = "globals"  # PIN_GLOBAL_NS: <bpffs>/tc/globals
_SHA1_RE = re.compile(r"[0-9a-f]{40}")


def _convention(pinning: int) -> str:
    if pinning == Pinning.IPROUTE2_GLOBAL_NS:
        return "is pinned in iproute2's global namespace (PIN_GLOBAL_NS)"
    if pinning == Pinning.IPROUTE2_OBJECT_NS:
        return "is pinned in iproute2's object namespace (PIN_OBJECT_NS)"
    return "is pinned by name (LIBBPF_PIN_BY_NAME)"


def pin_directory(root: str, pinning: int, object_id: str = "") -> str:
    """Where a map with this pinning lives under the pin root: the root itself
    (LIBBPF_PIN_BY_NAME), <root>/tc/globals (iproute2's PIN_GLOBAL_NS) or
    <root>/tc/<object_id> (PIN_OBJECT_NS: the SHA-1 of the object file, hex)."""
    if pinning == Pinning.IPROUTE2_GLOBAL_NS:
        return os.path.join(root, IPROUTE2_DIR, IPROUTE2_GLOBALS)
    if pinning == Pinning.IPROUTE2_OBJECT_NS:
        if not _SHA1_RE.fullmatch(object_id):
            raise MapPinError(f"iproute2's PIN_OBJECT_NS pins under the SHA-1 of the object "
                              f"file, and {object_id!r} is not one (40 hex digits; "
                              "pybpf.load() records it as ObjectSpec.sha1)", op="pin")
        return os.path.join(root, IPROUTE2_DIR, object_id)
    return root


def _make_dirs(root: str, directory: str) -> None:
    """Create the directories between the root and `directory` (mode 0700, as iproute2
    makes them)."""
    rel = os.path.relpath(directory, root)
    if rel == ".":
        return
    path = root
    for part in rel.split(os.sep):
        path = os.path.join(path, part)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            if not os.path.isdir(path):
                raise MapPinError(f"{path} exists and is not a directory; maps cannot be "
                                  "pinned under it", op="pin") from None
        except OSError as e:
            raise MapPinError(f"cannot create {path}: {e.strerror}", op="pin") from None


def pin_or_reuse(name: str, spec: MapSpec, root: str, object_id: str = ""
                 ) -> "tuple[KernelMap, str]":
    """A kernel map for `spec` pinned at <root>/<name> (LIBBPF_PIN_BY_NAME, or no
    pinning given) or in iproute2's namespaces (see pin_directory), as libbpf and
    iproute2 do: a compatible map already pinned there is reused as it is (its
    contents kept); otherwise a new map is created (with its contents) and pinned.
    A pinned map that differs is a MapPinError naming each difference."""
    from ..kernel.objects import is_bpffs
    from .kernelmap import KernelMap
    how = _convention(spec.pinning)
    if not _PIN_NAME_RE.fullmatch(name) or name in (".", ".."):
        raise MapPinError(f"map {name!r} cannot be pinned by name: a pin name is "
                              "characters of [A-Za-z0-9_.], not '.' or '..'", op="pin")
    if not _is_dir(root) or not is_bpffs(root):
        raise MapPinError(f"map {name!r} {how}, but the pin root {root} is not a bpffs "
                          f"directory (mount one: mount -t bpf bpf {root})", op="pin")
    directory = pin_directory(root, spec.pinning, object_id)
    path = os.path.join(directory, name)
    spec.validate()
    want = spec.resolved()
    if os.path.lexists(path):
        m = open_pinned(path)
        assert isinstance(m, KernelMap)  # root is a bpffs: what is pinned there is the kernel's
        try:
            diff = reuse_mismatch(want, m.spec)
        except Exception:
            m.close()
            raise
        if diff:
            m.close()
            raise MapPinError(f"map {name!r}: the map pinned at {path} cannot be reused: "
                               + "; ".join(diff), op="pin")
        reused = KernelMap(m.kmap, want)  # same shape; the spec keeps its BTF types
        reused.pin_path = path
        reused.reused = True
        return reused, path
    _make_dirs(root, directory)
    created = want.create("kernel")
    assert isinstance(created, KernelMap)
    try:
        created.pin(path)
    except MapExistsError:  # pinned meanwhile by another loader: reuse that one
        created.close()
        return pin_or_reuse(name, spec, root, object_id)
    except BaseException:
        created.close()
        raise
    created.pin_path = path
    created.reused = False
    return created, path


def _is_dir(path: str) -> bool:
    return os.path.isdir(path)
