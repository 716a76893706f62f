"""Raw tracepoints and BTF-typed tracing programs: BPF_RAW_TRACEPOINT_OPEN, which
returns a link fd."""

from __future__ import annotations

import ctypes

from .. import abi
from ..abi import BpfCmd
from ..fd import FD, Owner, fd_of
from ..syscall import bpf
from .base import Link, link_info_of


class RawTracepointLink(Link):
    """The link BPF_RAW_TRACEPOINT_OPEN returns; closing it detaches the program."""

    kind = "raw_tracepoint"

    def __init__(self, fd: FD, name: str, kind: str = "raw_tracepoint") -> None:
        super().__init__(fd, kind, name)

    def __repr__(self) -> str:
        return f"<RawTracepointLink {self.target}{' closed' if self.closed else ''}>"


def attach_raw_tracepoint(prog: "int | FD | Owner", name: str, *,
                          cookie: int = 0) -> RawTracepointLink:
    """Attach a BPF_PROG_TYPE_RAW_TRACEPOINT program to raw tracepoint `name`
    (e.g. "sys_enter") with BPF_RAW_TRACEPOINT_OPEN."""
    buf = ctypes.create_string_buffer(name.encode())
    attr = abi.RawTracepointOpenAttr(name=ctypes.addressof(buf), prog_fd=fd_of(prog), cookie=cookie)
    fd = bpf(BpfCmd.RAW_TRACEPOINT_OPEN, attr, f"raw tracepoint {name}")
    return RawTracepointLink(FD(fd, "link"), name)


def attach_tracing(prog: "int | FD | Owner", target: str = "", *,
                   cookie: int = 0) -> RawTracepointLink:
    """Attach a BTF-typed program (tp_btf, fentry, fexit, fmod_ret, lsm) to the target
    it was loaded for (its attach_btf_id) with BPF_RAW_TRACEPOINT_OPEN and no name;
    `target` only labels the link."""
    attr = abi.RawTracepointOpenAttr(name=0, prog_fd=fd_of(prog), cookie=cookie)
    fd = bpf(BpfCmd.RAW_TRACEPOINT_OPEN, attr, f"BTF target {target}" if target else "")
    link = RawTracepointLink(FD(fd, "link"), target, kind="tracing")
    # tp_btf programs get a raw_tracepoint link, fentry/fexit/lsm a tracing one
    link.kind = link_info_of(link).kind
    return link
