"""Global functions (BTF_FUNC_GLOBAL in func_info) are verified once against their BTF
prototype, as the 6.18 kernel does: callers' arguments checked (scalars, the context
pointer, sized memory, NULL), the function from its prototype's arguments (memory
nullable), R0 a scalar at its exit, and the packet pointers of callers cleared after a
global function that may change packet data (a helper that does, or a tail call).
EXPECT holds the kernel's first error line per program (None: accepted), with all
capabilities and, where different, with only CAP_BPF + CAP_NET_ADMIN; the kernel test
loads every program in the running kernel in both modes and compares."""

from __future__ import annotations

from pathlib import Path

import pytest

import pybpf
from pybpf.errors import VerifierError
from pybpf.verifier import ALL_CAPS, verify_spec
from tests.conftest import kernel_available
from tests.verifier.kernelcmp import object_differences, table_mismatches

OBJ = Path(__file__).parent / "data" / "globalfuncs.o"
MODES = {"all": ALL_CAPS, "bpf+net_admin": ("bpf", "net_admin")}
EXPECT: dict[str, "str | None | tuple[str | None, str | None]"] = {
    'ok_scalar': None,
    'ok_ctx': (None,
        'R0 pointer -= pointer prohibited'),
    'ok_mem': None,
    'bad_mem_deref': "R1 invalid mem access 'mem_or_null'",
    'ok_null_arg': None,
    'stale_pkt': ("R6 invalid mem access 'scalar'",
        'R6 !read_ok'),
    'ok_pkt_reload': None,
    'bad_small_arg': "R1 invalid mem access 'mem_or_null'",
    'bad_pkt_as_mem': 'invalid access to packet, off=0 size=4, R1(id=0,off=0,r=2)',
    'ok_pkt_as_mem': None,
    'ok_void': "Global function g_void() doesn't return scalar. Only those are supported.",
    'ok_voidp': "arg#0 reference type('UNKNOWN ') size cannot be determined: -22",
    't_retptr': ('At subprogram exit the register R0 is not a scalar value (mem_or_null)',
        'invalid read from stack R1 off=-4 size=4'),
    't_pair_map': 'invalid access to map value, value_size=4 off=0 size=8',
    't_map_ok': None,
    't_rodata': 'write into map forbidden, value_size=7 off=0 size=4',
    't_tail_pkt': ("R6 invalid mem access 'scalar'",
        'R6 !read_ok'),
    't_nested_pkt': ("R6 invalid mem access 'scalar'",
        'R6 !read_ok'),
    't_static_pkt': ("R6 invalid mem access 'scalar'",
        'R6 !read_ok'),
    't_ctx_scalar': 'arg#0 expects pointer to ctx',
    't_ok_plain': None,
    't_ptr_as_scalar': 'R1 is not a scalar',
    't_ctx_off': 'dereference of modified ctx ptr R1 off=4 disallowed',
    't_fwd': "arg#0 reference type('FWD fwd') size cannot be determined: -22",
    't_td': None,
    't_arr_small': (None,
        'invalid read from stack R1 off -16+12 size 16'),
    't_arr_ok': None,
    't_pp': (None,
        'invalid read from stack R1 off=-8 size=8'),
    't_pkt_end': 'R1 type=pkt_end expected=fp',
    't_ctx_ok': None,
    't_tc_ctx': 'R1 type=ctx expected=fp',
}


@pytest.fixture(scope="module")
def spec():
    return pybpf.load(str(OBJ))


def test_every_program_is_in_the_table(spec) -> None:
    assert sorted(spec.programs) == sorted(EXPECT)


@pytest.mark.parametrize("mode", list(MODES))
def test_verdicts_are_the_kernels(spec, mode: str) -> None:
    wrong = table_mismatches(spec, EXPECT, mode, MODES[mode])
    assert not wrong, wrong


def test_the_log_says_what_the_kernel_says(spec) -> None:
    r = verify_spec(spec, "ok_mem", log_level=2)
    assert "Func#1 ('g_mem') is global and assumed valid." in r.log
    assert "Validating g_mem() func#1..." in r.log
    assert "Func#1 ('g_mem') is safe for any args that match its prototype" in r.log
    r = verify_spec(spec, "bad_mem_deref", log_level=1)
    assert r.log.startswith("Validating g_mem_nonull_check() func#1...")  # level 1: last
    r = verify_spec(spec, "ok_void", log_level=1)
    assert "Caller passes invalid args into func#1 ('g_void')" in r.log


def test_global_functions_run_on_the_vm_after_verification(spec) -> None:
    with spec.instantiate("vm", programs=["ok_mem", "ok_null_arg", "t_td"]) as obj:
        assert obj.programs["ok_mem"].test_run(data_in=bytes(64)).retval == 2
        assert obj.programs["ok_null_arg"].test_run(data_in=bytes(64)).retval == 2
        assert not [w for w in obj.warnings if "not verified" in w]
    with pytest.raises(VerifierError, match="mem_or_null"):
        spec.instantiate("vm", programs=["bad_mem_deref"])


@pytest.mark.kernel
@pytest.mark.parametrize("mode", list(MODES))
def test_table_against_kernel(mode: str) -> None:
    ok, why = kernel_available()
    if not ok:
        pytest.skip(why)
    diff = object_differences(OBJ, MODES[mode])
    assert not diff, diff


def _clobbered_ctx_case():
    """t_ctx_ok with a helper call first: r1 (the context) is then uninitialised when
    the global function expecting the context is called."""
    from dataclasses import replace

    from pybpf.asm import assemble_insns
    from pybpf.tools.verifygen import program_case
    c = program_case(pybpf.load(OBJ), "t_ctx_ok")
    insns = tuple(assemble_insns("call bpf_ktime_get_ns")) + tuple(c.insns)
    fi = tuple((pc + 1 if pc else 0, t) for pc, t in c.func_info)
    return replace(c, insns=insns, func_info=fi)


@pytest.mark.parametrize("mode", list(MODES))
def test_uninit_arg_of_global_func(mode):
    """check_func_arg_reg_off: an uninitialised register passed for a context argument
    is a 'variable ?' access, before the type check (the kernel's line)."""
    c = _clobbered_ctx_case()
    from pybpf.verifier import verify
    r = verify(c.insns, c.prog_type, maps=dict(enumerate(c.maps)), caps=MODES[mode],
               func_info=c.func_info, btf=c.btf, license=c.license)
    assert r.error == "variable ? access var_off=(0x0; 0xffffffffffffffff) disallowed"


@pytest.mark.kernel
@pytest.mark.parametrize("mode", list(MODES))
def test_uninit_arg_of_global_func_kernel(mode):
    ok, why = kernel_available()
    if not ok:
        pytest.skip(why)
    from pybpf.kernel.verdict import KernelOracle
    from pybpf.tools.verifygen.campaign import refusal_line
    c = _clobbered_ctx_case()
    with KernelOracle() as o:
        v = o.verdict(c.insns, c.prog_type, maps=c.maps, caps=frozenset(MODES[mode]),
                      btf=c.btf, func_info=c.func_info, license=c.license)
    assert refusal_line(v.error_line, v.log) == \
        "variable ? access var_off=(0x0; 0xffffffffffffffff) disallowed"
