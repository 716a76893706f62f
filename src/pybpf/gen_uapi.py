"""Generate `pybpf.uapi` and `pybpf.uapi_structs` from the kernel's BTF.

Every kernel constant pybpf uses has one source: the enums (bpf_cmd, bpf_map_type, the
anonymous enums of include/uapi/linux/bpf.h ...) and the struct layouts (`union
bpf_attr`'s members, bpf_prog_info, perf_event_attr ...) are read from the running
kernel's BTF, so the numbers and offsets are the kernel's own. `#define` constants are
not in BTF: `DEFINES` records them with the header they come from (a test checks them
against /usr/include when the header is there). Run:

    python -m pybpf.gen_uapi --outdir src/pybpf          # reads /sys/kernel/btf/vmlinux

Both modules are written atomically (importing pybpf.kernel needs the old ones until the
new ones are complete). `--check` compares instead of writing.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .gen_uapi_structs import GenError, generate_structs

if TYPE_CHECKING:
    from .btf import Btf

# (C enum tag, Python class name, prefix stripped from member names)
NAMED_ENUMS: tuple[tuple[str, str, str], ...] = (
    ("bpf_cmd", "BpfCmd", "BPF_"),
    ("bpf_map_type", "MapType", "BPF_MAP_TYPE_"),
    ("bpf_prog_type", "ProgType", "BPF_PROG_TYPE_"),
    ("bpf_attach_type", "AttachType", "BPF_"),
    ("bpf_link_type", "LinkType", "BPF_LINK_TYPE_"),
    ("bpf_stats_type", "StatsType", "BPF_STATS_"),
)

# Anonymous enums made classes, found by one member they contain: (marker, Python
# class, prefix).
ANON_ENUMS: tuple[tuple[str, str, str], ...] = (
    ("BPF_NOEXIST", "UpdateFlag", "BPF_"),
    ("BPF_F_NO_PREALLOC", "MapFlag", "BPF_F_"),
    ("BTF_KIND_INT", "BtfKind", "BTF_KIND_"),
)

# Enums published as module constants only: (marker member or "enum <tag>", header).
CONST_ENUMS: tuple[tuple[str, str], ...] = (
    ("enum xdp_action", "linux/bpf.h"),
    ("BPF_F_INDEX_MASK", "linux/bpf.h"),           # perf_event_output flags
    ("BPF_F_SKIP_FIELD_MASK", "linux/bpf.h"),      # get_stackid / get_stack flags
    ("BPF_F_INGRESS", "linux/bpf.h"),              # redirect flags
    ("BPF_F_RECOMPUTE_CSUM", "linux/bpf.h"),       # skb_store_bytes flags
    ("BPF_F_HDR_FIELD_MASK", "linux/bpf.h"),       # l3/l4_csum_replace flags
    ("BPF_F_PSEUDO_HDR", "linux/bpf.h"),
    ("BPF_F_TUNINFO_IPV6", "linux/bpf.h"),         # skb_{get,set}_tunnel_key flags
    ("BPF_F_ZERO_CSUM_TX", "linux/bpf.h"),
    ("BPF_F_TUNINFO_FLAGS", "linux/bpf.h"),
    ("BPF_CSUM_LEVEL_QUERY", "linux/bpf.h"),
    ("BPF_F_ADJ_ROOM_FIXED_GSO", "linux/bpf.h"),   # skb_adjust_room flags
    ("BPF_ADJ_ROOM_ENCAP_L2_MASK", "linux/bpf.h"),
    ("enum bpf_adj_room_mode", "linux/bpf.h"),
    ("enum bpf_hdr_start_off", "linux/bpf.h"),
    ("BPF_SKB_CLOCK_REALTIME", "linux/bpf.h"),     # skb_set_tstamp
    ("BPF_LOCAL_STORAGE_GET_F_CREATE", "linux/bpf.h"),
    ("BPF_RB_NO_WAKEUP", "linux/bpf.h"),           # ring buffer
    ("BPF_RB_AVAIL_DATA", "linux/bpf.h"),
    ("BPF_RINGBUF_BUSY_BIT", "linux/bpf.h"),
    ("BPF_F_TIMER_ABS", "linux/bpf.h"),
    ("BPF_SK_LOOKUP_F_REPLACE", "linux/bpf.h"),
    ("BPF_FIB_LOOKUP_DIRECT", "linux/bpf.h"),      # fib_lookup
    ("BPF_FIB_LKUP_RET_SUCCESS", "linux/bpf.h"),
    ("BPF_F_NEIGH", "linux/bpf.h"),                # redirect_neigh / redirect_peer
    ("BPF_F_CURRENT_NETNS", "linux/bpf.h"),        # sk_lookup_* netns
    ("BPF_F_KPROBE_MULTI_RETURN", "linux/bpf.h"),
    ("BPF_F_UPROBE_MULTI_RETURN", "linux/bpf.h"),
    ("XDP_ATTACHED_NONE", "linux/if_link.h"),
    ("IFLA_IFNAME", "linux/if_link.h"),            # rtnetlink: links and their XDP
    ("IFLA_XDP_FD", "linux/if_link.h"),
    ("RTM_NEWLINK", "linux/rtnetlink.h"),
    ("TCA_KIND", "linux/rtnetlink.h"),
    ("TCA_BPF_FD", "linux/pkt_cls.h"),
    ("enum nlmsgerr_attrs", "linux/netlink.h"),
    ("enum perf_type_id", "linux/perf_event.h"),
    ("enum perf_sw_ids", "linux/perf_event.h"),
    ("enum perf_event_sample_format", "linux/perf_event.h"),
    ("enum perf_event_type", "linux/perf_event.h"),
    ("BPF_MAX_LOOPS", "include/linux/bpf.h (kernel-internal)"),  # bpf_loop, may_goto
)


@dataclass(frozen=True)
class Define:
    """A `#define` BTF cannot carry: its name, value, and the header it is from
    (`linux/x.h` is include/uapi/linux/x.h, checkable against /usr/include; a path
    under include/linux or kernel/ is kernel-internal)."""

    name: str
    value: int
    header: str


def _defines(header: str, **values: int) -> tuple[Define, ...]:
    return tuple(Define(n, v, header) for n, v in values.items())


DEFINES: tuple[Define, ...] = (
    *_defines("linux/bpf.h",
              BPF_OBJ_NAME_LEN=16, BPF_TAG_SIZE=8, XDP_PACKET_HEADROOM=256,
              # attach_flags of BPF_PROG_ATTACH, link and mprog flags
              BPF_F_ALLOW_OVERRIDE=1 << 0, BPF_F_ALLOW_MULTI=1 << 1, BPF_F_REPLACE=1 << 2,
              BPF_F_BEFORE=1 << 3, BPF_F_AFTER=1 << 4, BPF_F_ID=1 << 5,
              BPF_F_QUERY_EFFECTIVE=1 << 0,
              # prog_flags of BPF_PROG_LOAD
              BPF_F_STRICT_ALIGNMENT=1 << 0, BPF_F_ANY_ALIGNMENT=1 << 1,
              BPF_F_TEST_RND_HI32=1 << 2, BPF_F_TEST_STATE_FREQ=1 << 3,
              BPF_F_SLEEPABLE=1 << 4, BPF_F_XDP_HAS_FRAGS=1 << 5,
              BPF_F_XDP_DEV_BOUND_ONLY=1 << 6, BPF_F_TEST_REG_INVARIANTS=1 << 7,
              # flags of BPF_PROG_TEST_RUN
              BPF_F_TEST_RUN_ON_CPU=1 << 0, BPF_F_TEST_XDP_LIVE_FRAMES=1 << 1,
              BPF_F_TEST_SKB_CHECKSUM_COMPLETE=1 << 2,
              # src_reg of ld_imm64 and call
              BPF_PSEUDO_MAP_FD=1, BPF_PSEUDO_MAP_IDX=5, BPF_PSEUDO_MAP_VALUE=2,
              BPF_PSEUDO_MAP_IDX_VALUE=6, BPF_PSEUDO_BTF_ID=3, BPF_PSEUDO_FUNC=4,
              BPF_PSEUDO_CALL=1, BPF_PSEUDO_KFUNC_CALL=2),
    *_defines("linux/btf.h",
              BTF_MAGIC=0xEB9F, BTF_VERSION=1,
              BTF_INT_SIGNED=1 << 0, BTF_INT_CHAR=1 << 1, BTF_INT_BOOL=1 << 2),
    *_defines("linux/magic.h", BPF_FS_MAGIC=0xCAFE4A11),
    *_defines("linux/if_link.h",
              XDP_FLAGS_UPDATE_IF_NOEXIST=1 << 0, XDP_FLAGS_SKB_MODE=1 << 1,
              XDP_FLAGS_DRV_MODE=1 << 2, XDP_FLAGS_HW_MODE=1 << 3,
              XDP_FLAGS_REPLACE=1 << 4),
    *_defines("linux/netlink.h",
              NETLINK_ROUTE=0, NETLINK_CAP_ACK=10, NETLINK_EXT_ACK=11,
              NLM_F_REQUEST=0x1, NLM_F_MULTI=0x2, NLM_F_ACK=0x4, NLM_F_ROOT=0x100,
              NLM_F_MATCH=0x200, NLM_F_REPLACE=0x100, NLM_F_EXCL=0x200, NLM_F_CREATE=0x400,
              NLM_F_ACK_TLVS=0x200, NLMSG_ERROR=0x2, NLMSG_DONE=0x3, NLA_F_NESTED=1 << 15),
    *_defines("linux/pkt_sched.h",
              TC_H_ROOT=0xFFFFFFFF, TC_H_INGRESS=0xFFFFFFF1, TC_H_CLSACT=0xFFFFFFF1,
              TC_H_MIN_INGRESS=0xFFF2, TC_H_MIN_EGRESS=0xFFF3),
    *_defines("linux/if_ether.h", ETH_P_ALL=0x0003),
    *_defines("linux/sched.h", CLONE_NEWNET=0x40000000),
    *_defines("linux/pkt_cls.h",
              TCA_BPF_FLAG_ACT_DIRECT=1 << 0,
              TC_ACT_UNSPEC=-1, TC_ACT_OK=0, TC_ACT_RECLASSIFY=1, TC_ACT_SHOT=2,
              TC_ACT_PIPE=3, TC_ACT_STOLEN=4, TC_ACT_QUEUED=5, TC_ACT_REPEAT=6,
              TC_ACT_REDIRECT=7, TC_ACT_TRAP=8),
    *_defines("linux/perf_event.h",
              PERF_FLAG_FD_CLOEXEC=1 << 3, PERF_ATTR_SIZE_VER8=136),
    # log_level bits of BPF_PROG_LOAD / BPF_BTF_LOAD (documented in the UAPI's comments)
    *_defines("include/linux/bpf_verifier.h (kernel-internal)",
              BPF_LOG_LEVEL1=1, BPF_LOG_LEVEL2=2, BPF_LOG_STATS=4, BPF_LOG_FIXED=8),
)


def _order(members: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Drop sentinels (`__MAX_*`, `NR_*`, `*_KIND_MAX`); put `*_DEPRECATED` aliases after
    the current name so it is the canonical one (Enum keeps the first name for a value)."""
    kept = [(n, v) for n, v in members
            if not n.startswith(("__", "NR_")) and not n.endswith("_KIND_MAX")]
    return sorted(kept, key=lambda nv: nv[0].endswith("_DEPRECATED"))


