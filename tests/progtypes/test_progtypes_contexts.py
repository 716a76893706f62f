"""The context tables as pure data: importable without the VM, one lookup
(context_spec) for every program type the VM models, the same tables the families use."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pybpf.progtypes import describe
from pybpf.progtypes.contexts import KERNEL_ONLY_TYPES, MODELLED_TYPES, context_spec
from pybpf.progtypes.contexts.skb import SKB_PROG_TYPES, skb_spec
from pybpf.progtypes.contexts.tracing import TRACING_TYPES, kprobe_spec, tracing_spec
from pybpf.progtypes.contexts.xdp import xdp_spec
from pybpf.progtypes.errors import UnsupportedProgType
from pybpf.uapi import AttachType, ProgType

# what the verifier side may not pull in when it reads ctx access rules
RUNTIME_PREFIXES = ("pybpf.vm", "pybpf.helpers", "pybpf.maps", "pybpf.net",
                    "pybpf.progtypes.skb", "pybpf.progtypes.xdp", "pybpf.progtypes.tracing",
                    "pybpf.progtypes.helpersets", "pybpf.progtypes.common",
                    "pybpf.progtypes.testrun")


def _loaded_by(module: str) -> set[str]:
    """The pybpf modules `import module` loads beyond what `import pybpf` itself does,
    in a fresh interpreter."""
    code = ("import sys, json, pybpf; before = set(sys.modules); import " + module +
            "; print(json.dumps(sorted(m for m in set(sys.modules) - before "
            "if m.startswith('pybpf'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    return set(json.loads(out.stdout))


@pytest.mark.parametrize("module", ["pybpf.progtypes.ctx", "pybpf.progtypes.contexts",
                                    "pybpf.progtypes.contexts.sock"])
def test_context_tables_load_no_runtime(module: str) -> None:
    loaded = _loaded_by(module)
    assert module in loaded
    assert not [m for m in loaded if m.startswith(RUNTIME_PREFIXES)], sorted(loaded)


def test_progtypes_package_is_lazy() -> None:
    loaded = _loaded_by("pybpf.progtypes")
    assert loaded == {"pybpf.progtypes"}


def test_every_modelled_type_has_a_context() -> None:
    listed = {ProgType[d["prog_type"].upper()] for d in describe()
              if d["status"] != "unsupported"}
    assert listed == set(MODELLED_TYPES)
    for pt in MODELLED_TYPES:
        spec = context_spec(pt)
        assert spec.fields and spec.size >= spec.max_size() and spec.retval
    for pt in SKB_PROG_TYPES:
        assert context_spec(pt) == skb_spec(pt)
    for pt in TRACING_TYPES:
        assert context_spec(pt, arch="x86_64") == tracing_spec(pt, arch="x86_64")
    assert context_spec(ProgType.KPROBE, arch="arm64") == kprobe_spec("arm64")


def test_attach_type_selects_the_xdp_view() -> None:
    plain = context_spec(ProgType.XDP)
    devmap = context_spec(ProgType.XDP, AttachType.XDP_DEVMAP)
    assert plain == xdp_spec() and devmap == xdp_spec(AttachType.XDP_DEVMAP)
    assert not plain["egress_ifindex"].readable and devmap["egress_ifindex"].readable
    assert context_spec(ProgType.XDP, expected_attach_type=AttachType.XDP_DEVMAP) == devmap
    devmap.check(20, 4, False)
    with pytest.raises(ValueError, match="not readable"):
        plain.check(20, 4, False)


@pytest.mark.parametrize("pt", [t for t in ProgType
                                if t not in MODELLED_TYPES | KERNEL_ONLY_TYPES
                                and t != ProgType.UNSPEC][:6])
def test_unmodelled_types_are_refused(pt: ProgType) -> None:
    with pytest.raises(UnsupportedProgType, match="no context model"):
        context_spec(pt)


def test_register_csum_helpers_gives_the_base_sets_csum_diff() -> None:
    from pybpf.asm import assemble
    from pybpf.helper_ids import HELPER_IDS
    from pybpf.helpers import HelperRegistry, default_helpers
    from pybpf.progtypes.skb_helpers import csum_diff, register_csum_helpers
    from pybpf.vm import VM
    hid = HELPER_IDS["csum_diff"]
    reg = register_csum_helpers(HelperRegistry())
    assert list(reg) == [hid] and reg[hid].name == "bpf_csum_diff" and reg[hid].fn is csum_diff
    # the same answer as the base set's bpf_csum_diff, on the VM
    text = """
        *(u32 *)(r10 - 8) = 0x12345678
        *(u32 *)(r10 - 4) = 0x9abcdef0
        r1 = r10
        r1 += -8
        r2 = 8
        r3 = 0
        r4 = 0
        r5 = 0x55
        call 28
        exit
    """
    prog = assemble(text)
    r0 = VM(prog, helpers=reg).execute().r0
    assert r0 == VM(prog, helpers=default_helpers()).execute().r0
    assert r0 not in (0, 0x55)


def test_kernel_only_types_have_verifier_tables() -> None:
    """sk_skb, sk_msg, flow dissector, sk_lookup and netfilter have context tables (for
    the verifier) but stay unsupported on the VM."""
    from pybpf.progtypes.ctx import FieldKind
    from pybpf.progtypes.status import describe as status
    unsupported = {d["prog_type"] for d in status() if d["status"] == "unsupported"}
    for pt in KERNEL_ONLY_TYPES:
        spec = context_spec(pt)
        assert spec.fields and spec.retval and spec.size >= spec.max_size()
        assert pt.name.lower() in unsupported
    assert context_spec(ProgType.SK_LOOKUP)["sk"].kind is FieldKind.SOCKET_OR_NULL
    assert context_spec(ProgType.SK_MSG)["sk"].kind is FieldKind.SOCKET
    assert context_spec(ProgType.FLOW_DISSECTOR)["flow_keys"].kind is FieldKind.FLOW_KEYS
    assert context_spec(ProgType.NETFILTER)["skb"].btf_struct == "sk_buff"
    with pytest.raises(ValueError, match="not writable"):
        context_spec(ProgType.SK_SKB).check(8, 4, True)  # mark
    context_spec(ProgType.SK_SKB).check(44, 4, True)  # tc_index
    with pytest.raises(ValueError, match="misaligned"):
        context_spec(ProgType.SK_LOOKUP).check(38, 4, False)
    context_spec(ProgType.SK_LOOKUP).check(36, 4, False)  # remote_port as a u32
