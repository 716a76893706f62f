"""Hand-written programs, each exercising one verifier rule, for the unit tests and the
differential test against the kernel. `expect` is the kernel's first error line (None:
accepted); a map lddw is written `rN = 0xfeed00KK ll` with KK the index in MAPS."""

from __future__ import annotations

from dataclasses import dataclass

from pybpf.asm import assemble_insns
from pybpf.isa import OPCODE_LDDW, Instruction
from pybpf.maps.spec import MapSpec

SOCKET_FILTER, KPROBE, SCHED_CLS, TRACEPOINT, XDP, CGROUP_SKB, CGROUP_SOCK = 1, 2, 3, 5, 6, 8, 9
MAP_MARK = 0xFEED0000
FUNC_MARK = 0xFEEF0000

MAPS: tuple[MapSpec, ...] = (
    MapSpec("hash", 4, 8, 16, name="h"),                       # 0
    MapSpec("array", 4, 8, 4, name="a"),                       # 1
    MapSpec("ringbuf", 0, 0, 4096, name="rb"),                 # 2
    MapSpec("prog_array", 4, 4, 4, name="pa"),                 # 3
    MapSpec("array", 4, 16, 1, flags=1 << 7, name="ro"),       # 4 (BPF_F_RDONLY_PROG)
    MapSpec("array", 4, 48, 1, name="one"),                    # 5
    MapSpec("xskmap", 4, 4, 4, name="xsk"),                    # 6
    MapSpec("sockmap", 4, 4, 4, name="sm"),                    # 7
    MapSpec("sockmap", 4, 8, 1, name="sm8"),                   # 8
    MapSpec("sockhash", 4, 8, 1, name="sh"),                   # 9
)


@dataclass(frozen=True)
class Case:
    name: str
    prog_type: int
    asm: str
    expect: str | None = None  # the kernel's first error line (all capabilities)
    license: str = "GPL"

    def insns(self, fds: "list[int] | None" = None) -> list[Instruction]:
        """The program, its map lddws given `fds[k]` (default: the index k)."""
        out = []
        for i in assemble_insns(self.asm):
            if i.opcode == OPCODE_LDDW and i.src == 0 and (i.imm64 & 0xFFFF0000) == MAP_MARK:
                k = i.imm64 & 0xFFFF
                out.append(Instruction(OPCODE_LDDW, i.dst, 1, 0, fds[k] if fds else k, 0))
            elif i.opcode == OPCODE_LDDW and (i.imm64 & 0xFFFF0000) == FUNC_MARK:
                out.append(Instruction(OPCODE_LDDW, i.dst, 4, 0, i.imm64 & 0xFFFF, 0))
            else:
                out.append(i)
        return out

    def map_indexes(self) -> set[int]:
        return {i.imm64 & 0xFFFF for i in assemble_insns(self.asm)
                if i.opcode == OPCODE_LDDW and (i.imm64 & 0xFFFF0000) == MAP_MARK}


def M(k: int) -> str:
    return f"{MAP_MARK | k:#x} ll"


XDP_PKT = "r2 = *(u32 *)(r1 +0)\nr3 = *(u32 *)(r1 +4)\n"
LOOKUP = (f"r1 = {M(0)}\nr2 = r10\nr2 += -4\n*(u32 *)(r10 -4) = 0\n"
          "call bpf_map_lookup_elem\n")
LOOKUP_A = (f"r1 = {M(1)}\nr2 = r10\nr2 += -4\n*(u32 *)(r10 -4) = 0\n"
            "call bpf_map_lookup_elem\n")

