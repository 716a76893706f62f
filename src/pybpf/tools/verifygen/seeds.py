"""The seed programs of the generator: hand-written templates of what real programs do
(packet parsing with bounds checks, map lookup with a null check, bounded loops, stack
buffers passed to helpers, BPF-to-BPF calls, ring buffers, tail calls, socket lookups,
callbacks), each drawn with random parameters for one of the program types it suits.

A template is assembly (pybpf.asm's kernel syntax) whose lines may carry tags in a
comment (`; @bounds`): the mutations find the instruction to change by its tag."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

from ...asm import assemble_insns
from ...isa import Instruction
from ...maps.spec import MapSpec
from ...uapi import ProgType

SOCKET_FILTER, KPROBE, SCHED_CLS, TRACEPOINT = 1, 2, 3, 5
XDP, PERF_EVENT, CGROUP_SKB, CGROUP_SOCK, LWT_IN, RAW_TRACEPOINT = 6, 7, 8, 9, 10, 17


@dataclass(frozen=True)
class CtxProfile:
    """What a template may do with one program type's context: the packet pointers
    (offsets of data and data_end, None without direct packet access), readable and
    writable fields (offset, size), good return values and ones out of the type's
    range, and a load of some unknown scalar from the context (into r9)."""

    prog_type: int
    pkt: tuple[int, int] | None
    fields: tuple[tuple[int, int], ...]
    writable: tuple[tuple[int, int], ...] = ()
    rets: tuple[int, ...] = (0,)
    bad_rets: tuple[int, ...] = ()
    unknown: str = ""
    tracing: bool = False


PROFILES: Mapping[int, CtxProfile] = {
    XDP: CtxProfile(XDP, (0, 4), ((12, 4), (16, 4)), (), (0, 1, 2, 3), (),
                    "r9 = *(u32 *)(r1 + 12)"),
    SCHED_CLS: CtxProfile(SCHED_CLS, (76, 80), ((0, 4), (8, 4), (16, 4), (32, 4), (40, 4)),
                          ((8, 4), (32, 4)), (0, 2, -1), (), "r9 = *(u32 *)(r1 + 0)"),
    CGROUP_SKB: CtxProfile(CGROUP_SKB, (76, 80), ((0, 4), (8, 4), (16, 4)), ((8, 4),),
                           (0, 1), (2, 3, -1, 7), "r9 = *(u32 *)(r1 + 0)"),
    SOCKET_FILTER: CtxProfile(SOCKET_FILTER, None, ((0, 4), (4, 4), (16, 4)), ((48, 4),),
                              (0, 0xFFFF, -1), (), "r9 = *(u32 *)(r1 + 0)"),
    LWT_IN: CtxProfile(LWT_IN, (76, 80), ((0, 4), (16, 4)), (), (0, 2), (),
                       "r9 = *(u32 *)(r1 + 0)"),
    KPROBE: CtxProfile(KPROBE, None, ((0, 8), (8, 8), (112, 8), (160, 8)), (), (0, 1), (),
                       "r9 = *(u64 *)(r1 + 112)", tracing=True),
    TRACEPOINT: CtxProfile(TRACEPOINT, None, ((8, 8), (16, 8), (24, 4)), (), (0, 1), (),
                           "r9 = *(u64 *)(r1 + 8)", tracing=True),
    RAW_TRACEPOINT: CtxProfile(RAW_TRACEPOINT, None, ((0, 8), (8, 8)), (), (0,), (),
                               "r9 = *(u64 *)(r1 + 0)", tracing=True),
    PERF_EVENT: CtxProfile(PERF_EVENT, None, ((168, 8), (176, 8), (0, 8)), (), (0, 1), (),
                           "r9 = *(u64 *)(r1 + 168)", tracing=True),
    CGROUP_SOCK: CtxProfile(CGROUP_SOCK, None, ((4, 4), (8, 4), (12, 4)),
                            ((0, 4), (16, 4), (20, 4)), (0, 1), (2, -1, 5),
                            "r9 = *(u32 *)(r1 + 4)"),
}
ALL_TYPES = tuple(PROFILES)
ALL_CAPS: frozenset[str] = frozenset({"bpf", "perfmon", "net_admin", "sys_admin"})
# the program types bpf_prog_load() lets only CAP_NET_ADMIN / CAP_PERFMON load
NET_ADMIN_TYPES = frozenset({3, 4, 6, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 21, 23, 30, 31})
PERFMON_TYPES = frozenset({2, 5, 7, 17, 24, 26, 27, 28, 29})



# a seed: (assembly text, program type, the maps its lddws index)
SeedProgram = tuple[str, int, tuple[MapSpec, ...]]

def type_allowed(prog_type: int, caps: frozenset[str]) -> bool:
    """Whether a load with `caps` may make a program of this type at all (CAP_SYS_ADMIN
    stands for the others; without CAP_BPF this machine refuses every load)."""
    admin = "sys_admin" in caps
    if not (admin or "bpf" in caps):
        return False
    if prog_type in NET_ADMIN_TYPES:
        return admin or "net_admin" in caps
    if prog_type in PERFMON_TYPES:
        return admin or "perfmon" in caps
    return True


def pick_type(rng: random.Random, caps: frozenset[str], candidates: "tuple[int, ...]") -> int:
    """One of `candidates`: nine times in ten one the capabilities allow (when any is)."""
    ok = [t for t in candidates if type_allowed(t, caps)]
    if ok and rng.random() < 0.9:
        return rng.choice(ok)
    return rng.choice(candidates)
PKT_TYPES = tuple(t for t, p in PROFILES.items() if p.pkt)
TRACING_TYPES = tuple(t for t, p in PROFILES.items() if p.tracing)
SKB_TYPES = (SOCKET_FILTER, SCHED_CLS, CGROUP_SKB)


@dataclass(frozen=True)
class Seed:
    """A program to start from: instructions, type, maps and the tagged instruction
    indices (tag -> indices) the mutations use."""

    name: str
    insns: tuple[Instruction, ...]
    prog_type: int
    maps: tuple[MapSpec, ...] = ()
    expected_attach_type: int | None = None
    tags: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    origin: str = ""
    license: str = "GPL"
    btf: bytes | None = None
    func_info: tuple[tuple[int, int], ...] = ()


_LABEL = re.compile(r"^\s*[A-Za-z_]\w*:\s*")
_TAG = re.compile(r"@(\w+)")


def assemble_tagged(text: str) -> tuple[list[Instruction], dict[str, tuple[int, ...]]]:
    """Assemble a template; a `; @tag` comment tags the instruction of its line."""
    tags: dict[str, list[int]] = {}
    index = 0
    for line in text.splitlines():
        body, _, comment = line.partition(";")
        body = _LABEL.sub("", body, count=1).strip()
        if not body:
            continue
        for t in _TAG.findall(comment):
            tags.setdefault(t, []).append(index)
        index += 1
    insns = assemble_insns(text)
    assert len(insns) == index, (len(insns), index, text)
    return insns, {k: tuple(v) for k, v in tags.items()}


# --- the templates ------------------------------------------------------------------------

def _ret(p: CtxProfile, rng: random.Random) -> int:
    return rng.choice(p.rets)


def _value_map(rng: random.Random, value_size: int) -> MapSpec:
    kind = rng.choice(("hash", "array", "percpu_array", "lru_hash", "percpu_hash"))
    return MapSpec(kind, 4, value_size, rng.choice((1, 4, 16, 64)))


_BOUND_FORMS = ("gt", "lt", "ge_ok", "le_ok")


def _bounds_check(rng: random.Random, end_reg: str, ptr_reg: str, fail: str,
                  ok: str) -> str:
    """A check that ptr_reg <= end_reg, branching to `fail` when not (4 spellings)."""
    form = rng.choice(_BOUND_FORMS)
    if form == "gt":
        return f"if {ptr_reg} > {end_reg} goto {fail}  ; @bounds"
    if form == "lt":
        return f"if {end_reg} < {ptr_reg} goto {fail}  ; @bounds"
    if form == "ge_ok":
        return f"if {end_reg} >= {ptr_reg} goto {ok}  ; @bounds\ngoto {fail}"
    return f"if {ptr_reg} <= {end_reg} goto {ok}  ; @bounds\ngoto {fail}"


def t_pkt_header(rng: random.Random, caps: frozenset[str] = ALL_CAPS) -> SeedProgram:
    """Read a header field after proving the header is inside the packet."""
    t = pick_type(rng, caps, PKT_TYPES)
    p = PROFILES[t]
    assert p.pkt is not None  # PKT_TYPES have direct packet access
    hdr = rng.choice((1, 2, 4, 8, 14, 20, 34, 42, 54))
    size = rng.choice([s for s in (1, 2, 4, 8) if s <= hdr])
    off = rng.randrange(0, hdr - size + 1)
    sz = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}[size]
    const = rng.randrange(0, 256)
    text = f"""
