"""XDP batch runs in native code: the XDP page, xdp_buff and xdp_md of an XdpRunner
described for pybpf.jit.batch, so that a JIT-compiled XDP program runs a capture's
packets without Python between them (each packet as BPF_PROG_TEST_RUN gives it:
loopback, rx queue 0, XDP_PACKET_HEADROOM bytes of headroom, no fragments)."""

from __future__ import annotations

from typing import Any

from ..net.netns import NetNamespace
from ..uapi import XDP_PASS, XDP_PACKET_HEADROOM, AttachType
from ..vm import VM
from .ctx import FieldKind
from .runbase import ETH_HLEN
from .xdp import _ZERO_MD, XdpRunner

_VALUES = {FieldKind.PACKET: "DATA", FieldKind.PACKET_END: "DATA_END",
           FieldKind.PACKET_META: "DATA_META"}


def xdp_batch(vm: VM, expected_attach_type: int, *, netns: NetNamespace | None = None,
              want_frames: bool = False) -> "tuple[Any, XdpRunner] | None":
    """A pybpf.jit.batch.NativeBatch of `vm` (a JitVM with native code) over a runner
    of its own, and that runner; None where the batch cannot run the program (no
    native code, maps of maps mounted per run, devmap and cpumap programs)."""
    from ..jit.machine import JitVM
    if not isinstance(vm, JitVM) or vm.native is None or vm._map_regions is None or \
            expected_attach_type in (AttachType.XDP_DEVMAP, AttachType.XDP_CPUMAP):
        return None
    from ..jit.batch import NativeBatch, PacketSetup
    from ..jit.batch_ir import FieldValue
    runner = XdpRunner(vm, expected_attach_type)
    runner.reset(bytes(ETH_HLEN), XDP_PACKET_HEADROOM, ETH_HLEN, netns)
    access = runner.access
    spec = access.spec
    fields: list[tuple[FieldValue, int] | None] = []
    for off in range(0, min(spec.size, 24), 4):
        f = spec.field_at(off)
        try:
            spec.check(off, 4, False)
        except ValueError:
            fields.append(None)  # Python raises the access's error
            continue
        assert f is not None
        if f.kind in _VALUES:
            fields.append((FieldValue[_VALUES[f.kind]], 0))
        elif f.kind is FieldKind.VALUE:
            fields.append((FieldValue.CONST, access.load(off, 4, -1)))
        else:
            fields.append(None)
    x = runner.x
    fresh_fields = dict(runner._fresh)
    if netns is not None:
        fresh_fields["netns"] = netns
    md = runner._md

    def fresh() -> None:
        if x.frags:
            x.frags = []
        x.__dict__.update(fresh_fields)
        if md is not None:
            md[:] = _ZERO_MD

    def window_in(meta: int, data: int, end: int) -> None:
        x.data_meta, x.data, x.data_end = meta, data, end

    def window_out() -> tuple[int, int, int]:
        return x.data_meta, x.data, x.data_end

    setup = PacketSetup(
        page=runner.buf, headroom=XDP_PACKET_HEADROOM, min_len=ETH_HLEN,
        max_len=runner.max_linear, pkt_base=access.packet.base, pkt_writable=True,
        ctx_base=runner.r1, ctx_fields=fields, pass_value=XDP_PASS, fresh=fresh,
        window_in=window_in, window_out=window_out)
    return NativeBatch(vm, runner.memory, runner.bound.stack_tops, setup,
                       want_frames=want_frames), runner


__all__ = ["xdp_batch"]