def _short(name: str, prefix: str) -> str:
    """The member name inside its class: the UAPI name without the common prefix."""
    short = name[len(prefix):] if name.startswith(prefix) else name
    return "_" + short if short[0].isdigit() else short


def _class_source(cls_name: str, c_name: str, prefix: str,
                  members: list[tuple[str, int]], flag: bool) -> list[str]:
    base = "IntFlag" if flag else "IntEnum"
    lines = [f"class {cls_name}({base}):", f'    """{c_name} (Linux UAPI)."""', ""]
    for name, value in members:
        lines.append(f"    {_short(name, prefix)} = {value}")
    lines += ["", ""]
    return lines


def _const(name: str, value: int) -> str:
    """`NAME = value`, in hex when the value is a wide mask or magic number."""
    return f"{name} = {value:#x}" if value >= 0x8000 else f"{name} = {value}"


class EnumIndex:
    """The enums of a BTF: by tag, and anonymous ones by the members they hold."""

    def __init__(self, btf: Btf) -> None:
        from .btf import Enum, Enum64
        self.by_tag: dict[str, list[tuple[str, int]]] = {}
        self.by_member: dict[str, list[tuple[str, int]]] = {}
        for t in btf:
            if not isinstance(t, (Enum, Enum64)):
                continue
            members = [(v.name, v.value) for v in t.values]
            if t.name:
                self.by_tag.setdefault(t.name, members)
            for name, _ in members:
                self.by_member.setdefault(name, members)

    def named(self, tag: str) -> list[tuple[str, int]]:
        if tag not in self.by_tag:
            raise GenError(f"enum {tag} not found in the BTF")
        return self.by_tag[tag]

    def holding(self, member: str) -> list[tuple[str, int]]:
        if member not in self.by_member:
            raise GenError(f"no enum containing {member} in the BTF")
        return self.by_member[member]


