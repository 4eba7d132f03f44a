"""The effectiveness loop: recorded outcomes of a skill lower its rank for a kind of task.

Every skill run records its outcome in the runtime's ``SkillRegistry`` with the kind of task
(``ask``, ``fix``, ``chat``, ...) in the record's metadata (``task_kind``). A skill that failed
most of its recent runs of that kind gets a :class:`RoutePenalty`: the router multiplies its
BM25 score by the penalty's factor and shows the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from memfun_runtime.protocols import SkillInvocation, SkillRegistry

__all__ = ["RoutePenalty", "outcome_penalty", "route_penalties"]

WINDOW = 10
"""Recent runs of the same kind of task that count."""
MIN_RUNS = 3
"""Runs of that kind needed before a skill is judged."""
FAILING_SHARE = 0.5
"""The share of failed runs from which a skill ranks lower."""
_MAX_CUT = 0.75  # a skill that always fails keeps a quarter of its score


@dataclass(frozen=True, slots=True)
class RoutePenalty:
    """Why and how much a skill ranks lower.

    Attributes:
        factor: Multiplies the skill's BM25 score (``0.25`` to ``1``).
        reason: In words, e.g. ``failed 4 of its last 5 fix runs``.
    """

    factor: float
    reason: str


def outcome_penalty(
    records: Sequence[SkillInvocation], *, task_kind: str | None = None
) -> RoutePenalty | None:
    """The penalty from a skill's recorded runs (newest first), or ``None`` when it does well.

    Only runs of ``task_kind`` count (all runs when ``None``): the last :data:`WINDOW` of
    them, and at least :data:`MIN_RUNS`. ``failure`` and ``error`` count as failed.
    """
    runs = [r for r in records if task_kind is None or r.metadata.get("task_kind") == task_kind]
    runs = runs[:WINDOW]
    if len(runs) < MIN_RUNS:
        return None
    failed = sum(1 for r in runs if r.outcome != "success")
    share = failed / len(runs)
    if share < FAILING_SHARE:
        return None
    kind = f" {task_kind}" if task_kind else ""
    return RoutePenalty(
        round(1.0 - _MAX_CUT * share, 3), f"failed {failed} of its last {len(runs)}{kind} runs"
    )


async def route_penalties(
    registry: SkillRegistry, names: Iterable[str], *, task_kind: str | None = None
) -> dict[str, RoutePenalty]:
    """The penalties of the skills ``names`` for ``task_kind``, from ``registry``'s records."""
    penalties: dict[str, RoutePenalty] = {}
    for name in names:
        penalty = outcome_penalty(
            await registry.invocations(name, limit=WINDOW * 5), task_kind=task_kind
        )
        if penalty is not None:
            penalties[name] = penalty
    return penalties
