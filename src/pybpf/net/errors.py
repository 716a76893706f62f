"""Errors of the network model (pybpf.net)."""

from __future__ import annotations

from ..errors import PyBPFError


class NetError(PyBPFError):
    """Base of the errors of pybpf.net."""


class NetnsError(NetError):
    """The namespace description is inconsistent or could not be read."""
