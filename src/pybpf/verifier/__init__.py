"""pybpf's eBPF verifier: proves a program safe before it runs, with the verdict, the
first error line and the log of Linux 6.18's verifier (kernel/bpf/verifier.c).

`verify()` checks instructions for one program type; `verify_spec()` one program of an
ObjectSpec. Both return a VerifierResult; callers that want an exception on refusal
call `result.raise_for_refusal()` (VerifierError, the base the kernel backend shares)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import VerifierError
from ..isa import Instruction
from ..maps.spec import MapSpec
from ..uapi import ProgType
from .log import SourceLine, SourceLines, describe_path, format_path

__all__ = ["ALL_CAPS", "SourceLine", "SourceLines", "VerifierError", "VerifierResult",
           "describe_path", "format_path", "verify", "verify_spec", "warm_up"]

ALL_CAPS: tuple[str, ...] = ("bpf", "perfmon", "net_admin", "sys_admin")


@dataclass(frozen=True)
class VerifierResult:
    """The verdict on one program. `error` is the kernel's wording of the first error
    line (None when accepted), `pc` its instruction; the figures are the kernel's
    summary line's (processed insns, states)."""

    accepted: bool
    error: str | None
    pc: int | None
    log: str
    insns_processed: int
    max_states_per_insn: int
    total_states: int
    peak_states: int
    verify_ns: int
    hint: str | None = None
    path: tuple[Any, ...] = field(default=())  # (insn, jump taken) per branch, in order
    source: SourceLine | None = None  # the failing insn's source line (BTF line info)

    @property
    def line(self) -> int | None:
        """The source line number of the failing instruction (None without line info)."""
        return self.source.line if self.source is not None else None

    def raise_for_refusal(self) -> None:
        """Raise VerifierError (with .log, .pc, .error, .source, .path) if the program
        was refused."""
        if not self.accepted:
            raise self.error_exception()

    def error_exception(self, log: str | None = None) -> VerifierError:
        """The VerifierError of this refusal (`log` in place of the result's own)."""
        return VerifierError(self.error or "refused", self.pc, self.log if log is None else log,
                             source=self.source, path=self.path)


def verify(insns: Sequence[Instruction], prog_type: ProgType | int, *,
           maps: Mapping[int, MapSpec] = {},
           expected_attach_type: int | None = None,
           caps: Iterable[str] = ALL_CAPS,
           license: str = "GPL", log_level: int = 0,
           func_info: Any = None, line_info: Any = None, btf: Any = None,
           private_stack: bool = False) -> VerifierResult:
    """Verify `insns` as a program of `prog_type`. `maps` maps the imm of each map lddw
    (BPF_PSEUDO_MAP_FD / _VALUE / _IDX / _IDX_VALUE: an fd or an index) to its MapSpec;
    `caps` the capabilities of the load (any of ALL_CAPS); `private_stack` whether the
    target kernel's JIT gives tracing programs a private stack (pybpf.kernel.probe's
    probe_private_stack tells for the running kernel)."""
    from .engine import run_verifier
    return run_verifier(insns, prog_type, maps=maps,
                        expected_attach_type=expected_attach_type, caps=caps,
                        license=license, log_level=log_level, func_info=func_info,
                        line_info=line_info, btf=btf, private_stack=private_stack)


def verify_spec(spec: Any, program: str, *, caps: Iterable[str] = ALL_CAPS,
                log_level: int = 0) -> VerifierResult:
    """Verify program `program` of an ObjectSpec, with its maps, license and attach
    type (the map lddws are resolved by name to the spec's MapSpecs)."""
    from .spec import verify_program_spec
    return verify_program_spec(spec, program, caps=caps, log_level=log_level)


_WARM_PROGRAM = """r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
r1 = 0 ll
call bpf_map_lookup_elem
r0 = 0
exit"""


def warm_up() -> None:
    """Load what the verifier otherwise loads on first use: its rules' modules, every
    program type's context table, helper set and return range (a small program of each
    type, with a map lookup, verified once). What a timed verification then measures is
    the verification, as the kernel's tables exist before its first load."""
    from ..asm import assemble_insns
    from . import engine, hints, mapfields  # noqa: F401  (loaded on first use otherwise)
    insns = assemble_insns(_WARM_PROGRAM)
    maps = {0: MapSpec("array", 4, 8, 1, name="warm")}
    for pt in ProgType:
        if pt:
            verify(insns, pt, maps=maps)
            verify(insns, pt, maps=maps, caps=("bpf", "net_admin"), log_level=2)
