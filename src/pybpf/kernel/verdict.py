"""The kernel as the verifier's oracle: what Linux's verifier says about a program,
loaded with a chosen set of capabilities.

A `KernelOracle` keeps one worker process per capability set: a forked child that has
dropped the other capabilities (capset(2) through ctypes, effective and permitted) and
keeps reading programs from a socket, loading each with BPF_PROG_LOAD and answering
with the verdict. The maps a program refers to are created in the parent (which keeps
every capability) and passed to the worker with SCM_RIGHTS, so one worker serves
thousands of programs. Each load asks for BPF_LOG_STATS, so the kernel's own
"verification time N usec" and "processed N insns" come back with the verdict.

In a case the imm of a map lddw (BPF_PSEUDO_MAP_FD / _VALUE) is the map's index in the
case's map list; the worker patches in the real fds (BPF_PSEUDO_MAP_IDX / _IDX_VALUE
take the index as it is, through fd_array). With the case's BTF, maps whose spec names
BTF key/value types are created with them, as libbpf creates an object's maps: the
kernel then knows the special fields of a value (a bpf_spin_lock, a bpf_timer).
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import pickle
import re
import socket
import struct
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from ..errors import errno_name
from ..isa import Instruction, encode
from . import abi
from .abi import BpfCmd
from .errors import KernelError
from .maps import btf_type_ids, map_create, map_freeze, map_update_elem
from .syscall import bpf_raw

__all__ = ["ALL_CAPS", "CAP_NUMBERS", "KernelOracle", "KernelVerdict", "OracleError",
           "first_error_line", "kernel_verdict", "parse_caps"]

ALL_CAPS: frozenset[str] = frozenset({"bpf", "perfmon", "net_admin", "sys_admin"})
# include/uapi/linux/capability.h
CAP_NUMBERS: dict[str, int] = {"net_admin": 12, "sys_admin": 21, "perfmon": 38, "bpf": 39}
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_SYS_CAPGET = {"x86_64": 125, "aarch64": 90, "riscv64": 90}
_SYS_CAPSET = {"x86_64": 126, "aarch64": 91, "riscv64": 91}

BPF_LOG_LEVEL1, BPF_LOG_LEVEL2, BPF_LOG_STATS = 1, 2, abi.BPF_LOG_STATS
LOG_SIZE = 1 << 20  # rolling: a longer log keeps its tail, and the verdict is asked again
PSEUDO_MAP_FD, PSEUDO_MAP_VALUE, PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE = 1, 2, 5, 6
_HEADER = struct.Struct("<Q")
_PROCESSED = re.compile(r"^processed (\d+) insns", re.M)
_VERIFY_TIME = re.compile(r"^verification time (\d+) usec", re.M)


class OracleError(KernelError):
    """The oracle could not ask the kernel (a map it cannot create, a worker gone)."""

    def __init__(self, err: int, detail: str) -> None:
        super().__init__(err, "kernel oracle", detail)


@dataclass(frozen=True)
class KernelVerdict:
    """What the kernel said about one program. `error_line` is the first line of the
    log that says why it refused (None when accepted, or when the load failed before
    verification with no log: then `errno` tells, e.g. EPERM for a program type the
    capabilities do not allow); `verify_us` the kernel's "verification time N usec"."""

    accepted: bool
    error_line: str | None
    log: str
    insns_processed: int | None
    verify_us: int | None
    errno: int = 0
    log_truncated: bool = False

    @property
    def errno_name(self) -> str:
        return errno_name(self.errno) if self.errno else ""

    def to_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "error": self.error_line,
                "errno": self.errno_name or None, "insns_processed": self.insns_processed,
                "verify_us": self.verify_us}


