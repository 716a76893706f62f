"""USDT probes (SystemTap SDT notes): the `.note.stapsdt` ELF notes of an executable or
shared library read into probes (provider, name, address, semaphore, argument text),
the argument text parsed into libbpf's argument specs (a constant, a register, or
memory at a register + offset; size and signedness), and those specs encoded as
usdt.bpf.h's `struct __bpf_usdt_spec`, which BPF programs written with BPF_USDT()
read their arguments from.

A note's descriptor is three addresses (the probe's, `.stapsdt.base`'s at link time,
the semaphore's or 0) and three strings (provider, name, arguments). Where the
file's `.stapsdt.base` moved since (prelink), the addresses move with it."""

from __future__ import annotations

import enum
import errno as _errno
import os
import re
import struct
from dataclasses import dataclass

from .errors import KernelError

NT_STAPSDT = 3
USDT_MAX_ARGS = 12  # usdt.bpf.h's BPF_USDT_MAX_ARG_CNT
SPEC_SIZE = 208  # sizeof(struct __bpf_usdt_spec): 12 * 16 + 8 + 2, aligned to 8


class UsdtError(KernelError):
    """A file without the USDT probe asked for, or a probe pybpf cannot read."""


@dataclass(frozen=True)
class UsdtNote:
    """One USDT probe site. `address`/`semaphore` are virtual addresses in the file
    (semaphore 0: none); `offset`/`semaphore_offset` the file offsets a uprobe and its
    reference counter take."""

    provider: str
    name: str
    address: int
    semaphore: int
    args: str
    offset: int
    semaphore_offset: int


class ArgKind(enum.IntEnum):
    """enum __bpf_usdt_arg_type."""

    CONST = 0
    REG = 1
    REG_DEREF = 2


@dataclass(frozen=True)
class UsdtArg:
    """One argument: CONST (value in `val_off`), REG (the register at `reg_off` of
    struct pt_regs), REG_DEREF (memory at that register + `val_off`); `size` bytes,
    `signed`."""

    kind: ArgKind
    val_off: int
    reg_off: int
    size: int
    signed: bool

    def pack(self) -> bytes:
        """struct __bpf_usdt_arg_spec (16 bytes): val_off, arg_type, reg_off,
        arg_signed, arg_bitshift (64 - bits: the bits cleared or sign-extended)."""
        return struct.pack("<QIh?b", self.val_off & (2**64 - 1), int(self.kind),
                           self.reg_off, self.signed, 64 - 8 * self.size)


# struct pt_regs of x86-64 (arch/x86/include/asm/ptrace.h): the offset of each register,
# with the names of its 32-, 16- and 8-bit parts (the low part is what USDT reads)
_X86_64_REGS: dict[int, tuple[str, ...]] = {
    0: ("r15", "r15d", "r15w", "r15b"), 8: ("r14", "r14d", "r14w", "r14b"),
    16: ("r13", "r13d", "r13w", "r13b"), 24: ("r12", "r12d", "r12w", "r12b"),
    32: ("rbp", "ebp", "bp", "bpl"), 40: ("rbx", "ebx", "bx", "bl"),
    48: ("r11", "r11d", "r11w", "r11b"), 56: ("r10", "r10d", "r10w", "r10b"),
    64: ("r9", "r9d", "r9w", "r9b"), 72: ("r8", "r8d", "r8w", "r8b"),
    80: ("rax", "eax", "ax", "al"), 88: ("rcx", "ecx", "cx", "cl"),
    96: ("rdx", "edx", "dx", "dl"), 104: ("rsi", "esi", "si", "sil"),
    112: ("rdi", "edi", "di", "dil"), 128: ("rip", "eip"),
    152: ("rsp", "esp", "sp", "spl"),
}
X86_64_PT_REGS = {name: off for off, names in _X86_64_REGS.items() for name in names}

_ARG_DEREF = re.compile(r"(-?\d+)@(-?(?:0x[0-9a-fA-F]+|\d+))?\(%(\w+)\)")
_ARG_REG = re.compile(r"(-?\d+)@%(\w+)")
_ARG_CONST = re.compile(r"(-?\d+)@\$(-?(?:0x[0-9a-fA-F]+|\d+))")


