"""C to a BPF object without a system toolchain: clang from PATH, or the clang inside
the `ziglang` package (`pip install 'pybpf[cc]'`), with pybpf's own headers
(bpf/bpf_helpers.h, bpf/bpf_endian.h, bpf/bpf_helper_defs.h, vmlinux.h) first on
the include path and the Linux UAPI headers of the system or of zig after them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import PyBPFError
from ..spec import ObjectSpec
from .headers import HEADERS, vmlinux_header

TIMEOUT_S = 300
BASE_FLAGS = ["-O2", "-g", "-mcpu=v3", "-D__BPF__", "-D__TARGET_ARCH_x86",
              "-Wno-unused-command-line-argument"]


class CCompileError(PyBPFError):
    """No C compiler, or the compiler refused the source (its diagnostics attached)."""

    def __init__(self, message: str, diagnostics: str = "") -> None:
        self.diagnostics = diagnostics
        super().__init__(message + (f":\n{diagnostics}" if diagnostics else ""))


@dataclass
class CompiledC:
    elf: bytes
    command: list[str]
    compiler: str  # "clang" or "zig"

    def spec(self, name: str = "") -> ObjectSpec:
        from ..elf import load
        return load(self.elf, name=name)


@dataclass(frozen=True)
class Toolchain:
    name: str
    argv: list[str]  # the command up to the flags
    flags: list[str]  # target and include flags of this compiler


def _zig_lib() -> Path | None:
    try:
        import ziglang
    except ImportError:
        return None
    lib = Path(ziglang.__file__).parent / "lib"
    return lib if lib.is_dir() else None


def find_toolchain(which: str = "auto") -> Toolchain:
    """clang from PATH ("clang"), the ziglang package's clang ("zig"), or the first of
    them found ("auto")."""
    if which not in ("auto", "clang", "zig"):
        raise CCompileError(f"unknown compiler {which!r}: auto, clang or zig")
    if which in ("auto", "clang"):
        clang = shutil.which("clang")
        if clang:
            uapi = [f"-idirafter{d}" for d in ("/usr/include/x86_64-linux-gnu",
                                                "/usr/include/aarch64-linux-gnu",
                                                "/usr/include") if os.path.isdir(d)]
            return Toolchain("clang", [clang], ["-target", "bpfel", *uapi])
        if which == "clang":
            raise CCompileError("no clang on PATH", "")
    lib = _zig_lib()
    if lib is None:
        raise CCompileError("no C compiler for BPF: install clang, or the ziglang package "
                            "(pip install 'pybpf[cc]')")
    inc = lib / "libc" / "include"
    uapi = [f"-idirafter{inc / d}" for d in ("any-linux-any", "x86-linux-any")
            if (inc / d).is_dir()]
    return Toolchain("zig", [sys.executable, "-m", "ziglang", "cc"],
                     ["-target", "bpfel-freestanding-none", *uapi])


def compile_c_object(source_or_path: str | os.PathLike[str], cflags: Sequence[str] = (), *,
                     compiler: str = "auto", vmlinux: bool = True) -> CompiledC:
    """Compile C (a path, or source text) to a BPF ELF object in memory."""
    for f in cflags:
        if not isinstance(f, str) or f.startswith(("-o", "-c")) or f in ("-E", "-S"):
            raise CCompileError(f"cflag {f!r} is not allowed (pybpf sets -c and -o)")
    tc = find_toolchain(compiler)
    with tempfile.TemporaryDirectory(prefix="pybpf-cc-") as tmp:
        path, text = _source(source_or_path, Path(tmp))
        incs = [f"-I{HEADERS}"]
        if vmlinux and re.search(r'#\s*include\s*[<"]vmlinux\.h[>"]', text):
            try:
                incs.append(f"-I{vmlinux_header()}")
            except OSError as e:
                raise CCompileError(f"cannot make vmlinux.h from the kernel's BTF: {e}") \
                    from None
        out = Path(tmp) / "out.o"
        cmd = [*tc.argv, *tc.flags, *BASE_FLAGS, *incs, *cflags, "-c", str(path), "-o",
               str(out)]
        env = dict(os.environ)
        env.setdefault("ZIG_GLOBAL_CACHE_DIR", str(Path(tempfile.gettempdir()) /
                                                   "pybpf-zig-cache"))
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S,
                               env=env, check=False)
        except subprocess.TimeoutExpired:
            raise CCompileError(f"{tc.name} did not finish in {TIMEOUT_S} s") from None
        except OSError as e:
            raise CCompileError(f"cannot run {tc.name}: {e.strerror}") from None
        if r.returncode != 0 or not out.exists():
            diag = (r.stderr or r.stdout).strip()
            lines = diag.splitlines()
            if len(lines) > 60:
                diag = "\n".join(lines[:60] + [f"... ({len(lines) - 60} more lines)"])
            raise CCompileError(f"{tc.name} failed on {path.name} (exit {r.returncode})",
                                diag)
        return CompiledC(out.read_bytes(), cmd, tc.name)


def compile_c(source_or_path: str | os.PathLike[str], cflags: Sequence[str] = (), *,
              compiler: str = "auto", vmlinux: bool = True) -> ObjectSpec:
    """C source text or a .c path in, an ObjectSpec out (see compile_c_object)."""
    name = os.path.basename(source_or_path) if _is_path(source_or_path) else "<source>.c"
    return compile_c_object(source_or_path, cflags, compiler=compiler,
                            vmlinux=vmlinux).spec(str(name))


def _is_path(s: str | os.PathLike[str]) -> bool:
    if isinstance(s, os.PathLike):
        return True
    return "\n" not in s and len(s) < 4096 and s.endswith((".c", ".h")) or os.path.exists(s)


def _source(source_or_path: str | os.PathLike[str], tmp: Path) -> tuple[Path, str]:
    if _is_path(source_or_path):
        p = Path(source_or_path)
        try:
            return p.resolve(), p.read_text(errors="replace")
        except OSError as e:
            raise CCompileError(f"cannot read {p}: {e.strerror}") from None
    p = tmp / "source.c"
    p.write_text(str(source_or_path))
    return p, str(source_or_path)
