"""Hostile captures: classic pcap (both byte orders, micro- and nanosecond) and pcapng
(section, interface, enhanced and simple packet blocks) built well-formed, then
mutated: block and record lengths, interface numbers, options, truncation; and packets
with hostile timestamps and sizes for the writer."""

from __future__ import annotations

import os
import random
import struct
from typing import Any

from .case import Case, Env

_LENGTHS = (0, 1, 3, 4, 8, 11, 12, 16, 19, 20, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF, 1 << 20,
            (1 << 20) + 1, 1 << 24, (1 << 24) + 1)


def _classic(rng: random.Random) -> bytes:
    e = rng.choice("<>")
    magic = rng.choice([0xA1B2C3D4, 0xA1B23C4D])
    out = struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, 262144,
                      rng.choice([1, 1, 101, 228, 229, 113, rng.randrange(300)]))
    for _ in range(rng.randrange(0, 20)):
        data = rng.randbytes(rng.choice([0, 14, 20, 60, 1514]))
        out += struct.pack(e + "IIII", rng.getrandbits(32), rng.randrange(10**9), len(data),
                           len(data)) + data
    return out


def _block(e: str, btype: int, body: bytes) -> bytes:
    body += bytes(-len(body) % 4)
    total = len(body) + 12
    return struct.pack(e + "II", btype, total) + body + struct.pack(e + "I", total)


def _pcapng(rng: random.Random) -> bytes:
    e = rng.choice("<>")
    out = _block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    nif = rng.choice([0, 1, 1, 1, 2])
    for _ in range(nif):
        opts = b""
        if rng.random() < 0.5:
            opts = struct.pack(e + "HH", 9, 1) + bytes([rng.randrange(256)]) + b"\0\0\0" \
                + struct.pack(e + "HH", 0, 0)
        out += _block(e, 1, struct.pack(e + "HHI", rng.choice([1, 1, 101, 228, 147]), 0, 0) + opts)
    for _ in range(rng.randrange(0, 20)):
        data = rng.randbytes(rng.choice([0, 14, 60, 1514]))
        if rng.random() < 0.8:
            ts = rng.getrandbits(64)
            iface = rng.randrange(nif) if nif and rng.random() < 0.98 else rng.randrange(4)
            out += _block(e, 6, struct.pack(e + "IIIII", iface, ts >> 32,
                                             ts & 0xFFFF_FFFF, len(data), len(data)) + data)
        elif rng.random() < 0.5:
            out += _block(e, 3, struct.pack(e + "I", len(data)) + data)
        else:
            out += _block(e, rng.choice([2, 4, 5, 0x0BAD, 0x80000001]), rng.randbytes(8))
    if rng.random() < 0.2:  # a second section
        out += _block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    return out


def _mutate(rng: random.Random, data: bytearray) -> list[str]:
    steps = []
    for _ in range(rng.randrange(0, 4)):
        if not data:
            break
        pos = rng.randrange(len(data))
        r = rng.random()
        if r < 0.45:
            data[pos & ~3:(pos & ~3) + 4] = rng.choice(_LENGTHS).to_bytes(4, rng.choice(
                ["little", "big"]))
            steps.append(f"word@{pos & ~3}")
        elif r < 0.65:
            data[pos] ^= 1 << rng.randrange(8)
            steps.append(f"flip@{pos}")
        elif r < 0.85:
            del data[pos:]
            steps.append(f"truncate@{pos}")
        else:
            data[pos:pos] = rng.randbytes(rng.randrange(1, 16))
            steps.append(f"insert@{pos}")
    return steps


def generate(rng: random.Random, seed: int, env: Env) -> Case:
    kind = rng.choices(["classic", "pcapng", "real", "write"], [3, 4, 1, 2])[0]
    if kind == "write":
        # what a read capture can hold: timestamps from 64-bit tick counts (past 2106
        # too), u32 original lengths, link types of 16 bits
        packets = [[rng.choice([0, 1, 10**18, (1 << 32) * 10**9, (1 << 64) * 1000,
                                rng.getrandbits(64) * 1000]),
                    rng.randrange(0, 2000) if rng.random() < 0.95 else rng.randrange(70000),
                    rng.choice([0, 60, 1 << 31, (1 << 32) - 1])]
                   for _ in range(rng.randrange(0, 8))]
        return Case("pcap", seed, kind, b"", {"packets": packets,
                                              "linktype": rng.choice([1, 101, 0xFFFF])})
    data = bytearray(_classic(rng) if kind == "classic" else _pcapng(rng) if kind == "pcapng"
                     else env.capture or _classic(rng))
    steps = _mutate(rng, data)
    return Case("pcap", seed, kind, bytes(data), {"steps": steps})


def execute(case: Case, env: Env) -> Any:
    """Read (both readers, then to Ethernet as the runs do), or write."""
    from ..pcap import (CaptureReader, EthernetFrames, Packet, frame_data, read_capture,
                        read_pcap, with_ethernet, write_pcap)
    path = env.scratch / f"case-{os.getpid()}.pcap"
    if case.kind == "write":
        packets = [Packet(ts, bytes(n), orig) for ts, n, orig in case.meta["packets"]]
        write_pcap(path, packets, case.meta["linktype"])
        read_pcap(path)
        return None
    path.write_bytes(case.data)
    cap = read_capture(path)
    frames = [p.data for p in with_ethernet(cap.packets)[0]]
    read_pcap(path)
    # the stream a verdict-only kernel run reads (frames cut out of the record buffer for
    # a classic Ethernet pcap): the same frames as the whole capture
    with CaptureReader(path) as reader:
        streamed = [bytes(f if isinstance(f, (bytes, bytearray)) else f.data)
                    for f in frame_data(EthernetFrames(reader))]
    if streamed != frames:
        raise AssertionError(f"frame_data gave {len(streamed)} frames, the reader "
                             f"{len(frames)}")
    return None
