"""pybpf's pytest plugin (entry point `pytest11`: loaded wherever pybpf is installed).

* `bpf_backend` fixture: a test that takes it runs once per backend, "vm" and
  "kernel" (ids `[vm]`, `[kernel]`); the kernel run skips with
  pybpf.kernel.available()'s reason where bpf(2) or the capabilities are missing
  (CAP_BPF, plus those named by `@pytest.mark.bpf_caps("CAP_NET_ADMIN", ...)`).
  `@pytest.mark.bpf_backends("vm")` or `--bpf-backends=vm` (ini `bpf_backends`)
  narrows the backends.
* `bpf_packets` fixture: the module pybpf.packets (Ether() / IPv4() / TCP() ... with
  checksums), for tests that build their input frames.
* Failure reports: when a test that used the fixture fails, its report gets a
  "pybpf" section with, for every object the test instantiated, each program's
  disassembly with its source lines (C lines from BTF, Python lines for the builder),
  the kernel verifier's log (of a refused program, or of the accepted ones), and the
  differences of its maps: what the test changed, and what differs from the same test's
  run on the other backend. `--bpf-report=all` reports for every test, `none` never.

The module imports nothing from pybpf until a test asks for it, so loading the plugin
costs nothing to suites that do not use it."""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generator, Iterator

import pytest

if TYPE_CHECKING:
    import pluggy

from pybpf.backend import BACKEND_NAMES, get_backend

BACKENDS = BACKEND_NAMES
KERNEL_CAPS = ("CAP_BPF",)
MAX_DISASM_LINES = 400
MAX_MAP_ENTRIES = 4096
MAX_DIFF_LINES = 60
MAX_OBJECTS = 4  # the last ones a test made (hypothesis: the failing example is last)

__all__ = ["BACKENDS", "bpf_backend", "bpf_packets", "Recorder", "ObjectRecord"]


# --- options and markers --------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pybpf")
    group.addoption("--bpf-backends", default=None, metavar="LIST",
                    help="backends the bpf_backend fixture runs on, comma-separated "
                         "(default: vm,kernel)")
    group.addoption("--bpf-report", default=None, choices=("fixture", "all", "none"),
                    help="add pybpf's section (disassembly, verifier log, map differences) "
                         "to failures of tests using bpf_backend (fixture, the default), "
                         "of every test (all), or never (none)")
    parser.addini("bpf_backends", "backends the bpf_backend fixture runs on",
                  default="vm,kernel")
    parser.addini("bpf_report", "fixture, all or none (see --bpf-report)", default="fixture")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "bpf_backends(*names): run this test's bpf_backend "
                                       "only on these backends (vm, kernel)")
    config.addinivalue_line("markers", "bpf_caps(*caps): capabilities the kernel backend "
                                       "needs for this test (besides CAP_BPF)")
    config.stash[_RUNS] = {}
    _backends(config)  # a bad --bpf-backends / --bpf-report is a usage error, up front
    _report_mode(config)


def _backends(config: pytest.Config) -> list[str]:
    raw = config.getoption("--bpf-backends") or config.getini("bpf_backends")
    names = [b.strip() for b in str(raw).split(",") if b.strip()]
    bad = [b for b in names if b not in BACKENDS]
    if bad or not names:
        raise pytest.UsageError(f"--bpf-backends: {', '.join(bad) or 'nothing'} is not a "
                                f"backend (vm, kernel)")
    return names


def _report_mode(config: pytest.Config) -> str:
    mode = config.getoption("--bpf-report") or config.getini("bpf_report")
    if mode not in ("fixture", "all", "none"):
        raise pytest.UsageError(f"bpf_report: {mode!r} is none of fixture, all, none")
    return mode


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "bpf_backend" not in metafunc.fixturenames:
        return
    backends = _backends(metafunc.config)
    marker = metafunc.definition.get_closest_marker("bpf_backends")
    if marker is not None:
        bad = [b for b in marker.args if b not in BACKENDS]
        if bad:
            raise pytest.UsageError(f"{metafunc.definition.nodeid}: bpf_backends marker names "
                                    f"{', '.join(map(repr, bad))}, not a backend (vm, kernel)")
        backends = [b for b in backends if b in marker.args]
    metafunc.parametrize("bpf_backend", backends, indirect=True, ids=backends)


@functools.lru_cache(maxsize=16)
def _kernel_available(caps: tuple[str, ...]) -> tuple[bool, str]:
    from pybpf.kernel import available
    return available(caps)


@pytest.fixture
def bpf_backend(request: pytest.FixtureRequest) -> str:
    """"vm" or "kernel": the backend to instantiate on (`spec.instantiate(bpf_backend)`).
    The kernel run skips with the reason where bpf(2) cannot be used here."""
    backend = getattr(request, "param", "vm")
    if get_backend(backend).caps.host_bpf:
        caps = list(KERNEL_CAPS)
        for marker in request.node.iter_markers("bpf_caps"):
            caps += [c for c in marker.args if c not in caps]
        ok, why = _kernel_available(tuple(caps))
        if not ok:
            pytest.skip(f"{backend} backend: bpf(2) unavailable: {why}")
    return backend


