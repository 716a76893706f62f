"""The parent side of a campaign: worker processes under the memory cap, cases handed
out by (target, seed), a wall-clock limit per case (a worker past it is killed and
replaced), counts per entry point and a reproducer for each failure."""

from __future__ import annotations

import json
import os
import queue
import select
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .case import Case, case_rng, make_env, write_reproducer
from .known import ITEMS, known_item
from .targets import GENERATORS, TARGETS, load_plugins

MEMORY_CAP = 2 << 30
CASE_TIMEOUT = 20.0  # CPU seconds; a case takes milliseconds, a few seconds at worst
WALL_FACTOR = 3  # a worker silent for this many times the limit is killed (a hang)
FAILURES = ("exception", "time", "memory")


@dataclass
class TargetStats:
    """Outcomes of one entry point's cases."""

    cases: int = 0
    ok: int = 0
    errors: int = 0  # pybpf errors: the answer to bad input
    exceptions: int = 0  # anything else, a worker that died included
    over_time: int = 0
    over_memory: int = 0
    known: dict[str, int] = field(default_factory=dict)  # issue-11 items fixed elsewhere
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return self.exceptions + self.over_time + self.over_memory


@dataclass
class Failure:
    target: str
    seed: int
    kind: str
    outcome: str
    detail: str
    known: int | None
    reproducer: str = ""


@dataclass
class CampaignResult:
    seed: int
    stats: dict[str, TargetStats]
    failures: list[Failure]
    seconds: float
    interrupted: bool = False  # stopped early (Ctrl-C): the counts are of the cases run

    @property
    def failed(self) -> bool:
        return any(s.failed for s in self.stats.values())

    def to_json(self) -> dict:
        return {"seed": self.seed, "seconds": round(self.seconds, 1),
                "interrupted": self.interrupted,
                "targets": {t: {**asdict(s), "seconds": round(s.seconds, 1)}
                            for t, s in self.stats.items()},
                "failures": [asdict(f) for f in self.failures],
                "known_items": {str(k): v for k, v in ITEMS.items()}}


class WorkerDied(Exception):
    """The worker exited while running a case (a crash, or the memory cap hit outside
    Python's reach)."""


