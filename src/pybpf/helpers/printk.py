"""bpf_trace_printk, bpf_trace_vprintk and bpf_snprintf on the VM.

Where a %s or %pI4 argument reads from (user memory below TASK_SIZE, kernel memory
above it) is the task's business: the helpers are the methods of a `Printk` given the
readers of a call from above (pybpf.progtypes.task.format_memory)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable

from ..isa import M32, M64
from .access import charge, charge_bytes, destination, read_bytes, read_cstr, write_bytes
from .printf import (EINVAL, MAX_BPRINTF_BIN_ARGS, MAX_BPRINTF_BUF, MAX_BPRINTF_VARARGS,
                     MAX_TRACE_PRINTK_VARARGS, FormatError, bprintf_prepare,
                     bstr_printf_capped)
from .registry import HelperContext, HelperFn

StringReader = Callable[[str, int, int], tuple[int, bytes]]
KernelReader = Callable[[int, int], "bytes | None"]
# the string and kernel-byte readers of the printf helpers for one call
FormatMemory = Callable[[HelperContext], tuple[StringReader, KernelReader]]

FORMAT_LIMIT = 1 << 20  # longest bpf_snprintf format read (a constant string in a map)


def cpu_buffer(ctx: HelperContext) -> bytearray:
    """The VM's bpf_trace_printk output buffer (its `printk_buf`), kept from call to
    call as the kernel's per-CPU one is: a %pB that leaves the arguments past the end of
    their buffer makes bstr_printf read on into it. A fresh one where the VM has none."""
    buf = getattr(getattr(ctx, "vm", None), "printk_buf", None)
    if isinstance(buf, bytearray) and len(buf) == MAX_BPRINTF_BUF:
        return buf
    return bytearray(MAX_BPRINTF_BUF)


@dataclass(frozen=True)
class Printk:
    """The formatted-output helpers, reading their string arguments through
    `format_memory(ctx)`."""

    format_memory: FormatMemory

    def _printk(self, ctx: HelperContext, fmt: int, fmt_size: int, args: list[int],
                num_args: int) -> int:
        """What bpf_trace_printk and bpf_trace_vprintk share: the format must hold its NUL
        within fmt_size bytes; the message (at most 1023 bytes, cut at a NUL a %c printed)
        goes to the VM's `trace_pipe`; the untruncated length, or -EINVAL / -ENOSPC."""
        raw = read_bytes(ctx, fmt, fmt_size & M32)
        nul = raw.find(b"\0")
        if nul < 0:
            return (-EINVAL) & M64
        charge(ctx, nul)  # bprintf_prepare looks at each byte of the format
        read_str, read_kernel = self.format_memory(ctx)
        cpu = cpu_buffer(ctx)
        spill = cpu + bytearray(MAX_BPRINTF_BIN_ARGS)
        try:
            bin_args = bprintf_prepare(raw[:nul], args, num_args, read_str, read_kernel,
                                       spill)
        except FormatError as e:
            cpu[:] = spill[:MAX_BPRINTF_BUF]  # what it wrote past the arguments stays
            return (-e.errno) & M64
        # the output goes to the buffer just after the arguments, which reads past
        # their end see
        text, length = bstr_printf_capped(raw[:nul], bin_args, MAX_BPRINTF_BUF,
                                          MAX_BPRINTF_BUF, MAX_BPRINTF_BIN_ARGS)
        cpu[:] = spill[:MAX_BPRINTF_BUF]
        cpu[:len(text)] = text
        cpu[min(length, MAX_BPRINTF_BUF - 1)] = 0
        charge_bytes(ctx, len(text))
        pipe = getattr(getattr(ctx, "vm", None), "trace_pipe", None)
        if pipe is not None:
            pipe.append(text[:MAX_BPRINTF_BUF - 1].split(b"\0", 1)[0].decode("latin-1"))
        return length

    def trace_printk(self, ctx: HelperContext, fmt: int, fmt_size: int, a1: int, a2: int,
                     a3: int) -> int:
        """bpf_trace_printk(fmt, fmt_size, a1, a2, a3): up to 3 arguments."""
        return self._printk(ctx, fmt, fmt_size, [a1, a2, a3], MAX_TRACE_PRINTK_VARARGS)

    def trace_vprintk(self, ctx: HelperContext, fmt: int, fmt_size: int, data: int,
                      data_len: int, _r5: int) -> int:
        """bpf_trace_vprintk(fmt, fmt_size, data, data_len): up to 12 u64 arguments at
        `data`; -EINVAL for a data_len that is not a multiple of 8 or above 96."""
        n = data_len & M32
        if n % 8 or n > 8 * MAX_BPRINTF_VARARGS or (n and not data):
            return (-EINVAL) & M64
        args = list(struct.unpack(f"<{n // 8}Q", read_bytes(ctx, data, n))) if n else []
        return self._printk(ctx, fmt, fmt_size, args, n // 8)

    def snprintf(self, ctx: HelperContext, out: int, out_size: int, fmt: int, data: int,
                 data_len: int) -> int:
        """bpf_snprintf(str, str_size, fmt, data, data_len): arguments are u64s at `data`;
        writes at most str_size bytes with a NUL; returns the length the whole string
        needs including the NUL, or -EINVAL / -ENOSPC."""
        size = out_size & M32
        destination(ctx, out, size)
        n = data_len & M32
        if n % 8 or n > 8 * MAX_BPRINTF_VARARGS or (n and not data):
            return (-EINVAL) & M64
        args = list(struct.unpack(f"<{n // 8}Q", read_bytes(ctx, data, n))) if n else []
        text_fmt = read_cstr(ctx, fmt, FORMAT_LIMIT)
        charge(ctx, len(text_fmt))  # bprintf_prepare looks at each byte of the format
        read_str, read_kernel = self.format_memory(ctx)
        cpu = cpu_buffer(ctx)  # printed elsewhere, but the arguments spill into it
        spill = cpu + bytearray(MAX_BPRINTF_BIN_ARGS)
        try:
            bin_args = bprintf_prepare(text_fmt, args, n // 8, read_str, read_kernel, spill)
        except FormatError as e:
            return (-e.errno) & M64
        finally:
            cpu[:] = spill[:MAX_BPRINTF_BUF]
        text, length = bstr_printf_capped(text_fmt, bin_args, size, size)
        if size:
            charge_bytes(ctx, size)
            write_bytes(ctx, out, text[:size - 1] + b"\0")
        return length + 1

    def helpers(self) -> dict[str, HelperFn]:
        """The helpers by kernel name (without `bpf_`)."""
        return {"trace_printk": self.trace_printk, "trace_vprintk": self.trace_vprintk,
                "snprintf": self.snprintf}


def printk_helpers(format_memory: FormatMemory) -> dict[str, HelperFn]:
    """bpf_trace_printk, bpf_trace_vprintk and bpf_snprintf by name, reading strings
    through `format_memory`."""
    return Printk(format_memory).helpers()
