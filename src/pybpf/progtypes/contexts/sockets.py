"""struct bpf_sock as cgroup/sock programs see it, per attach type (net/core/filter.c:
sock_filter_is_valid_access): a type the VM does not run but the verifier checks. The
other socket types' tables are sk_skb, sk_msg and sk_lookup."""

from __future__ import annotations

from functools import lru_cache

from ..ctx import W4, ContextSpec, FieldKind, with_permissions
from .sock import BPF_SOCK_SIZE, bpf_sock_spec

_V = FieldKind.VALUE
_NONE: tuple[frozenset[int], frozenset[int]] = (frozenset(), frozenset())

# enum bpf_attach_type
INET_SOCK_CREATE, INET4_POST_BIND, INET6_POST_BIND, INET_SOCK_RELEASE = 2, 12, 13, 34
_SRC_IP6 = frozenset(f"src_ip6[{i}]" for i in range(4))


@lru_cache(maxsize=None)
def cgroup_sock_spec(attach_type: int) -> ContextSpec:
    """struct bpf_sock as a cgroup/sock program attached at `attach_type` may access it
    (0 is the kernel's default, INET_SOCK_CREATE): bound_dev_if, mark and priority
    read and written (4 bytes) only at socket create and release, src_ip4 read only in
    inet4 post_bind, src_ip6 in inet6 post_bind, src_port in either; the rest read
    only."""
    at = attach_type or INET_SOCK_CREATE
    create = at in (INET_SOCK_CREATE, INET_SOCK_RELEASE)
    perms: dict[str, tuple[frozenset[int], frozenset[int]]] = {}
    for f in bpf_sock_spec(True):
        read = f.read_sizes
        write: frozenset[int] = frozenset()
        if f.name in ("bound_dev_if", "mark", "priority"):
            read, write = (W4, W4) if create else _NONE
        elif f.name == "src_ip4" and at != INET4_POST_BIND:
            read = frozenset()
        elif f.name in _SRC_IP6 and at != INET6_POST_BIND:
            read = frozenset()
        elif f.name == "src_port" and at not in (INET4_POST_BIND, INET6_POST_BIND):
            read = frozenset()
        perms[f.name] = (read, write)
    return ContextSpec("struct bpf_sock", BPF_SOCK_SIZE,
                       with_permissions(bpf_sock_spec(True), perms),
                       "1 allow, 0 deny")


__all__ = ["cgroup_sock_spec"]
