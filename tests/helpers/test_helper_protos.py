"""pybpf.helper_protos against the running kernel: names against its BTF, and every
prototype against its verifier (see verifier_probe for the programs).

Per (helper, program type) the verifier is asked:
  valid      the call with every argument set up as the proto says loads;
  gpl_only   under license "MIT" the load fails with the GPL message iff gpl_only;
  might_sleep  a non-sleepable program is refused iff might_sleep;
  nargs      leaving the last argument unset is "R<n> !read_ok" (and the valid program
             sets no more than n: the others are clobbered);
  arg types  a scalar in a pointer argument is "R<i> type=scalar expected=<list>", the
             list being COMPATIBLE_REG_TYPES[base type]; a stack pointer in a size
             argument is "expected=scalar" and is accepted in ARG_ANYTHING;
  sizes      0 is "invalid zero-sized read" for ARG_CONST_SIZE, accepted for _OR_ZERO;
             a map key/value pointer is checked for the map's key/value size, a memory
             pointer for the size in the next argument;
  flags      NULL is accepted iff PTR_MAYBE_NULL; a read-only map value is "write into
             map forbidden" iff MEM_WRITE; a packet pointer is "helper access to the
             packet is not allowed" iff not pkt_access (tc, XDP);
  return     r0 after the call has RET_REG_TYPE's type (the log's "R0=..."), its
             dereference is refused as that type ('!read_ok' for void), and leaving
             the returned pointer unreleased is "Unreleased reference" iff acquire.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pybpf import helper_protos as hp
from pybpf.helper_ids import HELPER_NAMES
from pybpf.helper_protos import ArgType, HelperProto, RetType, TypeFlag
from pybpf.progtypes.helpersets import EXTRA, allowed_helpers, helpers_for
from pybpf.uapi import ProgType

from .verifier_probe import (
    KEY_SIZE,
    VALUE_SIZE,
    Call,
    Env,
    Probe,
    Unsupported,
    complaint,
)

GPL_MSG = "cannot call GPL-restricted function from non-GPL compatible program"
SLEEP_MSG = "helper call might sleep in a non-sleepable prog"

# --- the table itself ----------------------------------------------------------------------


def test_table_size_and_ids() -> None:
    protos = hp.all_protos()
    assert len(protos) >= 60
    for p in protos:
        assert HELPER_NAMES[p.id] == p.name
        assert hp.proto(p.id) is p and hp.proto("bpf_" + p.name) is p
        assert len(p.args) <= 5
        for a in p.args:
            assert a.decl, (p.name, a)
            assert (a.size > 0) == bool(a.flags & TypeFlag.MEM_FIXED_SIZE), (p.name, a)
            assert bool(a.btf_id) == (a.type is ArgType.ARG_PTR_TO_BTF_ID), (p.name, a)
        # a size argument always follows the memory it sizes (ARG_CONST_ALLOC_SIZE aside)
        for i, a in enumerate(p.args):
            if a.type in (ArgType.ARG_CONST_SIZE, ArgType.ARG_CONST_SIZE_OR_ZERO):
                prev = p.args[i - 1]
                assert i > 0 and prev.type is ArgType.ARG_PTR_TO_MEM \
                    and not prev.flags & TypeFlag.MEM_FIXED_SIZE, p.name
        assert (p.ret.type, p.ret.flags) in hp.RET_REG_TYPE, p.name


def test_lookups_and_errors() -> None:
    assert hp.proto("map_update_elem").render() == (
        "long bpf_map_update_elem(struct bpf_map *map, const void *key, const void *value,"
        " u64 flags)")
    assert hp.proto(131).ret_size_arg == 2 and hp.proto(131).acquire
    assert hp.proto("ringbuf_submit").release_arg == 1
    assert hp.proto("sk_release").release_arg == 1
    assert hp.proto("ktime_get_ns").render() == "u64 bpf_ktime_get_ns(void)"
    assert hp.proto("trace_printk").render().endswith("u32 fmt_size, ...)")
    assert hp.proto("map_lookup_elem").ret.kernel_name == "RET_PTR_TO_MAP_VALUE_OR_NULL"
    assert hp.proto("map_pop_elem").args[1].kernel_name == \
        "ARG_PTR_TO_MAP_VALUE | MEM_UNINIT | MEM_WRITE"
    assert hp.proto("get_current_comm").args[0].kernel_name == "ARG_PTR_TO_UNINIT_MEM"
    assert hp.proto("csum_diff").args[0].kernel_name == "ARG_PTR_TO_MEM_OR_NULL | MEM_RDONLY"
    with pytest.raises(hp.HelperProtoError):
        hp.proto("no_such_helper")
    with pytest.raises(hp.HelperProtoError):
        hp.proto(100000)
    with pytest.raises(hp.HelperProtoError):
        hp.proto("unspec")
    with pytest.raises(hp.HelperProtoError):
        hp.proto_for("ktime_get_ns", 9999)
    text = hp.describe(["map_lookup_elem", 131], verbose=True)
    assert "RET_PTR_TO_RINGBUF_MEM_OR_NULL" in text and "ARG_CONST_ALLOC_SIZE_OR_ZERO" in text
    assert len(hp.describe().splitlines()) == len(hp.all_protos())


def test_variants_by_prog_type() -> None:
    skb = hp.proto_for("get_socket_cookie", ProgType.SCHED_CLS)
    tracing = hp.proto_for("get_socket_cookie", ProgType.TRACING)
    assert skb.args[0].type is ArgType.ARG_PTR_TO_CTX
    assert tracing.args[0].type is ArgType.ARG_PTR_TO_BTF_ID_SOCK_COMMON
    assert tracing.render() == "u64 bpf_get_socket_cookie(struct sock *sk)"
    assert hp.proto_for("perf_event_output", ProgType.XDP).kernel_proto == \
        "bpf_xdp_event_output_proto"
    assert hp.proto_for("perf_event_output", ProgType.TRACEPOINT).kernel_proto == \
        "bpf_perf_event_output_proto_tp"
    assert hp.proto_for("ktime_get_ns", ProgType.XDP) is hp.proto("ktime_get_ns")
    assert len(hp.variants("get_socket_cookie")) == 5  # the skb one is the generic


def test_every_vm_helper_has_a_proto() -> None:
    """Whatever the VM registers for any program type, the verifier side knows."""
    missing = {}
    for pt in EXTRA:
        for hid in helpers_for(pt):
            try:
                hp.proto_for(hid, pt)
            except hp.HelperProtoError:
                missing[HELPER_NAMES[hid]] = pt.name
    assert not missing


def test_helper_ids_are_kernel_helpers() -> None:
    """pybpf.helper_ids against the running kernel's enum bpf_func_id."""
    values = _kernel_enum("bpf_func_id")
    for hid, name in HELPER_NAMES.items():
        assert values.get("BPF_FUNC_" + name) == hid, name


