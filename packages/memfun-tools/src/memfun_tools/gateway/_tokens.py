"""Bearer tokens of the HTTP gateway: a JSON file of token hashes and the scopes each grants.

The file (``$XDG_CONFIG_HOME/memfun/mcp-tokens.json`` by default, outside any repository) holds
only SHA-256 hashes, so reading it does not reveal a token; a token is shown once, when it is
created. The file must be private to its owner (mode 0600): a looser one is refused.

Format::

    {"version": 1,
     "tokens": [{"name": "default", "sha256": "<64 hex>", "scopes": ["read", "write", "agents"],
                 "created_at": "2026-11-24T10:00:00+00:00"}]}
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from memfun_core.config import user_config_path
from memfun_core.errors import (
    ConflictError,
    CorruptDataError,
    NotFoundError,
    UserError,
    ValidationError,
)

__all__ = [
    "SCOPES",
    "TokenGrant",
    "TokenStore",
    "check_scopes",
    "default_tokens_path",
]

#: What a token may do: ``read`` (tools annotated read-only, skills, resources), ``write``
#: (tools that change files or the repository) and ``agents`` (tools that run agents).
SCOPES = ("read", "write", "agents")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_VERSION = 1


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """One stored token: its name, the SHA-256 of its value and the scopes it grants."""

    name: str
    sha256: str
    scopes: frozenset[str]
    created_at: str

    def to_json(self) -> dict[str, Any]:
        """The grant as stored in the tokens file."""
        return {
            "name": self.name,
            "sha256": self.sha256,
            "scopes": sorted(self.scopes),
            "created_at": self.created_at,
        }


def default_tokens_path(environ: Mapping[str, str] | None = None) -> Path:
    """The default tokens file: ``mcp-tokens.json`` beside the user's ``config.toml``."""
    return user_config_path(os.environ if environ is None else environ).parent / "mcp-tokens.json"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """Validate scope names and return them as a set (at least one)."""
    chosen = frozenset(scopes)
    unknown = sorted(chosen - set(SCOPES))
    if unknown or not chosen:
        raise ValidationError(
            f"is {', '.join(unknown) or 'empty'}",
            field="scopes",
            rule="one or more of " + ", ".join(SCOPES),
        )
    return chosen


class TokenStore:
    """The tokens file: create, list, revoke and verify bearer tokens."""

    __slots__ = ("path",)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Use the tokens file at ``path`` (it need not exist yet)."""
        self.path = Path(path).expanduser()

    def grants(self) -> tuple[TokenGrant, ...]:
        """Every stored grant (none when the file does not exist).

        Raises:
            UserError: The file is open to others than its owner (not mode 0600).
            CorruptDataError: The file is not in the documented format.
        """
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return ()
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise UserError(
                f"the MCP tokens file {self.path} has mode {mode:04o}: others may read it",
                hint=f"make it private to you (mode 0600): chmod 600 {self.path}",
            )
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
            entries = cast("list[dict[str, Any]]", data["tokens"])
            return tuple(self._grant(entry) for entry in entries)
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptDataError(
                f"the MCP tokens file is not valid ({type(exc).__name__}: {exc})",
                backend="mcp-tokens",
                location=str(self.path),
                hint="fix it by hand (format in docs/tools.md) or delete it to start again",
            ) from exc

    @staticmethod
    def _grant(entry: Mapping[str, Any]) -> TokenGrant:
        digest = str(entry["sha256"])
        if not _HEX64.match(digest):
            raise ValueError(f"sha256 of {entry.get('name')!r} is not 64 hex digits")
        return TokenGrant(
            name=str(entry["name"]),
            sha256=digest,
            scopes=check_scopes(cast("list[str]", entry["scopes"])),
            created_at=str(entry.get("created_at", "")),
        )

    def create(self, name: str, scopes: Iterable[str]) -> tuple[str, TokenGrant]:
        """Generate a token, store its hash and return ``(token, grant)``.

        The token is ``secrets.token_urlsafe(32)`` (256 bits); only its SHA-256 is kept.

        Raises:
            ValidationError: A bad name or scope.
            ConflictError: A token of that name exists.
        """
        if not _NAME.match(name):
            raise ValidationError(
                f"is {name!r}", field="name", rule="letters, digits, '.', '_', '-' (<= 64)"
            )
        chosen = check_scopes(scopes)
        grants = self.grants()
        if any(grant.name == name for grant in grants):
            raise ConflictError(
                f"an MCP token named {name!r} exists",
                hint=f"choose another name, or revoke it: memfun mcp token revoke {name}",
            )
        token = secrets.token_urlsafe(32)
        created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        grant = TokenGrant(name=name, sha256=_digest(token), scopes=chosen, created_at=created)
        self._write((*grants, grant))
        return token, grant

    def ensure_one(self, name: str = "default") -> tuple[str, TokenGrant] | None:
        """Create a token with every scope when the file holds none; ``None`` when it has one.

        The caller shows the returned token once: it is not stored anywhere.
        """
        if self.grants():
            return None
        return self.create(name, SCOPES)

    def revoke(self, name: str) -> TokenGrant:
        """Remove the token called ``name`` and return its grant.

        Raises:
            NotFoundError: No token has that name.
        """
        grants = self.grants()
        kept = tuple(grant for grant in grants if grant.name != name)
        if len(kept) == len(grants):
            raise NotFoundError(
                "MCP token", name, suggestions=tuple(grant.name for grant in grants)
            )
        self._write(kept)
        return next(grant for grant in grants if grant.name == name)

    def verify(self, token: str) -> TokenGrant | None:
        """The grant of ``token``, or ``None``; compares every stored hash in constant time."""
        digest = _digest(token)
        found: TokenGrant | None = None
        for grant in self.grants():
            if hmac.compare_digest(grant.sha256, digest):
                found = grant
        return found

    def _write(self, grants: Iterable[TokenGrant]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        body = json.dumps(
            {"version": _VERSION, "tokens": [grant.to_json() for grant in grants]}, indent=2
        )
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(body + "\n")
            tmp.replace(self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
