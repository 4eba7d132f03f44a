"""Workspace confinement: the one place that turns a caller's path into a safe real path.

Every tool (filesystem, search, git, repo map) resolves paths through :class:`Workspace`.
A path is refused when it is malformed (NUL bytes, backslashes, percent-encoded separators,
over-long names), when it leaves the root lexically (``..``, an absolute path elsewhere) or
through a symlink, when it names a device, FIFO or socket, or when it names a hard-linked file.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from memfun_core.errors import NotFoundError, PermissionDeniedError, ValidationError
from memfun_tools._ignore import IgnoreRules

__all__ = ["Limits", "PathKind", "Workspace", "is_git_path"]

PathKind = Literal["file", "dir", "any"]

_ENCODED = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)
_MAX_NAME_BYTES = 255
_FIRST_PRINTABLE = 0x20
_MAX_PATH_BYTES = 4096
# Code points HFS+ ignores in names (as git's ``is_hfs_dotgit`` lists them).
_IGNORABLE = frozenset(
    "\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u206a\u206b\u206c\u206d\u206e\u206f\ufeff"
)


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits of the filesystem tools.

    Attributes:
        max_file_bytes: Files larger than this are refused outright (read and edit).
        max_read_chars: A read returns at most this many characters, then a truncation notice.
        max_write_bytes: Content larger than this is refused by write and edit.
        max_entries: Listing, glob and tree stop after this many entries.
    """

    max_file_bytes: int = 10 * 1024 * 1024
    max_read_chars: int = 100_000
    max_write_bytes: int = 10 * 1024 * 1024
    max_entries: int = 2_000


