"""`pybpf prog dump xlated|jited`: a loaded program's code as the kernel holds it.

xlated: the bytecode after the verifier's rewrites, disassembled by pybpf.asm in the
kernel's syntax (bpftool's), with the kernel-internal forms the verifier leaves
(per-CPU address moves, helper calls by address, map ids in lddw) spelled as bpftool
does, helper and kfunc addresses named from /proc/kallsyms, each function's prototype
from its BTF func info and, where the program has line info, the C (or Python) source
line above its first instruction. JSON: bpftool's [{"proto"?, "src"?, "disasm"}].

jited: the native code, disassembled by objdump (or llvm-objdump) when one is
installed; otherwise hex bytes, saying so.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Any, Callable

from .. import isa
from ..asm import disassemble_insn
from ..errors import InvalidInstruction, PyBPFError
from ..helper_ids import HELPER_NAMES
from ..kernel.info import ProgDetail, btf_detail_by_id


@functools.lru_cache(maxsize=1)
def _kallsyms() -> tuple[int, dict[int, str]]:
    """__bpf_call_base and every text symbol by address (0, {} when the addresses are
    hidden: kptr_restrict, or no /proc/kallsyms)."""
    base = 0
    syms: dict[int, str] = {}
    try:
        with open("/proc/kallsyms", encoding="ascii", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3 or parts[1] not in "tTwW":
                    continue
                addr = int(parts[0], 16)
                if not addr:
                    return 0, {}
                syms.setdefault(addr, parts[2])
                if parts[2] == "__bpf_call_base":
                    base = addr
    except (OSError, ValueError):
        return 0, {}
    return base, syms


def call_name(imm: int) -> str | None:
    """The kernel function a rewritten call's imm (an offset from __bpf_call_base) is."""
    base, syms = _kallsyms()
    if not base:
        return None
    return syms.get((base + imm) & 0xFFFF_FFFF_FFFF_FFFF)


_GOTO = re.compile(r"goto ([+-]\d+)$")


@dataclass(frozen=True)
class XlatedLine:
    """One instruction of a dump: its pc, raw bytes, text, and the function prototype
    and source line shown above it (when it starts one)."""

    pc: int
    raw: bytes
    disasm: str
    proto: str | None = None
    src: str | None = None
    file: str | None = None
    line_num: int | None = None
    line_col: int | None = None


def insn_text(insn: isa.Instruction, funcs: dict[int, str], pc: int,
              resolve: Callable[[int], str | None] = call_name, *, jited: bool = False) -> str:
    """One xlated instruction as bpftool prints it: "(79) r2 = *(u64 *)(r1 +8)". In a
    JIT-compiled program a bpf-to-bpf call keeps its pc offset in `off` (the JIT put
    the callee's subprogram index in imm)."""
    op = insn.opcode
    text: str | None = None
    if op == isa.OPCODE_LDDW:
        if insn.src in (1, 5):
            text = f"r{insn.dst} = map[id:{insn.imm & 0xFFFFFFFF}]"
        elif insn.src in (2, 6):
            text = f"r{insn.dst} = map[id:{insn.imm & 0xFFFFFFFF}][0]+{insn.next_imm & 0xFFFFFFFF}"
        else:
            text = f"r{insn.dst} = {insn.imm64 & 0xFFFF_FFFF_FFFF_FFFF:#x}"
    elif op == 0x85:
        if insn.src == 1:  # bpf-to-bpf call: relative
            rel = insn.off if jited else insn.imm
            target = funcs.get(pc + 1 + rel)
            text = f"call pc{rel:+d}" + (f"#{target}" if target else "")
        else:
            name = resolve(insn.imm)
            if name is None and insn.src == 0 and insn.imm in HELPER_NAMES:
                name = "bpf_" + HELPER_NAMES[insn.imm]
            what = "kernel-function" if insn.src == 2 else "unknown"
            text = f"call {name or what}#{insn.imm}"
    elif op == 0xBF and insn.off == -1:  # BPF_MOV64_PERCPU_REG
        text = f"r{insn.dst} = &(void __percpu *)(r{insn.src})"
    if text is None:
        try:
            text = disassemble_insn(insn, "kernel")
        except InvalidInstruction:
            text = f"unknown instruction (off {insn.off} imm {insn.imm})"
        if insn.cls in (isa.BPF_JMP, isa.BPF_JMP32):  # the kernel's "goto pc+N"
            text = _GOTO.sub(r"goto pc\1", text)
    return f"({op:02x}) {text}"


