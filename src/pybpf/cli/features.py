"""`pybpf features`: what the kernel's BPF supports (probed), or what the VM supports
(its backend's report); this module only formats the data."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

from ..backend import get_backend
from .common import json_option


def cmd_features(args: argparse.Namespace) -> int:
    """The backend's report (Backend.features), as JSON or as text."""
    platform = get_backend(args.backend)
    report = platform.features(helpers=not args.no_helpers)
    formatter, json_options = _FORMATS[platform.name]
    if args.json:
        print(json.dumps(report, indent=2, **json_options))
    else:
        sys.stdout.write(formatter()(report))
    return 0


def _kernel_format() -> Callable[[dict[str, Any]], str]:
    from ..kernel import format_features
    return format_features


def format_vm_features(report: dict[str, Any]) -> str:
    """The VM's report (pybpf.objects.vmbackend.vm_features) as text: program types
    with their helper counts, map types, every helper with its status."""
    prog_types, map_types, helpers = (report["prog_types"], report["map_types"],
                                      report["helpers"])
    lines = ["Program types on the VM"]
    for t in prog_types:
        lines.append(f"  {t['prog_type']:<24} {t['status']:<12} test_run: "
                     f"{t.get('test_run', '-')}, {len(t.get('helpers_vm', []))} helpers")
    lines += ["", f"Map types on the VM ({len(map_types)})", "  " + ", ".join(map_types)]
    on_vm = sum(1 for h in helpers if h["status"] == "vm")
    lines += ["", f"Helpers ({on_vm} of {len(helpers)} run on the VM; the prototypes are the "
              "kernel's)"]
    for h in helpers:
        lines.append(f"  {h['id']:4d}  {h['status']:<11}  {h['proto']}")
    return "\n".join(lines) + "\n"


# backend name -> (its report's text formatter, json.dumps options)
_FORMATS: dict[str, tuple[Callable[[], Callable[[dict[str, Any]], str]], dict[str, Any]]] = {
    "vm": (lambda: format_vm_features, {"default": str}),
    "kernel": (_kernel_format, {"sort_keys": True}),
}


def register(sub: argparse._SubParsersAction) -> None:
    """The features command."""
    fe = sub.add_parser("features", help="what this kernel's BPF supports (like bpftool "
                                         "feature probe)")
    json_option(fe)
    fe.add_argument("--no-helpers", action="store_true", help="skip the per-type helper probes")
    fe.add_argument("--backend", choices=["kernel", "vm"], default="kernel",
                    help="probe the kernel (default) or describe the VM")
    fe.set_defaults(fn=cmd_features)