CASES: tuple[Case, ...] = (
    # --- registers --------------------------------------------------------------------
    Case("ret0", SOCKET_FILTER, "r0 = 0\nexit"),
    Case("r0_uninit", SOCKET_FILTER, "exit", "R0 !read_ok"),
    Case("r3_uninit", SOCKET_FILTER, "r0 = r3\nexit", "R3 !read_ok"),
    Case("fp_write", SOCKET_FILTER, "r10 = 0\nr0 = 0\nexit", "frame pointer is read only"),
    Case("fp_add", SOCKET_FILTER, "r10 += 8\nr0 = 0\nexit", "frame pointer is read only"),
    Case("caller_saved", SOCKET_FILTER, "r1 = 1\ncall bpf_get_prandom_u32\nr0 = r1\nexit",
         "R1 !read_ok"),
    Case("callee_saved", SOCKET_FILTER,
         "r6 = 1\ncall bpf_get_prandom_u32\nr0 = r6\nexit"),
    # --- ALU --------------------------------------------------------------------------
    Case("div_zero_imm", SOCKET_FILTER, "r0 = 1\nr0 /= 0\nexit", "div by zero"),
    Case("div_reg", SOCKET_FILTER, "r0 = 1\nr1 = 0\nr0 /= r1\nexit"),
    Case("shift_imm_big", SOCKET_FILTER, "r0 = 1\nr0 <<= 64\nexit", "invalid shift 64"),
    Case("shift32_imm_big", SOCKET_FILTER, "w0 = 1\nw0 <<= 32\nexit", "invalid shift 32"),
    Case("alu_all", SOCKET_FILTER,
         "r0 = 7\nr0 += 3\nr0 -= 1\nr0 *= 3\nr0 |= 8\nr0 &= 15\nr0 ^= 1\nr0 <<= 2\n"
         "r0 >>= 1\nr0 s>>= 1\nr0 = -r0\nw0 = w0\nr0 = be16 r0\nr0 = bswap32 r0\n"
         "r1 = (s8)r0\nr0 %= 5\nexit"),
    Case("ptr_add_ptr", SOCKET_FILTER, "r1 += r10\nr0 = 0\nexit",
         "R1 pointer += pointer prohibited"),
    Case("ptr_sub_ptr_priv", SOCKET_FILTER, "r1 -= r10\nr0 = 0\nexit"),
    Case("ptr32", SOCKET_FILTER, "w1 += 1\nr0 = 0\nexit",
         "R1 32-bit pointer arithmetic prohibited"),
    Case("ptr_and", SOCKET_FILTER, "r1 &= 1\nr0 = 0\nexit",
         "R1 bitwise operator &= on pointer prohibited"),
    Case("ptr_mul", SOCKET_FILTER, "r1 *= 2\nr0 = 0\nexit",
         "R1 pointer arithmetic with *= operator prohibited"),
    Case("scalar_sub_ptr", SOCKET_FILTER, "r0 = 1\nr0 -= r1\nr0 = 0\nexit",
         "R0 tried to subtract pointer from scalar"),
    Case("fp_sub", SOCKET_FILTER, "r2 = r10\nr2 -= 8\nr0 = 0\nexit",
         "R2 subtraction from stack pointer prohibited"),
    Case("fp_sub_reg", SOCKET_FILTER,
         "r3 = 8\nr2 = r10\nr2 -= r3\nr0 = 0\nexit",
         "R2 subtraction from stack pointer prohibited"),
    Case("map_ptr_arith", SOCKET_FILTER, f"r1 = {M(0)}\nr1 += 8\nr0 = 0\nexit",
         "R1 pointer arithmetic on map_ptr prohibited"),
    Case("pkt_end_arith", XDP, XDP_PKT + "r3 += 1\nr0 = 0\nexit",
         "R3 pointer arithmetic on pkt_end prohibited"),
    Case("null_arith", SOCKET_FILTER, LOOKUP + "r0 += 1\nr0 = 0\nexit",
         "R0 pointer arithmetic on map_value_or_null prohibited, null-check it first"),
    Case("neg_ptr", SOCKET_FILTER, "r1 = -r1\nr0 = 0\nexit"),
    Case("unbounded_ptr_math", XDP, XDP_PKT + "r4 = *(u32 *)(r2 +0)\nr0 = 0\nexit",
         "invalid access to packet, off=0 size=4, R2(id=0,off=0,r=0)"),
    Case("pkt_unbounded_min", XDP,
         XDP_PKT + "call bpf_get_prandom_u32\nr2 = *(u32 *)(r1 +0)\nr2 += r0\nr0 = 0\nexit",
         "R1 !read_ok"),
    Case("pkt_add_unbounded", XDP,
         "r6 = r1\ncall bpf_get_prandom_u32\nr2 = *(u32 *)(r6 +0)\nr0 <<= 32\n"
         "r0 s>>= 32\nr2 += r0\nr0 = 0\nexit",
         "value -2147483648 makes pkt pointer be out of bounds"),
    Case("pkt_add_unbounded_min", XDP,
         "r6 = r1\ncall bpf_get_prandom_u32\nr2 = *(u32 *)(r6 +0)\nr0 <<= 32\n"
         "r2 += r0\nr0 = 0\nexit",
         "math between pkt pointer and register with unbounded min value is not allowed"),
    # --- jumps, CFG -----------------------------------------------------------------------
    Case("jump_oob", SOCKET_FILTER, "r0 = 0\ngoto +5\nexit", "jump out of range from insn 1 to 7"),
    Case("unreachable", SOCKET_FILTER, "r0 = 0\nexit\nr0 = 1\nexit", "unreachable insn 2"),
    Case("last_not_exit", SOCKET_FILTER, "r0 = 0", "last insn is not an exit or jmp"),
    Case("dead_branch_ok", SOCKET_FILTER,
         "r0 = 0\nr1 = 5\nif r1 > 3 goto +1\nr0 = r5\nexit"),
    Case("live_branch_bad", SOCKET_FILTER,
         "call bpf_get_prandom_u32\nif r0 > 3 goto +1\nr0 = r5\nexit", "R5 !read_ok"),
    Case("bounded_loop", SOCKET_FILTER,
         "r0 = 0\nr1 = 0\nr1 += 1\nr0 += 2\nif r1 < 10 goto -3\nexit"),
    Case("infinite_loop", SOCKET_FILTER, "r0 = 0\nif r0 == 0 goto +1\nexit\ngoto -1",
         "infinite loop detected at insn 3"),
    Case("too_large", SOCKET_FILTER,
         "r0 = 0\nr1 = 1\nr1 += 1\nif r1 != 0 goto -2\nexit",
         "BPF program is too large. Processed 1000001 insn"),
    Case("jset_dead", SOCKET_FILTER,
         "r0 = 0\nr1 = 4\nif r1 & 0x3 goto +1\nexit\nr0 = r7\nexit"),
    Case("jmp32", SOCKET_FILTER,
         "call bpf_get_prandom_u32\nif w0 > 3 goto +2\nr0 = 1\nexit\nr0 = 0\nexit"),
    Case("reg_reg_cmp", SOCKET_FILTER,
         "call bpf_get_prandom_u32\nr6 = r0\ncall bpf_get_prandom_u32\n"
         "if r0 > r6 goto +1\nr0 = 0\nexit"),
    Case("may_goto_loop", SOCKET_FILTER, "r0 = 0\nmay_goto +1\ngoto -2\nexit"),
    # --- stack ----------------------------------------------------------------------------
    Case("stack_rw", SOCKET_FILTER, "r1 = 5\n*(u64 *)(r10 -8) = r1\nr0 = *(u64 *)(r10 -8)\nexit"),
    Case("stack_uninit_priv", SOCKET_FILTER, "r0 = *(u64 *)(r10 -8)\nexit"),
    Case("stack_oob", SOCKET_FILTER, "r0 = 0\n*(u64 *)(r10 -520) = r0\nexit",
         "invalid write to stack R10 off=-520 size=8"),
    Case("stack_positive", SOCKET_FILTER, "r0 = 0\n*(u64 *)(r10 +0) = r0\nexit",
         "invalid write to stack R10 off=0 size=8"),
    Case("stack_misaligned", SOCKET_FILTER, "r0 = 0\n*(u64 *)(r10 -4) = r0\nexit",
         "misaligned stack access off 0+0+-4 size 8"),
    Case("spill_fill_ptr", SOCKET_FILTER,
         "*(u64 *)(r10 -8) = r1\nr1 = *(u64 *)(r10 -8)\nr0 = *(u32 *)(r1 +0)\nexit"),
    Case("spill_partial_ptr", SOCKET_FILTER,
         "*(u32 *)(r10 -8) = r1\nr0 = 0\nexit", "invalid size of register spill"),
    Case("fill_partial_ptr", SOCKET_FILTER,
         "*(u64 *)(r10 -8) = r1\nr0 = *(u32 *)(r10 -8)\nexit", "invalid size of register fill"),
    Case("spill_scalar_keeps_bounds", SOCKET_FILTER,
         "r1 = 3\n*(u64 *)(r10 -8) = r1\nr2 = *(u64 *)(r10 -8)\nr0 = 0\nif r2 == 3 goto +1\n"
         "r0 = r7\nexit"),
    Case("st_imm", SOCKET_FILTER, "*(u32 *)(r10 -4) = 7\nr0 = *(u32 *)(r10 -4)\nexit"),
    Case("stack_var_off", SOCKET_FILTER,
         "call bpf_get_prandom_u32\nr0 &= 8\nr1 = r10\nr1 += -16\nr1 += r0\n"
         "r2 = 0\n*(u64 *)(r10 -16) = r2\n*(u64 *)(r10 -8) = r2\nr0 = *(u64 *)(r1 +0)\nexit"),
    # --- ctx --------------------------------------------------------------------------------
    Case("ctx_len", SOCKET_FILTER, "r0 = *(u32 *)(r1 +0)\nexit"),
    Case("ctx_bad_off", SOCKET_FILTER, "r0 = *(u32 *)(r1 +2)\nexit",
         "invalid bpf_context access off=2 size=4"),
    Case("ctx_out", SOCKET_FILTER, "r0 = *(u32 *)(r1 +1000)\nexit",
         "invalid bpf_context access off=1000 size=4"),
    Case("ctx_modified", SOCKET_FILTER, "r1 += 4\nr0 = *(u32 *)(r1 +0)\nexit",
         "dereference of modified ctx ptr R1 off=4 disallowed"),
    Case("ctx_write_ro", SOCKET_FILTER, "r0 = 0\n*(u32 *)(r1 +0) = r0\nexit",
         "invalid bpf_context access off=0 size=4"),
    Case("ctx_write_mark", SCHED_CLS, "r0 = 0\n*(u32 *)(r1 +8) = r0\nexit"),
    Case("ctx_leak", SCHED_CLS, "*(u64 *)(r1 +48) = r10\nr0 = 0\nexit"),
    Case("xdp_data", XDP, XDP_PKT + "r0 = 2\nexit"),
    # --- packet ------------------------------------------------------------------------------
    Case("pkt_unchecked", XDP, XDP_PKT + "r0 = *(u8 *)(r2 +0)\nexit",
         "invalid access to packet, off=0 size=1, R2(id=0,off=0,r=0)"),
    Case("pkt_checked", XDP,
         XDP_PKT + "r4 = r2\nr4 += 14\nif r4 > r3 goto +2\nr0 = *(u8 *)(r2 +13)\nexit\n"
         "r0 = 1\nexit"),
    Case("pkt_off_by_one", XDP,
         XDP_PKT + "r4 = r2\nr4 += 14\nif r4 > r3 goto +2\nr0 = *(u8 *)(r2 +14)\nexit\n"
         "r0 = 1\nexit", "invalid access to packet, off=14 size=1, R2(id=0,off=14,r=14)"),
    Case("pkt_jge", XDP,
         XDP_PKT + "r4 = r2\nr4 += 8\nif r4 >= r3 goto +2\nr0 = *(u8 *)(r2 +8)\nexit\n"
         "r0 = 1\nexit"),
    Case("pkt_rev", XDP,
         XDP_PKT + "r4 = r2\nr4 += 8\nif r3 < r4 goto +2\nr0 = *(u64 *)(r2 +0)\nexit\n"
         "r0 = 1\nexit"),
    Case("pkt_write_sf", SOCKET_FILTER,
         "r0 = 0\nexit"),
    Case("pkt_var_off", XDP,
         XDP_PKT + "r4 = *(u8 *)(r2 +0)\nr0 = 0\nexit",
         "invalid access to packet, off=0 size=1, R2(id=0,off=0,r=0)"),
    # --- helpers that change packet data invalidate packet pointers (clear_all_pkt_pointers)
    Case("pkt_after_adjust_head", XDP,
         "r6 = r1\n" + XDP_PKT.replace("r1", "r6").replace("r2 =", "r7 =").replace("r3 =", "r8 =")
         + "r4 = r7\nr4 += 14\nif r4 > r8 goto +4\nr1 = r6\nr2 = 0\ncall bpf_xdp_adjust_head\n"
         "r0 = *(u8 *)(r7 +0)\nr0 = 1\nexit", "R7 invalid mem access 'scalar'"),
    Case("pkt_spill_after_adjust_tail", XDP,
         XDP_PKT + "r4 = r2\nr4 += 14\nif r4 > r3 goto +6\n*(u64 *)(r10 -8) = r2\n"
         "r2 = 0\ncall bpf_xdp_adjust_tail\nr2 = *(u64 *)(r10 -8)\nr0 = *(u8 *)(r2 +0)\n"
         "exit\nr0 = 1\nexit", "R2 invalid mem access 'scalar'"),
    Case("pkt_after_skb_pull_data", SCHED_CLS,
         "r6 = *(u32 *)(r1 +76)\nr7 = *(u32 *)(r1 +80)\nr4 = r6\nr4 += 14\n"
         "if r4 > r7 goto +4\nr2 = 0\ncall bpf_skb_pull_data\nr0 = *(u8 *)(r6 +0)\nexit\n"
         "r0 = 0\nexit", "R6 invalid mem access 'scalar'"),
    Case("pkt_after_tail_call", SCHED_CLS,
         "r6 = *(u32 *)(r1 +76)\nr7 = *(u32 *)(r1 +80)\nr4 = r6\nr4 += 14\n"
         f"if r4 > r7 goto +6\nr2 = {M(3)}\nr3 = 0\ncall bpf_tail_call\n"
         "r0 = *(u8 *)(r6 +0)\nexit\nr0 = 0\nexit"),  # a tail call that returns keeps them
    Case("pkt_reload_after_adjust_head", XDP,
         "r6 = r1\nr2 = 0\ncall bpf_xdp_adjust_head\nr2 = *(u32 *)(r6 +0)\n"
         "r3 = *(u32 *)(r6 +4)\nr4 = r2\nr4 += 1\nif r4 > r3 goto +2\nr0 = *(u8 *)(r2 +0)\n"
         "exit\nr0 = 1\nexit"),
    Case("pkt_var_checked", XDP,
         XDP_PKT + "r4 = r2\nr4 += 1\nif r4 > r3 goto +8\nr5 = *(u8 *)(r2 +0)\n"
         "r5 &= 15\nr2 += r5\nr4 = r2\nr4 += 1\nif r4 > r3 goto +2\nr0 = *(u8 *)(r2 +0)\n"
         "exit\nr0 = 1\nexit"),
    Case("pkt_cmp_scalar_priv", XDP, XDP_PKT + "r0 = 0\nif r2 > 5 goto +1\nexit\nexit"),
    # --- maps -----------------------------------------------------------------------------
    Case("lookup_no_null_check", SOCKET_FILTER, LOOKUP + "r0 = *(u64 *)(r0 +0)\nexit",
         "R0 invalid mem access 'map_value_or_null'"),
    Case("lookup_null_check", SOCKET_FILTER,
         LOOKUP + "if r0 == 0 goto +2\nr0 = *(u64 *)(r0 +0)\nexit\nr0 = 0\nexit"),
    Case("lookup_copy_null_check", SOCKET_FILTER,
         LOOKUP + "r6 = r0\nif r0 == 0 goto +2\nr0 = *(u64 *)(r6 +0)\nexit\nr0 = 0\nexit"),
    Case("map_value_oob", SOCKET_FILTER,
         LOOKUP + "if r0 == 0 goto +2\nr0 = *(u32 *)(r0 +8)\nexit\nr0 = 0\nexit",
         "invalid access to map value, value_size=8 off=8 size=4"),
    Case("map_value_var_ok", SOCKET_FILTER,
         LOOKUP + "if r0 == 0 goto +6\nr6 = r0\ncall bpf_get_prandom_u32\nr0 &= 7\n"
         "r6 += r0\nr0 = *(u8 *)(r6 +0)\nexit\nr0 = 0\nexit"),
    Case("map_value_var_bad", SOCKET_FILTER,
         LOOKUP + "if r0 == 0 goto +6\nr6 = r0\ncall bpf_get_prandom_u32\nr0 &= 15\n"
         "r6 += r0\nr0 = *(u8 *)(r6 +0)\nexit\nr0 = 0\nexit",
         "invalid access to map value, value_size=8 off=15 size=1"),
    Case("map_value_unbounded", SOCKET_FILTER,
         LOOKUP + "if r0 == 0 goto +6\nr6 = r0\ncall bpf_get_prandom_u32\nr0 &= 0xffff\n"
         "r6 += r0\nr0 = *(u8 *)(r6 +0)\nexit\nr0 = 0\nexit",
         "invalid access to map value, value_size=8 off=65535 size=1"),
    Case("map_value_neg", SOCKET_FILTER,
         LOOKUP + "if r0 == 0 goto +3\nr0 += -1\nr0 = *(u8 *)(r0 +0)\nexit\nr0 = 0\nexit",
         "invalid access to map value, value_size=8 off=-1 size=1"),
    Case("map_key_uninit_priv", SOCKET_FILTER,
         f"r1 = {M(0)}\nr2 = r10\nr2 += -4\ncall bpf_map_lookup_elem\nr0 = 0\nexit"),
    Case("map_key_oob", SOCKET_FILTER,
         f"r1 = {M(0)}\nr2 = r10\nr2 += -2\ncall bpf_map_lookup_elem\nr0 = 0\nexit",
         "invalid read from stack R2 off=-2 size=4"),
    Case("map_key_scalar", SOCKET_FILTER,
         f"r1 = {M(0)}\nr2 = 0\ncall bpf_map_lookup_elem\nr0 = 0\nexit",
         "R2 type=scalar expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, "
         "buf, trusted_ptr_"),
    Case("map_arg_scalar", SOCKET_FILTER,
         "r1 = 0\nr2 = r10\nr2 += -8\ncall bpf_map_lookup_elem\nr0 = 0\nexit",
         "R1 type=scalar expected=map_ptr"),
    Case("map_update", SOCKET_FILTER,
         f"r1 = {M(0)}\nr2 = r10\nr2 += -4\n*(u32 *)(r10 -4) = 0\nr3 = r10\nr3 += -16\n"
         "r4 = 0\n*(u64 *)(r10 -16) = r4\ncall bpf_map_update_elem\nr0 = 0\nexit"),
    Case("map_leak_priv", SOCKET_FILTER,
         LOOKUP + "if r0 == 0 goto +1\n*(u64 *)(r0 +0) = r10\nr0 = 0\nexit"),
    Case("rodata_write", SOCKET_FILTER,
         f"r1 = {M(4)}\nr2 = r10\nr2 += -4\n*(u32 *)(r10 -4) = 0\ncall bpf_map_lookup_elem\n"
         "if r0 == 0 goto +2\nr1 = 1\n*(u64 *)(r0 +0) = r1\nr0 = 0\nexit",
         "write into map forbidden, value_size=16 off=0 size=8"),
    Case("rodata_read", SOCKET_FILTER,
         f"r1 = {M(4)}\nr2 = r10\nr2 += -4\n*(u32 *)(r10 -4) = 0\ncall bpf_map_lookup_elem\n"
         "if r0 == 0 goto +2\nr0 = *(u64 *)(r0 +8)\nexit\nr0 = 0\nexit"),
    Case("map_wrong_type_helper", SOCKET_FILTER,
         f"r1 = {M(3)}\nr2 = r10\nr2 += -4\n*(u32 *)(r10 -4) = 0\ncall bpf_map_lookup_elem\n"
         "r0 = 0\nexit", "cannot pass map_type 3 into func bpf_map_lookup_elem#1"),
    # --- helpers ----------------------------------------------------------------------------
    Case("helper_unknown", SOCKET_FILTER, "call 10000\nr0 = 0\nexit", "invalid func unknown#10000"),
    Case("helper_not_allowed", SOCKET_FILTER, "call bpf_redirect\nr0 = 0\nexit",
         "program of this type cannot use helper bpf_redirect#23"),
    Case("gpl_only", KPROBE, "r1 = r10\nr1 += -8\nr2 = 8\nr3 = 0\ncall bpf_probe_read\n"
         "r0 = 0\nexit", "cannot call GPL-restricted function from non-GPL compatible program",
         license="Proprietary"),
    Case("gpl_ok", KPROBE, "r1 = r10\nr1 += -8\nr2 = 8\nr3 = 0\ncall bpf_probe_read\n"
         "r0 = 0\nexit"),
    Case("mem_size_zero", KPROBE, "r1 = r10\nr1 += -8\nr2 = 0\nr3 = 0\ncall bpf_probe_read\n"
         "r0 = 0\nexit"),
    Case("mem_size_unbounded", KPROBE,
         "r6 = r1\ncall bpf_get_prandom_u32\nr2 = r0\nr1 = r10\nr1 += -8\nr3 = 0\n"
         "call bpf_probe_read\nr0 = 0\nexit",
         "R2 min value is negative, either use unsigned or 'var &= const'"),
    Case("mem_size_unbounded_u", KPROBE,
         "r6 = r1\ncall bpf_get_prandom_u32\nr0 >>= 1\nr2 = r0\nr1 = r10\nr1 += -8\nr3 = 0\n"
         "call bpf_probe_read\nr0 = 0\nexit",
         "R2 unbounded memory access, use 'var &= const' or 'if (var < const)'"),
    Case("mem_size_too_big", KPROBE,
         "r1 = r10\nr1 += -8\nr2 = 16\nr3 = 0\ncall bpf_probe_read\nr0 = 0\nexit",
         "invalid write to stack R1 off=-8 size=16"),
    Case("ctx_arg", SCHED_CLS, "r2 = 0\ncall bpf_skb_load_bytes\nr0 = 0\nexit",
         "R3 !read_ok"),
    Case("ctx_arg_wrong", SCHED_CLS,
         "r1 = r10\nr1 += -8\nr2 = 0\nr3 = r10\nr3 += -8\nr4 = 4\ncall bpf_skb_load_bytes\n"
         "r0 = 0\nexit", "R1 type=fp expected=ctx"),
    Case("skb_load_bytes", SCHED_CLS,
         "r2 = 0\nr3 = r10\nr3 += -8\nr4 = 4\ncall bpf_skb_load_bytes\nr0 = 0\nexit"),
    Case("trace_printk", KPROBE,
         "r1 = 0x0a6968\n*(u64 *)(r10 -8) = r1\nr1 = r10\nr1 += -8\nr2 = 4\n"
         "call bpf_trace_printk\nr0 = 0\nexit"),
    Case("tail_call", SOCKET_FILTER, f"r2 = {M(3)}\nr3 = 0\ncall bpf_tail_call\nr0 = 0\nexit"),
    Case("tail_call_wrong_map", SOCKET_FILTER,
         f"r2 = {M(0)}\nr3 = 0\ncall bpf_tail_call\nr0 = 0\nexit",
         "expected prog array map for tail call"),
    # --- references -------------------------------------------------------------------------
    Case("ringbuf_ok", SOCKET_FILTER,
         f"r1 = {M(2)}\nr2 = 8\nr3 = 0\ncall bpf_ringbuf_reserve\nif r0 == 0 goto +5\n"
         "r1 = 0\n*(u64 *)(r0 +0) = r1\nr1 = r0\nr2 = 0\ncall bpf_ringbuf_submit\nr0 = 0\nexit"),
    Case("ringbuf_leak", SOCKET_FILTER,
         f"r1 = {M(2)}\nr2 = 8\nr3 = 0\ncall bpf_ringbuf_reserve\nif r0 == 0 goto +0\n"
         "r0 = 0\nexit", "Unreleased reference id=2 alloc_insn=4"),
    Case("ringbuf_oob", SOCKET_FILTER,
         f"r1 = {M(2)}\nr2 = 8\nr3 = 0\ncall bpf_ringbuf_reserve\nif r0 == 0 goto +5\n"
         "r1 = 0\n*(u64 *)(r0 +8) = r1\nr1 = r0\nr2 = 0\ncall bpf_ringbuf_submit\nr0 = 0\nexit",
         "invalid access to memory, mem_size=8 off=8 size=8"),
    Case("ringbuf_size_var", SOCKET_FILTER,
         f"call bpf_get_prandom_u32\nr2 = r0\nr1 = {M(2)}\nr3 = 0\ncall bpf_ringbuf_reserve\n"
         "r0 = 0\nexit", "R2 is not a known constant'"),
    Case("sk_lookup_leak", SCHED_CLS,
         "r2 = r10\nr2 += -40\nr3 = 0\n*(u64 *)(r10 -40) = r3\n*(u64 *)(r10 -32) = r3\n"
         "*(u64 *)(r10 -24) = r3\n*(u64 *)(r10 -16) = r3\n*(u64 *)(r10 -8) = r3\nr3 = 12\n"
         "r4 = -1\nr5 = 0\ncall bpf_sk_lookup_tcp\nr0 = 0\nexit",
         "Unreleased reference id=2 alloc_insn=11"),
    Case("sk_lookup_release", SCHED_CLS,
         "r2 = r10\nr2 += -40\nr3 = 0\n*(u64 *)(r10 -40) = r3\n*(u64 *)(r10 -32) = r3\n"
         "*(u64 *)(r10 -24) = r3\n*(u64 *)(r10 -16) = r3\n*(u64 *)(r10 -8) = r3\nr3 = 12\n"
         "r4 = -1\nr5 = 0\ncall bpf_sk_lookup_tcp\nif r0 == 0 goto +2\nr1 = r0\n"
         "call bpf_sk_release\nr0 = 0\nexit"),
    Case("sk_release_null", SCHED_CLS,
         "r2 = r10\nr2 += -40\nr3 = 0\n*(u64 *)(r10 -40) = r3\n*(u64 *)(r10 -32) = r3\n"
         "*(u64 *)(r10 -24) = r3\n*(u64 *)(r10 -16) = r3\n*(u64 *)(r10 -8) = r3\nr3 = 12\n"
         "r4 = -1\nr5 = 0\ncall bpf_sk_lookup_tcp\nr1 = r0\ncall bpf_sk_release\nr0 = 0\nexit",
         "R1 type=sock_or_null expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, "
         "trusted_ptr_"),
    # --- exit -------------------------------------------------------------------------------
    Case("ret_range_bad", CGROUP_SKB, "r0 = 4\nexit",
         "At program exit the register R0 has smin=4 smax=4 should have been in [0, 1]"),
    Case("ret_range_ok", CGROUP_SKB, "r0 = 1\nexit"),
    Case("ret_range_unknown", CGROUP_SKB, "call bpf_get_prandom_u32\nexit",
         "At program exit the register R0 has unknown scalar value should have been in "
         "[0, 1]"),
    Case("ret_range_u32", CGROUP_SKB, "call bpf_get_prandom_u32\nw0 = w0\nexit",
         "At program exit the register R0 has smin=0 smax=4294967295 should have been in "
         "[0, 1]"),
    Case("ret_ptr_priv", SOCKET_FILTER, "r0 = r10\nexit"),
    Case("ret_ptr_cgroup", CGROUP_SKB, "r0 = r1\nexit",
         "At program exit the register R0 is not a known value (ctx)"),
    Case("xdp_any_ret", XDP, "r0 = 5\nexit"),
    # --- bpf-to-bpf -------------------------------------------------------------------------
    Case("subprog", SOCKET_FILTER, "r1 = 1\ncall pc+2\nr0 += 1\nexit\nr0 = r1\nexit"),
    Case("subprog_ctx_arg", SOCKET_FILTER, "call pc+2\nr0 = 0\nexit\nr0 = r1\nexit"),
    Case("subprog_uninit", SOCKET_FILTER, "call pc+2\nr0 = 0\nexit\nr0 = r2\nexit",
         "R2 !read_ok"),
    Case("subprog_stack_ret", SOCKET_FILTER,
         "call pc+2\nr0 = 0\nexit\nr0 = r10\nexit", "cannot return stack pointer to the caller"),
    Case("subprog_stack_arg", SOCKET_FILTER,
         "r1 = r10\nr1 += -8\nr2 = 3\n*(u64 *)(r10 -8) = r2\ncall pc+1\nexit\n"
         "r0 = *(u64 *)(r1 +0)\nexit"),
    # check_max_stack_depth: frames rounded to 16 bytes (JIT) summed along a call chain
    Case("combined_stack", SOCKET_FILTER,
         "r1 = 0\n*(u64 *)(r10 -504) = r1\ncall pc+2\nr0 = 0\nexit\n"
         "r1 = 0\n*(u64 *)(r10 -16) = r1\nr0 = 0\nexit",
         "combined stack size of 2 calls is 528. Too large"),
    Case("combined_stack_512", SOCKET_FILTER,
         "r1 = 0\n*(u64 *)(r10 -496) = r1\ncall pc+2\nr0 = 0\nexit\n"
         "r1 = 0\n*(u64 *)(r10 -16) = r1\nr0 = 0\nexit"),
    Case("combined_stack_3", SOCKET_FILTER,
         "r1 = 0\n*(u64 *)(r10 -256) = r1\ncall pc+2\nr0 = 0\nexit\n"
         "r1 = 0\n*(u64 *)(r10 -200) = r1\ncall pc+2\nr0 = 0\nexit\n"
         "r1 = 0\n*(u8 *)(r10 -49) = r1\nr0 = 0\nexit",
         "combined stack size of 3 calls is 528. Too large"),
    # bpf_get_cgroup_classid takes the skb in tc and lwt programs only; elsewhere it
    # reads the current task's classid and takes nothing (r1 may be unset)
    Case("classid_curr_no_arg", SOCKET_FILTER,
         "call bpf_get_prandom_u32\ncall bpf_get_cgroup_classid\nr0 = 0\nexit"),
    Case("classid_skb_arg", SCHED_CLS,
         "call bpf_get_prandom_u32\ncall bpf_get_cgroup_classid\nr0 = 0\nexit",
         "R1 !read_ok"),
    # refused by default (no private stack); a kernel whose JIT has one accepts it, and
    # the kernel comparison tells pybpf which (test_stackdepth_priv.py)
    Case("kprobe_priv_stack", KPROBE,
         "r1 = 0\n*(u64 *)(r10 -504) = r1\ncall pc+2\nr0 = 0\nexit\n"
         "r1 = 0\n*(u64 *)(r10 -16) = r1\nr0 = 0\nexit",
         "combined stack size of 2 calls is 528. Too large"),
    # a null test of a never-null pointer without allow_ptr_leaks: reg_not_null knows
    # map values but not ctx or stack pointers
    Case("ctx_null_test", SOCKET_FILTER, "r0 = 0\nif r1 == 0x0 goto +0\nexit"),
    Case("fp_null_test", SOCKET_FILTER, "r0 = 0\nr2 = r10\nif r2 != 0x0 goto +0\nexit"),
    Case("map_value_null_test", SOCKET_FILTER,
         LOOKUP_A + "if r0 == 0x0 goto +2\nif r0 == 0x0 goto +1\nr0 = 0\nr0 = 0\nexit"),
    Case("recursion", SOCKET_FILTER, "call pc-1\nr0 = 0\nexit",
         "the call stack of 9 frames is too deep"),
    Case("bpf_loop", SOCKET_FILTER,
         f"r1 = 10\nr2 = {FUNC_MARK | 6:#x} ll\nr3 = 0\nr4 = 0\ncall bpf_loop\nr0 = 0\nexit\n"
         "r0 = 0\nexit", "missing btf func_info"),
    Case("bpf_loop_bad_ret", SOCKET_FILTER,
         f"r1 = 10\nr2 = {FUNC_MARK | 6:#x} ll\nr3 = 0\nr4 = 0\ncall bpf_loop\nr0 = 0\n"
         "exit\nr0 = 2\nexit",
         "missing btf func_info"),
    Case("bpf_loop_ctx", SOCKET_FILTER,
         f"r1 = 10\nr2 = {FUNC_MARK | 6:#x} ll\nr3 = 0\nr4 = 0\ncall bpf_loop\nr0 = 0\n"
         "exit\nr0 = *(u64 *)(r2 +0)\nexit", "missing btf func_info"),
    Case("ld_abs", SOCKET_FILTER, "r6 = r1\nr0 = *(u8 *)skb[12]\nexit"),
    Case("ld_abs_no_r6", SOCKET_FILTER, "r0 = *(u8 *)skb[12]\nexit", "R6 !read_ok"),
    Case("atomic_stack", SOCKET_FILTER,
         "r1 = 0\n*(u64 *)(r10 -8) = r1\nr1 = 1\nlock *(u64 *)(r10 -8) += r1\n"
         "r0 = *(u64 *)(r10 -8)\nexit"),
    Case("atomic_ctx", SOCKET_FILTER,
         "r2 = 1\nlock *(u32 *)(r1 +0) += r2\nr0 = 0\nexit",
         "BPF_ATOMIC stores into R1 ctx is not allowed"),
    Case("movsx_bounds", SOCKET_FILTER,
         "call bpf_get_prandom_u32\nr0 &= 0x7f\nr1 = (s8)r0\nr0 = 0\nif r1 s< 0 goto +1\n"
         "exit\nr0 = r9\nexit"),
)

