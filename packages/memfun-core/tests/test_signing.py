"""The user's signing keys: created once (0600, outside any repository), shared by
processes that race to create them, and signatures that refuse tampering."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from memfun_core.errors import CorruptDataError, ValidationError
from memfun_core.signing import sign, signing_key_path, user_key, verify


def _environ(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(tmp_path / "config")}


def test_a_key_is_made_once_private_and_per_purpose(tmp_path: Path) -> None:
    env = _environ(tmp_path)
    key = user_key("memory", env)
    path = signing_key_path("memory", env)
    assert path == tmp_path / "config" / "memfun" / "memory.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) == 32
    assert user_key("memory", env) == key
    assert user_key("checkpoint", env) != key
    assert list(path.parent.glob(".*")) == []  # no temporary file left behind


_MAKE_KEY = (
    "import sys; from memfun_core.signing import user_key; "
    "print(user_key('memory', {'XDG_CONFIG_HOME': sys.argv[1]}).hex())"
)


def test_processes_racing_to_create_the_key_agree_on_one(tmp_path: Path) -> None:
    config = str(tmp_path / "config")
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _MAKE_KEY, config], stdout=subprocess.PIPE, text=True
        )
        for _ in range(12)
    ]
    keys = {racer.communicate(timeout=60)[0].strip() for racer in racers}
    assert all(racer.returncode == 0 for racer in racers)
    assert len(keys) == 1
    assert bytes.fromhex(keys.pop()) == user_key("memory", {"XDG_CONFIG_HOME": config})


def test_signatures_refuse_tampering_short_prefixes_and_other_keys(tmp_path: Path) -> None:
    key = user_key("memory", _environ(tmp_path))
    other = user_key("memory", {"XDG_CONFIG_HOME": str(tmp_path / "eve")})
    signature = sign(key, b"learning")
    assert verify(key, b"learning", signature)
    assert verify(key, b"learning", signature[:32].upper())
    assert not verify(key, b"learning!", signature)
    assert not verify(other, b"learning", signature)
    assert not verify(key, b"learning", signature[:31])
    assert not verify(key, b"learning", "")


def test_a_damaged_key_and_a_bad_purpose_are_refused(tmp_path: Path) -> None:
    env = _environ(tmp_path)
    path = signing_key_path("memory", env)
    path.parent.mkdir(parents=True)
    path.write_text("")  # e.g. a crash of an older version between create and write
    with pytest.raises(CorruptDataError, match="64 hex digits") as caught:
        user_key("memory", env)
    assert "delete the file" in (caught.value.hint or "")
    for purpose in ("../trust", "Memory", "", "a/b"):
        with pytest.raises(ValidationError):
            signing_key_path(purpose, env)