def _kernel_enum(name: str) -> dict[str, int]:
    from pybpf import btf
    try:
        b = btf.load_vmlinux()
    except btf.BTFError as e:
        pytest.skip(str(e))
    ids = b.find(name)
    if not ids:
        pytest.skip(f"no enum {name} in the kernel BTF")
    return {v.name: v.value for v in b[ids[0]].values}


def test_vocabulary_against_kernel_btf() -> None:
    """Every name pybpf uses exists in the kernel's enums, and every composite name is
    the kernel's base | flags."""
    args, rets, flags = (_kernel_enum("bpf_arg_type"), _kernel_enum("bpf_return_type"),
                         _kernel_enum("bpf_type_flag"))
    assert {t.name for t in ArgType} <= set(args)
    assert {t.name for t in RetType} <= set(rets)
    assert {f.name for f in TypeFlag} <= set(flags)
    # and nothing of the kernel's is missing (bar the range markers)
    assert {n for n in args if not n.startswith("__")} == \
        {t.name for t in ArgType} | set(hp.ARG_ALIASES)
    assert {n for n in rets if not n.startswith("__")} == \
        {t.name for t in RetType} | set(hp.RET_ALIASES)
    assert {n for n in flags if not n.startswith("__")} == {f.name for f in TypeFlag}

    def value(base: int, fl: TypeFlag) -> int:
        return base | sum(flags[f.name] for f in TypeFlag if f in fl)

    for name, (base, fl) in hp.ARG_ALIASES.items():
        assert args[name] == value(args[base.name], fl), name
    for name, (base, fl) in hp.RET_ALIASES.items():
        assert rets[name] == value(rets[base.name], fl), name