r2 = *(u32 *)(r1 + {p.pkt[0]})  ; @ctxload @pktptr
r3 = *(u32 *)(r1 + {p.pkt[1]})  ; @ctxload @pktend
r4 = r2
r4 += {hdr}  ; @boundsadd
{_bounds_check(rng, "r3", "r4", "drop", "ok")}
ok:
r5 = *({sz} *)(r2 + {off})  ; @pkt @mem
if r5 == {const} goto pass
drop:
r0 = {_ret(p, rng)}  ; @ret
exit
pass:
r0 = {_ret(p, rng)}  ; @ret
exit
"""
    return text, t, ()


def t_pkt_varoff(rng: random.Random, caps: frozenset[str] = ALL_CAPS) -> SeedProgram:
    """An IPv4-style variable header length (ihl * 4) added to the packet pointer,
    bounded by a mask, then checked against data_end."""
    t = pick_type(rng, caps, PKT_TYPES)
    p = PROFILES[t]
    assert p.pkt is not None  # PKT_TYPES have direct packet access
    mask = rng.choice((0xF, 0x7, 0x3F))
    shift = rng.choice((0, 1, 2))
    text = f"""
r2 = *(u32 *)(r1 + {p.pkt[0]})  ; @ctxload @pktptr
r3 = *(u32 *)(r1 + {p.pkt[1]})  ; @ctxload @pktend
r4 = r2
r4 += 1  ; @boundsadd
{_bounds_check(rng, "r3", "r4", "drop", "ok")}
ok:
r5 = *(u8 *)(r2 + 0)  ; @pkt @mem
r5 &= {mask}  ; @mask
r5 <<= {shift}
r2 += r5  ; @varadd
r4 = r2
r4 += 2  ; @boundsadd
if r4 > r3 goto drop  ; @bounds
r0 = *(u16 *)(r2 + 0)  ; @pkt @mem
drop:
r0 = {_ret(p, rng)}  ; @ret
exit
"""
    return text, t, ()


def t_map_lookup(rng: random.Random, caps: frozenset[str] = ALL_CAPS) -> SeedProgram:
    """Look a key up, check the value for NULL, read and update it."""
    t = pick_type(rng, caps, ALL_TYPES)
    p = PROFILES[t]
    vsize = rng.choice((8, 16, 32, 64))
    voff = rng.randrange(0, vsize // 8) * 8
    atomic = rng.random() < 0.3
    update = (f"lock *(u64 *)(r0 + {voff}) += r1  ; @valwrite @mem" if atomic else
              f"r1 += 1\n*(u64 *)(r0 + {voff}) = r1  ; @valwrite @mem")
    text = f"""
