"""The host side of mount synchronisation between host folders and Pyodide's memory FS.

The sandbox never opens a host file: the host copies mounted folders in (regular files
only; symbolic links and special files are not followed and not copied) and writes the
changes of writable mounts back out, refusing any path that would leave the mount.
"""

from __future__ import annotations

import base64
import contextlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from memfun_core.errors import ValidationError
from memfun_runtime.protocols import FileSystemView

__all__ = ["SYNC_TOOL", "WORKSPACE", "MountSync", "SyncedMount"]

SYNC_TOOL = "__memfun_sync__"
"""The reserved tool name the in-sandbox REPL calls to synchronise mounts."""

WORKSPACE = "/workspace"
"""Where the workspace appears inside the sandbox (and the working directory)."""

_MB = 1024 * 1024


@dataclass(slots=True)
class SyncedMount:
    """One host folder mirrored at ``sandbox_path``.

    ``writable``: the code may change the copy; ``sync_back``: its changes are written back
    to the host (false for a scratch copy).
    """

    host_path: Path
    sandbox_path: str
    writable: bool
    sync_back: bool
    known: dict[str, tuple[int, int]] = field(default_factory=dict[str, tuple[int, int]])


def _sandbox_path(path: str) -> str:
    pure = PurePosixPath(path)
    if not pure.is_absolute() or ".." in pure.parts or str(pure) == "/":
        raise ValidationError(
            f"invalid sandbox path {path!r}",
            field="sandbox_path",
            rule="an absolute path other than '/' without '..'",
        )
    return str(pure)


def _relative(rel: str) -> PurePosixPath:
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise ValidationError(
            f"the sandbox sent an unsafe path {rel!r}", field="path", rule="relative, no '..'"
        )
    return pure


class MountSync:
    """Keeps mounted host folders and their copies inside the sandbox in step.

    Args:
        files: The caller's file-system view (workspace and mounts).
        max_total_mb: Refuse to copy in more than this many MB in total.
        max_file_mb: Refuse to write back a file larger than this.
    """

    def __init__(
        self, files: FileSystemView, *, max_total_mb: int, max_file_mb: int | None
    ) -> None:
        self.mounts: list[SyncedMount] = []
        self._max_total = max_total_mb * _MB
        self._max_file = None if max_file_mb is None else max_file_mb * _MB
        if files.workspace is not None:
            writable = files.workspace_writable or files.scratch_copy
            self._add(files.workspace, WORKSPACE, writable, sync_back=not files.scratch_copy)
        for mount in files.mounts:
            self._add(mount.host_path, mount.sandbox_path, mount.writable, sync_back=True)

    def _add(self, host: str, sandbox: str, writable: bool, *, sync_back: bool) -> None:
        path = Path(host).resolve()
        if not path.is_dir():
            raise ValidationError(
                f"mounted folder {host!r} does not exist or is not a folder",
                field="files",
                rule="the wasm sandbox mounts existing folders only",
            )
        target = _sandbox_path(sandbox)
        if any(m.sandbox_path == target for m in self.mounts):
            raise ValidationError(f"two mounts at {target!r}", field="files", rule="unique paths")
        self.mounts.append(SyncedMount(path, target, writable, writable and sync_back))

    def describe(self) -> list[dict[str, Any]]:
        """The mounts as the in-sandbox REPL's config lists them."""
        return [
            {"path": m.sandbox_path, "writable": m.writable, "sync_back": m.sync_back}
            for m in self.mounts
        ]

    def __call__(self, outgoing: dict[str, Any]) -> dict[str, Any]:
        """The reserved tool: apply the sandbox's changes, return the host's."""
        self.write_back(outgoing)
        return self.changes_in()

    # --- host -> sandbox --------------------------------------------------------------------

    def changes_in(self) -> dict[str, Any]:
        """Files added, changed or deleted on the host since the last sync, per mount."""
        changed: dict[str, dict[str, str]] = {}
        deleted: dict[str, list[str]] = {}
        total = 0
        for mount in self.mounts:
            seen = _scan(mount.host_path)
            files: dict[str, str] = {}
            for rel, meta in seen.items():
                if mount.known.get(rel) == meta:
                    continue
                data = _read_inside(mount.host_path, rel)
                if data is None:
                    continue
                total += len(data)
                if total > self._max_total:
                    raise ValidationError(
                        f"the mounted folders hold more than {self._max_total // _MB} MB",
                        field="files",
                        rule="mount smaller folders, or raise memory_mb (the copy lives in "
                        "the sandbox's memory)",
                    )
                files[rel] = base64.b64encode(data).decode()
            changed[mount.sandbox_path] = files
            deleted[mount.sandbox_path] = sorted(set(mount.known) - set(seen))
            mount.known = seen
        return {"changed": changed, "deleted": deleted}

    # --- sandbox -> host --------------------------------------------------------------------

    def write_back(self, outgoing: dict[str, Any]) -> None:
        """Write the changes of writable mounts to the host, confined to each mount."""
        changed: dict[str, dict[str, str]] = outgoing.get("changed") or {}
        deleted: dict[str, list[str]] = outgoing.get("deleted") or {}
        for mount in self.mounts:
            if not mount.sync_back:
                continue
            for rel, data in (changed.get(mount.sandbox_path) or {}).items():
                content = base64.b64decode(data)
                if self._max_file is not None and len(content) > self._max_file:
                    raise ValidationError(
                        f"{rel!r} is larger than max_file_mb ({self._max_file // _MB} MB)",
                        field="max_file_mb",
                        rule="files written back to a mount are capped",
                    )
                meta = _write_inside(mount.host_path, _relative(rel), content)
                mount.known[rel] = meta
            for rel in deleted.get(mount.sandbox_path) or []:
                _remove_inside(mount.host_path, _relative(rel))
                mount.known.pop(rel, None)


def _scan(root: Path) -> dict[str, tuple[int, int]]:
    """Regular files under ``root`` (no symlinks followed): relative path -> (mtime, size)."""
    found: dict[str, tuple[int, int]] = {}
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if not Path(folder, d).is_symlink()]
        for name in names:
            path = Path(folder, name)
            try:
                info = path.lstat()
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                found[path.relative_to(root).as_posix()] = (info.st_mtime_ns, info.st_size)
    return found


def _open_parent(root: Path, rel: PurePosixPath, *, create: bool) -> int:
    """Open the folder holding ``rel`` under ``root`` without following any symlink."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for part in rel.parts[:-1]:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, dir_fd=fd)
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_inside(root: Path, rel: str) -> bytes | None:
    try:
        parent = _open_parent(root, PurePosixPath(rel), create=False)
    except OSError:
        return None
    try:
        fd = os.open(PurePosixPath(rel).name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=parent)
    except OSError:
        return None
    finally:
        os.close(parent)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def _write_inside(root: Path, rel: PurePosixPath, content: bytes) -> tuple[int, int]:
    parent = _open_parent(root, rel, create=True)
    try:
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISLNK(os.lstat(rel.name, dir_fd=parent).st_mode):
                os.unlink(rel.name, dir_fd=parent)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        fd = os.open(rel.name, flags, 0o644, dir_fd=parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        info = os.lstat(rel.name, dir_fd=parent)
    finally:
        os.close(parent)
    return info.st_mtime_ns, info.st_size


def _remove_inside(root: Path, rel: PurePosixPath) -> None:
    try:
        parent = _open_parent(root, rel, create=False)
    except OSError:
        return
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(rel.name, dir_fd=parent)
    finally:
        os.close(parent)
