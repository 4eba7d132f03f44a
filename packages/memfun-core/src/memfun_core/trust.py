"""Workspace trust: what a cloned repository may make Memfun do before the user says so.

A repository's own skills, agents, ``AGENTS.md``, MCP server entries and ``memfun.toml``
steer the agent. Until the user trusts the folder (``memfun trust``), the parts that can run
something or pre-approve actions stay inactive: project skills with scripts or write/shell
grants, project agents, project MCP servers. Trust is stored outside the repository, in the
user's config folder (``$XDG_CONFIG_HOME/memfun/trust.json``, mode 0600), per folder and per
content hash of the steering files; when they change, trust lapses until given again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import time
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from memfun_core.config import PROJECT_FILE, user_config_path
from memfun_core.errors import ConfigError, CorruptDataError

__all__ = [
    "STEERING_DIRS",
    "STEERING_FILES",
    "TrustState",
    "TrustedFolder",
    "inactive_reason",
    "project_mcp_servers",
    "revoke_trust",
    "steering_digest",
    "trust_folder",
    "trust_store_path",
    "trusted_folders",
    "workspace_trust",
]

STEERING_FILES = (
    PROJECT_FILE,
    "AGENTS.md",
    "CLAUDE.md",
    ".mcp.json",
    ".claude/settings.json",
    ".claude/settings.local.json",
)
"""Files of a project root that steer the agent (part of the trust hash)."""

STEERING_DIRS = (
    ".memfun/skills",
    ".memfun/agents",
    ".agents/skills",
    ".agents/agents",
    ".claude/skills",
    ".claude/agents",
    ".claude/commands",
)
"""Folders of a project root whose whole content is part of the trust hash."""

_STORE_VERSION = 1
TrustStatus = Literal["trusted", "home", "untrusted", "changed"]


@dataclass(frozen=True, slots=True)
class TrustState:
    """Whether a folder is trusted with its current steering files.

    Attributes:
        root: The folder (resolved).
        status: ``trusted`` (trusted with this content), ``home`` (the user's home
            folder, whose ``.memfun`` is the user's own), ``untrusted`` (never trusted or
            revoked) or ``changed`` (trusted, but the steering files changed since).
        digest: The current content hash of the steering files.
        trusted_digest: The hash it was trusted with, if it ever was.
    """

    root: Path
    status: TrustStatus
    digest: str
    trusted_digest: str | None = None

    @property
    def trusted(self) -> bool:
        """Whether project-provided skills, agents and MCP servers may be active."""
        return self.status in ("trusted", "home")

    @property
    def reason(self) -> str | None:
        """Why project-provided items are inactive (``None`` when trusted)."""
        if self.status == "untrusted":
            return f"the folder {self.root} is not trusted"
        if self.status == "changed":
            return (
                f"the steering files of {self.root} (memfun.toml, skills, agents, AGENTS.md) "
                "changed since you trusted it"
            )
        return None

    @property
    def hint(self) -> str:
        """What the user can do about it."""
        return (
            f"review the folder's memfun.toml, skills and agents, then run "
            f"`memfun trust {self.root}`"
        )


@dataclass(frozen=True, slots=True)
class TrustedFolder:
    """One entry of the trust store."""

    root: Path
    digest: str
    trusted_at: float


def trust_store_path(environ: Mapping[str, str] | None = None) -> Path:
    """The trust store: ``trust.json`` beside the user's config file."""
    return user_config_path(os.environ if environ is None else environ).parent / "trust.json"


def _files_under(folder: Path) -> Iterator[Path]:
    """Every file and symbolic link below ``folder`` (links to folders are not entered)."""
    for current, dirs, files in os.walk(folder, followlinks=False):
        base = Path(current)
        yield from (base / name for name in files)
        yield from (base / name for name in dirs if (base / name).is_symlink())


def _feed(digest: Any, root: Path, path: Path) -> None:
    rel = path.relative_to(root).as_posix()
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        digest.update(f"L\0{rel}\0{path.readlink()}\0".encode())
    elif stat.S_ISREG(info.st_mode):
        digest.update(f"F\0{rel}\0{info.st_size}\0".encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 16), b""):
                digest.update(block)
    else:
        digest.update(f"O\0{rel}\0{stat.S_IFMT(info.st_mode)}\0".encode())


