"""Unpacking a skill from an archive or a folder into a fresh folder, refusing hostile input.

Every entry is checked before a byte of it is written: no absolute path, no ``..``, no link
(symbolic or hard) and no special file, at most ``max_files`` entries, each file at most
``max_file_bytes`` as declared *and* as actually read, all of them at most ``max_total_bytes``.
Reading stops at the limit, so a decompression bomb never writes more than the limit. The
destination must be a new or empty folder that the caller deletes when an error is raised.
"""

from __future__ import annotations

import os
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from memfun_core.errors import ValidationError

__all__ = ["UnpackLimits", "copy_folder", "unpack_archive"]

_CHUNK = 64 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")
_SKIPPED_DIRS = frozenset({".git"})
_HINT = "the archive is not a plain skill folder; do not install it"


@dataclass(frozen=True, slots=True)
class UnpackLimits:
    """Bounds on what one skill may unpack to.

    Attributes:
        max_files: Entries (files and folders) at most.
        max_file_bytes: Bytes of one file at most (declared and actual).
        max_total_bytes: Bytes of all files together at most.
        max_path_chars: Characters of one relative path at most.
    """

    max_files: int = 2_000
    max_file_bytes: int = 16 * 1024 * 1024
    max_total_bytes: int = 64 * 1024 * 1024
    max_path_chars: int = 400


def _refuse(message: str, rule: str, where: str) -> ValidationError:
    return ValidationError(message, field="archive", rule=rule, location=where, hint=_HINT)


def member_parts(name: str, where: str, limits: UnpackLimits) -> tuple[str, ...]:
    """The checked relative path of an archive entry, as its parts (empty for the root).

    Raises:
        ValidationError: ``archive-absolute-path``, ``archive-path-traversal`` or
            ``archive-bad-name``.
    """
    shown = repr(name[:200])
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise _refuse(f"entry {shown} has an absolute path", "archive-absolute-path", where)
    if "\\" in name or any(ord(ch) < 0x20 or ch == "\x7f" for ch in name):  # noqa: PLR2004
        raise _refuse(
            f"entry {shown} has a backslash or a control character", "archive-bad-name", where
        )
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    if ".." in parts:
        raise _refuse(
            f"entry {shown} leads out of the folder (..)", "archive-path-traversal", where
        )
    if len(name) > limits.max_path_chars:
        raise _refuse(
            f"entry {shown} has a path over {limits.max_path_chars} characters",
            "archive-bad-name",
            where,
        )
    return parts


class _Writer:
    """Writes checked entries under ``dest``, counting entries and bytes against the limits."""

    def __init__(self, dest: Path, limits: UnpackLimits, where: str) -> None:
        dest.mkdir(exist_ok=True)
        if any(dest.iterdir()):
            raise ValidationError(
                "the folder to unpack into is not empty", field="dest", rule="not-empty"
            )
        self.dest = dest
        self.limits = limits
        self.where = where
        self.entries = 0
        self.total = 0

    def count(self) -> None:
        self.entries += 1
        if self.entries > self.limits.max_files:
            raise _refuse(
                f"more than {self.limits.max_files} entries", "archive-too-many-files", self.where
            )

    def folder(self, parts: tuple[str, ...]) -> None:
        if any(part in _SKIPPED_DIRS for part in parts):
            return
        self.count()
        if parts:
            self.dest.joinpath(*parts).mkdir(parents=True, exist_ok=True)

    def declared(self, name: str, size: int) -> None:
        if size > self.limits.max_file_bytes:
            raise _refuse(
                f"entry {name!r} declares {size} bytes; the limit is {self.limits.max_file_bytes}",
                "archive-too-large",
                self.where,
            )
        if self.total + size > self.limits.max_total_bytes:
            raise _refuse(
                f"the entries declare more than {self.limits.max_total_bytes} bytes",
                "archive-too-large",
                self.where,
            )

    def file(
        self, parts: tuple[str, ...], source: IO[bytes], declared: int, *, executable: bool
    ) -> None:
        if any(part in _SKIPPED_DIRS for part in parts):
            return
        name = "/".join(parts)
        self.count()
        self.declared(name, declared)
        path = self.dest.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        try:
            handle = os.open(path, flags, 0o755 if executable else 0o644)
        except FileExistsError:
            raise _refuse(
                f"entry {name!r} appears twice", "archive-duplicate", self.where
            ) from None
        except (NotADirectoryError, IsADirectoryError):
            raise _refuse(
                f"entry {name!r} is both a file and a folder", "archive-duplicate", self.where
            ) from None
        size = 0
        with os.fdopen(handle, "wb") as out:
            while chunk := source.read(_CHUNK):
                size += len(chunk)
                if size > self.limits.max_file_bytes or self.total + size > (
                    self.limits.max_total_bytes
                ):
                    raise _refuse(
                        f"entry {name!r} expands past the size limit "
                        f"({self.limits.max_file_bytes} bytes a file, "
                        f"{self.limits.max_total_bytes} in all): a decompression bomb",
                        "archive-too-large",
                        self.where,
                    )
                out.write(chunk)
        if size != declared:
            raise _refuse(
                f"entry {name!r} declares {declared} bytes but holds {size}",
                "archive-size-mismatch",
                self.where,
            )
        self.total += size


