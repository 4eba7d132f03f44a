"""``memfun config show`` never prints the passwords that service URLs carry (issue 15, item 7).

Written as the attack: someone looking over a shoulder, a screen share or a pasted bug report
with the output of ``memfun config show`` must not learn the Redis or NATS password.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

MEMFUN = Path(sys.executable).parent / "memfun"
REDIS_PASSWORD = "s3cret-redis-pw"
NATS_PASSWORD = "s3cret-nats-pw"
NATS_TOKEN = "natstoken-0123456789"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "memfun.toml").write_text(
        "[runtime]\n"
        'tier = "redis"\n'
        f'redis_url = "redis://user:{REDIS_PASSWORD}@127.0.0.1:6379/0?password={REDIS_PASSWORD}"\n'
        f'nats_url = "nats://admin:{NATS_PASSWORD}@127.0.0.1:4222"\n',
        encoding="utf-8",
    )
    return proj


def show(project: Path, *extra: str, env: dict[str, str] | None = None) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MEMFUN_", "XDG_"))}
    result = subprocess.run(
        [str(MEMFUN), "config", "show", *extra],
        cwd=project,
        env={**base, "HOME": str(project.parent / "home"), **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


@pytest.mark.parametrize("extra", [(), ("--json",)])
def test_passwords_in_service_urls_are_not_shown(project: Path, extra: tuple[str, ...]) -> None:
    output = show(project, *extra)
    assert REDIS_PASSWORD not in output
    assert NATS_PASSWORD not in output
    # Still useful: where the services are and who logs in.
    assert "redis://user:***@127.0.0.1:6379/0" in output
    assert "nats://admin:***@127.0.0.1:4222" in output


def test_json_output_stays_valid_with_masked_urls(project: Path) -> None:
    data = json.loads(show(project, "--json"))
    assert data["runtime"]["redis_url"].startswith("redis://user:***@127.0.0.1:6379/0")
    assert data["runtime"]["tier"] == "redis"


def test_a_token_set_through_the_environment_is_masked_too(project: Path) -> None:
    env = {"MEMFUN_RUNTIME__NATS_URL": f"nats://{NATS_TOKEN}@127.0.0.1:4222"}
    for extra in ((), ("--json",)):
        output = show(project, *extra, env=env)
        assert NATS_TOKEN not in output
        assert "nats://***@127.0.0.1:4222" in output