def _table(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The TOML table ``name`` of ``data`` (empty when absent or not a table)."""
    value = data.get(name)
    return cast("dict[str, Any]", value) if isinstance(value, dict) else {}


def _extra_skill_dirs(root: Path) -> list[Path]:
    """``[skills] paths`` of the project file that lie inside the project."""
    try:
        data = tomllib.loads((root / PROJECT_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []  # the file itself is hashed; load_config reports what is wrong with it
    paths: object = _table(data, "skills").get("paths")
    found: list[Path] = []
    for item in cast("list[object]", paths) if isinstance(paths, list) else []:
        if isinstance(item, str):
            candidate = Path(os.path.normpath(root / item))
            if candidate.is_relative_to(root):
                found.append(candidate)
    return found


def steering_digest(root: str | os.PathLike[str]) -> str:
    """The SHA-256 of a folder's steering files (names, link targets and contents)."""
    base = Path(root).resolve()
    digest = hashlib.sha256(b"memfun-trust-1\0")
    paths = [base / name for name in STEERING_FILES]
    for folder in [*(base / name for name in STEERING_DIRS), *_extra_skill_dirs(base)]:
        if folder.is_symlink() or folder.is_file():
            paths.append(folder)
        elif folder.is_dir():
            paths.extend(_files_under(folder))
    for path in sorted(set(paths)):
        _feed(digest, base, path)
    return digest.hexdigest()


def _check_store(path: Path) -> None:
    info = path.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise ConfigError(
            "the trust store is writable by another user or not yours",
            source=str(path),
            hint=f"chmod 600 {path} (and check who wrote it), or delete it to trust again",
        )


def _read_store(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    _check_store(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        folders = data["folders"]
        if data.get("version") != _STORE_VERSION or not isinstance(folders, dict):
            raise TypeError("unexpected layout")
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptDataError(
            f"the trust store cannot be read: {exc}",
            backend="trust",
            location=str(path),
            hint=f"delete {path} and trust your folders again",
        ) from None
    return folders  # pyright: ignore[reportUnknownVariableType]


def _write_store(path: Path, folders: Mapping[str, Mapping[str, Any]]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"version": _STORE_VERSION, "folders": folders}, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def workspace_trust(
    root: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> TrustState:
    """Whether ``root`` is trusted with its current steering files."""
    env = os.environ if environ is None else environ
    base = Path(root).resolve()
    digest = steering_digest(base)
    home = env.get("HOME")
    if home and base == Path(home).resolve():
        return TrustState(base, "home", digest)
    entry = _read_store(trust_store_path(env)).get(str(base))
    if entry is None:
        return TrustState(base, "untrusted", digest)
    trusted_digest = str(entry.get("digest"))
    status: TrustStatus = "trusted" if trusted_digest == digest else "changed"
    return TrustState(base, status, digest, trusted_digest)


def inactive_reason(
    root: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> str | None:
    """Why project-provided items of ``root`` must stay inactive (``None``: trusted).

    For every gate (skills, agents, MCP servers): call it once and leave the project's
    items inactive with this reason when it is not ``None``.
    """
    return workspace_trust(root, environ).reason


def trust_folder(
    root: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> TrustState:
    """Trust ``root`` with its current steering files (replaces an earlier entry)."""
    env = os.environ if environ is None else environ
    base = Path(root).resolve()
    if not base.is_dir():
        raise ConfigError("not a folder", source=str(base), hint="give the project's folder")
    path = trust_store_path(env)
    folders = _read_store(path)
    digest = steering_digest(base)
    folders[str(base)] = {"digest": digest, "trusted_at": time.time()}
    _write_store(path, folders)
    return TrustState(base, "trusted", digest, digest)


def revoke_trust(root: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> bool:
    """Forget the trust of ``root``; return whether it was trusted."""
    env = os.environ if environ is None else environ
    path = trust_store_path(env)
    folders = _read_store(path)
    key = str(Path(root).resolve())
    if key not in folders:
        return False
    del folders[key]
    _write_store(path, folders)
    return True


def trusted_folders(environ: Mapping[str, str] | None = None) -> list[TrustedFolder]:
    """Every folder in the trust store, sorted by path."""
    folders = _read_store(trust_store_path(os.environ if environ is None else environ))
    return [
        TrustedFolder(Path(key), str(entry.get("digest")), float(entry.get("trusted_at", 0.0)))
        for key, entry in sorted(folders.items())
    ]


def project_mcp_servers(root: str | os.PathLike[str]) -> tuple[str, ...]:
    """Names of the MCP servers the project's own ``memfun.toml`` defines or changes."""
    try:
        data = tomllib.loads((Path(root) / PROJECT_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"cannot read the project's MCP servers: {exc}",
            source=str(Path(root) / PROJECT_FILE),
            hint="fix the file (memfun config show names the problem)",
        ) from None
    return tuple(sorted(_table(_table(data, "mcp"), "servers")))