@pytest.fixture
def bpf_packets() -> Any:
    """pybpf.packets: Ether, Dot1Q, ARP, IPv4, IPv6 (+ HopByHop, Routing, Fragment,
    DestOpts), TCP, UDP, ICMP, ICMPv6, stacked with `/`, checksums filled in."""
    from pybpf import packets
    return packets


# --- recording what a test instantiates ---------------------------------------------------

@dataclass
class ObjectRecord:
    """One instantiation seen during a test: the spec, the backend, the object, the
    verifier logs of its kernel programs, and its maps when made and when closed."""

    spec: Any
    backend: str
    obj: Any = None
    error: BaseException | None = None
    logs: dict[str, str] = field(default_factory=dict)
    before: dict[str, dict[str, str]] = field(default_factory=dict)
    after: dict[str, dict[str, str]] | None = None

    def snapshot_now(self) -> None:
        if self.after is None and self.obj is not None:
            self.after = snapshot_maps(self.obj)

    @property
    def key(self) -> str:
        spec = self.spec
        return getattr(spec, "path", "") or ",".join(getattr(spec, "programs", {}))


class Recorder:
    """Wraps pybpf's instantiate() while a test runs, keeping an ObjectRecord per call;
    `verifier_log` asks the kernel for the logs of accepted programs (log level 1),
    which the objects then show as if none had been asked for."""

    def __init__(self, verifier_log: bool) -> None:
        self.verifier_log = verifier_log
        self.records: list[ObjectRecord] = []

    @contextlib.contextmanager
    def installed(self) -> Iterator["Recorder"]:
        from pybpf.objects import instance
        original = instance.instantiate
        recorder = self

        def instantiate(spec: Any, backend: Any = "vm", **kw: Any) -> Any:
            try:
                platform = get_backend(backend)
            except ValueError:  # the original says so, recorded below
                platform = None
            ask = recorder.verifier_log and platform is not None and \
                platform.caps.verifier_log and not kw.get("log_level")
            if ask:
                kw["log_level"] = 1
            rec = ObjectRecord(spec, platform.name if platform is not None else str(backend))
            recorder.records.append(rec)
            try:
                obj = original(spec, backend, **kw)
            except BaseException as e:
                rec.error = e
                raise
            rec.obj = obj
            for name, prog in obj.programs.items():
                if prog.verifier_log:
                    rec.logs[name] = prog.verifier_log
                if ask:
                    prog.verifier_log = None
            rec.before = snapshot_maps(obj)
            close = obj.close

            def close_and_keep() -> None:
                rec.snapshot_now()
                close()
            obj.close = close_and_keep  # type: ignore[method-assign]  # snapshot at close
            return obj

        instance.instantiate = instantiate
        try:
            yield self
        finally:
            instance.instantiate = original


def _shown(value: Any) -> str:
    return repr(value)


def snapshot_maps(obj: Any) -> dict[str, dict[str, str]]:
    """Every map's entries (at most MAX_MAP_ENTRIES, decoded by BTF where typed) as
    key text -> value text; all-zero array slots are left out."""
    from pybpf.objects.runner import shown
    out: dict[str, dict[str, str]] = {}
    for name, m in obj.maps.items():
        spec = obj.spec.maps.get(name)
        kind = getattr(spec, "type_name", "")
        if kind in ("prog_array", "ringbuf", "user_ringbuf", "perf_event_array",
                    "array_of_maps", "hash_of_maps", "queue", "stack", "bloom_filter"):
            continue
        entries: dict[str, str] = {}
        try:
            typed = m.typed
            for n, (key, value) in enumerate(m.items()):
                if n >= MAX_MAP_ENTRIES:
                    entries["..."] = f"(more than {MAX_MAP_ENTRIES} entries; not shown)"
                    break
                values = value if isinstance(value, list) else [value]
                if all(not any(v) for v in values):
                    continue
                if isinstance(value, list):
                    shown_value: Any = [shown(typed.value_codec, v) for v in value]
                else:
                    shown_value = shown(typed.value_codec, value)
                entries[_shown(shown(typed.key_codec, key))] = _shown(shown_value)
        except Exception as e:  # noqa: BLE001 - diagnostics must never break the test
            entries = {"!": f"(cannot be read: {type(e).__name__}: {e})"}
        out[name] = entries
    return out


def map_diff(old: dict[str, dict[str, str]], new: dict[str, dict[str, str]],
             old_name: str = "before", new_name: str = "after") -> list[str]:
    """Lines saying which entries differ between two snapshots."""
    lines: list[str] = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name, {}), new.get(name, {})
        changed = []
        for key in sorted(set(a) | set(b)):
            if a.get(key) == b.get(key):
                continue
            changed.append(f"    [{key}] {old_name}: {a.get(key, '(none)')}  "
                           f"{new_name}: {b.get(key, '(none)')}")
        if changed:
            lines.append(f"  map {name}: {len(changed)} entries differ")
            lines += changed[:MAX_DIFF_LINES]
            if len(changed) > MAX_DIFF_LINES:
                lines.append(f"    ... {len(changed) - MAX_DIFF_LINES} more")
    return lines


