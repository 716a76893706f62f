"""Feature probing, in the spirit of `bpftool feature probe`: can bpf(2) be used at
all, and which program types, map types and helpers does this kernel support.

Every probe creates a tiny object and closes it at once. Probes never raise: an
unexpected failure counts as "unsupported" (with the reason kept where useful).
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import platform
import struct
import sys
from dataclasses import dataclass
from typing import Any, Iterable, TypedDict, cast

from ..helper_ids import HELPER_NAMES
from . import abi
from .abi import AttachType, BpfCmd, MapType, ProgType
from .errors import ENOTSUPP, KernelError
from .fd import FD
from .maps import map_create
from .objects import BTF, btf_blob, btf_load, fs_type
from .progs import prog_load
from .syscall import bpf_raw, sys_bpf_number

MOV_R0_0 = struct.pack("<BBhi", 0xB7, 0, 0, 0)
EXIT = struct.pack("<BBhi", 0x95, 0, 0, 0)
TRIVIAL_PROG = MOV_R0_0 + EXIT

_CAPS = {"CAP_NET_ADMIN": 12, "CAP_SYS_ADMIN": 21, "CAP_PERFMON": 38, "CAP_BPF": 39}


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def _status_field(name: str) -> str | None:
    text = _read("/proc/self/status") or ""
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return None


def effective_caps() -> list[str]:
    """The BPF-relevant capabilities this process holds (from CapEff)."""
    raw = _status_field("CapEff")
    if raw is None:
        return []
    bits = int(raw, 16)
    return [name for name, bit in _CAPS.items() if bits >> bit & 1]


def _sysctl(name: str) -> int | None:
    v = _read("/proc/sys/" + name.replace(".", "/"))
    try:
        return int(v) if v is not None else None
    except ValueError:
        return None


def _permission_reason(err: KernelError) -> str:
    parts = [f"{err}; euid {os.geteuid()}"]
    caps = effective_caps()
    parts.append("capabilities: " + (", ".join(caps) if caps else "none of CAP_BPF/"
                                     "CAP_SYS_ADMIN/CAP_PERFMON/CAP_NET_ADMIN"))
    unpriv = _sysctl("kernel.unprivileged_bpf_disabled")
    if unpriv:
        parts.append(f"kernel.unprivileged_bpf_disabled={unpriv} (unprivileged bpf(2) off)")
    seccomp = _status_field("Seccomp")
    if seccomp and seccomp != "0":
        parts.append(f"seccomp mode {seccomp} (a filter may block bpf(2))")
    return "; ".join(parts)


def missing_caps(need: Iterable[str]) -> list[str]:
    """Those of the capabilities `need` (names as in _CAPS) this process lacks; as in the
    kernel, CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON."""
    have = set(effective_caps())
    unknown = [c for c in need if c not in _CAPS]
    if unknown:
        raise ValueError(f"unknown capability {unknown[0]!r}; one of {', '.join(_CAPS)}")
    return [c for c in need if c not in have and not (
        c in ("CAP_BPF", "CAP_PERFMON") and "CAP_SYS_ADMIN" in have)]


def available(need: Iterable[str] = ()) -> tuple[bool, str]:
    """(True, description) if bpf(2) can create maps and load programs here, and this
    process holds the capabilities `need` (e.g. CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN for
    tracing and networking hooks), else (False, why): not Linux, unknown syscall number,
    a missing capability, ENOSYS, EPERM as non-root or with
    kernel.unprivileged_bpf_disabled, a seccomp filter... Never raises."""
    try:
        if not sys.platform.startswith("linux"):
            return False, f"bpf(2) needs Linux; this is {sys.platform}"
        if sys_bpf_number() is None:
            return False, f"no known bpf(2) syscall number for {platform.machine()}"
        lacking = missing_caps(need)
        if lacking:
            have = effective_caps()
            return False, (f"needs {', '.join(lacking)}; euid {os.geteuid()} holds "
                           f"{', '.join(have) if have else 'none of ' + '/'.join(_CAPS)}")
        try:
            with map_create(MapType.ARRAY, 4, 8, 1):
                pass
        except KernelError as e:
            if e.errno == _errno.ENOSYS:
                seccomp = _status_field("Seccomp")
                extra = f" or blocked by seccomp (mode {seccomp})" if seccomp not in \
                    (None, "0") else ""
                return False, f"the kernel has no bpf(2) (ENOSYS){extra}"
            if e.errno in (_errno.EPERM, _errno.EACCES):
                return False, "bpf(2) not permitted: " + _permission_reason(e)
            return False, f"bpf(2) map creation failed: {e}"
        try:
            with prog_load(ProgType.SOCKET_FILTER, TRIVIAL_PROG, "GPL"):
                pass
        except KernelError as e:
            if e.errno in (_errno.EPERM, _errno.EACCES):
                return False, "bpf(2) program load not permitted: " + _permission_reason(e)
            return False, f"bpf(2) program load failed: {e}"
        jit = _sysctl("net.core.bpf_jit_enable")
        jit_text = {0: "JIT off", 1: "JIT on", 2: "JIT on (debug)"}.get(
            jit if jit is not None else -1, "JIT unknown")
        return True, f"bpf(2) usable (Linux {platform.release()} {platform.machine()}, " \
                     f"{jit_text}, euid {os.geteuid()})"
    except Exception as e:  # never raise: this is the gate for everything else
        return False, f"bpf(2) probe failed unexpectedly: {type(e).__name__}: {e}"


# --- program types ------------------------------------------------------------------------

def _kernel_version_code() -> int:
    nums = []
    for part in platform.release().split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit()) or "0"
        nums.append(int(digits[:3]))
    while len(nums) < 3:
        nums.append(0)
    return (nums[0] << 16) + (nums[1] << 8) + min(nums[2], 255)


class ProgLoadSetup(TypedDict, total=False):
    """The prog_load() keywords a probe may need beyond the type and the bytecode."""

    expected_attach_type: int
    attach_btf_id: int
    prog_flags: int
    kern_version: int


class _MapExtra(TypedDict, total=False):
    """The map_create() keywords of a probe past the three sizes (all ints)."""

    map_flags: int
    inner_map_fd: int
    btf_fd: int
    btf_key_type_id: int
    btf_value_type_id: int
    btf_vmlinux_value_type_id: int


def prog_load_setup(prog_type: int) -> ProgLoadSetup:
    """The extra PROG_LOAD fields a minimal program of `prog_type` needs to get past
    the attr checks and into the verifier (attach type, attach BTF id, flags)."""
    t = prog_type
    if t == ProgType.CGROUP_SOCK_ADDR:
        return {"expected_attach_type": AttachType.CGROUP_INET4_CONNECT}
    if t == ProgType.SK_LOOKUP:
        return {"expected_attach_type": AttachType.SK_LOOKUP}
    if t == ProgType.NETFILTER:
        return {"expected_attach_type": AttachType.NETFILTER}
    if t == ProgType.CGROUP_SOCKOPT:
        return {"expected_attach_type": AttachType.CGROUP_GETSOCKOPT}
    if t == ProgType.SYSCALL:
        return {"prog_flags": abi.BPF_F_SLEEPABLE}
    if t == ProgType.TRACING:
        return {"expected_attach_type": AttachType.TRACE_FENTRY, "attach_btf_id": 1}
    if t == ProgType.LSM:
        return {"expected_attach_type": AttachType.LSM_MAC, "attach_btf_id": 1}
    if t in (ProgType.EXT, ProgType.STRUCT_OPS):
        return {"attach_btf_id": 1}
    if t == ProgType.KPROBE:
        return {"kern_version": _kernel_version_code()}
    return {}


def probe_private_stack() -> bool:
    """Whether this kernel's JIT gives tracing programs a private stack: a kprobe
    program whose two frames need 528 bytes loads only then ("combined stack size of
    2 calls is 528. Too large" otherwise). Linux builds differ here."""
    frames = (struct.pack("<BBhi", 0xB7, 1, 0, 0) + struct.pack("<BBhi", 0x7B, 0x1A, -504, 0)
              + struct.pack("<BBhi", 0x85, 0x10, 0, 2) + TRIVIAL_PROG
              + struct.pack("<BBhi", 0xB7, 1, 0, 0) + struct.pack("<BBhi", 0x7B, 0x1A, -16, 0)
              + TRIVIAL_PROG)
    try:
        with prog_load(ProgType.KPROBE, frames, "GPL",
                       **prog_load_setup(ProgType.KPROBE)):
            return True
    except Exception:  # refused or no bpf(2): no private stack to count on
        return False


@dataclass(frozen=True)
class ProbeResult:
    """One probe: supported or not, and what the kernel said (errno / log line)."""

    supported: bool
    detail: str = ""


def probe_prog_type(prog_type: int) -> ProbeResult:
    """Load `r0 = 0; exit` as `prog_type`. Supported if it loads, or if the verifier
    ran and logged something (types that need a real attach target fail there);
    unsupported if the kernel refused the type itself (EINVAL with no log)."""
    try:
        with prog_load(prog_type, TRIVIAL_PROG, "GPL", **prog_load_setup(prog_type)):
            return ProbeResult(True, "loaded")
    except KernelError as e:
        log = getattr(e, "log", "")
        if log.strip():
            return ProbeResult(True, f"verifier ran: {getattr(e, 'reason', '')}")
        return ProbeResult(False, e.errno_name)
    except Exception as e:  # pragma: no cover - defensive
        return ProbeResult(False, f"{type(e).__name__}: {e}")


def _type_name(enum_cls: Any, value: int) -> str:
    return enum_cls(value).name.lower()


def probe_prog_types(types: Iterable[int] | None = None) -> dict[str, bool]:
    """{"socket_filter": True, ...} for every program type of the UAPI (but UNSPEC)."""
    todo = list(types) if types is not None else [t for t in ProgType if t != 0]
    return {_type_name(ProgType, t): probe_prog_type(t).supported for t in todo}


# --- map types ------------------------------------------------------------------------------

def _storage_btf() -> BTF:
    """BTF with [1] int (4 bytes), for maps that need BTF key/value types."""
    strings = b"\0int\0"
    types = struct.pack("<IIII", 1, abi.BTF_KIND_INT << 24, 4, abi.BTF_INT_SIGNED << 24 | 32)
    return btf_load(btf_blob(types, strings))


def _map_setup(map_type: int) -> dict[str, int]:
    """(key_size, value_size, max_entries, map_flags, ...) that a map of this type
    accepts, as map_create keywords."""
    t = map_type
    base = {"key_size": 4, "value_size": 8, "max_entries": 1}
    if t in (MapType.PROG_ARRAY, MapType.PERF_EVENT_ARRAY, MapType.CGROUP_ARRAY,
             MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS, MapType.DEVMAP,
             MapType.DEVMAP_HASH, MapType.CPUMAP, MapType.XSKMAP, MapType.SOCKMAP,
             MapType.SOCKHASH, MapType.REUSEPORT_SOCKARRAY):
        base["value_size"] = 4
    if t == MapType.LPM_TRIE:
        base.update(key_size=8, map_flags=abi.BPF_F_NO_PREALLOC)
    if t in (MapType.CGROUP_STORAGE, MapType.PERCPU_CGROUP_STORAGE):
        base.update(key_size=16, max_entries=0)
    if t in (MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER):
        base.update(key_size=0, value_size=4)
    if t in (MapType.RINGBUF, MapType.USER_RINGBUF):
        base.update(key_size=0, value_size=0, max_entries=os.sysconf("SC_PAGE_SIZE"))
    if t in (MapType.SK_STORAGE, MapType.INODE_STORAGE, MapType.TASK_STORAGE,
             MapType.CGRP_STORAGE):
        base.update(value_size=4, max_entries=0, map_flags=abi.BPF_F_NO_PREALLOC,
                    btf_key_type_id=1, btf_value_type_id=1)
    if t == MapType.STRUCT_OPS:
        base.update(value_size=256, btf_vmlinux_value_type_id=1)
    if t == MapType.ARENA:
        base.update(key_size=0, value_size=0, max_entries=1, map_flags=abi.BPF_F_MMAPABLE)
    return base


def probe_map_type(map_type: int) -> ProbeResult:
    """Create a small map of `map_type`. Supported if it is created (struct_ops: if
    the kernel gets as far as looking up the (bogus) struct type: ENOTSUPP)."""
    setup = _map_setup(map_type)
    extra: list[FD | BTF] = []
    try:
        if map_type in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS):
            inner = map_create(MapType.ARRAY, 4, 4, 1)
            extra.append(inner)
            setup["inner_map_fd"] = inner.fd
        if "btf_key_type_id" in setup:
            btf = _storage_btf()
            extra.append(btf)
            setup["btf_fd"] = btf.fd
        kw = dict(setup)
        fd = map_create(map_type, kw.pop("key_size"), kw.pop("value_size"),
                        kw.pop("max_entries"), **cast(_MapExtra, kw))
        fd.close()
        return ProbeResult(True, "created")
    except KernelError as e:
        if map_type == MapType.STRUCT_OPS and e.errno == ENOTSUPP:
            return ProbeResult(True, "struct_ops lookup reached (ENOTSUPP)")
        return ProbeResult(False, e.errno_name)
    except Exception as e:  # pragma: no cover - defensive
        return ProbeResult(False, f"{type(e).__name__}: {e}")
    finally:
        for obj in extra:
            obj.close()


