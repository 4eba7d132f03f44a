"""What tests share about a Redis or NATS server: unique names per run, why tests skip."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import secrets
from collections.abc import Callable

from memfun_core.errors import BackendUnavailable

__all__ = ["RUN_ID", "namespace_for", "service_skip_reason"]

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


def service_skip_reason(
    backend: str, target: str, answers: Callable[[str], bool], *, start: str
) -> str | None:
    """Why tests of ``backend`` (``redis``, ``nats``) cannot run at ``target``, or ``None``.

    Whether the server answers is asked once per process and target.

    Raises:
        BackendUnavailable: No server answers but ``MEMFUN_REQUIRE_SERVICES=1`` demands one.
    """
    name, env = backend.title() if backend == "redis" else backend.upper(), backend.upper()
    if _answered(target, answers):
        if importlib.util.find_spec(backend) is None:
            return f"the {backend} extra is not installed (pip install 'memfun-runtime[{backend}]')"
        return None
    if os.environ.get("MEMFUN_REQUIRE_SERVICES") == "1":
        raise BackendUnavailable(
            f"no {name} server answers, but MEMFUN_REQUIRE_SERVICES=1 requires one",
            backend=backend,
            target=target,
            hint=f"{start} or point MEMFUN_{env}_URL at one",
        )
    return f"no {name} server answers at {target} (set MEMFUN_{env}_URL)"


@functools.cache
def _answered(target: str, answers: Callable[[str], bool]) -> bool:
    return answers(target)
