"""The attach kinds beside the SEC() table: which hook a section's program attaches to
and the target its name gives, as Program.attach() reads them."""

from __future__ import annotations

import pytest

from pybpf.elf.sections import (ATTACH_DEFS, AttachKind, AttachTargetError, UprobeTarget,
                                attach_kind, raw_tracepoint_target, tc_direction,
                                tracepoint_target, tracing_target, uprobe_target)

K = AttachKind


@pytest.mark.parametrize("section, kind", [
    ("xdp", K.XDP), ("xdp/eth0", K.XDP), ("xdp.frags", K.XDP), ("xdp/devmap/x", K.XDP),
    ("xdp/devmap", None), ("xdp/cpumap", None), ("xdp.frags/cpumap", None),
    ("xdp_prog", None),  # typed as XDP by the SEC() table's prefix, not attachable by name
    ("tc", K.TC), ("tc/ingress", K.TC), ("tcx/egress", K.TC), ("classifier", K.TC),
    ("ingress", K.TC), ("egress", K.TC), ("ingress/", K.TC), ("egress/x", None),
    ("cgroup_skb/egress", K.CGROUP), ("cgroup/connect4", K.CGROUP), ("sockops", K.CGROUP),
    ("uprobe", K.UPROBE), ("uretprobe.s/bin:f", K.UPROBE), ("uprobe.multi/x", None),
    ("tracepoint/a/b", K.TRACEPOINT), ("tp/a/b", K.TRACEPOINT),
    ("raw_tp/x", K.RAW_TRACEPOINT), ("raw_tracepoint/x", K.RAW_TRACEPOINT),
    ("raw_tp.w/x", None),
    ("fentry/f", K.TRACING), ("fexit.s/f", K.TRACING), ("lsm/file_open", K.TRACING),
    ("tp_btf/sched_switch", K.TRACING), ("fentry.s.s/f", None),
    ("socket", K.SOCKET), ("socket/1", K.SOCKET), ("socket_filter", None),
    ("kprobe/f", K.KPROBE), ("kretprobe/f", K.KPROBE), ("ksyscall/getppid", K.KPROBE),
    ("kprobe.multi/tcp_*", K.KPROBE_MULTI), ("kretprobe.multi/x", K.KPROBE_MULTI),
    ("kprobe.session/x", None),
    ("usdt/bin:p:n", K.USDT), ("usdt.s/bin:p:n", K.USDT), ("usdt", K.USDT),
    ("netfilter", K.NETFILTER), ("sk_lookup", K.NETNS), ("sk_lookup/x", K.NETNS),
    ("flow_dissector", K.NETNS), ("sk_msg", K.SOCKMAP), ("sk_skb/stream_verdict", K.SOCKMAP),
    ("sk_skb", K.SOCKMAP), ("perf_event", K.PERF_EVENT),
    ("", None), ("/", None),
])
def test_attach_kind(section: str, kind: AttachKind | None) -> None:
    assert attach_kind(section) is kind


def test_only_hooks_the_name_cannot_give_take_a_target() -> None:
    assert {k for k in K if k.takes_target} == {K.XDP, K.TC, K.CGROUP, K.NETFILTER, K.NETNS,
                                                K.SOCKMAP, K.PERF_EVENT}
    assert all(d.match in ("exact", "slash", "bare") for d in ATTACH_DEFS)


def test_targets_from_the_name() -> None:
    assert uprobe_target("uprobe/libc.so.6:malloc") == UprobeTarget("libc.so.6", "malloc", 0,
                                                                    False)
    assert uprobe_target("uprobe.s//bin/x:main+0x10") == UprobeTarget("/bin/x", "main", 16,
                                                                      False)
    with pytest.raises(AttachTargetError, match="'b:c' is not"):  # the binary ends at ':'
        uprobe_target("uretprobe/a:b:c")
    assert uprobe_target("uretprobe/x:f").retprobe
    assert tracepoint_target("tracepoint/syscalls/sys_enter_write") == \
        ("syscalls", "sys_enter_write")
    assert raw_tracepoint_target("raw_tp/sched_switch") == "sched_switch"
    assert tracing_target("fentry/do_unlinkat") == "do_unlinkat"
    assert [tc_direction(s) for s in ("tc", "tc/egress", "tcx/ingress", "egress", "classifier",
                                      "tc/other")] == \
        ["ingress", "egress", "ingress", "egress", "ingress", "ingress"]


@pytest.mark.parametrize("bad, parse", [
    ("uprobe", uprobe_target), ("uprobe/", uprobe_target), ("uprobe/x", uprobe_target),
    ("uprobe/x:", uprobe_target), ("uprobe/x:a b", uprobe_target),
    ("uretprobe/x:f+4", uprobe_target), ("kprobe/x:f", uprobe_target),
    ("tracepoint/x", tracepoint_target), ("tp/a/b/c", tracepoint_target),
    ("tracepoint//b", tracepoint_target), ("raw_tp", raw_tracepoint_target),
    ("raw_tp/", raw_tracepoint_target),
])
def test_bad_targets_say_so(bad: str, parse: object) -> None:
    with pytest.raises(AttachTargetError, match="section"):
        parse(bad)  # type: ignore[operator]


def test_kprobe_usdt_and_sockmap_targets() -> None:
    from pybpf.elf.sections import (KprobeTarget, UsdtTarget, kprobe_multi_target,
                                    kprobe_target, sockmap_attach_type, usdt_target)
    from pybpf.uapi import AttachType as A
    assert kprobe_target("kprobe/do_sys_open+0x10") == KprobeTarget("do_sys_open", 16, False)
    assert kprobe_target("kretprobe/f") == KprobeTarget("f", 0, True)
    assert kprobe_target("kretsyscall/getppid") == KprobeTarget("getppid", 0, True, True)
    for bad in ("kprobe/", "kretprobe/f+4", "ksyscall/x+1", "kprobe/a b", "uprobe/x"):
        with pytest.raises(AttachTargetError):
            kprobe_target(bad)
    assert kprobe_multi_target("kretprobe.multi/tcp_*") == ("tcp_*", True)
    with pytest.raises(AttachTargetError):
        kprobe_multi_target("kprobe.multi")
    assert usdt_target("usdt//usr/bin/x:prov:name") == UsdtTarget("/usr/bin/x", "prov", "name")
    assert usdt_target("usdt/c:\\odd:path:p:n").binary == "c:\\odd:path"
    for bad in ("usdt", "usdt/bin:p", "usdt/bin::n"):
        with pytest.raises(AttachTargetError, match="attach_usdt"):
            usdt_target(bad)
    assert sockmap_attach_type("sk_msg") == A.SK_MSG_VERDICT
    assert sockmap_attach_type("sk_skb/stream_parser") == A.SK_SKB_STREAM_PARSER
    assert sockmap_attach_type("sk_skb/verdict") == A.SK_SKB_VERDICT
    assert sockmap_attach_type("sk_skb") is None