class Worker:
    """One child process running cases; replaced when a case kills or hangs it."""

    def __init__(self, memory: int, scratch: Path) -> None:
        env = {**os.environ, "PYBPF_HOSTILE_MEMORY": str(memory),
               "PYBPF_HOSTILE_SCRATCH": str(scratch)}
        self.stderr = tempfile.TemporaryFile()
        # a session of its own: a Ctrl-C stops the campaign, not the case under way
        self.proc = subprocess.Popen([sys.executable, "-m", "pybpf.hostile.worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, env=env, start_new_session=True)
        assert self.proc.stdin is not None and self.proc.stdout is not None  # PIPEs
        self._stdin, self._stdout = self.proc.stdin, self.proc.stdout
        self._buf = b""
        ready = self._readline(120.0)
        if ready is None:
            self.close()
            raise RuntimeError("the hostile-input worker did not start: " + self._err())

    def _err(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()[-2000:].decode(errors="replace")

    def _readline(self, timeout: float) -> bytes | None:
        """A line from the worker, None on timeout; WorkerDied at end of file."""
        deadline = time.monotonic() + timeout
        fd = self._stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            poller = select.poll()  # not select.select: it fails on an fd above 1023
            poller.register(fd, select.POLLIN)
            if not poller.poll(left * 1000):
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise WorkerDied(f"exit status {self.proc.wait()}: {self._err()}")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def run(self, target: str, seed: int, timeout: float) -> dict | None:
        """The worker's answer for one case; None when it ran past `timeout`."""
        try:
            self._stdin.write(json.dumps({"target": target, "seed": seed}).encode() + b"\n")
            self._stdin.flush()
        except BrokenPipeError:
            raise WorkerDied(f"exit status {self.proc.wait()}: {self._err()}") from None
        line = self._readline(timeout)
        return None if line is None else json.loads(line)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            if f:
                try:
                    f.close()
                except OSError:
                    pass
        self.stderr.close()


def plan(count: int, targets: Iterable[str], seed: int) -> list[tuple[str, int]]:
    """`count` cases spread evenly over `targets`: (target, case seed)."""
    targets = list(targets)
    return [(targets[i % len(targets)], seed * 10_000_000 + i // len(targets))
            for i in range(count)]


def run_campaign(count: int, targets: Iterable[str] = TARGETS, *, seed: int = 0,
                 jobs: int = 1, out_dir: Path | None = None, timeout: float = CASE_TIMEOUT,
                 memory: int = MEMORY_CAP, strict: bool = False,
                 wall_timeout: float | None = None,
                 progress: Callable[[str, str], None] | None = None) -> CampaignResult:
    """Run `count` cases over `targets` on `jobs` workers. A case fails with a non-pybpf
    exception, a run past `timeout` seconds of CPU (on a shared machine wall time is
    not the case's; a worker silent for `wall_timeout` seconds, by default WALL_FACTOR
    times as long, is killed as hung),
    or a MemoryError (under the `memory` address-space cap); failures of the issue-11 items
    fixed elsewhere are counted as known unless `strict`. Reproducers go to `out_dir`."""
    targets = list(targets)
    wall = wall_timeout if wall_timeout is not None else timeout * WALL_FACTOR
    load_plugins()
    for t in targets:
        if t not in GENERATORS:
            raise ValueError(f"unknown target {t!r} (expected one of {', '.join(TARGETS)})")
    stats = {t: TargetStats() for t in targets}
    failures: list[Failure] = []
    lock = threading.Lock()
    work: queue.Queue[tuple[str, int]] = queue.Queue()
    for item in plan(count, targets, seed):
        work.put(item)
    scratch_root = Path(tempfile.mkdtemp(prefix="pybpf-hostile-"))
    env = make_env(scratch_root / "parent")
    start = time.monotonic()
    errors: list[BaseException] = []

    def record(target: str, case_seed: int, outcome: str, detail: str, kind: str,
               seconds: float) -> None:
        with lock:
            s = stats[target]
            s.cases += 1
            s.seconds += seconds
            if outcome == "ok":
                s.ok += 1
            elif outcome == "error":
                s.errors += 1
            else:
                case = GENERATORS[target](case_rng(target, case_seed), case_seed, env)
                item = None if strict else known_item(case, outcome, detail)
                if item is not None:
                    s.known[f"item {item}"] = s.known.get(f"item {item}", 0) + 1
                elif outcome == "time":
                    s.over_time += 1
                elif outcome == "memory":
                    s.over_memory += 1
                else:
                    s.exceptions += 1
                f = Failure(target, case_seed, case.kind, outcome, detail, item)
                if out_dir is not None:
                    f.reproducer = str(write_reproducer(out_dir / ("known" if item else "new"),
                                                        case, outcome, detail))
                failures.append(f)
        if progress:
            progress(target, outcome)

    def serve(n: int) -> None:
        worker: Worker | None = None
        try:
            while True:
                try:
                    target, case_seed = work.get_nowait()
                except queue.Empty:
                    return
                if worker is None or not worker.alive:
                    if worker is not None:
                        worker.close()
                    worker = Worker(memory, scratch_root / f"w{n}")
                t0 = time.monotonic()
                try:
                    answer = worker.run(target, case_seed, wall)
                except WorkerDied as e:
                    worker.close()
                    worker = None
                    record(target, case_seed, "exception", f"the worker died: {e}", "?",
                           time.monotonic() - t0)
                    continue
                if answer is None:
                    worker.close()
                    worker = None
                    record(target, case_seed, "time",
                           f"no answer in {wall:.0f} s", "?",
                           time.monotonic() - t0)
                    continue
                outcome = answer["outcome"]
                if outcome == "memory":  # the worker leaves after a MemoryError
                    worker.close()
                    worker = None
                if outcome in ("ok", "error") and answer["cpu"] > timeout:
                    outcome, answer["detail"] = "time", (f"took {answer['cpu']:.1f} s of CPU "
                                                         f"({answer['seconds']:.1f} s)")
                record(target, case_seed, outcome, answer["detail"], answer["kind"],
                       answer["seconds"])
        except BaseException as e:  # noqa: BLE001 - reported by the caller
            errors.append(e)
        finally:
            if worker is not None:
                worker.close()

    threads = [threading.Thread(target=serve, args=(n,), daemon=True) for n in range(jobs)]
    for th in threads:
        th.start()
    interrupted = False
    try:
        for th in threads:
            while th.is_alive():
                th.join(0.5)
    except KeyboardInterrupt:  # stop handing out cases; the running ones finish
        interrupted = True
        while True:
            try:
                work.get_nowait()
            except queue.Empty:
                break
        for th in threads:
            th.join()
    import shutil
    shutil.rmtree(scratch_root, ignore_errors=True)
    if errors:
        raise errors[0]
    return CampaignResult(seed, stats, failures, time.monotonic() - start, interrupted)


def replay(path: Path) -> tuple[str, str]:
    """Run a reproducer (the JSON a campaign wrote) again in this process: (outcome,
    detail)."""
    from .worker import run_case
    case = Case.from_json(json.loads(Path(path).read_text()))
    with tempfile.TemporaryDirectory(prefix="pybpf-hostile-") as d:
        env = make_env(Path(d))
        cwd, debug = os.getcwd(), os.environ.get("PYBPF_DEBUG")
        os.chdir(d)
        os.environ["PYBPF_DEBUG"] = "1"  # the CLI re-raises, as in the worker
        try:
            return run_case(case, env)
        finally:
            os.chdir(cwd)
            if debug is None:
                del os.environ["PYBPF_DEBUG"]
            else:
                os.environ["PYBPF_DEBUG"] = debug
