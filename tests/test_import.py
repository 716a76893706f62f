"""`import pybpf` stays light: the heavy layers load when first used, not at import
(the timing itself is `pybpf bench`'s; this checks what is imported)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("pybpf.kernel", "llvmlite", "pybpf.verifier", "pybpf.elf", "pybpf.uapi",
         "pybpf.maps", "pybpf.btf", "pybpf.vm")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json\n"
                          "print(json.dumps(sorted(sys.modules)))"],
                         check=True, capture_output=True, text=True).stdout
    return set(json.loads(out))


def test_import_pybpf_leaves_the_heavy_layers_unloaded() -> None:
    mods = _modules_after("import pybpf")
    loaded = [m for m in mods for h in HEAVY if m == h or m.startswith(h + ".")]
    assert "pybpf" in mods
    assert loaded == []


def test_lazy_names_still_resolve() -> None:
    mods = _modules_after("import pybpf\nassert pybpf.ObjectSpec.__name__ == 'ObjectSpec'\n"
                          "assert pybpf.MapSpec.__name__ == 'MapSpec'\n"
                          "from pybpf import *")
    assert "pybpf.spec" in mods and "pybpf.maps" in mods
