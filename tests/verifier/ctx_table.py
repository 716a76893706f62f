"""Context accesses of the program types only the kernel runs (sk_skb, sk_msg, flow
dissector, sk_lookup, netfilter), each case with the kernel's first error line (None:
accepted) with all capabilities and, where different, with only CAP_BPF +
CAP_NET_ADMIN (`expect_bpf`). Recorded from Linux 6.18; test_ctx_types compares pybpf
with the table, and with the running kernel."""

from __future__ import annotations

from dataclasses import dataclass

from tests.verifier.table import Case

SK_SKB, SK_MSG, FLOW_DISSECTOR, SK_LOOKUP, NETFILTER = 14, 16, 22, 30, 32
ATTACH = {SK_LOOKUP: 36, NETFILTER: 45}  # BPF_SK_LOOKUP, BPF_NETFILTER
SAME = "same"


@dataclass(frozen=True)
class CtxCase:
    name: str
    prog_type: int
    asm: str
    expect: str | None = None  # the kernel's first error line (all capabilities)
    expect_bpf: str | None = SAME  # with only bpf,net_admin (SAME: as `expect`)
    license: str = "GPL"

    insns = Case.insns
    map_indexes = Case.map_indexes

    @property
    def expected_attach_type(self) -> int:
        return ATTACH.get(self.prog_type, 0)

    def expected(self, mode: str) -> str | None:
        if mode == "all" or self.expect_bpf == SAME:
            return self.expect
        return self.expect_bpf


def bad(off: int, size: int) -> str:
    return f"invalid bpf_context access off={off} size={size}"


R0 = "r0 = 0\nexit"
R1 = "r0 = 1\nexit"
SKB_PKT = ("r2 = *(u32 *)(r1 +76)\nr3 = *(u32 *)(r1 +80)\nr4 = r2\nr4 += 8\n"
           "if r4 > r3 goto +{n}\n")
MSG_PKT = ("r2 = *(u64 *)(r1 +0)\nr3 = *(u64 *)(r1 +8)\nr4 = r2\nr4 += 8\n"
           "if r4 > r3 goto +{n}\n")
KEYS = "r2 = *(u64 *)(r1 +144)\n"
STATE = "r2 = *(u64 *)(r1 +0)\n"
NF_PERM = "'struct nf_hook_state' access is allowed only to CAP_PERFMON and CAP_SYS_ADMIN"
SKL_SK = "r2 = *(u64 *)(r1 +0)\n"

