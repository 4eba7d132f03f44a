"""Trace analysis: what worked, what it cost and why runs failed (``memfun trace stats``).

Example:
    >>> from memfun_optimizer.stats import analyze
    >>> stats = analyze(await TraceStore(runtime).list(limit=1000))  # doctest: +SKIP
    >>> stats.by_kind[0].success_rate  # doctest: +SKIP
"""

from __future__ import annotations

from memfun_optimizer.stats._stats import (
    GroupStats,
    ToolSequence,
    TraceStats,
    analyze,
    task_kind,
    tool_sequence,
)

__all__ = ["GroupStats", "ToolSequence", "TraceStats", "analyze", "task_kind", "tool_sequence"]
