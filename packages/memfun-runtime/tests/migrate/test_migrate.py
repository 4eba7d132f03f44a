"""Moving a populated runtime between tiers: T1 -> T2/T3, T2/T3 -> T1, killed and resumed.

The population: 10,000 events on three topics (a consumer group that acknowledged some and
holds others unacknowledged), 1,000 tasks (some leased, some finished), sessions (one forked),
agents, skills with invocations, state and run traces (``memfun.traces.*`` keys and the
run-summary topic, as the agent's TraceStore writes them).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from memfun_core.errors import ConflictError
from memfun_runtime._backend import Backend
from memfun_runtime.backends.nats import testing as nats_testing
from memfun_runtime.backends.redis import testing as redis_testing
from memfun_runtime.backends.sqlite import SQLiteBackend
from memfun_runtime.migrate import migrate, read_inventory, verify
from memfun_runtime.protocols import TaskStatus
from memfun_runtime.testing import collect, namespace_for

TOPICS = {"orders": 6_000, "audit": 3_000, "memfun.runs": 1_000}
CONSUMED, ACKED = 4_000, 3_500  # of "orders", by group "billing"
LEASED = 100


@dataclass
class Population:
    """What the source holds, to check the target against."""

    leased: list[str]
    finished: list[str]
    first_unconsumed: str


async def _publish_all(backend: Backend) -> dict[str, list[str]]:
    ids: dict[str, list[str]] = {}
    for topic, count in TOPICS.items():
        ids[topic] = []
        for n in range(count):  # one after another: the order is the test's to know
            await backend.events.publish(topic, {"n": n, "topic": topic}, event_id=f"e{n}")
            ids[topic].append(f"e{n}")
    return ids


async def populate(backend: Backend) -> Population:
    billing = await backend.events.subscribe("orders", "billing", start="earliest")
    await backend.events.subscribe("audit", "archive", start="new")
    ids = await _publish_all(backend)
    deliveries = await collect(billing, CONSUMED, within=60)
    assert len(deliveries) == CONSUMED
    await asyncio.gather(*(d.ack() for d in deliveries[:ACKED]))
    await billing.close()
    for n in range(200):
        await backend.state.set(f"app.setting-{n}", {"n": n, "tags": ["a", n]})
    for n in range(50):
        trace = {"run_id": f"run-{n}", "steps": [{"code": "print(1)", "out": "1"}], "cost": 0.01}
        await backend.state.set(f"memfun.traces.run-{n}", trace, ttl=86_400)
    for n in range(1_000):
        await backend.tasks.enqueue(
            "jobs", {"job": n}, priority=n % 3, task_id=f"t{n}", max_attempts=5, backoff=2.0
        )
    leased = [await backend.tasks.lease("jobs", visibility_timeout=600) for _ in range(LEASED)]
    finished = [await backend.tasks.lease("jobs") for _ in range(10)]
    for lease in finished:
        assert lease is not None
        await backend.tasks.complete(lease, {"ok": True})
    for n in range(20):
        session = await backend.sessions.create(session_id=f"s{n}", metadata={"user": n})
        for k in range(5):
            await backend.sessions.append(session.id, "user", f"turn {k}", metadata={"k": k})
    await backend.sessions.fork("s0", new_session_id="s0-fork", upto=3)
    await backend.agents.register("reviewer", capabilities=["review"], instance_id="a1", ttl=600)
    await backend.skills.publish("review-code", "1.0.0", description="Review code")
    await backend.skills.publish("review-code", "1.1.0", description="Review code better")
    for n in range(30):
        outcome = "success" if n % 3 else "failure"
        await backend.skills.record_invocation(
            "review-code", outcome=outcome, latency=0.1 * n, version="1.1.0", tokens=n
        )
    await backend.skills.record_invocation("unpublished", outcome="error", latency=1.0)
    return Population(
        leased=[lease.task_id for lease in leased if lease is not None],
        finished=[lease.task_id for lease in finished if lease is not None],
        first_unconsumed=ids["orders"][CONSUMED],
    )


async def check_target(target: Backend, population: Population) -> None:
    """The target behaves like the source for every consumer and worker."""
    for topic, count in TOPICS.items():
        assert len([e async for e in target.events.replay(topic)]) == count
    worker = await target.events.subscribe("orders", "billing", consumer="worker")
    # what the source's group acknowledged never comes; what it held unacknowledged comes
    # again (after redeliver_after), then everything it had not received yet
    remaining = TOPICS["orders"] - ACKED
    got = await collect(worker, remaining, within=60)
    await asyncio.gather(*(d.ack() for d in got))
    attempts = {d.event.payload["n"]: d.attempt for d in got}  # type: ignore[index]
    assert sorted(attempts) == list(range(ACKED, TOPICS["orders"]))
    assert all(attempts[n] > 1 for n in range(ACKED, CONSUMED))
    assert all(attempts[n] == 1 for n in range(CONSUMED, TOPICS["orders"]))
    assert await worker.fetch(10, timeout=0.5) == []
    await worker.close()
    assert population.first_unconsumed == f"e{CONSUMED}"
    for task_id in population.leased:
        task = await target.tasks.get("jobs", task_id)
        assert task is not None
        assert task.status is TaskStatus.PENDING  # leased ones are queued again
    for task_id in population.finished:
        assert await target.tasks.get("jobs", task_id) is None  # history stays in the source
    lease = await target.tasks.lease("jobs")
    assert lease is not None
    assert lease.payload["job"] % 3 == 2  # type: ignore[index]  # highest priority first
    assert [t.content for t in await target.sessions.read("s0-fork")] == [
        "turn 0",
        "turn 1",
        "turn 2",
    ]
    trace = await target.state.get("memfun.traces.run-7")
    assert trace is not None
    assert trace.expires_at is not None  # the TTL came along
    assert [a.instance_id for a in await target.agents.find("review")] == ["a1"]
    assert (await target.skills.stats("review-code")).invocations == 30
    assert (await target.skills.stats("unpublished")).invocations == 1


async def _started(backend: Backend) -> Backend:
    await backend.start()
    return backend


def _redis(namespace: str) -> Backend:
    from memfun_runtime.backends.redis import RedisBackend

    return RedisBackend(redis_testing.redis_url(), namespace=namespace)


def _nats(namespace: str) -> Backend:
    from memfun_runtime.backends.nats import NatsBackend

    return NatsBackend(nats_testing.nats_url(), namespace=namespace)


def _purge(tier: str, namespace: str) -> None:
    if tier == "redis":
        redis_testing.purge_namespace(namespace)
    else:
        nats_testing.purge_namespaces([namespace])


ServerBackend = Callable[[str], Awaitable[Backend]]


@pytest.fixture(params=["redis", "nats"])
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ServerBackend]:
    """Builds started backends of one server tier in namespaces purged afterwards."""
    tier: str = request.param
    skip = redis_testing.redis_skip_reason() if tier == "redis" else nats_testing.nats_skip_reason()
    if skip is not None:
        pytest.skip(skip)
    made: list[tuple[str, Backend]] = []

    async def make(seed: str) -> Backend:
        namespace = namespace_for(f"{tmp_path}/{seed}")
        backend = await _started(_redis(namespace) if tier == "redis" else _nats(namespace))
        made.append((namespace, backend))
        return backend

    yield make
    for namespace, backend in made:
        await backend.stop()
        await asyncio.to_thread(_purge, tier, namespace)


async def test_t1_to_a_server_tier_copies_everything_and_verifies(
    server: ServerBackend, tmp_path: Path
) -> None:
    source = await _started(SQLiteBackend(tmp_path / "runtime.db"))
    target = await server("target")
    try:
        population = await populate(source)
        report = await migrate(source, target, source_name="sqlite:runtime.db", redeliver_after=1.0)
        assert report.verification.ok, report.verification.differences
        assert not report.resumed
        assert report.copied["events"] == sum(TOPICS.values())
        assert report.copied["tasks"] == 1_000 - len(population.finished)
        assert {s.name: s.source_count for s in report.verification.sections}["events"] == 10_000
        await check_target(target, population)
    finally:
        await source.stop()


async def test_a_server_tier_to_t1_and_a_tampered_record_is_caught(
    server: ServerBackend, tmp_path: Path
) -> None:
    source = await server("source")
    path = tmp_path / "runtime.db"
    target = await _started(SQLiteBackend(path))
    try:
        population = await populate(source)
        report = await migrate(source, target, source_name="server:source", redeliver_after=1.0)
        assert report.verification.ok, report.verification.differences
        assert report.copied["events"] == 10_000
        await check_target(target, population)
        # the attack: one stored event is changed behind the runtime's back
        with sqlite3.connect(path) as conn:
            conn.execute(
                "UPDATE events SET payload = ? WHERE topic = 'audit' AND id = 'e1234'",
                ('{"n": 1234, "topic": "audit", "forged": true}',),
            )
        conn.close()
        inventory = await read_inventory(source)
        check = await verify(source, target, inventory)
        assert not check.ok
        assert check.differences == [
            "events: events record 'audit#1234' differs: "
            '["e1234",{"n":1234,"topic":"audit"},{}] != '
            '["e1234",{"forged":true,"n":1234,"topic":"audit"},{}]'
        ]
        events = {s.name: s for s in check.sections}["events"]
        assert events.source_count == events.target_count  # same count, other content
        assert events.source_digest != events.target_digest
    finally:
        await target.stop()


_KILLED = """
import asyncio, sys
from memfun_runtime.backends.sqlite import SQLiteBackend
from memfun_runtime.backends.redis import RedisBackend
from memfun_runtime.migrate import migrate

