"""A capture split over worker processes (`pybpf run FILE.o --pcap CAP --workers N`),
as a NIC's receive-side scaling splits traffic over CPUs.

The split: each packet goes to worker crc32(source address) mod N (the IPv4 or IPv6
source, past VLAN tags; the source MAC for other frames), so every source's packets
run in capture order on one worker, and state a program keeps per source is exactly
what one process would have made. Each worker is forked from the loaded object and
streams the whole capture, running its own packets (memory stays flat).

The merge, on the VM (each worker has its own copy of every map; in the kernel the
workers share the kernel's maps, and nothing is merged):
- per-CPU maps: worker w is CPU w. What a worker's programs wrote (the VM runs as
  CPU 0) becomes slot w mod the map's CPU count, so reading the map gives one value
  per worker, as the kernel's per-CPU maps give one per CPU.
- shared maps (array, hash, LRU, LPM trie and the global-data sections): per key, a
  value changed by one worker is that worker's value; changed by several, their
  changes add up (the value's little-endian 64-bit words: before + the sum of each
  worker's after - before), as counters updated atomically from every CPU do in the
  kernel; a key deleted by every worker that changed it is deleted.
Other maps (program arrays, maps of maps, ring buffers, queues) are left as they were,
and records or trace_printk output of the workers are not collected.
"""

from __future__ import annotations

import heapq
import multiprocessing
import os
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from ..errors import PyBPFError
from .runner import BatchResult, run_batch

if TYPE_CHECKING:
    from .instance import Object, Program

MERGED_TYPES = frozenset({"array", "hash", "lru_hash", "lpm_trie", "percpu_array",
                          "percpu_hash", "lru_percpu_hash"})
ETH_P_IP, ETH_P_IPV6, VLAN_TYPES = 0x0800, 0x86DD, (0x8100, 0x88A8)
MAX_WORKERS = 256  # each is a process streaming the whole capture


def lane(frame: bytes, workers: int) -> int:
    """The worker of an Ethernet frame: crc32 of its source address, mod `workers`."""
    off = 12
    proto = int.from_bytes(frame[off:off + 2], "big")
    while proto in VLAN_TYPES and len(frame) >= off + 6:
        off += 4
        proto = int.from_bytes(frame[off:off + 2], "big")
    ip = off + 2
    if proto == ETH_P_IP and len(frame) >= ip + 16:
        src = frame[ip + 12:ip + 16]
    elif proto == ETH_P_IPV6 and len(frame) >= ip + 24:
        src = frame[ip + 8:ip + 24]
    else:
        src = frame[6:12]
    return zlib.crc32(src) % workers


@dataclass
class WorkerResult:
    """What a worker sends back: its counts, its maps' entries (VM), where its passed
    packets went, and what its reader saw."""

    result: BatchResult
    maps: dict[str, dict[bytes, Any]]
    truncated: str | None
    added: int


def _snapshot(obj: Object) -> dict[str, dict[bytes, Any]]:
    """The entries of every merged map (per-CPU values as lists)."""
    out: dict[str, dict[bytes, Any]] = {}
    for name, m in obj.maps.items():
        spec = obj.spec.maps[name]
        if spec.type_name in MERGED_TYPES and not spec.freeze:
            out[name] = {bytes(k): v for k, v in m.items()}
    return out


def _worker(w: int, workers: int, obj: Object, prog: Program, capture: str,
            capture_clock: bool, out_dir: str | None, conn: Any) -> None:
    """One worker: run the packets of lane `w` and send back a WorkerResult (or the
    error that stopped it, as text)."""
    from ..pcap import CaptureReader, EthernetFrames, PcapWriter
    try:
        handle = prog.handle
        if hasattr(handle, "rng"):
            handle.rng.seed(os.urandom(8))  # not the parent's prandom stream
        reader = CaptureReader(capture)
        frames = EthernetFrames(reader)
        current = [0]

        def mine() -> Iterator[Any]:
            for i, pkt in enumerate(frames):
                if lane(pkt.data, workers) == w:
                    current[0] = i
                    yield pkt
        writer = None
        if out_dir is not None:
            writer = PcapWriter(Path(out_dir) / f"{w}.pcap")
            index = open(Path(out_dir) / f"{w}.idx", "wb")

            def on_pass(p: Any) -> None:
                assert writer is not None
                writer.write(p)
                index.write(struct.pack("<q", current[0]))
        try:
            result = run_batch(prog, mine(), capture_clock=capture_clock,
                               on_pass=on_pass if writer is not None else None)
        finally:
            if writer is not None:
                writer.close()
                index.close()
        snap = _snapshot(obj) if prog.platform.caps.set_world else {}
        conn.send(("ok", WorkerResult(result, snap, reader.truncated, frames.added)))
    except BaseException as e:  # noqa: BLE001 - whatever stopped it goes to the parent
        conn.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


def _add_words(base: bytes, afters: list[bytes], start: bytes | None = None) -> bytes:
    """`start` (default `base`) + the sum of (after - base), little-endian 64-bit word
    by word (the last word as long as what is left), each word wrapping at its size."""
    first = base if start is None else start
    out = bytearray()
    for off in range(0, len(base), 8):
        n = min(8, len(base) - off)
        b = int.from_bytes(base[off:off + n], "little")
        total = int.from_bytes(first[off:off + n], "little") + sum(
            int.from_bytes(a[off:off + n], "little") - b for a in afters)
        out += (total % (1 << (8 * n))).to_bytes(n, "little")
    return bytes(out)


