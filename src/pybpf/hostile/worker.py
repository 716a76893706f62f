"""The child side of a campaign: a process under an address-space cap that reads cases
(one JSON line each: target and seed), generates and runs each, and answers with one
JSON line: the outcome ("ok", "error" for a pybpf error, "exception" for anything else,
"memory" for a MemoryError) and, for an exception, where it was raised.

The protocol uses the descriptors the worker was started with; fds 0 and 1 are pointed
at /dev/null, so nothing the code under test prints or reads can corrupt it."""

from __future__ import annotations

import io
import json
import os
import resource
import sys
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from ..errors import PyBPFError
from .case import Case, Env, case_rng, make_env
from .targets import GENERATORS, RUNNERS, load_plugins


def _text_sink() -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="replace")


def _where(e: BaseException, limit: int = 8) -> str:
    """The innermost frames of an exception, as traceback prints them (no header)."""
    return "".join(traceback.format_tb(e.__traceback__, limit=-limit))[-3000:]


def run_case(case: Case, env: Env) -> tuple[str, str]:
    """Run one case here: (outcome, detail)."""
    stdin = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(b""), encoding="utf-8")
    try:
        with redirect_stdout(_text_sink()), redirect_stderr(_text_sink()):
            status = RUNNERS[case.target](case, env)
        if status == 70:  # the CLI's internal error (without PYBPF_DEBUG set)
            return "exception", "exit status 70: an internal error"
        if isinstance(status, int) and status:  # the CLI's exit status after a clear error
            return "error", f"exit status {status}"
        return "ok", ""
    except PyBPFError as e:
        return "error", f"{type(e).__name__}: {e}"[:200]
    except MemoryError as e:
        return "memory", "MemoryError\n" + _where(e)
    except SystemExit as e:  # argparse (2), --help/--version (0)
        if case.target == "cli" and e.code in (0, 2, None):
            return "error" if e.code == 2 else "ok", f"SystemExit({e.code})"
        return "exception", f"SystemExit({e.code!r})\n" + _where(e)
    except BaseException as e:  # noqa: BLE001 - what the harness hunts
        return "exception", (f"{type(e).__module__}.{type(e).__qualname__}: {e}"[:300]
                             .removeprefix("builtins.") + "\n" + _where(e))
    finally:
        sys.stdin = stdin


def main() -> None:
    memory = int(os.environ.get("PYBPF_HOSTILE_MEMORY", "0"))
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    load_plugins()
    os.environ["PYBPF_DEBUG"] = "1"  # the CLI re-raises what it would call an internal error
    proto_in = os.fdopen(os.dup(0), "r", encoding="utf-8")
    proto_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    scratch = Path(os.environ.get("PYBPF_HOSTILE_SCRATCH") or f"/tmp/pybpf-hostile-{os.getpid()}")
    env = make_env(scratch)
    os.chdir(scratch)
    proto_out.write(json.dumps({"ready": True}) + "\n")
    proto_out.flush()
    for line in proto_in:
        req = json.loads(line)
        target, seed = req["target"], int(req["seed"])
        t0, cpu0 = time.monotonic(), time.process_time()
        kind = "?"
        try:
            case = GENERATORS[target](case_rng(target, seed), seed, env)
            kind = case.kind
        except MemoryError:
            outcome, detail = "memory", "MemoryError while generating the case"
        else:
            outcome, detail = run_case(case, env)
        proto_out.write(json.dumps({"seed": seed, "outcome": outcome, "detail": detail,
                                    "kind": kind, "seconds": time.monotonic() - t0,
                                    "cpu": time.process_time() - cpu0})
                        + "\n")
        proto_out.flush()
        if outcome == "memory":  # the interpreter may be in a bad state: start afresh
            return


if __name__ == "__main__":
    main()
