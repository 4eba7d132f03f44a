"""``RedisBackend``: every service on one Redis server (tier ``redis``, T2)."""

from __future__ import annotations

from memfun_runtime.backends._services import BackendBase, Services
from memfun_runtime.backends.redis._client import TIER, RedisClient
from memfun_runtime.backends.redis._events import RedisEventBus
from memfun_runtime.backends.redis._names import ensure_names
from memfun_runtime.backends.redis._registry import RedisAgentRegistry, RedisSkillRegistry
from memfun_runtime.backends.redis._sessions import RedisSessionStore
from memfun_runtime.backends.redis._state import RedisStateStore
from memfun_runtime.backends.redis._tasks import RedisTaskQueue
from memfun_runtime.protocols import DEFAULT_DEDUPE_WINDOW

__all__ = ["DEFAULT_REDIS_URL", "RedisBackend"]

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class RedisBackend(BackendBase):
    """The T2 backend: every service on a Redis server (7.0 or newer).

    Events are Redis Streams with consumer groups; state, tasks, sessions and registries
    are hashes, lists and sorted sets changed by Lua scripts, so every guarantee of the
    protocols holds across any number of processes and machines sharing the server. All
    keys start with ``<namespace>:``, so several runtimes can share one server (and one
    database); :meth:`purge` removes one namespace's keys.

    Connections come from a pool; a broken connection is replaced on the next call with
    exponential backoff. While the server cannot be reached, every call fails with
    :class:`~memfun_core.errors.BackendUnavailable` within ``operation_timeout`` seconds
    (never hangs); once it is back, the backend works again without a restart.

    Redis Cluster is not supported (a service's keys are not hash-tagged to one slot); use
    a single server or Sentinel/replication for availability. Durability is the server's:
    enable AOF (``appendonly yes``) to keep acknowledged writes across a server restart.

    Args:
        url: ``redis://[user:password@]host:port/db``.
        namespace: Key prefix (one token) of this runtime.
        operation_timeout: Seconds any call may take while the server is unreachable.
        max_connections: Pool size (each blocked fetch or lease holds a connection). The
            event bus keeps up to 16 more connections for its pipelined calls.
        dedupe_window: Seconds an event id is remembered for idempotent publish.
        max_events_per_topic: Approximate ``MAXLEN`` of each topic's stream.
        task_retention: Seconds completed and dead tasks stay inspectable.

    Raises:
        MissingExtraError: The ``redis`` extra is not installed.
        ValidationError: A bad URL, namespace or setting.
    """

    TIER = TIER

    def __init__(
        self,
        url: str = DEFAULT_REDIS_URL,
        *,
        namespace: str = "memfun",
        operation_timeout: float = 5.0,
        max_connections: int = 64,
        dedupe_window: float = DEFAULT_DEDUPE_WINDOW,
        max_events_per_topic: int = 1_000_000,
        task_retention: float = 86_400.0,
    ) -> None:
        self._client = RedisClient(
            url,
            namespace=namespace,
            operation_timeout=operation_timeout,
            max_connections=max_connections,
        )
        self._events = RedisEventBus(
            self._client, dedupe_window=dedupe_window, max_events_per_topic=max_events_per_topic
        )
        self._state = RedisStateStore(self._client)
        self._tasks = RedisTaskQueue(self._client, retention=task_retention)
        self._sessions = RedisSessionStore(self._client)
        self._agents = RedisAgentRegistry(self._client)
        self._skills = RedisSkillRegistry(self._client)
        self._provide(
            Services(
                self._events, self._state, self._tasks, self._sessions, self._agents, self._skills
            )
        )

    @property
    def namespace(self) -> str:
        """The key prefix of this runtime."""
        return self._client.namespace

    def _running(self) -> bool:
        return self._client.started

    async def _open(self) -> None:
        """Connect, check that the server answers, and index an older namespace's names.

        Raises:
            BackendUnavailable: The server does not answer within the operation timeout.
        """
        await self._client.open()
        await ensure_names(self._client)

    async def _close(self) -> None:
        await self._client.close()

    async def _probe(self) -> str:
        rtt = await self._client.ping()
        return f"{self._client.target} answered in {rtt * 1000:.1f} ms"

    async def purge(self) -> int:
        """Delete every key of this backend's namespace and return how many were deleted.

        Meant for tests and for decommissioning a runtime; other namespaces are untouched.
        """
        deleted = 0
        async for names in self._client.scan("purge", self._client.key("*")):
            deleted += int(await self._client.call("purge", ("UNLINK", *names)))
        return deleted

    def _where(self) -> tuple[str, ...]:
        return repr(self._client.target), f"namespace={self.namespace!r}"
