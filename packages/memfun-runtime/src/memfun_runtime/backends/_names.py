"""Names a test derives for a shared Redis or NATS server, unique per test run."""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["RUN_ID", "namespace_for"]

RUN_ID = secrets.token_hex(6)
"""Random per test process: it salts every name a test derives for a shared server, so two
runs against one Redis or NATS (two sessions, two containers whose temporary folders have
the same paths, a crashed run's leftovers) never reach each other's data."""


def namespace_for(seed: str) -> str:
    """Return a namespace for a shared server, derived from ``seed`` and :data:`RUN_ID`.

    The same seed (a test's folder) gives the same namespace inside one process, so a test
    that builds a backend twice on one folder reaches the same data; another process (another
    test run) gets another namespace for the same seed.

    Example:
        >>> namespace_for("/tmp/a") == namespace_for("/tmp/a")
        True
    """
    return "t" + hashlib.sha256(f"{RUN_ID}:{seed}".encode()).hexdigest()[:20]
