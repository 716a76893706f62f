"""What `pybpf attach` shows while a program is attached: its maps decoded by BTF
(per-CPU values summed, data sections as their variables) and its output (ring
buffer and perf buffer records, decoded as the record type the object declares when
one fits; bpf_printk messages), gathered by `OutputWatch` and drawn by
`format_view` / `view_json` once per interval."""

from __future__ import annotations

import collections
import select
import time
from dataclasses import dataclass, field
from typing import Any

from .live import table

# maps whose values are not data to show (fds, programs, records)
_NOT_SHOWN = ("prog_array", "array_of_maps", "hash_of_maps", "perf_event_array", "ringbuf",
              "user_ringbuf", "sockmap", "sockhash", "devmap", "devmap_hash", "cpumap",
              "xskmap", "cgroup_array", "stack_trace", "struct_ops")


def compact(value: Any) -> str:
    """A value on one line: ints as numbers, structs as {a: 1, b: 2}, bytes as hex."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {compact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(compact(v) for v in value) + "]"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)


@dataclass
class MapView:
    """One map's entries now: (key, value) pairs, decoded where BTF says how."""

    name: str
    type_name: str
    rows: list[tuple[Any, Any]]
    percpu: bool = False
    more: int = 0  # entries not shown (past max_rows)
    error: str = ""


def _sort_key(item: tuple[Any, Any]) -> tuple[int, Any]:
    k = item[0]
    if isinstance(k, int):
        return (0, k)
    return (1, compact(k))


def read_maps(obj: Any, max_rows: int = 20) -> list[MapView]:
    """Every map of `obj` worth showing, its entries read now (per-CPU values summed)."""
    from ..errors import PyBPFError
    out = []
    for name, m in obj.maps.items():
        tname = m.spec.type_name
        if tname in _NOT_SHOWN:
            continue
        view = MapView(name, tname, [], bool(getattr(m, "percpu", False)))
        try:
            if name.startswith("."):  # a data section: its variables
                for _k, v in m.typed.items():
                    if isinstance(v, dict):
                        view.rows = list(v.items())
                    break
            elif m.key_size == 0:  # queue, stack, bloom filter: nothing to list
                continue
            else:
                rows = sorted(m.typed.summed().items(), key=_sort_key)
                view.more = max(0, len(rows) - max_rows)
                view.rows = rows[:max_rows]
        except (PyBPFError, OSError) as e:
            view.error = str(e)
        out.append(view)
    return out


class RecordDecoder:
    """Decodes records as the one record type the object declares that fits them
    (pybpf.objects.output.declared_record_types); others stay bytes."""

    def __init__(self, spec: Any) -> None:
        from ..objects.output import declared_record_types
        self.btf = spec.btf
        self.types, _ = declared_record_types(spec)

    def decode(self, kind: str, data: bytes) -> Any:
        from ..btf import decode_value
        from ..errors import PyBPFError
        exact = [t for t in self.types if t[2] == len(data)]
        padded = [t for t in self.types if kind == "perf" and t[2] < len(data) <=
                  ((t[2] + 4 + 7) & ~7) - 4 and not any(data[t[2]:])]
        fits = exact if exact else padded
        if len(fits) != 1:
            return data
        _name, tid, size = fits[0]
        try:
            return decode_value(self.btf, tid, data[:size])
        except PyBPFError:
            return data


@dataclass
class OutputStats:
    """What one output map (or the trace pipe) sent so far."""

    name: str
    kind: str  # "ringbuf", "perf" or "printk"
    count: int = 0
    lost: int | None = None
    last: collections.deque[Any] = field(default_factory=lambda: collections.deque(maxlen=10))
    # since the last frame (the newest 1000)
    new: collections.deque[Any] = field(default_factory=lambda: collections.deque(maxlen=1000))


