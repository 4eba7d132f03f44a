"""RuntimeBuilder: tiers from code and from memfun-core config, and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_core.config import MemfunConfig, RuntimeConfig
from memfun_core.errors import ConfigError
from memfun_runtime import (
    MemoryBackend,
    Runtime,
    RuntimeBuilder,
    configured_namespace,
    project_namespace,
)
from memfun_runtime._codec import check_group
from memfun_runtime.agents import BaseAgent


class Idle(BaseAgent):
    pass


def test_memory_from_code() -> None:
    runtime = RuntimeBuilder().memory().build()
    assert isinstance(runtime, Runtime)
    assert isinstance(runtime.backend, MemoryBackend)
    assert runtime.tier == "memory"
    assert not runtime.running


def test_from_config_memory_and_agents() -> None:
    config = MemfunConfig(runtime=RuntimeConfig(tier="memory"))
    runtime = RuntimeBuilder().from_config(config).agent(Idle).agent(Idle, name="idle-2").build()
    assert runtime.tier == "memory"
    assert runtime.manager.names() == ["idle", "idle-2"]


def test_no_tier_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"no tier chosen"):
        RuntimeBuilder().build()


@pytest.mark.parametrize(("name", "suggestion"), [("sqllite", "sqlite"), ("memroy", "memory")])
def test_a_wrong_tier_name_is_a_config_error_with_a_suggestion(name: str, suggestion: str) -> None:
    with pytest.raises(ConfigError) as info:
        RuntimeBuilder().tier(name)
    assert info.value.key == "runtime.tier"
    assert f"did you mean {suggestion!r}" in str(info.value)
    config = MemfunConfig(runtime=RuntimeConfig(tier=name))  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        RuntimeBuilder().from_config(config)


@pytest.mark.parametrize(
    ("tier", "url_key", "url", "backend_class"),
    [
        ("redis", "redis_url", "redis://127.0.0.1:1/0", "RedisBackend"),
        ("nats", "nats_url", "nats://127.0.0.1:1", "NatsBackend"),
    ],
)
def test_server_tiers_come_from_config(
    tier: str, url_key: str, url: str, backend_class: str
) -> None:
    config = MemfunConfig(
        runtime=RuntimeConfig(tier=tier, namespace="builder-test", **{url_key: url})  # type: ignore[arg-type]
    )
    runtime = RuntimeBuilder().from_config(config).build()
    assert runtime.tier == tier
    assert type(runtime.backend).__name__ == backend_class


def test_a_custom_backend_instance() -> None:
    backend = MemoryBackend()
    assert RuntimeBuilder().backend(backend).build().backend is backend


async def test_options_reach_the_manager() -> None:
    runtime = (
        RuntimeBuilder()
        .memory()
        .drain_timeout(1.5)
        .restart_policy(backoff=(0.01, 0.1), stable_after=5, max_restarts=2)
        .build()
    )
    manager = runtime.manager
    assert (manager.drain_timeout, manager.backoff_initial, manager.backoff_max) == (1.5, 0.01, 0.1)
    assert (manager.stable_after, manager.max_restarts) == (5, 2)


def test_sqlite_from_config_puts_the_database_under_the_data_dir(tmp_path: Path) -> None:
    from memfun_runtime.backends.sqlite import SQLiteBackend

    config = MemfunConfig(
        runtime=RuntimeConfig(tier="sqlite", data_dir="state"), project_root=str(tmp_path)
    )
    runtime = RuntimeBuilder().from_config(config).build()
    assert isinstance(runtime.backend, SQLiteBackend)
    assert runtime.tier == "sqlite"


async def test_sqlite_from_code_runs(tmp_path: Path) -> None:
    database = tmp_path / "data" / "runtime.db"
    async with RuntimeBuilder().sqlite(database).build() as runtime:
        await runtime.state.set("k", 1)
        entry = await runtime.state.get("k")
        assert entry is not None
        assert entry.value == 1
    assert database.exists()


@pytest.mark.parametrize(
    "name", ["app", "My App", "x.y z", ".hidden", "日本語", "a" * 250, "--", "UPPER_case-1"]
)
def test_a_projects_namespace_is_one_legal_token_of_its_folder_and_path(
    tmp_path: Path, name: str
) -> None:
    first, second = tmp_path / "one" / name, tmp_path / "two" / name
    first.mkdir(parents=True)
    second.mkdir(parents=True)
    namespace = project_namespace(first)
    assert check_group(namespace, field="namespace") == namespace  # what both servers accept
    assert len(namespace) <= 64
    assert namespace == project_namespace(str(first))  # the same folder: the same name
    assert namespace != project_namespace(second)  # a folder named alike elsewhere: another
    link = tmp_path / "link"
    link.symlink_to(first)
    assert project_namespace(link / ".." / name) == namespace  # judged by the resolved path


def test_the_configured_namespace_wins_over_the_projects(tmp_path: Path) -> None:
    unset = MemfunConfig(runtime=RuntimeConfig(tier="redis"), project_root=str(tmp_path))
    assert configured_namespace(unset) == project_namespace(tmp_path)
    named = MemfunConfig(
        runtime=RuntimeConfig(tier="redis", namespace="acme"), project_root=str(tmp_path)
    )
    assert configured_namespace(named) == "acme"
    assert RuntimeBuilder().from_config(unset).build().backend.namespace == (  # type: ignore[attr-defined]
        project_namespace(tmp_path)
    )
