"""``memfun runtime export`` / ``import``: a project's T1 runtime through a file into Redis."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from memfun_cli.testing import memfun
from memfun_runtime.backends.redis import RedisBackend
from memfun_runtime.backends.redis import testing as redis_testing
from memfun_runtime.backends.sqlite import SQLiteBackend
from memfun_runtime.testing import namespace_for


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return memfun(project, "runtime", *args, timeout=300)


async def _read_back(url: str, namespace: str) -> tuple[int, object]:
    backend = RedisBackend(url, namespace=namespace)
    await backend.start()
    try:
        events = len([e async for e in backend.events.replay("orders")])
        task = await backend.tasks.get("jobs", "t1")
        return events, None if task is None else task.payload
    finally:
        await backend.stop()


def test_export_then_import_into_redis(
    tmp_path: Path, redis_url: str, fill_runtime: Callable[[Path, int], None]
) -> None:
    (tmp_path / "home").mkdir()
    project = tmp_path / "proj"
    project.mkdir()
    fill_runtime(project / ".memfun" / "runtime.db", 120)
    snapshot = tmp_path / "runtime.jsonl"

    exported = run(project, "export", str(snapshot), "--json")
    assert exported.returncode == 0, exported.stderr
    data = json.loads(exported.stdout)
    assert data["verified"] is True
    assert data["copied"]["event"] == 120
    assert {s["name"]: s["target"] for s in data["sections"]}["tasks"] == 1

    text = snapshot.read_text(encoding="utf-8").splitlines(keepends=True)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(text[:50]), encoding="utf-8")
    namespace = namespace_for(str(project))
    target = ["--to", "redis", "--url", redis_url, "--namespace", namespace]
    try:
        refused = run(project, "import", str(cut), *target)
        assert refused.returncode == 1
        assert "Traceback" not in refused.stderr
        assert f"{cut}, line 50" in refused.stderr
        assert "truncated" in refused.stderr

        imported = run(project, "import", str(snapshot), *target)
        assert imported.returncode == 0, imported.stderr
        assert "verified" in imported.stdout
        rows = [line.split() for line in imported.stdout.splitlines()]
        assert ["events", "120", "->", "120", "ok"] in rows
        assert asyncio.run(_read_back(redis_url, namespace)) == (120, {"job": 1})
        again = run(project, "import", str(snapshot), *target)  # resumes: nothing to copy
        assert again.returncode == 0, again.stderr
        assert "(resumed)" in again.stdout
    finally:
        redis_testing.purge_namespace(namespace, redis_url)


async def _events_in(path: Path) -> int:
    backend = SQLiteBackend(path)
    await backend.start()
    try:
        return len([e async for e in backend.events.replay("orders")])
    finally:
        await backend.stop()


def _trail(project: Path, home: Path, count: int, tag: str) -> list[str]:
    from memfun_core.audit import AuditLog

    log = AuditLog(project / ".memfun" / "audit.jsonl", secrets=frozenset(),
                   witness_dir=home / ".config" / "memfun" / "audit")  # fmt: skip
    for n in range(count):
        log.append("tool_call", {"tool": "fs_read", "path": f"{tag}-{n}.txt"})
    return log.path.read_text(encoding="utf-8").splitlines()


def test_the_audit_trail_travels_in_the_snapshot_and_is_never_merged(
    tmp_path: Path, fill_runtime: Callable[[Path, int], None]
) -> None:
    home = tmp_path / "home"
    source, target, other = (tmp_path / name for name in ("source", "target", "other"))
    for project in (source, target, other):
        project.mkdir()
    fill_runtime(source / ".memfun" / "runtime.db", 120)
    lines = _trail(source, home, 3, "src")

    snapshot = tmp_path / "with-audit.jsonl"
    exported = memfun(source, "runtime", "export", str(snapshot), "--json")
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["copied"]["audit"] == 3

    imported = memfun(target, "runtime", "import", str(snapshot), "--json")
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["copied"]["audit"] == 3
    restored = target / ".memfun" / "audit.jsonl"
    assert restored.read_text(encoding="utf-8").splitlines() == lines
    assert memfun(target, "audit", "verify").returncode == 0
    again = memfun(target, "runtime", "import", str(snapshot), "--json")  # resumed: no-op
    assert again.returncode == 0, again.stderr
    assert restored.read_text(encoding="utf-8").splitlines() == lines

    _trail(other, home, 2, "own")  # a project with its own trail is never merged into
    refused = memfun(other, "runtime", "import", str(snapshot))
    assert refused.returncode != 0
    assert "holds an audit trail already" in refused.stderr
    assert asyncio.run(_events_in(other / ".memfun" / "runtime.db")) == 0  # nothing copied

    trail = source / ".memfun" / "audit.jsonl"  # a broken trail is refused, not exported
    trail.write_text(trail.read_text(encoding="utf-8").replace("src-1", "src-X"), "utf-8")
    broken = memfun(source, "runtime", "export", str(tmp_path / "broken.jsonl"))
    assert broken.returncode != 0
    assert "audit trail is broken" in broken.stderr
    assert "--no-audit" in broken.stderr
    without = memfun(source, "runtime", "export", str(tmp_path / "no-audit.jsonl"), "--no-audit")
    assert without.returncode == 0, without.stderr
    assert '"kind":"audit"' not in (tmp_path / "no-audit.jsonl").read_text(encoding="utf-8")