UAPI_HEADER = Path("/usr/include/linux/bpf.h")
# protos whose C form the UAPI does not spell out (cgroup/sock programs' ctx)
# kernel protos the UAPI header does not document (it gives one C declaration a helper)
UNDOCUMENTED = {"bpf_get_socket_cookie_sock_proto", "bpf_get_cgroup_classid_curr_proto"}
# changed since the Linux 6.1 headers Debian 12 installs: key widened from u32 (6.3)
# and `const struct bpf_dynptr *` (6.5)
NEWER_THAN_6_1 = {
    "long bpf_redirect_map(struct bpf_map *map, u64 key, u64 flags)",
    ("long bpf_dynptr_read(void *dst, u32 len, const struct bpf_dynptr *src, u32 offset,"
    " u64 flags)"),
    ("long bpf_dynptr_write(const struct bpf_dynptr *dst, u32 offset, void *src, u32 len,"
    " u64 flags)"),
    "void *bpf_dynptr_data(const struct bpf_dynptr *ptr, u32 offset, u32 len)",
}


def test_render_matches_uapi_documentation() -> None:
    """The C declarations as the installed UAPI header documents them."""
    if not UAPI_HEADER.exists():
        pytest.skip("no /usr/include/linux/bpf.h")
    documented: dict[str, set[str]] = {}
    for m in re.finditer(r"^ \* (\S.*\bbpf_(\w+)\(.*\))\s*$", UAPI_HEADER.read_text(),
                         re.MULTILINE):
        documented.setdefault(m[2], set()).add(" ".join(m[1].split()))
    compared = 0
    for p in hp.all_protos():
        for v in hp.variants(p.id):
            if v.kernel_proto in UNDOCUMENTED:
                continue
            if v.name in documented and v.render() not in NEWER_THAN_6_1:
                assert v.render() in documented[v.name], (v.render(), documented[v.name])
                compared += 1
    assert compared >= 100


# --- against the kernel's verifier ---------------------------------------------------------

# program types to try, in order, for a helper's generic proto
PREFERRED = (ProgType.SCHED_CLS, ProgType.XDP, ProgType.KPROBE, ProgType.SOCKET_FILTER,
             ProgType.CGROUP_SKB, ProgType.LWT_XMIT, ProgType.LWT_IN, ProgType.TRACEPOINT,
             ProgType.RAW_TRACEPOINT, ProgType.PERF_EVENT)


def _cases() -> list[tuple[str, ProgType | None]]:
    cases: list[tuple[str, ProgType | None]] = []
    for p in hp.all_protos():
        seen = set()
        for pt in PREFERRED:
            if p.name in allowed_helpers(pt):
                v = hp.proto_for(p.id, pt)
                if v.kernel_proto not in seen:
                    seen.add(v.kernel_proto)
                    cases.append((p.name, pt))
        if not seen:
            cases.append((p.name, None))
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    from tests.conftest import kernel_available
    ok, reason = kernel_available()
    if not ok:
        pytest.skip(f"bpf(2) unavailable: {reason}")
    e = Env.create()
    yield e
    e.close()


