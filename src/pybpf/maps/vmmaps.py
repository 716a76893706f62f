"""The kernel's map types on the VM: which class implements each type, and the
factories that create a VM map from a MapSpec or over a pinned map's backing file.

The map classes live by family (vmbase: what they share; arraymap, hashmap, lpmtrie,
queuemaps, ringbuf, fdarray, redirect) and are re-exported here, where callers that
ask for "the VM's maps" import them from.
"""

from __future__ import annotations

from typing import Callable

from ..uapi import MapType
from .arraymap import ArrayMap
from .base import populate
from .errors import MapNotSupportedError
from .fdarray import ArrayOfMapsMap, HashOfMapsMap, PerfEventArrayMap, ProgArrayMap
from .hashmap import HashMap, LRUHashMap
from .lpmtrie import LPMTrieMap
from .queuemaps import BloomFilterMap, QueueStackMap
from .redirect import CpuMap, DevMap, DevMapHash, XskMap
from .ringbuf import RingBufMap
from .spec import MapSpec
from .vmbase import VMMap

_CLASSES: dict[int, Callable[..., VMMap]] = {
    MapType.ARRAY: ArrayMap,
    MapType.PERCPU_ARRAY: ArrayMap,
    MapType.HASH: HashMap,
    MapType.PERCPU_HASH: HashMap,
    MapType.LRU_HASH: LRUHashMap,
    MapType.LRU_PERCPU_HASH: LRUHashMap,
    MapType.LPM_TRIE: LPMTrieMap,
    MapType.QUEUE: QueueStackMap,
    MapType.STACK: QueueStackMap,
    MapType.BLOOM_FILTER: BloomFilterMap,
    MapType.RINGBUF: RingBufMap,
    MapType.PERF_EVENT_ARRAY: PerfEventArrayMap,
    MapType.PROG_ARRAY: ProgArrayMap,
    MapType.ARRAY_OF_MAPS: ArrayOfMapsMap,
    MapType.HASH_OF_MAPS: HashOfMapsMap,
    MapType.DEVMAP: DevMap,
    MapType.DEVMAP_HASH: DevMapHash,
    MapType.CPUMAP: CpuMap,
    MapType.XSKMAP: XskMap,
}

VM_MAP_TYPES = frozenset(_CLASSES)


class VMMapTypeError(MapNotSupportedError):
    """A map type the VM does not implement (the kernel may have it): said as the VM's
    limit, not as a kernel errno, though `errno` stays ENOTSUPP for callers."""

    def _message(self) -> str:
        return f"{self.op}: {self.detail}" if self.op else self.detail


def vm_map_type_names() -> list[str]:
    """The map types the VM implements, by their short names ("array", "hash", ...)."""
    return sorted(MapType(t).name.lower() for t in _CLASSES)


def vm_map_class(spec: MapSpec) -> Callable[..., VMMap]:
    cls = _CLASSES.get(spec.type_id)
    if cls is None:
        raise VMMapTypeError(f"{spec.type_name} maps are not implemented on the VM (use "
                             f"--backend kernel / instantiate('kernel'); the VM has "
                             f"{', '.join(vm_map_type_names())})", op="create")
    return cls


def create_vm_map(spec: MapSpec) -> VMMap:
    """A new VM map for `spec`, with its contents written and frozen if asked; closed
    again if any of that fails."""
    return populate(vm_map_class(spec)(spec), spec, "vm")


def attach_vm_map(spec: MapSpec, backing: str, frozen: bool = False) -> VMMap:
    """A VM map over an existing shared backing file (from a pin descriptor)."""
    m = vm_map_class(spec)(spec, backing=backing)
    m.frozen = frozen
    return m


__all__ = ["VM_MAP_TYPES", "ArrayMap", "ArrayOfMapsMap", "BloomFilterMap", "CpuMap", "DevMap",
           "DevMapHash", "HashMap", "HashOfMapsMap", "LPMTrieMap", "LRUHashMap",
           "PerfEventArrayMap", "ProgArrayMap", "QueueStackMap", "RingBufMap", "VMMap",
           "VMMapTypeError", "XskMap", "attach_vm_map", "create_vm_map", "vm_map_class",
           "vm_map_type_names"]


def open_pinned_vm_map(path: str) -> VMMap:
    """The VM map whose descriptor (pin.pin_vm_map) is at `path`: the same shared memory."""
    import os

    from .errors import MapKeyError
    from .pin import read_descriptor
    desc = read_descriptor(path)
    backing = desc["backing"]
    if not os.path.exists(backing):
        raise MapKeyError(f"the memory of the map pinned at {path} ({backing}) is gone",
                          op="from_pinned")
    return attach_vm_map(MapSpec.from_dict(desc["spec"]), backing, bool(desc.get("frozen")))
