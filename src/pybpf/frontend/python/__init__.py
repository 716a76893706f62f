"""Restricted Python compiled to BPF, in-process: decorated functions -> LLVM IR
(llvmlite) -> -O2 -> a bpfel ELF object with BTF (maps, func info, and line info that
quotes the Python lines) -> an ObjectSpec that runs on the VM and in the kernel.
No clang, no llc, no libbpf.

    from pybpf.frontend.python import *
    LICENSE = "GPL"
    hits = ArrayMap(u32, u64, 1)

    @xdp
    def count(ctx: XdpMd) -> int:
        slot = hits.lookup(0)
        if slot is not None:
            atomic_add(slot[0], 1)
        return XDP_PASS

    spec = compile_file("count.py").spec()        # or `pybpf compile count.py -o count.o`

The module is run once (as `__pybpf_compile__`, so `if __name__ == "__main__"` blocks
stay quiet) to evaluate its declarations; the bodies of programs and sub-functions are
compiled from their source, never run by Python.

The accepted subset (anything else is a CompileError at file:line:col that says what
to write instead):

    module     := { import | constant | struct | map | config | license | function
                  | program | other Python that runs at import }
    constant   := NAME "=" INT            # also IntEnum/IntFlag members, bools
    struct     := class NAME(ctypes.Structure | ctypes.BigEndianStructure):
                      _fields_ = [(FIELD, type [, BITS]), ...]
                | class NAME(Struct | NetStruct):         # dataclass-style
                      { FIELD ":" (type | "(" inttype "," BITS ")") }
    map        := NAME "=" (HashMap | ArrayMap | PerCPUHash | PerCPUArray | LRUHash
                  | LRUPerCPUHash | LPMTrie) "(" key, value, max_entries [, flags] ")"
                | NAME "=" RingBuf(bytes) | PerfEventArray() | ProgArray(n [, values={i: "prog"}])
    config     := NAME "=" Config(inttype, default)        # .rodata, set_global() before load
                | NAME "=" Global(inttype [, default])     # .bss (0) or .data, writable
    license    := LICENSE "=" STRING                       # default "GPL"
    program    := "@" kind ["(" STRING ")"] NEWLINE
                  def NAME "(" NAME [":" ctxtype] ")" ["->" int] ":" body
    kind       := xdp | tc | socket_filter | cgroup_skb("ingress"|"egress")
                | tracepoint("cat/name") | raw_tp("name") | kprobe("fn") | uprobe() | perf_event
    ctxtype    := XdpMd | SkBuff | PtRegs | RawTpArgs | a struct (tracepoint records)
    function   := ["@noinline"] def NAME "(" {NAME ":" ptype} ")" ["->" (inttype | bool)] ":" body
    ptype      := inttype | bool | MapKind          # a map parameter: inlined functions only
                | ctxtype                          # the program's context, passed as ctx
    inttype    := u8 | u16 | u32 | u64 | i8 | i16 | i32 | i64 | be16 | be32 | be64
    type       := inttype | inttype "*" N | struct

    body       := { stmt }
    stmt       := NAME [":" type] "=" expr | place "=" expr | place augop expr
                | if cond ":" body { elif cond ":" body } [ else ":" body ]
                | while cond ":" body
                | for NAME in range(CONST [, CONST [, CONST]]) ":" body
                | break | continue | pass | return [expr] | call | docstring
                | global NAME {"," NAME}                      # before assigning a Global
    place      := NAME | place "." FIELD | place "[" expr "]"     # p[0] dereferences a pointer
    expr       := INT | True | False | None | NAME | place | call
                | expr binop expr | ("-" | "~" | "not") expr
                | expr cmp expr { cmp expr } | expr ("and" | "or") expr
                | expr if cond else expr
    binop      := "+" | "-" | "*" | "//" | "%" | "<<" | ">>" | "&" | "|" | "^" | "**" (constants)
    cmp        := "==" | "!=" | "<" | "<=" | ">" | ">=" | "is" None | "is not" None
    call       := bpf_HELPER "(" args ")"                 # any helper of pybpf.helper_protos
                | MAP.lookup(key) | MAP.update(key, value [, flags]) | MAP.delete(key)
                | RINGBUF.output(value [, flags]) | PERFARRAY.output(ctx, value)
                | RINGBUF.reserve(Type) | RINGBUF.submit(e) | RINGBUF.discard(e)
                | PROGARRAY.tail_call(ctx, index)
                | ctx.header(Type [, offset]) | ctx.has_bytes(n)     # XdpMd / SkBuff
                | inttype "(" expr ")" | struct "(" [FIELD "=" expr, ...] ")"
                | FUNCTION "(" args ")"
                | print(...) | atomic_add(place, expr) | sizeof(type | expr)
                | load_byte | load_half | load_word "(" ctx, offset ")"   # LD_ABS
                | htons | ntohs | htonl | ntohl "(" expr ")"

Semantics, where Python and BPF differ:

* Integers have widths. An untyped literal takes the type it meets; arithmetic follows
  C's conversions (operands narrower than 32 bits become i32, then the wider type wins,
  unsigned at equal width), so results wrap instead of growing. A new variable takes its
  value's type (a bare literal: i64) or its annotation; later assignments convert to it.
  `//` and `%` round as Python's do (toward minus infinity; `%` takes the divisor's
  sign), built from unsigned division on signed operands; a zero divisor gives 0 and
  the dividend, as BPF's division does. `/` and floats are refused. A range() loop
  variable is u32 when it never goes negative.
* be16/be32/be64 are network byte order in memory: header fields and struct fields of
  those types read and write as plain numbers, byte-swapped on the way.
* `m.lookup(k)`, `ctx.header(T, off)` give a pointer that may be None; test it with
  `is None` / `is not None` (or `if p:`) before use, as the verifier demands.
  `ctx.header` emits the bounds check (`data + off + sizeof(T) <= data_end`) itself.
  Keys and values may be variables, fields or expressions (copied to the stack).
* Plain module functions are inlined; `@noinline` ones are BPF-to-BPF calls (at most
  five integer parameters). Programs cannot call programs: use a tail call.
* `print(*values, sep=" ", end="\\n")` is bpf_trace_printk: strings, f-strings and at
  most three integers (`{x:x}` for hex).
* `and`/`or` give bools; there are no lists, dicts, tuples, strings as values,
  exceptions, classes or closures in program bodies.
* An array index that is not a constant is not checked by the compiler (a constant
  one is): the verifier wants it bounded, as by a range() loop or a comparison.
* A Global is shared by every program of the object and every run; a function that
  assigns it names it in a `global` statement, as Python wants. Locals start at 0.
* The structs a program sends through a ring buffer or perf array are declared as
  record types in BTF, so pybpf's readers (RunCapture, pybpf.BPF) decode them.
"""

from .compiler import (
    CompiledObject,
    compile_file,
    compile_module,
    compile_program,
    compile_source,
)
from .errors import CompileError
from .lang import *  # noqa: F403 - the language's names, listed once in lang.__all__
from .lang import __all__ as _lang_all
from .refusal import ProgramRefused


def __getattr__(name: str) -> object:
    """bpf_<helper> names, for `from pybpf.frontend.python import bpf_ktime_get_ns`."""
    from . import lang
    return lang.__getattr__(name)


__all__ = [
    "CompileError",
    "CompiledObject",
    "ProgramRefused",
    "compile_file",
    "compile_module",
    "compile_program",
    "compile_source",
]
__all__ += list(_lang_all)
