"""What an object's programs leave besides their return values, on either backend:
ring-buffer and perf-buffer records and bpf_printk messages.

    with RunCapture(obj, record_types={"events": ["struct event"]}) as cap:
        prog.test_run(packet)
    cap.records      # [OutputRecord(map="events", data=b"...", value={...}, type=...)]
    cap.printk       # ["typed_io: run 1 len 20"] (without a final newline)

On entering, each perf_event_array gets a slot per CPU (in the kernel, a BPF-output
perf event per CPU, pybpf.kernel.PerfBuffer; on the VM, the CPU's index), each ring
buffer a reader, and in the kernel a tracefs instance of our own receives the
bpf_printk messages (pybpf.kernel.tracepipe); on the VM they come from each program's
`trace_pipe`. A record decodes by BTF when its type is known: `record_types` names
the candidate types per map, and the one whose size fits the record is used (perf
records in the kernel carry up to 7 bytes of padding); other records stay bytes.

Without `record_types` for a map, its records decode as the record types the object
declares, when one alone fits: clang puts in BTF only the types of globals, maps and
function signatures, so libbpf programs (bpf2go's `-type`, for one) declare a record
type with an unused global pointer to it,

    const struct event *unused_event __attribute__((unused));

and every struct or union such a pointer names, that no program reads or writes,
is a declared record type (declared_record_types).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..backend import get_backend
from ..errors import PyBPFError

__all__ = ["RunCapture", "OutputRecord", "resolve_type", "declared_record_types"]


@dataclass
class OutputRecord:
    """One record a program sent: the map, the CPU (perf buffers), the bytes, and the
    decoded value with its type name (None and "" when the type is not known)."""

    map: str
    kind: str  # "ringbuf" or "perf"
    data: bytes
    cpu: int | None = None
    value: Any = None
    type: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"map": self.map, "kind": self.kind}
        if self.cpu is not None:
            out["cpu"] = self.cpu
        if self.type:
            out["type"] = self.type
            out["value"] = self.value
        out["hex"] = self.data.hex()
        return out


def resolve_type(btf: Any, name: str) -> int:
    """A BTF type id by C name: "struct event", "union u", "enum e" or a bare name
    (struct, union, typedef, enum or int, in that order). PyBPFError when absent."""
    from ..btf import BtfKind
    if btf is None:
        raise PyBPFError(f"type {name!r}: the object has no BTF")
    words = name.split()
    kinds: tuple[Any, ...]
    if len(words) == 2 and words[0] in ("struct", "union", "enum"):
        kinds = ({"struct": (BtfKind.STRUCT,), "union": (BtfKind.UNION,),
                  "enum": (BtfKind.ENUM, BtfKind.ENUM64)}[words[0]])
        bare = words[1]
    else:
        kinds = (BtfKind.STRUCT, BtfKind.UNION, BtfKind.TYPEDEF, BtfKind.ENUM,
                 BtfKind.ENUM64, BtfKind.INT)
        bare = name.strip()
    for kind in kinds:
        ids = btf.find(bare, kind)
        if ids:
            return ids[0]
    raise PyBPFError(f"the object's BTF has no type {name!r} (clang puts in BTF only the "
                     "types of globals, maps and function signatures: a global such as "
                     f"`{name if ' ' in name else 'struct ' + name} *unused "
                     "__attribute__((unused));` puts a record type there)")


def declared_record_types(spec: Any) -> tuple[list[tuple[str, int, int]], list[str]]:
    """The record types the object declares, as (C name, BTF id, size), and the
    globals that declare them: global pointers to a struct or union that no program
    refers to (see the module docstring)."""
    from ..btf import BtfKind, BTFError
    from ..btf.dump import type_name
    btf = spec.btf
    if btf is None:
        return [], []
    used = {(r.map, r.offset) for p in spec.programs.values() for r in p.map_refs
            if r.kind == "value"}
    types: list[tuple[str, int, int]] = []
    anchors: list[str] = []
    for name, var in spec.globals.items():
        if any(m == var.map and var.offset <= off < var.offset + max(var.size, 1)
               for m, off in used):
            continue
        try:
            ids = btf.find(name, BtfKind.VAR)
            if len(ids) != 1:
                continue
            ptr = btf[btf.skip_mods(btf[ids[0]].type)]
            if ptr.kind != BtfKind.PTR:
                continue
            tid = btf.resolve(ptr.type)
            if btf[tid].kind not in (BtfKind.STRUCT, BtfKind.UNION):
                continue
            entry = (type_name(btf, tid), tid, btf.size_of(tid))
        except BTFError:  # BTF that cannot say: no declaration
            continue
        anchors.append(name)
        if entry not in types:
            types.append(entry)
    return types, anchors


_PRINTK_HELPERS = (6, 177)  # BPF_FUNC_trace_printk, BPF_FUNC_trace_vprintk


def calls_printk(obj: Any) -> bool:
    """Whether any program of `obj` calls bpf_trace_printk or bpf_trace_vprintk."""
    from .. import isa
    for p in obj.programs.values():
        try:
            insns = isa.decode(p.code)
        except PyBPFError:
            return True
        if any(i.opcode == isa.OPCODE_CALL and i.src == 0 and i.imm in _PRINTK_HELPERS
               for i in insns):
            return True
    return False


class RunCapture:
    """Collects records and printk messages of `obj`'s programs (see the module
    docstring). The trace instance is made only when a program calls bpf_trace_printk
    (or vprintk), never with `printk=False`; when it cannot be made (no tracefs, not
    root) `warnings` says so and the run goes on."""

    def __init__(self, obj: Any, record_types: dict[str, list[str]] | None = None, *,
                 printk: bool = True) -> None:
        self.obj = obj
        self.records: list[OutputRecord] = []
        self.printk: list[str] = []
        self.warnings: list[str] = []
        self._want_printk = printk
        self._types: dict[str, list[tuple[str, int, int]]] = {}
        # the record types the object declares (used for maps without record_types)
        # and the globals that declare them
        self.declared, self.record_anchors = declared_record_types(obj.spec)
        self._readers: dict[str, Any] = {}
        self._perf: dict[str, Any] = {}
        self._trace: Any = None  # the backend's printk reader
        self._wrapped: list[tuple[Any, Any]] = []
        btf = obj.spec.btf
        for map_name, names in (record_types or {}).items():
            if map_name not in obj.maps:
                raise PyBPFError(f"record type for {map_name!r}: the object has no such map "
                                 f"(maps: {', '.join(obj.maps)})")
            if obj.maps[map_name].spec.type_name not in ("ringbuf", "perf_event_array"):
                raise PyBPFError(f"record type for {map_name!r}: it is a "
                                 f"{obj.maps[map_name].spec.type_name} map, not a ring "
                                 "buffer or perf event array")
            for n in names:
                tid = resolve_type(btf, n)
                self._types.setdefault(map_name, []).append((n, tid, btf.size_of(tid)))

    # --- setting up ------------------------------------------------------------------
    def __enter__(self) -> "RunCapture":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def start(self) -> None:
        """Set up the readers; from now on every test run of the object's programs
        collects what it sent (so a long run never fills a ring)."""
        from ..maps import RingBufReader
        obj = self.obj
        for name, m in obj.maps.items():
            tname = m.spec.type_name
            if tname == "ringbuf":
                self._readers[name] = RingBufReader(m)
            elif tname == "perf_event_array":
                try:
                    self._perf[name] = self._perf_slots(m)
                except (PyBPFError, OSError) as e:  # no perf events here (CAP_PERFMON)
                    self.warnings.append(f"perf buffer {name} not read: {e}")
        if self._want_printk and calls_printk(obj):
            try:
                self._trace = obj.platform.printk_reader(obj)
            except PyBPFError as e:
                self.warnings.append(f"bpf_printk output not shown: {e}")
        if not (self._readers or self._perf or self._trace is not None):
            return  # nothing to collect: test runs stay as they are (and as fast)
        for p in obj.programs.values():
            self._wrapped.append((p, p._runner))
            p._runner = self._collecting(p._runner)

    def _collecting(self, runner: Any) -> Any:
        def run(**kw: Any) -> Any:
            try:
                return runner(**kw)
            finally:
                self.collect()
        return run

    def _perf_slots(self, m: Any) -> Any:
        """Give each CPU's slot an event; returns what reads them (the backend's
        perf reader: read() gives (cpu, record) pairs)."""
        return get_backend(m.backend).perf_reader(m)

    # --- collecting --------------------------------------------------------------------
    def collect(self) -> None:
        """Read what arrived since the last collect into `records` and `printk`."""
        for name, reader in self._readers.items():
            for rec in reader.poll(0):
                self.records.append(self._decode(name, "ringbuf", rec, None))
        for name, src in self._perf.items():
            for cpu, rec in src.read():
                self.records.append(self._decode(name, "perf", rec, cpu))
        if self._trace is not None:
            self.printk.extend(self._trace.read())

    def _decode(self, name: str, kind: str, data: bytes, cpu: int | None) -> OutputRecord:
        """The record decoded as the type given for its map that fits it, else as the
        one declared type that fits it (the first of several that fit exactly, for
        types given; none when declared types are ambiguous)."""
        rec = OutputRecord(name, kind, bytes(data), cpu)
        btf = self.obj.spec.btf
        given = name in self._types
        exact, padded = [], []
        for tname, tid, size in self._types.get(name) or self.declared:
            if len(data) == size:
                exact.append((tname, tid, size))
            elif kind == "perf" and size < len(data) <= ((size + 4 + 7) & ~7) - 4 and \
                    not any(data[size:]):
                padded.append((tname, tid, size))  # the kernel's 8-byte alignment padding
        fits = exact + padded if given else \
            (exact if len(exact) == 1 else padded if not exact and len(padded) == 1 else [])
        for tname, tid, size in fits:
            try:
                from ..btf import decode_value
                rec.value = decode_value(btf, tid, data[:size])
                rec.type = tname
                rec.data = bytes(data[:size]) if kind == "perf" else rec.data
                break
            except PyBPFError:
                continue
        return rec

    def close(self) -> None:
        for p, runner in self._wrapped:
            p._runner = runner
        self._wrapped.clear()
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()
        for src in self._perf.values():
            src.close()
        self._perf.clear()
        if self._trace is not None:
            self._trace.close()
            self._trace = None

    def __exit__(self, *exc: Any) -> None:
        try:
            if exc[0] is None:
                self.collect()
        finally:
            self.close()
