"""Kernel objects beyond maps and programs: info queries, pinning in bpffs, BTF,
links, id iteration and fd-by-id, run-time statistics."""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import re
import socket
import struct
import dataclasses
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, TypeVar

from . import abi
from .abi import AttachType, BpfCmd, LinkType
from .errors import (ENOTSUPP, KernelError, KernelKeyError, NotSupportedError, btf_error,
                     kernel_error)
from .fd import FD, Owner, fd_of
from .syscall import LOG_DEFAULT_SIZE, bpf, call_with_log, libc

S = TypeVar("S", bound=ctypes.Structure)

DEFAULT_BPFFS = "/sys/fs/bpf"


def _cstr(s: str | bytes | os.PathLike[str]) -> ctypes.Array:
    raw = os.fsencode(s) if not isinstance(s, bytes) else s
    return ctypes.create_string_buffer(raw)


# --- BPF_OBJ_GET_INFO_BY_FD ---------------------------------------------------------------

def obj_get_info_by_fd(obj: "int | FD | Owner", info: S) -> S:
    """Fill `info` (a Bpf*Info structure, possibly with buffer pointers set) for the
    object behind `obj`, and return it."""
    attr = abi.InfoAttr(bpf_fd=fd_of(obj), info_len=ctypes.sizeof(info),
                        info=ctypes.addressof(info))
    bpf(BpfCmd.OBJ_GET_INFO_BY_FD, attr)
    return info


# --- bpffs, BPF_OBJ_PIN / BPF_OBJ_GET -------------------------------------------------------

def _mounts() -> list[tuple[str, str]]:
    """(mount point, fs type) of every mount of this process, from mountinfo."""
    out = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields = left.split()
                if len(fields) < 5 or not right:
                    continue
                point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)),
                               fields[4])
                out.append((point, right.split()[0]))
    except OSError:
        pass
    return out


def fs_type(path: str | os.PathLike[str]) -> str | None:
    """The file system type ("bpf", "tmpfs", ...) that `path` lives on (longest
    matching mount point; the last mount wins on a tie), or None."""
    real = os.path.realpath(path)
    best: tuple[int, str] | None = None
    for point, fstype in _mounts():
        if real == point or real.startswith(point.rstrip("/") + "/"):
            if best is None or len(point) >= best[0]:
                best = (len(point), fstype)
    return best[1] if best else None


def is_bpffs(path: str | os.PathLike[str]) -> bool:
    """True if `path` is on a BPF file system (where objects can be pinned)."""
    return fs_type(path) == "bpf"


def mount_bpffs(path: str | os.PathLike[str] = DEFAULT_BPFFS, mode: int = 0o700) -> str:
    """Mount a new bpffs instance at `path` (created if missing). Needs CAP_SYS_ADMIN."""
    p = os.fspath(path)
    os.makedirs(p, exist_ok=True)
    lib = libc()
    ret = lib.mount(b"bpf", os.fsencode(p), b"bpf", ctypes.c_ulong(0),
                    f"mode={mode:o}".encode())
    if ret != 0:
        raise kernel_error(ctypes.get_errno(), "mount(bpf)", p)
    return p


def ensure_bpffs(path: str | os.PathLike[str] = DEFAULT_BPFFS) -> str:
    """Make sure `path` is on a bpffs, mounting one there if it is not. Returns the path."""
    if is_bpffs(path):
        return os.fspath(path)
    return mount_bpffs(path)


def unmount(path: str | os.PathLike[str], *, lazy: bool = False) -> None:
    """umount2(path) (MNT_DETACH when `lazy`), for a bpffs this process mounted."""
    ret = libc().umount2(os.fsencode(os.fspath(path)), 2 if lazy else 0)
    if ret != 0:
        raise kernel_error(ctypes.get_errno(), "umount", os.fspath(path))


def obj_pin(obj: "int | FD | Owner", path: str | os.PathLike[str]) -> None:
    """Pin a map, program, link or BTF at `path` (on a bpffs), so it outlives its fds."""
    p = os.fspath(path)
    name = _cstr(p)
    attr = abi.ObjAttr(pathname=ctypes.addressof(name), bpf_fd=fd_of(obj))
    try:
        bpf(BpfCmd.OBJ_PIN, attr, p)
    except KernelError as e:
        if e.errno == _errno.EPERM and not is_bpffs(os.path.dirname(p) or "."):
            raise kernel_error(e.errno, e.cmd, f"{p} is not on a bpffs "
                                               f"(see ensure_bpffs)") from None
        raise