# precision tracking: the first path explored (fall-through) is safe and leaves a
# checkpoint at the join with an imprecise scalar; the use below makes it precise, so
# the other path (the jump, with the unsafe value) is not pruned against it
PRECISE_HEAD = "r9 = r1\ncall bpf_get_prandom_u32\nr6 = r0\n"
PAD8 = "r1 = 0\n" * 8
PRECISION_CASES: tuple[Case, ...] = (
    Case("precise_join_ptr", SOCKET_FILTER,
         PRECISE_HEAD + "r7 = 64\nif r6 > 10 goto +9\nr7 = 0\n" + PAD8 +
         "r8 = r10\nr8 += -8\nr8 += r7\nr0 = 0\n*(u64 *)(r8 +0) = r0\nexit",
         "invalid write to stack R8 off=56 size=8"),
    Case("precise_join_spill", SOCKET_FILTER,
         PRECISE_HEAD + "r7 = 64\n*(u64 *)(r10 -16) = r7\nif r6 > 10 goto +10\nr7 = 0\n"
         "*(u64 *)(r10 -16) = r7\n" + PAD8 +
         "r5 = *(u64 *)(r10 -16)\nr8 = r10\nr8 += -8\nr8 += r5\nr0 = 0\n"
         "*(u64 *)(r8 +0) = r0\nexit",
         "invalid write to stack R8 off=56 size=8"),
    Case("precise_join_branch", SOCKET_FILTER,
         PRECISE_HEAD + "r7 = 1\nif r6 > 10 goto +9\nr7 = 0\n" + PAD8 +
         "if r7 == 0x0 goto +2\nr0 = r5\nexit\nr0 = 0\nexit", "R5 !read_ok"),
    Case("precise_join_size", SOCKET_FILTER,
         PRECISE_HEAD + "r7 = 100\nif r6 > 10 goto +9\nr7 = 8\n" + PAD8 +
         "r1 = r9\nr2 = 0\nr3 = r10\nr3 += -8\nr4 = r7\ncall bpf_skb_load_bytes\n"
         "r0 = 0\nexit", "invalid write to stack R3 off=-8 size=100"),
    Case("precise_join_ret", CGROUP_SKB,
         PRECISE_HEAD + "r7 = 7\nif r6 > 10 goto +9\nr7 = 1\n" + PAD8 + "r0 = r7\nexit",
         "At program exit the register R0 has smin=7 smax=7 should have been in [0, 1]"),
    Case("precise_join_linked", SOCKET_FILTER,
         PRECISE_HEAD + "r6 &= 0xff\nr7 = r6\nif r6 > 10 goto +9\nr1 = 0\n" + PAD8 +
         "r8 = r10\nr8 += -24\nr8 += r7\nr0 = 0\n*(u8 *)(r8 +0) = r0\nexit",
         "invalid variable-offset write to stack R8 var_off=(0x0; 0xff) off=-24 size=1"),
    # the value differs at the join but nothing needs it exactly: pruned, accepted
    Case("imprecise_join", SOCKET_FILTER,
         PRECISE_HEAD + "r7 = 64\nif r6 > 10 goto +9\nr7 = 0\n" + PAD8 +
         "*(u64 *)(r10 -8) = r7\nr0 = 0\nexit"),
)
CASES = CASES + PRECISION_CASES

