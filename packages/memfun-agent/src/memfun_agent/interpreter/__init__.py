"""Memfun sandboxes as DSPy ``CodeInterpreter`` objects, for ``dspy.RLM``."""

from __future__ import annotations

from memfun_agent.interpreter._sandboxed import SandboxInterpreter, sandbox_interpreter_factory

__all__ = ["SandboxInterpreter", "sandbox_interpreter_factory"]