def generate_uapi(btf: Btf, release: str) -> str:
    """The Python source of `pybpf.uapi` for `btf` (of Linux `release`)."""
    enums = EnumIndex(btf)
    out = [
        f'"""Generated by pybpf.gen_uapi from the BTF of Linux {release}. Do not edit."""',
        "",
        "from __future__ import annotations",
        "",
        "from enum import IntEnum, IntFlag",
        "",
        "",
    ]
    consts: list[tuple[str, str]] = []
    for c_name, cls_name, prefix in NAMED_ENUMS:
        members = _order(enums.named(c_name))
        out += _class_source(cls_name, f"enum {c_name}", prefix, members, flag=False)
        consts += [(n, f"{cls_name}.{_short(n, prefix)}") for n, _ in members]
    for marker, cls_name, prefix in ANON_ENUMS:
        members = _order(enums.holding(marker))
        flag = cls_name == "MapFlag"
        out += _class_source(cls_name, f"anonymous enum with {marker}", prefix, members, flag)
        consts += [(n, f"{cls_name}.{_short(n, prefix)}") for n, _ in members]
    out.append("# The UAPI spellings, as module constants.")
    for name, ref in consts:
        out.append(f"{name} = {ref}")
    seen = {name for name, _ in consts}
    out += ["", "# Enums published as constants (BTF)."]
    for marker, where in CONST_ENUMS:
        if marker.startswith("enum "):
            members = enums.named(marker[5:])
        else:
            members = enums.holding(marker)
        what = marker if marker.startswith("enum ") else "enum { " + marker + ", ... }"
        out.append(f"# {where}: {what}")
        for n, v in _order(members):
            if n in seen:
                raise GenError(f"{n} published twice")
            seen.add(n)
            out.append(_const(n, v))
    out += ["", "# #define constants (not in BTF; recorded in pybpf.gen_uapi.DEFINES)."]
    header: str | None = None
    for d in DEFINES:
        if d.name in seen:
            raise GenError(f"{d.name} published twice")
        seen.add(d.name)
        if d.header != header:
            header = d.header
            out.append(f"# {header}")
        out.append(_const(d.name, d.value))
    out.append("")
    return "\n".join(out)


