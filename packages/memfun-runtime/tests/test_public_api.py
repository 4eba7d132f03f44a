"""The curated public API: every name resolves, and importing stays cheap."""

from __future__ import annotations

import subprocess
import sys

import pytest

import memfun_runtime
from memfun_runtime import protocols


def test_every_public_name_resolves() -> None:
    for name in memfun_runtime.__all__:
        assert getattr(memfun_runtime, name) is not None, name
    for name in protocols.__all__:
        assert getattr(protocols, name) is not None, name


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        _ = memfun_runtime.NoSuchThing  # type: ignore[attr-defined]


def test_version_matches_the_distribution() -> None:
    from importlib.metadata import version

    assert memfun_runtime.__version__ == version("memfun-runtime")


def test_import_is_cheap_and_sqlite_loads_only_when_used() -> None:
    code = (
        "import sys, memfun_runtime\n"
        "heavy = {'aiosqlite', 'sqlite3', 'redis', 'nats', 'memfun_runtime.agents'}\n"
        "assert not heavy & set(sys.modules), heavy & set(sys.modules)\n"
        "memfun_runtime.RuntimeBuilder().memory().build()\n"
        "assert 'aiosqlite' not in sys.modules\n"
        "memfun_runtime.SQLiteBackend\n"
        "assert 'aiosqlite' in sys.modules\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