def probe_map_types(types: Iterable[int] | None = None) -> dict[str, bool]:
    """{"hash": True, ...} for every map type of the UAPI (but UNSPEC)."""
    todo = list(types) if types is not None else [t for t in MapType if t != 0]
    return {_type_name(MapType, t): probe_map_type(t).supported for t in todo}


# --- helpers ------------------------------------------------------------------------------

_UNSUPPORTED_HELPER = ("invalid func ", "unknown func ", "program of this type cannot use helper")


def classify_helper_log(log: str) -> bool:
    """False if the verifier log says the helper is unknown or not allowed for the
    program type; True for anything else (the call itself was accepted)."""
    return not any(marker in log for marker in _UNSUPPORTED_HELPER)


def probe_helper(prog_type: int, helper_id: int) -> bool:
    """Load `call helper_id; r0 = 0; exit` as `prog_type` and read the verifier log."""
    code = struct.pack("<BBhi", 0x85, 0, 0, helper_id) + TRIVIAL_PROG
    setup = prog_load_setup(prog_type)
    buf = ctypes.create_string_buffer(4096)
    insns = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(b"GPL")
    attr = abi.ProgLoadAttr(prog_type=prog_type, insn_cnt=len(code) // 8,
                            insns=ctypes.addressof(insns), license=ctypes.addressof(lic),
                            log_level=1, log_size=len(buf), log_buf=ctypes.addressof(buf),
                            **setup)
    ret, _err = bpf_raw(BpfCmd.PROG_LOAD, attr)
    if ret >= 0:
        os.close(ret)
        return True
    return classify_helper_log(buf.value.decode("utf-8", errors="replace"))