SOCKMAP_KEY = "r1 = {m}\nr2 = r10\nr2 += -4\n*(u32 *)(r10 -4) = 0\n"
_SOCK_TYPES = "sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_"

UNPRIV_CASES: tuple[Case, ...] = (
    Case("scalar_add_ptr", SOCKET_FILTER, "r0 = 0\nr0 += r1\nr0 = 0\nexit"),
    Case("scalar_add_ptr_r2", SOCKET_FILTER, "r2 = 0\nr2 += r1\nr0 = 0\nexit"),
    Case("ptr_add_mixed", SOCKET_FILTER,
         "r0 = *(u32 *)(r1 +0)\nr0 -= 5\nr2 = r10\nr2 += r0\nr0 = 0\nexit"),
    # a load through a map pointer reads the map's kernel struct (check_ptr_to_map_access)
    Case("map_ptr_read", SOCKET_FILTER, f"r1 = {M(0)}\nr2 = *(u64 *)(r1 +0)\nr0 = 0\nexit"),
    Case("map_ptr_write", SOCKET_FILTER,
         f"r1 = {M(0)}\nr2 = 0\n*(u64 *)(r1 +0) = r2\nr0 = 0\nexit",
         "only read from bpf_htab is supported"),
    Case("map_ptr_neg", SOCKET_FILTER, f"r1 = {M(1)}\nr2 = *(u32 *)(r1 -8)\nr0 = 0\nexit",
         "R1 is bpf_array invalid negative access: off=-8"),
    Case("map_ptr_atomic", SOCKET_FILTER,
         f"r1 = {M(6)}\nr2 = 1\nlock *(u32 *)(r1 +0) += r2\nr0 = 0\nexit",
         "only read from xsk_map is supported"),
    # a sockmap's value argument is a socket; updates only from some program types
    Case("sockmap_update_fp", SOCKET_FILTER, SOCKMAP_KEY.format(m=M(7)) +
         "r3 = r10\nr3 += -8\n*(u32 *)(r10 -8) = 0\nr4 = 0\ncall bpf_map_update_elem\n"
         "r0 = 0\nexit", f"R3 type=fp expected={_SOCK_TYPES}"),
    Case("sockmap_push", SOCKET_FILTER, SOCKMAP_KEY.format(m=M(7)) +
         "call bpf_map_push_elem\nr0 = 0\nexit", f"R2 type=fp expected={_SOCK_TYPES}"),
    Case("sockmap_delete_tc", SCHED_CLS, SOCKMAP_KEY.format(m=M(7)) +
         "call bpf_map_delete_elem\nr0 = 0\nexit"),
    Case("sockhash_delete_sf", SOCKET_FILTER, SOCKMAP_KEY.format(m=M(9)) +
         "call bpf_map_delete_elem\nr0 = 0\nexit"),
    Case("sockmap_delete_cgroup_skb", CGROUP_SKB, SOCKMAP_KEY.format(m=M(7)) +
         "call bpf_map_delete_elem\nr0 = 1\nexit", "cannot update sockmap in this context"),
    Case("sockhash_delete_kprobe", KPROBE, SOCKMAP_KEY.format(m=M(9)) +
         "call bpf_map_delete_elem\nr0 = 0\nexit", "cannot update sockmap in this context"),
    Case("mixed_add_ptr", SOCKET_FILTER,
         "r0 = *(u32 *)(r1 +0)\nr0 -= 5\nr2 = r10\nr0 += r2\nr0 = 0\nexit"),
)
CASES = CASES + UNPRIV_CASES

_PTR_ALU = "pointer arithmetic with it prohibited for !root"
# the kernel's first error line with only CAP_BPF + CAP_NET_ADMIN (None: accepted), for
# the cases whose answer there is recorded; test_kernel_diff checks these with the kernel
UNPRIV: dict[str, str | None] = {
    "scalar_sub_ptr": f"R0 has pointer with unsupported alu operation, {_PTR_ALU}",
    "scalar_add_ptr": f"R0 has pointer with unsupported alu operation, {_PTR_ALU}",
    "scalar_add_ptr_r2": f"R2 has pointer with unsupported alu operation, {_PTR_ALU}",
    "ptr_add_mixed": f"R0 has unknown scalar with mixed signed bounds, {_PTR_ALU}",
    "mixed_add_ptr": f"R2 has unknown scalar with mixed signed bounds, {_PTR_ALU}",
    "map_ptr_read": "'struct bpf_htab' access is allowed only to CAP_PERFMON and CAP_SYS_ADMIN",
}