r6 = r1
*(u32 *)(r10 - 4) = {rng.randrange(0, 4)}  ; @keystore @stackstore
r2 = r10
r2 += -4  ; @keyptr
r1 = map_fd(0)  ; @mapfd
call map_lookup_elem  ; @call @lookup
if r0 == 0 goto out  ; @null
r1 = *(u64 *)(r0 + {voff})  ; @valread @mem
{update}
out:
r0 = {_ret(p, rng)}  ; @ret
exit
"""
    return text, t, (_value_map(rng, vsize),)


def t_map_varoff(rng: random.Random, caps: frozenset[str] = ALL_CAPS) -> SeedProgram:
    """A map value read at a variable offset, bounded by a mask."""
    t = pick_type(rng, caps, ALL_TYPES)
    p = PROFILES[t]
    vsize = rng.choice((16, 32, 64))
    mask = rng.choice([m for m in (1, 3, 7, 15, 31) if m < vsize])
    text = f"""
{p.unknown}  ; @unknown
*(u32 *)(r10 - 4) = 0  ; @keystore @stackstore
r2 = r10
r2 += -4  ; @keyptr
r1 = map_fd(0)  ; @mapfd
call map_lookup_elem  ; @call @lookup
if r0 == 0 goto out  ; @null
r9 &= {mask}  ; @mask
r0 += r9  ; @varadd
r1 = *(u8 *)(r0 + 0)  ; @valread @mem
out:
r0 = {_ret(p, rng)}  ; @ret
exit
"""
    return text, t, (MapSpec("array", 4, vsize, rng.choice((1, 8))),)


def t_map_update(rng: random.Random, caps: frozenset[str] = ALL_CAPS) -> SeedProgram:
    """Key and value on the stack, passed to map_update_elem."""
    t = pick_type(rng, caps, ALL_TYPES)
    p = PROFILES[t]
    text = f"""