def generate(btf: Btf, release: str | None = None) -> dict[str, str]:
    """{module file name: source} of both generated modules."""
    release = release or platform.release()
    return {"uapi.py": generate_uapi(btf, release),
            "uapi_structs.py": generate_structs(btf, release)}


def main(argv: list[str] | None = None) -> int:
    import argparse
    import os

    from .btf import BTFError, load_file
    from .btf.blob import VMLINUX_PATH

    ap = argparse.ArgumentParser(prog="python -m pybpf.gen_uapi",
                                 description="Generate pybpf.uapi and pybpf.uapi_structs.")
    ap.add_argument("--btf", default=VMLINUX_PATH, help="raw BTF to read (%(default)s)")
    ap.add_argument("--release", help="the kernel release it is from (default: running)")
    ap.add_argument("--outdir", help="write the modules here (atomically); else print")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if the modules in --outdir differ from a regeneration")
    args = ap.parse_args(argv)
    try:
        modules = generate(load_file(args.btf), args.release)
    except (BTFError, GenError) as e:
        print(f"pybpf.gen_uapi: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"pybpf.gen_uapi: cannot read {args.btf}: {e.strerror}", file=sys.stderr)
        return 2
    if not args.outdir:
        for text in modules.values():
            sys.stdout.write(text)
        return 0
    stale = []
    for name, text in modules.items():
        path = os.path.join(args.outdir, name)
        if args.check:
            try:
                with open(path, encoding="utf-8") as f:
                    if f.read() != text:
                        stale.append(path)
            except OSError:
                stale.append(path)
            continue
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    for path in stale:
        print(f"pybpf.gen_uapi: {path} differs from the BTF", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
