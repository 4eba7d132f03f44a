"""T2: every runtime service on a Redis server (Streams, hashes, sorted sets and Lua).

Needs the ``redis`` extra (``pip install "memfun-runtime[redis]"``); constructing a
:class:`RedisBackend` without it raises :class:`~memfun_core.errors.MissingExtraError`.

Example:
    >>> from memfun_runtime.backends.redis import RedisBackend
    >>> backend = RedisBackend("redis://127.0.0.1:6379/0", namespace="myapp")
"""

from __future__ import annotations

from memfun_runtime.backends.redis._backend import DEFAULT_REDIS_URL, RedisBackend

__all__ = ["DEFAULT_REDIS_URL", "RedisBackend"]
