"""The kernel's printf for BPF: bpf_bprintf_prepare's format check and argument buffer,
and bstr_printf's output (lib/vsprintf.c), as pure functions of bytes. The helpers
that use them (bpf_trace_printk, bpf_snprintf) are in pybpf.helpers.printk."""

from __future__ import annotations

import re
from typing import Callable

from ..isa import M32, M64

EINVAL = 22
ENOSPC = 28
MAX_BPRINTF_BIN_ARGS = 512  # bytes of argument data one call may carry (strings included)
MAX_BPRINTF_BUF = 1024  # bpf_trace_printk's output buffer
# what lies past the argument buffer in the kernel's per-CPU buffers: the output buffer
# of the same nest level, then the next level's argument buffer (unused: zeros)
BPRINTF_SPILL = MAX_BPRINTF_BUF + MAX_BPRINTF_BIN_ARGS
MAX_TRACE_PRINTK_VARARGS = 3
MAX_BPRINTF_VARARGS = 12
# the kernel's ctype classes (lib/ctype.c: ASCII plus Latin-1)
_SPACE = frozenset(b" \t\n\v\f\r\xa0")
_PUNCT = frozenset(b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\xd7\xf7") | frozenset(range(0xA1, 0xC0))
_ALNUM = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") | \
    frozenset(range(0xC0, 0x100)) - {0xD7, 0xF7}
_ENOSPC_TEXT = "the arguments exceed the 512-byte argument buffer"
_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")  # ASCII controls but the spaces


class FormatError(Exception):
    """A format the kernel's bpf_bprintf_prepare refuses: `errno` is EINVAL (bad format,
    more conversions than arguments) or ENOSPC (the arguments exceed 512 bytes)."""

    def __init__(self, err: int, reason: str) -> None:
        super().__init__(reason)
        self.errno = err


def _ip_text(kind: bytes, raw: bytes) -> bytes:
    """%pI4 %pi4 %pI6 %pi6 as lib/vsprintf.c prints them (i: zero-padded / no colons)."""
    if kind[1:] == b"4":
        return (".".join(("%03d" if kind[:1] == b"i" else "%d") % b for b in raw)).encode()
    groups = [raw[i:i + 2].hex() for i in range(0, 16, 2)]
    return ("".join(groups) if kind[:1] == b"i" else ":".join(groups)).encode()


def bprintf_prepare(fmt: bytes, raw_args: list[int], num_args: int,
                    read_str: Callable[[str, int, int], tuple[int, bytes]],
                    read_kernel: Callable[[int, int], bytes | None],
                    spill: bytearray | None = None) -> bytes:
    """Check `fmt` (without its NUL) as the kernel's bpf_bprintf_prepare does and build
    its binary argument buffer: integers and plain pointers 4-byte aligned (4 or 8
    bytes), %c one byte, %s / %pks / %pus the string with its NUL, %pB %pI4 %pi4 %pI6
    %pi6 their text with a NUL. Only flags `0 + - space`, a width and `l`/`ll` are
    accepted, with d i u x X c s p pK px ps pS pB pks pus pI4 pi4 pI6 pi6.
    `read_str(ptype, addr, bufsz)` copies a string ((length with NUL, bytes) or
    (-errno, _)); `read_kernel(addr, n)` copies IP address bytes (None: fault).

    As in the kernel, %pB does not check the room left: its text is cut to the room but
    the position advances by its full length, so the position can pass the end of the
    buffer; then (the room, negative, compares as a huge unsigned size) a %pB or %pI4
    advances by one (snprintf refuses the size), a %s writes a NUL there and reads
    nothing, and a %c or an integer is written there.
    Those writes land in `spill`, the memory after the buffer (BPRINTF_SPILL bytes: the
    output buffer of bpf_trace_printk, then zeros), changed in place. The result is the
    argument buffer followed by `spill`: what bstr_printf reads, past the end too."""
    n = len(fmt)

    def at(k: int) -> int:
        return fmt[k] if k < n else 0

    buffered = num_args > 0  # the kernel stores arguments only when it has some
    buf = bytearray(MAX_BPRINTF_BIN_ARGS)
    after = spill if spill is not None else bytearray(BPRINTF_SPILL)
    used = 0
    num_spec = 0

    def poke(at_: int, byte: int) -> None:  # one byte at `at_`, in the buffer or past it
        if at_ < MAX_BPRINTF_BIN_ARGS:
            buf[at_] = byte
        elif at_ - MAX_BPRINTF_BIN_ARGS < len(after):
            after[at_ - MAX_BPRINTF_BIN_ARGS] = byte

    def put_int(value: int, size: int) -> None:
        nonlocal used
        used = (used + 3) & ~3
        if 0 <= MAX_BPRINTF_BIN_ARGS - used < size:  # a negative room compares as unsigned
            raise FormatError(ENOSPC, _ENOSPC_TEXT)
        for k, byte in enumerate((value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")):
            poke(used + k, byte)
        used += size

    def put_text(text: bytes) -> None:  # snprintf() into what is left; advance by its length
        nonlocal used
        room = MAX_BPRINTF_BIN_ARGS - used
        if room < 0:  # a negative room is a size_t above INT_MAX: snprintf returns 0
            used += 1
            return
        if room > 0:
            chunk = text[:room - 1] + b"\0"
            buf[used:used + len(chunk)] = chunk
        used += len(text) + 1

    def put_str(ptype: str, arg: int, i: int) -> None:
        nonlocal used
        nx = at(i + 1)
        if nx and nx not in _SPACE and nx not in _PUNCT:
            raise FormatError(EINVAL, "%s must be followed by a space, punctuation or "
                                      "the end of the format")
        if not buffered:
            return
        if used == MAX_BPRINTF_BIN_ARGS:
            raise FormatError(ENOSPC, _ENOSPC_TEXT)
        if used > MAX_BPRINTF_BIN_ARGS:  # past the end (a %pB): a NUL, no copy (count < 0)
            poke(used, 0)
            return
        err, text = read_str(ptype, arg, MAX_BPRINTF_BIN_ARGS - used)
        if err < 0:
            text, err = b"\0", 1
        buf[used:used + len(text)] = text
        used += err

    i = 0
    while i < n:
        # the text up to the next '%' on a slice: no ASCII control but the spaces
        # (non-ASCII bytes pass)
        pct = fmt.find(b"%", i)
        bad = _CONTROL.search(fmt, i, n if pct < 0 else pct)
        if bad:
            raise FormatError(EINVAL, f"byte {fmt[bad.start()]:#x} of the format is an "
                                      "ASCII control")
        if pct < 0:
            break
        i = pct
        if at(i + 1) == 0x25:
            i += 2
            continue
        if num_spec >= num_args:
            raise FormatError(EINVAL, "more conversions than arguments")
        arg = raw_args[num_spec] & M64 if buffered else 0
        i += 1
        while at(i) and at(i) in b"0+- ":
            i += 1
        if 0x31 <= at(i) <= 0x39:
            i += 1
            while 0x30 <= at(i) <= 0x39:
                i += 1
        ch = at(i)
        if ch == 0x70:  # 'p'
            nx = at(i + 1)
            if nx == 0 or nx in _SPACE or nx in _PUNCT:
                if buffered:
                    put_int(arg, 8)
            elif nx in b"ku" and at(i + 2) == 0x73:
                i += 2
                put_str(chr(nx), arg, i)
            elif nx in b"KxsS":
                i += 1
                if buffered:
                    put_int(arg, 8)
            elif nx == 0x42:  # 'B': kallsyms' text for an address it has no symbol of
                i += 1
                if buffered:
                    put_text(b"0x%x" % arg)
            else:
                if nx not in b"iI" or at(i + 2) not in b"46":
                    raise FormatError(EINVAL, "unsupported %p conversion")
                i += 2
                if buffered:
                    size = 4 if at(i) == 0x34 else 16
                    if 0 <= MAX_BPRINTF_BIN_ARGS - used < size:
                        raise FormatError(ENOSPC, _ENOSPC_TEXT)
                    raw = read_kernel(arg, size)
                    put_text(_ip_text(fmt[i - 1:i + 1], raw if raw is not None else bytes(size)))
        elif ch == 0x73:  # 's'
            put_str("s", arg, i)
        elif ch == 0x63:  # 'c'
            if buffered:
                if used == MAX_BPRINTF_BIN_ARGS:  # only equality is checked
                    raise FormatError(ENOSPC, _ENOSPC_TEXT)
                poke(used, arg & 0xFF)
                used += 1
        else:
            size = 4
            if at(i) == 0x6C:  # 'l'
                size = 8
                i += 1
            if at(i) == 0x6C:
                i += 1
            if not at(i) or at(i) not in b"iduxX":
                raise FormatError(EINVAL, "unsupported conversion")
            if buffered:
                put_int(arg, size)
        num_spec += 1
        i += 1
    return bytes(buf) + bytes(after)


class _Output:
    """What bstr_printf writes: its first `cap` bytes kept, its full length counted
    (padding past the cap is counted, never built)."""

    def __init__(self, cap: int | None) -> None:
        self.buf = bytearray()
        self.len = 0
        self.cap = cap

    def add(self, text: bytes) -> None:
        if self.cap is None:
            self.buf += text
        elif len(self.buf) < self.cap:
            self.buf += text[:self.cap - len(self.buf)]
        self.len += len(text)

    def fill(self, char: bytes, count: int) -> None:
        if count <= 0:
            return
        if self.cap is None:
            self.buf += char * count
        elif len(self.buf) < self.cap:
            self.buf += char * min(count, self.cap - len(self.buf))
        self.len += count


def _number(out: _Output, num: int, flags: set[int], width: int | None, base: int,
            signed: bool, upper: bool = False) -> None:
    """lib/vsprintf.c number() for the flags BPF formats may carry (no precision)."""
    left = 0x2D in flags
    zero = 0x30 in flags and not left
    sign = b""
    if signed:
        if num >> 63:
            sign, num = b"-", (1 << 64) - num
        elif 0x2B in flags:
            sign = b"+"
        elif 0x20 in flags:
            sign = b" "
    digits = ((b"%X" if upper else b"%x") % num) if base == 16 else b"%d" % num
    pad = (width or 0) - len(sign) - len(digits)
    if left:
        out.add(sign + digits)
        out.fill(b" ", pad)
    elif zero:
        out.add(sign)
        out.fill(b"0", pad)
        out.add(digits)
    else:
        out.fill(b" ", pad)
        out.add(sign + digits)


def _widen(out: _Output, text: bytes, flags: set[int], width: int | None) -> None:
    pad = (width or 0) - len(text)
    if 0x2D in flags:
        out.add(text)
        out.fill(b" ", pad)
    else:
        out.fill(b" ", pad)
        out.add(text)


FIELD_WIDTH_MAX = (1 << 23) - 1  # lib/vsprintf.c clamps field widths to this


def _field_width(digits: bytes) -> int:
    """A field width as the kernel reads it: decimal digits into an int (skip_atoi,
    wrapping at 32 bits; a negative result pads nothing), clamped to FIELD_WIDTH_MAX.
    Twelve digits at a time, so any length is bounded work (Python's int() refuses
    more than 4300 digits)."""
    value = 0
    for i in range(0, len(digits), 12):
        part = digits[i:i + 12]
        value = (value * 10 ** len(part) + int(part)) & M32
    width = value - (1 << 32) if value >> 31 else value
    return max(-FIELD_WIDTH_MAX, min(width, FIELD_WIDTH_MAX))


def bstr_printf(fmt: bytes, bin_args: bytes, size: int) -> bytes:
    """What the kernel's bstr_printf makes of a format checked by bprintf_prepare and
    its argument buffer, untruncated (its length is the return value; a buffer of
    `size` bytes receives the first size - 1 bytes and a NUL). See bstr_printf_capped."""
    return bytes(bstr_printf_capped(fmt, bin_args, size, None)[0])


def bstr_printf_capped(fmt: bytes, bin_args: bytes, size: int, cap: int | None,
                       out_at: int | None = None) -> tuple[bytes, int]:
    """bstr_printf keeping only the first `cap` bytes of its output (None: all of it),
    with the full length: what the helpers need, built in memory bounded by `cap`
    whatever widths the format asks for. As in the kernel, a pre-formatted pointer
    conversion (%pks %pus %pB %pI4 ...) met once the output has reached `size` adds
    nothing and does not consume its argument. The VM has no kernel symbols and does
    not hash pointers: %ps/%pS print 0x<hex> (kallsyms' answer for an unknown address)
    and %p/%pK print as %px does.

    `bin_args` is what bprintf_prepare returned: the argument buffer and the memory
    after it, which the kernel reads on when a %pB left the arguments past the end.
    `out_at`: where the output is written in that memory (bpf_trace_printk writes it
    just after the argument buffer, so such reads see the output written so far; None:
    elsewhere). Reads and writes go byte by byte forward, as the kernel's string copy
    and (rep movsb) memcpy do."""
    args = bytes(bin_args) + bytes(32)
    a = 0
    out = _Output(cap)
    n = len(fmt)
    region = cap if cap is not None else size  # the output buffer's size in memory

    def mem(k: int, pending: bytes | bytearray = b"") -> int:
        """The byte at offset k: the output (and `pending`, being written) over args."""
        if out_at is not None and 0 <= k - out_at < region:
            rel = k - out_at
            if rel < len(out.buf):
                return out.buf[rel]
            if rel - len(out.buf) < len(pending) and rel < region:
                return pending[rel - len(out.buf)]
        return args[k] if k < len(args) else 0

    def overlaps(start: int, end: int) -> bool:
        return out_at is not None and start < out_at + region and end > out_at

    def strlen(k: int) -> int:
        end = args.find(b"\0", k)
        end = end if end >= 0 else len(args)
        if not overlaps(k, end + 1):
            return end - k
        length = 0
        while mem(k + length):
            length += 1
        return length

    def get(size: int) -> int:
        nonlocal a
        if size > 1:
            a = (a + 3) & ~3
        v = int.from_bytes(bytes(mem(a + j) for j in range(size)), "little")
        a += size
        return v

    def copy_out(start: int, length: int) -> None:
        """Copy `length` bytes at `start` to the output, forward (memcpy)."""
        if not overlaps(start, start + length):
            out.add(args[start:start + length])
            return
        for j in range(length):
            out.add(bytes([mem(start + j)]))

    def cstr() -> bytes:
        """A %s argument: its length first (strlen), then copied while the output is
        written (string_nocheck reads until a NUL, whatever it wrote on the way)."""
        nonlocal a
        start = a
        a += strlen(start) + 1
        if not overlaps(start, a):
            return args[start:a - 1]
        text = bytearray()
        while (c := mem(start + len(text), text)) != 0:
            text.append(c)
        return bytes(text)

    i = 0
    while i < n:
        pct = fmt.find(b"%", i)
        if pct < 0:
            out.add(fmt[i:])
            break
        out.add(fmt[i:pct])
        i = pct + 1
        if i < n and fmt[i] == 0x25:
            out.add(b"%")
            i += 1
            continue
        flags: set[int] = set()
        while i < n and fmt[i] in b"-+ #0":
            flags.add(fmt[i])
            i += 1
        w0 = i
        while i < n and 0x30 <= fmt[i] <= 0x39:
            i += 1
        width = _field_width(fmt[w0:i]) if i > w0 else None
        longs = 0
        while i < n and fmt[i] == 0x6C and longs < 2:
            longs += 1
            i += 1
        conv = fmt[i] if i < n else 0
        i += 1
        if conv == 0x63:  # 'c'
            ch = bytes([get(1)])
            _widen(out, ch, flags, width)
        elif conv == 0x73:  # 's'
            _widen(out, cstr(), flags, width)
        elif conv == 0x70:  # 'p'
            nx = fmt[i] if i < n else 0
            if nx in b"SsxK" or nx not in _ALNUM:
                v = get(8)
                if nx in b"Ss":
                    _widen(out, b"0x%x" % v, flags, width)
                elif width is None:  # pointer_string: 16 digits, zero-padded unless '-'
                    _number(out, v, flags | {0x30}, 16, 16, False)
                else:
                    _number(out, v, flags, width, 16, False)
            elif out.len < size:  # strlen, then memcpy what fits
                length = strlen(a)
                shown = length if cap is None else min(length, size - out.len)
                copy_out(a, shown)
                out.len += length - shown
                a += length + 1
            while i < n and fmt[i] in _ALNUM:
                i += 1
        elif conv in b"diuxX" and conv:
            v = get(8 if longs else 4)
            signed = conv in b"di"
            if signed and not longs and v >> 31:
                v |= M64 ^ M32  # an int is sign-extended
            _number(out, v, flags, width, 16 if conv in b"xX" else 10, signed, conv == 0x58)
        else:  # not reachable after bprintf_prepare
            break
    return bytes(out.buf), out.len