def state_after_call(log: str, helper: str) -> str:
    """What the verifier log says of the state after `call bpf_<helper>`: what it prints
    from the call up to the next instruction, whatever lines (mark_precise, a state line
    of its own) it puts between them. The call may be listed more than once (a liveness
    table lists instructions with no state): the first listing with R0's state counts."""
    for m in re.finditer(rf"\(85\) call bpf_{helper}#\d+", log):
        rest = log[m.end():]
        nxt = re.search(r"^\s*\d+: (?:[0-9.]+ )?\([0-9a-f]{2}\)", rest, re.MULTILINE)
        segment = rest[:nxt.start()] if nxt else rest
        if re.search(r"\bR0(?:_w)?=", segment):
            return segment
    return ""


def test_state_after_call_reads_meaning_not_layout() -> None:
    """The R0 state is found on the call's line, or on a later line before the next
    instruction (this is how kernel builds differ), never from a later instruction."""
    same_line = "13: (85) call bpf_x#81        ; R0=map_value(map=m)\n14: (71) r0 = *(u8 *)(r0 +0)"
    later = ("13: (85) call bpf_x#81\nmark_precise: frame0: last_idx 13\n"
             "mark_precise: frame0: regs=r2 stack= before 12: (b7) r2 = 0\n"
             "14: R0_w=map_value(map=m) R10=fp0\n14: (71) r0 = *(u8 *)(r0 +0)\n")
    nothing = "13: (85) call bpf_x#81\n14: (bf) r0 = r1   ; R0=ctx()\n"
    liveness_first = ("     13: .12....... (85) call bpf_x#81\n     14: 0......... (71) r0 = "
                      "*(u8 *)(r0 +0)\n0: R1=ctx() R10=fp0\n" + same_line)
    for log, want in ((same_line, "map_value"), (later, "map_value"), (nothing, None),
                      (liveness_first, "map_value")):
        r0 = re.search(r"\bR0(?:_w)?=([\w]+)", state_after_call(log, "x"))
        assert (r0[1] if r0 else None) == want, log


