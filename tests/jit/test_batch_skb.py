"""The native batch of skb programs (pybpf.progtypes.skbbatch): run_batch on the JIT gives
what run_batch on the interpreter gives (return values, errors and their messages,
frames, maps) for unverified programs made of random steps: context loads and stores
of every size at offsets valid or not, packet loads and stores through data, LD_ABS and
LD_IND at every base and past the packet, and helpers that change the packet and its
fields, mid-packet, with the programs ending in faults, the budget or a return value
past the native histogram now and then."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from pybpf.builder import FP, R0, R1, R2, R3, R4, R6, R7, ObjectBuilder
from pybpf.jit import available
from pybpf.jit.batch import NativeBatch
from pybpf.objects.runner import dump_maps
from pybpf.pcap import read_pcap
from pybpf.progtypes import skb_spec
from pybpf.uapi import ProgType
from tests.objects.test_examples import _normalise
from tests.progtypes.test_skbrunner import TYPES as _TYPES

pytestmark = pytest.mark.skipif(not available(), reason="llvmlite does not load here")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SECTIONS = ["tc", "socket", "cgroup_skb/ingress", "lwt_xmit"]
TYPES = {**_TYPES, "lwt_xmit": ProgType.LWT_XMIT}
# helpers by section: (name, r2, r3, r4) with r1 = skb (the packet and fields change;
# r3 None: a stack buffer, whose first word is folded in too). No socket cookie: its
# counter is the process's, as the kernel's is global, so its values depend on the
# runs before.
LOAD = ("skb_load_bytes", 10, None, 8)
HELPERS = {
    "tc": [("skb_pull_data", 30, 0, 0), ("skb_change_tail", 90, 0, 0),
           ("skb_change_head", 8, 0, 0), ("skb_vlan_push", 0x81, 7, 0),
           ("skb_vlan_pop", 0, 0, 0), ("set_hash", 0x1234, 0, 0),
           ("skb_adjust_room", 4, 0, 0), LOAD],
    "socket": [LOAD, ("skb_load_bytes", 50, None, 4)],
    "cgroup_skb/ingress": [LOAD, ("skb_load_bytes", 2000, None, 4)],
    "lwt_xmit": [("skb_pull_data", 20, 0, 0), ("skb_change_head", 14, 0, 0), LOAD],
}


def frames() -> list[bytes]:
    out = [p.data for p in read_pcap(EXAMPLES / "traffic.pcap")][:80]
    return out + [bytes(14), out[0][:40], out[1][:60], bytes(5000), out[2] + bytes(300)]


SIZES = {1: "b", 2: "h", 4: "w", 8: "dw"}


def _accesses(section: str, write: bool) -> list[tuple[str, int]]:
    """The (size, offset) accesses of __sk_buff the type allows."""
    spec = skb_spec(TYPES[section])
    out = []
    for off in range(0, 192):
        for size in SIZES:
            try:
                spec.check(off, size, write)
            except ValueError:
                continue
            out.append((SIZES[size], off))
    return out


def _rarely(p: Any, rng: random.Random, label: str) -> None:
    """Skip to `label` but for about one packet in four (by its length): what
    follows may fail without failing every packet."""
    p.ldxw(R3, R6, 0).and64(R3, 3).jne(R3, rng.randrange(4), label)


def program(section: str, seed: int) -> Any:
    """An object of one program `f` of `section` made of random steps (see the
    module), folding what it reads into r7; it returns r7 modulo 7, or r7 itself now
    and then (a value past the native histogram), or 1 (cgroup skb: 0 or 1). Accesses
    the type refuses are made on about one packet in four."""
    rng = random.Random(f"{section}/{seed}")
    loads, stores = _accesses(section, False), _accesses(section, True)
    ob = ObjectBuilder()
    ob.map("seen", "array", key="u32", value="u64", max_entries=2)
    p = ob.program("f", section)
    p.mov64(R6, R1).mov64(R7, seed)
    for step in range(rng.randrange(3, 12)):
        kind = rng.choice(["load", "load", "load", "store", "ldabs", "packet", "helper",
                           "map"])
        odd = rng.random() < 0.15  # an access the type may refuse
        if odd and kind in ("load", "store", "packet"):
            _rarely(p, rng, f"odd{step}")
        if kind == "load":
            size, off = (rng.choice(["w", "b", "h", "dw"]), rng.randrange(0, 196)) if odd \
                else rng.choice(loads)
            p.ldx(size, R2, R6, off).xor64(R7, R2).mul64(R7, 31)
        elif kind == "store":
            size, off = (rng.choice(["w", "b", "h"]), rng.randrange(0, 196)) if odd \
                else rng.choice(stores or loads)
            if not odd and not stores:
                continue
            p.mov64(R2, R7).stx(size, R6, off, R2)
        elif kind == "ldabs":
            size = rng.choice(["b", "h", "w"])
            off = rng.choice([0, 12, 14, 23, 26, 30, 60, 1500, -0x100000 + 9,
                              -0x200000 + 6, -0x100000 + 400, -7])
            if rng.random() < 0.3:
                p.mov64(R4, R7).and64(R4, 15).ld_ind(size, R4, off)
            else:
                p.ld_abs(size, off)
            p.xor64(R7, R0).mul64(R7, 31)
        elif kind == "packet":
            if ("w", 76) not in loads and not odd:
                continue  # no direct packet access
            k = rng.choice([0, 12, 20, 33, 59, 100])
            p.ldxw(R2, R6, 76).ldxw(R3, R6, 80).mov64(R4, R2).add64(R4, k + 4)
            label = f"skip{step}"
            p.jgt(R4, R3, label)
            if rng.random() < 0.5 or not (odd or section in ("tc", "lwt_xmit")):
                p.ldxw(R4, R2, k).xor64(R7, R4)
            else:
                p.mov64(R4, R7).stxb(R2, k, R4)
            p.label(label)
        elif kind == "helper":
            name, a2, a3, a4 = rng.choice(HELPERS[section])
            p.mov64(R1, R6).mov64(R2, a2).mov64(R4, a4)
            if a3 is None:
                p.stdw(FP, -16, 0).mov64(R3, FP).add64(R3, -16)
            else:
                p.mov64(R3, a3)
            p.call(name).xor64(R7, R0).mul64(R7, 31)
            if a3 is None:
                p.ldxdw(R2, FP, -16).xor64(R7, R2)
        else:  # a map the native fast path updates: seen[0] += 1
            p.stw(FP, -4, 0).mov64(R2, FP).add64(R2, -4).ld_map_fd(R1, "seen")
            p.call("map_lookup_elem").jeq(R0, 0, f"nomap{step}")
            p.mov64(R3, 1).atomic_add("dw", R0, 0, R3).label(f"nomap{step}")
        if odd and kind in ("load", "store", "packet"):
            p.label(f"odd{step}")
    if section.startswith("cgroup"):  # 0 or 1: the parity of the fold
        p.mov64(R0, R7)
        for shift in (32, 16, 8, 4, 2, 1):
            p.mov64(R2, R0).rsh64(R2, shift).xor64(R0, R2)
        p.and64(R0, 1).exit()
    elif seed % 5 == 0:
        p.mov64(R0, R7).exit()
    else:
        p.mov64(R0, R7).mod64(R0, 7).exit()
    return ob.build()


def outcome(spec: Any, engine: str, packets: list[bytes], keep: bool) -> dict[str, Any]:
    with spec.instantiate("vm", engine=engine, verify=False) as obj:
        prog = obj.programs["f"]
        prog.handle.insn_budget = 20_000
        res = prog.run_batch(list(packets), keep_frames=keep)
        return {"verdicts": dict(res.verdicts), "retvals": dict(res.retvals),
                "errors": dict(res.errors), "frames": res.frames,
                "maps": _normalise(dump_maps(obj))}


@pytest.mark.parametrize("seed", range(40))
def test_random_skb_programs_same_as_interpreter(seed: int,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    section = SECTIONS[seed % len(SECTIONS)]
    spec = program(section, seed)
    packets = frames()
    fed: list[int] = []
    feed = NativeBatch.feed
    monkeypatch.setattr(NativeBatch, "feed",
                        lambda self, *a, **kw: (fed.append(1), feed(self, *a, **kw))[1])
    keep = section == "tc" or seed % 2 == 0  # frames are kept natively for tc only
    interp = outcome(spec, "interp", packets, keep)
    jit = outcome(spec, "jit", packets, keep)
    assert jit == interp, section
    assert bool(fed) == (section == "tc" or not keep)  # native where it can be
