"""``memfun runtime migrate``: a project's T1 runtime moved to Redis, re-run, and a forgery seen."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from memfun_cli.testing import memfun
from memfun_runtime.backends.redis import RedisBackend
from memfun_runtime.backends.redis import testing as redis_testing
from memfun_runtime.testing import namespace_for


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return memfun(project, "runtime", "migrate", *args, timeout=300)


@pytest.fixture
def project(tmp_path: Path, fill_runtime: Callable[[Path, int], None]) -> Path:
    (tmp_path / "home").mkdir()
    proj = tmp_path / "proj"
    proj.mkdir()
    fill_runtime(proj / ".memfun" / "runtime.db", 300)
    return proj


def test_migrate_to_redis_verifies_resumes_and_reports_a_forged_record(
    project: Path, redis_url: str, tmp_path: Path
) -> None:
    namespace = namespace_for(str(tmp_path))
    args = ["--to", "redis", "--url", redis_url, "--namespace", namespace, "--json"]
    try:
        first = run(project, *args)
        assert first.returncode == 0, first.stderr
        data = json.loads(first.stdout)
        assert data["verified"] is True
        assert data["from"] == f"sqlite:{(project / '.memfun' / 'runtime.db').resolve()}"
        assert data["copied"]["events"] == 300
        assert data["copied"]["tasks"] == 1
        assert not data["resumed"]
        again = run(project, *args)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["resumed"] is True
        assert sum(json.loads(again.stdout)["copied"].values()) == 0

        async def forge() -> None:
            target = RedisBackend(redis_url, namespace=namespace)
            await target.start()
            await target.state.set("memfun.traces.run-1", {"steps": 99})
            await target.stop()

        asyncio.run(forge())
        forged = run(project, *args, "--switch")
        assert forged.returncode == 1
        assert not (project / "memfun.toml").exists()  # no switch to a copy that differs
        assert json.loads(forged.stdout)["differences"] == [
            'state: state record \'memfun.traces.run-1\' differs: {"steps":3} != {"steps":99}'
        ]
        human = run(project, *args[:-1])
        assert human.returncode == 1
        assert "state            1 -> 1        DIFFERS" in human.stdout
    finally:
        redis_testing.purge_namespace(namespace, redis_url)


def test_the_same_runtime_is_refused(project: Path) -> None:
    result = run(project, "--to", "sqlite")
    assert result.returncode == 2
    assert "the source and the target are the same runtime" in result.stderr


def test_switch_points_the_project_at_the_verified_copy_and_keeps_it_trusted(
    project: Path, redis_url: str, tmp_path: Path
) -> None:
    namespace = namespace_for(str(tmp_path))
    (project / "memfun.toml").write_text('# my project\n[runtime]\ntier = "sqlite"\n')
    assert memfun(project, "trust").returncode == 0
    try:
        moved = run(
            project, "--to", "redis", "--url", redis_url, "--namespace", namespace, "--switch"
        )
        assert moved.returncode == 0, moved.stderr
        assert f'now sets runtime.tier = "redis", runtime.redis_url = "{redis_url}"' in (
            moved.stdout
        )
        text = (project / "memfun.toml").read_text()
        assert text.startswith("# my project\n")  # comments kept
        status = memfun(project, "runtime", "status", "--json")
        assert status.returncode == 0, status.stderr  # still trusted: the namespace is accepted
        data = json.loads(status.stdout)
        assert (data["tier"], data["namespace"]) == ("redis", namespace)
        assert data["queues"] == [{"queue": "jobs", "pending": 1, "leased": 0}]
    finally:
        redis_testing.purge_namespace(namespace, redis_url)


def test_switch_to_a_data_folder_writes_it_relative_to_the_project(project: Path) -> None:
    (project / "memfun.toml").write_text('[runtime]\ntier = "sqlite"\n')
    moved = run(project, "--to", "sqlite", "--url", str(project / "var" / "rt"), "--switch")
    assert moved.returncode == 0, moved.stderr
    assert 'data_dir = "var/rt"' in (project / "memfun.toml").read_text()
    assert moved.stderr.count("note:") == 0  # inside the project: nothing waits for trust
    status = memfun(project, "runtime", "status", "--json")
    assert status.returncode == 0, status.stderr
    detail = json.loads(status.stdout)["components"][0]["detail"]
    assert detail == str(project / "var" / "rt" / "runtime.db")
