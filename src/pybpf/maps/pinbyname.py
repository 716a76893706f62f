"""Maps pinned by name, as libbpf (LIBBPF_PIN_BY_NAME) and iproute2 (its pinning
namespaces) do: kernel maps under a bpffs root, reused when compatible. Above both the
pin descriptors (pin.py) and the kernel map (kernelmap.py)."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from .errors import MapExistsError, MapPinError
from .kernelmap import KernelMap, open_pinned_kernel_map
from .spec import MapSpec, Pinning

if TYPE_CHECKING:
    from .base import Map


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


def pin_or_reuse(name: str, spec: MapSpec, root: str, object_id: str = "", *,
                 btf: Any = None, warnings: list[str] | None = None) -> "tuple[Map, str]":
    """A kernel map for `spec` pinned at <root>/<name> (LIBBPF_PIN_BY_NAME, or no
    pinning given) or in iproute2's namespaces (see pin_directory), as libbpf and
    iproute2 do: a compatible map already pinned there is reused as it is (its
    contents kept); otherwise a new map is created (with its contents, and described
    by `btf` as KernelMap.create does) and pinned.
    A pinned map that differs is a MapPinError naming each difference."""
    from ..kernel.objects import is_bpffs
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
        m = open_pinned_kernel_map(path)
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
    m = KernelMap.create(want, btf=btf, warnings=warnings)
    try:
        m.pin(path)
    except MapExistsError:  # pinned meanwhile by another loader: reuse that one
        m.close()
        return pin_or_reuse(name, spec, root, object_id, btf=btf, warnings=warnings)
    except BaseException:
        m.close()
        raise
    m.pin_path = path
    m.reused = False
    return m, path


def _is_dir(path: str) -> bool:
    return os.path.isdir(path)