def parse_caps(caps: "str | Iterable[str] | None") -> frozenset[str]:
    """A capability set from "all", "none", "bpf,net_admin", "CAP_BPF" or an iterable
    of such names. Unknown names raise ValueError naming the four known ones."""
    if caps is None:
        return ALL_CAPS
    if isinstance(caps, str):
        text = caps.strip().lower()
        if text == "all":
            return ALL_CAPS
        if text in ("", "none"):
            return frozenset()
        caps = text.split(",")
    out = set()
    for c in caps:
        name = c.strip().lower().removeprefix("cap_")
        if name not in CAP_NUMBERS:
            raise ValueError(f"unknown capability {c!r}; one of: "
                             f"{', '.join(sorted(CAP_NUMBERS))} (or all, none)")
        out.add(name)
    return frozenset(out)


# --- the first error line of a log ----------------------------------------------------------

# lines the verifier writes that are not the reason of a refusal
_INFO_PREFIXES = ("processed ", "verification time", "stack depth", "max_states_per_insn",
                  "mark_read", "peak_states", "Validating ", "Func#", "func#", "last_idx",
                  "regs=", "parent didn't", "from ", "; ", "Live regs before insn",
                  "mark_precise", "caller:", "callee:", "returning from callee",
                  "to caller at", "propagating ", "old state:", "cur state:")
_INSN_OR_STATE = re.compile(r"^\s*\d+:\s")  # "12: (b7) r0 = 0", "12: R0=...", "  3: ....."
_STATE_LINE = re.compile(r"^(R\d+|fp-?\d+)[_a-z]*=|^frame\d+:")


def first_error_line(log: str) -> str | None:
    """The line of a verifier log that says why the program was refused: the first
    line that is not an instruction dump, a register state, a statistics line or one of
    the informational lines (func#, from N to M, mark_precise, Live regs, source lines).
    The kernel may follow it with more detail (the packet access error then "R2 offset
    is outside of the packet"): the first is the one users search for."""
    for ln in log.splitlines():
        s = ln.strip()
        if not s or s.startswith(_INFO_PREFIXES) or _INSN_OR_STATE.match(ln):
            continue
        if _STATE_LINE.match(s):
            continue
        return s
    return None


def _int_of(pattern: re.Pattern[str], log: str) -> int | None:
    m = pattern.search(log)
    return int(m.group(1)) if m else None


# --- capabilities -------------------------------------------------------------------------

class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def drop_capabilities(keep: frozenset[str]) -> None:
    """Remove from this process's effective, permitted and inheritable sets each of
    CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN and CAP_SYS_ADMIN not in `keep` (other
    capabilities are left as they are). For a process that will not need them back."""
    import platform
    machine = platform.machine()
    if machine not in _SYS_CAPGET:
        raise OracleError(_errno.ENOSYS, f"capget/capset syscall numbers unknown on {machine}")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    if libc.syscall(ctypes.c_long(_SYS_CAPGET[machine]), ctypes.byref(hdr), data) != 0:
        raise OracleError(ctypes.get_errno(), "capget")
    for name, num in CAP_NUMBERS.items():
        if name in keep:
            continue
        word, bit = divmod(num, 32)
        mask = ~(1 << bit) & 0xFFFF_FFFF
        data[word].effective &= mask
        data[word].permitted &= mask
        data[word].inheritable &= mask
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    if libc.syscall(ctypes.c_long(_SYS_CAPSET[machine]), ctypes.byref(hdr), data) != 0:
        raise OracleError(ctypes.get_errno(), "capset")


# --- the worker (child side) -----------------------------------------------------------------

def _patch_maps(code: bytes, fds: Sequence[int]) -> bytes:
    """Map lddws (src 1, 2) with the map's index in imm get the fd instead."""
    out = bytearray(code)
    pc, n = 0, len(code) // 8
    while pc < n:
        op = out[pc * 8]
        if op == 0x18:
            src = out[pc * 8 + 1] >> 4
            if src in (PSEUDO_MAP_FD, PSEUDO_MAP_VALUE):
                idx = struct.unpack_from("<i", out, pc * 8 + 4)[0]
                if 0 <= idx < len(fds):
                    struct.pack_into("<i", out, pc * 8 + 4, fds[idx])
            pc += 2
        else:
            pc += 1
    return bytes(out)