async def main(path: str, url: str, namespace: str) -> None:
    source, target = SQLiteBackend(path), RedisBackend(url, namespace=namespace)
    await source.start()
    await target.start()
    def say(line: str) -> None:
        print(line, flush=True)
    await migrate(source, target, source_name="sqlite:runtime.db", progress=say)
    print("finished", flush=True)

asyncio.run(main(*sys.argv[1:]))
"""


async def test_a_migration_killed_midway_resumes_without_duplicates(tmp_path: Path) -> None:
    skip = redis_testing.redis_skip_reason()
    if skip is not None:
        pytest.skip(skip)
    path = tmp_path / "runtime.db"
    source = await _started(SQLiteBackend(path))
    population = await populate(source)
    await source.stop()
    namespace = namespace_for(f"{tmp_path}/target")
    url = redis_testing.redis_url()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _KILLED, str(path), url, namespace,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    while True:
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=120)).decode()
        assert line, f"the migration ended before it could be killed: {lines}"
        lines.append(line.strip())
        if line.strip() == "copied 6000 events":  # audit and memfun.runs done, orders not
            process.kill()  # SIGKILL in the middle of the events
            break
    await process.wait()
    source = await _started(SQLiteBackend(path))
    target = await _started(_redis(namespace))
    try:
        assert "copying state" in lines  # it got past the first steps before the kill
        partial = len([e async for e in target.events.replay("orders")])
        assert 0 < partial < TOPICS["orders"]
        report = await migrate(source, target, source_name="sqlite:runtime.db", redeliver_after=1.0)
        assert report.resumed
        assert report.copied["state"] == 0  # done before the kill: not copied again
        assert 0 < report.copied["events"] < 10_000
        assert report.verification.ok, report.verification.differences
        await check_target(target, population)
    finally:
        await source.stop()
        await target.stop()
        await asyncio.to_thread(_purge, "redis", namespace)


async def test_a_target_with_data_or_another_sources_checkpoint_is_refused(
    tmp_path: Path,
) -> None:
    source = await _started(SQLiteBackend(tmp_path / "a.db"))
    target = await _started(SQLiteBackend(tmp_path / "b.db"))
    try:
        await source.events.publish("t", 1)
        await target.state.set("already", "here")
        with pytest.raises(ConflictError, match="not empty"):
            await migrate(source, target, source_name="sqlite:a.db")
        await target.state.delete("already")
        report = await migrate(source, target, source_name="sqlite:a.db")
        assert report.verification.ok
        with pytest.raises(ConflictError, match=re.escape("from 'sqlite:a.db', not 'sqlite:c.db'")):
            await migrate(source, target, source_name="sqlite:c.db")
        again = await migrate(source, target, source_name="sqlite:a.db")  # idempotent
        assert again.resumed
        assert sum(again.copied.values()) == 0
        assert [e.payload async for e in target.events.replay("t")] == [1]
    finally:
        await source.stop()
        await target.stop()