_ABSENT = object()


def merge_shared(before: Any, afters: list[Any]) -> Any:
    """A shared map's value for one key (bytes, or _ABSENT when there is none) from
    its value before and each worker's after (see the module's rule)."""
    changed = [a for a in afters if a != before]
    if not changed:
        return before
    kept = [a for a in changed if a is not _ABSENT]
    if not kept:
        return _ABSENT
    if len(kept) == 1:
        return kept[0]
    base = before if before is not _ABSENT else bytes(len(kept[0]))
    return _add_words(base, kept)


def merge_percpu(before: list[bytes] | None, afters: list[Any], ncpus: int,
                 value_size: int) -> list[bytes] | None:
    """A per-CPU map's values for one key (None: no entry) from the values before and
    each worker's after (a list, or _ABSENT): worker w's changes to CPU 0's value (where
    the VM runs) land in slot w mod ncpus; several workers in one slot add up."""
    present = [a for a in afters if a is not _ABSENT]
    if not present:
        return None
    base = before if before is not None else [bytes(value_size)] * ncpus
    slots = list(base)
    for s in range(ncpus):
        changed = [a[0] for w, a in enumerate(afters)
                   if w % ncpus == s and a is not _ABSENT and a[0] != base[0]]
        if len(changed) == 1 and base[s] == base[0]:
            slots[s] = changed[0]
        elif changed:
            slots[s] = _add_words(base[0], changed, base[s])
    return slots


def _apply(obj: Object, before: dict[str, dict[bytes, Any]],
           snaps: list[dict[str, dict[bytes, Any]]]) -> None:
    """Write the merged maps into the parent's object."""
    for name, old in before.items():
        m = obj.maps[name]
        spec = obj.spec.maps[name]
        keys = dict.fromkeys(old)
        for snap in snaps:
            keys.update(dict.fromkeys(snap.get(name, {})))
        for key in keys:
            afters = [snap.get(name, {}).get(key, _ABSENT) for snap in snaps]
            if spec.percpu:
                value = merge_percpu(old.get(key), afters, m.ncpus, spec.value_size)
            else:
                merged = merge_shared(old.get(key, _ABSENT), afters)
                value = None if merged is _ABSENT else merged
            if value is None:
                if key in old and spec.type_name not in ("array", "percpu_array"):
                    m.delete(key)
            elif value != old.get(key):
                m.update(key, value)


@dataclass
class ParallelRun:
    """The merged outcome of a split run: counts as one run_batch would give them,
    packets written to --pcap-out, what the readers saw."""

    result: BatchResult
    written: int
    truncated: str | None
    added: int


def run_pcap_workers(obj: Object, prog: Program, capture: str, workers: int, *,
                     capture_clock: bool = True, pcap_out: str | None = None
                     ) -> ParallelRun:
    """Run `prog` over `capture` in `workers` forked processes (see the module); the
    parent's maps hold the merged result afterwards (VM), the packets that pass are
    written to `pcap_out` in capture order."""
    if not 1 <= workers <= MAX_WORKERS:
        raise PyBPFError(f"--workers {workers}: between 1 and {MAX_WORKERS} processes "
                         "(each streams the whole capture)")
    ctx = multiprocessing.get_context("fork")
    vm = bool(prog.platform.caps.set_world)
    before = _snapshot(obj) if vm else {}
    with tempfile.TemporaryDirectory(prefix="pybpf-workers-") as tmp:
        out_dir = tmp if pcap_out is not None else None
        procs, conns = [], []
        for w in range(workers):
            parent, child = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_worker, args=(w, workers, obj, prog, capture,
                                                  capture_clock, out_dir, child))
            p.start()
            child.close()
            procs.append(p)
            conns.append(parent)
        results: list[WorkerResult] = []
        errors = []
        for w, (p, conn) in enumerate(zip(procs, conns)):
            try:
                status, payload = conn.recv()
            except EOFError:
                status, payload = "error", "the worker ended without a result"
            finally:
                conn.close()
            p.join()
            p.close()
            if status == "ok":
                results.append(payload)
            else:
                errors.append(f"worker {w}: {payload}")
        if errors:
            raise PyBPFError("; ".join(errors))
        if vm:
            _apply(obj, before, [r.maps for r in results])
        written = _write_in_order(Path(tmp), workers, pcap_out) if pcap_out else 0
    total = BatchResult()
    for r in results:
        total.packets += r.result.packets
        total.passed += r.result.passed
        total.errors.update(r.result.errors)
        total.retvals.update(r.result.retvals)
        total.verdicts.update(r.result.verdicts)
    truncated = next((r.truncated for r in results if r.truncated), None)
    return ParallelRun(total, written, truncated, sum(r.added for r in results))


def _write_in_order(tmp: Path, workers: int, pcap_out: str) -> int:
    """Merge the workers' passed packets into `pcap_out` by capture index."""
    from ..pcap import CaptureReader, PcapWriter

    def stream(w: int) -> Iterator[tuple[int, int, Any]]:
        with open(tmp / f"{w}.idx", "rb") as index, \
                CaptureReader(tmp / f"{w}.pcap") as reader:
            for pkt in reader:
                yield struct.unpack("<q", index.read(8))[0], w, pkt
    with PcapWriter(pcap_out) as out:
        for _, _, pkt in heapq.merge(*(stream(w) for w in range(workers))):
            out.write(pkt)
        return out.packets
