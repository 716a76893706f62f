"""examples/execsnoop.c in the kernel: tracepoints syscalls:sys_enter_execve and
sys_enter_openat writing a ring buffer, read with pybpf.kernel.RingBuffer from a
blocking loop and from asyncio (counts compared with the calls made), lost events with
a one-page ring; the example script and `pybpf attach` run end to end and show a
command's events."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

import pybpf
from pybpf.btf import decode_value
from pybpf.kernel import RingBuffer
from pybpf.objects.output import resolve_type

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[2]
OBJ = ROOT / "examples" / "execsnoop.o"
SCRIPT = ROOT / "examples" / "execsnoop.py"
EXEC, OPEN = 1, 2


def _snoop(ring_size: int | None = None, **globals_: Any) -> Any:
    spec = pybpf.load(OBJ)
    for k, v in globals_.items():
        spec.set_global(k, v)
    if ring_size is not None:
        spec.maps["events"] = spec.maps["events"].with_(max_entries=ring_size)
    obj = spec.instantiate("kernel")
    try:
        for p in obj.programs.values():
            p.attach()
    except BaseException:
        obj.close()
        raise
    return obj


def _decode(obj: Any, recs: list[bytes]) -> list[dict[str, Any]]:
    tid = resolve_type(obj.spec.btf, "struct event")
    return [decode_value(obj.spec.btf, tid, r) for r in recs]


@pytest.fixture
def tmpfile(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / f"snoop-{uuid.uuid4().hex[:8]}"
    path.write_text("x")
    yield str(path)


def _open_n(path: str, n: int) -> None:
    for _ in range(n):
        os.close(os.open(path, os.O_RDONLY))


def test_openat_events_blocking(tmpfile: str) -> None:
    with _snoop(target_tgid=os.getpid()) as obj, RingBuffer(obj.maps["events"]) as rb:
        _open_n(tmpfile, 50)
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + 5
        while sum(e["filename"] == tmpfile for e in got) < 50 and time.monotonic() < deadline:
            got += _decode(obj, rb.poll(0.5))
        ours = [e for e in got if e["filename"] == tmpfile]
        assert len(ours) == 50
        # os.open is openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC)
        assert {(e["kind"], e["pid"], e["dfd"], e["flags"]) for e in ours} == \
            {(OPEN, os.getpid(), -100, os.O_RDONLY | os.O_CLOEXEC)}
        assert ours[0]["comm"] == Path("/proc/self/comm").read_text().strip()
        assert obj.globals["lost_events"] == 0
        assert all(e["pid"] == os.getpid() for e in got)  # target_tgid filters


def test_openat_events_asyncio(tmpfile: str) -> None:
    async def main(obj: Any, rb: RingBuffer) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        producer = loop.run_in_executor(None, _open_n, tmpfile, 30)
        got: list[dict[str, Any]] = []

        async def collect() -> None:
            async for rec in rb:
                ev = _decode(obj, [rec])[0]
                if ev["filename"] == tmpfile:
                    got.append(ev)
                    if len(got) == 30:
                        return

        await asyncio.wait_for(collect(), 10)
        await producer
        return got

    with _snoop(target_tgid=os.getpid()) as obj, RingBuffer(obj.maps["events"]) as rb:
        got = asyncio.run(main(obj, rb))
    assert len(got) == 30 and all(e["kind"] == OPEN for e in got)
    # the opens ran on an executor thread: same process, another thread
    assert all(e["pid"] == os.getpid() and e["tid"] != os.getpid() for e in got)


def test_execve_event_of_a_child(tmpfile: str) -> None:
    with _snoop(trace_open=False) as obj, RingBuffer(obj.maps["events"]) as rb:
        child = subprocess.run(["/bin/sh", "-c", f"exec /bin/cat {tmpfile}"],
                               capture_output=True, check=True)
        assert child.stdout == b"x"
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + 5
        while not any(e["filename"] == "/bin/cat" for e in got) and \
                time.monotonic() < deadline:
            got += _decode(obj, rb.poll(0.5))
    assert all(e["kind"] == EXEC for e in got)  # trace_open false: no OPEN events
    sh = [e for e in got if e["filename"] == "/bin/sh"]
    cat = [e for e in got if e["filename"] == "/bin/cat"]
    assert sh and cat and cat[0]["pid"] == sh[0]["pid"]  # `exec`: the same process
    assert cat[0]["comm"] == "sh"  # the name before the exec


def test_lost_events_with_a_one_page_ring(tmpfile: str) -> None:
    # struct event is 296 bytes + an 8-byte header: a 4096-byte ring holds 13
    with _snoop(ring_size=4096, target_tgid=os.getpid()) as obj:
        with RingBuffer(obj.maps["events"], lost=lambda: obj.globals["lost_events"]) as rb:
            _open_n(tmpfile, 100)
            recs = rb.poll(1.0)
            assert 0 < len(recs) <= 13
            ours = [e for e in _decode(obj, recs) if e["filename"] == tmpfile]
            assert rb.lost is not None and rb.lost > 0
            assert len(ours) + rb.lost >= 100


def test_example_script_shows_a_commands_events(tmpfile: str) -> None:
    r = subprocess.run([sys.executable, str(SCRIPT), "--json", "--", "/bin/sh", "-c",
                        f"/bin/cat {tmpfile} >/dev/null"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert any(e["kind"] == "EXEC" and e["filename"] == "/bin/cat" for e in events)
    opens = [e for e in events if e["kind"] == "OPEN" and e["filename"] == tmpfile]
    assert opens and opens[0]["comm"] == "cat"


def test_pybpf_attach_shows_ring_buffer_records(tmpfile: str) -> None:
    p = subprocess.Popen([sys.executable, "-m", "pybpf", "attach", str(OBJ), "--json",
                          "--program", "trace_execve", "tracepoint",
                          "syscalls:sys_enter_execve", "--duration", "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(p.stdout.readline() if p.stdout else "{}")
        assert first["attached"]["program"] == "trace_execve"
        subprocess.run(["/bin/cat", tmpfile], capture_output=True, check=True)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    new = [r for line in lines[:-1] for r in line["outputs"]["events"]["new"]]
    cat = [r for r in new if r.get("filename") == "/bin/cat"]
    assert cat and cat[0]["kind"] == EXEC
    assert lines[-2]["outputs"]["events"]["count"] == len(new)
    assert lines[-2]["maps"][".bss"]["lost_events"] == 0
    assert lines[-1]["detached"] is True