def parse_usdt_args(text: str, regs: dict[str, int] | None = None) -> list[UsdtArg]:
    """The argument specs of a note's argument text ("-4@-4(%rbp) 8@%rax -4@$5"), in
    the x86-64 syntax of `regs` (default x86-64 pt_regs offsets)."""
    table = X86_64_PT_REGS if regs is None else regs
    args: list[UsdtArg] = []
    for item in text.split():
        found = [(m, k) for p, k in ((_ARG_DEREF, ArgKind.REG_DEREF), (_ARG_REG, ArgKind.REG),
                                     (_ARG_CONST, ArgKind.CONST)) if (m := p.fullmatch(item))]
        if not found:
            raise UsdtError(_errno.EINVAL, "usdt", f"argument {item!r} of {text!r}: not "
                            "<size>@<location> as pybpf reads it (x86-64: $imm, %reg, "
                            "off(%reg))")
        m, kind = found[0]
        size = int(m.group(1))
        if abs(size) not in (1, 2, 4, 8):
            raise UsdtError(_errno.EINVAL, "usdt", f"argument {item!r}: size {size} is not "
                            "1, 2, 4 or 8 bytes")
        if kind is ArgKind.CONST:
            val, reg = int(m.group(2), 0), 0
        else:
            regname = m.group(3) if kind is ArgKind.REG_DEREF else m.group(2)
            if regname not in table:
                raise UsdtError(_errno.EINVAL, "usdt", f"argument {item!r}: unknown "
                                f"register {regname!r}")
            reg = table[regname]
            val = int(m.group(2), 0) if kind is ArgKind.REG_DEREF and m.group(2) else 0
        args.append(UsdtArg(kind, val, reg, abs(size), size < 0))
    if len(args) > USDT_MAX_ARGS:
        raise UsdtError(_errno.E2BIG, "usdt", f"{len(args)} arguments in {text!r}: "
                        f"usdt.bpf.h reads at most {USDT_MAX_ARGS}")
    return args


def pack_usdt_spec(args: list[UsdtArg], cookie: int = 0) -> bytes:
    """struct __bpf_usdt_spec: 12 argument specs, usdt_cookie, arg_cnt."""
    body = b"".join(a.pack() for a in args) + bytes(16 * (USDT_MAX_ARGS - len(args)))
    return (body + struct.pack("<Qh", cookie & (2**64 - 1), len(args))).ljust(SPEC_SIZE, b"\0")


def _file_offset(segments: list[tuple[int, int, int]], vaddr: int) -> int | None:
    for p_vaddr, p_memsz, p_offset in segments:
        if p_vaddr <= vaddr < p_vaddr + p_memsz:
            return vaddr - p_vaddr + p_offset
    return None


def _notes(data: bytes, little: bool, addr_size: int) -> list[tuple[int, int, int, bytes]]:
    """(pc, base, semaphore, strings) of every stapsdt note in a .note.stapsdt section."""
    e = "<" if little else ">"
    word = "Q" if addr_size == 8 else "I"
    out = []
    pos = 0
    while pos + 12 <= len(data):
        namesz, descsz, ntype = struct.unpack_from(e + "III", data, pos)
        pos += 12
        name = data[pos:pos + namesz]
        pos += (namesz + 3) & ~3
        desc = data[pos:pos + descsz]
        pos += (descsz + 3) & ~3
        if len(desc) < descsz:
            raise UsdtError(_errno.ENOEXEC, "usdt", "a .note.stapsdt note runs past its "
                            "section")
        if ntype != NT_STAPSDT or name.rstrip(b"\0") != b"stapsdt" or descsz < 3 * addr_size:
            continue
        pc, base, sema = struct.unpack_from(e + 3 * word, desc, 0)
        out.append((pc, base, sema, desc[3 * addr_size:]))
    return out


def read_usdt_notes(path: str | os.PathLike[str]) -> list[UsdtNote]:
    """Every USDT probe in ELF file `path` (pyelftools), with its file offsets."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    p = os.fspath(path)
    try:
        with open(p, "rb") as f:
            elf = ELFFile(f)
            sec = elf.get_section_by_name(".note.stapsdt")
            if sec is None:
                return []
            little = elf.little_endian
            addr_size = elf.elfclass // 8
            raw = _notes(sec.data(), little, addr_size)
            base_sec = elf.get_section_by_name(".stapsdt.base")
            base_now = base_sec["sh_addr"] if base_sec is not None else None
            segments = [(s["p_vaddr"], s["p_memsz"], s["p_offset"])
                        for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
    except OSError as e:
        raise UsdtError(e.errno or _errno.EIO, "usdt", f"{p}: {e.strerror}") from None
    except ELFError as e:
        raise UsdtError(_errno.ENOEXEC, "usdt", f"{p}: not an ELF file ({e})") from None
    notes = []
    for pc, base, sema, strings in raw:
        parts = strings.split(b"\0")
        if len(parts) < 3:
            raise UsdtError(_errno.ENOEXEC, "usdt", f"{p}: a stapsdt note without provider, "
                            "name and arguments")
        if base_now is not None and base:
            pc += base_now - base
            if sema:
                sema += base_now - base
        off = _file_offset(segments, pc)
        if off is None:
            raise UsdtError(_errno.ENOEXEC, "usdt", f"{p}: USDT address {pc:#x} lies in no "
                            "PT_LOAD segment")
        sema_off = _file_offset(segments, sema) if sema else 0
        notes.append(UsdtNote(parts[0].decode(errors="replace"),
                              parts[1].decode(errors="replace"), pc, sema,
                              parts[2].decode(errors="replace"), off, sema_off or 0))
    return notes