def _zip_entries(archive: zipfile.ZipFile, writer: _Writer) -> None:
    infos = archive.infolist()
    if len(infos) > writer.limits.max_files:
        raise _refuse(
            f"{len(infos)} entries; the limit is {writer.limits.max_files}",
            "archive-too-many-files",
            writer.where,
        )
    for info in infos:
        parts = member_parts(info.filename, writer.where, writer.limits)
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if kind == stat.S_IFLNK:
            raise _refuse(
                f"entry {info.filename!r} is a symbolic link; links are refused",
                "archive-link",
                writer.where,
            )
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise _refuse(
                f"entry {info.filename!r} is a special file", "archive-special-file", writer.where
            )
        if info.is_dir() or kind == stat.S_IFDIR:
            writer.folder(parts)
            continue
        writer.declared(info.filename, info.file_size)
        with archive.open(info) as source:
            writer.file(parts, source, info.file_size, executable=bool(mode & 0o111))


def _tar_members(archive: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    while (member := archive.next()) is not None:
        yield member


def _tar_entries(archive: tarfile.TarFile, writer: _Writer) -> None:
    for member in _tar_members(archive):
        parts = member_parts(member.name, writer.where, writer.limits)
        if member.issym() or member.islnk():
            raise _refuse(
                f"entry {member.name!r} is a link (to {member.linkname!r}); links are refused",
                "archive-link",
                writer.where,
            )
        if member.isdir():
            writer.folder(parts)
            continue
        if not member.isreg() or member.issparse():
            raise _refuse(
                f"entry {member.name!r} is a special file", "archive-special-file", writer.where
            )
        writer.declared(member.name, member.size)
        source = archive.extractfile(member)
        if source is None:  # pragma: no cover - isreg() members always have data
            raise _refuse(f"entry {member.name!r} has no data", "archive-corrupt", writer.where)
        with source:
            writer.file(parts, source, member.size, executable=bool(member.mode & 0o111))


def unpack_archive(archive: Path, dest: Path, *, limits: UnpackLimits | None = None) -> None:
    """Unpack a ``.zip``, ``.tar.gz`` or ``.tar`` file (told apart by content) into ``dest``.

    Args:
        archive: The archive file.
        dest: An empty or new folder; on an error it holds a partial result the caller deletes.
        limits: The bounds (the defaults of :class:`UnpackLimits` when ``None``).

    Raises:
        ValidationError: A refused entry (the rule names why: ``archive-absolute-path``,
            ``archive-path-traversal``, ``archive-link``, ``archive-special-file``,
            ``archive-too-many-files``, ``archive-too-large``, ``archive-size-mismatch``,
            ``archive-duplicate``, ``archive-bad-name``), a corrupt archive
            (``archive-corrupt``) or an unknown format (``archive-format``).
    """
    bounds = limits or UnpackLimits()
    where = str(archive)
    writer = _Writer(dest, bounds, where)
    with archive.open("rb") as handle:
        head = handle.read(512 + 8)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as opened:
                _zip_entries(opened, writer)
        elif head.startswith(b"\x1f\x8b"):
            with tarfile.open(archive, mode="r:gz") as opened:
                _tar_entries(opened, writer)
        elif head[257:262] == b"ustar":
            with tarfile.open(archive, mode="r:") as opened:
                _tar_entries(opened, writer)
        else:
            raise _refuse("not a .zip, .tar.gz or .tar archive", "archive-format", where)
    except NotImplementedError as exc:  # a zip compression method Python does not read
        raise _refuse(f"unsupported archive: {exc}", "archive-format", where) from exc
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as exc:
        raise _refuse(f"the archive is corrupt: {exc}", "archive-corrupt", where) from exc


def copy_folder(source: Path, dest: Path, *, limits: UnpackLimits | None = None) -> None:
    """Copy a skill folder into ``dest`` under the same rules as an archive (no links at all).

    ``.git`` folders are left out (version-control data is not part of a skill).

    Raises:
        ValidationError: A link, a special file, or a folder over the limits.
    """
    bounds = limits or UnpackLimits()
    writer = _Writer(dest, bounds, str(source))
    for current, dirs, files in os.walk(source, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
        base = Path(current)
        for name in [*dirs, *sorted(files)]:
            path = base / name
            relative = path.relative_to(source).as_posix()
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                raise _refuse(
                    f"{relative} is a symbolic link; links are refused", "archive-link", str(source)
                )
            parts = member_parts(relative, str(source), bounds)
            if stat.S_ISDIR(info.st_mode):
                writer.folder(parts)
            elif stat.S_ISREG(info.st_mode):
                with path.open("rb") as handle:
                    writer.file(parts, handle, info.st_size, executable=bool(info.st_mode & 0o111))
            else:
                raise _refuse(f"{relative} is a special file", "archive-special-file", str(source))
