"""The kernel's helper prototypes, recorded as data (Linux 6.18's `struct bpf_func_proto`s,
generic and per program type), and the lookups over them (see pybpf.helper_protos)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..helper_ids import HELPER_IDS, HELPER_NAMES
from ..uapi import ProgType
from .vocabulary import (NOFLAGS, Arg, ArgType, HelperProto, HelperProtoError, Ret, RetType,
                         TypeFlag)

__all__ = ["all_protos", "describe", "proto", "proto_for", "render", "variants"]

_F = TypeFlag


# --- the table --------------------------------------------------------------------------

T = ArgType
ANY = Arg(T.ARG_ANYTHING)
MAP = Arg(T.ARG_CONST_MAP_PTR)
KEY = Arg(T.ARG_PTR_TO_MAP_KEY)
VALUE = Arg(T.ARG_PTR_TO_MAP_VALUE)
VALUE_UNINIT = Arg(T.ARG_PTR_TO_MAP_VALUE, _F.MEM_UNINIT | _F.MEM_WRITE)
VALUE_OR_NULL = Arg(T.ARG_PTR_TO_MAP_VALUE, _F.PTR_MAYBE_NULL)
MEM = Arg(T.ARG_PTR_TO_MEM)
MEM_RO = Arg(T.ARG_PTR_TO_MEM, _F.MEM_RDONLY)
MEM_RO_OR_NULL = Arg(T.ARG_PTR_TO_MEM, _F.PTR_MAYBE_NULL | _F.MEM_RDONLY)
MEM_W = Arg(T.ARG_PTR_TO_MEM, _F.MEM_WRITE)
UNINIT = Arg(T.ARG_PTR_TO_MEM, _F.MEM_UNINIT | _F.MEM_WRITE)
SIZE = Arg(T.ARG_CONST_SIZE)
SIZE0 = Arg(T.ARG_CONST_SIZE_OR_ZERO)
ALLOC0 = Arg(T.ARG_CONST_ALLOC_SIZE_OR_ZERO)
CTX = Arg(T.ARG_PTR_TO_CTX)
CTX_OR_NULL = Arg(T.ARG_PTR_TO_CTX, _F.PTR_MAYBE_NULL)
SOCK_COMMON = Arg(T.ARG_PTR_TO_SOCK_COMMON)
BTF_SOCK = Arg(T.ARG_PTR_TO_BTF_ID_SOCK_COMMON)
SOCKET_OR_NULL_ARG = Arg(T.ARG_PTR_TO_SOCKET, _F.PTR_MAYBE_NULL)
BTF_SOCK_RELEASE = Arg(T.ARG_PTR_TO_BTF_ID_SOCK_COMMON, _F.OBJ_RELEASE)
FUNC = Arg(T.ARG_PTR_TO_FUNC)
STACK_OR_NULL = Arg(T.ARG_PTR_TO_STACK, _F.PTR_MAYBE_NULL)
CONST_STR = Arg(T.ARG_PTR_TO_CONST_STR)
TIMER = Arg(T.ARG_PTR_TO_TIMER)
SPIN_LOCK = Arg(T.ARG_PTR_TO_SPIN_LOCK)
RINGBUF_RELEASE = Arg(T.ARG_PTR_TO_RINGBUF_MEM, _F.OBJ_RELEASE)
PERCPU_BTF = Arg(T.ARG_PTR_TO_PERCPU_BTF_ID)
MEM_W_OR_NULL = Arg(T.ARG_PTR_TO_MEM, _F.PTR_MAYBE_NULL | _F.MEM_WRITE)
DYNPTR_RO = Arg(T.ARG_PTR_TO_DYNPTR, _F.MEM_RDONLY)
DYNPTR_LOCAL_OUT = Arg(T.ARG_PTR_TO_DYNPTR, _F.DYNPTR_TYPE_LOCAL | _F.MEM_UNINIT)
DYNPTR_RINGBUF_OUT = Arg(T.ARG_PTR_TO_DYNPTR, _F.DYNPTR_TYPE_RINGBUF | _F.MEM_UNINIT)
DYNPTR_RINGBUF_RELEASE = Arg(T.ARG_PTR_TO_DYNPTR, _F.DYNPTR_TYPE_RINGBUF | _F.OBJ_RELEASE)


def _fixed(size: int, flags: TypeFlag = NOFLAGS) -> Arg:
    return Arg(T.ARG_PTR_TO_MEM, _F.MEM_FIXED_SIZE | flags, size=size)


def _btf(struct: str, flags: TypeFlag = NOFLAGS) -> Arg:
    return Arg(T.ARG_PTR_TO_BTF_ID, flags, btf_id=struct)


LONG_OUT = _fixed(8, _F.MEM_UNINIT | _F.MEM_WRITE | _F.MEM_ALIGNED)  # was ARG_PTR_TO_LONG
R = RetType
INT = Ret(R.RET_INTEGER)
VOID = Ret(R.RET_VOID)
MAP_VALUE_OR_NULL = Ret(R.RET_PTR_TO_MAP_VALUE, _F.PTR_MAYBE_NULL)
SOCKET_OR_NULL = Ret(R.RET_PTR_TO_SOCKET, _F.PTR_MAYBE_NULL)
TCP_SOCK_OR_NULL = Ret(R.RET_PTR_TO_TCP_SOCK, _F.PTR_MAYBE_NULL)
SOCK_COMMON_OR_NULL = Ret(R.RET_PTR_TO_SOCK_COMMON, _F.PTR_MAYBE_NULL)
RINGBUF_MEM_OR_NULL = Ret(R.RET_PTR_TO_MEM, _F.PTR_MAYBE_NULL | _F.MEM_RINGBUF)


def _btf_or_null(struct: str) -> Ret:
    return Ret(R.RET_PTR_TO_BTF_ID, _F.PTR_MAYBE_NULL, btf_id=struct)


_SIG = re.compile(r"^(?P<ret>.*?)\s*\bbpf_(?P<name>\w+)\((?P<params>.*)\)$")


def _h(sig: str, ret: Ret, *args: Arg, gpl: bool = False, pkt: bool = False,
       sleep: bool = False, acquire: bool = False, kp: str = "",
       unchecked: bool = False) -> HelperProto:
    """A proto from its UAPI C declaration and its kernel types (`unchecked`: the C
    declaration has parameters after these the verifier leaves alone)."""
    m = _SIG.match(sig)
    if not m:
        raise ValueError(f"bad signature {sig!r}")
    name = m["name"]
    decls = [] if m["params"] == "void" else [p.strip() for p in m["params"].split(",")]
    if len(decls) < len(args) or (len(decls) > len(args) and not unchecked):
        raise ValueError(f"{name}: {len(decls)} C params for {len(args)} args")
    return HelperProto(
        id=HELPER_IDS[name], name=name, ret=ret,
        args=tuple(a.with_decl(d) for a, d in zip(args, decls)), gpl_only=gpl,
        pkt_access=pkt, might_sleep=sleep, acquire=acquire,
        kernel_proto=kp or f"bpf_{name}_proto", ret_ctype=m["ret"],
        unchecked_decls=tuple(decls[len(args):]))


_TRACING_SOCK = "sock_common"  # arg_btf_id of the in-kernel socket pointers

# Generic protos (one per helper; bpf_base_func_proto's, or the most common one).
_GENERIC: list[HelperProto] = [
    # maps
    _h("void *bpf_map_lookup_elem(struct bpf_map *map, const void *key)",
       MAP_VALUE_OR_NULL, MAP, KEY, pkt=True),
    _h("long bpf_map_update_elem(struct bpf_map *map, const void *key, const void *value,"
       " u64 flags)", INT, MAP, KEY, VALUE, ANY, pkt=True),
    _h("long bpf_map_delete_elem(struct bpf_map *map, const void *key)", INT, MAP, KEY,
       pkt=True),
    _h("long bpf_map_push_elem(struct bpf_map *map, const void *value, u64 flags)",
       INT, MAP, VALUE, ANY, pkt=True),
    _h("long bpf_map_pop_elem(struct bpf_map *map, void *value)", INT, MAP, VALUE_UNINIT),
    _h("long bpf_map_peek_elem(struct bpf_map *map, void *value)", INT, MAP, VALUE_UNINIT),
    _h("void *bpf_map_lookup_percpu_elem(struct bpf_map *map, const void *key, u32 cpu)",
       MAP_VALUE_OR_NULL, MAP, KEY, ANY, pkt=True),
    _h("void *bpf_get_local_storage(void *map, u64 flags)",
       Ret(R.RET_PTR_TO_MAP_VALUE), MAP, ANY),
    _h("void *bpf_task_storage_get(struct bpf_map *map, struct task_struct *task,"
       " void *value, u64 flags)", MAP_VALUE_OR_NULL, MAP,
       _btf("task_struct", _F.PTR_MAYBE_NULL), VALUE_OR_NULL, ANY),
    _h("long bpf_task_storage_delete(struct bpf_map *map, struct task_struct *task)",
       INT, MAP, _btf("task_struct", _F.PTR_MAYBE_NULL)),
    _h("void *bpf_cgrp_storage_get(struct bpf_map *map, struct cgroup *cgroup,"
       " void *value, u64 flags)", MAP_VALUE_OR_NULL, MAP,
       _btf("cgroup", _F.PTR_MAYBE_NULL), VALUE_OR_NULL, ANY),
    _h("long bpf_cgrp_storage_delete(struct bpf_map *map, struct cgroup *cgroup)",
       INT, MAP, _btf("cgroup")),
    _h("long bpf_for_each_map_elem(struct bpf_map *map, void *callback_fn,"
       " void *callback_ctx, u64 flags)", INT, MAP, FUNC, STACK_OR_NULL, ANY),
    _h("long bpf_loop(u32 nr_loops, void *callback_fn, void *callback_ctx, u64 flags)",
       INT, ANY, FUNC, STACK_OR_NULL, ANY),
    _h("long bpf_tail_call(void *ctx, struct bpf_map *prog_array_map, u32 index)",
       VOID, CTX, MAP, ANY),
    # time, cpu, randomness
    _h("u64 bpf_ktime_get_ns(void)", INT),
    _h("u64 bpf_ktime_get_boot_ns(void)", INT),
    _h("u64 bpf_ktime_get_coarse_ns(void)", INT),
    _h("u64 bpf_ktime_get_tai_ns(void)", INT),
    _h("u64 bpf_jiffies64(void)", INT),
    _h("u32 bpf_get_prandom_u32(void)", INT),
    _h("u32 bpf_get_smp_processor_id(void)", INT),
    _h("long bpf_get_numa_node_id(void)", INT),
    # strings and printing
    _h("long bpf_trace_printk(const char *fmt, u32 fmt_size, ...)", INT, MEM_RO, SIZE,
       gpl=True, unchecked=True),
    _h("long bpf_trace_vprintk(const char *fmt, u32 fmt_size, const void *data,"
       " u32 data_len)", INT, MEM_RO, SIZE, MEM_RO_OR_NULL, SIZE0, gpl=True),
    _h("long bpf_snprintf(char *str, u32 str_size, const char *fmt, u64 *data,"
       " u32 data_len)", INT, MEM_W_OR_NULL, SIZE0, CONST_STR, MEM_RO_OR_NULL, SIZE0,
       gpl=True),
    _h("long bpf_strtol(const char *buf, size_t buf_len, u64 flags, long *res)",
       INT, MEM_RO, SIZE, ANY, LONG_OUT),
    _h("long bpf_strtoul(const char *buf, size_t buf_len, u64 flags, unsigned long *res)",
       INT, MEM_RO, SIZE, ANY, LONG_OUT),
    _h("long bpf_strncmp(const char *s1, u32 s1_sz, const char *s2)",
       INT, MEM_RO, SIZE, CONST_STR),
    # current task
    _h("u64 bpf_get_current_pid_tgid(void)", INT),
    _h("u64 bpf_get_current_uid_gid(void)", INT),
    _h("long bpf_get_current_comm(void *buf, u32 size_of_buf)", INT, UNINIT, SIZE),
    _h("u64 bpf_get_current_cgroup_id(void)", INT),
    _h("u64 bpf_get_current_ancestor_cgroup_id(int ancestor_level)", INT, ANY),
    _h("u64 bpf_get_current_task(void)", INT, gpl=True),
    _h("struct task_struct *bpf_get_current_task_btf(void)",
       Ret(R.RET_PTR_TO_BTF_ID, _F.PTR_TRUSTED, btf_id="task_struct"), gpl=True),
    _h("long bpf_get_ns_current_pid_tgid(u64 dev, u64 ino, struct bpf_pidns_info *nsdata,"
       " u32 size)", INT, ANY, ANY, UNINIT, SIZE),
    _h("long bpf_current_task_under_cgroup(struct bpf_map *map, u32 index)",
       INT, MAP, ANY),
    _h("long bpf_send_signal(u32 sig)", INT, ANY),
    _h("long bpf_send_signal_thread(u32 sig)", INT, ANY),
    _h("long bpf_task_pt_regs(struct task_struct *task)",
       Ret(R.RET_PTR_TO_BTF_ID, btf_id="pt_regs"), _btf("task_struct")),
    # memory reads
    _h("long bpf_probe_read_user(void *dst, u32 size, const void *unsafe_ptr)",
       INT, UNINIT, SIZE0, ANY, gpl=True),
    _h("long bpf_probe_read_kernel(void *dst, u32 size, const void *unsafe_ptr)",
       INT, UNINIT, SIZE0, ANY, gpl=True),
    _h("long bpf_probe_read_user_str(void *dst, u32 size, const void *unsafe_ptr)",
       INT, UNINIT, SIZE0, ANY, gpl=True),
    _h("long bpf_probe_read_kernel_str(void *dst, u32 size, const void *unsafe_ptr)",
       INT, UNINIT, SIZE0, ANY, gpl=True),
    _h("long bpf_probe_read(void *dst, u32 size, const void *unsafe_ptr)",
       INT, UNINIT, SIZE0, ANY, gpl=True, kp="bpf_probe_read_compat_proto"),
    _h("long bpf_probe_read_str(void *dst, u32 size, const void *unsafe_ptr)",
       INT, UNINIT, SIZE0, ANY, gpl=True, kp="bpf_probe_read_compat_str_proto"),
    _h("long bpf_copy_from_user(void *dst, u32 size, const void *user_ptr)",
       INT, UNINIT, SIZE0, ANY, sleep=True),
    _h("long bpf_copy_from_user_task(void *dst, u32 size, const void *user_ptr,"
       " struct task_struct *tsk, u64 flags)",
       INT, UNINIT, SIZE0, ANY, _btf("task_struct"), ANY, gpl=True, sleep=True),
    _h("void *bpf_this_cpu_ptr(const void *percpu_ptr)",
       Ret(R.RET_PTR_TO_MEM_OR_BTF_ID, _F.MEM_RDONLY), PERCPU_BTF),
    _h("void *bpf_per_cpu_ptr(const void *percpu_ptr, u32 cpu)",
       Ret(R.RET_PTR_TO_MEM_OR_BTF_ID, _F.PTR_MAYBE_NULL | _F.MEM_RDONLY), PERCPU_BTF, ANY),
    # tracing
    _h("long bpf_perf_event_output(void *ctx, struct bpf_map *map, u64 flags, void *data,"
       " u64 size)", INT, CTX, MAP, ANY, MEM_RO, SIZE0, gpl=True),
    _h("u64 bpf_perf_event_read(struct bpf_map *map, u64 flags)", INT, MAP, ANY, gpl=True),
    _h("long bpf_perf_event_read_value(struct bpf_map *map, u64 flags,"
       " struct bpf_perf_event_value *buf, u32 buf_size)", INT, MAP, ANY, UNINIT, SIZE,
       gpl=True),
    _h("long bpf_get_stackid(void *ctx, struct bpf_map *map, u64 flags)",
       INT, CTX, MAP, ANY, gpl=True),
    _h("long bpf_get_stack(void *ctx, void *buf, u32 size, u64 flags)",
       INT, CTX, UNINIT, SIZE0, ANY, gpl=True),
    _h("long bpf_get_task_stack(struct task_struct *task, void *buf, u32 size, u64 flags)",
       INT, _btf("task_struct"), UNINIT, SIZE0, ANY),
    _h("long bpf_find_vma(struct task_struct *task, u64 addr, void *callback_fn,"
       " void *callback_ctx, u64 flags)",
       INT, _btf("task_struct"), ANY, FUNC, STACK_OR_NULL, ANY),
    _h("long bpf_perf_prog_read_value(struct bpf_perf_event_data *ctx,"
       " struct bpf_perf_event_value *buf, u32 buf_size)", INT, CTX, UNINIT, SIZE, gpl=True),
    _h("long bpf_read_branch_records(struct bpf_perf_event_data *ctx, void *buf, u32 size,"
       " u64 flags)", INT, CTX, MEM_W_OR_NULL, SIZE0, ANY, gpl=True),
    _h("long bpf_get_branch_snapshot(void *entries, u32 size, u64 flags)",
       INT, UNINIT, SIZE0, gpl=True, unchecked=True),
    _h("long bpf_snprintf_btf(char *str, u32 str_size, struct btf_ptr *ptr,"
       " u32 btf_ptr_size, u64 flags)", INT, MEM_W, SIZE, MEM_RO, SIZE, ANY),
    _h("u64 bpf_get_func_ip(void *ctx)", INT, CTX, gpl=True,
       kp="bpf_get_func_ip_proto_kprobe"),
    _h("u64 bpf_get_attach_cookie(void *ctx)", INT, CTX,
       kp="bpf_get_attach_cookie_proto_trace"),
    # ring buffer
    _h("long bpf_ringbuf_output(void *ringbuf, void *data, u64 size, u64 flags)",
       INT, MAP, MEM_RO, SIZE0, ANY),
    _h("void *bpf_ringbuf_reserve(void *ringbuf, u64 size, u64 flags)",
       RINGBUF_MEM_OR_NULL, MAP, ALLOC0, ANY, acquire=True),
    _h("void bpf_ringbuf_submit(void *data, u64 flags)", VOID, RINGBUF_RELEASE, ANY),
    _h("void bpf_ringbuf_discard(void *data, u64 flags)", VOID, RINGBUF_RELEASE, ANY),
    _h("u64 bpf_ringbuf_query(void *ringbuf, u64 flags)", INT, MAP, ANY),
    _h("long bpf_ringbuf_reserve_dynptr(void *ringbuf, u32 size, u64 flags,"
       " struct bpf_dynptr *ptr)", INT, MAP, ANY, ANY, DYNPTR_RINGBUF_OUT),
    _h("void bpf_ringbuf_submit_dynptr(struct bpf_dynptr *ptr, u64 flags)",
       VOID, DYNPTR_RINGBUF_RELEASE, ANY),
    _h("void bpf_ringbuf_discard_dynptr(struct bpf_dynptr *ptr, u64 flags)",
       VOID, DYNPTR_RINGBUF_RELEASE, ANY),
    _h("long bpf_user_ringbuf_drain(struct bpf_map *map, void *callback_fn, void *ctx,"
       " u64 flags)", INT, MAP, FUNC, STACK_OR_NULL, ANY),
    # dynptrs
    _h("long bpf_dynptr_from_mem(void *data, u32 size, u64 flags, struct bpf_dynptr *ptr)",
       INT, UNINIT, SIZE0, ANY, DYNPTR_LOCAL_OUT),
    _h("long bpf_dynptr_read(void *dst, u32 len, const struct bpf_dynptr *src, u32 offset,"
       " u64 flags)", INT, UNINIT, SIZE0, DYNPTR_RO, ANY, ANY),
    _h("long bpf_dynptr_write(const struct bpf_dynptr *dst, u32 offset, void *src, u32 len,"
       " u64 flags)", INT, DYNPTR_RO, ANY, MEM_RO, SIZE0, ANY),
    _h("void *bpf_dynptr_data(const struct bpf_dynptr *ptr, u32 offset, u32 len)",
       Ret(R.RET_PTR_TO_MEM, _F.PTR_MAYBE_NULL), DYNPTR_RO, ANY, ALLOC0),
    # locks and timers (their map values need BTF)
    _h("long bpf_spin_lock(struct bpf_spin_lock *lock)", VOID, SPIN_LOCK),
    _h("long bpf_spin_unlock(struct bpf_spin_lock *lock)", VOID, SPIN_LOCK),
    _h("long bpf_timer_init(struct bpf_timer *timer, struct bpf_map *map, u64 flags)",
       INT, TIMER, MAP, ANY, gpl=True),
    _h("long bpf_timer_set_callback(struct bpf_timer *timer, void *callback_fn)",
       INT, TIMER, FUNC, gpl=True),
    _h("long bpf_timer_start(struct bpf_timer *timer, u64 nsecs, u64 flags)",
       INT, TIMER, ANY, ANY, gpl=True),
    _h("long bpf_timer_cancel(struct bpf_timer *timer)", INT, TIMER, gpl=True),
    # skb
    _h("long bpf_skb_store_bytes(struct sk_buff *skb, u32 offset, const void *from,"
       " u32 len, u64 flags)", INT, CTX, ANY, MEM_RO, SIZE, ANY),
    _h("long bpf_skb_load_bytes(const void *skb, u32 offset, void *to, u32 len)",
       INT, CTX, ANY, UNINIT, SIZE),
    _h("long bpf_skb_load_bytes_relative(const void *skb, u32 offset, void *to, u32 len,"
       " u32 start_header)", INT, CTX, ANY, UNINIT, SIZE, ANY),
    _h("long bpf_skb_pull_data(struct sk_buff *skb, u32 len)", INT, CTX, ANY),
    _h("long bpf_l3_csum_replace(struct sk_buff *skb, u32 offset, u64 from, u64 to,"
       " u64 size)", INT, CTX, ANY, ANY, ANY, ANY),
    _h("long bpf_l4_csum_replace(struct sk_buff *skb, u32 offset, u64 from, u64 to,"
       " u64 flags)", INT, CTX, ANY, ANY, ANY, ANY),
    _h("s64 bpf_csum_diff(__be32 *from, u32 from_size, __be32 *to, u32 to_size,"
       " __wsum seed)", INT, MEM_RO_OR_NULL, SIZE0, MEM_RO_OR_NULL, SIZE0, ANY, pkt=True),
    _h("s64 bpf_csum_update(struct sk_buff *skb, __wsum csum)", INT, CTX, ANY),
    _h("long bpf_csum_level(struct sk_buff *skb, u64 level)", INT, CTX, ANY),
    _h("long bpf_clone_redirect(struct sk_buff *skb, u32 ifindex, u64 flags)",
       INT, CTX, ANY, ANY),
    _h("long bpf_redirect(u32 ifindex, u64 flags)", INT, ANY, ANY),
    _h("long bpf_redirect_peer(u32 ifindex, u64 flags)", INT, ANY, ANY),
    _h("long bpf_redirect_neigh(u32 ifindex, struct bpf_redir_neigh *params, int plen,"
       " u64 flags)", INT, ANY, MEM_RO_OR_NULL, SIZE0, ANY),
    _h("u32 bpf_get_cgroup_classid(struct sk_buff *skb)", INT, CTX),
    _h("u32 bpf_get_route_realm(struct sk_buff *skb)", INT, CTX),
    _h("u32 bpf_get_hash_recalc(struct sk_buff *skb)", INT, CTX),
    _h("void bpf_set_hash_invalid(struct sk_buff *skb)", INT, CTX),
    _h("long bpf_set_hash(struct sk_buff *skb, u32 hash)", INT, CTX, ANY),
    _h("long bpf_skb_vlan_push(struct sk_buff *skb, __be16 vlan_proto, u16 vlan_tci)",
       INT, CTX, ANY, ANY),
    _h("long bpf_skb_vlan_pop(struct sk_buff *skb)", INT, CTX),
    _h("long bpf_skb_change_proto(struct sk_buff *skb, __be16 proto, u64 flags)",
       INT, CTX, ANY, ANY),
    _h("long bpf_skb_change_type(struct sk_buff *skb, u32 type)", INT, CTX, ANY),
    _h("long bpf_skb_adjust_room(struct sk_buff *skb, s32 len_diff, u32 mode, u64 flags)",
       INT, CTX, ANY, ANY, ANY),
    _h("long bpf_skb_change_tail(struct sk_buff *skb, u32 len, u64 flags)",
       INT, CTX, ANY, ANY),
    _h("long bpf_skb_change_head(struct sk_buff *skb, u32 len, u64 flags)",
       INT, CTX, ANY, ANY),
    _h("long bpf_skb_get_tunnel_key(struct sk_buff *skb, struct bpf_tunnel_key *key,"
       " u32 size, u64 flags)", INT, CTX, UNINIT, SIZE, ANY),
    _h("long bpf_skb_set_tunnel_key(struct sk_buff *skb, struct bpf_tunnel_key *key,"
       " u32 size, u64 flags)", INT, CTX, MEM_RO, SIZE, ANY),
    _h("long bpf_skb_get_tunnel_opt(struct sk_buff *skb, void *opt, u32 size)",
       INT, CTX, UNINIT, SIZE),
    _h("long bpf_skb_set_tunnel_opt(struct sk_buff *skb, void *opt, u32 size)",
       INT, CTX, MEM_RO, SIZE),
    _h("long bpf_skb_get_xfrm_state(struct sk_buff *skb, u32 index,"
       " struct bpf_xfrm_state *xfrm_state, u32 size, u64 flags)",
       INT, CTX, ANY, UNINIT, SIZE, ANY),
    _h("long bpf_skb_under_cgroup(struct sk_buff *skb, struct bpf_map *map, u32 index)",
       INT, CTX, MAP, ANY),
    _h("u64 bpf_skb_cgroup_id(struct sk_buff *skb)", INT, CTX),
    _h("u64 bpf_skb_ancestor_cgroup_id(struct sk_buff *skb, int ancestor_level)",
       INT, CTX, ANY),
    _h("u64 bpf_skb_cgroup_classid(struct sk_buff *skb)", INT, CTX),
    _h("long bpf_skb_ecn_set_ce(struct sk_buff *skb)", INT, CTX),
    _h("long bpf_skb_set_tstamp(struct sk_buff *skb, u64 tstamp, u32 tstamp_type)",
       INT, CTX, ANY, ANY),
    _h("u64 bpf_get_socket_cookie(struct sk_buff *skb)", INT, CTX),
    _h("u32 bpf_get_socket_uid(struct sk_buff *skb)", INT, CTX),
    _h("u64 bpf_get_netns_cookie(void *ctx)", INT, CTX_OR_NULL,
       kp="bpf_get_netns_cookie_sk_msg_proto"),
    _h("long bpf_fib_lookup(void *ctx, struct bpf_fib_lookup *params, int plen,"
       " u32 flags)", INT, CTX, MEM_W, SIZE, ANY, gpl=True, kp="bpf_skb_fib_lookup_proto"),
    _h("long bpf_check_mtu(void *ctx, u32 ifindex, u32 *mtu_len, s32 len_diff, u64 flags)",
       INT, CTX, ANY, _fixed(4, _F.MEM_WRITE | _F.MEM_ALIGNED), ANY, ANY, gpl=True,
       kp="bpf_skb_check_mtu_proto"),
    _h("long bpf_lwt_push_encap(struct sk_buff *skb, u32 type, void *hdr, u32 len)",
       INT, CTX, ANY, MEM_RO, SIZE, kp="bpf_lwt_in_push_encap_proto"),
    # sockets
    _h("struct bpf_sock *bpf_sk_lookup_tcp(void *ctx, struct bpf_sock_tuple *tuple,"
       " u32 tuple_size, u64 netns, u64 flags)",
       SOCKET_OR_NULL, CTX, MEM_RO, SIZE0, ANY, ANY, pkt=True, acquire=True),
    _h("struct bpf_sock *bpf_sk_lookup_udp(void *ctx, struct bpf_sock_tuple *tuple,"
       " u32 tuple_size, u64 netns, u64 flags)",
       SOCKET_OR_NULL, CTX, MEM_RO, SIZE0, ANY, ANY, pkt=True, acquire=True),
    _h("struct bpf_sock *bpf_skc_lookup_tcp(void *ctx, struct bpf_sock_tuple *tuple,"
       " u32 tuple_size, u64 netns, u64 flags)",
       SOCK_COMMON_OR_NULL, CTX, MEM_RO, SIZE0, ANY, ANY, pkt=True, acquire=True),
    _h("long bpf_sk_release(void *sock)", INT, BTF_SOCK_RELEASE),
    _h("struct bpf_sock *bpf_sk_fullsock(struct bpf_sock *sk)", SOCKET_OR_NULL,
       SOCK_COMMON),
    _h("struct bpf_tcp_sock *bpf_tcp_sock(struct bpf_sock *sk)", TCP_SOCK_OR_NULL,
       SOCK_COMMON),
    _h("struct bpf_sock *bpf_get_listener_sock(struct bpf_sock *sk)", SOCKET_OR_NULL,
       SOCK_COMMON),
    _h("long bpf_sk_assign(struct sk_buff *skb, void *sk, u64 flags)",
       INT, CTX, BTF_SOCK, ANY, kp="bpf_tc_sk_assign_proto"),
    _h("u64 bpf_sk_cgroup_id(void *sk)", INT, BTF_SOCK),
    _h("u64 bpf_sk_ancestor_cgroup_id(void *sk, int ancestor_level)", INT, BTF_SOCK, ANY),
    _h("void *bpf_sk_storage_get(struct bpf_map *map, void *sk, void *value, u64 flags)",
       MAP_VALUE_OR_NULL, MAP, BTF_SOCK, VALUE_OR_NULL, ANY),
    _h("long bpf_sk_storage_delete(struct bpf_map *map, void *sk)", INT, MAP, BTF_SOCK),
    _h("long bpf_tcp_check_syncookie(void *sk, void *iph, u32 iph_len, struct tcphdr *th,"
       " u32 th_len)", INT, BTF_SOCK, MEM_RO, SIZE, MEM_RO, SIZE, gpl=True, pkt=True),
    _h("s64 bpf_tcp_gen_syncookie(void *sk, void *iph, u32 iph_len, struct tcphdr *th,"
       " u32 th_len)", INT, BTF_SOCK, MEM_RO, SIZE, MEM_RO, SIZE, gpl=True, pkt=True),
    _h("struct tcp6_sock *bpf_skc_to_tcp6_sock(void *sk)", _btf_or_null("tcp6_sock"),
       BTF_SOCK),
    _h("struct tcp_sock *bpf_skc_to_tcp_sock(void *sk)", _btf_or_null("tcp_sock"),
       BTF_SOCK),
    _h("struct tcp_timewait_sock *bpf_skc_to_tcp_timewait_sock(void *sk)",
       _btf_or_null("tcp_timewait_sock"), BTF_SOCK),
    _h("struct tcp_request_sock *bpf_skc_to_tcp_request_sock(void *sk)",
       _btf_or_null("tcp_request_sock"), BTF_SOCK),
    _h("struct udp6_sock *bpf_skc_to_udp6_sock(void *sk)", _btf_or_null("udp6_sock"),
       BTF_SOCK),
    _h("struct unix_sock *bpf_skc_to_unix_sock(void *sk)", _btf_or_null("unix_sock"),
       BTF_SOCK),
    _h("struct mptcp_sock *bpf_skc_to_mptcp_sock(void *sk)", _btf_or_null("mptcp_sock"),
       SOCK_COMMON),
    # raw SYN cookies (struct iphdr 20, ipv6hdr 40, tcphdr 20 bytes)
    _h("s64 bpf_tcp_raw_gen_syncookie_ipv4(struct iphdr *iph, struct tcphdr *th,"
       " u32 th_len)", INT, _fixed(20, _F.MEM_RDONLY), MEM_RO, SIZE0, gpl=True, pkt=True),
    _h("s64 bpf_tcp_raw_gen_syncookie_ipv6(struct ipv6hdr *iph, struct tcphdr *th,"
       " u32 th_len)", INT, _fixed(40, _F.MEM_RDONLY), MEM_RO, SIZE0, gpl=True, pkt=True),
    _h("long bpf_tcp_raw_check_syncookie_ipv4(struct iphdr *iph, struct tcphdr *th)",
       INT, _fixed(20, _F.MEM_RDONLY), _fixed(20, _F.MEM_RDONLY), gpl=True, pkt=True),
    _h("long bpf_tcp_raw_check_syncookie_ipv6(struct ipv6hdr *iph, struct tcphdr *th)",
       INT, _fixed(40, _F.MEM_RDONLY), _fixed(20, _F.MEM_RDONLY), gpl=True, pkt=True),
    # xdp
    _h("long bpf_xdp_adjust_head(struct xdp_buff *xdp_md, int delta)", INT, CTX, ANY),
    _h("long bpf_xdp_adjust_tail(struct xdp_buff *xdp_md, int delta)", INT, CTX, ANY),
    _h("long bpf_xdp_adjust_meta(struct xdp_buff *xdp_md, int delta)", INT, CTX, ANY),
    _h("u64 bpf_xdp_get_buff_len(struct xdp_buff *xdp_md)", INT, CTX),
    _h("long bpf_xdp_load_bytes(struct xdp_buff *xdp_md, u32 offset, void *buf, u32 len)",
       INT, CTX, ANY, UNINIT, SIZE),
    _h("long bpf_xdp_store_bytes(struct xdp_buff *xdp_md, u32 offset, void *buf, u32 len)",
       INT, CTX, ANY, MEM_RO, SIZE),
    _h("long bpf_redirect_map(struct bpf_map *map, u64 key, u64 flags)",
       INT, MAP, ANY, ANY, kp="bpf_xdp_redirect_map_proto"),
    # sockmap: sk_skb and sk_msg
    _h("long bpf_sk_redirect_map(struct sk_buff *skb, struct bpf_map *map, u32 key, "
       "u64 flags)", INT, CTX, MAP, ANY, ANY),
    _h("long bpf_sk_redirect_hash(struct sk_buff *skb, struct bpf_map *map, void *key, "
       "u64 flags)", INT, CTX, MAP, KEY, ANY),
    _h("long bpf_msg_redirect_map(struct sk_msg_buff *msg, struct bpf_map *map, u32 key, "
       "u64 flags)", INT, CTX, MAP, ANY, ANY),
    _h("long bpf_msg_redirect_hash(struct sk_msg_buff *msg, struct bpf_map *map, void *key, "
       "u64 flags)", INT, CTX, MAP, KEY, ANY),
    _h("long bpf_msg_apply_bytes(struct sk_msg_buff *msg, u32 bytes)", INT, CTX, ANY),
    _h("long bpf_msg_cork_bytes(struct sk_msg_buff *msg, u32 bytes)", INT, CTX, ANY),
    _h("long bpf_msg_pull_data(struct sk_msg_buff *msg, u32 start, u32 end, u64 flags)",
       INT, CTX, ANY, ANY, ANY),
    _h("long bpf_msg_push_data(struct sk_msg_buff *msg, u32 start, u32 len, u64 flags)",
       INT, CTX, ANY, ANY, ANY),
    _h("long bpf_msg_pop_data(struct sk_msg_buff *msg, u32 start, u32 len, u64 flags)",
       INT, CTX, ANY, ANY, ANY),
]

_BY_ID: dict[int, HelperProto] = {p.id: p for p in _GENERIC}
if len(_BY_ID) != len(_GENERIC):  # pragma: no cover - a table typo
    raise RuntimeError("helper_protos: duplicate helper in the table")


def _variant(name: str, kp: str, *args: Arg, sig: str | None = None,
             **changes: object) -> HelperProto:
    """A copy of the generic proto of `name` under another kernel symbol, with other
    args (same C declarations unless `sig` gives new ones)."""
    base = _BY_ID[HELPER_IDS[name]]
    if sig is not None:
        p = _h(sig, changes.pop("ret", base.ret),  # type: ignore[arg-type]  # a Ret
               *(args or base.args),
               gpl=changes.pop("gpl", base.gpl_only),  # type: ignore[arg-type]  # a bool
               pkt=base.pkt_access,
               sleep=base.might_sleep, acquire=base.acquire, kp=kp,
               unchecked=bool(base.unchecked_decls))
    else:
        new_args = base.args if not args else tuple(
            a.with_decl(b.decl) for a, b in zip(args, base.args))
        p = HelperProto(base.id, base.name, base.ret, new_args, base.gpl_only,
                        base.pkt_access, base.might_sleep, base.acquire, kp, base.ret_ctype,
                        base.unchecked_decls)
    if changes:
        p = HelperProto(**{**p.__dict__, **changes})
    return p


_SKB = (ProgType.SOCKET_FILTER, ProgType.SCHED_CLS, ProgType.SCHED_ACT, ProgType.CGROUP_SKB,
        ProgType.LWT_IN, ProgType.LWT_OUT, ProgType.LWT_XMIT, ProgType.LWT_SEG6LOCAL,
        ProgType.SK_SKB)
_TC = (ProgType.SCHED_CLS, ProgType.SCHED_ACT)
_LWT = (ProgType.LWT_IN, ProgType.LWT_OUT, ProgType.LWT_XMIT, ProgType.LWT_SEG6LOCAL)
_KPROBE_LIKE = (ProgType.KPROBE, ProgType.PERF_EVENT)
_RAW_TP = (ProgType.RAW_TRACEPOINT, ProgType.RAW_TRACEPOINT_WRITABLE)
_BTF_TRACING = (ProgType.TRACING, ProgType.LSM)

# helper name -> ((prog types, proto), ...): the per-type protos the kernel's
# <type>_func_proto picks; a type not listed gets the generic proto.
_VARIANTS: dict[str, tuple[tuple[tuple[ProgType, ...], HelperProto], ...]] = {
    "perf_event_output": (
        (_KPROBE_LIKE, _variant("perf_event_output", "bpf_perf_event_output_proto")),
        ((ProgType.TRACEPOINT,), _variant("perf_event_output",
                                          "bpf_perf_event_output_proto_tp")),
        (_RAW_TP + _BTF_TRACING, _variant("perf_event_output",
                                          "bpf_perf_event_output_proto_raw_tp")),
        (_SKB, _variant("perf_event_output", "bpf_skb_event_output_proto")),
        ((ProgType.XDP,), _variant("perf_event_output", "bpf_xdp_event_output_proto")),
    ),
    "get_stackid": (
        ((ProgType.KPROBE,), _variant("get_stackid", "bpf_get_stackid_proto")),
        ((ProgType.TRACEPOINT,), _variant("get_stackid", "bpf_get_stackid_proto_tp")),
        (_RAW_TP + _BTF_TRACING, _variant("get_stackid", "bpf_get_stackid_proto_raw_tp")),
        ((ProgType.PERF_EVENT,), _variant("get_stackid", "bpf_get_stackid_proto_pe",
                                          gpl_only=False)),
    ),
    "get_stack": (
        ((ProgType.KPROBE,), _variant("get_stack", "bpf_get_stack_proto")),
        ((ProgType.TRACEPOINT,), _variant("get_stack", "bpf_get_stack_proto_tp")),
        (_RAW_TP + _BTF_TRACING, _variant("get_stack", "bpf_get_stack_proto_raw_tp")),
        ((ProgType.PERF_EVENT,), _variant("get_stack", "bpf_get_stack_proto_pe")),
    ),
    "get_func_ip": (
        ((ProgType.KPROBE,), _variant("get_func_ip", "bpf_get_func_ip_proto_kprobe")),
        ((ProgType.TRACEPOINT, ProgType.PERF_EVENT) + _RAW_TP,
         _variant("get_func_ip", "bpf_get_func_ip_proto_tracing")),
    ),
    "get_attach_cookie": (
        ((ProgType.KPROBE, ProgType.TRACEPOINT),
         _variant("get_attach_cookie", "bpf_get_attach_cookie_proto_trace")),
        ((ProgType.PERF_EVENT,), _variant("get_attach_cookie",
                                          "bpf_get_attach_cookie_proto_pe")),
        (_RAW_TP + _BTF_TRACING, _variant("get_attach_cookie",
                                          "bpf_get_attach_cookie_proto_tracing")),
    ),
    "get_socket_cookie": (
        (_SKB, _variant("get_socket_cookie", "bpf_get_socket_cookie_proto")),
        ((ProgType.CGROUP_SOCK_ADDR,), _variant(
            "get_socket_cookie", "bpf_get_socket_cookie_sock_addr_proto",
            sig="u64 bpf_get_socket_cookie(struct bpf_sock_addr *ctx)")),
        ((ProgType.SOCK_OPS,), _variant(
            "get_socket_cookie", "bpf_get_socket_cookie_sock_ops_proto",
            sig="u64 bpf_get_socket_cookie(struct bpf_sock_ops *ctx)")),
        ((ProgType.CGROUP_SOCK,), _variant(
            "get_socket_cookie", "bpf_get_socket_cookie_sock_proto",
            sig="u64 bpf_get_socket_cookie(struct bpf_sock *ctx)")),
        (_BTF_TRACING, _variant(
            "get_socket_cookie", "bpf_get_socket_ptr_cookie_proto", BTF_SOCK,
            sig="u64 bpf_get_socket_cookie(struct sock *sk)")),
    ),
    # the skb's classid in tc and lwt programs; every other type gets the current
    # task's (bpf_base_func_proto), which takes no argument
    "get_cgroup_classid": (
        (tuple(t for t in ProgType if t not in _TC + _LWT), _variant(
            "get_cgroup_classid", "bpf_get_cgroup_classid_curr_proto", args=())),
    ),
    "get_netns_cookie": (
        (_SKB, _variant("get_netns_cookie", "bpf_get_netns_cookie_proto")),
    ),
    "fib_lookup": (
        (_TC, _variant("fib_lookup", "bpf_skb_fib_lookup_proto")),
        ((ProgType.XDP,), _variant("fib_lookup", "bpf_xdp_fib_lookup_proto")),
    ),
    "check_mtu": (
        (_TC, _variant("check_mtu", "bpf_skb_check_mtu_proto")),
        ((ProgType.XDP,), _variant("check_mtu", "bpf_xdp_check_mtu_proto")),
    ),
    "redirect": (
        (_TC + (ProgType.LWT_XMIT,), _variant("redirect", "bpf_redirect_proto")),
        ((ProgType.XDP,), _variant("redirect", "bpf_xdp_redirect_proto")),
    ),
    "sk_lookup_tcp": (
        (_SKB, _variant("sk_lookup_tcp", "bpf_sk_lookup_tcp_proto")),
        ((ProgType.XDP,), _variant("sk_lookup_tcp", "bpf_xdp_sk_lookup_tcp_proto")),
        ((ProgType.CGROUP_SOCK_ADDR,), _variant("sk_lookup_tcp",
                                                "bpf_sock_addr_sk_lookup_tcp_proto")),
    ),
    "sk_lookup_udp": (
        (_SKB, _variant("sk_lookup_udp", "bpf_sk_lookup_udp_proto")),
        ((ProgType.XDP,), _variant("sk_lookup_udp", "bpf_xdp_sk_lookup_udp_proto")),
        ((ProgType.CGROUP_SOCK_ADDR,), _variant("sk_lookup_udp",
                                                "bpf_sock_addr_sk_lookup_udp_proto")),
    ),
    "skc_lookup_tcp": (
        (_SKB, _variant("skc_lookup_tcp", "bpf_skc_lookup_tcp_proto")),
        ((ProgType.XDP,), _variant("skc_lookup_tcp", "bpf_xdp_skc_lookup_tcp_proto")),
        ((ProgType.CGROUP_SOCK_ADDR,), _variant("skc_lookup_tcp",
                                                "bpf_sock_addr_skc_lookup_tcp_proto")),
    ),
    "lwt_push_encap": (
        ((ProgType.LWT_IN,), _variant("lwt_push_encap", "bpf_lwt_in_push_encap_proto")),
        ((ProgType.LWT_XMIT,), _variant("lwt_push_encap",
                                        "bpf_lwt_xmit_push_encap_proto")),
    ),
    "sk_assign": (
        ((ProgType.SK_LOOKUP,), _variant(
            "sk_assign", "bpf_sk_lookup_assign_proto", CTX, SOCKET_OR_NULL_ARG, ANY,
            sig="long bpf_sk_assign(struct bpf_sk_lookup *ctx, struct bpf_sock *sk, "
                "u64 flags)")),
    ),
    "sk_storage_get": (
        (_BTF_TRACING, _variant("sk_storage_get", "bpf_sk_storage_get_tracing_proto")),
    ),
    "sk_storage_delete": (
        (_BTF_TRACING, _variant("sk_storage_delete",
                                "bpf_sk_storage_delete_tracing_proto")),
    ),
}


# --- lookups ----------------------------------------------------------------------------

def _helper_id(helper: int | str) -> int:
    if isinstance(helper, str):
        name = helper.removeprefix("bpf_")
        if name not in HELPER_IDS:
            raise HelperProtoError(f"unknown helper {helper!r}")
        return HELPER_IDS[name]
    if helper not in HELPER_NAMES:
        raise HelperProtoError(f"unknown helper id {helper}")
    return int(helper)


def proto(helper: int | str) -> HelperProto:
    """The generic prototype of a helper (ID, or name with or without `bpf_`)."""
    hid = _helper_id(helper)
    p = _BY_ID.get(hid)
    if p is None:
        raise HelperProtoError(f"no prototype for bpf_{HELPER_NAMES[hid]} (#{hid})")
    return p


def proto_for(helper: int | str, prog_type: ProgType | int) -> HelperProto:
    """The prototype the kernel gives `helper` in a program of `prog_type`: the
    per-type variant where the kernel has several, else the generic one. (Whether the
    type may call the helper at all is `pybpf.progtypes.helpersets.is_allowed`.)"""
    p = proto(helper)
    try:
        pt = ProgType(prog_type)
    except ValueError:
        raise HelperProtoError(f"unknown program type {prog_type}") from None
    for types, v in _VARIANTS.get(p.name, ()):
        if pt in types:
            return v
    return p


def variants(helper: int | str) -> tuple[HelperProto, ...]:
    """Every proto the kernel has for a helper (the generic one first)."""
    p = proto(helper)
    out = [p]
    for _, v in _VARIANTS.get(p.name, ()):
        if v not in out:
            out.append(v)
    return tuple(out)


def all_protos() -> tuple[HelperProto, ...]:
    """The generic proto of every helper in the table, by ID."""
    return tuple(sorted(_BY_ID.values(), key=lambda p: p.id))


def render(helper: int | str, prog_type: ProgType | int | None = None) -> str:
    """The C declaration of a helper (of its variant for `prog_type`)."""
    p = proto(helper) if prog_type is None else proto_for(helper, prog_type)
    return p.render()


def describe(helpers: Iterable[int | str] | None = None,
             prog_type: ProgType | int | None = None, *, verbose: bool = False) -> str:
    """Text listing helpers (all in the table by default) as C declarations, one a line
    (`verbose`: with argument and return types). For `pybpf features`."""
    ids = [p.id for p in all_protos()] if helpers is None else [
        _helper_id(h) for h in helpers]
    lines = []
    for hid in ids:
        p = proto(hid) if prog_type is None else proto_for(hid, prog_type)
        lines.append(p.describe() if verbose else f"{hid:4d}  {p.render()}")
    return "\n".join(lines)