def _btf_fd(blob: bytes, buf: ctypes.Array) -> tuple[int, str]:
    """BPF_BTF_LOAD in the worker: (fd, "") or (-1, why)."""
    data = ctypes.create_string_buffer(blob, len(blob))
    attr = abi.BtfLoadAttr(btf=ctypes.addressof(data), btf_size=len(blob),
                           btf_log_buf=ctypes.addressof(buf), btf_log_size=len(buf),
                           btf_log_level=1)
    ctypes.memset(buf, 0, 1)
    ret, err = bpf_raw(BpfCmd.BTF_LOAD, attr)
    if ret < 0:
        log = buf.value.decode("utf-8", errors="replace").strip().splitlines()
        return -1, f"BPF_BTF_LOAD: {errno_name(err)}" + (f": {log[-1]}" if log else "")
    return ret, ""


def _load(req: dict[str, Any], fds: list[int], buf: ctypes.Array) -> dict[str, Any]:
    """One BPF_PROG_LOAD for a request; the program is closed again at once."""
    btf_fd = 0
    if req.get("btf"):
        btf_fd, why = _btf_fd(req["btf"], buf)
        if btf_fd < 0:
            return {"ret": -1, "errno": _errno.EINVAL, "log": "", "stats": "",
                    "truncated": False, "failure": why}
    try:
        return _load_prog(req, fds, buf, btf_fd)
    finally:
        if btf_fd > 0:
            os.close(btf_fd)


def _load_prog(req: dict[str, Any], fds: list[int], buf: ctypes.Array,
               btf_fd: int) -> dict[str, Any]:
    code = _patch_maps(req["code"], fds)
    finfo = req.get("func_info") or ()
    fi = (ctypes.c_uint32 * max(2 * len(finfo), 1))(*[v for pair in finfo for v in pair])
    code_buf = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(req["license"].encode())
    fd_arr = (ctypes.c_int32 * max(len(fds), 1))(*fds)

    def attempt(level: int, size: int) -> tuple[int, int, str]:
        attr = abi.ProgLoadAttr(
            prog_type=req["prog_type"], insn_cnt=len(code) // 8,
            insns=ctypes.addressof(code_buf), license=ctypes.addressof(lic),
            expected_attach_type=req["expected_attach_type"],
            fd_array=ctypes.addressof(fd_arr) if fds else 0,
            log_level=level, log_size=size, log_buf=ctypes.addressof(buf))
        if btf_fd > 0 and finfo:
            attr.prog_btf_fd = btf_fd
            attr.func_info_rec_size, attr.func_info_cnt = 8, len(finfo)
            attr.func_info = ctypes.addressof(fi)
        ctypes.memset(buf, 0, 1)
        ret, err = bpf_raw(BpfCmd.PROG_LOAD, attr)
        log = buf.value.decode("utf-8", errors="replace") if level else ""
        if ret >= 0:
            os.close(ret)
        return ret, err, log

    level = req["log_level"] | BPF_LOG_STATS
    ret, err, log = attempt(level, len(buf))
    if ret < 0 and err == _errno.ENOSPC:
        # the log did not fit (the kernel kept its tail, and answered ENOSPC in place of
        # the verdict): ask again for the errors and statistics only, which give the
        # verdict, the error line and the figures; the log kept is the first one's tail
        ret, err, stats = attempt(BPF_LOG_STATS, len(buf))
        return {"ret": ret, "errno": err, "log": log, "stats": stats, "truncated": True}
    stats = log
    if ret < 0 and level & 3 and log:
        # at levels 1 and 2 the error can follow an instruction on its line ("4: (55)
        # if r1 != 0x20 goto pc-3 infinite loop detected at insn 2"): the errors and
        # statistics alone say it on a line of its own
        ret2, err2, only = attempt(BPF_LOG_STATS, len(buf))
        if ret2 < 0 and err2 == err or ret2 >= 0:
            stats = only
    return {"ret": ret, "errno": err, "log": log, "stats": stats, "truncated": False}


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        b = sock.recv(min(n - got, 1 << 20))
        if not b:
            raise EOFError
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def _send_msg(sock: socket.socket, obj: Any, fds: Sequence[int] = ()) -> None:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    head = _HEADER.pack(len(payload))
    if fds:
        socket.send_fds(sock, [head], list(fds))
    else:
        sock.sendall(head)
    sock.sendall(payload)