class Checker:
    """Runs the checks of one (proto, prog type); collects failures and counts."""

    def __init__(self, probe: Probe) -> None:
        self.probe, self.p = probe, probe.p
        self.failures: list[str] = []
        self.checked: list[str] = []
        self.unchecked: list[str] = []

    def at_call(self, text: str) -> bool:
        """Was the last instruction the verifier looked at our helper's call (not the
        call of a helper the set-up needs)?"""
        calls = re.findall(r"\(85\) call (\w+)#", text)
        return bool(calls) and calls[-1] == f"bpf_{self.p.name}"

    def expect(self, what: str, text: str, ok: bool) -> None:
        if not ok and "verifier bug" in text:
            self.unchecked.append(f"{what} (the kernel reports a verifier bug: "
                                  f"{text.splitlines()[-1]!r})")
            return
        (self.checked if ok else self.failures).append(
            what if ok else f"{what}: verifier said {text!r}")

    def run(self) -> None:
        p, pr = self.p, self.probe
        got = pr.complaint()
        if p.might_sleep:
            self.expect("might_sleep: refused in a non-sleepable program", got,
                        SLEEP_MSG in got)
            # the rest in a sleepable program: BPF_PROG_TYPE_SYSCALL with BPF_F_SLEEPABLE
            pr = self.probe = Probe(pr.env, p, ProgType.SYSCALL, prog_flags=16)
            got = pr.complaint()
        if "not supported for program type" in got:
            pytest.skip(f"{p.kernel_proto} in {pr.pt.name}: the kernel has the proto but "
                        f"refuses the call: {got.splitlines()[-1]!r}")
        if got:
            self.failures.append(f"valid call rejected: {got!r}")
            return
        self.checked.append(f"valid call ({pr.pt.name})")
        self.check_gpl()
        if p.nargs:
            c = pr.complaint(Call(skip_args=frozenset({p.nargs})))
            self.expect(f"nargs={p.nargs}", c, f"R{p.nargs} !read_ok" in c)
        for i, a in enumerate(p.args, 1):
            self.check_arg(i, a)
        self.check_ret()
        self.check_release()

    def check_release(self) -> None:
        """OBJ_RELEASE: the reference an argument holds is gone after the call, so a
        second call with it is refused; helpers that only borrow one may be called
        again."""
        p = self.p
        borrowed = {ArgType.ARG_PTR_TO_RINGBUF_MEM, ArgType.ARG_PTR_TO_SOCK_COMMON,
                    ArgType.ARG_PTR_TO_BTF_ID_SOCK_COMMON, ArgType.ARG_PTR_TO_DYNPTR}
        if p.acquire or not any(a.type in borrowed and not a.flags & TypeFlag.MEM_UNINIT
                                for a in p.args):
            return
        c = self.probe.complaint(Call(twice=True))
        i = p.release_arg
        self.expect(f"release={f'arg{i}' if i else None}: second call "
                    f"{'refused' if i else 'accepted'}", c,
                    bool(c) and self.at_call(c) if i else c == "")

    def check_gpl(self) -> None:
        c = self.probe.complaint(license="MIT")
        if c and GPL_MSG in c and not self.at_call(c):
            self.unchecked.append("gpl_only (a helper the set-up needs is GPL-only)")
            return
        self.expect(f"gpl_only={self.p.gpl_only}", c,
                    (GPL_MSG in c) if self.p.gpl_only else c == "")

    def check_arg(self, i: int, a: hp.Arg) -> None:
        pr, name = self.probe, f"arg{i} {a.kernel_name}"
        t = a.type
        if a.is_pointer:
            want = f"R{i} type=scalar expected=" + ", ".join(hp.COMPATIBLE_REG_TYPES[t])
            c = pr.complaint(Call(args={i: f"r{i} = 1"}))
            self.expect(f"{name}: accepted register types", c,
                        any(ln.strip() == want for ln in c.splitlines()))
            nul = {i: f"r{i} = 0"}
            if i < self.p.nargs and self.p.args[i].is_size:
                nul[i + 1] = f"r{i + 1} = 0"
            c = pr.complaint(Call(args=nul))
            self.expect(f"{name}: NULL {'accepted' if a.may_be_null else 'refused'}", c,
                        c == "" if a.may_be_null else f"R{i} type=scalar expected=" in c)
        elif t is ArgType.ARG_ANYTHING:
            c = pr.complaint(Call(args={i: f"r{i} = r10"}))
            if "non-zero flags" in c:  # a check of this helper's own, after the types
                self.unchecked.append(f"{name}: a pointer accepted ({c.splitlines()[-1]!r})")
            else:
                self.expect(f"{name}: a pointer accepted", c, c == "")
        else:  # size arguments
            c = pr.complaint(Call(args={i: f"r{i} = r10"}))
            self.expect(f"{name}: scalar only", c, f"R{i} type=fp expected=scalar" in c)
            c = pr.complaint(Call(args={i: f"r{i} = 0"}))
            if t is ArgType.ARG_CONST_SIZE:
                self.expect(f"{name}: zero refused", c, f"R{i} invalid zero-sized read" in c)
            else:
                self.expect(f"{name}: zero accepted", c, c == "")
        if t in (ArgType.ARG_PTR_TO_MAP_KEY, ArgType.ARG_PTR_TO_MAP_VALUE,
                 ArgType.ARG_PTR_TO_MEM):
            self.check_mem_arg(i, a, name)

    def check_mem_arg(self, i: int, a: hp.Arg, name: str) -> None:
        pr, p = self.probe, self.p
        # where the access size comes from
        short = {i: f"r{i} = r10\nr{i} += -8"}
        if a.type is ArgType.ARG_PTR_TO_MAP_KEY:
            size = KEY_SIZE
        elif a.type is ArgType.ARG_PTR_TO_MAP_VALUE:
            size = VALUE_SIZE
        elif a.flags & TypeFlag.MEM_FIXED_SIZE:
            size = a.size if a.size > 8 else 0  # small ones: in the read-only map message
        else:
            size = 16
            short[i + 1] = f"r{i + 1} = {size}"
        if size:
            c = pr.complaint(Call(args=short))
            if "Unsupported reg type" in c:
                self.unchecked.append(f"{name}: access size ({c.splitlines()[-1]!r})")
                size = 0
        if size:
            self.expect(f"{name}: access size {size}", c,
                        f"R{i}" in c and f"size={size}" in c)
        # MEM_WRITE: a read-only map value
        c = pr.complaint(Call(args={i: f"r{i} = map_value({pr.env.fd('ro')}, 0)"}))
        if a.writes:
            ok = "write into map forbidden" in c and (
                not a.size or f"size={a.size}" in c)
            self.expect(f"{name}: writes (MEM_WRITE)", c, ok)
        else:
            self.expect(f"{name}: reads only", c, c == "")
        # pkt_access
        if pr.pt in (ProgType.SCHED_CLS, ProgType.XDP):
            c = pr.complaint(Call(args={i: f"r{i} = r8"}, need_pkt=True))
            msg = "helper access to the packet is not allowed"
            if p.pkt_access and "Unsupported reg type" in c:
                self.unchecked.append(f"pkt_access (arg{i}: {c.splitlines()[-1]!r})")
                return
            self.expect(f"pkt_access={p.pkt_access} (arg{i})", c,
                        c == "" if p.pkt_access else msg in c)
        else:
            self.unchecked.append(f"pkt_access (arg{i}: no packet in {pr.pt.name})")
        # MEM_RDONLY: read-only memory (a dynptr slice)
        c = pr.complaint(Call(args={i: f"r{i} = r9"}, need_rdonly=True))
        if "kernel function" in c or "kfunc" in c:
            self.unchecked.append(f"{name}: MEM_RDONLY (no dynptr slice in {pr.pt.name}: "
                                  f"{c.splitlines()[-1]!r})")
        elif a.flags & TypeFlag.MEM_RDONLY:
            self.expect(f"{name}: read-only memory accepted (MEM_RDONLY)", c, c == "")
        else:
            self.expect(f"{name}: read-only memory refused", c,
                        f"R{i} type=rdonly_mem expected=" in c)

    def check_ret(self) -> None:
        pr, p = self.probe, self.p
        ok, log = pr.load(Call(deref_r0=True))
        if ok:  # a non-NULL pointer: the state after the call is in the full log
            ok, log = pr.load(Call(deref_r0=True), log_level=2)
        after = state_after_call(log, p.name)
        r0 = re.search(r"\bR0(?:_w)?=([\w]+)", after)
        want = p.ret.reg_type + p.ret.btf_id
        if p.ret.type is RetType.RET_VOID:
            self.expect("ret void", log, r0 is None and "R0 !read_ok" in log)
            return
        self.expect(f"ret {p.ret.kernel_name} -> R0={want}", after,
                    r0 is not None and r0[1] == want)
        if p.ret.may_be_null or p.ret.type is RetType.RET_INTEGER:
            self.expect("ret refused as a pointer", complaint(log),
                        not ok and f"R0 invalid mem access '{p.ret.reg_type}'" in log)
        if p.ret.type is not RetType.RET_INTEGER:
            c = pr.complaint(Call(release=False))
            self.expect(f"acquire={p.acquire}", c,
                        ("Unreleased reference" in c) if p.acquire else c == "")


