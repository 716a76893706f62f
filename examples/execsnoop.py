"""execsnoop / opensnoop with pybpf: attach examples/execsnoop.o's two tracepoint
programs in the kernel and print one line per execve and openat as they happen, read
from its ring buffer with pybpf.kernel.RingBuffer under asyncio and decoded by the
object's BTF (its `struct event`).

    python examples/execsnoop.py                       # until Ctrl-C
    python examples/execsnoop.py --duration 5 --no-open
    python examples/execsnoop.py --pid 1234            # one process only
    python examples/execsnoop.py --json -- ls /tmp     # while a command runs

With a command after `--`, tracing starts before it is started and stops once it has
exited (and its last events are read). Needs root (CAP_BPF and CAP_PERFMON).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pybpf
from pybpf.btf import decode_value
from pybpf.kernel import RingBuffer
from pybpf.objects.output import resolve_type

OBJECT = Path(__file__).resolve().parent / "execsnoop.o"
KINDS = {1: "EXEC", 2: "OPEN"}


def describe(ev: dict[str, Any]) -> dict[str, Any]:
    """A decoded struct event as plain data (strings for the char arrays)."""
    return {"kind": KINDS.get(ev["kind"], str(ev["kind"])), "pid": ev["pid"], "tid": ev["tid"],
            "uid": ev["uid"], "comm": ev["comm"], "filename": ev["filename"],
            "flags": ev["flags"], "dfd": ev["dfd"]}


def as_text(ev: Any) -> str:
    if isinstance(ev, bytes):  # a record of a size the BTF type does not have
        return f"{'?':<8} {ev.hex()}"
    value = ev["filename"] if ev["kind"] == "EXEC" else f"{ev['filename']} (flags {ev['flags']:#o})"
    return (f"{time.strftime('%H:%M:%S')} {ev['kind']:<4} {ev['pid']:>7} {ev['uid']:>5} "
            f"{ev['comm']:<16} {value}")


async def snoop(args: argparse.Namespace) -> int:
    spec = pybpf.load(OBJECT)
    if args.pid:
        spec.set_global("target_tgid", args.pid)
    if args.no_open:
        spec.set_global("trace_open", False)
    tid = resolve_type(spec.btf, "struct event")
    size = spec.btf.size_of(tid)
    with spec.instantiate("kernel") as obj:
        for prog in obj.programs.values():
            prog.attach()
        rb = RingBuffer(obj.maps["events"], lost=lambda: obj.globals["lost_events"])
        with rb:
            if not args.json:
                print(f"{'TIME':<8} {'KIND':<4} {'PID':>7} {'UID':>5} {'COMM':<16} FILENAME",
                      flush=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            child = None
            if args.command:
                child = await asyncio.create_subprocess_exec(*args.command)
            deadline = None if args.duration is None else loop.time() + args.duration

            async def read() -> None:
                async for rec in rb:
                    ev: Any = rec
                    if len(rec) == size:
                        ev = describe(decode_value(spec.btf, tid, rec))
                    print(json.dumps(ev if not isinstance(ev, bytes) else {"raw": rec.hex()})
                          if args.json else as_text(ev), flush=True)

            reader = asyncio.ensure_future(read())
            waits = [asyncio.ensure_future(stop.wait())]
            if child is not None:
                waits.append(asyncio.ensure_future(child.wait()))
            await asyncio.wait(waits, timeout=None if deadline is None
                               else max(0.0, deadline - loop.time()),
                               return_when=asyncio.FIRST_COMPLETED)
            await asyncio.sleep(0.2)  # the events the last moment sent
            reader.cancel()
            for w in waits:
                w.cancel()
            for rec in rb.consume():
                ev = describe(decode_value(spec.btf, tid, rec)) if len(rec) == size else rec
                print(json.dumps(ev) if args.json and not isinstance(ev, bytes)
                      else as_text(ev), flush=True)
            if rb.lost:
                print(f"execsnoop: {rb.lost} events lost (the ring was full)", file=sys.stderr)
            if child is not None and child.returncode is None:
                child.terminate()
                await child.wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="print execve and openat calls as they happen")
    ap.add_argument("--duration", type=float, help="stop after this many seconds")
    ap.add_argument("--pid", type=int, help="only this process (thread group id)")
    ap.add_argument("--no-open", action="store_true", help="execve only")
    ap.add_argument("--json", action="store_true", help="one JSON object per event")
    ap.add_argument("command", nargs=argparse.REMAINDER,
                    help="-- COMMAND [ARGS]: run it, trace until it exits")
    args = ap.parse_args(argv)
    if args.command and args.command[0] == "--":
        args.command = args.command[1:]
    try:
        return asyncio.run(snoop(args))
    except pybpf.PyBPFError as e:
        print(f"execsnoop: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