def _recv_msg(sock: socket.socket, maxfds: int = 0) -> tuple[Any, list[int]]:
    fds: list[int] = []
    if maxfds:
        head, fds, _flags, _addr = socket.recv_fds(sock, _HEADER.size, maxfds)
        if not head:
            raise EOFError
        if len(head) < _HEADER.size:
            head += _recv_exact(sock, _HEADER.size - len(head))
    else:
        head = _recv_exact(sock, _HEADER.size)
    (n,) = _HEADER.unpack(head)
    return pickle.loads(_recv_exact(sock, n)), fds


def _worker_main(sock: socket.socket, caps: frozenset[str], log_size: int) -> None:
    """The child: drop capabilities, then answer load requests until EOF."""
    try:
        drop_capabilities(caps)
        _send_msg(sock, {"ready": True})
    except Exception as e:  # noqa: BLE001 - reported to the parent, which raises
        _send_msg(sock, {"ready": False, "error": str(e)})
        return
    buf = ctypes.create_string_buffer(log_size)
    while True:
        try:
            req, fds = _recv_msg(sock, maxfds=253)
        except (EOFError, OSError):
            return
        try:
            reply = _load(req, fds, buf)
        except Exception as e:  # noqa: BLE001 - a request the child cannot make
            reply = {"ret": -1, "errno": _errno.EINVAL, "log": "", "stats": "", "truncated": False,
                     "failure": f"{type(e).__name__}: {e}"}
        finally:
            for fd in fds:
                os.close(fd)
        _send_msg(sock, reply)


# --- the parent side --------------------------------------------------------------------------

def _map_key(spec: Any) -> tuple:
    inner = getattr(spec, "inner", None)
    return (int(spec.type), spec.key_size, spec.value_size, spec.max_entries,
            int(spec.flags), getattr(spec, "map_extra", 0),
            _map_key(inner) if inner is not None else None,
            tuple((bytes(k), bytes(v)) for k, v in getattr(spec, "contents", ()) or ()),
            bool(getattr(spec, "freeze", False)))


_PROG_ARRAY, _ARRAY_OF_MAPS, _HASH_OF_MAPS, _PERF_EVENT_ARRAY = 3, 12, 13, 4
# maps whose first program fixes what may use them (prog_array owner): never shared
_UNSHARED = frozenset({_PROG_ARRAY})


def _as_bytes(v: Any, size: int) -> bytes:
    if isinstance(v, int):
        return v.to_bytes(size, "little", signed=v < 0)
    return bytes(v)


class _Worker:
    def __init__(self, caps: frozenset[str], log_size: int,
                 siblings: Sequence[socket.socket] = ()) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 0
            try:
                parent.close()
                # the other workers' sockets: held here, they would never see EOF
                for s in siblings:
                    s.close()
                _worker_main(child, caps, log_size)
            except BaseException:  # noqa: BLE001
                code = 1
            finally:
                os._exit(code)
        child.close()
        self.pid, self.sock, self.caps = pid, parent, caps
        try:
            hello, _ = _recv_msg(parent)
        except (EOFError, OSError):
            hello = {"ready": False, "error": "the worker exited at start"}
        if not hello.get("ready"):
            self.close()
            raise OracleError(_errno.EPERM, f"cannot start a worker with capabilities "
                                            f"{','.join(sorted(caps)) or 'none'}: "
                                            f"{hello.get('error')}")

    def ask(self, req: dict[str, Any], fds: Sequence[int]) -> dict[str, Any]:
        _send_msg(self.sock, req, fds)
        reply, _ = _recv_msg(self.sock)
        return reply

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass


