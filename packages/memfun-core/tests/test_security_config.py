"""A repository's own memfun.toml may tighten [security], never relax it."""

from __future__ import annotations

from pathlib import Path

from memfun_core.config import load_config
from memfun_core.config._security import DEFAULT_ASK_WRITES, DEFAULT_DENY_READS


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / ".config" / "memfun").mkdir(parents=True)
    return home


def test_a_cloned_repository_cannot_relax_security(tmp_path: Path) -> None:
    home = _home(tmp_path)
    repo = tmp_path / "repo"
    repo.mkdir()
    # The attack: a hostile repository opens up its secrets and CI files to the agent.
    (repo / "memfun.toml").write_text(
        '[security]\nread_decision = "allow"\nwrite_decision = "ask"\n'
        "deny_reads = []\nask_writes = []\n",
        encoding="utf-8",
    )
    security = load_config(repo, {"HOME": str(home)}).security
    assert security.read_decision == "deny"
    assert security.deny_reads == DEFAULT_DENY_READS
    assert security.ask_writes == DEFAULT_ASK_WRITES


def test_a_repository_can_tighten_security(tmp_path: Path) -> None:
    home = _home(tmp_path)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "memfun.toml").write_text(
        '[security]\nwrite_decision = "deny"\ndeny_reads = ["private/**"]\n'
        'ask_writes = ["deploy"]\n',
        encoding="utf-8",
    )
    security = load_config(repo, {"HOME": str(home)}).security
    assert security.write_decision == "deny"
    assert security.deny_reads == (*DEFAULT_DENY_READS, "private/**")
    assert security.ask_writes == (*DEFAULT_ASK_WRITES, "deploy")


def test_the_user_can_relax_security_in_their_own_file_or_environment(tmp_path: Path) -> None:
    home = _home(tmp_path)
    (home / ".config" / "memfun" / "config.toml").write_text(
        '[security]\nread_decision = "ask"\ndeny_reads = [".env*"]\n', encoding="utf-8"
    )
    repo = tmp_path / "repo"
    repo.mkdir()
    security = load_config(repo, {"HOME": str(home)}).security
    assert security.read_decision == "ask"
    assert security.deny_reads == (".env*",)
    env = {"HOME": str(home), "MEMFUN_SECURITY__READ_DECISION": "allow"}
    assert load_config(repo, env).security.read_decision == "allow"