def _strings(detail: ProgDetail) -> Any:
    """The program's BTF (parsed), or None when it has none or it cannot be read."""
    from ..btf import BTFError, parse
    if not detail.info.btf_id:
        return None
    try:
        blob = btf_detail_by_id(detail.info.btf_id, data=True).data
        return parse(blob, lazy=True)
    except (PyBPFError, BTFError):
        return None


def _proto(btf: Any, type_id: int) -> str | None:
    from ..btf import BTFError, Func, type_decl
    try:
        t = btf[type_id]
        if isinstance(t, Func):
            return type_decl(btf, t.type, t.name)
    except (BTFError, IndexError, KeyError):
        pass
    return None


def xlated_lines(detail: ProgDetail) -> list[XlatedLine]:
    """The program's xlated code, one XlatedLine per instruction (an lddw is one)."""
    code = detail.info.xlated_insns
    if not code and detail.info.xlated_prog_len:
        raise PyBPFError(f"program {detail.info.id}: the kernel did not return its xlated "
                         "code (it needs CAP_SYS_ADMIN, and kernel.kptr_restrict / "
                         "bpf_jit_harden may hide it)")
    btf = _strings(detail)
    protos: dict[int, str | None] = {}
    funcs: dict[int, str] = {}
    for off, tid in detail.func_info:
        protos[off] = _proto(btf, tid) if btf is not None else None
        try:
            funcs[off] = btf[tid].name if btf is not None else ""
        except Exception:  # noqa: BLE001 - a name is only a label
            pass
    lines = {r.insn_off: r for r in detail.line_info}
    out: list[XlatedLine] = []
    n = len(code) // 8
    pc = 0
    while pc < n:
        slots = 2 if code[pc * 8] == isa.OPCODE_LDDW and pc + 1 < n else 1
        raw = code[pc * 8:(pc + slots) * 8]
        try:
            insn: isa.Instruction | None = isa.decode(raw, check=False)[0]
        except PyBPFError as e:  # a truncated lddw at the end: shown, not fatal
            insn, bad = None, f"({raw[0]:02x}) invalid: {e}"
        src = file = None
        num = col = None
        rec = lines.get(pc)
        if rec is not None and btf is not None:
            try:
                src = btf.strings.get(rec.line_off).strip()
                file = btf.strings.get(rec.file_name_off)
                num, col = rec.line_num, rec.column
            except PyBPFError:
                src = None
        text = (insn_text(insn, funcs, pc, jited=bool(detail.info.jited_prog_len))
                if insn is not None else bad)
        out.append(XlatedLine(pc, raw, text, protos.get(pc), src,
                              file, num, col))
        pc += slots
    return out


def format_xlated(lines: list[XlatedLine], *, opcodes: bool = False,
                  linum: bool = False) -> str:
    """bpftool's plain `prog dump xlated` layout."""
    out = []
    for ln in lines:
        if ln.proto is not None:
            out.append(f"{ln.proto}:")
        if ln.src is not None:
            where = f" [file:{ln.file} line_num:{ln.line_num} line_col:{ln.line_col}]" \
                if linum else ""
            out.append(f"; {ln.src}{where}")
        out.append(f"{ln.pc:4d}: {ln.disasm}")
        if opcodes:
            out.append("       " + " ".join(f"{b:02x}" for b in ln.raw[:8]))
            if len(ln.raw) > 8:
                out.append("       " + " ".join(f"{b:02x}" for b in ln.raw[8:]))
    return "\n".join(out) + "\n"


def xlated_json(lines: list[XlatedLine], *, opcodes: bool = False,
                linum: bool = False) -> list[dict[str, Any]]:
    """bpftool's `-j prog dump xlated` records."""
    out = []
    for ln in lines:
        rec: dict[str, Any] = {}
        if ln.proto is not None:
            rec["proto"] = ln.proto
        if ln.src is not None:
            rec["src"] = ln.src
            if linum:  # as bpftool: only what is there
                if ln.file:
                    rec["file"] = ln.file
                if ln.line_num:
                    rec["line_num"] = ln.line_num
                if ln.line_col:
                    rec["line_col"] = ln.line_col
        rec["disasm"] = ln.disasm
        if opcodes:
            rec["opcodes"] = {"code": f"{ln.raw[0]:#04x}", "src_reg": f"{ln.raw[1] >> 4:#x}",
                              "dst_reg": f"{ln.raw[1] & 15:#x}",
                              "off": [f"{b:#04x}" for b in ln.raw[2:4]],
                              "imm": [f"{b:#04x}" for b in ln.raw[4:8]]}
        out.append(rec)
    return out


