"""BPF_PROG_TEST_RUN on the VM, dispatched to the family that models the program type
(xdp, skb, raw tracepoint), with the kernel's answer for the types it has no model of."""

from __future__ import annotations

from typing import Callable

from ..helpers import HelperRegistry
from ..isa import encode
from ..net.netdev import NetDevice
from ..net.netns import NetNamespace
from ..uapi import ProgType
from ..vm import VM
from . import skb as _skb
from . import tracing as _tracing
from . import xdp as _xdp
from .contexts.skb import SKB_PROG_TYPES
from .errors import ENOTSUPP, TestRunError, UnsupportedProgType
from .helpersets import helpers_for
from .runbase import RunArgs, TestRunResult
from .skbrunner import SkbRunner
from .task import Task

# Program types whose BPF_PROG_TEST_RUN the kernel implements but the VM does not model.
KERNEL_ONLY_TEST_RUN = frozenset([ProgType.FLOW_DISSECTOR, ProgType.TRACING,
                                  ProgType.STRUCT_OPS, ProgType.SK_LOOKUP, ProgType.SYSCALL,
                                  ProgType.NETFILTER, ProgType.LWT_SEG6LOCAL])


_PROG_TYPES = {int(t): t for t in ProgType}


def _vm(program: VM | bytes | bytearray, prog_type: ProgType,
        helpers: HelperRegistry | None) -> VM:
    if isinstance(program, VM):
        return program
    return VM(bytes(program), helpers=helpers_for(prog_type, helpers))


def _code(vm: VM) -> bytes:
    """The program's bytecode (for what reads it: raw tracepoints), encoded once."""
    code = vm.run_cache.get("code")
    if not isinstance(code, bytes):
        code = vm.run_cache["code"] = encode(vm.insns)
    return code


def test_run(program: VM | bytes | bytearray, prog_type: ProgType | int, *,
             data_in: bytes | None = None, ctx_in: bytes | None = None,
             data_size_out: int | None = None, ctx_size_out: int | None = None,
             repeat: int = 1, flags: int = 0, cpu: int = 0, batch_size: int = 0,
             expected_attach_type: int = 0, devices: dict[int, NetDevice] | None = None,
             helpers: HelperRegistry | None = None, task: Task | None = None,
             netns: NetNamespace | None = None) -> TestRunResult:
    """BPF_PROG_TEST_RUN on the VM. `program` is a VM (built with the type's helpers,
    see helpers_for) or bytecode (a VM is built with `helpers_for(prog_type, helpers)`).
    Arguments and defaults are those of pybpf.kernel.prog_test_run: data_size_out
    defaults to len(data_in) + 4096 (0: no data_out buffer), ctx_size_out to
    len(ctx_in) (0: no ctx_out buffer). `devices` is the network namespace the run
    sees (default: loopback only; host_devices() for this machine's); `netns` the whole
    network namespace the networking helpers consult (netns.read_netns() for the
    caller's), its devices taking the place of `devices`. `task` is the
    task a raw tracepoint runs in (default: `vm.task`, else the calling host thread).
    Raises TestRunError with the kernel's errno where the kernel refuses the run."""
    pt = _PROG_TYPES.get(prog_type) or ProgType(prog_type)
    if pt == ProgType.XDP and ctx_in is None and data_size_out is None and \
            ctx_size_out is None and repeat <= 1 and not flags and not cpu and \
            not batch_size and devices is None and netns is None and \
            type(data_in) is bytes and isinstance(program, VM):
        quick = _xdp.quick_test_run(program, data_in, expected_attach_type)
        if quick is not None:
            return quick
    args = RunArgs.make(data_in, ctx_in, data_size_out, ctx_size_out, repeat, flags, cpu,
                        batch_size)
    if pt == ProgType.XDP:
        vm = _vm(program, pt, helpers)
        return _xdp.test_run_xdp(vm, args, expected_attach_type=expected_attach_type,
                                 devices=devices, netns=netns)
    if pt in SKB_PROG_TYPES:
        vm = _vm(program, pt, helpers)
        return _skb.test_run_skb(vm, pt, args, devices=devices, netns=netns)
    if pt == ProgType.RAW_TRACEPOINT:
        vm = _vm(program, pt, helpers)
        return _tracing.test_run_raw_tp(vm, _code(vm), args, task)
    if pt in KERNEL_ONLY_TEST_RUN:
        raise UnsupportedProgType(f"test_run of {pt.name.lower()} is not modelled on the VM")
    raise TestRunError(ENOTSUPP, f"the kernel has no test_run for {pt.name.lower()}")


test_run.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported


def packet_runner(vm: VM, prog_type: ProgType | int, *, expected_attach_type: int = 0,
                  netns: NetNamespace | None = None) -> "Callable[[bytes], int] | None":
    """A per-packet test run of `vm` whose state is made once, for running a capture:
    `run(data) -> retval` (what test_run(vm, prog_type, data_in=data).retval gives,
    errors included), `run.output()` the data_out of the last packet. None for the
    program types that have no such runner (run test_run per packet)."""
    pt = _PROG_TYPES.get(prog_type) or ProgType(prog_type)
    runner: SkbRunner | _xdp.XdpRunner
    if pt in SKB_PROG_TYPES:
        runner = SkbRunner(vm, pt, netns)
        run = runner.run_packet
    elif pt == ProgType.XDP:
        xdp = runner = _xdp.XdpRunner(vm, expected_attach_type)

        def run(data: bytes) -> int:
            return xdp.run_packet(data, netns)
    else:
        return None

    def one(data: bytes) -> int:
        return run(data)
    one.output = runner.output  # type: ignore[attr-defined]  # read by run_batch
    return one
