"""Calls: helpers checked against their prototypes (pybpf.helper_protos: argument kinds,
memory and sizes, map pointers, references acquired and released, return types), the
program type's helper set and the license; BPF-to-BPF calls with a frame each; loop
callbacks (bpf_loop, bpf_for_each_map_elem, ...) explored as the kernel does, by
returning to the call site; tail calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from ..cpus import possible_cpus
from ..helper_ids import HELPER_NAMES
from ..helper_protos import (
    COMPATIBLE_REG_TYPES,
    Arg,
    ArgType,
    HelperProtoError,
    RetType,
    TypeFlag,
    proto_for,
)
from ..isa import BPF_PSEUDO_CALL, BPF_PSEUDO_KFUNC_CALL, Instruction
from ..uapi import AttachType, ProgType
from .btffunc import GlobalArg, GlobalFunc, changes_pkt_data, global_funcs
from .locks import (BPF_FUNC_SPIN_LOCK, check_call_while_locked, check_timer_map_arg,
                    process_spin_lock, process_timer_func)
from .reg import Reg, RegType, bounds_sync, mark_unknown, pointer, scalar_unknown
from .state import Frame, RefState, Slot

BPF_MAX_VAR_SIZ = 1 << 29
MAX_CALL_FRAMES = 8
CALLER_SAVED = (0, 1, 2, 3, 4, 5)
_NOT_INIT = Reg()  # read only: what a call leaves in r0-r5 (assigned, never changed)
_UNKNOWN = scalar_unknown()  # read only: a helper's integer result

# bpf_helper_changes_pkt_data: helpers after which every packet pointer is stale (not
# bpf_tail_call: the 6.18 kernel keeps packet pointers after a tail call that returns)
_CHANGES_PKT_DATA = frozenset({
    "clone_redirect", "l3_csum_replace", "l4_csum_replace", "lwt_push_encap",
    "lwt_seg6_action", "lwt_seg6_adjust_srh", "lwt_seg6_store_bytes", "msg_pop_data",
    "msg_pull_data", "msg_push_data", "skb_adjust_room", "skb_change_head",
    "skb_change_proto", "skb_change_tail", "skb_pull_data", "skb_store_bytes",
    "skb_vlan_pop", "skb_vlan_push", "store_hdr_opt", "xdp_adjust_head", "xdp_adjust_meta",
    "xdp_adjust_tail"})
# bpf_tail_call too, for a global function: its callers' packet pointers are cleared
_PKT_HELPER_IDS = frozenset({i for i, n in HELPER_NAMES.items()
                             if n in _CHANGES_PKT_DATA or n == "tail_call"})
# can_elide_value_nullness: array maps, whose lookup with a constant in-range key
# cannot fail
_ELIDE_NULL_MAPS = frozenset({2, 6})
# helpers whose callback is invoked in a loop, and the registers the callback gets
_CALLBACKS = {"loop": 1, "for_each_map_elem": 1, "find_vma": 2, "user_ringbuf_drain": 1}
_MAP_FUNCS = {  # map type -> helpers that may take it (check_map_func_compatibility)
    3: {"tail_call"},  # prog_array
    4: {"perf_event_read", "perf_event_output", "perf_event_read_value",
        "skb_output", "xdp_output"},  # perf_event_array
    27: {"ringbuf_output", "ringbuf_reserve", "ringbuf_query", "ringbuf_reserve_dynptr"},
}
_FUNC_MAPS = {"tail_call": {3}, "perf_event_output": {4}, "perf_event_read": {4},
              "perf_event_read_value": {4}, "ringbuf_output": {27}, "ringbuf_reserve": {27},
              "ringbuf_query": {27}, "redirect_map": {14, 16, 17, 25},
              "get_stackid": {7}, "sk_redirect_map": {15}, "msg_redirect_map": {15},
              "sock_map_update": {15}, "sk_redirect_hash": {18}, "msg_redirect_hash": {18},
              "sock_hash_update": {18}}


# the helpers that take a sockmap / sockhash whatever the program type
# (check_map_func_compatibility); updates and deletes depend on it (may_update_sockmap)
_SOCKMAP_FUNCS = {
    15: {"sk_redirect_map", "sock_map_update", "msg_redirect_map", "sk_select_reuseport",
         "map_lookup_elem"},
    18: {"sk_redirect_hash", "sock_hash_update", "msg_redirect_hash", "sk_select_reuseport",
         "map_lookup_elem"},
}
_SOCKMAP_UPDATERS = frozenset({ProgType.SOCKET_FILTER, ProgType.SCHED_CLS, ProgType.SCHED_ACT,
                               ProgType.XDP, ProgType.SK_REUSEPORT, ProgType.FLOW_DISSECTOR,
                               ProgType.SK_LOOKUP})


def _type_names(reg: Reg) -> set[str]:
    """The names compatible_reg_types would match this register under."""
    t = reg.type
    if t is RegType.MEM and reg.ringbuf:
        return {"ringbuf_mem"}
    if t is RegType.BTF_ID:
        return {"ptr_"}
    return {t.value}


_HELPERS: dict[tuple[int, int, bool], tuple[Any, bool]] = {}


def _helper_for(prog_type: Any, fid: int, perfmon: bool) -> tuple[Any, bool]:
    """The proto a program of `prog_type` gets for helper `fid` and whether the type
    may call it (a pure function of the tables, kept once per triple)."""
    key = (int(prog_type), fid, perfmon)
    got = _HELPERS.get(key)
    if got is None:
        from ..progtypes.helpersets import is_allowed
        try:  # bpf_unspec (#0) has no proto: "cannot use helper bpf_unspec#0"
            fn = proto_for(fid, prog_type) if fid else None
            allowed = is_allowed(prog_type, fid, perfmon=perfmon)
        except (HelperProtoError, ValueError):
            fn, allowed = None, False
        if len(_HELPERS) > 65536:
            _HELPERS.clear()
        got = _HELPERS[key] = (fn, allowed)
    return got


class CallsMixin:
    """The calls half of Verifier (helpers, BPF-to-BPF calls, callbacks, tail calls)."""

    if TYPE_CHECKING:  # the Verifier's state and methods, which this half reads
        def __getattr__(self, name: str) -> Any: ...

        def fail(self, *lines: str) -> NoReturn: ...

    # -- entry ------------------------------------------------------------------------------
    def check_call(self, insn: Instruction, idx: int) -> int | None:
        if insn.src == BPF_PSEUDO_CALL:
            if insn.off or insn.dst:
                self.fail("BPF_CALL uses reserved fields")
            return self.check_func_call(insn, idx)
        if insn.src == BPF_PSEUDO_KFUNC_CALL:
            check_call_while_locked(self, insn)
            from .kfunc import kernel_btf, kfunc_unsupported
            if insn.imm == 0 and kernel_btf() is not None:
                self.fail("invalid kernel function call not eliminated in verifier pass")
            if not self.gpl:
                self.fail("cannot call kernel function from non-GPL compatible program")
            raise kfunc_unsupported(insn)
        if insn.off or insn.dst or insn.src:
            self.fail("BPF_CALL uses reserved fields")
        check_call_while_locked(self, insn)
        return self.check_helper_call(insn, idx)

    # -- BPF-to-BPF -------------------------------------------------------------------------
    def check_func_call(self, insn: Instruction, idx: int) -> int:
        st = self.st
        if st.curframe + 1 >= MAX_CALL_FRAMES:
            self.fail(f"the call stack of {st.curframe + 2} frames is too deep")
        target = idx + insn.imm + 1
        if target in self.prog.subprogs:
            k = self.prog.subprogs.index(target)
            gf = self.globals().get(k)
            if gf is not None:
                return self.check_global_call(idx, k, gf)
        caller = st.cur
        callee = Frame(st.curframe + 1, idx, self.prog.subprog_of(target))
        for r in range(1, 6):
            callee.regs[r] = caller.regs[r].copy()
        callee.regs[10] = pointer(RegType.STACK, frameno=callee.frameno)
        for r in CALLER_SAVED:
            caller.regs[r] = Reg()
        st.frames.append(callee)
        if self.log_level:
            self.verbose("caller:\n")
            self.verbose(frame_line(caller))
            self.verbose("callee:\n")
            self.verbose(frame_line(callee))
            self.line_pending = False
        self.scratch_all = True
        return target

    # -- global functions -------------------------------------------------------------------
    def globals(self) -> "dict[int, GlobalFunc]":
        """The global subprograms by index (from func_info and BTF), computed once."""
        g = self.__dict__.get("_globals")
        if g is None:
            g = global_funcs(self.func_info, self.btf, self.prog_type, self.prog.subprogs)
            self.__dict__["_globals"] = g
            self.__dict__["_changes_pkt"] = changes_pkt_data(
                self.slots, self.prog.subprogs, _PKT_HELPER_IDS) if g else set()
        return g

    def check_global_call(self, idx: int, k: int, gf: "GlobalFunc") -> int:
        """check_func_call of a global function: the caller's arguments are checked
        against the prototype (btf_check_subprog_call); the function is verified later
        on its own, and here returns an unknown scalar."""
        # btf_check_subprog_call first (its lines are printed), then a held lock, then
        # the arguments' verdict
        from .refusal import Refusal
        regs = self.regs()
        bad: tuple[str, ...] = ()
        if gf.error is not None:
            bad = (gf.error,)
        else:
            try:
                for i, arg in enumerate(gf.args):
                    self.check_global_arg(i, i + 1, regs[i + 1], arg)
            except Refusal as e:
                if isinstance(e, _unsupported()):
                    raise
                bad = tuple(e.lines)
        if self.st.lock is not None:
            self.fail(*bad, "global function calls are not allowed while holding a lock,",
                      "use static function instead")
        if bad:
            self.fail(*bad, f"Caller passes invalid args into func#{k} ('{gf.name}')")
        if self.log_level:
            self.verbose(f"Func#{k} ('{gf.name}') is global and assumed valid.\n")
            self.line_pending = False
        if k in self.__dict__["_changes_pkt"]:
            self.clear_all_pkt_pointers()
        self.__dict__.setdefault("_called", set()).add(k)
        for r in CALLER_SAVED:
            regs[r].assign(_NOT_INIT)
        if self.log_level:
            self.scratched_regs.update(CALLER_SAVED)
        regs[0].assign(scalar_unknown())
        return idx + 1

    def check_global_arg(self, i: int, regno: int, reg: Reg, arg: "GlobalArg") -> None:
        """btf_check_func_arg_match for one argument."""
        if arg.kind == "scalar":
            if reg.type is not RegType.SCALAR:
                self.fail(f"R{regno} is not a scalar")
            return
        if reg.type not in (RegType.STACK, RegType.PACKET, RegType.PACKET_META,
                            RegType.MAP_KEY, RegType.MAP_VALUE, RegType.MEM, RegType.BUF,
                            RegType.SCALAR):  # NOT_INIT too: "variable ? access"
            self.check_ptr_off_reg(reg, regno)
        if arg.kind == "ctx":
            if reg.type is not RegType.CTX:
                self.fail(f"arg#{i} expects pointer to ctx")
            return
        if reg.type is RegType.SCALAR and reg.var_off.equals_const(0):
            return  # NULL: the function checks for it
        probe = reg.copy()
        probe.maybe_null = False
        self.check_helper_mem_access(regno, probe, arg.size, False, True, False)
        self.check_helper_mem_access(regno, probe, arg.size, True, True, False)

    def check_global_subprogs(self) -> None:
        """do_check_subprogs: after the main program, each global function it called
        (and those they call) is verified once, from its prototype's arguments."""
        done: set[int] = set()
        while True:
            todo = sorted(self.__dict__.get("_called", set()) - done)
            if not todo:
                return
            for k in todo:
                done.add(k)
                self.verify_global(k, self.globals()[k])

    def verify_global(self, k: int, gf: "GlobalFunc") -> None:
        from .state import VState
        if self.log_level and not self.log_level & 2:
            self.log.clear()  # level 1 keeps only the last validation's log
        start = self.prog.subprogs[k]
        self.verbose(f"Validating {gf.name}() func#{k}...\n") if self.log_level else None
        st = VState()
        f = Frame(0, -1, k)
        for i, arg in enumerate(gf.args):
            if arg.kind == "scalar":
                f.regs[i + 1] = scalar_unknown()
            elif arg.kind == "ctx":
                f.regs[i + 1] = pointer(RegType.CTX)
            else:
                r = pointer(RegType.MEM, mem_size=arg.size)
                r.maybe_null = True
                r.id = self.new_id()
                f.regs[i + 1] = r
        f.regs[10] = pointer(RegType.STACK, frameno=0)
        st.frames.append(f)
        st.parent = None
        st.insn_idx = start
        self.st = st
        self.scratch_all = True
        self.do_check()
        if self.log_level:
            if not self.log_level & 2:
                self.log.clear()
            self.verbose(f"Func#{k} ('{gf.name}') is safe for any args that match its "
                         "prototype\n")

    def check_global_exit(self) -> None:
        """check_return_code of a global function: R0 is a scalar."""
        r0 = self.check_reg_src(0)
        if self.is_pointer_value(r0):  # without CAP_PERFMON, before the type's check
            self.fail("R0 leaks addr as return value")
        if r0.type is not RegType.SCALAR:
            self.fail(f"At subprogram exit the register R0 is not a scalar value "
                      f"({r0.type_str()})")

    def prepare_func_exit(self, idx: int) -> int:
        st = self.st
        callee = st.cur
        r0 = callee.regs[0]
        # a stack pointer first, whoever returns it; a callback's R0 not set is "not a
        # scalar" too (prepare_func_exit)
        if r0.type is RegType.STACK:
            self.fail("cannot return stack pointer to the caller")
        if callee.callback is not None:
            if r0.type is not RegType.SCALAR:
                self.fail("R0 not a scalar value")
            lo, hi = callee.callback
            if not (lo <= r0.smin and r0.smax <= hi):
                msg = "At callback return the register R0 has"
                if r0.smin > -(1 << 63):
                    msg += f" smin={r0.smin}"
                if r0.smax < (1 << 63) - 1:
                    msg += f" smax={r0.smax}"
                if r0.smin == -(1 << 63) and r0.smax == (1 << 63) - 1:
                    msg += " unknown scalar value"
                self.fail(msg + f" should have been in [{lo}, {hi}]")
            st.frames.pop()
            widen_scalars(st.frames)
            self.scratch_all = True
            return callee.callsite  # loop-like callback: the call runs again
        st.frames.pop()
        st.cur.regs[0] = r0.copy()
        if self.log_level:
            self.verbose("returning from callee:\n")
            self.verbose(frame_line(callee))
            self.verbose(f"to caller at {callee.callsite + 1}:\n")
            self.verbose(frame_line(st.cur))
            self.line_pending = False
        self.scratch_all = True
        return callee.callsite + 1

    # -- helpers ----------------------------------------------------------------------------
    def check_helper_call(self, insn: Instruction, idx: int) -> int:
        fid = insn.imm
        name = HELPER_NAMES.get(fid)
        if name is None or fid < 0:  # get_helper_proto's -ERANGE
            self.fail(f"invalid func unknown#{fid}")
        fn, allowed = _helper_for(self.prog_type, fid, self.perfmon)
        if fn is None or not allowed:
            self.fail(f"program of this type cannot use helper bpf_{name}#{fid}")
        if fn.gpl_only and not self.gpl:
            self.fail("cannot call GPL-restricted function from non-GPL compatible program")
        if fn.might_sleep:
            self.fail("helper call might sleep in a non-sleepable prog")
        meta: dict[str, Any] = {"map": None, "ref_obj_id": 0, "release_regno": 0,
                                "mem_size": 0, "raw_regno": -1, "raw_size": 0,
                                "subprog": None, "pkt_access": fn.pkt_access}
        for i, arg in enumerate(fn.args):
            self.check_func_arg(i + 1, arg, fn, meta)
        regs = self.regs()
        if meta["release_regno"]:
            rid = meta["ref_obj_id"]
            if rid:
                self.release_reference(rid)
            elif not (regs[meta["release_regno"]].type is RegType.SCALAR and
                      regs[meta["release_regno"]].var_off.equals_const(0)):
                pass
        if name == "tail_call":
            if self.st.refs:
                self.fail("tail_call would lead to reference leak")
        cb = _CALLBACKS.get(name)
        if name == "loop" and meta["subprog"] is not None and not self.bpf_loop_runs(regs[1]):
            cb = None
        if cb is not None and meta["subprog"] is not None:
            self.callback_calls.add(idx)
            self.prog.prune.add(idx)
            self.push_callback(idx, meta["subprog"], name, meta)
        for r in CALLER_SAVED:
            regs[r].assign(_NOT_INIT)
        if self.log_level:
            self.scratched_regs.update(CALLER_SAVED)
        r0 = regs[0]
        rt, rf = fn.ret.type, fn.ret.flags
        maybe_null = fn.ret.may_be_null
        m0 = meta["map"]
        if name == "map_lookup_elem" and m0 is not None and \
                int(m0.type) in _ELIDE_NULL_MAPS and \
                0 <= meta.get("const_map_key", -1) < m0.max_entries:
            maybe_null = False  # a constant key within an array: never NULL
        if rt is RetType.RET_INTEGER:
            r0.assign(_UNKNOWN)
        elif rt is RetType.RET_VOID:
            r0.assign(_NOT_INIT)
        elif rt is RetType.RET_PTR_TO_MAP_VALUE:
            if meta["map"] is None:
                self.fail("kernel subsystem misconfigured verifier")
            # a map-in-map, xskmap or sockmap value becomes the inner map, xdp_sock or
            # socket once checked against NULL (branch.mark_ptr_or_null_regs)
            r0.assign(pointer(RegType.MAP_VALUE, map=meta["map"]))
        elif rt is RetType.RET_PTR_TO_SOCKET:
            r0.assign(pointer(RegType.SOCKET))
        elif rt is RetType.RET_PTR_TO_SOCK_COMMON:
            r0.assign(pointer(RegType.SOCK_COMMON))
        elif rt is RetType.RET_PTR_TO_TCP_SOCK:
            r0.assign(pointer(RegType.TCP_SOCK))
        elif rt is RetType.RET_PTR_TO_MEM:
            r0.assign(pointer(RegType.MEM, mem_size=meta["mem_size"],
                              ringbuf=bool(rf & TypeFlag.MEM_RINGBUF),
                              rdonly=bool(rf & TypeFlag.MEM_RDONLY)))
        elif rt is RetType.RET_PTR_TO_BTF_ID or rt is RetType.RET_PTR_TO_MEM_OR_BTF_ID:
            r0.assign(pointer(RegType.BTF_ID, btf_name=fn.ret.btf_id,
                              rdonly=bool(rf & TypeFlag.MEM_RDONLY)))
        if maybe_null and r0.type is not RegType.NOT_INIT:
            r0.maybe_null = True
            r0.id = self.new_id()
        if name in ("tcp_sock", "sk_fullsock", "get_listener_sock", "skc_to_tcp_sock",
                    "skc_to_tcp6_sock", "skc_to_udp6_sock", "skc_to_unix_sock",
                    "skc_to_mptcp_sock", "skc_to_tcp_timewait_sock",
                    "skc_to_tcp_request_sock"):
            r0.ref_obj_id = meta["ref_obj_id"]
        elif fn.acquire or (name == "map_lookup_elem" and m0 is not None and
                            int(m0.type) in (15, 18)):  # a sockmap/sockhash lookup too
            rid = self.new_id()
            self.st.refs.append(RefState(rid, idx))
            r0.id = rid
            r0.ref_obj_id = rid
        if name in ("get_smp_processor_id",):
            r0.umax = possible_cpus() - 1  # nr_cpu_ids - 1 (do_refine_retval_range)
        if name in ("get_stack", "get_task_stack", "probe_read_str", "probe_read_kernel_str",
                    "probe_read_user_str") and "msize_max" in meta:
            r0.smax = meta["msize_max"]
            r0.s32_max = min(r0.s32_max, meta["msize_max"])
        bounds_sync(r0) if r0.type is RegType.SCALAR else None
        if name in _CHANGES_PKT_DATA:
            self.clear_all_pkt_pointers()
        m = meta["map"]
        if m is not None:
            mt = int(m.type)
            allowed_f = _MAP_FUNCS.get(mt)
            if allowed_f is not None and name not in allowed_f and name != "tail_call":
                self.fail(f"cannot pass map_type {mt} into func bpf_{name}#{fid}")
            if mt in (15, 18) and name not in _SOCKMAP_FUNCS[mt]:
                bad = f"cannot pass map_type {mt} into func bpf_{name}#{fid}"
                if name in ("map_update_elem", "map_delete_elem"):
                    if not self.may_update_sockmap(name):
                        self.fail("cannot update sockmap in this context", bad)
                else:
                    self.fail(bad)
        if name == "tail_call" and m is not None and int(m.type) != 3:
            self.fail("expected prog array map for tail call")
        need = _FUNC_MAPS.get(name)
        if need is not None and m is not None and int(m.type) not in need:
            self.fail(f"cannot pass map_type {int(m.type)} into func bpf_{name}#{fid}")
        return idx + 1

    def clear_all_pkt_pointers(self) -> None:
        """clear_all_pkt_pointers: after a helper that may move the packet, every packet,
        packet-meta and packet-end pointer (registers and spills, all frames) is invalid:
        an unknown scalar where pointer leaks are allowed, else uninitialised."""
        for r in self.st.all_regs():
            if r.type in (RegType.PACKET, RegType.PACKET_META, RegType.PACKET_END):
                if self.allow_ptr_leaks:
                    mark_unknown(r)
                else:
                    r.assign(Reg())

    def bpf_loop_runs(self, nr_loops: Reg) -> bool:
        """bpf_loop's R1 is marked precise (6.18 refuses a pointer there with CAP_BPF:
        mark_chain_precision's "verifier bug: backtracking misuse"); its callback is not
        verified when R1 is at most 0 (callback_depth < umax, check_helper_call)."""
        if self.bpf_capable and nr_loops.type is not RegType.SCALAR:
            self.fail("verifier bug: backtracking misuse")
        self.mark_precise(1)
        if nr_loops.umax > 0:
            return True
        if self.log_level & 2:
            self.verbose(f"frame{self.st.curframe} bpf_loop iteration limit reached\n")
        return False

    def push_callback(self, idx: int, subprog: int, name: str, meta: dict) -> None:
        """The callback runs in a new frame of a pushed state; it returns to the call
        site, so the call is re-verified until the states converge."""
        st = self.st
        if st.curframe + 1 >= MAX_CALL_FRAMES:
            self.fail(f"the call stack of {st.curframe + 2} frames is too deep")
        cbst = self.push_stack(subprog, idx)
        cbst.callback_depth += 1
        caller = cbst.cur
        callee = Frame(cbst.curframe + 1, idx, self.prog.subprog_of(subprog))
        callee.callback = (0, 1)
        callee.regs[10] = pointer(RegType.STACK, frameno=callee.frameno)
        if name == "loop":
            callee.regs[1] = scalar_unknown()
            callee.regs[1].umax = 0xFFFFFFFF
            bounds_sync(callee.regs[1])
            callee.regs[2] = caller.regs[3].copy()
        elif name == "for_each_map_elem":
            m = meta["map"]
            callee.regs[1] = pointer(RegType.CONST_PTR_TO_MAP, map=m)
            callee.regs[2] = pointer(RegType.MAP_KEY, map=m)
            callee.regs[3] = pointer(RegType.MAP_VALUE, map=m)
            callee.regs[4] = caller.regs[3].copy()
        else:
            from .refusal import Unsupported
            raise Unsupported(f"pybpf verifier: callbacks of bpf_{name} are not supported")
        cbst.frames.append(callee)

    def release_reference(self, rid: int) -> None:
        st = self.st
        st.refs = [r for r in st.refs if r.id != rid]
        for r in st.all_regs():
            if r.ref_obj_id == rid:
                if self.allow_ptr_leaks:
                    mark_unknown(r)
                else:
                    r.assign(Reg())

    def check_func_arg(self, argno: int, arg: Any, fn: Any, meta: dict) -> None:
        at = arg.type
        regno = argno
        if at is ArgType.ARG_DONTCARE:
            return
        reg = self.check_reg_src(regno)
        if at is ArgType.ARG_ANYTHING:
            if self.is_pointer_value(reg):
                self.fail(f"R{regno} leaks addr into helper function")
            return
        if reg.is_pkt and not fn.pkt_access:
            self.fail("helper access to the packet is not allowed")
        if at is ArgType.ARG_PTR_TO_MAP_VALUE:
            arg = self.resolve_map_arg_type(arg, meta)
            at = arg.type
        is_null = reg.type is RegType.SCALAR and reg.var_off.equals_const(0)
        if not (is_null and arg.may_be_null):
            self.check_reg_type(regno, reg, arg)
            self.check_func_arg_reg_off(regno, reg, arg)
        if arg.releases:
            if not reg.ref_obj_id and not is_null:
                self.fail(f"R{regno} must be referenced when passed to release function")
            meta["release_regno"] = regno
        if reg.ref_obj_id:
            meta["ref_obj_id"] = reg.ref_obj_id
        if at is ArgType.ARG_CONST_MAP_PTR:
            check_timer_map_arg(self, reg, meta)
            meta["map"] = reg.map
        elif at is ArgType.ARG_PTR_TO_MAP_KEY:
            if meta["map"] is None:
                self.fail("invalid map_ptr to access map->key")
            self.check_helper_mem_access(regno, reg, meta["map"].key_size, False, False, False)
            if int(meta["map"].type) in _ELIDE_NULL_MAPS:
                meta["const_map_key"] = self.const_map_key(reg, meta["map"].key_size)
        elif at is ArgType.ARG_PTR_TO_MAP_VALUE:
            if arg.may_be_null and is_null:
                return
            if meta["map"] is None:
                self.fail("invalid map_ptr to access map->value")
            self.check_helper_mem_access(regno, reg, meta["map"].value_size,
                                         arg.writes, False,
                                         bool(arg.flags & TypeFlag.MEM_UNINIT))
        elif at is ArgType.ARG_PTR_TO_FUNC:
            meta["subprog"] = reg.subprog
        elif at is ArgType.ARG_PTR_TO_MEM:
            if arg.flags & TypeFlag.MEM_FIXED_SIZE:
                if not (is_null and arg.may_be_null):
                    self.check_helper_mem_access(regno, reg, arg.size,
                                                 arg.writes, False,
                                                 bool(arg.flags & TypeFlag.MEM_UNINIT))
            else:
                meta["mem_arg"] = (regno, arg, is_null)
        elif at in (ArgType.ARG_CONST_SIZE, ArgType.ARG_CONST_SIZE_OR_ZERO):
            self.check_mem_size_reg(regno, reg, meta, at is ArgType.ARG_CONST_SIZE_OR_ZERO)
        elif at is ArgType.ARG_CONST_ALLOC_SIZE_OR_ZERO:
            if not reg.var_off.is_const():
                self.fail(f"R{regno} is not a known constant'")
            meta["mem_size"] = reg.var_off.value
        elif at is ArgType.ARG_PTR_TO_CONST_STR:
            if reg.type is RegType.MAP_VALUE and not (int(reg.map.flags or 0) & (1 << 7)):
                self.fail(f"R{regno} does not point to a readonly map'")
        elif at is ArgType.ARG_PTR_TO_STACK:
            pass
        elif at is ArgType.ARG_PTR_TO_SPIN_LOCK:
            process_spin_lock(self, regno, reg, fn.id == BPF_FUNC_SPIN_LOCK)
        elif at is ArgType.ARG_PTR_TO_TIMER:
            process_timer_func(self, regno, reg, meta)

    def resolve_map_arg_type(self, arg: Any, meta: dict) -> Any:
        """resolve_map_arg_type: a sockmap's or sockhash's value argument is a socket
        (ARG_PTR_TO_BTF_ID_SOCK_COMMON); no other map-value argument takes such a map."""
        m = meta["map"]
        if m is None:
            self.fail("invalid map_ptr to access map->type")
        if int(m.type) in (15, 18):  # sockmap, sockhash
            if arg.flags:
                self.fail("invalid arg_type for sockmap/sockhash")
            return Arg(ArgType.ARG_PTR_TO_BTF_ID_SOCK_COMMON)
        return arg

    def may_update_sockmap(self, name: str) -> bool:
        """may_update_sockmap: the program types that may update or delete sockmap and
        sockhash elements from a program (no locked socket reachable there)."""
        t = self.prog_type
        if t == ProgType.TRACING and self.attach_type == AttachType.TRACE_ITER:
            return True
        if t == ProgType.SOCK_OPS:
            return name == "map_delete_elem"
        return t in _SOCKMAP_UPDATERS

    def const_map_key(self, reg: Reg, key_size: int) -> int:
        """get_constant_map_key: the key's value when it is a constant on the stack (all
        zero bytes, or a spilled constant scalar of the key's size); -1 otherwise."""
        if not self.bpf_capable or reg.type is not RegType.STACK or \
                not reg.var_off.is_const():
            return -1
        var = reg.var_off.value
        var = var - (1 << 64) if var >= 1 << 63 else var
        slot = -(reg.off + var) - 1
        f = self.st.frames[reg.frameno]
        if slot < 0 or slot >= len(f.stack):
            return -1
        spi, off = divmod(slot, 8)
        kinds = [f.stack[spi * 8 + i] for i in range(off, -1, -1)]
        zero = 0
        for k in kinds:
            if k != Slot.ZERO:
                break
            zero += 1
        if zero >= key_size:
            return 0
        spilled = f.spills.get(spi)
        if spilled is None or spilled.type is not RegType.SCALAR or \
                f.stack[spi * 8 + 7] != Slot.SPILL:
            return -1
        size = 0
        for k in kinds:
            if k != Slot.SPILL:
                break
            size += 1
        if size != key_size or not spilled.var_off.is_const():
            return -1
        return spilled.var_off.value

    def check_reg_type(self, regno: int, reg: Reg, arg: Any) -> None:
        expected = COMPATIBLE_REG_TYPES.get(arg.type)
        if expected is None:
            from .refusal import Unsupported
            raise Unsupported(f"pybpf verifier: argument type {arg.type.name} is not "
                              "supported")
        names = _type_names(reg)
        ok = False
        if reg.maybe_null and not arg.may_be_null:
            ok = False
        elif reg.rdonly and not (arg.flags & TypeFlag.MEM_RDONLY):
            ok = False
        else:
            ok = bool(names & set(expected))
        if not ok:
            self.fail(f"R{regno} type={reg.type_str()} expected={', '.join(expected)}")

    def check_func_arg_reg_off(self, regno: int, reg: Reg, arg: Any) -> None:
        t = reg.type
        if arg.releases:
            if reg.off:
                self.fail(f"R{regno} must have zero offset when passed to release func or "
                          "trusted arg to kfunc")
            return
        if t in (RegType.STACK, RegType.PACKET, RegType.PACKET_META, RegType.MAP_KEY,
                 RegType.MAP_VALUE, RegType.MEM, RegType.BUF):
            return
        if t is RegType.SCALAR:
            return
        self.check_ptr_off_reg(reg, regno)

    def check_mem_size_reg(self, regno: int, reg: Reg, meta: dict, zero_ok: bool) -> None:
        mem = meta.pop("mem_arg", None)
        meta["msize_max"] = reg.umax
        if reg.smin < 0:
            self.fail(f"R{regno} min value is negative, either use unsigned or 'var &= const'")
        if reg.umin == 0 and not zero_ok:
            self.fail(f"R{regno} invalid zero-sized read: u64=[{reg.umin},{reg.umax}]")
        if reg.umax >= BPF_MAX_VAR_SIZ:
            self.fail(f"R{regno} unbounded memory access, use 'var &= const' or "
                      "'if (var < const)'")
        if mem is None:
            return
        mregno, marg, is_null = mem
        mreg = self.regs()[mregno]
        if is_null and marg.may_be_null:
            return
        raw = bool(marg.flags & TypeFlag.MEM_UNINIT) and reg.var_off.is_const()
        self.check_helper_mem_access(mregno, mreg, reg.umax, bool(marg.flags &
                                     TypeFlag.MEM_WRITE), zero_ok, raw)

    def check_helper_mem_access(self, regno: int, reg: Reg, size: int, write: bool,
                                zero_ok: bool, raw: bool) -> None:
        t = reg.type
        if t in (RegType.PACKET, RegType.PACKET_META):
            self.check_packet_access(regno, reg, reg.off, size, zero_ok)
            return
        if t is RegType.MAP_KEY:
            if write:
                self.fail(f"R{regno} cannot write into {reg.type_str()}")
            self.check_mem_region(regno, reg, reg.off, size, reg.map.key_size, False)
            return
        if t is RegType.MAP_VALUE:
            self.check_map_access_type(regno, reg, reg.off, size, write)
            self.check_map_access(regno, reg, reg.off, size, zero_ok)
            return
        if t is RegType.MEM:
            if reg.rdonly and write:
                self.fail(f"R{regno} cannot write into {reg.type_str()}")
            self.check_mem_region(regno, reg, reg.off, size, reg.mem_size, zero_ok)
            return
        if t is RegType.STACK:
            self.check_stack_range_initialized(regno, reg, reg.off, size, zero_ok, write, raw)
            return
        if zero_ok and size == 0 and t is RegType.SCALAR and reg.var_off.equals_const(0):
            return
        self.fail(f"R{regno} type={reg.type_str()} expected=fp")


def widen_scalars(frames: list[Frame]) -> None:
    """After a loop-like callback returns, the callers' scalars that are not constants
    become unknown (as the kernel's widen_imprecise_scalars and its pruning of
    imprecise scalars at callback call sites): a sum kept across iterations then
    converges instead of growing for ever. Sound (more values), never a false accept;
    precise ones keep their bounds once precision tracking marks them."""
    for f in frames:
        for r in list(f.regs) + list(f.spills.values()):
            if r.type is RegType.SCALAR and not r.precise and not r.var_off.is_const():
                mark_unknown(r)


def _unsupported() -> type:
    from .refusal import Unsupported
    return Unsupported


def frame_line(f: Frame) -> str:
    from .log import frame_str
    return frame_str(f, None, None).lstrip() + "\n"
