"""Running a piece of hostile input in a child process under the limits a sandbox user
would set: an address-space cap (RLIMIT_AS, 2 GiB) and a wall-clock limit. A
MemoryError, a traceback or a run past its time is the child's failure, not the test
runner's."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import textwrap
from dataclasses import dataclass

MEMORY_CAP = 2 << 30


@dataclass(frozen=True)
class ChildResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict:  # type: ignore[type-arg]
        """The last line of stdout, as JSON (what the child reported)."""
        return json.loads(self.stdout.strip().splitlines()[-1])


def run_limited(code: str, *, timeout: float, memory: int = MEMORY_CAP) -> ChildResult:
    """Run `code` (Python source) in a fresh interpreter with RLIMIT_AS = `memory`;
    raise AssertionError when it runs past `timeout` seconds."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    try:
        proc = subprocess.run([sys.executable, "-"], input=textwrap.dedent(code),
                              capture_output=True, text=True, timeout=timeout, preexec_fn=cap)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"the child ran past its {timeout:.0f} s limit") from e
    return ChildResult(proc.returncode, proc.stdout, proc.stderr)
