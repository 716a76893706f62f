"""The bpf(2) ABI: UAPI constants and the ctypes layouts of the `union bpf_attr` members.

Everything here is generated from the kernel's BTF (`pybpf.uapi`: enums and the
recorded `#define`s; `pybpf.uapi_structs`: the structs), re-exported under the names
pybpf.kernel has always used. Each attr Structure is one member of `union bpf_attr`,
laid out exactly as the UAPI on 64-bit Linux (x86_64, aarch64), so it can be passed to
bpf(2) with its own size: the kernel zero-extends a short attr and requires any tail
it does not know to be 0.
"""

from __future__ import annotations

import ctypes

from ..uapi import *  # noqa: F401,F403  (the UAPI enums and constants)
from ..uapi_structs import *  # noqa: F401,F403  (the attr and info structs)


def raw_bytes(obj: ctypes.Structure | ctypes.Union) -> ctypes.Array:
    """A writable u8 array over a ctypes struct or union (its bytes in place), for the
    per-type unions (`BpfLinkInfo.extra`, `LinkCreateAttr.extra`) read or filled raw."""
    return (ctypes.c_uint8 * ctypes.sizeof(obj)).from_buffer(obj)

