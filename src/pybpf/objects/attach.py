"""Program.attach*(): attaching an instantiated program to its hook through the
backend's attach API (the kernel's; the VM attaches nothing), and attach(), which
reads the hook from the section name as libbpf's auto-attach does. Every attach
returns a Link (pybpf.kernel.Link: a context manager with detach(), pin(), update()
and info()); the program keeps it in `links` and closes it with itself."""

from __future__ import annotations

import os
from typing import Any

from ..elf import sections
from .errors import AttachNotSupportedError

K = sections.AttachKind

# the options attach() passes on for the kinds whose target the section names
_SECTION_OPTIONS: dict[Any, frozenset[str]] = {
    K.UPROBE: frozenset({"pid", "cookie"}), K.USDT: frozenset({"pid", "cookie"}),
    K.KPROBE: frozenset({"cookie"}), K.KPROBE_MULTI: frozenset({"cookies"}),
    K.ITER: frozenset({"map", "task_tid", "task_pid", "task_pid_fd", "cgroup_fd",
                       "cgroup_id", "order"}),
}


def resolve_binary_path(name: str) -> str:
    """A uprobe target as libbpf finds it: a name with a '/' is a path; a bare name is
    looked up in LD_LIBRARY_PATH and the usual library directories when it names a
    shared library (has ".so"), else in $PATH."""
    if "/" in name:
        return name
    if ".so" in name:
        arch = f"{os.uname().machine}-linux-gnu"
        dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
        dirs += ["/lib64", "/usr/lib64", "/lib", "/usr/lib", f"/lib/{arch}", f"/usr/lib/{arch}"]
    else:
        dirs = [d for d in os.environ.get("PATH", "").split(":") if d]
    for d in dirs:
        cand = os.path.join(d, name)
        if os.path.isfile(cand):
            return cand
    raise AttachNotSupportedError(f"uprobe target {name!r} is not in "
                                  f"{'the library path' if '.so' in name else '$PATH'}")


def parse_uprobe_section(section: str) -> tuple[str, str, int, bool]:
    """Split SEC("u[ret]probe[.s]/<binary>:<function>[+<offset>]") into (binary path,
    function, offset, retprobe), as libbpf reads it (pybpf.elf.sections.uprobe_target),
    the binary found on this host (resolve_binary_path)."""
    try:
        t = sections.uprobe_target(section)
    except sections.AttachTargetError as e:
        raise AttachNotSupportedError(str(e)) from None
    return resolve_binary_path(t.binary), t.function, t.offset, t.retprobe


