"""Run raw conformance-style bytecode on the kernel, returning the full 64-bit r0.

BPF_PROG_TEST_RUN only reports a program's 32-bit return value, so (like the
bpf_conformance libbpf plugin) the program is wrapped:

* it is loaded as XDP, which gives direct packet access: a prolog loads r1 = packet
  data and r2 = its length from the xdp_md context and checks the bound so the
  verifier lets the program access those bytes (with no memory: r1 = r2 = 0);
* every `exit` of the main function (not of BPF-to-BPF subprograms) becomes a jump
  to an epilog, at the end of the main function, that stores r0 into element 0 of
  an array map (8-byte value, via an lddw with BPF_PSEUDO_MAP_FD) and exits;
* every jump offset and local-call/pseudo-func immediate is fixed up for the
  inserted slots (lddw is two slots).

The value is then read back from the map.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import RunError
from ..isa import (BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC, BPF_PSEUDO_MAP_FD, OPCODE_CALL,
                   OPCODE_EXIT, OPCODE_LDDW, Instruction, jump_target)
from .abi import BPF_MAP_TYPE_ARRAY, BPF_PROG_TYPE_XDP, XDP_PASS
from .fd import Owner
from .maps import Map
from .progs import prog_load

_SLOT = struct.Struct("<BBhi")

ETH_HLEN = 14  # XDP test runs need at least an Ethernet header's worth of data
MAX_MEM = 3072
"""Memory every kernel takes: an XDP test run puts at most a page less its headroom
(XDP_PACKET_HEADROOM, 256) and tailroom (struct skb_shared_info, about 320 bytes) in
the packet's linear data, where direct packet access reaches; the rest goes to
fragments, which it does not. RawRunner.max_mem asks the running kernel for its
exact figure (3520 with 4 KiB pages on x86-64)."""

_OP_LDDW = OPCODE_LDDW
_OP_EXIT = OPCODE_EXIT
_OP_CALL = OPCODE_CALL
_PSEUDO_CALL = BPF_PSEUDO_CALL
_PSEUDO_FUNC = BPF_PSEUDO_FUNC


def _slot(opcode: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return Instruction(opcode, dst, src, off, imm).encode()


def _lddw(dst: int, src: int, imm: int, imm2: int = 0) -> bytes:
    return Instruction(_OP_LDDW, dst, src, 0, imm, imm2).encode()


def prolog(mem_len: int) -> bytes:
    """Set r1 = packet data and r2 = mem_len, with the packet bound proven to the
    verifier (r1 = r2 = 0 for no memory)."""
    if mem_len <= 0:
        return _slot(0xB7, 1) + _slot(0xB7, 2)  # mov r1, 0; mov r2, 0
    return b"".join([
        _slot(0x61, 2, 1, 4),          # r2 = *(u32 *)(r1 + 4)   xdp_md->data_end
        _slot(0x61, 1, 1, 0),          # r1 = *(u32 *)(r1 + 0)   xdp_md->data
        _slot(0x07, 1, 0, 0, mem_len),  # r1 += len
        _slot(0xBD, 1, 2, 2),          # if r1 <= r2 goto +2
        _slot(0xB7, 0),                # r0 = 0
        _slot(_OP_EXIT),               # exit (packet too short; cannot happen)
        _slot(0x07, 1, 0, 0, -mem_len),  # r1 -= len   (keeps the proven range)
        _slot(0xB7, 2, 0, 0, mem_len),  # r2 = len
    ])


def epilog(map_fd: int) -> bytes:
    """Store r0 into element 0 of the result map, then exit with XDP_PASS."""
    return b"".join([
        _slot(0xBF, 6, 0),             # r6 = r0
        _slot(0x62, 10, 0, -4, 0),     # *(u32 *)(r10 - 4) = 0   the key
        _slot(0xBF, 2, 10),            # r2 = r10
        _slot(0x07, 2, 0, 0, -4),      # r2 += -4
        _lddw(1, BPF_PSEUDO_MAP_FD, map_fd),  # r1 = the map
        _slot(_OP_CALL, 0, 0, 0, 1),   # call bpf_map_lookup_elem
        _slot(0x15, 0, 0, 1, 0),       # if r0 == 0 goto +1
        _slot(0x7B, 0, 6, 0),          # *(u64 *)(r0 + 0) = r6
        _slot(0xB7, 0, 0, 0, XDP_PASS),  # r0 = XDP_PASS
        _slot(_OP_EXIT),               # exit
    ])


def _target(opcode: int, src: int, off: int, imm: int, pc: int) -> int | None:
    """The slot a jump, local call or pseudo-func lddw at `pc` refers to, else None."""
    return jump_target(Instruction(opcode, 0, src, off, imm), pc)


def _is_plain_exit(slot: list[int]) -> bool:
    """An `exit` with every reserved field zero (others are left for the kernel to
    reject)."""
    return slot == [_OP_EXIT, 0, 0, 0]


def wrap(code: bytes, mem_len: int, map_fd: int) -> bytes:
    """The program to load: prolog + `code` with main-function exits redirected to
    the epilog (inserted at the end of the main function) + the subprograms, every
    relative offset fixed up."""
    if len(code) % 8:
        raise ValueError(f"code length {len(code)} is not a multiple of 8")
    slots = [list(_SLOT.unpack_from(code, i)) for i in range(0, len(code), 8)]
    n = len(slots)
    second = set()  # second halves of lddw: data, not instructions
    pc = 0
    while pc < n:
        if slots[pc][0] == _OP_LDDW:
            second.add(pc + 1)
            pc += 2
        else:
            pc += 1
    # The main function ends where the first subprogram starts.
    main_end = n
    for pc, (opcode, regs, _off, imm) in enumerate(slots):
        if pc in second:
            continue
        if (opcode == _OP_CALL and regs >> 4 == _PSEUDO_CALL) or \
                (opcode == _OP_LDDW and regs >> 4 == _PSEUDO_FUNC):
            t = pc + 1 + imm
            if 0 < t < main_end:
                main_end = t
    pro = prolog(mem_len)
    # Without a plain exit in the main function nothing would reach an epilog (the
    # verifier would call it unreachable), so then none is added.
    epi = epilog(map_fd) if any(
        _is_plain_exit(slots[pc]) for pc in range(main_end) if pc not in second) else b""
    p, e = len(pro) // 8, len(epi) // 8
    epi_pc = p + main_end

    def new_pc(old: int) -> int:
        return old + p + (e if old >= main_end else 0)

    out = []
    for pc, (opcode, regs, off, imm) in enumerate(slots):
        if pc in second:
            out.append(_SLOT.pack(opcode, regs, off, imm))
            continue
        if pc < main_end and _is_plain_exit(slots[pc]):
            rel = epi_pc - new_pc(pc) - 1
            out.append(_slot(0x05, 0, 0, rel, 0) if -0x8000 <= rel <= 0x7FFF
                       else _slot(0x06, 0, 0, 0, rel))  # ja / gotol
            continue
        t = _target(opcode, regs >> 4, off, imm, pc)
        if t is not None:
            rel = new_pc(t) - new_pc(pc) - 1
            uses_imm = opcode in (_OP_CALL, _OP_LDDW) or opcode == 0x06
            if uses_imm:
                imm = rel
            elif -0x8000 <= rel <= 0x7FFF:
                off = rel
            else:
                raise ValueError(f"jump at pc {pc} is out of 16-bit range after wrapping")
        out.append(_SLOT.pack(opcode, regs, off, imm))
    body = b"".join(out)
    split = main_end * 8
    return pro + body[:split] + epi + body[split:]


class MemoryTooLargeError(RunError, ValueError):
    """Input memory larger than the kernel's test run can give a raw program in one
    piece (a ValueError too, as it was)."""


def _linear_probe() -> bytes:
    """An XDP program returning data_end - data: the packet's linear length."""
    return b"".join([
        _slot(0x61, 2, 1, 4),   # r2 = *(u32 *)(r1 + 4)   xdp_md->data_end
        _slot(0x61, 1, 1, 0),   # r1 = *(u32 *)(r1 + 0)   xdp_md->data
        _slot(0xBF, 0, 2),      # r0 = r2
        _slot(0x1F, 0, 1),      # r0 -= r1
        _slot(_OP_EXIT),
    ])


