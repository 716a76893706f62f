"""Asking the kernel's verifier about a helper prototype: build a minimal program that
calls the helper with every argument set up validly (from the proto in
pybpf.helper_protos), then variations of it that break one property at a time, and read
what the verifier says.

Program shape (kernel asm syntax)::

    r6 = r1                     ; keep the context
    <64-byte zeroed stack buffers at fp-64*i for pointer args i>
    call bpf_get_prandom_u32    ; clobbers r1-r5: an arg the kernel wants that we do not
                                ; set up is "R<n> !read_ok"
    <prefix: get a socket / ringbuf record / read-only memory into r7; packet into r8>
    r1..rn = <valid values>
    call bpf_<helper>
    <r0 = *(u8 *)(r0 +0) when checking the return type>
    <release r0 when the helper acquires a reference>
    r0 = 0 ; exit
    out: r0 = 0 ; exit          ; the NULL branches of the prefix
    cb: r0 = 0 ; exit           ; the callback for ARG_PTR_TO_FUNC
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Any

from pybpf import btf as pbtf
from pybpf.asm import assemble
from pybpf.btf import Builder, FuncLinkage
from pybpf.helper_protos import ArgType, HelperProto, TypeFlag
from pybpf.kernel import Map, map_freeze, prog_load
from pybpf.kernel.errors import KernelError, KernelVerifierError
from pybpf.kernel.objects import btf_load
from pybpf.uapi import MapType, ProgType

KEY_SIZE, VALUE_SIZE = 16, 32     # hash maps: a short buffer shows which size is used
BUF = 64                          # bytes of stack per pointer argument
UNINIT_OFF = 6 * BUF              # a never-written stack area
DYNPTR_OFF = UNINIT_OFF + 32      # the dynptr an argument refers to (16 bytes)
SIZE = 8                          # default for size arguments

# __sk_buff / xdp_md offsets
SKB_SK, SKB_DATA, SKB_DATA_END = 168, 76, 80
XDP_DATA, XDP_DATA_END = 0, 4

# which map each map-taking helper needs
MAP_FOR: dict[str, str] = {
    "map_lookup_elem": "hash", "map_update_elem": "hash", "map_delete_elem": "hash",
    "map_push_elem": "queue", "map_pop_elem": "queue", "map_peek_elem": "queue",
    "map_lookup_percpu_elem": "percpu_hash", "for_each_map_elem": "array",
    "tail_call": "prog_array", "perf_event_output": "perf", "perf_event_read": "perf",
    "perf_event_read_value": "perf", "get_stackid": "stack", "ringbuf_output": "ringbuf",
    "ringbuf_reserve": "ringbuf", "ringbuf_query": "ringbuf", "redirect_map": "devmap",
    "skb_under_cgroup": "cgroup_array", "current_task_under_cgroup": "cgroup_array",
    "ringbuf_reserve_dynptr": "ringbuf", "user_ringbuf_drain": "user_ringbuf",
    "timer_init": "timer", "sk_storage_get": "sk_storage", "sk_storage_delete": "sk_storage",
    "task_storage_get": "task_storage", "task_storage_delete": "task_storage",
    "get_local_storage": "cgroup_storage",
}

# the verifier's is_acquire_function + how the valid program releases r0
RELEASE = {
    "sk_lookup_tcp": "r1 = r0\ncall bpf_sk_release",
    "sk_lookup_udp": "r1 = r0\ncall bpf_sk_release",
    "skc_lookup_tcp": "r1 = r0\ncall bpf_sk_release",
    "ringbuf_reserve": "r1 = r0\nr2 = 0\ncall bpf_ringbuf_discard",
}
# releases the valid program needs whatever r0 is (a ringbuf dynptr, even a failed one)
RELEASE_ALWAYS = {
    "spin_lock": "r1 = r7\ncall bpf_spin_unlock",
    "ringbuf_reserve_dynptr": f"r1 = r10\nr1 += -{DYNPTR_OFF}\nr2 = 0\n"
                              "call bpf_ringbuf_discard_dynptr",
}


class Unsupported(Exception):
    """The harness cannot set up a valid call (the reason is the message)."""


@dataclass
class Env:
    """Kernel objects the programs refer to (created once)."""

    maps: dict[str, Map] = field(default_factory=dict)
    percpu_var_id: int = 0         # a non-struct per-cpu kernel variable (an int)
    slice_kfunc: int = 0           # BTF id of the kfunc bpf_dynptr_slice
    btf_fd: Any = None             # BTF: FUNCs for main and callback, map value types
    func_ids: tuple[int, int] = (0, 0)

    @classmethod
    def create(cls) -> Env:
        e = cls()
        spec = {
            "hash": (MapType.HASH, KEY_SIZE, VALUE_SIZE, 4, 0),
            "percpu_hash": (MapType.PERCPU_HASH, KEY_SIZE, VALUE_SIZE, 4, 0),
            "queue": (MapType.QUEUE, 0, VALUE_SIZE, 4, 0),
            "array": (MapType.ARRAY, 4, VALUE_SIZE, 4, 0),
            "prog_array": (MapType.PROG_ARRAY, 4, 4, 4, 0),
            "perf": (MapType.PERF_EVENT_ARRAY, 4, 4, 4, 0),
            "stack": (MapType.STACK_TRACE, 4, 128, 4, 0),
            "ringbuf": (MapType.RINGBUF, 0, 0, 4096, 0),
            "user_ringbuf": (MapType.USER_RINGBUF, 0, 0, 4096, 0),
            "devmap": (MapType.DEVMAP, 4, 4, 4, 0),
            "cgroup_array": (MapType.CGROUP_ARRAY, 4, 4, 4, 0),
            "ro": (MapType.ARRAY, 4, BUF, 1, 0x80),   # BPF_F_RDONLY_PROG
            "dyn": (MapType.ARRAY, 4, BUF, 1, 0),     # backs a dynptr
        }
        for name, (t, k, v, n, flags) in spec.items():
            e.maps[name] = Map.create(t, k, v, n, map_flags=flags, name=f"hp_{name}")
        e.maps["ro"][b"\0" * 4] = b"hi\0".ljust(BUF, b"\0")
        map_freeze(e.maps["ro"])
        vm = pbtf.load_vmlinux()
        ids = vm.find("bpf_prog_active")  # ldimm64 of a ksym needs CONFIG_KALLSYMS_ALL
        e.percpu_var_id = ids[0] if ids and _ksym_resolves(ids[0]) else 0
        ids = vm.find("bpf_dynptr_slice")
        e.slice_kfunc = ids[0] if ids else 0
        b = Builder()
        i32 = b.int("int", 4, signed=True)
        proto = b.func_proto(i32, [])
        main = b.func("main", proto, FuncLinkage.STATIC)
        cb = b.func("cb", proto, FuncLinkage.STATIC)
        # map values the verifier must see through BTF: a lock, a timer, socket storage
        u32 = b.int("unsigned int", 4)
        u64 = b.int("long long unsigned int", 8)
        lock = b.struct("bpf_spin_lock", [("val", u32)])
        timer = b.struct("bpf_timer", [("__opaque", b.array(u64, 2))])
        lockv = b.struct("lockv", [("lock", lock), ("pad", i32)])
        timerv = b.struct("timerv", [("timer", timer)])
        blob = b.struct("blob", [("b", b.array(u64, VALUE_SIZE // 8))])
        e.btf_fd = btf_load(b.btf.to_bytes())
        e.func_ids = (main, cb)
        for name, t, v, n, flags in (("lock", MapType.ARRAY, lockv, 1, 0),
                                     ("timer", MapType.ARRAY, timerv, 1, 0),
                                     ("sk_storage", MapType.SK_STORAGE, blob, 0, 1),
                                     ("task_storage", MapType.TASK_STORAGE, blob, 0, 1)):
            e.maps[name] = Map.create(t, 4, b.btf.size_of(v), n, map_flags=flags,
                                      name=f"hp_{name}", btf_fd=e.btf_fd.fd,
                                      btf_key_type_id=i32, btf_value_type_id=v)
        # key: the cgroup id (u64) rather than struct bpf_cgroup_storage_key
        e.maps["cgroup_storage"] = Map.create(MapType.CGROUP_STORAGE, 8, VALUE_SIZE, 0,
                                              name="hp_cgroup_storage")
        return e

    def fd(self, name: str) -> int:
        return self.maps[name].fd

    def close(self) -> None:
        for m in self.maps.values():
            m.close()
        if self.btf_fd is not None:
            self.btf_fd.close()


@dataclass
class Call:
    """One program: per-argument overrides of the valid setup."""

    args: dict[int, str] = field(default_factory=dict)   # i -> asm to set r<i>
    skip_args: frozenset[int] = frozenset()              # leave r<i> unset
    deref_r0: bool = False
    release: bool = True
    need_rdonly: bool = False
    need_pkt: bool = False
    twice: bool = False            # call the helper twice with the same arguments


class Probe:
    """Programs for one (proto, prog type)."""

    def __init__(self, env: Env, p: HelperProto, prog_type: ProgType,
                 prog_flags: int = 0) -> None:
        self.env, self.p, self.pt = env, p, ProgType(prog_type)
        self.prog_flags = prog_flags  # BPF_F_SLEEPABLE (16) for sleepable programs

    # --- valid values ---------------------------------------------------------------------

    def stack_ptr(self, i: int) -> str:
        return f"r{i} = r10\nr{i} += -{BUF * i}"

    def valid_arg(self, i: int) -> str:
        a = self.p.args[i - 1]
        t = a.type
        if t in (ArgType.ARG_ANYTHING,):
            return f"r{i} = 0"
        if t is ArgType.ARG_PTR_TO_CTX:
            return f"r{i} = r6"
        if t is ArgType.ARG_CONST_MAP_PTR:
            m = MAP_FOR.get(self.p.name)
            if m is None:
                raise Unsupported(f"no map set up for {self.p.name}")
            return f"r{i} = map_fd({self.env.fd(m)})"
        if self.p.name == "dynptr_from_mem" and i == 1:  # the verifier wants a map value
            return f"r{i} = map_value({self.env.fd('dyn')}, 0)"
        if t in (ArgType.ARG_PTR_TO_MAP_KEY, ArgType.ARG_PTR_TO_MAP_VALUE,
                 ArgType.ARG_PTR_TO_MEM):
            return self.stack_ptr(i)
        if t in (ArgType.ARG_CONST_SIZE, ArgType.ARG_CONST_SIZE_OR_ZERO,
                 ArgType.ARG_CONST_ALLOC_SIZE_OR_ZERO):
            return f"r{i} = {SIZE}"
        if t is ArgType.ARG_PTR_TO_CONST_STR:
            return f"r{i} = map_value({self.env.fd('ro')}, 0)"
        if t is ArgType.ARG_PTR_TO_FUNC:
            return f"r{i} = func(cb)"
        if t is ArgType.ARG_PTR_TO_STACK:
            return f"r{i} = 0" if a.may_be_null else self.stack_ptr(i)
        if t in (ArgType.ARG_PTR_TO_SPIN_LOCK, ArgType.ARG_PTR_TO_TIMER):
            return f"r{i} = r7"
        if t in (ArgType.ARG_PTR_TO_RINGBUF_MEM, ArgType.ARG_PTR_TO_SOCK_COMMON,
                 ArgType.ARG_PTR_TO_BTF_ID_SOCK_COMMON, ArgType.ARG_PTR_TO_BTF_ID):
            return f"r{i} = r7"
        if t is ArgType.ARG_PTR_TO_DYNPTR:
            return f"r{i} = r10\nr{i} += -{DYNPTR_OFF}"
        if t is ArgType.ARG_PTR_TO_PERCPU_BTF_ID:
            if not self.env.percpu_var_id:
                raise Unsupported("no per-cpu kernel variable a program can load (its "
                                  "address needs CONFIG_KALLSYMS_ALL)")
            return f"r{i} = btf_id({self.env.percpu_var_id})"
        raise Unsupported(f"no valid value for {a.kernel_name} "
                          "(needs a BTF-described map value or object)")

    def prefix(self) -> str:
        """Code that puts the object an argument needs into r7 (with a NULL exit)."""
        kinds = {a.type for a in self.p.args}
        out = []
        if ArgType.ARG_PTR_TO_RINGBUF_MEM in kinds:
            out.append(f"r1 = map_fd({self.env.fd('ringbuf')})\nr2 = {SIZE}\nr3 = 0\n"
                       "call bpf_ringbuf_reserve\nif r0 == 0 goto out\nr7 = r0")
        elif any(a.type is ArgType.ARG_PTR_TO_BTF_ID_SOCK_COMMON and a.releases
                 for a in self.p.args):
            out.append("r1 = r6\nr2 = r10\nr2 += -64\nr3 = 12\nr4 = 0\nr5 = 0\n"
                       "call bpf_sk_lookup_tcp\nif r0 == 0 goto out\nr7 = r0")
        elif kinds & {ArgType.ARG_PTR_TO_SOCK_COMMON, ArgType.ARG_PTR_TO_BTF_ID_SOCK_COMMON}:
            if self.pt not in (ProgType.SCHED_CLS, ProgType.SCHED_ACT, ProgType.CGROUP_SKB):
                raise Unsupported(f"no socket to pass in a {self.pt.name} program")
            out.append(f"r7 = *(u64 *)(r6 +{SKB_SK})\nif r7 == 0 goto out")
        elif any(a.type is ArgType.ARG_PTR_TO_DYNPTR and a.flags & TypeFlag.OBJ_RELEASE
                 for a in self.p.args):
            out.append(f"r1 = map_fd({self.env.fd('ringbuf')})\nr2 = {SIZE}\nr3 = 0\n"
                       f"r4 = r10\nr4 += -{DYNPTR_OFF}\ncall bpf_ringbuf_reserve_dynptr")
        elif any(a.type is ArgType.ARG_PTR_TO_DYNPTR and not a.flags & TypeFlag.MEM_UNINIT
                 for a in self.p.args):
            out.append(f"*(u32 *)(r10 -{DYNPTR_OFF + 8}) = 0\n"
                       f"r1 = map_fd({self.env.fd('dyn')})\nr2 = r10\n"
                       f"r2 += -{DYNPTR_OFF + 8}\ncall bpf_map_lookup_elem\n"
                       f"if r0 == 0 goto out\nr1 = r0\nr2 = {BUF}\nr3 = 0\nr4 = r10\n"
                       f"r4 += -{DYNPTR_OFF}\ncall bpf_dynptr_from_mem")
        elif kinds & {ArgType.ARG_PTR_TO_SPIN_LOCK, ArgType.ARG_PTR_TO_TIMER}:
            m = "lock" if ArgType.ARG_PTR_TO_SPIN_LOCK in kinds else "timer"
            out.append(f"*(u32 *)(r10 -{DYNPTR_OFF + 8}) = 0\n"
                       f"r1 = map_fd({self.env.fd(m)})\nr2 = r10\n"
                       f"r2 += -{DYNPTR_OFF + 8}\ncall bpf_map_lookup_elem\n"
                       "if r0 == 0 goto out\nr7 = r0")
            if self.p.name == "spin_unlock":
                out.append("r1 = r7\ncall bpf_spin_lock")
        elif ArgType.ARG_PTR_TO_BTF_ID in kinds:
            if {a.btf_id for a in self.p.args if a.btf_id} != {"task_struct"}:
                raise Unsupported("only task_struct BTF pointers are set up (a struct "
                                  "cgroup pointer needs a kfunc)")
            out.append("call bpf_get_current_task_btf\nr7 = r0")
        return "\n".join(out)

    def rdonly_mem(self) -> str:
        """r9 = 64 bytes of read-only memory (PTR_TO_MEM | MEM_RDONLY): a slice of a
        dynptr over a map value (the kfunc bpf_dynptr_slice returns read-only memory)."""
        if not self.env.slice_kfunc:
            raise Unsupported("no bpf_dynptr_slice kfunc in the kernel BTF")
        return (f"*(u32 *)(r10 -{UNINIT_OFF + 8}) = 0\nr1 = map_fd({self.env.fd('dyn')})\n"
                f"r2 = r10\nr2 += -{UNINIT_OFF + 8}\ncall bpf_map_lookup_elem\n"
                f"if r0 == 0 goto out\nr1 = r0\nr2 = {BUF}\nr3 = 0\nr4 = r10\n"
                f"r4 += -{UNINIT_OFF}\ncall bpf_dynptr_from_mem\nr1 = r10\n"
                f"r1 += -{UNINIT_OFF}\nr2 = 0\nr3 = 0\nr4 = {BUF}\n"
                f"call kfunc {self.env.slice_kfunc}\nif r0 == 0 goto out\nr9 = r0")

    # --- building and loading -------------------------------------------------------------

    def source(self, c: Call) -> str:
        lines = ["r6 = r1"]
        for i, a in enumerate(self.p.args, 1):
            if a.is_pointer:
                lines += [f"*(u64 *)(r10 -{BUF * i - 8 * k}) = 0" for k in range(BUF // 8)]
        if any(a.type is ArgType.ARG_PTR_TO_FUNC for a in self.p.args):
            lines.append("r9 = func(cb)")  # keeps cb a subprog when an arg is replaced
        lines.append("call bpf_get_prandom_u32")
        lines.append(self.prefix())
        if c.need_rdonly:
            lines.append(self.rdonly_mem())
        if c.need_pkt:
            if self.pt is ProgType.XDP:
                d, de = XDP_DATA, XDP_DATA_END
            else:
                d, de = SKB_DATA, SKB_DATA_END
            lines.append(f"r8 = *(u32 *)(r6 +{d})\nr0 = *(u32 *)(r6 +{de})\nr1 = r8\n"
                         f"r1 += {BUF}\nif r1 > r0 goto out")
        for _ in range(1 + c.twice):
            for i in range(1, self.p.nargs + 1):
                if i in c.skip_args:
                    continue
                lines.append(c.args.get(i) or self.valid_arg(i))
            lines.append(f"call bpf_{self.p.name}")
        if c.deref_r0:
            lines.append("r0 = *(u8 *)(r0 +0)")
        if self.p.name in RELEASE and c.release:
            lines.append("if r0 == 0 goto out\n" + RELEASE[self.p.name])
        if self.p.name in RELEASE_ALWAYS and c.release:
            lines.append(RELEASE_ALWAYS[self.p.name])
        lines.append("r0 = 0\nexit")
        if any("goto out" in x for x in lines):
            lines.append("out:\nr0 = 0\nexit")
        if any(a.type is ArgType.ARG_PTR_TO_FUNC for a in self.p.args):
            lines.append("cb:\nr0 = 0\nexit")
        return "\n".join(x for x in lines if x)

    def load(self, c: Call | None = None, license: str = "GPL",
             log_level: int = 0) -> tuple[bool, str]:
        """(accepted, log): the verifier log (the whole one; on success only with
        `log_level`)."""
        c = c or Call()
        code = assemble(self.source(c))
        kw: dict = {}
        if any(a.type is ArgType.ARG_PTR_TO_FUNC for a in self.p.args):
            main, cb = self.env.func_ids
            kw = {"prog_btf_fd": self.env.btf_fd,
                      "func_info": [(0, main), (len(code) // 8 - 2, cb)]}
        try:
            prog = prog_load(self.pt, code, license, log_level=log_level,
                             prog_flags=self.prog_flags, **kw)
        except KernelVerifierError as e:
            return False, e.log or f"errno {e.errno}"
        except KernelError as e:
            return False, f"errno {errno.errorcode.get(e.errno, e.errno)}: {e}"
        log = prog.log
        prog.close()
        return True, log

    def complaint(self, c: Call | None = None, license: str = "GPL") -> str:
        """'' when the kernel accepts the program, else the verifier's last words."""
        ok, log = self.load(c, license)
        return "" if ok else (complaint(log) or "rejected without a log")


def complaint(log: str) -> str:
    keep = [ln for ln in log.strip().splitlines()
            if not ln.startswith(("processed ", "verification time", "stack depth"))]
    return "\n".join(keep[-3:])


def _ksym_resolves(btf_id: int) -> bool:
    """Can a program load the address of this kernel variable (needs its kallsyms entry:
    CONFIG_KALLSYMS_ALL)?"""
    try:
        prog_load(ProgType.SOCKET_FILTER, assemble(f"r1 = btf_id({btf_id})\nr0 = 0\nexit"))
    except KernelError:
        return False
    return True