*(u32 *)(r10 - 4) = {rng.randrange(0, 8)}  ; @keystore @stackstore
*(u64 *)(r10 - 16) = {rng.randrange(0, 1000)}  ; @valstore @stackstore
r1 = map_fd(0)  ; @mapfd
r2 = r10
r2 += -4  ; @keyptr
r3 = r10
r3 += -16  ; @valptr
r4 = {rng.choice((0, 1, 2))}
call map_update_elem  ; @call
r0 = {_ret(p, rng)}  ; @ret
exit
"""
    return text, t, (MapSpec(rng.choice(("hash", "lru_hash", "array")), 4, 8, 16),)


def t_loop(rng: random.Random, caps: frozenset[str] = ALL_CAPS) -> SeedProgram:
    """A bounded loop (the verifier walks it until the bound)."""
    t = pick_type(rng, caps, ALL_TYPES)
    p = PROFILES[t]
    n = rng.choice((2, 4, 8, 16, 32))
    step = rng.choice((1, 1, 2))
    # (forms the kernel refuses quickly without CAP_PERFMON, where it does not prune
    # the loop's states: others run to the 1M instruction limit, slow on both sides)
    cond = rng.choice((f"if r1 < {n} goto loop", f"if r1 != {n} goto loop"))
    text = f"""
r1 = 0  ; @loopinit
r0 = 0
loop:
r0 += r1
r1 += {step}  ; @loopinc
{cond}  ; @loopjmp
r0 = {_ret(p, rng)}  ; @ret
exit
"""
    return text, t, ()


def t_stack_helper(rng: random.Random, caps: frozenset[str] = ALL_CAPS) -> SeedProgram:
    """A stack buffer passed to a helper that writes it (get_current_comm), then read."""
    t = pick_type(rng, caps, TRACING_TYPES)
    p = PROFILES[t]
    buf = rng.choice((8, 16, 32))
    size = rng.choice([s for s in (1, 4, 8, 16, 32) if s <= buf])
    text = f"""
r1 = r10
r1 += -{buf}  ; @bufptr
r2 = {size}  ; @size
call get_current_comm  ; @call
r0 = *(u8 *)(r10 - {buf})  ; @stackread
r0 = {_ret(p, rng)}  ; @ret
exit
"""
    return text, t, ()


def t_skb_load_bytes(rng: random.Random, caps: frozenset[str] = ALL_CAPS) -> SeedProgram:
    """Packet bytes copied to the stack with skb_load_bytes."""
    t = pick_type(rng, caps, SKB_TYPES)
    p = PROFILES[t]
    buf = rng.choice((4, 8, 16))
    size = rng.choice([s for s in (1, 2, 4, 8, 16) if s <= buf])
    text = f"""