@pytest.mark.kernel
@pytest.mark.parametrize("name,prog_type", CASES,
                         ids=[f"{n}-{pt.name.lower() if pt else 'none'}" for n, pt in CASES])
def test_proto_against_verifier(env: Env, name: str, prog_type: ProgType | None,
                                record_property) -> None:
    if prog_type is None:
        pytest.skip(f"bpf_{name}: no program type in pybpf's helper sets may call it")
    p = hp.proto_for(name, prog_type)
    probe = Probe(env, p, prog_type)
    try:
        probe.source(Call())
    except Unsupported as e:
        pytest.skip(f"bpf_{name} ({p.kernel_proto}): {e}")
    ch = Checker(probe)
    ch.run()
    record_property("checked", len(ch.checked))
    record_property("unchecked", "; ".join(ch.unchecked))
    assert not ch.failures, f"{p.kernel_proto} in {prog_type.name}:\n" + \
        "\n".join(ch.failures)


def _mutants(p: HelperProto) -> list[tuple[str, HelperProto]]:
    """Wrong versions of a proto: each must fail at least one check."""
    from dataclasses import replace
    out = [("gpl_only flipped", replace(p, gpl_only=not p.gpl_only)),
           ("might_sleep flipped", replace(p, might_sleep=not p.might_sleep))]
    if p.ret.type is RetType.RET_INTEGER:
        out.append(("ret map value", replace(p, ret=hp.MAP_VALUE_OR_NULL)))
    else:
        out.append(("ret integer", replace(p, ret=hp.INT)))
    for i, a in enumerate(p.args):
        def with_arg(b: hp.Arg, i: int = i) -> HelperProto:
            return replace(p, args=p.args[:i] + (b,) + p.args[i + 1:])
        if a.type is ArgType.ARG_CONST_SIZE:
            out.append((f"arg{i + 1} or zero",
                        with_arg(replace(a, type=ArgType.ARG_CONST_SIZE_OR_ZERO))))
        elif a.type is ArgType.ARG_ANYTHING:
            out.append((f"arg{i + 1} size", with_arg(replace(a, type=ArgType.ARG_CONST_SIZE))))
        elif a.type in (ArgType.ARG_PTR_TO_MEM, ArgType.ARG_PTR_TO_MAP_KEY,
                        ArgType.ARG_PTR_TO_MAP_VALUE):
            for f in (TypeFlag.MEM_WRITE, TypeFlag.MEM_RDONLY, TypeFlag.PTR_MAYBE_NULL):
                out.append((f"arg{i + 1} ^{f.name}", with_arg(replace(a, flags=a.flags ^ f))))
        elif a.releases:
            out.append((f"arg{i + 1} ^OBJ_RELEASE",
                        with_arg(replace(a, flags=a.flags ^ TypeFlag.OBJ_RELEASE))))
        elif a.is_pointer:
            out.append((f"arg{i + 1} ctx<->map", with_arg(replace(
                a, type=ArgType.ARG_CONST_MAP_PTR if a.type is ArgType.ARG_PTR_TO_CTX
                else ArgType.ARG_PTR_TO_CTX))))
    return out


@pytest.mark.kernel
@pytest.mark.parametrize("name,prog_type", [
    ("map_update_elem", ProgType.SCHED_CLS), ("skb_load_bytes", ProgType.SCHED_CLS),
    ("csum_diff", ProgType.XDP), ("ringbuf_reserve", ProgType.SCHED_CLS),
    ("sk_lookup_tcp", ProgType.SCHED_CLS), ("trace_vprintk", ProgType.KPROBE),
    ("strtol", ProgType.SCHED_CLS), ("tcp_sock", ProgType.SCHED_CLS),
    ("sk_release", ProgType.SCHED_CLS), ("ringbuf_submit_dynptr", ProgType.SCHED_CLS),
    ("copy_from_user", ProgType.KPROBE),
])
def test_checks_catch_wrong_protos(env: Env, name: str, prog_type: ProgType) -> None:
    """The checks above are not vacuous: every wrong variant of a proto fails one."""
    for what, wrong in _mutants(hp.proto_for(name, prog_type)):
        ch = Checker(Probe(env, wrong, prog_type))
        try:
            ch.run()
        except Unsupported:
            continue
        assert ch.failures, f"bpf_{name} with {what} passed every check"
