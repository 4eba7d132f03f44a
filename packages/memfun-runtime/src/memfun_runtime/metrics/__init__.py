"""Operating numbers of a durable tier: queue depths and consumer-group lag.

Read from the tier's own storage, so any process (a worker's ``/metrics`` endpoint,
``memfun runtime status``) sees the whole deployment's numbers.

Example:
    >>> from memfun_runtime.metrics import read_stats
    >>> # stats = await read_stats(started_backend)
    >>> # [(q.queue, q.pending, q.leased) for q in stats.queues]
"""

from __future__ import annotations

from memfun_runtime.metrics._stats import (
    STATS_TIERS,
    GroupStats,
    QueueStats,
    RuntimeStats,
    read_stats,
)

__all__ = ["STATS_TIERS", "GroupStats", "QueueStats", "RuntimeStats", "read_stats"]
