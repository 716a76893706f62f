"""Programs on which pybpf's verifier once disagreed with Linux 6.18 in the generated
campaign (`pybpf fuzz verify`), one per cause, with the kernel's first error line in
both capability modes: all four capabilities (`expect`) and CAP_BPF + CAP_NET_ADMIN
(`expect_unpriv`; SAME: as with all). `attach` is the expected attach type."""

from __future__ import annotations

from dataclasses import dataclass

from tests.verifier.table import MAP_MARK, Case

SAME = "<same>"
CGROUP_SOCK, SK_SKB, SK_MSG, FLOW_DISSECTOR, SK_LOOKUP = 9, 14, 16, 22, 30
SOCKET_FILTER, SCHED_CLS, XDP = 1, 3, 6
INET4_POST_BIND, FLOW_DISSECTOR_AT, SK_LOOKUP_AT = 12, 17, 36


def lookup(k: int) -> str:
    """bpf_map_lookup_elem(map k of table.MAPS, &0) into r0."""
    return (f"r1 = {MAP_MARK | k:#x} ll\nr2 = r10\nr2 += -4\n*(u32 *)(r10 -4) = 0\n"
            "call bpf_map_lookup_elem\n")


LOOKUP = lookup(0)
XSKMAP, SOCKMAP = 6, 7


@dataclass(frozen=True)
class ACase(Case):
    attach: int = 0
    expect_unpriv: str | None = SAME

    def expected(self, unpriv: bool) -> str | None:
        return self.expect if not unpriv or self.expect_unpriv == SAME else self.expect_unpriv


