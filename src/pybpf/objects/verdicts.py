"""What a program's return value means for a packet: its verdict's name, whether the
packet goes on, and the frame kept of it (for `pybpf run --pcap` and --pcap-out)."""

from __future__ import annotations

from typing import Callable

from .. import uapi
from ..uapi import ProgType

# the verdicts by number, from the kernel's names (pybpf.uapi)
XDP_VERDICTS = {getattr(uapi, n): n for n in ("XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX",
                                             "XDP_REDIRECT")}
TC_VERDICTS = {getattr(uapi, n): n for n in (
    "TC_ACT_UNSPEC", "TC_ACT_OK", "TC_ACT_RECLASSIFY", "TC_ACT_SHOT", "TC_ACT_PIPE",
    "TC_ACT_STOLEN", "TC_ACT_QUEUED", "TC_ACT_REPEAT", "TC_ACT_REDIRECT", "TC_ACT_TRAP")}


def verdict_name(prog_type: int, retval: int) -> str:
    """What a return value means for the program type (`XDP_PASS`, `TC_ACT_SHOT`, ...)."""
    signed = retval - (1 << 32) if retval >= 1 << 31 else retval
    if prog_type == ProgType.XDP:
        return XDP_VERDICTS.get(retval, f"XDP_{retval}")
    if prog_type in (ProgType.SCHED_CLS, ProgType.SCHED_ACT):
        return TC_VERDICTS.get(signed, f"TC_ACT_{signed}")
    if prog_type == ProgType.SOCKET_FILTER:
        return "drop" if retval == 0 else f"keep {retval} bytes"
    if prog_type == ProgType.CGROUP_SKB:
        return {0: "deny", 1: "allow"}.get(retval, str(retval))
    return str(signed)


def passed_frame(prog_type: int, retval: int, output: Callable[[], bytes],
                 data: bytes) -> bytes:
    """The frame kept of a packet that passes (for --pcap-out): what its run left
    (`output()`; the packet itself when that is empty), or a socket filter's first
    `retval` bytes of the packet."""
    if prog_type == ProgType.SOCKET_FILTER:
        return data[:retval]
    return output() or data


def passes(prog_type: int, retval: int) -> bool:
    """Whether the packet goes on (for --pcap-out)."""
    signed = retval - (1 << 32) if retval >= 1 << 31 else retval
    if prog_type == ProgType.XDP:
        return retval == uapi.XDP_PASS
    if prog_type in (ProgType.SCHED_CLS, ProgType.SCHED_ACT):
        return signed in (-1, 0)
    return retval != 0
