"""BPF programs: BPF_PROG_LOAD (with a verifier log that grows until it fits),
BPF_PROG_TEST_RUN, program info, and the `Program` object that owns a program fd."""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import threading
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Iterable, Sequence, TypeVar

from ..isa import Instruction, encode
from . import abi
from .abi import BpfCmd, ProgType
from .errors import KernelError, prog_test_run_error, verifier_error
from .fd import FD, Owner, fd_of
from .objects import obj_get, obj_get_info_by_fd, obj_pin, prog_get_fd_by_id
from .syscall import LOG_DEFAULT_SIZE, PreparedCall, bpf_raw, call_with_log



def _code_bytes(insns: "bytes | bytearray | memoryview | Iterable[Instruction]") -> bytes:
    if isinstance(insns, (bytes, bytearray, memoryview)):
        b = bytes(insns)
    else:
        b = encode(insns)
    if len(b) % 8:
        raise ValueError(f"program length {len(b)} is not a multiple of 8")
    return b


_E = TypeVar("_E", bound=IntEnum)


def _enum(cls: type[_E], value: int) -> _E | int:
    try:
        return cls(value)
    except ValueError:
        return value


def prog_load(prog_type: int, insns: "bytes | bytearray | memoryview | Iterable[Instruction]",
              license: str = "GPL", *, expected_attach_type: int = 0, name: str = "",
              kern_version: int = 0, prog_flags: int = 0, log_level: int = 0,
              log_size: int = LOG_DEFAULT_SIZE, attach_btf_id: int = 0,
              attach_prog_fd: "int | FD | Owner" = 0, prog_ifindex: int = 0,
              prog_btf_fd: "int | FD | Owner" = 0,
              fd_array: "Sequence[int | FD | Owner] | None" = None,
              func_info: "Sequence[tuple[int, int]] | None" = None,
              line_info: "Sequence[tuple[int, int, int, int]] | None" = None) -> "Program":
    """BPF_PROG_LOAD. `insns` is bytecode or Instructions. log_level 0/1/2 (| BPF_LOG_STATS);
    with a log the buffer starts at `log_size` and grows (ENOSPC retry) until the whole
    log fits; the log is kept as `Program.log`. A rejection raises KernelVerifierError
    (also the errno's class) carrying the full verifier log (the load is retried at
    log_level 1 for it when log_level is 0). `func_info` is (insn offset, BTF FUNC id)
    per function, with `prog_btf_fd` the BTF they refer to; `line_info` is (insn offset,
    file name offset, line text offset, line << 10 | column) per source line, the
    offsets into that BTF's strings (the kernel checks them: EINVAL with a log line)."""
    code = _code_bytes(insns)
    finfo = None
    if func_info:
        finfo = (ctypes.c_uint32 * (2 * len(func_info)))(*[v for pair in func_info for v in pair])
    code_buf = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(license.encode())
    fds = None
    if fd_array is not None:
        fds = (ctypes.c_int32 * max(len(fd_array), 1))(*[fd_of(f) for f in fd_array])
    attr = abi.ProgLoadAttr(
        prog_type=prog_type, insn_cnt=len(code) // 8, insns=ctypes.addressof(code_buf),
        license=ctypes.addressof(lic), kern_version=kern_version, prog_flags=prog_flags,
        prog_name=name.encode()[:abi.BPF_OBJ_NAME_LEN - 1], prog_ifindex=prog_ifindex,
        expected_attach_type=expected_attach_type, prog_btf_fd=fd_of(prog_btf_fd),
        attach_btf_id=attach_btf_id, attach_prog_fd=fd_of(attach_prog_fd),
        fd_array=ctypes.addressof(fds) if fds is not None else 0)
    if finfo is not None:
        attr.func_info_rec_size = 8
        attr.func_info = ctypes.addressof(finfo)
        attr.func_info_cnt = len(func_info or ())
    linfo = None
    if line_info:
        linfo = (ctypes.c_uint32 * (4 * len(line_info)))(*[v for rec in line_info for v in rec])
        attr.line_info_rec_size = 16
        attr.line_info = ctypes.addressof(linfo)
        attr.line_info_cnt = len(line_info)

    def set_log(a: abi.ProgLoadAttr, addr: int, size: int, level: int) -> None:
        a.log_buf, a.log_size, a.log_level = addr, size, level

    ret, err, log = call_with_log(BpfCmd.PROG_LOAD, attr, log_level=log_level,
                                  log_size=log_size, set_log=set_log,
                                  true_size=lambda a: a.log_true_size)
    if ret < 0:
        try:
            tname = ProgType(prog_type).name.lower()
        except ValueError:
            tname = str(prog_type)
        raise verifier_error(err, log, detail=f"{tname} program of {len(code) // 8} insns"
                             + (f" {name!r}" if name else ""))
    return Program(FD(ret, "prog"), prog_type, name=name, log=log,
                   insn_cnt=len(code) // 8, expected_attach_type=expected_attach_type)


# --- BPF_PROG_TEST_RUN ----------------------------------------------------------------------

@dataclass(frozen=True)
class TestRunResult:
    """What BPF_PROG_TEST_RUN reports: the program's (32-bit) return value, the
    packet and context after the run, and the mean run time per repetition (ns)."""

    __test__ = False  # not a pytest class

    retval: int
    data_out: bytes
    ctx_out: bytes
    duration: int


_NO_VIEW = memoryview(b"")


class TestRunBuffers:
    """The argument buffers of BPF_PROG_TEST_RUN kept from one run to the next: one
    attr (its bpf(2) arguments prepared once) and data/ctx buffers that only grow, so
    a run over a capture copies each packet in and its output out, and builds nothing
    else. Not for two threads at once (a Program keeps one per thread)."""

    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        self.attr = abi.TestRunAttr()
        self._call: PreparedCall | None = None  # made on the second run (one-shot runs
        self._ran = False                       # do not pay for it)
        self._bufs: list[ctypes.Array | None] = [None, None, None, None]  # din dout cin cout
        self._views: list[memoryview] = [_NO_VIEW] * 4  # the same, as bytes
        self._fixed: tuple[int, ...] = ()  # the attr fields the kernel does not write back

    def _buffer(self, i: int, size: int) -> int:
        """The address of buffer `i` with room for `size` bytes (0 for none)."""
        if not size:
            return 0
        b = self._bufs[i]
        if b is None or len(b) < size:
            b = self._bufs[i] = ctypes.create_string_buffer(max(size, 256))
            self._views[i] = memoryview(b).cast("B")
        return ctypes.addressof(b)

    def run(self, prog_fd: int, data_in: bytes | None = None, *,
            data_size_out: int | None = None, ctx_in: bytes | None = None,
            ctx_size_out: int | None = None, repeat: int = 1, flags: int = 0,
            cpu: int = 0, batch_size: int = 0) -> TestRunResult:
        """prog_test_run() with these buffers; the same arguments and results."""
        n_din = len(data_in) if data_in else 0
        n_cin = len(ctx_in) if ctx_in else 0
        if data_size_out is None:
            data_size_out = n_din + 4096 if n_din else 0
        if ctx_size_out is None:
            ctx_size_out = n_cin
        a = self.attr
        din = self._buffer(0, n_din)
        dout = self._buffer(1, data_size_out)
        cin = self._buffer(2, n_cin)
        cout = self._buffer(3, ctx_size_out)
        fixed = (prog_fd, din, dout, cin, cout, repeat, flags, cpu, batch_size)
        if fixed != self._fixed:  # (over a capture only the sizes change)
            (a.prog_fd, a.data_in, a.data_out, a.ctx_in, a.ctx_out, a.repeat, a.flags,
             a.cpu, a.batch_size) = fixed
            self._fixed = fixed
        a.data_size_in = n_din
        a.data_size_out = data_size_out
        a.ctx_size_in = n_cin
        a.ctx_size_out = ctx_size_out
        views = self._views
        if data_in:  # (n_din is its length)
            views[0][:n_din] = data_in
        if ctx_in:
            views[2][:n_cin] = ctx_in
        call = self._call
        try:
            if call is not None:
                ret, err = call()
            elif self._ran:
                self._call = call = PreparedCall(BpfCmd.PROG_TEST_RUN, a)
                ret, err = call()
            else:
                self._ran = True
                ret, err = bpf_raw(BpfCmd.PROG_TEST_RUN, a)
        except KernelError as e:  # no bpf(2) on this platform
            raise prog_test_run_error(e.errno, e.detail) from None
        if ret < 0:
            if err == _errno.ENOSPC:
                raise prog_test_run_error(err, f"output needs data {a.data_size_out} / ctx "
                                               f"{a.ctx_size_out} bytes")
            raise prog_test_run_error(err, "")
        # the kernel wrote exactly data_size_out / ctx_size_out bytes (ENOSPC otherwise)
        data_out = views[1][:a.data_size_out].tobytes() if dout else b""
        ctx_out = views[3][:a.ctx_size_out].tobytes() if cout else b""
        return TestRunResult(a.retval, data_out, ctx_out, a.duration)


def prog_test_run(prog: "int | FD | Owner", data_in: bytes | None = None, *,
                  data_size_out: int | None = None, ctx_in: bytes | None = None,
                  ctx_size_out: int | None = None, repeat: int = 1, flags: int = 0,
                  cpu: int = 0, batch_size: int = 0,
                  buffers: TestRunBuffers | None = None) -> TestRunResult:
    """Run a loaded program once (or `repeat` times) on `data_in` / `ctx_in`.
    data_size_out defaults to len(data_in) + 4096 (room for a grown packet);
    ctx_size_out to len(ctx_in). ENOSPC (output did not fit) raises. `buffers`
    reuses the argument buffers of earlier runs (a Program's own are used for it)."""
    if buffers is None:
        buffers = prog._test_run_buffers() if isinstance(prog, Program) else TestRunBuffers()
    return buffers.run(
        fd_of(prog), data_in, data_size_out=data_size_out, ctx_in=ctx_in,
        ctx_size_out=ctx_size_out, repeat=repeat, flags=flags, cpu=cpu,
        batch_size=batch_size)


# --- info ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProgInfo:
    """BPF_OBJ_GET_INFO_BY_FD of a program. `xlated_insns` is the bytecode after the
    verifier's rewrites, `jited_insns` the native code (empty if not allowed/JIT off)."""

    type: ProgType | int
    id: int
    tag: str
    name: str
    jited_prog_len: int
    xlated_prog_len: int
    load_time: int
    created_by_uid: int
    map_ids: list[int]
    gpl_compatible: bool
    run_time_ns: int
    run_cnt: int
    recursion_misses: int
    verified_insns: int
    btf_id: int
    ifindex: int
    attach_btf_id: int
    attach_btf_obj_id: int
    xlated_insns: bytes = field(repr=False, default=b"")
    jited_insns: bytes = field(repr=False, default=b"")


def prog_get_info(prog: "int | FD | Owner", *, insns: bool = True) -> ProgInfo:
    """Program info; with `insns`, a second query fetches the xlated and jited code
    and the map ids."""
    first = obj_get_info_by_fd(prog, abi.BpfProgInfo())
    i = first
    xl = ji = maps = None
    if insns or first.nr_map_ids:
        i = abi.BpfProgInfo()
        if insns and first.xlated_prog_len:
            xl = ctypes.create_string_buffer(first.xlated_prog_len)
            i.xlated_prog_len, i.xlated_prog_insns = first.xlated_prog_len, ctypes.addressof(xl)
        if insns and first.jited_prog_len:
            ji = ctypes.create_string_buffer(first.jited_prog_len)
            i.jited_prog_len, i.jited_prog_insns = first.jited_prog_len, ctypes.addressof(ji)
        if first.nr_map_ids:
            maps = (ctypes.c_uint32 * first.nr_map_ids)()
            i.nr_map_ids, i.map_ids = first.nr_map_ids, ctypes.addressof(maps)
        obj_get_info_by_fd(prog, i)
    return ProgInfo(
        type=_enum(ProgType, i.type),
        id=i.id, tag=bytes(i.tag).hex(), name=i.name.decode(errors="replace"),
        jited_prog_len=first.jited_prog_len, xlated_prog_len=first.xlated_prog_len,
        load_time=i.load_time, created_by_uid=i.created_by_uid,
        map_ids=list(maps[:min(i.nr_map_ids, first.nr_map_ids)]) if maps is not None else [],
        gpl_compatible=bool(i.gpl_compatible), run_time_ns=i.run_time_ns, run_cnt=i.run_cnt,
        recursion_misses=i.recursion_misses, verified_insns=i.verified_insns,
        btf_id=i.btf_id, ifindex=i.ifindex, attach_btf_id=i.attach_btf_id,
        attach_btf_obj_id=i.attach_btf_obj_id,
        xlated_insns=xl.raw[:i.xlated_prog_len] if xl is not None else b"",
        jited_insns=ji.raw[:i.jited_prog_len] if ji is not None else b"")


# --- the Program object ---------------------------------------------------------------------

class Program(Owner):
    """A loaded BPF program that owns its fd. `log` is the verifier log of the load
    (empty with log_level 0)."""

    def __init__(self, fd: FD, prog_type: int, *, name: str = "", log: str = "",
                 insn_cnt: int = 0, expected_attach_type: int = 0) -> None:
        self._fd = fd
        self.prog_type = _enum(ProgType, prog_type)
        self.name = name
        self.log = log
        self.insn_cnt = insn_cnt
        self.expected_attach_type = expected_attach_type
        self._local = threading.local()  # this thread's TestRunBuffers

    @classmethod
    def load(cls, prog_type: int,
             insns: "bytes | bytearray | memoryview | Iterable[Instruction]",
             license: str = "GPL", **kw: object) -> "Program":
        """prog_load(); see there for the keywords."""
        return prog_load(prog_type, insns, license, **kw)  # type: ignore[arg-type]  # its keywords

    @classmethod
    def from_fd(cls, fd: FD) -> "Program":
        """Wrap (and own) a program fd, reading its type and name from the kernel."""
        i = prog_get_info(fd, insns=False)
        return cls(fd, int(i.type), name=i.name)

    @classmethod
    def from_id(cls, prog_id: int) -> "Program":
        return cls.from_fd(prog_get_fd_by_id(prog_id))

    @classmethod
    def from_pin(cls, path: str | os.PathLike[str]) -> "Program":
        return cls.from_fd(obj_get(path))

    def test_run(self, data_in: bytes | None = None, **kw: object) -> TestRunResult:
        """prog_test_run() on this program, with this thread's buffers of earlier runs."""
        buffers = self._test_run_buffers()
        return buffers.run(self.fd, data_in, **kw)  # type: ignore[arg-type]  # its keywords

    def _test_run_buffers(self) -> TestRunBuffers:
        bufs: TestRunBuffers | None = getattr(self._local, "buffers", None)
        if bufs is None:
            bufs = self._local.buffers = TestRunBuffers()
        return bufs

    def info(self, *, insns: bool = True) -> ProgInfo:
        return prog_get_info(self, insns=insns)

    @property
    def id(self) -> int:
        return self.info(insns=False).id

    @property
    def tag(self) -> str:
        return self.info(insns=False).tag

    def pin(self, path: str | os.PathLike[str]) -> None:
        obj_pin(self, path)

    def __repr__(self) -> str:
        t = self.prog_type.name.lower() if isinstance(self.prog_type, ProgType) \
            else self.prog_type
        state = "closed" if self.closed else f"fd={self._fd.fd}"
        return f"<Program {t} {self.name!r} {state}>"