def obj_get(path: str | os.PathLike[str], file_flags: int = 0) -> FD:
    """Open the object pinned at `path`. `file_flags`: 0, BPF_F_RDONLY or BPF_F_WRONLY."""
    p = os.fspath(path)
    name = _cstr(p)
    attr = abi.ObjAttr(pathname=ctypes.addressof(name), file_flags=file_flags)
    return FD(bpf(BpfCmd.OBJ_GET, attr, p), "pinned")


def fd_kind(fd: "int | FD | Owner") -> str:
    """"map", "prog", "link", "btf" (or "unknown") for an fd, from its anon inode name."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd_of(fd)}")
    except OSError:
        return "unknown"
    return {"anon_inode:bpf-map": "map", "anon_inode:bpf-prog": "prog",
            "anon_inode:bpf_link": "link", "anon_inode:bpf-link": "link",  # new / BPF_OBJ_GET
            "anon_inode:btf": "btf"}.get(target, "unknown")


# --- BPF_BTF_LOAD ---------------------------------------------------------------------------

@dataclass(frozen=True)
class BtfInfo:
    """BPF_OBJ_GET_INFO_BY_FD of a BTF object."""

    id: int
    btf_size: int
    name: str
    kernel_btf: bool


class BTF(Owner):
    """A loaded BTF object (owns its fd). `log` is the BTF verifier log when asked."""

    def __init__(self, fd: FD, log: str = "") -> None:
        self._fd = fd
        self.log = log

    def info(self) -> BtfInfo:
        name = ctypes.create_string_buffer(256)
        info = abi.BpfBtfInfo(name=ctypes.addressof(name), name_len=256)
        obj_get_info_by_fd(self, info)
        return BtfInfo(info.id, info.btf_size, name.value.decode(errors="replace"),
                       bool(info.kernel_btf))

    @property
    def id(self) -> int:
        return self.info().id

    def __repr__(self) -> str:
        return f"<BTF {'closed' if self.closed else f'fd={self._fd.fd}'}>"


def btf_load(data: bytes, *, log_level: int = 0, log_size: int = LOG_DEFAULT_SIZE,
             btf_flags: int = 0) -> BTF:
    """Load a BTF blob. A rejection raises KernelBTFError with the BTF log (the load
    is retried with a log when log_level is 0, and the log buffer grows until it fits)."""
    blob = ctypes.create_string_buffer(bytes(data), len(data))
    attr = abi.BtfLoadAttr(btf=ctypes.addressof(blob), btf_size=len(data),
                           btf_flags=btf_flags)

    def set_log(a: Any, addr: int, size: int, level: int) -> None:
        a.btf_log_buf, a.btf_log_size, a.btf_log_level = addr, size, level

    ret, err, log = call_with_log(BpfCmd.BTF_LOAD, attr, log_level=log_level,
                                  log_size=log_size, set_log=set_log,
                                  true_size=lambda a: a.btf_log_true_size)
    if ret < 0:
        raise btf_error(err, log)
    return BTF(FD(ret, "btf"), log)


def btf_int_blob(name: str = "int", size: int = 4, signed: bool = True) -> bytes:
    """A minimal valid BTF blob with one type, [1] INT `name` of `size` bytes."""
    strings = b"\0" + name.encode() + b"\0"
    enc = (abi.BTF_INT_SIGNED if signed else 0) << 24 | (size * 8)
    types = struct.pack("<IIII", 1, abi.BTF_KIND_INT << 24, size, enc)
    return btf_blob(types, strings)


def btf_blob(types: bytes, strings: bytes) -> bytes:
    """Header + type section + string section (strings must start with a NUL)."""
    hdr = struct.pack("<HBBIIIII", abi.BTF_MAGIC, abi.BTF_VERSION, 0, 24,
                      0, len(types), len(types), len(strings))
    return hdr + types + strings


# --- BPF_LINK_CREATE ---------------------------------------------------------------------------

@dataclass(frozen=True)
class LinkInfo:
    """BPF_OBJ_GET_INFO_BY_FD of a link: the common fields, the raw type union, and
    decoded from it `kind` (bpftool's link type name: "xdp", "tcx", "cgroup", ...) and
    `target` (what it is attached to: an interface, a cgroup, a tracepoint...)."""

    type: LinkType | int
    id: int
    prog_id: int
    extra: bytes = field(repr=False)
    kind: str = ""
    target: str = ""

    @property
    def cgroup_id(self) -> int:
        return struct.unpack_from("<Q", self.extra, 0)[0]

    @property
    def attach_type(self) -> AttachType | int:
        """The attach type, for the link types that report one (cgroup, tcx, netkit,
        netns, tracing); 0 for the others."""
        off = {LinkType.CGROUP: 8, LinkType.TCX: 4, LinkType.NETKIT: 4, LinkType.NETNS: 4,
               LinkType.TRACING: 0}.get(self.type)  # type: ignore[call-overload]
        if off is None:
            return 0
        return _enum(AttachType, struct.unpack_from("<I", self.extra, off)[0])

    @property
    def ifindex(self) -> int:
        """The interface of an XDP, tcx or netkit link (0 once detached)."""
        if self.type in (LinkType.XDP, LinkType.TCX, LinkType.NETKIT):
            return struct.unpack_from("<I", self.extra, 0)[0]
        return 0


def _enum(cls: Any, value: int) -> Any:
    try:
        return cls(value)
    except ValueError:
        return value


def link_kind(link_type: int) -> str:
    """bpftool's name of a link type ("raw_tracepoint", "xdp", "tcx", ...)."""
    t = _enum(LinkType, link_type)
    return t.name.lower() if isinstance(t, LinkType) else f"type {link_type}"


def _ifname(ifindex: int) -> str:
    if not ifindex:
        return "(detached)"
    try:
        return socket.if_indextoname(ifindex)
    except OSError:
        return f"ifindex {ifindex}"


def _link_target(t: Any, extra: bytes, name: bytes) -> str:
    """What a link is attached to, from its info union (and the name buffer)."""
    u32 = lambda off: struct.unpack_from("<I", extra, off)[0]  # noqa: E731
    if t in (LinkType.XDP,):
        return _ifname(u32(0))
    if t in (LinkType.TCX, LinkType.NETKIT):
        direction = link_kind_direction(_enum(AttachType, u32(4)))
        return f"{_ifname(u32(0))} {direction}"
    if t is LinkType.CGROUP:
        cg = struct.unpack_from("<Q", extra, 0)[0]
        return f"cgroup id {cg} {link_kind_direction(_enum(AttachType, u32(8)))}" if cg \
            else "(detached)"
    if t is LinkType.RAW_TRACEPOINT:
        return name.split(b"\0", 1)[0].decode(errors="replace")
    if t is LinkType.TRACING:
        return f"btf id {u32(8)} (btf obj {u32(4)})"
    if t is LinkType.NETNS:
        return f"netns ino {u32(0)} {link_kind_direction(_enum(AttachType, u32(4)))}"
    if t is LinkType.NETFILTER:
        pf, hook, prio = struct.unpack_from("<IIi", extra, 0)
        return f"pf {pf} hook {hook} prio {prio}"
    if t is LinkType.PERF_EVENT:
        ptype = u32(0)
        if ptype == 5:  # BPF_PERF_EVENT_TRACEPOINT: { u64 tp_name; u32 name_len; }
            return "tracepoint " + name.split(b"\0", 1)[0].decode(errors="replace")
        if ptype in (1, 2):  # uprobe / uretprobe: { u64 file_name; u32 name_len; u32 offset }
            off = u32(20)
            path = name.split(b"\0", 1)[0].decode(errors="replace")
            return f"{'uretprobe' if ptype == 2 else 'uprobe'} {path}:{off:#x}"
        return f"perf event type {ptype}"
    return ""


def link_kind_direction(attach_type: Any) -> str:
    """A short name of an attach type ("ingress", "egress", "connect4"...)."""
    if not isinstance(attach_type, AttachType):
        return f"attach type {attach_type}"
    name = attach_type.name.lower()
    for prefix in ("tcx_", "netkit_", "cgroup_inet_", "cgroup_", "trace_"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def link_info_of(obj: "int | FD | Owner") -> LinkInfo:
    """BPF_OBJ_GET_INFO_BY_FD of a link fd, with its kind and target decoded."""
    info = abi.BpfLinkInfo()
    name = ctypes.create_string_buffer(512)
    # first call: the type; second, with the name buffer where the type has one
    obj_get_info_by_fd(obj, info)
    t = _enum(LinkType, info.type)
    if t is LinkType.RAW_TRACEPOINT:
        struct.pack_into("<QI", info.extra.raw, 0, ctypes.addressof(name), len(name))
        obj_get_info_by_fd(obj, info)
    elif t is LinkType.PERF_EVENT:
        ptype = struct.unpack_from("<I", bytes(info.extra.raw), 0)[0]
        if ptype in (1, 2, 5):
            info = abi.BpfLinkInfo()
            struct.pack_into("<IIQI", info.extra.raw, 0, ptype, 0, ctypes.addressof(name),
                             len(name))
            try:
                obj_get_info_by_fd(obj, info)
            except KernelError:
                obj_get_info_by_fd(obj, info := abi.BpfLinkInfo())
    extra = bytes(info.extra.raw)
    return LinkInfo(t, info.id, info.prog_id, extra, link_kind(info.type),
                    _link_target(t, extra, name.raw))


# link types whose kernel ops have update_prog (the others refuse BPF_LINK_UPDATE)
UPDATABLE_LINK_KINDS = frozenset({"cgroup", "xdp", "tcx", "netkit", "netns", "iter",
                                  "sockmap", "struct_ops", ""})


def prog_id_of(prog: "int | FD | Owner") -> int:
    """The id of the program behind an fd (0 if it cannot be read)."""
    try:
        return obj_get_info_by_fd(prog, abi.BpfProgInfo()).id
    except KernelError:
        return 0


class Link(Owner):
    """An attachment of a program to a hook. Closing it (or leaving its `with` block,
    or dropping it) detaches the program, unless it is pinned. For a BPF link this
    object owns the link's fd; the other attachments (netlink XDP, cls_bpf filters,
    perf-event ioctls, socket filters) subclass it with the same interface.

    `kind` and `target` say what it is attached to, as the link's info() does."""

    kind: str = ""
    target: str = ""

    def __init__(self, fd: FD, kind: str = "", target: str = "") -> None:
        self._fd = fd
        if kind:
            self.kind = kind
        if target:
            self.target = target

    @property
    def is_bpf_link(self) -> bool:
        """True when the kernel holds this attachment as a BPF link (it has an id and
        can be pinned)."""
        return True

    def info(self) -> LinkInfo:
        """The kernel's view (BPF_OBJ_GET_INFO_BY_FD): id, prog_id, kind, target. The
        target is the one this handle was attached to when it knows it (an interface
        index names a different device in another network namespace)."""
        info = link_info_of(self)
        if self.target and info.id:
            detached = info.target == "(detached)"
            return dataclasses.replace(info, target=self.target + (" (detached)" if detached
                                                                   else ""))
        return info

    @property
    def id(self) -> int:
        return self.info().id

    @property
    def prog_id(self) -> int:
        return self.info().prog_id

    def detach(self) -> None:
        """Detach now (BPF_LINK_DETACH), keeping the (now defunct) fd: a pinned link is
        detached too. Where the kernel cannot force-detach this kind of link, it is
        closed instead (which detaches it unless it is pinned)."""
        attr = abi.LinkCreateAttr(prog_fd=self.fd)  # link_detach is { u32 link_fd; }
        try:
            bpf(BpfCmd.LINK_DETACH, attr, f"{self.kind or 'link'} {self.target}".strip())
        except KernelError as e:
            if e.errno not in (_errno.EOPNOTSUPP, _errno.EINVAL):
                raise
            self.close()

    def update(self, new_prog: "int | FD | Owner", *,
               old_prog: "int | FD | Owner | None" = None) -> None:
        """BPF_LINK_UPDATE: swap in `new_prog` atomically (the hook never runs without a
        program); with `old_prog`, only if that is the program attached now (EPERM
        otherwise). Kinds that cannot be updated raise NotSupportedError."""
        attr = abi.LinkUpdateAttr(link_fd=self.fd, new_prog_fd=fd_of(new_prog))
        if old_prog is not None:
            attr.flags = abi.BPF_F_REPLACE
            attr.old_prog_fd = fd_of(old_prog)
        try:
            bpf(BpfCmd.LINK_UPDATE, attr, f"{self.kind or 'link'} {self.target}".strip())
        except KernelError as e:
            # links without update_prog answer EINVAL (raw_tp, perf_event, tracing...)
            if e.errno in (_errno.EOPNOTSUPP, ENOTSUPP) or (
                    e.errno == _errno.EINVAL and self.kind not in UPDATABLE_LINK_KINDS):
                raise NotSupportedError(e.errno, "BPF_LINK_UPDATE",
                                        f"a {self.kind or 'link'} link cannot be updated "
                                        "with a new program on this kernel") from None
            raise

    def pin(self, path: str | os.PathLike[str]) -> None:
        """Pin the link at `path` (on a bpffs): it stays attached after this process
        closes it or exits, until the pin is removed (unpin) and every fd closed."""
        obj_pin(self, path)
        self.pinned_path = os.fspath(path)

    pinned_path: str | None = None

    def unpin(self) -> None:
        """Remove the pin made by pin() (the link stays attached while this fd is open)."""
        if self.pinned_path is not None:
            try:
                os.unlink(self.pinned_path)
            except FileNotFoundError:
                pass
            self.pinned_path = None

    @classmethod
    def from_pin(cls, path: str | os.PathLike[str]) -> "Link":
        """Open the link pinned at `path` (BPF_OBJ_GET); closing it does not detach it
        while the pin exists."""
        fd = obj_get(path)
        if fd_kind(fd) != "link":
            kind = fd_kind(fd)
            fd.close()
            raise kernel_error(_errno.EINVAL, "BPF_OBJ_GET",
                               f"{os.fspath(path)} is a pinned {kind}, not a link")
        link = cls(fd)
        info = link.info()
        link.kind, link.target = info.kind, info.target
        link.pinned_path = os.fspath(path)
        return link

    @classmethod
    def from_id(cls, link_id: int) -> "Link":
        """A new fd on the link with this id (BPF_LINK_GET_FD_BY_ID)."""
        link = cls(link_get_fd_by_id(link_id))
        info = link.info()
        link.kind, link.target = info.kind, info.target
        return link

    def _not_a_link(self, what: str) -> NotSupportedError:
        return NotSupportedError(_errno.EOPNOTSUPP, what,
                                 f"{self.kind} attachment {self.target} is not a BPF link")

    def __repr__(self) -> str:
        what = " ".join(x for x in (self.kind, self.target) if x)
        state = "closed" if self.closed else f"fd={self._fd.fd}"
        return f"<{type(self).__name__}{' ' + what if what else ''} {state}>"


class FinalizedAttachment(Link):
    """An attachment that is not a BPF link (netlink XDP, a cls_bpf filter, a socket
    filter): no id, no pin; a finalizer set by the subclass (`self._finalizer`, a
    weakref.finalize) removes it on close(), detach(), or when it is dropped."""

    _finalizer: weakref.finalize

    @property
    def is_bpf_link(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def close(self) -> None:
        self._finalizer()

    def detach(self) -> None:
        self.close()


def link_create(prog: "int | FD | Owner", target: "int | FD | Owner", attach_type: int,
                flags: int = 0, *, target_btf_id: int = 0, bpf_cookie: int = 0,
                relative_fd: int = 0, expected_revision: int = 0,
                extra: bytes = b"", detail: str = "") -> Link:
    """BPF_LINK_CREATE with the generic attr: `target` is the fd (cgroup, netns, ...)
    or an ifindex (pass an int); `extra` sets the raw type-specific union (48 bytes)
    and the keyword fields set its common members."""
    attr = abi.LinkCreateAttr(prog_fd=fd_of(prog), target_fd=fd_of(target),
                              attach_type=attach_type, flags=flags)
    if extra:
        if len(extra) > 48:
            raise ValueError("link_create extra is at most 48 bytes")
        ctypes.memmove(ctypes.addressof(attr.extra), extra, len(extra))
    if target_btf_id:
        attr.extra.target_btf_id = target_btf_id
    if bpf_cookie:
        attr.extra.perf_event.bpf_cookie = bpf_cookie
    if relative_fd or expected_revision:
        attr.extra.cgroup.relative_fd = relative_fd
        attr.extra.cgroup.expected_revision = expected_revision
    return Link(FD(bpf(BpfCmd.LINK_CREATE, attr, detail), "link"))


# --- id iteration and fd by id -----------------------------------------------------------------

def _next_id(cmd: int, start_id: int) -> int | None:
    attr = abi.GetIdAttr(start_id=start_id)
    try:
        bpf(cmd, attr)
    except KernelKeyError:
        return None
    return attr.next_id


def prog_get_next_id(start_id: int = 0) -> int | None:
    """The id of the next loaded program after `start_id`, None at the end."""
    return _next_id(BpfCmd.PROG_GET_NEXT_ID, start_id)


def map_get_next_id(start_id: int = 0) -> int | None:
    return _next_id(BpfCmd.MAP_GET_NEXT_ID, start_id)


def btf_get_next_id(start_id: int = 0) -> int | None:
    return _next_id(BpfCmd.BTF_GET_NEXT_ID, start_id)


def link_get_next_id(start_id: int = 0) -> int | None:
    return _next_id(BpfCmd.LINK_GET_NEXT_ID, start_id)


def _iter_ids(next_fn: Callable[[int], int | None]) -> Iterator[int]:
    cur = 0
    while True:
        nxt = next_fn(cur)
        if nxt is None:
            return
        yield nxt
        cur = nxt


def prog_ids() -> Iterator[int]:
    """The ids of every loaded program (needs CAP_SYS_ADMIN)."""
    return _iter_ids(prog_get_next_id)


def map_ids() -> Iterator[int]:
    return _iter_ids(map_get_next_id)


def btf_ids() -> Iterator[int]:
    return _iter_ids(btf_get_next_id)


def link_ids() -> Iterator[int]:
    return _iter_ids(link_get_next_id)


def _fd_by_id(cmd: int, obj_id: int, kind: str, open_flags: int = 0) -> FD:
    attr = abi.GetIdAttr(start_id=obj_id, open_flags=open_flags)
    return FD(bpf(cmd, attr, f"{kind} id {obj_id}"), kind)


def prog_get_fd_by_id(prog_id: int) -> FD:
    """A new fd for the program with this id (KernelKeyError if there is none)."""
    return _fd_by_id(BpfCmd.PROG_GET_FD_BY_ID, prog_id, "prog")


def map_get_fd_by_id(map_id: int, open_flags: int = 0) -> FD:
    return _fd_by_id(BpfCmd.MAP_GET_FD_BY_ID, map_id, "map", open_flags)


def btf_get_fd_by_id(btf_id: int) -> FD:
    return _fd_by_id(BpfCmd.BTF_GET_FD_BY_ID, btf_id, "btf")


def link_get_fd_by_id(link_id: int) -> FD:
    return _fd_by_id(BpfCmd.LINK_GET_FD_BY_ID, link_id, "link")


# --- BPF_PROG_QUERY --------------------------------------------------------------------------

@dataclass(frozen=True)
class ProgQuery:
    """What BPF_PROG_QUERY reports for one hook: the programs attached in order, the
    link of each (0 where attached without one), and the hook's revision."""

    prog_ids: list[int]
    link_ids: list[int]
    attach_flags: int
    revision: int


def prog_query(target: "int | FD | Owner", attach_type: int, *, max_progs: int = 64,
               detail: str = "") -> ProgQuery:
    """BPF_PROG_QUERY: the programs on hook `attach_type` of `target` (a cgroup or
    netns fd, or an ifindex for tcx/netkit), growing the id buffers until they fit."""
    while True:
        progs = (ctypes.c_uint32 * max_progs)()
        links = (ctypes.c_uint32 * max_progs)()
        attr = abi.ProgQueryAttr(target_fd=fd_of(target), attach_type=attach_type,
                                 prog_ids=ctypes.addressof(progs), prog_cnt=max_progs,
                                 link_ids=ctypes.addressof(links))
        try:
            bpf(BpfCmd.PROG_QUERY, attr, detail)
        except KernelError as e:
            if e.errno == _errno.ENOSPC and max_progs < 1 << 16:
                max_progs *= 4
                continue
            raise
        n = min(attr.prog_cnt, max_progs)
        return ProgQuery(list(progs[:n]), list(links[:n]), attr.attach_flags, attr.revision)


# --- BPF_ENABLE_STATS ------------------------------------------------------------------------

def enable_stats(stats_type: int = abi.BPF_STATS_RUN_TIME) -> FD:
    """Turn on run_time_ns / run_cnt accounting for every program while the returned
    fd stays open (BPF_ENABLE_STATS)."""
    return FD(bpf(BpfCmd.ENABLE_STATS, abi.EnableStatsAttr(type=stats_type)), "stats")