# --- jited -------------------------------------------------------------------------------------

_OBJDUMP_ARCH = {"x86_64": "i386:x86-64", "aarch64": "aarch64", "riscv64": "riscv:rv64",
                 "s390x": "s390:64-bit", "ppc64le": "powerpc:common64",
                 "loongarch64": "Loongarch64"}


def disassembler() -> str | None:
    """The native disassembler found on PATH (objdump, llvm-objdump), or None."""
    for tool in ("objdump", "llvm-objdump"):
        if shutil.which(tool):
            return tool
    return None


def _objdump(tool: str, code: bytes) -> list[str] | None:
    """objdump's disassembly of raw code: "offset: bytes  insn" lines, None if it fails."""
    arch = _OBJDUMP_ARCH.get(platform.machine())
    if arch is None:
        return None
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(code)
        f.flush()
        if tool == "llvm-objdump":
            triple = {"x86_64": "x86_64", "aarch64": "aarch64"}.get(platform.machine())
            if triple is None:
                return None
            cmd = [tool, "-D", f"--triple={triple}", "-b", "binary", f.name]
        else:
            cmd = [tool, "-D", "-b", "binary", "-m", arch, f.name]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False,
                                 env={**os.environ, "LC_ALL": "C"})
        except (OSError, subprocess.TimeoutExpired):
            return None
    if res.returncode:
        return None
    out = []
    for line in res.stdout.splitlines():
        head, sep, rest = line.partition(":\t")
        if sep and head.strip() and all(c in "0123456789abcdef" for c in head.strip()):
            out.append(f"{head.strip():>4}:\t{rest}")
    return out or None


def jited_dump(detail: ProgDetail, *, use_disassembler: bool = True) -> dict[str, Any]:
    """The native code per function: {"arch", "disassembler" (None: hex only),
    "functions": [{"name", "bytes", "lines"}]}."""
    code = detail.info.jited_insns
    if not detail.info.jited_prog_len:
        raise PyBPFError(f"program {detail.info.id} is not JIT-compiled "
                         "(net.core.bpf_jit_enable is 0, or the kernel has no JIT)")
    if not code:
        raise PyBPFError(f"program {detail.info.id}: the kernel did not return its native "
                         "code (it needs CAP_SYS_ADMIN; kernel.kptr_restrict may hide it)")
    btf = _strings(detail) if detail.func_info else None
    names = []
    for _, tid in detail.func_info:
        try:
            names.append(btf[tid].name if btf is not None else "")
        except Exception:  # noqa: BLE001 - a name is only a label
            names.append("")
    lens = detail.jited_func_lens or [len(code)]
    if sum(lens) != len(code):
        lens = [len(code)]
    tool = disassembler() if use_disassembler else None
    funcs, at = [], 0
    for k, size in enumerate(lens):
        part = code[at:at + size]
        at += size
        lines = _objdump(tool, part) if tool else None
        funcs.append({"name": (names[k] if k < len(names) and names[k]
                               else detail.info.name if k == 0 else f"func#{k}"),
                      "bytes": part, "lines": lines})
    used = tool if any(f["lines"] is not None for f in funcs) else None
    why = ("hex bytes, as asked" if not use_disassembler else
           "no native disassembler (objdump or llvm-objdump) found" if tool is None else
           f"{tool} could not disassemble {platform.machine()} code")
    return {"arch": platform.machine(), "disassembler": used, "functions": funcs,
            "hex_reason": None if used else why}


def format_jited(dump: dict[str, Any]) -> str:
    out = []
    if dump["disassembler"] is None:
        out.append(f"; {dump['hex_reason']}: the {dump['arch']} code as hex bytes")
    for f in dump["functions"]:
        out.append(f"{f['name']}:")
        if f["lines"] is not None:
            out.extend(f["lines"])
        else:
            b = f["bytes"]
            out.extend(f"{i:4x}:\t" + " ".join(f"{x:02x}" for x in b[i:i + 16])
                       for i in range(0, len(b), 16))
        out.append("")
    return "\n".join(out)


def jited_json(dump: dict[str, Any]) -> list[dict[str, Any]]:
    """[{"name", "insns": [{"pc", "operation"?, "opcodes"}]}] (bytes always as hex)."""
    out = []
    for f in dump["functions"]:
        rec: dict[str, Any] = {"name": f["name"], "bytes": f["bytes"].hex()}
        if f["lines"] is not None:
            rec["insns"] = f["lines"]
        out.append(rec)
    return out
