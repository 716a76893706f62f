"""Restricted Python compiled to BPF (see docs in grammar.md)."""
from .compiler import (CompiledObject, compile_file, compile_module, compile_program,
                       compile_source)
from .errors import CompileError
from .refusal import ProgramRefused
from .lang import *  # noqa: F403