@dataclass(frozen=True)
class RawResult:
    """One wrapped run: the full 64-bit r0, the XDP return value of the wrapper, the
    packet after the run (the input memory, possibly written) and the time (ns)."""

    r0: int
    retval: int
    mem_out: bytes
    duration: int


class RawRunner(Owner):
    """Runs raw programs through BPF_PROG_TEST_RUN, reusing one result map."""

    def __init__(self) -> None:
        self.map = Map.create(BPF_MAP_TYPE_ARRAY, 4, 8, 1, name="pybpf_r0")
        self._fd = self.map._fd
        self._max_mem: int | None = None

    @property
    def max_mem(self) -> int:
        """The most input memory this kernel's XDP test run gives a program in one
        piece (its linear packet data), asked of the kernel once per runner; MAX_MEM
        if the kernel will not say."""
        if self._max_mem is None:
            from .errors import KernelError
            self._max_mem = MAX_MEM
            try:
                with prog_load(BPF_PROG_TYPE_XDP, _linear_probe(), "GPL",
                               name="pybpf_linear") as prog:
                    self._max_mem = max(MAX_MEM, prog.test_run(bytes(2 * 4096)).retval)
            except KernelError:
                pass
        return self._max_mem

    def run(self, code: bytes, mem: bytes | None = None, *, log_level: int = 0,
            repeat: int = 1) -> RawResult:
        """Load `code` wrapped (see the module doc) and run it on `mem` (`repeat` times;
        `duration` is the kernel's mean ns per run).
        KernelVerifierError (with the log) if the kernel rejects it."""
        mem = bytes(mem or b"")
        if len(mem) > MAX_MEM and len(mem) > self.max_mem:
            raise MemoryTooLargeError(
                f"memory of {len(mem)} bytes is more than the kernel runs a raw program on: "
                f"its XDP test run (BPF_PROG_TEST_RUN) puts at most {self.max_mem} bytes "
                "in the packet's linear data, the rest in fragments that direct packet "
                "access cannot reach (run it on the VM backend instead)")
        try:
            prog_code = wrap(bytes(code), len(mem), self.map.fd)
        except ValueError as e:  # a jump the wrapper's inserted slots put out of range
            raise RunError(f"cannot run this program in the kernel: {e}") from None
        sentinel = 0xDEAD_BEEF_DEAD_BEEF
        self.map.update(0, sentinel.to_bytes(8, "little"))
        with prog_load(BPF_PROG_TYPE_XDP, prog_code, "GPL", name="pybpf_raw",
                       log_level=log_level) as prog:
            data = mem + bytes(max(0, ETH_HLEN - len(mem)))
            res = prog.test_run(data, repeat=repeat)
        r0 = int.from_bytes(self.map.lookup(0), "little")
        return RawResult(r0, res.retval, res.data_out[:len(mem)], res.duration)


def run_raw(code: bytes, mem: bytes | None = None) -> int:
    """Run raw bytecode (as in the bpf_conformance vectors) on the kernel and return
    the full 64-bit r0 at exit. `mem` is the input memory: r1 points to a copy and r2
    holds its length (r1 = r2 = 0 without it). Raises KernelVerifierError (with the
    verifier log) when the kernel rejects the program."""
    with RawRunner() as runner:
        return runner.run(code, mem).r0