AGREEMENT_CASES: tuple[ACase, ...] = (
    # --- cgroup/sock: struct bpf_sock by attach type (0 = inet sock create) ---------------
    ACase("csock_read_family", CGROUP_SOCK, "r2 = *(u32 *)(r1 +4)\nr0 = 1\nexit"),
    ACase("csock_write_mark", CGROUP_SOCK, "r2 = 5\n*(u32 *)(r1 +16) = r2\nr0 = 1\nexit"),
    ACase("csock_write_family", CGROUP_SOCK, "r2 = 5\n*(u32 *)(r1 +4) = r2\nr0 = 1\nexit",
          "invalid bpf_context access off=4 size=4"),
    ACase("csock_src_ip4_create", CGROUP_SOCK, "r2 = *(u32 *)(r1 +24)\nr0 = 1\nexit",
          "invalid bpf_context access off=24 size=4"),
    ACase("csock_src_ip4_bind4", CGROUP_SOCK, "r2 = *(u32 *)(r1 +24)\nr0 = 1\nexit",
          attach=INET4_POST_BIND),
    ACase("csock_mark_bind4", CGROUP_SOCK, "r2 = *(u32 *)(r1 +16)\nr0 = 1\nexit",
          "invalid bpf_context access off=16 size=4", attach=INET4_POST_BIND),
    ACase("csock_narrow_type", CGROUP_SOCK, "r2 = *(u16 *)(r1 +8)\nr0 = 1\nexit"),
    ACase("csock_narrow_family_odd", CGROUP_SOCK, "r2 = *(u8 *)(r1 +5)\nr0 = 1\nexit",
          "invalid bpf_context access off=5 size=1"),
    ACase("csock_dst_port_u32", CGROUP_SOCK, "r2 = *(u32 *)(r1 +48)\nr0 = 1\nexit"),
    ACase("sock_common_narrow_odd", SCHED_CLS,
          "r2 = *(u64 *)(r1 +168)\nif r2 == 0x0 goto +1\nr0 = *(u8 *)(r2 +5)\nr0 = 0\n"
          "exit", "R2 invalid sock_common access off=5 size=1"),
    ACase("csock_map_lookup", CGROUP_SOCK, LOOKUP + "r0 = 1\nexit"),
    ACase("csock_ret_range", CGROUP_SOCK, "r0 = 2\nexit",
          "At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]"),
    # --- sk_skb, sk_msg, sk_lookup, flow dissector ------------------------------------------
    ACase("skskb_pkt", SK_SKB,
          "r2 = *(u32 *)(r1 +76)\nr3 = *(u32 *)(r1 +80)\nr4 = r2\nr4 += 4\n"
          "if r4 > r3 goto +1\nr0 = *(u32 *)(r2 +0)\nr0 = 1\nexit"),
    ACase("skskb_write_mark", SK_SKB, "r2 = 1\n*(u32 *)(r1 +8) = r2\nr0 = 1\nexit",
          "invalid bpf_context access off=8 size=4"),
    ACase("skskb_write_priority", SK_SKB, "r2 = 1\n*(u32 *)(r1 +32) = r2\nr0 = 1\nexit"),
    ACase("skmsg_sk", SK_MSG, "r2 = *(u64 *)(r1 +72)\nr0 = *(u32 *)(r2 +4)\nr0 = 1\nexit"),
    ACase("skmsg_write", SK_MSG, "r2 = 1\n*(u32 *)(r1 +68) = r2\nr0 = 1\nexit",
          "invalid bpf_context access off=68 size=4"),
    ACase("sklookup_sk_null", SK_LOOKUP,
          "r2 = *(u64 *)(r1 +0)\nr0 = *(u32 *)(r2 +4)\nr0 = 1\nexit",
          "R2 invalid mem access 'sock_or_null'", attach=SK_LOOKUP_AT),
    ACase("sklookup_port", SK_LOOKUP, "r2 = *(u32 *)(r1 +36)\nr2 = *(u16 *)(r1 +38)\n"
          "r0 = 1\nexit", attach=SK_LOOKUP_AT),
    ACase("flow_keys", FLOW_DISSECTOR,
          "r2 = *(u64 *)(r1 +144)\nr3 = *(u16 *)(r2 +0)\nr3 = *(u32 *)(r2 +52)\n"
          "r0 = 0\nexit", attach=FLOW_DISSECTOR_AT),
    ACase("flow_keys_oob", FLOW_DISSECTOR,
          "r2 = *(u64 *)(r1 +144)\nr3 = *(u32 *)(r2 +54)\nr0 = 0\nexit",
          "invalid access to flow keys off=54 size=4", attach=FLOW_DISSECTOR_AT),
    # --- map values that become other pointers once checked against NULL -------------------
    ACase("xsk_value_write", XDP,
          lookup(XSKMAP) + "if r0 == 0x0 goto +2\nr1 = 0\n*(u32 *)(r0 +0) = r1\n"
          "r0 = 2\nexit", "R0 cannot write into xdp_sock"),
    ACase("xsk_value_queue_id", XDP,
          lookup(XSKMAP) + "if r0 == 0x0 goto +1\nr1 = *(u32 *)(r0 +0)\nr0 = 2\nexit"),
    ACase("xsk_value_past_queue_id", XDP,
          lookup(XSKMAP) + "if r0 == 0x0 goto +1\nr1 = *(u32 *)(r0 +4)\nr0 = 2\nexit",
          "R0 invalid xdp_sock access off=4 size=4"),
    ACase("sockmap_assign", SK_LOOKUP,
          "r6 = r1\n" + lookup(SOCKMAP) + "if r0 == 0x0 goto +7\nr7 = r0\nr1 = r6\n"
          "r2 = r7\nr3 = 0\ncall bpf_sk_assign\nr1 = r7\ncall bpf_sk_release\nr0 = 1\n"
          "exit", attach=SK_LOOKUP_AT),
    ACase("sockmap_assign_unchecked", SK_LOOKUP,
          "r6 = r1\n" + lookup(SOCKMAP) + "r7 = r0\nr1 = r6\nr2 = r7\nr3 = 0\n"
          "call bpf_sk_assign\nr0 = 1\nexit", "R2 type=map_value_or_null expected=sock",
          attach=SK_LOOKUP_AT),
    ACase("sockmap_leak", SK_LOOKUP,
          lookup(SOCKMAP) + "if r0 == 0x0 goto +0\nr0 = 1\nexit",
          "Unreleased reference id=2 alloc_insn=5", attach=SK_LOOKUP_AT),
    # --- checkpoints: a new state only after 2 jumps and 8 instructions ---------------------
    ACase("loop_checkpoint_pc", SOCKET_FILTER,
          "r1 = 0\nr0 = 0\nr0 += r1\ngoto +0\nif r1 != 0x10 goto -3\nr0 = 1\nexit",
          "infinite loop detected at insn 4"),
    # --- helpers ------------------------------------------------------------------------------
    ACase("helper_unspec", SOCKET_FILTER, "call 0\nr0 = 0\nexit",
          "program of this type cannot use helper bpf_unspec#0"),
    ACase("helper_perfmon_printk", SCHED_CLS,
          "r1 = r10\nr1 += -8\n*(u64 *)(r10 -8) = 0\nr2 = 8\ncall bpf_trace_printk\n"
          "r0 = 0\nexit", None,
          expect_unpriv="program of this type cannot use helper bpf_trace_printk#6"),
    ACase("helper_perfmon_comm", SOCKET_FILTER,
          "r1 = r10\nr1 += -16\nr2 = 16\ncall bpf_get_current_comm\nr0 = 0\nexit", None,
          expect_unpriv="program of this type cannot use helper bpf_get_current_comm#16"),
)
