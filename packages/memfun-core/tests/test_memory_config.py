"""The ``[memory]`` section: off by default, read from memfun.toml, bad values refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_core.config import MemoryConfig, load_config
from memfun_core.errors import ConfigError


def test_memory_is_off_by_default(tmp_path: Path) -> None:
    (tmp_path / "memfun.toml").write_text("", encoding="utf-8")
    config = load_config(tmp_path, environ={}, files=[tmp_path / "memfun.toml"])
    assert config.memory == MemoryConfig()
    assert config.memory.enabled is False


def test_memory_section_is_read(tmp_path: Path) -> None:
    (tmp_path / "memfun.toml").write_text(
        "[memory]\nenabled = true\nlearn = false\nbudget_bytes = 512\nmax_items = 3\n",
        encoding="utf-8",
    )
    memory = load_config(tmp_path, environ={}, files=[tmp_path / "memfun.toml"]).memory
    assert (memory.enabled, memory.learn, memory.budget_bytes, memory.max_items) == (
        True,
        False,
        512,
        3,
    )


def test_a_negative_budget_is_refused(tmp_path: Path) -> None:
    (tmp_path / "memfun.toml").write_text("[memory]\nbudget_bytes = -1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, environ={}, files=[tmp_path / "memfun.toml"])
    assert "budget_bytes" in str(caught.value)
