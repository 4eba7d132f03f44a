"""A worker's ``--metrics-port``: Prometheus counts follow the tasks it runs, on every tier.

One ``python -m memfun_runtime.worker`` process serves its metrics on a free port; the test
enqueues tasks (some failing and retried, one held by the handler), scrapes ``/metrics`` over
HTTP with httpx, parses it with ``prometheus_client.parser`` and checks the worker's counts,
the queue depth read from the tier's storage, and the lag of a consumer group it set up.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from memfun_runtime._backend import Backend
from memfun_runtime.metrics import read_stats
from memfun_runtime.testing import eventually

if TYPE_CHECKING:
    from httpx import AsyncClient

httpx = pytest.importorskip("httpx", reason="the scrape uses httpx (installed with memfun-tools)")
parser = pytest.importorskip(
    "prometheus_client.parser", reason="needs memfun-runtime[metrics] (prometheus-client)"
)

HANDLER = Path(__file__).parent / "metrics_handler.py"
QUEUE = "tasks.doubling"


@pytest.fixture
def worker(tier_args: list[str], tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    log = tmp_path / "worker.log"
    command = [
        sys.executable, "-m", "memfun_runtime.worker", *tier_args,
        "--capability", "doubling", "--handler", f"{HANDLER}:handle",
        "--metrics-port", "0", "--log-level", "INFO",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        yield proc, log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        print(log.read_text(errors="replace"))  # shown when the test fails


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(client: AsyncClient, url: str) -> Samples:
    """Every sample of ``url``'s exposition, by name and sorted labels."""
    response = await client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in parser.text_string_to_metric_families(response.text):
        for sample in family.samples:
            out[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


async def metrics_url(proc: subprocess.Popen[bytes], log: Path) -> str:
    found: list[str] = []

    async def logged() -> bool:
        text = await asyncio.to_thread(log.read_text, errors="replace")
        assert proc.poll() is None, f"the worker exited: {text}"
        match = re.search(r"metrics on (http://\S+/metrics)", text)
        if match:
            found.append(match.group(1))
        return bool(found)

    await eventually(logged, within=60, what="the worker to log its metrics address")
    return found[0]


async def test_metrics_follow_the_tasks_the_worker_runs(
    backend: Backend, worker: tuple[subprocess.Popen[bytes], Path]
) -> None:
    # a consumer group 3 events behind, holding 1 unacknowledged
    billing = await backend.events.subscribe("orders", "billing")
    for n in range(5):
        await backend.events.publish("orders", {"n": n})
    got = await billing.fetch(2, timeout=10)
    assert len(got) == 2
    await got[0].ack()
    url = await metrics_url(*worker)
    q = {"queue": QUEUE}
    async with httpx.AsyncClient(timeout=30) as client:
        for n in range(3):
            await backend.tasks.enqueue(QUEUE, {"n": n}, task_id=f"ok-{n}")
        await backend.tasks.enqueue(
            QUEUE, {"fail": True}, task_id="bad", max_attempts=2, backoff=0.05
        )
        samples: Samples = {}

        async def settled() -> bool:
            samples.clear()
            samples.update(await scrape(client, url))
            done = value(samples, "memfun_worker_tasks_completed_total", **q) == 3
            return done and value(samples, "memfun_worker_tasks_failed_total", **q) == 2

        await eventually(settled, within=60, interval=0.2, what="3 completed and 2 failures")
        assert value(samples, "memfun_worker_tasks_leased_total", **q) == 5
        assert value(samples, "memfun_worker_tasks_retried_total", **q) == 1  # bad, 2nd try
        assert value(samples, "memfun_stats_up") == 1
        assert value(samples, "memfun_group_lag", topic="orders", group="billing") == 3
        assert value(samples, "memfun_group_unacked", topic="orders", group="billing") == 1
        assert value(samples, "memfun_worker_tasks_in_flight", **q) is None  # holds nothing
        dead = await backend.tasks.get(QUEUE, "bad")
        assert dead is not None
        assert dead.status.value == "dead"

        await check_a_held_lease(backend, client, url)
        await backend.state.set("app.release", True)

        async def drained() -> bool:
            # A scrape reads the store's queue statistics before the worker's counters, so
            # the 6th completion can show in the counter while the statistics still hold
            # its lease: wait for both (a scrape is not a snapshot).
            samples.clear()
            samples.update(await scrape(client, url))
            done = value(samples, "memfun_worker_tasks_completed_total", **q) == 6
            return done and value(samples, "memfun_queue_depth", **q) is None  # no open task

        await eventually(drained, within=60, interval=0.2, what="6 completed, queue empty")
        assert value(samples, "memfun_worker_tasks_leased_total", **q) == 8
        assert value(samples, "memfun_queue_leased", **q) is None
        assert value(samples, "memfun_worker_tasks_in_flight", **q) is None

        health = await client.get(url.replace("/metrics", "/healthz"))
        assert health.status_code == 200
        assert health.json()["ok"] is True
        assert set(health.json()["components"]) >= {"events", "tasks", "state"}
        missing = await client.get(url.replace("/metrics", "/nothing"))
        assert missing.status_code == 404
    await billing.close()


async def check_a_held_lease(backend: Backend, client: AsyncClient, url: str) -> None:
    """One task held by the handler, two more waiting behind it (concurrency 1)."""
    q = {"queue": QUEUE}
    samples: Samples = {}
    await backend.tasks.enqueue(QUEUE, {"hold": True, "n": 10}, task_id="held")

    async def holding() -> bool:
        samples.clear()
        samples.update(await scrape(client, url))
        return value(samples, "memfun_worker_tasks_in_flight", **q) == 1

    await eventually(holding, within=60, interval=0.2, what="the worker to hold a lease")
    for n in range(2):
        await backend.tasks.enqueue(QUEUE, {"n": 20 + n}, task_id=f"waiting-{n}")
    await asyncio.sleep(0.3)  # let a lease age measurably
    samples = await scrape(client, url)
    assert value(samples, "memfun_queue_depth", **q) == 2
    assert value(samples, "memfun_queue_leased", **q) == 1
    age = value(samples, "memfun_worker_lease_age_seconds", **q)
    assert age is not None
    assert age >= 0.3
    stats = await read_stats(backend)  # what `memfun runtime status` shows
    assert [(s.queue, s.pending, s.leased) for s in stats.queues] == [(QUEUE, 2, 1)]


def test_a_taken_metrics_port_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [
            sys.executable, "-m", "memfun_runtime.worker", "--tier", "sqlite",
            "--sqlite-path", str(tmp_path / "runtime.db"), "--capability", "doubling",
            "--handler", f"{HANDLER}:handle", "--metrics-port", str(port),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port} for metrics" in done.stderr
    assert "--metrics-port" in done.stderr  # the hint


async def closed_unanswered(reader: asyncio.StreamReader, *, within: float) -> bool:
    """Whether the server closed the connection without a byte of answer."""
    try:
        return await asyncio.wait_for(reader.read(), within) == b""
    except ConnectionResetError:  # closed with our request unread
        return True


async def test_idle_and_excess_connections_cannot_hold_the_metrics_server(tmp_path: Path) -> None:
    """Clients that connect and send nothing are dropped after ``read_timeout``; past
    ``max_clients`` a new connection is closed at once; a real scrape then succeeds."""
    from memfun_runtime.backends.sqlite import SQLiteBackend
    from memfun_runtime.worker import WorkerMetrics, serve_metrics

    backend = SQLiteBackend(tmp_path / "runtime.db")
    await backend.start()
    server = await serve_metrics(
        WorkerMetrics(), backend, host="127.0.0.1", port=0, read_timeout=1.0, max_clients=4
    )
    port = server.sockets[0].getsockname()[1]
    try:
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(4)]
        await asyncio.sleep(0.2)  # the server has taken all four
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert await closed_unanswered(reader, within=5)  # the fifth: closed at once
        writer.close()
        started = asyncio.get_running_loop().time()
        for idle_reader, _ in idle:  # each dropped once its second to send a request is up
            assert await closed_unanswered(idle_reader, within=10)
        assert asyncio.get_running_loop().time() - started < 5
        for _, idle_writer in idle:
            idle_writer.close()
        async with httpx.AsyncClient(timeout=10) as client:
            samples = await scrape(client, f"http://127.0.0.1:{port}/metrics")
        assert value(samples, "memfun_stats_up") == 1
    finally:
        server.close()
        await server.wait_closed()
        await backend.stop()


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_a_metrics_port_out_of_range_is_refused_before_the_worker_starts(
    tmp_path: Path, port: str
) -> None:
    command = [
        sys.executable, "-m", "memfun_runtime.worker", "--tier", "sqlite",
        "--sqlite-path", str(tmp_path / "runtime.db"), "--capability", "doubling",
        "--handler", f"{HANDLER}:handle", "--metrics-port", port,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert f"metrics_port: must be an int >= 0 and <= 65535, got {port}" in done.stderr
    assert not (tmp_path / "runtime.db").exists()  # refused before the tier was opened


async def test_serve_metrics_refuses_a_port_out_of_range(tmp_path: Path) -> None:
    from memfun_core.errors import ValidationError
    from memfun_runtime.backends.sqlite import SQLiteBackend
    from memfun_runtime.worker import WorkerMetrics, serve_metrics

    backend = SQLiteBackend(tmp_path / "runtime.db")
    await backend.start()
    try:
        with pytest.raises(ValidationError, match="metrics_port"):
            await serve_metrics(WorkerMetrics(), backend, host="127.0.0.1", port=70_000)
    finally:
        await backend.stop()