class KernelOracle:
    """Asks the kernel's verifier about programs, one worker process per capability
    set (started on first use). Maps are created in this process and reused across
    programs with the same spec (a prog_array, which the first program that uses it
    binds to its type, is made afresh each time). Close it (or use `with`) to end the
    workers and close the maps."""

    def __init__(self, *, log_size: int = LOG_SIZE) -> None:
        self.log_size = max(log_size, 128)
        self._workers: dict[frozenset[str], _Worker] = {}
        self._maps: dict[tuple, int] = {}
        self._btfs: dict[bytes, int] = {}  # BTF blob -> its fd in this process (-1: refused)
        self._private_stack: bool | None = None

    @property
    def private_stack(self) -> bool:
        """Whether this kernel's JIT gives tracing programs a private stack (a verifier
        difference between builds; probed once): what pybpf's verifier is told."""
        if self._private_stack is None:
            from .probe import probe_private_stack
            self._private_stack = probe_private_stack()
        return self._private_stack

    def __enter__(self) -> "KernelOracle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        for w in self._workers.values():
            w.close()
        self._workers.clear()
        for fd in self._maps.values():
            os.close(fd)
        self._maps.clear()
        for fd in self._btfs.values():
            if fd >= 0:
                os.close(fd)
        self._btfs.clear()

    def start(self, modes: Iterable[frozenset[str]]) -> None:
        """Start the workers for these capability sets now (forked before the caller
        starts threads of its own, such as a progress bar's)."""
        for caps in modes:
            self._worker(frozenset(caps))

    def _worker(self, caps: frozenset[str]) -> _Worker:
        w = self._workers.get(caps)
        if w is None:
            w = self._workers[caps] = _Worker(
                caps, self.log_size, [x.sock for x in self._workers.values()])
        return w

    def _btf(self, blob: bytes | None) -> int:
        """The fd of `blob` loaded in this process (0: none, or the kernel refused it)."""
        if not blob:
            return 0
        fd = self._btfs.get(blob)
        if fd is None:
            buf = ctypes.create_string_buffer(1 << 16)
            fd, _ = _btf_fd(blob, buf)
            self._btfs[blob] = fd
        return max(fd, 0)

    def _create(self, spec: Any, btf_fd: int = 0) -> int:
        inner_fd = self._create(spec.inner) if getattr(spec, "inner", None) else 0
        key_id, value_id = btf_type_ids(spec) if btf_fd else (0, 0)
        try:
            max_entries = spec.max_entries
            if int(spec.type) == _PERF_EVENT_ARRAY and max_entries == 0:
                max_entries = os.cpu_count() or 1

            def make(typed: bool) -> int:
                return map_create(int(spec.type), spec.key_size, spec.value_size, max_entries,
                                  map_flags=int(spec.flags), name=(spec.name or "")[:15],
                                  inner_map_fd=inner_fd,
                                  btf_fd=btf_fd if typed else 0,
                                  btf_key_type_id=key_id if typed else 0,
                                  btf_value_type_id=value_id if typed else 0,
                                  map_extra=getattr(spec, "map_extra", 0)).detach()
            try:
                fd = make(bool(value_id))
            except KernelError as e:
                if not value_id or e.errno != _errno.EINVAL:
                    raise
                fd = make(False)  # as libbpf retries a map its BTF does not fit
        except KernelError as e:
            raise OracleError(e.errno, f"cannot create map {spec!r}: {e}") from None
        finally:
            if inner_fd:
                os.close(inner_fd)
        try:
            for k, v in getattr(spec, "contents", ()) or ():
                map_update_elem(fd, _as_bytes(k, spec.key_size), _as_bytes(v, spec.value_size))
            if getattr(spec, "freeze", False):
                map_freeze(fd)
        except KernelError as e:
            os.close(fd)
            raise OracleError(e.errno, f"cannot fill map {spec!r}: {e}") from None
        return fd

    def _map_fds(self, maps: Sequence[Any], btf: bytes | None = None
                 ) -> tuple[list[int], list[int]]:
        """(fds in case order, fds to close after the load); with `btf`, typed maps
        are created with it."""
        fds, fresh = [], []
        for spec in maps:
            btf_fd = self._btf(btf) if btf and any(btf_type_ids(spec)) else 0
            if int(spec.type) in _UNSHARED:
                fd = self._create(spec, btf_fd)
                fresh.append(fd)
            else:
                key = _map_key(spec) + ((btf, btf_type_ids(spec)) if btf_fd else ())
                known = self._maps.get(key)
                if known is None:
                    known = self._maps[key] = self._create(spec, btf_fd)
                fd = known
            fds.append(fd)
        return fds, fresh

    def verdict(self, insns: "Sequence[Instruction] | bytes", prog_type: int, *,
                maps: Sequence[Any] = (), expected_attach_type: int | None = None,
                caps: "Iterable[str] | str | None" = None, license: str = "GPL",
                log_level: int = 1, btf: bytes | None = None,
                func_info: Sequence[tuple[int, int]] = ()) -> KernelVerdict:
        """The kernel's verdict on one program (see kernel_verdict)."""
        if log_level not in (0, 1, 2):
            raise ValueError(f"log_level must be 0, 1 or 2, not {log_level}")
        code = bytes(insns) if isinstance(insns, (bytes, bytearray)) else encode(insns)
        capset = parse_caps(caps) if not isinstance(caps, frozenset) else caps
        if len(maps) > 250:
            raise ValueError(f"{len(maps)} maps: the oracle passes at most 250 to the kernel")
        fds, fresh = self._map_fds(maps, btf)
        req = {"code": code, "prog_type": int(prog_type),
               "expected_attach_type": int(expected_attach_type or 0),
               "license": license, "log_level": log_level, "btf": btf,
               "func_info": [(int(a), int(b)) for a, b in func_info]}
        try:
            worker = self._worker(capset)
            try:
                reply = worker.ask(req, fds)
            except (EOFError, OSError) as e:
                worker.close()
                del self._workers[capset]
                raise OracleError(_errno.EPIPE, f"the kernel oracle's worker ended: {e}") \
                    from None
        finally:
            for fd in fresh:
                os.close(fd)
        log, stats = reply["log"], reply.get("stats", "")
        accepted = reply["ret"] >= 0
        return KernelVerdict(
            accepted=accepted,
            error_line=None if accepted else (first_error_line(stats)
                                              or reply.get("failure")),
            log=log, insns_processed=_int_of(_PROCESSED, stats),
            verify_us=_int_of(_VERIFY_TIME, stats), errno=0 if accepted else reply["errno"],
            log_truncated=reply["truncated"])


def kernel_verdict(insns: "Sequence[Instruction] | bytes", prog_type: int, *,
                   maps: Sequence[Any] = (), expected_attach_type: int | None = None,
                   caps: "Iterable[str] | str | None" = None, license: str = "GPL",
                   log_level: int = 1, btf: bytes | None = None,
                   func_info: Sequence[tuple[int, int]] = ()) -> KernelVerdict:
    """Load `insns` (a map lddw's imm is the map's index in `maps`, a list of MapSpec)
    as a `prog_type` program with only the capabilities `caps` (of "bpf", "perfmon",
    "net_admin", "sys_admin"; default all four) and return the kernel's verdict, its
    first error line, the log (level 1 or 2, with BPF_LOG_STATS) and its figures.
    `btf` (a BTF blob) and `func_info` ((insn, BTF FUNC id) per function) describe the
    functions of programs that need it (global functions, callbacks).
    One program: for many, keep a KernelOracle, which reuses its worker and maps."""
    with KernelOracle() as oracle:
        return oracle.verdict(insns, prog_type, maps=maps,
                              expected_attach_type=expected_attach_type, caps=caps,
                              license=license, log_level=log_level, btf=btf,
                              func_info=func_info)
