"""Evals: task suites (``memfun.evals/1``), run in scratch copies, judged, traced.

The runner is the metric behind every optimization: :func:`run_suite` returns an
:class:`EvalReport` whose ``score`` is the share of attempts solved.

Example:
    >>> from memfun_optimizer.evals import load_suite
    >>> suite = load_suite("evals/memfun")  # doctest: +SKIP
    >>> attempts = agent_attempts(make_agent)  # doctest: +SKIP
    >>> report = await run_suite(suite, attempts, sandbox=sandbox)  # doctest: +SKIP
"""

from __future__ import annotations

from memfun_optimizer.evals._check import CheckContext, Verdict, judge
from memfun_optimizer.evals._runner import (
    Attempt,
    AttemptRunner,
    EvalReport,
    EvalResult,
    agent_attempts,
    run_suite,
)
from memfun_optimizer.evals._suite import SUITE_SCHEMA, Checker, EvalSuite, EvalTask, load_suite

__all__ = [
    "SUITE_SCHEMA",
    "Attempt",
    "AttemptRunner",
    "CheckContext",
    "Checker",
    "EvalReport",
    "EvalResult",
    "EvalSuite",
    "EvalTask",
    "Verdict",
    "agent_attempts",
    "judge",
    "load_suite",
    "run_suite",
]
