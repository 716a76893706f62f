"""What a refused bpf(2) call lacked: the capabilities a program type needs to load
(as the kernel checks them in bpf_prog_load) and the sysctl that shuts unprivileged
bpf(2) off, so that every EPERM on the kernel path says what to grant."""

from __future__ import annotations

import errno as _errno
import os
from typing import Iterable

from ..uapi import ProgType

# bpf_prog_load: every type but socket filters and cgroup skb needs CAP_BPF; these also
# need CAP_NET_ADMIN (is_net_admin_prog_type) or CAP_PERFMON (is_perfmon_prog_type)
_NET_ADMIN = {"SCHED_CLS", "SCHED_ACT", "XDP", "LWT_IN", "LWT_OUT", "LWT_XMIT",
              "LWT_SEG6LOCAL", "SK_SKB", "SK_MSG", "FLOW_DISSECTOR", "CGROUP_DEVICE",
              "CGROUP_SOCK", "CGROUP_SOCK_ADDR", "CGROUP_SOCKOPT", "CGROUP_SYSCTL",
              "SOCK_OPS", "EXT", "NETFILTER"}
_PERFMON = {"KPROBE", "TRACEPOINT", "PERF_EVENT", "RAW_TRACEPOINT",
            "RAW_TRACEPOINT_WRITABLE", "TRACING", "LSM", "STRUCT_OPS", "EXT"}


def caps_for(prog_types: Iterable[int]) -> list[str]:
    """The capabilities loading programs of these types needs: CAP_BPF, and
    CAP_NET_ADMIN or CAP_PERFMON for the types the kernel asks them of."""
    need = ["CAP_BPF"]
    for t in prog_types:
        try:
            name = ProgType(t).name
        except ValueError:
            continue
        if name in _NET_ADMIN and "CAP_NET_ADMIN" not in need:
            need.append("CAP_NET_ADMIN")
        if name in _PERFMON and "CAP_PERFMON" not in need:
            need.append("CAP_PERFMON")
    return need


def _unprivileged_bpf_disabled() -> int | None:
    try:
        with open("/proc/sys/kernel/unprivileged_bpf_disabled") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def explain(need: Iterable[str]) -> str:
    """Which of the capabilities `need` this process lacks, and the sysctl that
    decides whether it may use bpf(2) without them."""
    from ..kernel.probe import effective_caps, missing_caps
    need = list(need)
    lacking = missing_caps(need)
    have = effective_caps()
    held = ", ".join(have) if have else "none of CAP_BPF/CAP_PERFMON/CAP_NET_ADMIN/CAP_SYS_ADMIN"
    if lacking:
        text = (f"this needs {', '.join(need)}; the process (euid {os.geteuid()}) lacks "
                f"{', '.join(lacking)} (it holds {held})")
    else:
        text = (f"this needs {', '.join(need)}, which the process holds: the refusal comes "
                "from elsewhere (kernel lockdown, an LSM or a seccomp filter)")
    unpriv = _unprivileged_bpf_disabled()
    if unpriv is not None:
        meaning = ("unprivileged bpf(2) allowed" if unpriv == 0 else
                   "bpf(2) without CAP_BPF is refused")
        text += f"; sysctl kernel.unprivileged_bpf_disabled={unpriv} ({meaning})"
    return text


def is_permission_error(err: BaseException) -> bool:
    """An EPERM from the kernel for want of privilege: not a verifier rejection (whose
    log says why), nor an element write to a frozen or read-only map (EPERM too)."""
    from ..kernel import KernelVerifierError
    if getattr(err, "errno", None) != _errno.EPERM:
        return False
    if isinstance(err, KernelVerifierError) and err.log:
        return False
    op = str(getattr(err, "op", "") or getattr(err, "cmd", ""))
    return not any(word in op.lower() for word in ("elem", "batch", "update", "delete",
                                                     "lookup", "freeze"))


def permission_message(what: str, need: Iterable[str]) -> str:
    """One line for an EPERM: what was refused, and the capabilities and sysctl."""
    return f"{what}: Operation not permitted (EPERM): {explain(need)}"


def kernel_gate(what: str, need: Iterable[str], *, require: bool = True) -> None:
    """Raise a ToolError naming the missing capabilities and the sysctl when bpf(2)
    cannot do `what` here. With `require` false the capabilities are only named when
    bpf(2) itself refuses (a socket filter loads without them when the sysctl allows)."""
    from ..kernel import available
    from . import ToolError
    need = list(need)
    ok, reason = available(need if require else ())
    if not ok:
        if "needs CAP" in reason or "not permitted" in reason:
            raise ToolError(f"{what} is not permitted: {explain(need)}")
        raise ToolError(f"{what} needs bpf(2) in the kernel, which is not usable here: {reason}")
