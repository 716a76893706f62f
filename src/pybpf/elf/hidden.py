"""Hidden global functions: a global (or weak) function with hidden (or internal) visibility,
`__attribute__((visibility("hidden")))` as libbpf's `__hidden` and usdt.bpf.h declare
their helpers, cannot be called from another object, so loaders treat it as static:
its BTF FUNC gets static linkage and the kernel verifies it in its caller's context
rather than on its own as a global function (libbpf does the same)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable

HIDDEN_VISIBILITIES = frozenset({"STV_HIDDEN", "STV_INTERNAL"})


def hidden_funcs_static(btf: Any, symbols: Iterable[Any]) -> list[str]:
    """Give the BTF FUNC of every hidden global function symbol static linkage, in
    place in `btf` (None: nothing to do); returns the names of the functions changed.
    A name with more than one FUNC, or none, is left alone."""
    if btf is None:
        return []
    from ..btf.types import BtfKind, Func, FuncLinkage
    hidden = sorted({s.name for s in symbols if s.name and s.type == "STT_FUNC"
                     and s.bind in ("STB_GLOBAL", "STB_WEAK")
                     and s.visibility in HIDDEN_VISIBILITIES})
    changed = []
    for name in hidden:
        ids = [i for i in btf.find(name, BtfKind.FUNC) if i >= btf.start_id]
        if len(ids) != 1:
            continue
        func = btf[ids[0]]
        if isinstance(func, Func) and func.linkage == FuncLinkage.GLOBAL:
            btf[ids[0]] = replace(func, linkage=FuncLinkage.STATIC)
            changed.append(name)
    return changed