def probe_helpers(prog_type: int, helper_ids: Iterable[int] | None = None) -> dict[str, bool]:
    """{"bpf_map_lookup_elem": True, ...}: which helpers `prog_type` may call."""
    ids = list(helper_ids) if helper_ids is not None else sorted(i for i in HELPER_NAMES if i)
    return {f"bpf_{HELPER_NAMES.get(i, f'helper{i}')}": probe_helper(prog_type, i) for i in ids}


# --- the whole report ---------------------------------------------------------------------

def system_info() -> dict[str, Any]:
    """Kernel, sysctls and mounts that matter for BPF (plain JSON-able values)."""
    return {
        "kernel_release": platform.release(),
        "machine": platform.machine(),
        "sys_bpf_number": sys_bpf_number(),
        "euid": os.geteuid() if hasattr(os, "geteuid") else None,
        "capabilities": effective_caps(),
        "bpf_jit_enable": _sysctl("net.core.bpf_jit_enable"),
        "bpf_jit_harden": _sysctl("net.core.bpf_jit_harden"),
        "bpf_jit_kallsyms": _sysctl("net.core.bpf_jit_kallsyms"),
        "unprivileged_bpf_disabled": _sysctl("kernel.unprivileged_bpf_disabled"),
        "bpf_stats_enabled": _sysctl("kernel.bpf_stats_enabled"),
        "bpffs_mounted": fs_type("/sys/fs/bpf") == "bpf",
        "btf_vmlinux": os.path.exists("/sys/kernel/btf/vmlinux"),
        "seccomp": _status_field("Seccomp"),
    }


