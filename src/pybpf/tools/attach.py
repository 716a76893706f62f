"""`pybpf attach`: load an object in the kernel, attach one program to a hook, show its
maps and output live (tools.attachview, redrawn each interval as `pybpf top` does) and
detach at the end (the duration, Ctrl-C or SIGTERM) unless the link was pinned.

The target is checked before anything is loaded, so a missing interface, cgroup,
tracepoint or binary is named in one line; the program is the one given, else the
only one of the object whose type fits the hook.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from . import ToolError
from ..objects.output import calls_printk
from .attachview import OutputWatch, format_view, read_maps, view_json
from .live import Screen, run_intervals

# hook -> the program types that attach there (the kernel's names)
HOOK_TYPES: dict[str, tuple[str, ...]] = {
    "xdp": ("XDP",),
    "tc": ("SCHED_CLS", "SCHED_ACT"),
    "cgroup": ("CGROUP_SKB", "CGROUP_SOCK", "CGROUP_SOCK_ADDR", "SOCK_OPS", "CGROUP_DEVICE",
               "CGROUP_SYSCTL", "CGROUP_SOCKOPT"),
    "tracepoint": ("TRACEPOINT",),
    "raw_tracepoint": ("RAW_TRACEPOINT", "RAW_TRACEPOINT_WRITABLE"),
    "uprobe": ("KPROBE",),
    "section": (),  # where the section name says: any type Program.attach() knows
}


@dataclass
class AttachRequest:
    """What to attach where (the command line, parsed)."""

    path: str
    hook: str  # a key of HOOK_TYPES
    target: str | None = None
    program: str | None = None
    mode: str = "skb"
    direction: str | None = None
    attach_type: str | None = None
    pin: str | None = None
    sets: list[str] | None = None  # NAME=VALUE: globals set before loading
    maps: list[str] | None = None  # NAME=@FILE.json or NAME=JSON: maps filled before attaching

    def where(self) -> str:
        if self.hook == "section":
            return "where its section says"
        extra = {"xdp": f" ({self.mode} mode)", "tc": f" {self.direction or 'ingress'}"}
        return f"{self.hook} {self.target}{extra.get(self.hook, '')}"


def check_target(req: AttachRequest) -> None:
    """A clear error for a target that does not exist, before anything is loaded."""
    t = req.target or ""
    if req.hook in ("xdp", "tc"):
        if t.isdigit():
            try:
                socket.if_indextoname(int(t))
            except OSError:
                raise ToolError(f"no network interface with index {t}") from None
        else:
            try:
                socket.if_nametoindex(t)
            except OSError:
                raise ToolError(f"no such network interface: {t} (in this network "
                                "namespace)") from None
    elif req.hook == "cgroup":
        if not os.path.isdir(t):
            raise ToolError(f"no such cgroup: {t} (give a cgroup v2 directory, e.g. "
                            "/sys/fs/cgroup/system.slice)")
    elif req.hook == "tracepoint":
        cat, name = split_tracepoint(t)
        from ..kernel import tracepoint_id
        tracepoint_id(cat, name)  # names the missing tracepoint
    elif req.hook == "uprobe":
        path, sym = split_uprobe(t)
        from ..objects.instance import resolve_binary_path
        if not os.path.isfile(resolve_binary_path(path)):
            raise ToolError(f"uprobe target: no such file {path}")
    elif req.hook == "raw_tracepoint" and not t:
        raise ToolError("raw_tracepoint needs a tracepoint name (e.g. sys_enter)")


def check_pin_path(path: str) -> None:
    """A pin path must be new, in an existing directory of a BPF filesystem."""
    from ..kernel import is_bpffs
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.lexists(path):
        raise ToolError(f"--pin {path}: the path exists already")
    if not os.path.isdir(parent):
        raise ToolError(f"--pin {path}: no such directory {parent}")
    if not is_bpffs(parent):
        raise ToolError(f"--pin {path}: {parent} is not on a BPF filesystem (bpffs); pin "
                        "under /sys/fs/bpf")


def split_tracepoint(text: str) -> tuple[str, str]:
    cat, sep, name = text.replace("/", ":", 1).partition(":")
    if not sep or not cat or not name:
        raise ToolError(f"tracepoint {text!r}: expected CATEGORY:NAME (e.g. "
                        "syscalls:sys_enter_execve)")
    return cat, name


def split_uprobe(text: str) -> tuple[str, str]:
    path, sep, sym = text.rpartition(":")
    if not sep or not path or not sym:
        raise ToolError(f"uprobe {text!r}: expected PATH:SYMBOL (e.g. /bin/bash:readline)")
    return path, sym


def choose_program(spec: Any, req: AttachRequest) -> str:
    """--program, else the one program whose type attaches to the hook."""
    from ..kernel import ProgType
    from ..elf import sections
    wanted = {int(ProgType[n]) for n in HOOK_TYPES[req.hook]}

    def fits(name: str) -> bool:
        p = spec.programs[name]
        if req.hook == "section":
            kind = sections.attach_kind(p.section)
            return kind is not None and not kind.takes_target and \
                kind not in (sections.AttachKind.SOCKET, sections.AttachKind.ITER)
        return p.type in wanted

    if req.program is not None:
        if req.program not in spec.programs:
            raise ToolError(f"no program {req.program!r}; {req.path} has: "
                            f"{', '.join(spec.programs) or 'no programs'}")
        if not fits(req.program):
            p = spec.programs[req.program]
            hook = req.hook if req.hook != "section" else "a hook its section names"
            raise ToolError(f"program {req.program} (SEC(\"{p.section}\")) does not attach "
                            f"to {hook}")
        return req.program
    names = [n for n in spec.programs if fits(n)]
    if len(names) == 1:
        return names[0]
    secs = ", ".join(f"{n} (SEC(\"{spec.programs[n].section}\"))" for n in spec.programs)
    if not names:
        raise ToolError(f"{req.path} has no program for {req.hook} (it has {secs or 'none'})")
    raise ToolError(f"{req.path} has {len(names)} programs for {req.hook} "
                    f"({', '.join(names)}): choose one with --program")


def attach_program(prog: Any, req: AttachRequest) -> Any:
    """Attach `prog` as the request says; returns the link."""
    t = req.target or ""
    if req.hook == "xdp":
        return prog.attach_xdp(int(t) if t.isdigit() else t, req.mode)
    if req.hook == "tc":
        return prog.attach_tc(int(t) if t.isdigit() else t, req.direction or "ingress")
    if req.hook == "cgroup":
        return prog.attach_cgroup(t, req.attach_type)
    if req.hook == "tracepoint":
        return prog.attach_tracepoint(*split_tracepoint(t))
    if req.hook == "raw_tracepoint":
        return prog.attach_raw_tracepoint(t)
    if req.hook == "uprobe":
        from ..objects.instance import resolve_binary_path
        path, sym = split_uprobe(t)
        base, plus, off = sym.partition("+")
        try:
            offset = int(off, 0) if plus else None
        except ValueError:
            raise ToolError(f"uprobe {t!r}: bad offset {off!r}") from None
        return prog.attach_uprobe(resolve_binary_path(path), base, offset)
    return prog.attach()


class _Stop(KeyboardInterrupt):
    """SIGTERM, delivered as Ctrl-C is, so the run ends the same way."""


def _raise_stop(signum: int, frame: Any) -> None:
    raise _Stop()


class _Signals:
    """SIGTERM ends the run as SIGINT does; both are ignored while detaching."""

    def __init__(self) -> None:
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> "_Signals":
        self._saved[signal.SIGTERM] = signal.signal(signal.SIGTERM, _raise_stop)
        return self

    def quiet(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._saved.setdefault(sig, signal.getsignal(sig))
            signal.signal(sig, signal.SIG_IGN)

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)


def attach_live(out: TextIO, req: AttachRequest, *, interval: float = 1.0,
                duration: float | None = None, as_json: bool = False, max_rows: int = 20,
                tty: bool | None = None) -> dict[str, Any]:
    """Attach, show, detach (see the module docstring). Returns the last view."""
    from .. import load
    from .perms import kernel_gate
    kernel_gate("pybpf attach", ["CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN"], require=False)
    check_target(req)
    if req.pin is not None:
        check_pin_path(req.pin)
    from ..objects.session import apply_sets, fill_maps
    spec = load(req.path)
    apply_sets(spec, req.sets)
    name = choose_program(spec, req)
    screen = Screen(out, tty)
    last: dict[str, Any] = {}
    prev: dict[tuple[str, str], Any] = {}
    with _Signals() as sigs, spec.instantiate("kernel", programs=[name]) as obj:
        prog = obj.programs[name]
        fill_maps(obj, req.maps)
        link = attach_program(prog, req)
        pinned = False
        if req.pin is not None:
            if not getattr(link, "is_bpf_link", False):
                raise ToolError(f"--pin: the {getattr(link, 'kind', '')} attachment is not a "
                                "BPF link and cannot be pinned")
            link.pin(req.pin)
            pinned = True
        where = getattr(link, "target", "") or req.target or ""
        kind = getattr(link, "kind", "") or req.hook
        mode = getattr(link, "mode", None)
        title = (f"{os.path.basename(req.path)}: {name} on {kind} {where}"
                 f"{f' ({mode} mode)' if mode else ''}").rstrip()
        with OutputWatch(obj, printk=calls_printk(obj)) as watch:
            for w in watch.warnings:
                print(f"pybpf: warning: {w}", file=sys.stderr)
            hello = {"attached": {"program": name, "kind": kind, "target": where,
                                  "mode": mode, "pinned": req.pin}}
            out.write(json.dumps(hello) + "\n" if as_json else
                      f"attached {title.split(': ', 1)[1]}"
                      f"{f', pinned at {req.pin}' if pinned else ''}; "
                      f"{'Ctrl-C stops' if pinned else 'Ctrl-C detaches'}\n")
            out.flush()

            def tick(n: int, elapsed: float) -> None:
                views = read_maps(obj, max_rows)
                new = watch.take_new()
                if as_json:
                    last.clear()
                    last.update({"elapsed": round(elapsed, 3), **view_json(
                        views, watch.outputs(), new)})
                    out.write(json.dumps(last) + "\n")
                    out.flush()
                    return
                last.clear()
                last.update(view_json(views, watch.outputs(), new))
                screen.frame(f"{title} - {elapsed:.1f} s",
                             format_view(views, watch.outputs(), prev))

            run_intervals(tick, interval=interval, duration=duration, sleep=watch.gather)
            sigs.quiet()
        if pinned:
            msg = f"left attached: the link is pinned at {req.pin} (rm it to detach)"
        else:
            link.close()
            msg = f"detached {name} from {kind} {where}".rstrip()
    out.write(json.dumps({"final": True, "detached": not pinned, "pinned": req.pin}) + "\n"
              if as_json else msg + "\n")
    out.flush()
    return last

