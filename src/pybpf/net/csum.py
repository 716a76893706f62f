"""The kernel's Internet-checksum arithmetic (include/net/checksum.h) on little-endian
memory, as the packet helpers use it: 32-bit partial sums with end-around carry,
folding, incremental replacement (RFC 1624)."""

from __future__ import annotations

import struct

from ..isa import M32, M64

M16 = 0xFFFF


def csum_add(a: int, b: int) -> int:
    """32-bit one's complement addition (csum_add)."""
    s = (a & M32) + (b & M32)
    return (s & M32) + (s >> 32)


def csum_sub(a: int, b: int) -> int:
    return csum_add(a, ~b & M32)


def csum_fold(c: int) -> int:
    """Fold a 32-bit partial sum to the 16-bit checksum (inverted), as csum_fold."""
    c &= M32
    s = (c & M16) + (c >> 16)
    s = (s & M16) + (s >> 16)
    return ~s & M16


def from32to16(c: int) -> int:
    """csum_from32to16: fold without inverting."""
    c &= M32
    s = (c + (((c >> 16) | (c << 16)) & M32)) & M32
    return s >> 16


def csum_partial(data: bytes | bytearray | memoryview, seed: int = 0) -> int:
    """csum_partial: the 32-bit one's complement sum of `data` read as little-endian
    words (a trailing odd byte is the low byte of a zero-padded word), plus `seed`."""
    n = len(data)
    pad = (-n) % 8
    buf = bytes(data) + bytes(pad)
    # Sum of the 64-bit words with end-around carry (one unpack: linear in the length)
    acc = sum(struct.unpack(f"<{len(buf) // 8}Q", buf))
    while acc >> 64:
        acc = (acc & M64) + (acc >> 64)
    acc = (acc & M32) + (acc >> 32)
    acc = (acc & M32) + (acc >> 32)
    return csum_add(acc, seed)


def csum_block_add(csum: int, csum2: int, offset: int) -> int:
    """csum_block_add: add a block's sum that starts at `offset` (odd offsets rotate)."""
    if offset & 1:
        csum2 = ((csum2 >> 8) | (csum2 << 24)) & M32
    return csum_add(csum, csum2)


def csum_block_sub(csum: int, csum2: int, offset: int) -> int:
    return csum_block_add(csum, ~csum2 & M32, offset)


def csum16_add(csum: int, addend: int) -> int:
    res = ((csum & M16) + (addend & M16))
    return (res + (res >> 16)) & M16


def csum16_sub(csum: int, addend: int) -> int:
    return csum16_add(csum, ~addend & M16)


def csum_replace2(sum16: int, old: int, new: int) -> int:
    """The new 16-bit field after replacing the 16-bit value `old` by `new`."""
    return ~csum16_add(csum16_sub(~sum16 & M16, old), new) & M16


def csum_replace4(sum16: int, old: int, new: int) -> int:
    tmp = csum_sub(~sum16 & M32, old)
    return csum_fold(csum_add(tmp, new))


def csum_replace_by_diff(sum16: int, diff: int) -> int:
    return csum_fold(csum_add(diff, ~sum16 & M32))


def ip_checksum(header: bytes) -> int:
    """The IPv4 header checksum of `header` (as a big-endian integer)."""
    s = sum(int.from_bytes(header[i:i + 2], "big") for i in range(0, len(header) - 1, 2))
    if len(header) % 2:
        s += header[-1] << 8
    while s >> 16:
        s = (s & M16) + (s >> 16)
    return ~s & M16


def csum_diff(frm: bytes, to: bytes, seed: int) -> int:
    """bpf_csum_diff's arithmetic as Linux 6.x computes it: the sum of `to` (from `seed`)
    less the sum of `frm`, csum_partial sums folded to 16 bits (csum_from32to16)."""
    ret = seed & M32
    if frm and to:
        ret = csum_sub(csum_partial(to, ret), csum_partial(frm, 0))
    elif to:
        ret = csum_partial(to, ret)
    elif frm:
        ret = ~csum_partial(frm, ~ret & M32) & M32
    return from32to16(ret)
