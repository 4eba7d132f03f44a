"""``WorkerMetrics``: a task worker's counts and its tier's queues and groups, for Prometheus.

The worker's own counts (tasks leased, completed, failed, retried, let go otherwise, and the
age of the oldest lease it holds) come from the worker as a
:class:`WorkerObserver`; queue depths and group lag are read from the
tier's storage (:func:`~memfun_runtime.metrics.read_stats`) on every scrape, so they are the
whole deployment's, not this worker's guess.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter as Tally
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from memfun_core._extras import import_extra
from memfun_core.errors import MemfunError, UserError
from memfun_runtime._codec import check_int, check_positive
from memfun_runtime.metrics import RuntimeStats, read_stats
from memfun_runtime.protocols import Lease
from memfun_runtime.worker._agent import Outcome, WorkerObserver

if TYPE_CHECKING:
    from memfun_runtime._backend import Backend

__all__ = ["WorkerMetrics", "load_prometheus", "serve_metrics"]

log = logging.getLogger("memfun_runtime.metrics")

_COUNTED: dict[Outcome | str, str] = {
    "leased": "Leases taken",
    "completed": "Tasks completed",
    "failed": "Tasks whose handler raised (retried with backoff until max_attempts)",
    "retried": "Leases of a task's second or later attempt",
}
"""The counters ``memfun_worker_tasks_<name>_total`` by queue, with their help text."""


def load_prometheus() -> None:
    """Import ``prometheus_client`` or raise the error naming the extra to install.

    Raises:
        MissingExtraError: ``memfun-runtime[metrics]`` is not installed.
    """
    import_extra(
        "prometheus_client", package="memfun-runtime", extra="metrics", feature="worker metrics"
    )


class WorkerMetrics(WorkerObserver):
    """Prometheus metrics of one worker process (pass it as a worker's ``observer``).

    Series (every one labelled by ``queue``, the group ones by ``topic`` and ``group``):

    * ``memfun_worker_tasks_leased_total``, ``..._completed_total``, ``..._failed_total``
      (the handler raised), ``..._retried_total`` (leases of an attempt after the first),
      ``..._abandoned_total{reason}`` (``taken_over``, ``returned``, ``lost``);
    * ``memfun_worker_tasks_in_flight`` and ``memfun_worker_lease_age_seconds`` (the oldest
      lease this worker holds now; 0 when it holds none);
    * from the tier's storage at each scrape: ``memfun_queue_depth`` (pending tasks),
      ``memfun_queue_leased``, ``memfun_group_lag`` (events not yet handed to the group),
      ``memfun_group_unacked``, and ``memfun_stats_up`` (0 when the storage could not be
      read: the store series are then absent, and the error is logged).

    Raises:
        MissingExtraError: ``memfun-runtime[metrics]`` is not installed.
    """

    def __init__(self) -> None:
        load_prometheus()
        from prometheus_client import CollectorRegistry, Counter

        self.registry = CollectorRegistry(auto_describe=True)
        self._counters = {
            name: Counter(f"memfun_worker_tasks_{name}", text, ["queue"], registry=self.registry)
            for name, text in _COUNTED.items()
        }
        self._abandoned = Counter(
            "memfun_worker_tasks_abandoned",
            "Leases let go without a result: taken_over, returned (stopping) or lost",
            ["queue", "reason"],
            registry=self.registry,
        )
        self._held: dict[str, tuple[str, float]] = {}
        self._stats: RuntimeStats | None = None
        self.registry.register(self)

    # --- WorkerObserver ----------------------------------------------------------------------

    def leased(self, lease: Lease) -> None:
        """Count a lease and remember when it was taken."""
        self._counters["leased"].labels(lease.queue).inc()
        if lease.attempt > 1:
            self._counters["retried"].labels(lease.queue).inc()
        self._held[lease.token] = (lease.queue, time.monotonic())

    def finished(self, lease: Lease, outcome: Outcome) -> None:
        """Count how a lease ended."""
        self._held.pop(lease.token, None)
        if outcome in _COUNTED:
            self._counters[outcome].labels(lease.queue).inc()
        else:
            self._abandoned.labels(lease.queue, outcome).inc()

    # --- exposition ----------------------------------------------------------------------------

    async def refresh(self, backend: Backend) -> None:
        """Read the tier's queues and groups for the next exposition."""
        try:
            self._stats = await read_stats(backend)
        except MemfunError as exc:
            log.warning("metrics: cannot read queue and group statistics: %s", exc)
            self._stats = None

    async def render(self, backend: Backend) -> bytes:
        """The Prometheus text exposition, with the store's numbers read now."""
        from prometheus_client import generate_latest

        await self.refresh(backend)
        return generate_latest(self.registry)

    def held(self) -> dict[str, tuple[int, float]]:
        """Per queue: leases held now and the age in seconds of the oldest."""
        now = time.monotonic()
        counts: Tally[str] = Tally()
        oldest: dict[str, float] = {}
        for queue, since in self._held.values():
            counts[queue] += 1
            oldest[queue] = max(oldest.get(queue, 0.0), now - since)
        return {queue: (counts[queue], oldest[queue]) for queue in counts}

    def describe(self) -> list[Any]:
        """No series to describe ahead of a scrape (a custom collector's hook)."""
        return []

    def collect(self) -> Iterator[Any]:
        """The gauges computed at scrape time (a custom collector's hook)."""
        held = sorted(self.held().items())
        yield _gauge(
            "memfun_worker_tasks_in_flight",
            "Leases this worker holds now",
            ["queue"],
            [([queue], count) for queue, (count, _) in held],
        )
        yield _gauge(
            "memfun_worker_lease_age_seconds",
            "Age of the oldest lease this worker holds now",
            ["queue"],
            [([queue], age) for queue, (_, age) in held],
        )
        stats = self._stats
        text = "1 when the queue and group statistics were read from the tier's storage"
        yield _gauge("memfun_stats_up", text, [], [([], 0 if stats is None else 1)])
        if stats is None:
            return
        queues = [([q.queue], q) for q in stats.queues]
        yield _gauge(
            "memfun_queue_depth", "Pending tasks", ["queue"], [(k, q.pending) for k, q in queues]
        )
        yield _gauge(
            "memfun_queue_leased", "Leased tasks", ["queue"], [(k, q.leased) for k, q in queues]
        )
        groups = [([g.topic, g.group], g) for g in stats.groups]
        yield _gauge(
            "memfun_group_lag",
            "Events not yet handed to the group",
            ["topic", "group"],
            [(k, g.lag) for k, g in groups],
        )
        yield _gauge(
            "memfun_group_unacked",
            "Events handed to the group and not acknowledged",
            ["topic", "group"],
            [(k, g.unacked) for k, g in groups],
        )


def _gauge(name: str, text: str, labels: list[str], rows: list[tuple[list[str], float]]) -> Any:
    from prometheus_client.core import GaugeMetricFamily

    gauge = GaugeMetricFamily(name, text, labels=labels)
    for values, number in rows:
        gauge.add_metric(values, number)
    return gauge


_MAX_REQUEST = 16_384
"""Bytes of request line and headers read before a request is refused."""


async def serve_metrics(
    metrics: WorkerMetrics,
    backend: Backend,
    *,
    host: str,
    port: int,
    read_timeout: float = 10.0,
    max_clients: int = 32,
) -> asyncio.Server:
    """Serve ``GET /metrics`` (Prometheus text) and ``GET /healthz`` (the backend's health).

    ``/healthz`` answers 200 with the health report as JSON when every service is OK, 503
    otherwise. The server runs on the caller's event loop; close it to stop.

    A client gets ``read_timeout`` seconds to send its request and as long again to take the
    answer; past ``max_clients`` connections at once, a new one is closed unanswered. So
    clients that connect and send nothing cannot pile up and take the worker's file
    descriptors, nor many scrapes at once its storage.

    Args:
        metrics: The worker's metrics.
        backend: The started backend the worker uses.
        host: The address to listen on (``127.0.0.1``: this machine only).
        port: The port (0: a free one; read it from ``server.sockets``).
        read_timeout: Seconds a client has to send its request, and to read the answer.
        max_clients: Connections served at once.

    Raises:
        ValidationError: ``port`` is not 0 to 65535, or a limit is not positive.
        UserError: The address cannot be listened on (e.g. the port is taken).
    """
    from prometheus_client import CONTENT_TYPE_LATEST

    check_int(port, field="metrics_port", minimum=0, maximum=65_535)
    check_int(max_clients, field="max_clients", minimum=1)
    check_positive(read_timeout, field="read_timeout")

    async def page(path: str) -> tuple[int, str, bytes]:
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, await metrics.render(backend)
        if path == "/healthz":
            report = await backend.health()
            body = {
                "tier": report.tier,
                "ok": report.ok,
                "components": {c.name: c.status.value for c in report.components},
            }
            return 200 if report.ok else 503, "application/json", json.dumps(body).encode()
        return 404, "text/plain; charset=utf-8", b"not found: try /metrics or /healthz\n"

    clients: set[asyncio.StreamWriter] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(clients) >= max_clients:
            writer.close()
            return
        clients.add(writer)
        try:
            async with asyncio.timeout(read_timeout):
                head = await reader.readuntil(b"\r\n\r\n")
            method, path, *_ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            if method != "GET":
                status, kind, body = 405, "text/plain; charset=utf-8", b"GET only\n"
            else:
                status, kind, body = await page(path.split("?", 1)[0])
            writer.write(
                f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
                f"Content-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode("latin-1")
                + body
            )
            async with asyncio.timeout(read_timeout):
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # not an HTTP request we can answer: drop the connection
        except (ConnectionError, TimeoutError):
            pass  # gone, or too slow to send its request or take the answer
        finally:
            clients.discard(writer)
            writer.close()

    try:
        return await asyncio.start_server(handle, host, port, limit=_MAX_REQUEST)
    except OSError as exc:
        raise UserError(
            f"cannot listen on {host}:{port} for metrics: {exc.strerror or exc}",
            hint="pick a free port with --metrics-port, or 0 for any free port",
        ) from exc


_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
