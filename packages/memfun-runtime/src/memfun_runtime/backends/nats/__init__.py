"""T3: NATS JetStream (install ``memfun-runtime[nats]``).

Importing this package without nats-py installed raises
:class:`~memfun_core.errors.MissingExtraError` naming the extra.

Example:
    >>> from memfun_runtime.backends.nats import NatsBackend
    >>> backend = NatsBackend("nats://127.0.0.1:4222", namespace="myapp")
"""

from __future__ import annotations

from memfun_runtime.backends.nats._backend import DEFAULT_NATS_URL, NatsBackend

__all__ = ["DEFAULT_NATS_URL", "NatsBackend"]
