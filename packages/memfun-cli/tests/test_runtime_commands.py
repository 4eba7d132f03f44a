from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memfun_runtime import RuntimeBuilder, project_namespace
from memfun_runtime.backends.redis.testing import purge_namespace
from memfun_runtime.backends.sqlite import project_ownership
from memfun_runtime.testing import namespace_for
from memfun_runtime.worker import done_key

MEMFUN = str(Path(sys.executable).parent / "memfun")

HANDLER = """
from memfun_runtime.worker import Job


async def double(job: Job) -> dict[str, int]:
    return {"doubled": int(job.payload["n"]) * 2}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    proj = tmp_path / "proj"
    proj.mkdir()
    return proj


def env_for(project: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUN_")}
    return {**env, "HOME": str(project.parent / "home"), **extra}


def status(
    project: Path, as_json: bool = True, /, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MEMFUN, "runtime", "status", *(["--json"] if as_json else [])],
        cwd=project,
        env=env_for(project, **extra),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_status_on_sqlite(project: Path) -> None:
    result = status(project)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["tier"] == "sqlite"
    assert data["ok"] is True
    assert {c["name"] for c in data["components"]} == {
        "events",
        "state",
        "tasks",
        "sessions",
        "agents",
        "skills",
    }
    assert (project / ".memfun" / "runtime.db").is_file()


def test_status_on_redis(project: Path, redis_url: str, free_port: int) -> None:
    try:
        ok = status(
            project,
            MEMFUN_RUNTIME__TIER="redis",
            MEMFUN_RUNTIME__REDIS_URL=redis_url,
            MEMFUN_RUNTIME__NAMESPACE=namespace_for(str(project)),  # unique per test run
        )
    finally:
        purge_namespace(namespace_for(str(project)), redis_url)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["tier"] == "redis"
    assert json.loads(ok.stdout)["namespace"] == namespace_for(str(project))
    down = status(
        project,
        MEMFUN_RUNTIME__TIER="redis",
        MEMFUN_RUNTIME__REDIS_URL=f"redis://127.0.0.1:{free_port}/0",
    )
    assert down.returncode == 1
    assert "Traceback" not in down.stderr
    assert "Redis server is running" in down.stderr


def test_status_names_the_projects_own_namespace_and_a_clone_cannot_pick_one(
    project: Path, redis_url: str
) -> None:
    # The namespace derives from the folder's path: a folder named per run keeps two test
    # runs with the same temporary paths apart on the shared server.
    project = project.parent / namespace_for(str(project))
    project.mkdir()
    server = {"MEMFUN_RUNTIME__TIER": "redis", "MEMFUN_RUNTIME__REDIS_URL": redis_url}
    try:
        shown = status(project, False, **server)
    finally:
        purge_namespace(project_namespace(project), redis_url)  # the backend's index key
    assert shown.returncode == 0, shown.stderr
    assert f"namespace: {project_namespace(project)}" in shown.stdout
    # A repository's memfun.toml naming another project's namespace waits for trust.
    (project / "memfun.toml").write_text('[runtime]\nnamespace = "memfun"\n', encoding="utf-8")
    refused = status(project, **server)
    assert refused.returncode == 2
    assert "runtime.namespace = 'memfun'" in refused.stderr
    assert "memfun trust" in refused.stderr


def test_worker_takes_tasks_from_the_configured_tier(project: Path) -> None:
    (project / "jobs.py").write_text(HANDLER, encoding="utf-8")
    db = project / ".memfun" / "runtime.db"

    async def enqueue() -> list[str]:
        owner = project_ownership(project, db, env_for(project))  # as the CLI there stamps it
        async with RuntimeBuilder().sqlite(db, ownership=owner).build() as runtime:
            return [await runtime.backend.tasks.enqueue("tasks.double", {"n": n}) for n in range(5)]

    ids = asyncio.run(enqueue())
    log = project / "worker.log"
    sink = log.open("w", encoding="utf-8")
    worker = subprocess.Popen(
        [
            MEMFUN,
            "runtime",
            "worker",
            "--capability",
            "double",
            "--handler",
            f"{project / 'jobs.py'}:double",
        ],
        cwd=project,
        env=env_for(project),
        stdout=sink,
        stderr=subprocess.STDOUT,
    )

    async def results() -> dict[str, object]:
        async with RuntimeBuilder().sqlite(db).build() as runtime:
            found: dict[str, object] = {}
            for task_id in ids:
                entry = await runtime.backend.state.get(done_key("tasks.double", task_id))
                if entry is not None:
                    found[task_id] = entry.value
            return found

    try:
        deadline = time.monotonic() + 60
        found: dict[str, object] = {}
        while time.monotonic() < deadline and len(found) < len(ids):
            time.sleep(0.2)
            found = asyncio.run(results())
        assert len(found) == len(ids), log.read_text(encoding="utf-8")
        assert sorted(v["doubled"] for v in found.values()) == [0, 2, 4, 6, 8]  # type: ignore[index]
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=30)
        sink.close()
    assert code == 0, log.read_text(encoding="utf-8")


def test_the_worker_stamps_the_database_it_makes_and_refuses_a_planted_one(project: Path) -> None:
    """Found by hand: a worker made .memfun/runtime.db without the stamp, and every other
    command of the (untrusted) project then refused the user's own database."""
    (project / "jobs.py").write_text(HANDLER, encoding="utf-8")
    argv = [MEMFUN, "runtime", "worker", "--capability", "double", "--handler", "jobs.py:double"]
    made = subprocess.Popen(argv, cwd=project, env=env_for(project), stderr=subprocess.PIPE)
    db = project / ".memfun" / "runtime.db"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not db.is_file():
        time.sleep(0.2)
    time.sleep(1)  # the schema and the stamp are written in the file's first transaction
    made.send_signal(signal.SIGTERM)
    _, err = made.communicate(timeout=30)
    assert made.returncode == 0, err
    assert status(project).returncode == 0  # the project's other commands open it

    db.unlink()

    async def plant() -> None:  # no stamp: as a cloned repository could ship it
        async with RuntimeBuilder().sqlite(db).build() as runtime:
            await runtime.backend.tasks.enqueue("tasks.double", {"n": 1})

    asyncio.run(plant())
    refused = subprocess.run(
        argv,
        check=False,
        cwd=project,
        env=env_for(project),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "your Memfun did not create it" in refused.stderr