class OutputWatch:
    """Readers on every output of an attached object: a RingBuffer per ring buffer
    map, a PerfBuffer per perf event array (one event per online CPU it has a slot
    for), and a trace instance of our own for bpf_printk from every task when a
    program calls it. `gather(seconds)` waits for and collects output for that long."""

    def __init__(self, obj: Any, *, printk: bool, keep: int = 10) -> None:
        from ..cpus import online_cpus
        from ..kernel import PerfBuffer, RingBuffer
        self.decoder = RecordDecoder(obj.spec)
        self.readers: list[tuple[OutputStats, Any]] = []
        self.warnings: list[str] = []
        self.trace: Any = None
        self.printk = OutputStats("bpf_printk", "printk", last=collections.deque(maxlen=keep))
        try:
            for name, m in obj.maps.items():
                tname = m.spec.type_name
                stats = OutputStats(name, "ringbuf" if tname == "ringbuf" else "perf",
                                    last=collections.deque(maxlen=keep))
                if tname == "ringbuf":
                    self.readers.append((stats, RingBuffer(m)))
                elif tname == "perf_event_array":
                    buf = PerfBuffer([c for c in online_cpus() if c < m.max_entries], pages=8)
                    self.readers.append((stats, buf))
                    buf.attach(m)
                    stats.lost = 0
            if printk:
                from ..kernel.tracepipe import TracePrintk
                try:
                    self.trace = TracePrintk(pids=())
                except Exception as e:  # noqa: BLE001 - no tracefs here: say so, go on
                    self.warnings.append(f"bpf_printk output not shown: {e}")
        except BaseException:
            self.close()
            raise

    def drain(self) -> None:
        """Collect what every reader holds now."""
        for stats, reader in self.readers:
            for rec in reader.consume():
                data = rec if stats.kind == "ringbuf" else rec.data
                value = self.decoder.decode(stats.kind, data)
                stats.count += 1
                stats.last.append(value)
                stats.new.append(value)
            if stats.kind == "perf":
                stats.lost = reader.lost
        if self.trace is not None:
            for msg in self.trace.read():
                text = f"{msg.comm}-{msg.pid} [{msg.cpu:03d}] {msg.text}"
                self.printk.count += 1
                self.printk.last.append(text)
                self.printk.new.append(text)

    def gather(self, seconds: float) -> None:
        """Wait `seconds`, collecting output as it comes (the trace pipe is read every
        tenth of a second)."""
        end = time.monotonic() + seconds
        fds = [r.fileno() for _s, r in self.readers]
        while True:
            self.drain()
            left = end - time.monotonic()
            if left <= 0:
                return
            step = min(left, 0.1)
            if fds:
                poller = select.poll()  # not select.select: it fails on an fd above 1023
                for fd in fds:
                    poller.register(fd, select.POLLIN)
                poller.poll(step * 1000)
                for _s, r in self.readers:
                    r.wait(0)
            else:
                time.sleep(step)

    def outputs(self) -> list[OutputStats]:
        return [s for s, _r in self.readers] + ([self.printk] if self.trace is not None else [])

    def take_new(self) -> dict[str, list[Any]]:
        new = {s.name: list(s.new) for s in self.outputs()}
        for s in self.outputs():
            s.new.clear()
        return new

    def __enter__(self) -> "OutputWatch":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        for _s, r in self.readers:
            r.close()
        self.readers = []
        if self.trace is not None:
            self.trace.close()
            self.trace = None


def format_maps(views: list[MapView], prev: dict[tuple[str, str], Any] | None = None) -> str:
    """The maps as tables; with `prev` (updated here: the numbers of the last frame), a
    numeric value also shows how much it grew since then."""
    parts = []
    for v in views:
        head = f"{v.name} ({v.type_name}{', summed over CPUs' if v.percpu else ''})"
        if v.error:
            parts.append(f"{head}: cannot read: {v.error}\n")
            continue
        if not v.rows:
            parts.append(f"{head}: empty\n")
            continue
        headers = ["VARIABLE", "VALUE"] if v.name.startswith(".") else ["KEY", "VALUE"]
        rows: list[list[object]] = []
        numeric = prev is not None and not v.name.startswith(".") and any(
            isinstance(val, int) and not isinstance(val, bool) for _k, val in v.rows)
        for k, val in v.rows:
            row: list[object] = [compact(k), compact(val)]
            if numeric and prev is not None:
                key = (v.name, compact(k))
                grew = ""
                if isinstance(val, int) and not isinstance(val, bool):
                    before = prev.get(key)
                    grew = f"+{val - before}" if isinstance(before, int) else ""
                    prev[key] = val
                row.append(grew)
            rows.append(row)
        if numeric:
            headers = headers + ["SINCE LAST"]
        body = table(headers, rows, "llr" if numeric else "ll")
        more = f"... and {v.more} more\n" if v.more else ""
        parts.append(f"{head}\n{body}{more}")
    return "\n".join(parts)


def format_outputs(outputs: list[OutputStats]) -> str:
    parts = []
    for s in outputs:
        what = {"ringbuf": "ring buffer", "perf": "perf buffer", "printk": "trace pipe"}[s.kind]
        lost = f", {s.lost} lost" if s.lost else ""
        lines = [f"{s.name} ({what}): {s.count} {'messages' if s.kind == 'printk' else 'records'}"
                 f"{lost}" + (f", the last {len(s.last)}:" if s.last else "")]
        lines += [f"  {compact(v)}" for v in s.last]
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def format_view(views: list[MapView], outputs: list[OutputStats],
                prev: dict[tuple[str, str], Any] | None = None) -> str:
    text = format_maps(views, prev)
    out = format_outputs(outputs)
    return text + ("\n" if text and out else "") + out


def view_json(views: list[MapView], outputs: list[OutputStats],
              new: dict[str, list[Any]]) -> dict[str, Any]:
    maps: dict[str, Any] = {}
    for v in views:
        if v.error:
            maps[v.name] = {"error": v.error}
        elif v.name.startswith("."):
            maps[v.name] = {str(k): jsonable(val) for k, val in v.rows}
        else:
            maps[v.name] = [{"key": jsonable(k), "value": jsonable(val)} for k, val in v.rows]
    outs = {}
    for s in outputs:
        o: dict[str, Any] = {"kind": s.kind, "count": s.count, "new": jsonable(new[s.name])}
        if s.lost is not None:
            o["lost"] = s.lost
        outs[s.name] = o
    return {"maps": maps, "outputs": outs}
