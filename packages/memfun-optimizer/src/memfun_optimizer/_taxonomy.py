"""Why a run failed: one failure taxonomy shared by the eval runner and trace analysis."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, Literal, cast, get_args

from memfun_runtime.protocols import JSONValue

__all__ = ["FAILURE_KINDS", "FailureKind", "failure_of_outcome", "failure_of_trace"]

FailureKind = Literal[
    "tool_error",
    "sandbox_limit",
    "budget_exhausted",
    "malformed_output",
    "verification_failed",
    "wrong_answer",
    "stuck",
    "interrupted",
    "cancelled",
    "model_error",
    "internal_error",
    "other",
]
"""What went wrong in a run that did not succeed (see ``docs/optimizer.md``)."""

FAILURE_KINDS: Final = cast("tuple[FailureKind, ...]", get_args(FailureKind))
"""Every failure kind, in the order of :data:`FailureKind`."""

_BY_OUTCOME: Final[Mapping[str, FailureKind]] = {
    "max_iterations": "budget_exhausted",
    "max_llm_calls": "budget_exhausted",
    "max_tokens": "budget_exhausted",
    "max_cost": "budget_exhausted",
    "max_wall_time": "budget_exhausted",
    "malformed_replies": "malformed_output",
    "model_error": "model_error",
    "sandbox_error": "sandbox_limit",
    "stuck": "stuck",
    "interrupted": "interrupted",
    "cancelled": "cancelled",
    "timeout": "budget_exhausted",
    "internal_error": "internal_error",
}
_LIMIT_WORDS: Final = ("timed out", "time limit", "memory limit", "memoryerror", "killed")


def failure_of_outcome(outcome: str) -> FailureKind | None:
    """The failure kind of a run's stop reason (``None`` for ``completed``)."""
    if outcome == "completed":
        return None
    return _BY_OUTCOME.get(outcome, "other")


def _last_step_error(records: Sequence[Mapping[str, JSONValue]]) -> str:
    for record in reversed(records):
        if record.get("kind") == "step" and record.get("error"):
            return str(record.get("error")).lower()
    return ""


def _field(value: JSONValue, key: str) -> JSONValue:
    """``value[key]`` when ``value`` is a JSON object, else ``None``."""
    if isinstance(value, dict):
        return cast("dict[str, JSONValue]", value).get(key)
    return None


def _verdict_failure(metadata: Mapping[str, JSONValue]) -> FailureKind | None:
    """The failure of a completed run from its eval verdict or final verification."""
    verdict = metadata.get("eval")
    if _field(verdict, "solved") is False:
        kind = _field(verdict, "failure")
        for known in FAILURE_KINDS:
            if known == kind:
                return known
        return "other"
    if _field(metadata.get("verification"), "passed") is False:
        return "verification_failed"
    return None


def failure_of_trace(
    outcome: str,
    records: Sequence[Mapping[str, JSONValue]],
    metadata: Mapping[str, JSONValue],
) -> FailureKind | None:
    """Classify a stored run: ``None`` when it succeeded.

    A completed run fails when its eval verdict says so (``metadata["eval"]``) or when the
    project's checks failed at the end (``metadata["verification"]["passed"]`` false). A
    run stopped by repeated identical errors counts as ``tool_error`` when those errors came
    from a tool, and a run whose last step hit a sandbox limit as ``sandbox_limit``.
    """
    if outcome == "completed":
        return _verdict_failure(metadata)
    kind = failure_of_outcome(outcome)
    last = _last_step_error(records)
    if kind == "stuck" and ("toolfailed" in last or "toolerror" in last):
        return "tool_error"
    if kind in ("stuck", "budget_exhausted", "other") and any(w in last for w in _LIMIT_WORDS):
        return "sandbox_limit"
    return kind
