"""The audit witness: what the hash chain alone cannot see (a cut end, a deleted file, a whole
rewrite with fresh hashes) is caught by the newest entry recorded outside the repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memfun_core.audit import AuditLog, audit_witness_dir
from memfun_core.errors import CorruptDataError


def _log(tmp_path: Path, *, witnessed: bool = True) -> AuditLog:
    witness = tmp_path / "config" / "memfun" / "audit" if witnessed else None
    return AuditLog(tmp_path / "repo" / ".memfun" / "audit.jsonl", secrets=frozenset(),
                    witness_dir=witness)  # fmt: skip


def _write(log: AuditLog, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        log.append("tool_call", {"tool": "fs_read", "i": i})


def _reasons(log: AuditLog) -> list[str]:
    return [problem.reason for problem in log.verify().problems]


def test_an_intact_witnessed_trail_verifies(tmp_path: Path) -> None:
    log = _log(tmp_path)
    _write(log, 5)
    assert log.verify().ok
    assert log.witness is not None
    assert not log.witness.is_relative_to(log.path.parent.parent)
    recorded = json.loads(log.witness.read_bytes())
    assert recorded["seq"] == 5
    assert recorded["hash"] == log.verify().head
    assert log.witness.stat().st_mode & 0o777 == 0o600


def test_a_cut_end_passes_the_chain_but_not_the_witness(tmp_path: Path) -> None:
    log, bare = _log(tmp_path), _log(tmp_path, witnessed=False)
    _write(log, 5)
    lines = log.path.read_text().splitlines()
    log.path.write_text("\n".join(lines[:3]) + "\n")
    assert bare.verify().ok  # the limit the witness exists for
    assert _reasons(log) == [
        f"entry 5 was written ({log.witness} says so) and is gone: the trail was cut off or deleted"
    ]


def test_a_deleted_trail_is_reported(tmp_path: Path) -> None:
    log = _log(tmp_path)
    _write(log, 2)
    log.path.unlink()
    assert not log.verify().ok


def test_a_rewrite_with_fresh_hashes_is_reported(tmp_path: Path) -> None:
    log = _log(tmp_path)
    _write(log, 4)
    forged = _log(tmp_path / "elsewhere", witnessed=False)
    _write(forged, 4, start=100)  # a whole new chain, every hash valid
    log.path.write_bytes(forged.path.read_bytes())
    assert forged.verify().ok
    reasons = _reasons(log)
    assert reasons == ["entry 4 is not the entry written there (the trail was rewritten)"]


def test_appending_after_a_cut_keeps_the_evidence(tmp_path: Path) -> None:
    log = _log(tmp_path)
    _write(log, 6)
    lines = log.path.read_text().splitlines()
    log.path.write_text("\n".join(lines[:2]) + "\n")
    _write(log, 3)  # the chain resumes at entry 3 and overtakes nothing
    reasons = _reasons(log)
    assert len(reasons) == 1
    assert reasons[0].startswith("entries after 6 were cut off before ")
    assert "went on from entry 3" in reasons[0]
    log.path.unlink()
    _write(log, 1)  # deleting the file and starting anew is a second cut
    assert len(_reasons(log)) == 2


def test_an_unreadable_witness_is_a_clear_error(tmp_path: Path) -> None:
    log = _log(tmp_path)
    _write(log, 1)
    assert log.witness is not None
    log.witness.write_text("{not json")
    with pytest.raises(CorruptDataError, match="audit witness cannot be read"):
        log.verify()
    with pytest.raises(CorruptDataError, match="audit witness cannot be read"):
        _write(log, 1)
    assert len(log.path.read_text().splitlines()) == 1, "a refused append writes nothing"


def test_the_default_witness_folder_is_beside_the_user_config(tmp_path: Path) -> None:
    folder = audit_witness_dir({"XDG_CONFIG_HOME": str(tmp_path)})
    assert folder == tmp_path / "memfun" / "audit"
