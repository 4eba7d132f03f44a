"""Export a populated runtime to a JSON Lines snapshot, import it elsewhere, verify.

The population is the migration tests' (events with a consumer group's position, open and
leased tasks, sessions, registries, state and run traces), smaller. A snapshot whose line was
changed, removed, or cut short is refused with an error naming the line.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from memfun_core.errors import ConflictError, CorruptDataError, UserError
from memfun_runtime._backend import Backend
from memfun_runtime.backends.nats import testing as nats_testing
from memfun_runtime.backends.redis import testing as redis_testing
from memfun_runtime.backends.sqlite import SQLiteBackend
from memfun_runtime.migrate import export_snapshot, import_snapshot, read_snapshot
from memfun_runtime.protocols import TaskStatus
from memfun_runtime.testing import collect, namespace_for

TOPICS = {"orders": 300, "memfun.runs": 50}
CONSUMED, ACKED = 200, 150


async def populate(backend: Backend) -> None:
    billing = await backend.events.subscribe("orders", "billing", start="earliest")
    for topic, count in TOPICS.items():
        for n in range(count):
            await backend.events.publish(topic, {"n": n, "text": "é ✓"}, event_id=f"e{n}")
    got = await collect(billing, CONSUMED, within=60)
    await asyncio.gather(*(d.ack() for d in got[:ACKED]))
    await billing.close()
    for n in range(20):
        await backend.state.set(f"app.k{n}", {"n": n})
    await backend.state.set("memfun.traces.run-1", {"steps": [1, 2]}, ttl=3600)
    for n in range(30):
        await backend.tasks.enqueue("jobs", {"job": n}, priority=n % 3, task_id=f"t{n}")
    assert await backend.tasks.lease("jobs", visibility_timeout=600) is not None
    done = await backend.tasks.lease("jobs")
    assert done is not None
    await backend.tasks.complete(done, {"ok": True})
    session = await backend.sessions.create(session_id="s1", metadata={"user": 1})
    for k in range(3):
        await backend.sessions.append(session.id, "user", f"turn {k}", metadata={"k": k})
    await backend.agents.register("reviewer", capabilities=["review"], instance_id="a1", ttl=600)
    await backend.skills.publish("review-code", "1.0.0", description="Review code")
    for n in range(5):
        await backend.skills.record_invocation("review-code", outcome="success", latency=0.1 * n)


async def check_copy(target: Backend) -> None:
    assert len([e async for e in target.events.replay("orders")]) == TOPICS["orders"]
    worker = await target.events.subscribe("orders", "billing", consumer="w")
    got = await collect(worker, TOPICS["orders"] - ACKED, within=60)
    await asyncio.gather(*(d.ack() for d in got))
    assert sorted(d.event.payload["n"] for d in got) == list(range(ACKED, TOPICS["orders"]))  # type: ignore[index]
    await worker.close()
    task = await target.tasks.get("jobs", "t0")
    assert task is not None
    assert task.status is TaskStatus.PENDING
    assert [t.content for t in await target.sessions.read("s1")] == ["turn 0", "turn 1", "turn 2"]
    trace = await target.state.get("memfun.traces.run-1")
    assert trace is not None
    assert trace.expires_at is not None
    assert (await target.skills.stats("review-code")).invocations == 5


async def _target(tier: str, tmp_path: Path) -> AsyncIterator[Backend]:
    namespace = namespace_for(f"{tmp_path}/target")
    if tier == "sqlite":
        backend: Backend = SQLiteBackend(tmp_path / "target.db")
    elif tier == "redis":
        if (skip := redis_testing.redis_skip_reason()) is not None:
            pytest.skip(skip)
        from memfun_runtime.backends.redis import RedisBackend

        backend = RedisBackend(redis_testing.redis_url(), namespace=namespace)
    else:
        if (skip := nats_testing.nats_skip_reason()) is not None:
            pytest.skip(skip)
        from memfun_runtime.backends.nats import NatsBackend

        backend = NatsBackend(nats_testing.nats_url(), namespace=namespace)
    await backend.start()
    try:
        yield backend
    finally:
        await backend.stop()
        if tier == "redis":
            await asyncio.to_thread(redis_testing.purge_namespace, namespace)
        elif tier == "nats":
            await asyncio.to_thread(nats_testing.purge_namespaces, [namespace])


@pytest.fixture(params=["sqlite", "redis", "nats"])
async def target(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    async for backend in _target(request.param, tmp_path):
        yield backend


@pytest.fixture(params=["redis", "nats"])
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    async for backend in _target(request.param, tmp_path):
        yield backend


@pytest.fixture
async def exported(tmp_path: Path) -> Path:
    source = SQLiteBackend(tmp_path / "source.db")
    await source.start()
    try:
        await populate(source)
        path = tmp_path / "runtime.jsonl"
        report = await export_snapshot(source, path, source_name="sqlite:source.db")
        assert report.verification.ok, report.verification.differences
        assert report.copied["event"] == sum(TOPICS.values())
        assert report.copied["task"] == 29  # the completed one is history, not copied
        assert not path.with_name("runtime.jsonl.partial").exists()
        with pytest.raises(UserError, match="exists already"):
            await export_snapshot(source, path, source_name="sqlite:source.db")
    finally:
        await source.stop()
    return path


async def test_export_then_import_round_trip(exported: Path, target: Backend) -> None:
    report = await import_snapshot(exported, target, redeliver_after=1.0)
    assert report.verification.ok, report.verification.differences
    assert not report.resumed
    counts = {s.name: s.target_count for s in report.verification.sections}
    assert counts["events"] == sum(TOPICS.values())
    assert counts["tasks"] == 29
    await check_copy(target)
    again = await import_snapshot(exported, target)  # resumes the finished import: no-op
    assert again.resumed
    assert sum(again.copied.values()) == 0


async def test_an_export_from_a_server_tier_round_trips(server: Backend, tmp_path: Path) -> None:
    await populate(server)
    path = tmp_path / "server.jsonl"
    report = await export_snapshot(server, path, source_name=f"{server.tier}:test")
    assert report.verification.ok, report.verification.differences
    copy = SQLiteBackend(tmp_path / "copy.db")
    await copy.start()
    try:
        back = await import_snapshot(path, copy, redeliver_after=1.0)
        assert back.verification.ok, back.verification.differences
        await check_copy(copy)
    finally:
        await copy.stop()


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


async def test_a_tampered_or_truncated_snapshot_names_the_line(
    exported: Path, tmp_path: Path
) -> None:
    lines = _lines(exported)
    number = next(i for i, line in enumerate(lines, 1) if '"id":"e7"' in line)
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text(
        "".join(lines).replace('"n":7,', '"n":8,', 1), encoding="utf-8"
    )  # one payload changed, hash left alone
    with pytest.raises(CorruptDataError) as caught:
        read_snapshot(tampered)
    assert f"line {number})" in str(caught.value)
    assert "does not match its hash" in str(caught.value)

    removed = tmp_path / "removed.jsonl"
    removed.write_text("".join(lines[:10] + lines[11:]), encoding="utf-8")
    with pytest.raises(CorruptDataError, match=re.escape("line 11)")):
        read_snapshot(removed)

    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(lines[:-40]) + lines[-40][:25], encoding="utf-8")
    with pytest.raises(CorruptDataError) as caught:
        read_snapshot(cut)
    assert f"line {len(lines) - 39})" in str(caught.value)
    assert "cut off" in str(caught.value)

    short = tmp_path / "short.jsonl"
    short.write_text("".join(lines[:-1]), encoding="utf-8")  # whole lines, no end record
    with pytest.raises(CorruptDataError) as caught:
        read_snapshot(short)
    assert "truncated" in str(caught.value)
    assert f"line {len(lines) - 1})" in str(caught.value)

    target = SQLiteBackend(tmp_path / "t.db")
    await target.start()
    try:
        with pytest.raises(CorruptDataError, match="truncated"):
            await import_snapshot(short, target)
        assert [k async for k, _ in target.state.scan("")] == []  # nothing was written
    finally:
        await target.stop()
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"kind": "header", "format": "something else"}) + "\n")
    with pytest.raises(UserError, match="not a runtime snapshot"):
        read_snapshot(other)


async def test_an_import_into_a_runtime_holding_data_is_refused(
    exported: Path, tmp_path: Path
) -> None:
    target = SQLiteBackend(tmp_path / "busy.db")
    await target.start()
    try:
        await target.state.set("already", "here")
        with pytest.raises(ConflictError, match="not empty"):
            await import_snapshot(exported, target)
    finally:
        await target.stop()


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _forge(lines: list[str], number: int, change: dict[str, object], path: Path) -> Path:
    """``lines`` with line ``number`` changed and every hash from there on recomputed.

    The chain has no secret, so anyone can write a file that chains correctly: this is what a
    hand-edited or hostile snapshot looks like (the file format's docstring gives the rule).
    """
    previous = "0" * 64
    out: list[str] = []
    for at, line in enumerate(lines, start=1):
        record = json.loads(line)
        del record["hash"]
        if at == number:
            record.update(change)
        previous = hashlib.sha256((previous + _canonical(record)).encode()).hexdigest()
        out.append(_canonical({**record, "hash": previous}) + "\n")
    path.write_text("".join(out), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("marker", "change", "says"),
    [
        ('"id":"t3"', {"priority": "zz"}, "the task record's priority is not an integer: 'zz'"),
        ('"id":"t3"', {"priority": 2.5}, "priority is not an integer"),
        ('"id":"t3"', {"status": "zz"}, "status is not a task status"),
        ('"id":"t3"', {"backoff": float("nan")}, "backoff is not a finite number: nan"),
        ('"id":"t3"', {"attempts": True}, "attempts is not an integer"),
        ('"kind":"session"', {"turns": [1]}, "turns is not a list of [role, content, metadata]"),
        ('"kind":"session"', {"turns": "zz"}, "the session record's turns"),
        ('"kind":"group"', {"through": "zz"}, "through is not an offset"),
        ('"kind":"group"', {"pending": ["1", 2]}, "pending is not a list of offsets or null"),
        ('"kind":"agent"', {"capabilities": "review"}, "capabilities is not a list of strings"),
        ('"id":"e7"', {"topic": {"a": 1}}, "the event record's topic is not a string"),
        ('"id":"e7"', {"timestamp": None}, "timestamp is not a finite number: None"),
        ('"kind":"invocation"', {"tokens": 10**30}, "tokens is not an integer"),
        ('"id":"e7"', {"kind": {"a": 1}}, "unknown record kind {'a': 1}"),
        ('"kind":"header"', {"created_at": "zz"}, "the header's created_at is not a finite"),
    ],
)
async def test_a_snapshot_that_chains_but_holds_a_wrong_type_names_the_line_and_field(
    exported: Path, tmp_path: Path, marker: str, change: dict[str, object], says: str
) -> None:
    lines = _lines(exported)
    number = next(i for i, line in enumerate(lines, 1) if marker in line)
    forged = _forge(lines, number, change, tmp_path / "forged.jsonl")
    with pytest.raises(CorruptDataError) as caught:
        read_snapshot(forged)
    assert f"line {number})" in str(caught.value)
    assert says in str(caught.value)
    target = SQLiteBackend(tmp_path / "t.db")
    await target.start()
    try:
        with pytest.raises(CorruptDataError, match=re.escape(says)):
            await import_snapshot(forged, target)
        assert [k async for k, _ in target.state.scan("")] == []  # refused before any copy
    finally:
        await target.stop()


def test_forging_an_unchanged_snapshot_writes_it_again(exported: Path, tmp_path: Path) -> None:
    """The forging follows the file's rule: the refusals above are the type checks'."""
    lines = _lines(exported)
    forged = _forge(lines, 0, {}, tmp_path / "rechained.jsonl")
    assert forged.read_text(encoding="utf-8") == "".join(lines)


def test_a_file_that_is_not_json_from_line_1_is_not_a_snapshot(tmp_path: Path) -> None:
    for name, text in [("passwd", "root:x:0:0:root:/root:/bin/bash\n"), ("list", "[1, 2]\n")]:
        other = tmp_path / name
        other.write_text(text, encoding="utf-8")
        with pytest.raises(UserError, match="is not a runtime snapshot"):
            read_snapshot(other)


async def test_a_line_nested_too_deep_names_the_line(exported: Path, tmp_path: Path) -> None:
    lines = _lines(exported)
    deep = tmp_path / "deep.jsonl"
    deep.write_text("".join([*lines[:5], "[" * 100_000 + "]" * 100_000 + "\n", *lines[5:]]))
    with pytest.raises(CorruptDataError, match="the line is not JSON: nested too deep") as caught:
        read_snapshot(deep)
    assert "line 6)" in str(caught.value)


async def test_an_export_that_cannot_be_written_is_a_clear_error(tmp_path: Path) -> None:
    source = SQLiteBackend(tmp_path / "source.db")
    await source.start()
    try:
        await source.state.set("k", "v")
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        for path in (tmp_path / "no-such-folder" / "x.jsonl", blocker / "x.jsonl"):
            with pytest.raises(UserError, match=re.escape(f"cannot write the snapshot to {path}")):
                await export_snapshot(source, path, source_name="sqlite:source.db")
    finally:
        await source.stop()


_FULL_DISK = """
import asyncio, resource, signal, sys
from pathlib import Path
from memfun_core.errors import UserError
from memfun_runtime.backends.sqlite import SQLiteBackend
from memfun_runtime.migrate import export_snapshot

async def main(folder):
    source = SQLiteBackend(folder / "source.db")
    await source.start()
    for n in range(200):
        await source.state.set(f"k{n}", "x" * 100)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # as a disk with 4 KB left
    try:
        await export_snapshot(source, folder / "x.jsonl", source_name="s")
    except UserError as exc:
        print(exc)
    finally:
        await source.stop()

asyncio.run(main(Path(sys.argv[1])))
"""


def test_an_export_onto_a_full_disk_is_a_clear_error_and_leaves_no_snapshot(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    script = tmp_path / "full.py"
    script.write_text(_FULL_DISK)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"cannot write the snapshot to {tmp_path / 'x.jsonl.partial'}" in done.stdout
    assert "File too large" in done.stdout
    assert not (tmp_path / "x.jsonl").exists()  # only the .partial, never a whole-looking file