r2 = {rng.randrange(0, 20)}
r3 = r10
r3 += -{buf}  ; @bufptr
r4 = {size}  ; @size
call skb_load_bytes  ; @call
r0 = *(u8 *)(r10 - {buf})  ; @stackread
r0 = {_ret(p, rng)}  ; @ret
exit
"""
    return text, t, ()


def t_bpf2bpf(rng: random.Random, caps: frozenset[str] = ALL_CAPS) -> SeedProgram:
    """A BPF-to-BPF call passing a pointer to the caller's stack."""
    t = pick_type(rng, caps, ALL_TYPES)
    p = PROFILES[t]
    text = f"""
r1 = {rng.randrange(0, 100)}
*(u64 *)(r10 - 8) = r1  ; @stackstore
r2 = r10
r2 += -8  ; @stackptr
call sub  ; @localcall
r0 = {_ret(p, rng)}  ; @ret
exit
sub:
r0 = *(u64 *)(r2 + 0)  ; @subread @mem
r0 += r1
*(u64 *)(r10 - 16) = r0  ; @stackstore
r0 = *(u64 *)(r10 - 16)
exit
"""
    return text, t, ()


def t_ringbuf(rng: random.Random, caps: frozenset[str] = ALL_CAPS) -> SeedProgram:
    """Reserve a ring buffer record, check it, write it, submit (or discard) it."""
    t = pick_type(rng, caps, ALL_TYPES)
    p = PROFILES[t]
    size = rng.choice((8, 16, 64))
    release = rng.choice(("ringbuf_submit", "ringbuf_discard"))
    text = f"""
r1 = map_fd(0)  ; @mapfd
r2 = {size}  ; @size
r3 = 0
call ringbuf_reserve  ; @call @acquire
if r0 == 0 goto out  ; @null
r1 = {rng.randrange(0, 1 << 20)}
*(u64 *)(r0 + {rng.randrange(0, size // 8) * 8}) = r1  ; @recwrite @mem
r1 = r0
r2 = 0
call {release}  ; @call @release
out:
r0 = {_ret(p, rng)}  ; @ret
exit
"""
    return text, t, (MapSpec("ringbuf", 0, 0, 4096),)


def t_tail_call(rng: random.Random, caps: frozenset[str] = ALL_CAPS) -> SeedProgram:
    """A tail call through a prog_array (falls through when the slot is empty)."""
    t = pick_type(rng, caps, ALL_TYPES)
    p = PROFILES[t]
    text = f"""
r2 = map_fd(0)  ; @mapfd
r3 = {rng.randrange(0, 4)}  ; @index
call tail_call  ; @call
r0 = {_ret(p, rng)}  ; @ret
exit
"""
    return text, t, (MapSpec("prog_array", 4, 4, 4),)


def t_sk_lookup(rng: random.Random, caps: frozenset[str] = ALL_CAPS) -> SeedProgram:
    """Look a socket up by its tuple, read it, release it."""
    t = pick_type(rng, caps, (SCHED_CLS, XDP))
    p = PROFILES[t]
    helper = rng.choice(("sk_lookup_tcp", "sk_lookup_udp", "skc_lookup_tcp"))
    text = f"""
r6 = r1
r1 = 0
*(u64 *)(r10 - 16) = r1  ; @tuplestore @stackstore
*(u32 *)(r10 - 8) = r1  ; @tuplestore @stackstore
r1 = r6
r2 = r10
r2 += -16  ; @tupleptr
r3 = 12  ; @size
r4 = -1
r5 = 0
call {helper}  ; @call @acquire
if r0 == 0 goto out  ; @null
r2 = *(u32 *)(r0 + 4)  ; @sockread
r1 = r0
call sk_release  ; @call @release
out:
r0 = {_ret(p, rng)}  ; @ret
exit
"""
    return text, t, ()