def probe_all(*, helpers: bool = True) -> dict[str, Any]:
    """Everything, as a plain dict suitable for JSON:
    {"system": {...}, "available": {"ok", "reason"}, "prog_types": {name: bool},
     "map_types": {name: bool}, "helpers": {prog_type: [helper names]}}.
    With bpf(2) unavailable the probe sections are empty. Never raises."""
    ok, reason = available()
    report: dict[str, Any] = {
        "system": _safe(system_info, {}),
        "available": {"ok": ok, "reason": reason},
        "prog_types": {},
        "map_types": {},
        "helpers": {},
    }
    if not ok:
        return report
    report["prog_types"] = _safe(probe_prog_types, {})
    report["map_types"] = _safe(probe_map_types, {})
    if helpers:
        out: dict[str, list[str]] = {}
        for name, supported in report["prog_types"].items():
            if not supported:
                continue
            t = ProgType[name.upper()]
            res = _safe(lambda t=t: probe_helpers(t), {})
            out[name] = [h for h, yes in res.items() if yes]
        report["helpers"] = out
    return report


def _safe(fn: Any, default: Any) -> Any:
    try:
        return fn()
    except Exception:  # a probe must never take the report down
        return default


def features_report(*, helpers: bool = True) -> dict[str, Any]:
    """The report behind `pybpf features [--json]` (see probe_all)."""
    return probe_all(helpers=helpers)