class Workspace:
    """A folder that tools may read and (when allowed) write, and nothing outside it.

    Args:
        root: The workspace folder; it must exist.
        limits: Size limits; the defaults suit an agent's context.
        respect_gitignore: Whether listings hide what ``.gitignore`` files ignore.

    Raises:
        NotFoundError: When ``root`` is not an existing folder.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        limits: Limits | None = None,
        respect_gitignore: bool = True,
    ) -> None:
        real = Path(os.path.realpath(os.fspath(root)))
        if not real.is_dir():
            raise NotFoundError(
                "workspace folder", os.fspath(root), hint="pass an existing folder as the root"
            )
        self.root = real
        self.limits = limits or Limits()
        self.respect_gitignore = respect_gitignore
        self.ignore = IgnoreRules(real)

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    # --- path resolution -------------------------------------------------------------

    def resolve(
        self,
        path: str,
        *,
        kind: PathKind = "any",
        must_exist: bool = True,
        for_write: bool = False,
    ) -> Path:
        """Return the real absolute path of ``path`` after every confinement check.

        Args:
            path: A path relative to the root (or absolute, inside the root).
            kind: What the path must name when it exists.
            must_exist: Whether a missing path is an error.
            for_write: Whether the caller will write there (refuses any ``.git``
                component, see :func:`is_git_path`, and hard-linked files).

        Returns:
            The resolved path, inside the root.

        Raises:
            ValidationError: When the path is malformed.
            PermissionDeniedError: When it leaves the root or names a special file.
            NotFoundError: When ``must_exist`` and nothing is there.
        """
        action = f"{'write' if for_write else 'access'} {path!r}"
        self._check_syntax(path)
        candidate = self.root / path  # an absolute path replaces the root
        lexical = Path(os.path.normpath(candidate))
        if not _inside(lexical, self.root):
            raise PermissionDeniedError(
                action,
                "the path leaves the workspace root",
                hint=f"use a path inside {self.root}",
            )
        real = Path(os.path.realpath(lexical))
        if not _inside(real, self.root):
            raise PermissionDeniedError(
                action,
                "a symlink on the path points outside the workspace root",
                hint="symlinks may only point inside the workspace",
            )
        if for_write and (is_git_path(self.relative(real)) or is_git_path(self.relative(lexical))):
            raise PermissionDeniedError(
                action,
                "the path names a .git folder or file (at any depth, in any letter case), "
                "which git reads as configuration, hooks and repository links",
                hint="use the git tools instead",
            )
        try:
            info = real.stat()
        except FileNotFoundError:
            if must_exist:
                raise NotFoundError("file or folder", path) from None
            return real
        self._check_kind(action, path, info, kind, for_write=for_write)
        return real

    def relative(self, real: Path) -> str:
        """Return ``real`` relative to the root, with ``/`` separators (``.`` for the root)."""
        rel = os.path.relpath(real, self.root)
        return rel.replace(os.sep, "/")

    def check_open_fd(self, fd: int, path: str) -> os.stat_result:
        """Verify that an opened descriptor is a regular file inside the root.

        This closes the window between resolving a path and opening it: whatever the
        descriptor really points at is checked, through ``/proc/self/fd`` when available.

        Args:
            fd: An open file descriptor.
            path: The caller's path, for messages.

        Returns:
            The descriptor's ``fstat`` result.

        Raises:
            PermissionDeniedError: When the descriptor is not a regular file in the root.
        """
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PermissionDeniedError(f"open {path!r}", "not a regular file")
        proc = Path(f"/proc/self/fd/{fd}")
        if proc.exists():
            real = proc.readlink()
            if not _inside(real, self.root):
                raise PermissionDeniedError(
                    f"open {path!r}", "the opened file lies outside the workspace root"
                )
        return info

    def is_ignored(self, real: Path, *, is_dir: bool) -> bool:
        """Whether ``.gitignore`` rules (or the ``.git`` folder itself) hide ``real``."""
        return self.is_ignored_rel(self.relative(real), is_dir=is_dir)

    def is_ignored_rel(self, rel: str, *, is_dir: bool, parents_checked: bool = False) -> bool:
        """Like :meth:`is_ignored`, for a ``/``-separated path relative to the root.

        ``parents_checked`` says the caller (a walker) already knows no parent is ignored.
        """
        if rel == ".":
            return False
        if rel == ".git" or rel.startswith(".git/"):
            return True
        return self.respect_gitignore and self.ignore.is_ignored(
            rel, is_dir=is_dir, parents_checked=parents_checked
        )

    # --- checks ------------------------------------------------------------------------

    @staticmethod
    def _check_syntax(path: str) -> None:
        if "\x00" in path:
            raise ValidationError("contains a NUL byte", field="path", rule="no NUL bytes")
        if "\\" in path:
            raise ValidationError(
                "contains a backslash",
                field="path",
                rule="'/' is the only separator",
                hint="write paths with forward slashes",
            )
        if _ENCODED.search(path):
            raise ValidationError(
                "contains a percent-encoded dot, slash, backslash or NUL",
                field="path",
                rule="paths are taken literally, never URL-decoded",
                hint="pass the decoded path",
            )
        folded = unicodedata.normalize("NFKC", path)
        if folded != path and (".." in folded.split("/") or folded.count("/") != path.count("/")):
            raise ValidationError(
                "contains characters that normalize to '..' or '/'",
                field="path",
                rule="no look-alike separators",
            )
        if any(ord(ch) < _FIRST_PRINTABLE for ch in path):
            raise ValidationError("contains control characters", field="path", rule="printable")
        encoded = os.fsencode(path)
        if len(encoded) > _MAX_PATH_BYTES:
            raise ValidationError(
                f"is {len(encoded)} bytes long", field="path", rule=f"<= {_MAX_PATH_BYTES} bytes"
            )
        if any(len(os.fsencode(part)) > _MAX_NAME_BYTES for part in path.split("/")):
            raise ValidationError(
                "has a name longer than 255 bytes", field="path", rule="names <= 255 bytes"
            )

    def _check_kind(
        self, action: str, path: str, info: os.stat_result, kind: PathKind, *, for_write: bool
    ) -> None:
        mode = info.st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise PermissionDeniedError(
                action, "it is a device, FIFO or socket, not a regular file or folder"
            )
        if kind == "file" and not stat.S_ISREG(mode):
            raise ValidationError("is a folder, not a file", field="path", rule="a file")
        if kind == "dir" and not stat.S_ISDIR(mode):
            raise ValidationError("is a file, not a folder", field="path", rule="a folder")
        if stat.S_ISREG(mode) and info.st_nlink > 1:
            raise PermissionDeniedError(
                action,
                f"the file has {info.st_nlink} hard links; one may lie outside the workspace",
                hint="copy the file instead of hard-linking it",
            )
        if stat.S_ISREG(mode) and not for_write and info.st_size > self.limits.max_file_bytes:
            raise ValidationError(
                f"is {info.st_size} bytes",
                field="path",
                rule=f"files over {self.limits.max_file_bytes} bytes are refused",
                location=path,
                hint="search it with the search tools instead",
            )


def is_git_path(path: str) -> bool:
    """Whether any component of the ``/``-separated ``path`` is, to some file system, ``.git``.

    Case-insensitive file systems (macOS, Windows) take ``.GIT`` for ``.git``; HFS+ ignores
    some invisible code points (``.g`` U+200C ``it``); Windows drops trailing dots and spaces
    (``.git.``), reads ``.git::$INDEX_ALLOCATION`` as the folder and has the 8.3 short name
    ``GIT~1``. git itself refuses all of these names in trees for the same reason.
    """
    return any(_is_git_name(part) for part in path.split("/"))


def _is_git_name(name: str) -> bool:
    visible = "".join(ch for ch in name if ch not in _IGNORABLE)
    folded = unicodedata.normalize("NFKC", visible).casefold().split(":", 1)[0].rstrip(". ")
    return folded in (".git", "git~1")


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
