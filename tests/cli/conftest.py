"""Fixtures for the command-line tests: the tiny fast-network model files of tests/fast, shared."""

from __future__ import annotations

from fast.conftest import EXAMPLES, tiny_model, tiny_net

__all__ = ["EXAMPLES", "tiny_model", "tiny_net"]