def t_ld_abs(rng: random.Random, caps: frozenset[str] = ALL_CAPS) -> SeedProgram:
    """Legacy packet loads (LD_ABS / LD_IND) with the context in r6."""
    t = pick_type(rng, caps, (SOCKET_FILTER, SCHED_CLS))
    p = PROFILES[t]
    size = rng.choice(("u8", "u16", "u32"))
    text = f"""
r6 = r1  ; @ctxsave
r0 = *({size} *)skb[{rng.randrange(0, 40)}]  ; @ldabs
r7 = r0
r3 = {rng.randrange(0, 8)}
r0 = *(u8 *)skb[r3 + {rng.randrange(0, 20)}]  ; @ldabs
r0 = {_ret(p, rng)}  ; @ret
exit
"""
    return text, t, ()


def t_ctx_fields(rng: random.Random, caps: frozenset[str] = ALL_CAPS) -> SeedProgram:
    """Read (and write, where the type allows) context fields."""
    t = pick_type(rng, caps, ALL_TYPES)
    p = PROFILES[t]
    lines = []
    for i in range(rng.randrange(1, 4)):
        off, size = rng.choice(p.fields)
        sz = {4: "u32", 8: "u64"}[size]
        lines.append(f"r{2 + i} = *({sz} *)(r1 + {off})  ; @ctxload @mem")
    if p.writable and rng.random() < 0.5:
        off, size = rng.choice(p.writable)
        lines.append(f"*(u32 *)(r1 + {off}) = r2  ; @ctxstore @mem")
    body = "\n".join(lines)
    text = f"""
{body}
r0 = {_ret(p, rng)}  ; @ret
exit
"""
    return text, t, ()


def t_spill_fill(rng: random.Random, caps: frozenset[str] = ALL_CAPS) -> SeedProgram:
    """Spill the context pointer to the stack, fill it back, use it."""
    t = pick_type(rng, caps, ALL_TYPES)
    p = PROFILES[t]
    off, size = rng.choice(p.fields)
    sz = {4: "u32", 8: "u64"}[size]
    slot = rng.choice((8, 16, 24, 64, 256, 512))
    text = f"""
*(u64 *)(r10 - {slot}) = r1  ; @spill @stackstore
r1 = 0
r1 = *(u64 *)(r10 - {slot})  ; @fill
r0 = *({sz} *)(r1 + {off})  ; @ctxload @mem
r0 = {_ret(p, rng)}  ; @ret
exit
"""
    return text, t, ()


def t_cgroup_ret(rng: random.Random, caps: frozenset[str] = ALL_CAPS) -> SeedProgram:
    """A cgroup program deciding allow (1) or deny (0) from a context field."""
    t = pick_type(rng, caps, (CGROUP_SKB, CGROUP_SOCK))
    p = PROFILES[t]
    off, size = rng.choice(p.fields)
    text = f"""
r2 = *(u32 *)(r1 + {off})  ; @ctxload @mem
r0 = 1  ; @ret
if r2 != {rng.randrange(0, 20)} goto out
r0 = 0  ; @ret
out:
exit
"""
    return text, t, ()


Template = Callable[[random.Random, frozenset[str]], tuple[str, int, tuple[MapSpec, ...]]]

TEMPLATES: Mapping[str, Template] = {
    "pkt_header": t_pkt_header, "pkt_varoff": t_pkt_varoff, "map_lookup": t_map_lookup,
    "map_varoff": t_map_varoff, "map_update": t_map_update, "loop": t_loop,
    "stack_helper": t_stack_helper, "skb_load_bytes": t_skb_load_bytes,
    "bpf2bpf": t_bpf2bpf, "ringbuf": t_ringbuf, "tail_call": t_tail_call,
    "sk_lookup": t_sk_lookup, "ld_abs": t_ld_abs, "ctx_fields": t_ctx_fields,
    "spill_fill": t_spill_fill, "cgroup_ret": t_cgroup_ret,
}


def template_seed(name: str, rng: random.Random, caps: frozenset[str] = ALL_CAPS) -> Seed:
    """Draw one program from template `name`, mostly of a type `caps` may load."""
    text, t, maps = TEMPLATES[name](rng, caps)
    insns, tags = assemble_tagged(text)
    return Seed(f"seed:{name}", tuple(insns), t, maps, None, tags, f"seed:{name}")


def type_name(t: int) -> str:
    return ProgType(t).name.lower()
