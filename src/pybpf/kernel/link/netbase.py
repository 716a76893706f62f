"""What the network attach kinds (XDP, tc, cgroup) share: privilege errors that name
the capability and sysctl, and which link kinds this kernel has."""

from __future__ import annotations

import errno as _errno
import functools
import itertools
import os

from ..errors import ENOTSUPP, KernelError, kernel_error

_NOT_SUPPORTED = (_errno.EINVAL, _errno.EOPNOTSUPP, ENOTSUPP, _errno.ENOSYS)


def _privilege(e: KernelError, what: str, caps: str) -> KernelError:
    """An EPERM/EACCES rewritten to name the capability and sysctl it lacks."""
    if e.errno not in (_errno.EPERM, _errno.EACCES):
        return e
    return kernel_error(e.errno, e.cmd, privilege_text(what, caps))


def privilege_text(what: str, caps: str) -> str:
    """"<what>: needs <caps>; this process holds ...; kernel.unprivileged_bpf_disabled=N"."""
    from ..probe import _sysctl, effective_caps
    have = effective_caps()
    unpriv = _sysctl("kernel.unprivileged_bpf_disabled")
    return (f"{what}: needs {caps}; this process (euid {os.geteuid()}) holds "
            f"{', '.join(have) if have else 'none of them'}; sysctl "
            f"kernel.unprivileged_bpf_disabled={'?' if unpriv is None else unpriv} "
            "(attaching to network hooks is never allowed without the capabilities)")


# NFPROTO_* (linux/netfilter.h) and NF_INET_* hook numbers
NF_PROTOCOLS = {"ipv4": 2, "ipv6": 10}
NF_HOOKS = {"prerouting": 0, "local_in": 1, "forward": 2, "local_out": 3, "postrouting": 4}


def nf_names(pf: int, hook: int) -> tuple[str, str]:
    """("ipv4", "local_in") for the numbers; the number itself where it has no name."""
    pfs = {v: k for k, v in NF_PROTOCOLS.items()}
    hooks = {v: k for k, v in NF_HOOKS.items()}
    return pfs.get(pf, str(pf)), hooks.get(hook, str(hook))


# --- feature probes -------------------------------------------------------------------------------


# link kind -> (a type only kernels with it have in their BTF, the release that added it)
_LINK_FEATURES = {
    "xdp_link": (b"bpf_xdp_link", (5, 9)),
    "tcx_link": (b"tcx_link", (6, 6)),
    "cgroup_link": (b"bpf_cgroup_link", (5, 7)),
    "netfilter_link": (b"bpf_nf_link", (6, 4)),
    "netns_link": (b"bpf_netns_link", (5, 8)),
    "sockmap_link": (b"sockmap_link", (6, 10)),
    "kprobe_multi_link": (b"bpf_kprobe_multi_link", (5, 18)),
}


@functools.cache
def kernel_feature(name: str) -> bool:
    """Whether this kernel has link kind `name` ("xdp_link", "tcx_link", "cgroup_link"):
    the kernel's struct for it is named in its BTF (/sys/kernel/btf/vmlinux), or,
    without kernel BTF, the kernel release is at least the one that added it. (A
    BPF_LINK_CREATE probe cannot tell: a bad target and an unknown attach type both
    answer EINVAL, and a good target would attach to a real interface.)"""
    type_name, release = _LINK_FEATURES[name]
    try:
        with open("/sys/kernel/btf/vmlinux", "rb") as f:
            return b"\0" + type_name + b"\0" in f.read()
    except OSError:
        pass
    nums = []
    for part in os.uname().release.split(".")[:2]:
        digits = "".join(itertools.takewhile(str.isdigit, part))
        nums.append(int(digits or 0))
    return tuple(nums) >= release