class ProgramAttach:
    """The attach methods of objects.instance.Program (a mixin: it holds `spec`,
    `name`, `handle`, `platform` and `links`)."""

    spec: Any
    name: str
    handle: Any
    platform: Any
    links: list[Any]
    backend: str
    pinned_path: str | None = None

    def _attach_api(self, what: str) -> Any:
        """The backend's attach API (pybpf.kernel's attach_*), or the error that this
        backend attaches nothing."""
        if not self.platform.caps.attach:
            raise AttachNotSupportedError(
                f"program {self.name}: attaching to {what} needs the kernel backend "
                f"(this program is on the {self.backend}; instantiate the object with "
                "backend='kernel')")
        return self.platform.links()

    def _keep(self, link: Any) -> Any:
        self.links.append(link)
        return link

    # --- pinning ---------------------------------------------------------------------------

    def pin(self, path: "str | os.PathLike[str]") -> None:
        """Pin the loaded program at `path` on a bpffs (kernel): it stays loaded after
        this process closes it, until unpin() (or the file is removed)."""
        self._attach_api(f"pin {os.fspath(path)}")
        self.handle.pin(path)
        self.pinned_path = os.fspath(path)

    def unpin(self) -> None:
        """Remove the pin made by pin()."""
        if self.pinned_path is not None:
            try:
                os.unlink(self.pinned_path)
            except FileNotFoundError:
                pass
            self.pinned_path = None

    # --- hooks the caller names ------------------------------------------------------------

    def attach_tracepoint(self, category: str, name: str) -> Any:
        """Attach to tracepoint category:name (perf event + BPF link); returns the
        handle (a pybpf.kernel.PerfEventLink), which detaches when closed."""
        links = self._attach_api(f"tracepoint {category}:{name}")
        return self._keep(links.attach_tracepoint(self.handle, category, name))

    def attach_raw_tracepoint(self, name: str) -> Any:
        """Attach to raw tracepoint `name` (BPF_RAW_TRACEPOINT_OPEN)."""
        links = self._attach_api(f"raw tracepoint {name}")
        return self._keep(links.attach_raw_tracepoint(self.handle, name))

    def attach_socket(self, sock: Any) -> Any:
        """Attach a socket filter to `sock` (SO_ATTACH_BPF); detached when closed."""
        links = self._attach_api("a socket")
        return self._keep(links.attach_socket(self.handle, sock))

    def attach_uprobe(self, path: str, symbol: str | None = None, offset: int | None = None,
                      *, pid: int = -1, retprobe: bool | None = None, cookie: int = 0) -> Any:
        """Attach as a uprobe on file `path` at function `symbol` (+ `offset`), or at file
        `offset`; `pid` -1 = every process, else that process only; `retprobe` None =
        what the section says (uretprobe*), `cookie` = bpf_get_attach_cookie's value.
        Returns a pybpf.kernel.UprobeLink, which detaches when closed."""
        links = self._attach_api(f"uprobe {path}")
        if retprobe is None:
            retprobe = sections.is_uretprobe(self.spec.section)
        return self._keep(links.attach_uprobe(self.handle, path, offset, symbol=symbol, pid=pid,
                                              retprobe=retprobe, cookie=cookie))

    def attach_usdt(self, path: str, provider: str, name: str, *, pid: int = -1,
                    cookie: int = 0) -> Any:
        """Attach a USDT program (usdt.bpf.h's BPF_USDT) to probe provider:name of the
        executable or library `path`, in process `pid` (-1: every process); `cookie`
        is what bpf_usdt_cookie() returns. Returns a pybpf.kernel.UsdtLink."""
        links = self._attach_api(f"USDT {path}:{provider}:{name}")
        return self._keep(links.attach_usdt(self.handle, path, provider, name, pid=pid,
                                            cookie=cookie))

    def attach_kprobe(self, function: str, offset: int = 0, *, retprobe: bool | None = None,
                      cookie: int = 0) -> Any:
        """Attach as a kprobe at kernel `function` (+ `offset`), or a kretprobe
        (`retprobe`; None = what the section says), through the kprobe PMU."""
        if retprobe is None:
            retprobe = self.spec.section.startswith(("kretprobe", "kretsyscall"))
        links = self._attach_api(f"{'kretprobe' if retprobe else 'kprobe'} {function}")
        return self._keep(links.attach_kprobe(self.handle, function, offset,
                                              retprobe=retprobe, cookie=cookie))

    def attach_kprobe_multi(self, functions: Any, *, retprobe: bool | None = None,
                            cookies: Any = None) -> Any:
        """Attach a kprobe.multi program to kernel functions: a glob pattern or names."""
        if retprobe is None:
            retprobe = self.spec.section.startswith("kretprobe.multi")
        links = self._attach_api(f"kprobe.multi {functions}")
        return self._keep(links.attach_kprobe_multi(self.handle, functions, retprobe=retprobe,
                                                    cookies=cookies))

    def attach_perf_event(self, event: Any = "cpu-clock", *, sample_period: int | None = None,
                          sample_freq: int | None = None, cpus: Any = None,
                          pid: int = -1) -> Any:
        """Attach a perf_event program to sampling `event` ("cpu-clock", "cycles", ...)
        on every CPU of `cpus` (default all online), every `sample_period` events or
        `sample_freq` times a second (default 99 Hz)."""
        links = self._attach_api(f"perf event {event}")
        return self._keep(links.attach_perf_sampling(
            self.handle, event, sample_period=sample_period, sample_freq=sample_freq,
            cpus=cpus, pid=pid))

    def attach_iter(self, **kw: Any) -> Any:
        """A BPF iterator link (SEC("iter/<target>")): each `read()` or `open()` of the
        link runs one pass. Options as pybpf.kernel.attach_iter: `map` (a Map or fd, for
        bpf_map_elem and the other per-map targets), `task_tid`/`task_pid`/`task_pid_fd`,
        `cgroup_fd`/`cgroup_id` with `order`."""
        target = self.spec.section.partition("/")[2]
        links = self._attach_api(f"iterator {target}")
        return self._keep(links.attach_iter(self.handle, target=target, **kw))

    def attach_xdp(self, interface: "str | int", mode: str = "skb", *,
                   use_link: bool | None = None) -> Any:
        """Attach an XDP program to `interface` (name or index) in `mode` "skb"
        (generic), "drv" (native) or "hw" (offload), through a BPF link (netlink
        IFLA_XDP on kernels without XDP links, or with use_link=False). The handle's
        `mode` is the mode that took effect; close() detaches."""
        links = self._attach_api(f"XDP on {interface}")
        return self._keep(links.attach_xdp(self.handle, interface, mode, use_link=use_link))

    def attach_tc(self, interface: "str | int", direction: str = "ingress", *,
                  use_link: bool | None = None, handle: int = 1, priority: int = 1) -> Any:
        """Attach a tc (SCHED_CLS) program to `interface` on `direction` "ingress" or
        "egress": a tcx link (Linux 6.6+), or a clsact qdisc + cls_bpf direct-action
        filter at `handle`/`priority` over netlink on older kernels (or with
        use_link=False). close() removes what was created."""
        links = self._attach_api(f"tc on {interface}")
        return self._keep(links.attach_tc(self.handle, interface, direction, use_link=use_link,
                                          handle=handle, priority=priority))

    def attach_cgroup(self, path: "str | os.PathLike[str]",
                      attach_type: "int | str | None" = None) -> Any:
        """Attach a cgroup program (cgroup_skb, sock, sock_addr, sock_ops, device,
        sysctl, sockopt) to the cgroup v2 directory `path` through a cgroup link.
        `attach_type` (an AttachType, its number or name like "cgroup_inet_egress")
        defaults to what the section says (SEC("cgroup_skb/egress") -> egress)."""
        links = self._attach_api(f"cgroup {path}")
        return self._keep(links.attach_cgroup(self.handle, path, self._cgroup_attach_type(
            attach_type)))

    def attach_netfilter(self, hook: "str | int", *, pf: "str | int" = "ipv4",
                         priority: int = -128, defrag: bool = False) -> Any:
        """Attach a netfilter program at `hook` ("prerouting", "local_in", "forward",
        "local_out", "postrouting") of `pf` ("ipv4", "ipv6") with `priority`, in the
        calling thread's network namespace."""
        links = self._attach_api(f"netfilter {hook}")
        return self._keep(links.attach_netfilter(self.handle, hook, pf=pf, priority=priority,
                                                 defrag=defrag))

    def attach_netns(self, netns: Any = None, *, use_link: bool | None = None) -> Any:
        """Attach a sk_lookup or flow_dissector program to network namespace `netns`
        (a path, an `ip netns` name, an fd; default the calling thread's)."""
        links = self._attach_api(f"network namespace {netns or '(current)'}")
        at = self._expected_attach_type("sk_lookup or flow_dissector")
        return self._keep(links.attach_netns(self.handle, at, netns, use_link=use_link))

    def attach_sockmap(self, sockmap: Any, attach_type: "int | str | None" = None, *,
                       use_link: bool | None = None) -> Any:
        """Attach a sk_msg or sk_skb program to a sockmap or sockhash (a map of this
        object, or a pybpf.kernel.Map); `attach_type` defaults to what the section
        says (sk_skb/stream_parser, sk_skb/stream_verdict, sk_skb/verdict, sk_msg)."""
        links = self._attach_api("a sockmap")
        if attach_type is None:
            attach_type = sections.sockmap_attach_type(self.spec.section)
            if attach_type is None:
                raise AttachNotSupportedError(
                    f"program {self.name}: section {self.spec.section!r} does not say which "
                    "sockmap hook it is for; pass attach_type (e.g. \"sk_skb_stream_verdict\")")
        return self._keep(links.attach_sockmap(self.handle, sockmap,
                                               self._attach_type_of(attach_type),
                                               use_link=use_link))

    def _attach_type_of(self, attach_type: "int | str") -> int:
        from ..uapi import AttachType
        if isinstance(attach_type, str):
            key = attach_type.upper().removeprefix("BPF_")
            try:
                return AttachType[key]
            except KeyError:
                raise AttachNotSupportedError(f"program {self.name}: unknown attach type "
                                              f"{attach_type!r}") from None
        return int(attach_type)

    def _expected_attach_type(self, what: str) -> int:
        info = sections.classify_section(self.spec.section)
        at = getattr(self.spec, "expected_attach_type", 0) or (info.attach_type if info else 0)
        if not at:
            raise AttachNotSupportedError(f"program {self.name}: section "
                                          f"{self.spec.section!r} is not a {what} section")
        return int(at)

    def _cgroup_attach_type(self, attach_type: "int | str | None") -> int:
        if attach_type is not None:
            return self._attach_type_of(attach_type)
        info = sections.classify_section(self.spec.section)
        if info is None or not (info.attach_type or self.spec.section.startswith(
                "cgroup_skb/ingress")):
            raise AttachNotSupportedError(
                f"program {self.name}: section {self.spec.section!r} does not say which "
                "cgroup hook it is for; pass attach_type (e.g. \"cgroup_inet_ingress\")")
        return info.attach_type

    # --- attach(): from the section name -----------------------------------------------------

    def attach(self, target: "str | int | os.PathLike[str] | None" = None, **kw: Any) -> Any:
        """Attach where the section name says and return the Link:
        SEC("tracepoint/<category>/<name>") (or "tp/..."), SEC("raw_tp/<name>")
        (or "raw_tracepoint/..."), SEC("uprobe/<binary>:<function>[+<offset>]") (also
        "uretprobe/...", "uprobe.s/...", "uretprobe.s/..."; `pid`, `cookie` in `kw`),
        SEC("usdt/<binary>:<provider>:<name>") (`pid`, `cookie`),
        SEC("k[ret]probe/<function>[+<offset>]"), SEC("k[ret]syscall/<syscall>"),
        SEC("k[ret]probe.multi/<glob>"), tp_btf/fentry/fexit/fmod_ret/lsm,
        SEC("iter/<target>") (`map`, `task_pid`, ... in `kw`: see attach_iter()).
        The others need `target`: SEC("xdp") an interface (name or index; `mode` in
        `kw`), SEC("tc"/"tcx/ingress"/"tc/egress"/"classifier") an interface
        (`direction`, default what the section says, else ingress), the cgroup
        sections (cgroup_skb/ingress, cgroup/connect4, sockops, ...) a cgroup path,
        SEC("netfilter") a hook ("local_in"; `pf`, `priority`), SEC("sk_lookup") and
        SEC("flow_dissector") a network namespace (None: the caller's),
        SEC("sk_msg")/SEC("sk_skb/...") a sockmap or sockhash, SEC("perf_event") a
        perf event name (None: cpu-clock; `sample_period`/`sample_freq`, `cpus`).
        A socket filter needs a socket: use attach_socket(); a bare SEC("uprobe") needs
        attach_uprobe()."""
        section = self.spec.section
        kind = sections.attach_kind(section)
        if kind is not None and kind.takes_target:
            return self._attach_given(kind, target, kw)
        allowed = _SECTION_OPTIONS.get(kind, frozenset())
        if target is not None or set(kw) - allowed:
            extra = f"; it takes only {', '.join(sorted(allowed))}" if allowed else \
                "; it takes no target or options"
            raise AttachNotSupportedError(
                f"program {self.name}: section {section!r} attaches where its name says"
                + extra)
        try:
            return self._attach_named(kind, section, kw)
        except sections.AttachTargetError as e:
            raise AttachNotSupportedError(f"program {self.name}: {e}") from None

    def _attach_named(self, kind: Any, section: str, kw: dict[str, Any]) -> Any:
        """attach() for the kinds whose section names the target."""
        if kind is K.UPROBE:
            path, symbol, offset, retprobe = parse_uprobe_section(section)
            return self.attach_uprobe(path, symbol, offset or None, retprobe=retprobe, **kw)
        if kind is K.USDT:
            t = sections.usdt_target(section)
            return self.attach_usdt(resolve_binary_path(t.binary), t.provider, t.name, **kw)
        if kind is K.TRACEPOINT:
            return self.attach_tracepoint(*sections.tracepoint_target(section))
        if kind is K.RAW_TRACEPOINT:
            return self.attach_raw_tracepoint(sections.raw_tracepoint_target(section))
        if kind is K.KPROBE:
            kt = sections.kprobe_target(section)
            function = kt.function
            if kt.syscall:
                function = self._attach_api(f"ksyscall {function}").syscall_kprobe_function(
                    function)
            return self.attach_kprobe(function, kt.offset, retprobe=kt.retprobe, **kw)
        if kind is K.KPROBE_MULTI:
            pattern, retprobe = sections.kprobe_multi_target(section)
            return self.attach_kprobe_multi(pattern, retprobe=retprobe, **kw)
        if kind is K.TRACING:
            hook = sections.tracing_target(section)
            links = self._attach_api(f"{section.partition('/')[0]} {hook}")
            return self._keep(links.attach_tracing(self.handle, hook))
        if kind is K.ITER:
            return self.attach_iter(**kw)
        if kind is K.SOCKET:
            raise AttachNotSupportedError(
                f"program {self.name}: a socket filter (section {section!r}) is attached to "
                "a socket: use attach_socket(sock)")
        raise AttachNotSupportedError(
            f"program {self.name}: pybpf cannot attach section {section!r} from its name "
            "(it knows tracepoint/<category>/<name>, raw_tp/<name>, "
            "u[ret]probe/<binary>:<function>, usdt/<binary>:<provider>:<name>, "
            "k[ret]probe/<function>, k[ret]syscall/<name>, kprobe.multi/<glob>, tp_btf/, "
            "fentry/, fexit/, fmod_ret/, lsm/, iter/, xdp, tc/tcx, cgroup_skb/, cgroup/, sockops, "
            "netfilter, sk_lookup, flow_dissector, sk_msg, sk_skb/ and perf_event; socket "
            "filters with attach_socket)")

    def _attach_given(self, kind: Any, target: Any, kw: dict[str, Any]) -> Any:
        """attach() for the kinds whose target the caller gives."""
        section = self.spec.section
        if kind is K.XDP:
            if target is None:
                raise AttachNotSupportedError(
                    f"program {self.name}: an XDP program (section {section!r}) attaches to "
                    "a network interface: pass it, attach(\"eth0\", mode=\"skb\"), or use "
                    "attach_xdp(interface, mode)")
            return self.attach_xdp(target, **kw)
        if kind is K.TC:
            kw.setdefault("direction", sections.tc_direction(section))
            if target is None:
                raise AttachNotSupportedError(
                    f"program {self.name}: a tc program (section {section!r}) attaches to a "
                    "network interface: pass it, attach(\"eth0\", direction=\"ingress\"), "
                    "or use attach_tc(interface, direction)")
            return self.attach_tc(target, **kw)
        if kind is K.NETFILTER:
            if target is None:
                raise AttachNotSupportedError(
                    f"program {self.name}: a netfilter program (section {section!r}) "
                    "attaches to a hook: pass it, attach(\"local_in\", pf=\"ipv4\", "
                    "priority=-128), or use attach_netfilter(hook)")
            return self.attach_netfilter(target, **kw)
        if kind is K.NETNS:
            return self.attach_netns(target, **kw)
        if kind is K.SOCKMAP:
            if target is None:
                raise AttachNotSupportedError(
                    f"program {self.name}: a {section.partition('/')[0]} program (section "
                    f"{section!r}) attaches to a sockmap or sockhash: pass the map, "
                    "attach(obj.maps[\"socks\"]), or use attach_sockmap(map)")
            return self.attach_sockmap(target, **kw)
        if kind is K.PERF_EVENT:
            return self.attach_perf_event("cpu-clock" if target is None else target, **kw)
        if target is None:
            raise AttachNotSupportedError(
                f"program {self.name}: a cgroup program (section {section!r}) attaches "
                "to a cgroup: pass its cgroup v2 directory, attach(\"/sys/fs/cgroup/"
                "my.slice\"), or use attach_cgroup(path)")
        return self.attach_cgroup(target, **kw)
