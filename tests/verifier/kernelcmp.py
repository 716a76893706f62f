"""Load a table case in the kernel (the oracle) and in pybpf's verifier, and compare
the verdicts and the first error lines."""

from __future__ import annotations

import ast
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pybpf
from pybpf.errors import PyBPFError, VerifierError

from pybpf.verifier import ALL_CAPS, verify

_INSN = re.compile(r"^\d+: \([0-9a-f]{2}\)")
_STATE = re.compile(r"^(\d+:|frame\d|R\d+=|R\d+_\w=|mark_precise|from \d+ to \d+|last_idx|regs=|"
                    r"parent |caller:|callee:|returning from|to caller|Func#|func#|"
                    r"Live regs|processed |verification time|stack depth|;|\s)")


def _attach(case) -> int:  # type: ignore[no-untyped-def]
    """A table case's expected attach type (`attach` or `expected_attach_type`; 0)."""
    return getattr(case, "attach", 0) or getattr(case, "expected_attach_type", 0) or 0


def first_error_line(log: str) -> str:
    """The kernel's first error line: the first line after the last instruction line
    that is not a state, precision or statistics line (the first such line of the log
    when the refusal came before the path walk)."""
    lines = log.splitlines()
    last = -1
    for i, ln in enumerate(lines):
        if _INSN.match(ln):
            last = i
    for ln in lines[last + 1:]:
        if ln.strip() and not _STATE.match(ln):
            # a few kernel messages lack their newline: the summary is glued on
            return re.sub(r"processed \d+ insns \(limit.*$", "", ln).strip()
    return ""


@dataclass
class Outcome:
    accepted: bool
    error: str | None
    log: str


def kernel_outcome(case, caps: tuple[str, ...] | None = None) -> Outcome:
    """BPF_PROG_LOAD of the case (maps created for it) at log level 1; with `caps`, in a
    forked child holding only those capabilities."""
    if caps is None:
        return _kernel_load(case)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(r)
            _drop_caps(caps)
            out = _kernel_load(case)
            data = repr((out.accepted, out.error, out.log)).encode()
        except BaseException as e:  # noqa: BLE001
            data = repr((False, f"harness error: {e}", "")).encode()
        os.write(w, data)
        os.close(w)
        os._exit(0)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    os.waitpid(pid, 0)
    import ast
    acc, err, log = ast.literal_eval(b"".join(chunks).decode())
    return Outcome(acc, err, log)


def _kernel_load(case) -> Outcome:
    from pybpf.kernel.errors import KernelVerifierError
    from pybpf.kernel.maps import map_create
    from pybpf.kernel.progs import prog_load
    from tests.verifier.table import MAPS
    fds: list = [None] * len(MAPS)
    owners = []
    try:
        for k in case.map_indexes():
            m = MAPS[k]
            fd = map_create(int(m.type), m.key_size, m.value_size, m.max_entries,
                            map_flags=int(m.flags))
            owners.append(fd)
            fds[k] = int(getattr(fd, "fd", fd))
        try:
            p = prog_load(case.prog_type, case.insns(fds), case.license, log_level=1,
                          expected_attach_type=_attach(case))
            p.close()
            return Outcome(True, None, p.log)
        except KernelVerifierError as e:
            from pybpf.errors import errno_name
            return Outcome(False, first_error_line(e.log) or errno_name(e.errno), e.log)
    finally:
        for o in owners:
            try:
                o.close()
            except Exception:  # noqa: BLE001
                os.close(int(o))


CAP_BITS = {"net_admin": 12, "sys_admin": 21, "perfmon": 38, "bpf": 39}


def _drop_caps(keep: tuple[str, ...]) -> None:
    """capset(2) in this process: keep only the named capabilities."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    bits = 0
    for c in keep:
        bits |= 1 << CAP_BITS[c]

    class Hdr(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]
    hdr = Hdr(0x20080522, 0)
    data = (Data * 2)()
    for i in range(2):
        word = (bits >> (32 * i)) & 0xFFFFFFFF
        data[i].effective = data[i].permitted = word
    if libc.capset(ctypes.byref(hdr), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def pybpf_outcome(case, caps: tuple[str, ...] = ("bpf", "perfmon", "net_admin",
                                                  "sys_admin")) -> Outcome:
    from tests.verifier.table import MAPS
    maps = {k: MAPS[k] for k in case.map_indexes()}
    r = verify(case.insns(), case.prog_type, maps=maps, caps=caps, license=case.license,
               log_level=1, expected_attach_type=_attach(case),
               private_stack=kernel_private_stack())
    return Outcome(r.accepted, r.error, r.log)


@functools.cache
def kernel_private_stack() -> bool:
    """The running kernel's answer (builds differ; False without bpf(2)), so that
    pybpf is asked about the same kernel the table is compared with."""
    from tests.conftest import kernel_available
    if not kernel_available()[0]:
        return False
    from pybpf.kernel.probe import probe_private_stack
    return probe_private_stack()


def object_verdict(obj: Path, name: str, caps: tuple[str, ...]) -> tuple[bool, str | None]:
    """Load program `name` of the object file `obj` in the kernel (its maps created
    with the object's BTF), in a forked child with only `caps`: (accepted, the first
    error line)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            if set(caps) != set(ALL_CAPS):
                _drop_caps(caps)
            spec = pybpf.load(str(obj))
            try:
                with spec.instantiate("kernel", programs=[name], tail_calls=False):
                    out: tuple = (True, None)
            except VerifierError as e:
                out = (False, first_error_line(e.log or "") or e.error)
            except PyBPFError as e:
                out = (False, f"not loaded: {e}")
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            out = (False, f"harness error: {e!r}")
        os.write(w, repr(out).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return ast.literal_eval(data.decode())


def object_differences(obj: Path, caps: tuple[str, ...]) -> list[tuple]:
    """Every program of the object file `obj` whose verdict or first error line with
    `caps` differs between the kernel (object_verdict) and pybpf: (name, kernel's error,
    pybpf's error)."""
    from pybpf.verifier import verify_spec
    spec = pybpf.load(str(obj))
    diff = []
    for name in spec.programs:
        accepted, error = object_verdict(obj, name, caps)
        mine = verify_spec(spec, name, caps=caps)
        if accepted != mine.accepted or (not accepted and error != mine.error):
            diff.append((name, error, mine.error))
    return diff


def expectation(table: dict, name: str, mode: str) -> "str | None":
    """A table's expected first error line of `name` in `mode`: the entry, or of an
    (all capabilities, bpf+net_admin) pair the one of the mode."""
    e = table[name]
    if isinstance(e, tuple):
        return e[0] if mode == "all" else e[1]
    return e


def table_mismatches(spec, table: dict, mode: str,  # type: ignore[no-untyped-def]
                     caps: tuple[str, ...]) -> list[tuple]:
    """The programs of `spec` whose pybpf verdict with `caps` is not the table's:
    (name, pybpf's error, the expected one)."""
    from pybpf.verifier import verify_spec
    wrong = []
    for name in spec.programs:
        r = verify_spec(spec, name, caps=caps)
        want = expectation(table, name, mode)
        if (None if r.accepted else r.error) != want:
            wrong.append((name, r.error, want))
    return wrong