CTX_CASES: tuple[CtxCase, ...] = (
    # --- sk_skb: struct __sk_buff, sk_skb_is_valid_access -------------------------------
    CtxCase("skskb_len", SK_SKB, "r0 = *(u32 *)(r1 +0)\nexit"),
    CtxCase("skskb_len_narrow", SK_SKB, "r0 = *(u8 *)(r1 +1)\nexit"),
    CtxCase("skskb_len_u64", SK_SKB, "r0 = *(u64 *)(r1 +0)\nexit", bad(0, 8)),
    CtxCase("skskb_mark", SK_SKB, "r0 = *(u32 *)(r1 +8)\nexit", bad(8, 4)),
    CtxCase("skskb_tc_classid", SK_SKB, "r0 = *(u32 *)(r1 +72)\nexit", bad(72, 4)),
    CtxCase("skskb_data_meta", SK_SKB, "r0 = *(u32 *)(r1 +140)\nexit", bad(140, 4)),
    CtxCase("skskb_flow_keys", SK_SKB, "r0 = *(u64 *)(r1 +144)\nexit", bad(144, 8)),
    CtxCase("skskb_tstamp", SK_SKB, "r0 = *(u64 *)(r1 +152)\nexit", bad(152, 8)),
    CtxCase("skskb_remote_ip4", SK_SKB, "r0 = *(u32 *)(r1 +92)\nexit"),
    CtxCase("skskb_remote_ip4_u16", SK_SKB, "r0 = *(u16 *)(r1 +92)\nexit", bad(92, 2)),
    CtxCase("skskb_local_port", SK_SKB, "r0 = *(u16 *)(r1 +136)\nexit"),
    CtxCase("skskb_tc_index_write", SK_SKB, "r2 = 1\n*(u32 *)(r1 +44) = r2\n" + R0),
    CtxCase("skskb_priority_write", SK_SKB, "*(u32 *)(r1 +32) = 7\n" + R0),
    CtxCase("skskb_priority_write_u16", SK_SKB, "r2 = 1\n*(u16 *)(r1 +32) = r2\n" + R0,
            bad(32, 2)),
    CtxCase("skskb_mark_write", SK_SKB, "r2 = 1\n*(u32 *)(r1 +8) = r2\n" + R0, bad(8, 4)),
    CtxCase("skskb_len_write", SK_SKB, "r2 = 1\n*(u32 *)(r1 +0) = r2\n" + R0, bad(0, 4)),
    CtxCase("skskb_cb_write", SK_SKB, "r2 = 1\n*(u32 *)(r1 +48) = r2\n" + R0, bad(48, 4)),
    CtxCase("skskb_cb_read", SK_SKB, "r0 = *(u32 *)(r1 +48)\nexit"),
    CtxCase("skskb_pkt", SK_SKB, SKB_PKT.format(n=1) + "r0 = *(u8 *)(r2 +7)\n" + R0),
    CtxCase("skskb_pkt_write", SK_SKB, SKB_PKT.format(n=1) + "*(u8 *)(r2 +0) = 1\n" + R0),
    CtxCase("skskb_pkt_past_check", SK_SKB, SKB_PKT.format(n=1) + "r0 = *(u8 *)(r2 +8)\n"
            + R0, "invalid access to packet, off=8 size=1, R2(id=0,off=8,r=8)"),
    CtxCase("skskb_pkt_unchecked", SK_SKB, "r2 = *(u32 *)(r1 +76)\nr0 = *(u8 *)(r2 +0)\n"
            + R0, "invalid access to packet, off=0 size=1, R2(id=0,off=0,r=0)"),
    CtxCase("skskb_data_u16", SK_SKB, "r2 = *(u16 *)(r1 +76)\n" + R0, bad(76, 2)),
    CtxCase("skskb_sk", SK_SKB, "r2 = *(u64 *)(r1 +168)\nif r2 == 0 goto +1\n"
            "r0 = *(u32 *)(r2 +4)\n" + R0),
    CtxCase("skskb_sk_unchecked", SK_SKB, "r2 = *(u64 *)(r1 +168)\nr0 = *(u32 *)(r2 +4)\n"
            + R0, "R2 invalid mem access 'sock_common_or_null'"),
    CtxCase("skskb_ret_any", SK_SKB, "r0 = 7\nexit"),
    CtxCase("skskb_redirect_map", SK_SKB, "r2 = 0xfeed0008 ll\nr3 = 0\nr4 = 0\n"
            "call bpf_sk_redirect_map\nexit"),
    CtxCase("skskb_redirect_array", SK_SKB, "r2 = 0xfeed0001 ll\nr3 = 0\nr4 = 0\n"
            "call bpf_sk_redirect_map\nexit",
            "cannot pass map_type 2 into func bpf_sk_redirect_map#52"),
    CtxCase("skskb_pull_data", SK_SKB, "r2 = 0\ncall bpf_skb_pull_data\n" + R0),
    CtxCase("skskb_msg_helper", SK_SKB, "r2 = 0\ncall bpf_msg_apply_bytes\n" + R0,
            "program of this type cannot use helper bpf_msg_apply_bytes#61"),
    # --- sk_msg: struct sk_msg_md, sk_msg_is_valid_access --------------------------------
    CtxCase("skmsg_size", SK_MSG, "r0 = *(u32 *)(r1 +68)\n" + R1),
    CtxCase("skmsg_size_u16", SK_MSG, "r0 = *(u16 *)(r1 +68)\n" + R1, bad(68, 2)),
    CtxCase("skmsg_family", SK_MSG, "r0 = *(u32 *)(r1 +16)\n" + R1),
    CtxCase("skmsg_local_ip6", SK_MSG, "r0 = *(u32 *)(r1 +56)\n" + R1),
    CtxCase("skmsg_data_u32", SK_MSG, "r0 = *(u32 *)(r1 +0)\n" + R1, bad(0, 4)),
    CtxCase("skmsg_sk_hi", SK_MSG, "r0 = *(u32 *)(r1 +76)\n" + R1, bad(76, 4)),
    CtxCase("skmsg_past_end", SK_MSG, "r0 = *(u32 *)(r1 +80)\n" + R1, bad(80, 4)),
    CtxCase("skmsg_write", SK_MSG, "r2 = 1\n*(u32 *)(r1 +68) = r2\n" + R1, bad(68, 4)),
    CtxCase("skmsg_pkt", SK_MSG, MSG_PKT.format(n=1) + "r0 = *(u32 *)(r2 +4)\n" + R1),
    CtxCase("skmsg_pkt_write", SK_MSG, MSG_PKT.format(n=1) + "*(u32 *)(r2 +0) = 1\n" + R1),
    CtxCase("skmsg_pkt_unchecked", SK_MSG, "r2 = *(u64 *)(r1 +0)\nr0 = *(u8 *)(r2 +0)\n"
            + R1, "invalid access to packet, off=0 size=1, R2(id=0,off=0,r=0)"),
    CtxCase("skmsg_sk", SK_MSG, "r2 = *(u64 *)(r1 +72)\nr0 = *(u32 *)(r2 +4)\n" + R1),
    CtxCase("skmsg_sk_u32", SK_MSG, "r2 = *(u32 *)(r1 +72)\n" + R1, bad(72, 4)),
    CtxCase("skmsg_ret_any", SK_MSG, "r0 = 7\nexit"),
    CtxCase("skmsg_redirect_hash", SK_MSG, "r2 = 0xfeed0009 ll\nr3 = r10\nr3 += -4\n"
            "*(u32 *)(r10 -4) = 0\nr4 = 0\ncall bpf_msg_redirect_hash\nexit"),
    CtxCase("skmsg_redirect_map_hash", SK_MSG, "r2 = 0xfeed0009 ll\nr3 = 0\nr4 = 0\n"
            "call bpf_msg_redirect_map\nexit",
            "cannot pass map_type 18 into func bpf_msg_redirect_map#60"),
    CtxCase("skmsg_apply_bytes", SK_MSG, "r2 = 1\ncall bpf_msg_apply_bytes\n" + R1),
    # --- flow dissector: flow_dissector_is_valid_access, PTR_TO_FLOW_KEYS ----------------
    CtxCase("fd_keys", FLOW_DISSECTOR, KEYS + "r3 = *(u16 *)(r2 +0)\n*(u16 *)(r2 +2) = r3\n"
            + R0),
    CtxCase("fd_keys_last", FLOW_DISSECTOR, KEYS + "r0 = *(u32 *)(r2 +52)\n" + R0),
    CtxCase("fd_keys_oob", FLOW_DISSECTOR, KEYS + "r0 = *(u32 *)(r2 +56)\n" + R0,
            "invalid access to flow keys off=56 size=4"),
    CtxCase("fd_keys_moved", FLOW_DISSECTOR, KEYS + "r2 += 8\nr0 = *(u64 *)(r2 +48)\n" + R0,
            "invalid access to flow keys off=56 size=8"),
    CtxCase("fd_keys_neg", FLOW_DISSECTOR, KEYS + "r0 = *(u8 *)(r2 -1)\n" + R0,
            "invalid access to flow keys off=-1 size=1"),
    CtxCase("fd_keys_var", FLOW_DISSECTOR, KEYS + "r6 = r2\ncall bpf_get_prandom_u32\n"
            "r0 &= 7\nr6 += r0\n" + R0, "R6 pointer arithmetic on flow_keys prohibited"),
    CtxCase("fd_keys_leak", FLOW_DISSECTOR, KEYS + "*(u64 *)(r2 +0) = r1\n" + R0, None,
            "R1 leaks addr into flow keys"),
    CtxCase("fd_keys_atomic", FLOW_DISSECTOR, KEYS + "r3 = 1\nlock *(u32 *)(r2 +0) += r3\n"
            + R0, "BPF_ATOMIC stores into R2 flow_keys is not allowed"),
    CtxCase("fd_keys_u32", FLOW_DISSECTOR, "r2 = *(u32 *)(r1 +144)\n" + R0, bad(144, 4)),
    CtxCase("fd_keys_unaligned", FLOW_DISSECTOR, "r2 = *(u64 *)(r1 +148)\n"
            "r0 = *(u32 *)(r2 +0)\n" + R0, bad(148, 8)),
    CtxCase("fd_len", FLOW_DISSECTOR, "r0 = *(u32 *)(r1 +0)\n" + R0, bad(0, 4)),
    CtxCase("fd_cb", FLOW_DISSECTOR, "r0 = *(u32 *)(r1 +48)\n" + R0, bad(48, 4)),
    CtxCase("fd_data_write", FLOW_DISSECTOR, "*(u32 *)(r1 +76) = 0\n" + R0, bad(76, 4)),
    CtxCase("fd_data_u64", FLOW_DISSECTOR, "r0 = *(u64 *)(r1 +76)\n" + R0, bad(76, 8)),
    CtxCase("fd_data_unaligned", FLOW_DISSECTOR, "r2 = *(u32 *)(r1 +78)\n" + R0,
            bad(78, 4)),
    CtxCase("fd_pkt", FLOW_DISSECTOR, SKB_PKT.format(n=1) + "r0 = *(u8 *)(r2 +0)\n" + R0),
    CtxCase("fd_pkt_write", FLOW_DISSECTOR, SKB_PKT.format(n=1) + "*(u8 *)(r2 +0) = 1\n"
            + R0, "cannot write into packet"),
    CtxCase("fd_ret_any", FLOW_DISSECTOR, "r0 = 7\nexit"),
    CtxCase("fd_perf_output", FLOW_DISSECTOR, "r2 = 0\nr3 = 0\nr4 = 0\nr5 = 0\n"
            "call bpf_perf_event_output\n" + R0,
            "program of this type cannot use helper bpf_perf_event_output#25"),
    # --- sk_lookup: struct bpf_sk_lookup, sk_lookup_is_valid_access ----------------------
    CtxCase("skl_ret", SK_LOOKUP, R1),
    CtxCase("skl_ret2", SK_LOOKUP, "r0 = 2\nexit",
            "At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]"),
    CtxCase("skl_family_narrow", SK_LOOKUP, "r2 = *(u8 *)(r1 +8)\n" + R1),
    CtxCase("skl_family_u64", SK_LOOKUP, "r2 = *(u64 *)(r1 +8)\n" + R1, bad(8, 8)),
    CtxCase("skl_protocol_odd", SK_LOOKUP, "r2 = *(u16 *)(r1 +13)\n" + R1, bad(13, 2)),
    CtxCase("skl_remote_port_u32", SK_LOOKUP, "r2 = *(u32 *)(r1 +36)\n" + R1),
    CtxCase("skl_remote_port_u16", SK_LOOKUP, "r2 = *(u16 *)(r1 +36)\n" + R1),
    CtxCase("skl_port_pad", SK_LOOKUP, "r2 = *(u16 *)(r1 +38)\n" + R1),
    CtxCase("skl_port_pad_u32", SK_LOOKUP, "r2 = *(u32 *)(r1 +38)\n" + R1, bad(38, 4)),
    CtxCase("skl_ifindex", SK_LOOKUP, "r2 = *(u32 *)(r1 +64)\n" + R1),
    CtxCase("skl_past_end", SK_LOOKUP, "r2 = *(u32 *)(r1 +68)\n" + R1, bad(68, 4)),
    CtxCase("skl_cookie_u32", SK_LOOKUP, "r2 = *(u32 *)(r1 +0)\n" + R1, bad(0, 4)),
    CtxCase("skl_write", SK_LOOKUP, "r2 = 1\n*(u32 *)(r1 +8) = r2\n" + R1, bad(8, 4)),
    CtxCase("skl_sk_unchecked", SK_LOOKUP, SKL_SK + "r0 = *(u32 *)(r2 +4)\n" + R1,
            "R2 invalid mem access 'sock_or_null'"),
    CtxCase("skl_sk_checked", SK_LOOKUP, SKL_SK + "if r2 == 0 goto +1\n"
            "r0 = *(u32 *)(r2 +4)\n" + R1),
    CtxCase("skl_assign_null", SK_LOOKUP, "r2 = 0\nr3 = 0\ncall bpf_sk_assign\n" + R1),
    CtxCase("skl_lookup_leak", SK_LOOKUP, "r1 = 0xfeed0008 ll\nr2 = r10\nr2 += -4\n"
            "*(u32 *)(r10 -4) = 0\ncall bpf_map_lookup_elem\n" + R1,
            "Unreleased reference id=2 alloc_insn=5"),
    CtxCase("skl_lookup_release", SK_LOOKUP, "r1 = 0xfeed0008 ll\nr2 = r10\nr2 += -4\n"
            "*(u32 *)(r10 -4) = 0\ncall bpf_map_lookup_elem\nif r0 == 0 goto +2\n"
            "r1 = r0\ncall bpf_sk_release\n" + R1),
    # --- netfilter: struct bpf_nf_ctx, nf_is_valid_access, PTR_TO_BTF_ID ----------------
    CtxCase("nf_ret", NETFILTER, R1),
    CtxCase("nf_ret2", NETFILTER, "r0 = 2\nexit",
            "At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]"),
    CtxCase("nf_state_hook", NETFILTER, STATE + "r0 = *(u8 *)(r2 +0)\n" + R1, None,
            NF_PERM),
    CtxCase("nf_state_u32", NETFILTER, "r2 = *(u32 *)(r1 +0)\n" + R1, bad(0, 4)),
    CtxCase("nf_ctx_past_end", NETFILTER, "r2 = *(u64 *)(r1 +16)\n" + R1, bad(16, 8)),
    CtxCase("nf_ctx_write", NETFILTER, "r2 = 0\n*(u64 *)(r1 +0) = r2\n" + R1, bad(0, 8)),
    CtxCase("nf_ctx_unaligned", NETFILTER, "r2 = *(u64 *)(r1 +4)\n" + R1, bad(4, 8)),
    # skb starts with a union of list pointers: a byte of it is a partial pointer
    CtxCase("nf_skb", NETFILTER, "r2 = *(u64 *)(r1 +8)\nr0 = *(u8 *)(r2 +0)\n" + R1,
            "cannot access ptr member next with moff 0 in struct (anon) with off 0 size 1",
            "'struct sk_buff' access is allowed only to CAP_PERFMON and CAP_SYS_ADMIN"),
    CtxCase("nf_state_pf", NETFILTER, STATE + "r0 = *(u8 *)(r2 +1)\n" + R1, None, NF_PERM),
    CtxCase("nf_state_pf_u16", NETFILTER, STATE + "r0 = *(u16 *)(r2 +1)\n" + R1,
            "access beyond the end of member pf (mend:2) in struct nf_hook_state with off 1 "
            "size 2", NF_PERM),
    CtxCase("nf_state_write", NETFILTER, STATE + "*(u8 *)(r2 +0) = 1\n" + R1,
            "only read is supported", NF_PERM),
    CtxCase("nf_state_neg", NETFILTER, STATE + "r0 = *(u8 *)(r2 -1)\n" + R1,
            "R2 is ptr_nf_hook_state invalid negative access: off=-1", NF_PERM),
    CtxCase("nf_state_var", NETFILTER, STATE + "r6 = r2\ncall bpf_get_prandom_u32\n"
            "r0 &= 4\nr6 += r0\nr0 = *(u8 *)(r6 +0)\n" + R1,
            "R6 is ptr_nf_hook_state invalid variable offset: off=0, var_off=(0x0; 0x4)",
            "R6 has pointer with unsupported alu operation, pointer arithmetic with it "
            "prohibited for !root"),
    CtxCase("nf_state_partial_ptr", NETFILTER, STATE + "r0 = *(u32 *)(r2 +8)\n" + R1,
            "cannot access ptr member in with moff 8 in struct nf_hook_state with off 8 "
            "size 4", NF_PERM),
    # state->in is a PTR_TO_BTF_ID of struct net_device, whose first member is an
    # anonymous zero-size cache-line group
    CtxCase("nf_state_in", NETFILTER, STATE + "r3 = *(u64 *)(r2 +8)\nr0 = *(u8 *)(r3 +0)\n"
            + R1, "struct (anon) doesn't have field at offset 0", NF_PERM),
    CtxCase("nf_state_beyond", NETFILTER, STATE + "r0 = *(u64 *)(r2 +4096)\n" + R1,
            "access beyond struct nf_hook_state at off 4096 size 8", NF_PERM),
    CtxCase("nf_state_nongpl", NETFILTER, STATE + "r0 = *(u8 *)(r2 +0)\n" + R1,
            "Cannot access kernel 'struct nf_hook_state' from non-GPL compatible program",
            NF_PERM, license="MIT"),
)
