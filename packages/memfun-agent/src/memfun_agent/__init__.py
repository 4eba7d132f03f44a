"""memfun-agent: the RLM coding agent on ``dspy.RLM``.

Importing this package loads nothing heavy: DSPy and LiteLLM are imported by the modules
that need them. It sets ``LITELLM_LOCAL_MODEL_COST_MAP=True`` (unless already set) so that
neither LiteLLM nor DSPy fetches model metadata or a cost map over the network: the only
network call an agent run makes is to the configured model.
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import version as _version
from typing import TYPE_CHECKING, Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

if TYPE_CHECKING:
    from memfun_agent._agent import AgentResult, RLMAgent, StopReason
    from memfun_agent._audit import RunAudit, run_audit
    from memfun_agent._budget import Budgets, Pricing, Usage
    from memfun_agent._program import (
        AgentProgram,
        default_program,
        load_program,
        promoted_program,
    )
    from memfun_agent._providers import NO_KEY, ModelLimits, build_lm, check_llm, model_limits
    from memfun_agent._skills import AgentSkillExecutor
    from memfun_agent._verify import Check, CheckResult, Verification, Verifier, detect_checks
    from memfun_agent.tools import PermissionPolicy, ToolBridge
    from memfun_agent.traces import RunTrace, TraceStore

__all__ = [
    "NO_KEY",
    "AgentProgram",
    "AgentResult",
    "AgentSkillExecutor",
    "Budgets",
    "Check",
    "CheckResult",
    "ModelLimits",
    "PermissionPolicy",
    "Pricing",
    "RLMAgent",
    "RunAudit",
    "RunTrace",
    "StopReason",
    "ToolBridge",
    "TraceStore",
    "Usage",
    "Verification",
    "Verifier",
    "__version__",
    "build_lm",
    "check_llm",
    "default_program",
    "detect_checks",
    "load_program",
    "model_limits",
    "promoted_program",
    "run_audit",
]

_LAZY: dict[str, str] = {
    "AgentResult": "memfun_agent._agent",
    "RLMAgent": "memfun_agent._agent",
    "StopReason": "memfun_agent._agent",
    "RunAudit": "memfun_agent._audit",
    "run_audit": "memfun_agent._audit",
    "AgentProgram": "memfun_agent._program",
    "default_program": "memfun_agent._program",
    "load_program": "memfun_agent._program",
    "promoted_program": "memfun_agent._program",
    "Budgets": "memfun_agent._budget",
    "Pricing": "memfun_agent._budget",
    "Usage": "memfun_agent._budget",
    "Check": "memfun_agent._verify",
    "CheckResult": "memfun_agent._verify",
    "Verification": "memfun_agent._verify",
    "Verifier": "memfun_agent._verify",
    "detect_checks": "memfun_agent._verify",
    "build_lm": "memfun_agent._providers",
    "check_llm": "memfun_agent._providers",
    "NO_KEY": "memfun_agent._providers",
    "ModelLimits": "memfun_agent._providers",
    "model_limits": "memfun_agent._providers",
    "AgentSkillExecutor": "memfun_agent._skills",
    "PermissionPolicy": "memfun_agent.tools",
    "ToolBridge": "memfun_agent.tools",
    "RunTrace": "memfun_agent.traces",
    "TraceStore": "memfun_agent.traces",
}

__version__ = _version("memfun-agent")


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'memfun_agent' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
