"""pybpf.maps: the kernel's map types on the VM and in the kernel, behind one API.

    spec = MapSpec("hash", key_size=4, value_size=8, max_entries=1024)
    with spec.create("vm") as m:          # or spec.create("kernel")
        m[1] = 42                         # ints are little-endian, sized
        assert m[1] == (42).to_bytes(8, "little")

* `MapSpec`: the definition (type by name or number, sizes, flags, inner map, contents,
  freeze), checked as BPF_MAP_CREATE checks it.
* `Map`: a MutableMapping over bytes with the kernel's operations and errors
  (`MapError` subclasses, the same on both backends; a missing key is a KeyError).
* `MapTable`: the VM maps a program names by fd (`VM(code, maps=...)`).
* `TypedMap` (`m.typed`): keys and values as Python data by their BTF types, with
  per-CPU sums.
* `RingBufReader`: poll / async iteration over a ring buffer on either backend.
* `unpin`: remove a pin (bpffs entry, or a VM map's descriptor and shared file).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (ENOTSUPP, MapBadFDError, MapBusyError, MapClosedError, MapError,
                     MapExistsError, MapFullError, MapInvalidError, MapKeyError,
                     MapNoSpaceError, MapNotSupportedError, MapPermissionError, MapPinError,
                     MapSpecError, MapSpecNotSupportedError, MapSpecTooBigError, map_error)
from .spec import MapSpec, Pinning, map_type, type_names

if TYPE_CHECKING:
    from .base import Batch, Map, possible_cpus
    from .pin import unpin
    from .reader import RingBufReader
    from .table import MapTable
    from .typed import Record, TypedMap, percpu_sum
    from .vmbase import VMMap
    from .vmmaps import VM_MAP_TYPES

# the rest loads on first use, so `import pybpf` stays light
_LAZY = {"Batch": "base", "Map": "base", "possible_cpus": "base", "unpin": "pin",
         "RingBufReader": "reader", "MapTable": "table", "VM_MAP_TYPES": "vmmaps",
         "VMMap": "vmbase", "TypedMap": "typed", "Record": "typed", "percpu_sum": "typed"}


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'pybpf.maps' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "MapSpec", "Pinning", "Map", "VMMap", "Batch", "MapTable", "RingBufReader", "unpin",
    "map_type", "type_names", "possible_cpus", "VM_MAP_TYPES", "TypedMap", "Record",
    "percpu_sum",
    "MapError", "MapKeyError", "MapFullError", "MapExistsError", "MapInvalidError",
    "MapSpecError", "MapSpecTooBigError", "MapSpecNotSupportedError", "MapPinError",
    "MapPermissionError", "MapBusyError", "MapNoSpaceError",
    "MapNotSupportedError", "MapBadFDError", "MapClosedError", "ENOTSUPP", "map_error",
]