def format_features(report: dict[str, Any]) -> str:
    """Human-readable text of a features_report()."""
    lines: list[str] = []
    sysinfo = report.get("system", {})
    avail = report.get("available", {})
    lines.append("System")
    lines.append(f"  kernel: Linux {sysinfo.get('kernel_release', '?')} "
                 f"{sysinfo.get('machine', '?')} (bpf syscall {sysinfo.get('sys_bpf_number')})")
    lines.append(f"  bpf(2): {'available' if avail.get('ok') else 'NOT available'}: "
                 f"{avail.get('reason', '')}")
    jit = sysinfo.get("bpf_jit_enable")
    lines.append(f"  JIT: {'on' if jit else 'off' if jit == 0 else 'unknown'}"
                 f" (harden {sysinfo.get('bpf_jit_harden')}, "
                 f"kallsyms {sysinfo.get('bpf_jit_kallsyms')})")
    lines.append(f"  unprivileged_bpf_disabled: {sysinfo.get('unprivileged_bpf_disabled')}")
    bpffs = "mounted" if sysinfo.get("bpffs_mounted") else "not mounted"
    lines.append(f"  bpffs at /sys/fs/bpf: {bpffs}")
    btf = "yes" if sysinfo.get("btf_vmlinux") else "no"
    lines.append(f"  BTF (/sys/kernel/btf/vmlinux): {btf}")
    caps = sysinfo.get("capabilities") or []
    lines.append(f"  capabilities: {', '.join(caps) if caps else 'none'}")
    for key, title in (("prog_types", "Program types"), ("map_types", "Map types")):
        table: dict[str, bool] = report.get(key, {})
        if not table:
            continue
        n = sum(1 for v in table.values() if v)
        lines.append("")
        lines.append(f"{title} ({n} of {len(table)} supported)")
        width = max(len(k) for k in table)
        for name, ok in table.items():
            lines.append(f"  {name:<{width}}  {'yes' if ok else 'no'}")
    helpers: dict[str, list[str]] = report.get("helpers", {})
    if helpers:
        lines.append("")
        lines.append("Helpers by program type")
        for ptype, names in helpers.items():
            lines.append(f"  {ptype} ({len(names)}):")
            row = "   "
            for h in names:
                if len(row) + len(h) + 1 > 96:
                    lines.append(row)
                    row = "   "
                row += " " + h
            if row.strip():
                lines.append(row)
    return "\n".join(lines) + "\n"