def _disassembly(pspec: Any) -> list[str]:
    from pybpf.tools.objdump import dump_program, format_program
    text = format_program(dump_program(pspec)).splitlines()
    if len(text) > MAX_DISASM_LINES:
        text = text[:MAX_DISASM_LINES] + [f"... {len(text) - MAX_DISASM_LINES} more lines"]
    return ["    " + line for line in text]


def _failed_program(rec: ObjectRecord) -> str | None:
    msg = str(rec.error)
    for name in getattr(rec.spec, "programs", {}):
        if f"program {name} " in msg or f"program {name}:" in msg:
            return name
    return None


def format_records(records: list[ObjectRecord],
                   others: dict[str, tuple[str, dict[str, dict[str, str]]]]) -> str:
    """The report section: per object, the programs' disassembly, the verifier logs and
    the map differences."""
    out: list[str] = []
    if len(records) > MAX_OBJECTS:
        out.append(f"({len(records) - MAX_OBJECTS} earlier objects of this test not shown)")
        records = records[-MAX_OBJECTS:]
    for rec in records:
        rec.snapshot_now()
        spec = rec.spec
        what = getattr(spec, "path", "") or "object"
        out.append(f"object {what} on the {rec.backend}"
                   + (f": instantiation failed: {type(rec.error).__name__}"
                      if rec.error is not None else ""))
        failed = _failed_program(rec) if rec.error is not None else None
        log = getattr(rec.error, "log", "") if rec.error is not None else ""
        for name, pspec in getattr(spec, "programs", {}).items():
            if rec.error is not None and failed is not None and name != failed:
                continue
            if rec.obj is not None and name not in rec.obj.programs:
                continue
            out.append(f"  program {name} ({pspec.section}):")
            out += _disassembly(pspec)
            plog = log if name == failed else rec.logs.get(name, "")
            if plog:
                out.append(f"  verifier log of {name}"
                           + (" (refused):" if name == failed else ":"))
                out += ["    " + line for line in plog.rstrip().splitlines()]
        if rec.error is not None and failed is None and log:
            out.append("  verifier log:")
            out += ["    " + line for line in log.rstrip().splitlines()]
        if rec.obj is not None and rec.after is not None:
            diff = map_diff(rec.before, rec.after, "at load", "at end")
            out += ["  maps changed during the test:"] + diff if diff else \
                ["  maps: unchanged during the test"]
            other = others.get(rec.key)
            if other is not None and other[0] != rec.backend:
                diff = map_diff(other[1], rec.after, other[0], rec.backend)
                out += [f"  maps at end, {other[0]} run vs this {rec.backend} run:"] + diff \
                    if diff else [f"  maps at end: the same as in the {other[0]} run"]
    return "\n".join(out)


_RECORDER = pytest.StashKey[Recorder]()
_RUNS = pytest.StashKey[dict]()  # (test without backend, object) -> (backend, maps at end)


def _uses_plugin(item: pytest.Item) -> bool:
    return "bpf_backend" in getattr(item, "fixturenames", ())


def _run_key(item: pytest.Item) -> tuple[Any, ...]:
    callspec = getattr(item, "callspec", None)
    params = {} if callspec is None else {k: repr(v) for k, v in callspec.params.items()
                                          if k != "bpf_backend"}
    return (str(item.path), getattr(item, "originalname", item.name), tuple(sorted(params.items())))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: Any) -> Iterator[None]:
    mode = _report_mode(item.config)
    if mode == "none" or (mode == "fixture" and not _uses_plugin(item)):
        yield
        return
    recorder = Recorder(verifier_log=_uses_plugin(item))
    item.stash[_RECORDER] = recorder
    with recorder.installed():
        yield
    runs = item.config.stash.get(_RUNS, {})
    backend = getattr(getattr(item, "callspec", None), "params", {}).get("bpf_backend")
    for rec in recorder.records:
        rec.snapshot_now()
        if backend is not None and rec.after is not None:
            runs[(_run_key(item), rec.key)] = (rec.backend, rec.after)
    recorder.records.clear()  # the objects are the test's: let them go


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pluggy.Result[pytest.TestReport], None]:
    outcome = yield
    report = outcome.get_result()
    if not report.failed or call.when == "teardown":
        return
    recorder = item.stash.get(_RECORDER, None)
    if recorder is None or not recorder.records:
        return
    runs = item.config.stash.get(_RUNS, {})
    key = _run_key(item)
    others = {k[1]: v for k, v in runs.items() if k[0] == key}
    try:
        text = format_records(recorder.records, others)
    except Exception as e:  # noqa: BLE001 - a report must never hide the test's failure
        text = f"(pybpf could not describe the objects: {type(e).__name__}: {e})"
    if not text:
        return
    addsection = getattr(report.longrepr, "addsection", None)  # an ExceptionRepr's
    if addsection is not None:
        addsection("pybpf", text)
    else:
        report.sections.append(("pybpf", text))
