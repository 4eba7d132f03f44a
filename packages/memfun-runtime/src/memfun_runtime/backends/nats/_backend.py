"""``NatsBackend``: every service on a NATS JetStream server (tier ``nats``, T3)."""

from __future__ import annotations

from memfun_runtime import _codec
from memfun_runtime.backends._services import BackendBase, Services, not_started
from memfun_runtime.backends.nats._client import BACKEND, NatsClient
from memfun_runtime.backends.nats._events import NatsEventBus
from memfun_runtime.backends.nats._registry import NatsAgentRegistry, NatsSkillRegistry
from memfun_runtime.backends.nats._sessions import NatsSessionStore
from memfun_runtime.backends.nats._state import NatsStateStore
from memfun_runtime.backends.nats._tasks import NatsTaskQueue
from memfun_runtime.protocols import DEFAULT_DEDUPE_WINDOW

__all__ = ["DEFAULT_NATS_URL", "NatsBackend"]

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
_BUCKETS = ("state", "tasks", "sessions", "agents", "skills")
_TASKS_DONE = "tasks_done"  # created by the task queue, with the task retention as max_age


class NatsBackend(BackendBase):
    """The T3 backend: JetStream streams, durable pull consumers and KV buckets.

    Several processes (and several runtimes, with different namespaces) share one server.
    Everything this backend creates is named after ``namespace``: streams
    ``<namespace>_EVENTS``, ``<namespace>_TASKS``, ``<namespace>_INVOCATIONS`` and KV buckets
    ``<namespace>_state``, ``_tasks``, ``_tasks_done``, ``_sessions``, ``_agents``,
    ``_skills``. Creation is idempotent. The connection reconnects by itself; a call made
    while the server is unreachable raises :class:`~memfun_core.errors.BackendUnavailable`
    within ``timeout`` seconds.

    Args:
        url: The server, ``nats://host:port``.
        namespace: A single token (``[A-Za-z0-9_-]``) prefixed to every stream and bucket.
        timeout: Seconds one server call may take (also the connect timeout).
        dedupe_window: Seconds a repeated event id is recognised.
        event_retention: Seconds events are kept; ``None`` keeps them.
        task_retention: Seconds completed and dead tasks stay inspectable (the ``max_age``
            of the bucket ``<namespace>_tasks_done``: backends sharing a namespace should
            agree on it, the one started last sets it).
    """

    TIER = BACKEND

    def __init__(
        self,
        url: str = DEFAULT_NATS_URL,
        *,
        namespace: str = "memfun",
        timeout: float = 5.0,
        dedupe_window: float = DEFAULT_DEDUPE_WINDOW,
        event_retention: float | None = None,
        task_retention: float = 86_400.0,
    ) -> None:
        _codec.check_group(namespace, field="namespace")
        seconds = _codec.check_positive(timeout, field="timeout")
        self._client = client = NatsClient(url, namespace=namespace, timeout=seconds)
        self._events = NatsEventBus(client, dedupe_window=dedupe_window, retention=event_retention)
        self._tasks = NatsTaskQueue(client, retention=task_retention)
        self._skills = NatsSkillRegistry(client)
        state, sessions = NatsStateStore(client), NatsSessionStore(client)
        agents = NatsAgentRegistry(client)
        self._provide(Services(self._events, state, self._tasks, sessions, agents, self._skills))
        self._started = False

    @property
    def namespace(self) -> str:
        """The prefix of every stream and bucket."""
        return self._client.namespace

    def _running(self) -> bool:
        return self._started

    async def _open(self) -> None:
        """Connect, create streams and buckets (idempotent), start the task checker.

        Raises:
            BackendUnavailable: The server cannot be reached.
        """
        await self._client.connect()
        try:
            for config in (self._events.spec(), self._tasks.spec(), self._skills.spec()):
                await self._client.ensure_stream(config)
            for kind in _BUCKETS:
                await self._client.ensure_bucket(kind)
            await self._tasks.open()
        except BaseException:
            await self._close()
            raise
        self._started = True

    async def _close(self) -> None:
        self._started = False
        await self._tasks.close()
        await self._client.close()

    async def _probe(self) -> str:
        await self._client.call("checking JetStream", self._client.js.account_info)
        return f"JetStream at {self._client.target}"

    async def destroy(self) -> None:
        """Delete every stream and bucket of this namespace (all its data!).

        For tests and for tearing a deployment down; the backend must be started.

        Raises:
            ConflictError: The backend is not started.
        """
        if not self._started:
            raise not_started("NATS")
        await self._events.close_all()
        await self._tasks.close()
        streams = [self._events.stream, self._tasks.stream, self._skills.stream]
        await self._client.destroy(streams, [*_BUCKETS, _TASKS_DONE])

    def _where(self) -> tuple[str, ...]:
        return repr(self._client.target), f"namespace={self.namespace!r}"
