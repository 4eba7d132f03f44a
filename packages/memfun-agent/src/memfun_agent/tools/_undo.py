"""Where checkpoints are kept, and undoing one.

A plain folder under the project's data folder (``.memfun/checkpoints/``), not the runtime's
stores: undo is about files on this disk, so it must work with every runtime tier (the
in-memory tier forgets everything, Redis and NATS may be shared by several machines), and a
user can look at what is kept. Each checkpoint is ``<run_id>.json`` (paths, modes, SHA-256 of
the contents) beside content-addressed ``blobs/<sha256>``; ``<run_id>.undone`` marks one as
undone.

Everything under ``.memfun/`` may come with a repository, so it is untrusted: each manifest
is signed (HMAC-SHA256) with a key kept in the user's config folder, blobs are checked
against their hashes, and every path must stay inside the workspace. A checkpoint this user's
Memfun did not write is refused, never applied.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, cast

from memfun_agent.tools._checkpoints import Checkpoint, FileChange, FileState, read_state
from memfun_core.errors import ConflictError, NotFoundError, PermissionDeniedError
from memfun_core.signing import sign, user_key

__all__ = ["CheckpointInfo", "CheckpointStore", "UndoResult"]

_RUN_ID = re.compile(r"[A-Za-z0-9_.-]{1,100}\Z")
_VERSION = 1


@dataclass(frozen=True, slots=True)
class CheckpointInfo:
    """One stored checkpoint, as ``memfun undo --list`` shows it."""

    run_id: str
    task: str
    created_at: float
    paths: tuple[str, ...]
    undone_at: float | None


@dataclass(frozen=True, slots=True)
class UndoResult:
    """What an undo did: files written back, files removed (the run had created them)."""

    run_id: str
    restored: tuple[str, ...]
    removed: tuple[str, ...]


def _state_json(state: FileState, blob: str | None) -> dict[str, Any] | None:
    if state.content is None:
        return {"exists": False, "missing_dirs": list(state.missing_dirs)}
    return {"exists": True, "sha256": blob, "mode": state.mode}


class CheckpointStore:
    """The checkpoints of one project.

    Args:
        folder: The checkpoints folder (``<data_dir>/checkpoints``).
        environ: Where ``XDG_CONFIG_HOME`` / ``HOME`` are read to find the signing key.
    """

    def __init__(self, folder: Path, *, environ: Mapping[str, str] | None = None) -> None:
        self.folder = folder
        self._environ = os.environ if environ is None else environ

    # --- writing ------------------------------------------------------------------------

    def save(self, checkpoint: Checkpoint) -> bool:
        """Store ``checkpoint``; a run that changed no file stores nothing (returns False)."""
        if not checkpoint.files:
            return False
        _check_run_id(checkpoint.run_id)
        blobs = self.folder / "blobs"
        blobs.mkdir(parents=True, exist_ok=True)
        files: list[dict[str, Any]] = []
        for change in checkpoint.files:
            entry: dict[str, Any] = {"path": change.path}
            for side, state in (("before", change.before), ("after", change.after)):
                digest = None
                if state.content is not None:
                    digest = hashlib.sha256(state.content).hexdigest()
                    _write_new(blobs / digest, state.content)
                entry[side] = _state_json(state, digest)
            files.append(entry)
        body: dict[str, Any] = {
            "version": _VERSION,
            "run_id": checkpoint.run_id,
            "task": checkpoint.task,
            "created_at": checkpoint.created_at,
            "files": files,
        }
        body["signature"] = self._sign(body)
        text = json.dumps(body, indent=1, sort_keys=True)
        _write_replace(self.folder / f"{checkpoint.run_id}.json", text.encode())
        return True

    # --- reading ------------------------------------------------------------------------

    def list(self) -> list[CheckpointInfo]:
        """Every checkpoint this user's Memfun wrote, newest first (others are skipped)."""
        out: list[CheckpointInfo] = []
        if not self.folder.is_dir():
            return out
        for manifest in self.folder.glob("*.json"):
            try:
                body = self._verified(manifest.stem)
            except (PermissionDeniedError, NotFoundError):
                continue
            out.append(
                CheckpointInfo(
                    run_id=str(body["run_id"]),
                    task=str(body["task"]),
                    created_at=float(body["created_at"]),
                    paths=tuple(str(f["path"]) for f in body["files"]),
                    undone_at=self._undone_at(str(body["run_id"])),
                )
            )
        out.sort(key=lambda info: info.created_at, reverse=True)
        return out

    def rejected(self) -> list[str]:
        """Manifests in the folder that this user's Memfun did not write (never applied)."""
        if not self.folder.is_dir():
            return []
        out: list[str] = []
        for manifest in sorted(self.folder.glob("*.json")):
            try:
                self._verified(manifest.stem)
            except (PermissionDeniedError, NotFoundError):
                out.append(manifest.name)
        return out

    def load(self, run_id: str) -> Checkpoint:
        """The checkpoint of ``run_id``, its signature and contents verified.

        Raises:
            NotFoundError: There is no checkpoint of that run.
            PermissionDeniedError: It was not written by this user's Memfun, or a blob was
                altered.
        """
        body = self._verified(run_id)
        files = tuple(
            FileChange(
                path=str(entry["path"]),
                before=self._state(run_id, entry["before"]),
                after=self._state(run_id, entry["after"]),
            )
            for entry in body["files"]
        )
        return Checkpoint(
            run_id=str(body["run_id"]),
            task=str(body["task"]),
            created_at=float(body["created_at"]),
            files=files,
        )

    # --- undo ---------------------------------------------------------------------------

    def undo(self, root: Path, run_id: str | None = None) -> UndoResult:
        """Put every file of a checkpoint back as it was before its run.

        Nothing is written unless every file is still exactly as the run left it.

        Args:
            root: The workspace the checkpoint's paths are relative to.
            run_id: The run to undo (default: the newest checkpoint not yet undone).

        Raises:
            NotFoundError: No such checkpoint (or nothing left to undo).
            ConflictError: A file changed since the run (named), or the run is undone already.
            PermissionDeniedError: The checkpoint is not this user's, or a path leaves the
                workspace.
        """
        if run_id is None:
            pending = [info for info in self.list() if info.undone_at is None]
            if not pending:
                raise NotFoundError("checkpoint", "(latest)", hint="memfun undo --list")
            run_id = pending[0].run_id
        checkpoint = self.load(run_id)
        if self._undone_at(run_id) is not None:
            raise ConflictError(
                f"run {run_id} is undone already", hint="memfun undo --list shows what is left"
            )
        base = root.resolve()
        targets = [(change, _confined(base, change.path)) for change in checkpoint.files]
        for change, _ in targets:
            current = read_state(base, change.path)
            after = change.after
            if (current.content, current.mode) != (after.content, after.mode):
                raise ConflictError(
                    f"{change.path} changed since run {run_id}; nothing was undone",
                    hint=f"put {change.path} back as the run left it, or undo by hand "
                    f"(git diff / git checkout -- {change.path})",
                )
        restored: list[str] = []
        removed: list[str] = []
        for change, target in targets:
            before = change.before
            if before.content is None:
                target.unlink(missing_ok=True)
                for folder in before.missing_dirs:
                    _rmdir_if_empty(_confined(base, folder))
                removed.append(change.path)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                _write_replace(target, before.content, mode=before.mode)
                restored.append(change.path)
        _write_replace(self.folder / f"{run_id}.undone", str(time.time()).encode())
        return UndoResult(run_id=run_id, restored=tuple(restored), removed=tuple(removed))

    # --- helpers ------------------------------------------------------------------------

    def _sign(self, body: Mapping[str, Any]) -> str:
        unsigned = {k: v for k, v in body.items() if k != "signature"}
        canonical = json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode()
        return sign(user_key("checkpoint", self._environ), canonical)

    def _verified(self, run_id: str) -> dict[str, Any]:
        _check_run_id(run_id)
        path = self.folder / f"{run_id}.json"
        try:
            loaded: object = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise NotFoundError(
                "checkpoint", run_id, hint="memfun undo --list shows the runs"
            ) from None
        except (OSError, ValueError):
            loaded = None
        body = cast("dict[str, Any]", loaded) if isinstance(loaded, dict) else None
        if (
            body is None
            or not hmac.compare_digest(str(body.get("signature", "")), self._sign(body))
            or body.get("run_id") != run_id
        ):
            raise PermissionDeniedError(
                f"undo of {run_id}",
                f"{path} was not written by Memfun for this user",
                hint="a checkpoint that came with the repository is never applied",
            )
        return body

    def _state(self, run_id: str, entry: Mapping[str, Any]) -> FileState:
        if not entry.get("exists"):
            return FileState(None, None, tuple(str(d) for d in entry.get("missing_dirs", ())))
        digest = str(entry["sha256"])
        try:
            content = (self.folder / "blobs" / digest).read_bytes()
        except (OSError, ValueError):
            content = None
        if content is None or hashlib.sha256(content).hexdigest() != digest:
            raise PermissionDeniedError(
                f"undo of {run_id}", f"the saved content {digest[:12]} is missing or altered"
            )
        return FileState(content, int(entry["mode"]))

    def _undone_at(self, run_id: str) -> float | None:
        try:
            return float((self.folder / f"{run_id}.undone").read_text(encoding="ascii"))
        except (OSError, ValueError):
            return None


def _check_run_id(run_id: str) -> None:
    if not _RUN_ID.match(run_id) or run_id in (".", ".."):
        raise NotFoundError("checkpoint", run_id, hint="run ids are letters, digits, - and _")


def _confined(root: Path, relative: str) -> Path:
    """``root / relative`` when it stays inside ``root`` (no ``..``, absolute path or link)."""
    pure = PurePosixPath(relative)
    target = root / pure
    if pure.is_absolute() or ".." in pure.parts or not target.resolve().is_relative_to(root):
        raise PermissionDeniedError(
            f"undo of {relative!r}", "the path leaves the workspace", hint="nothing was undone"
        )
    return target


def _rmdir_if_empty(folder: Path) -> None:
    # Not empty (the user added something) or already gone: keep it.
    with contextlib.suppress(OSError):
        folder.rmdir()


def _write_new(path: Path, content: bytes) -> None:
    if not path.exists():
        _write_replace(path, content)


def _write_replace(path: Path, content: bytes, *, mode: int | None = None) -> None:
    """Write ``content`` to a temporary file beside ``path`` and rename it over ``path``."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        temporary.chmod(0o644 if mode is None else mode)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
