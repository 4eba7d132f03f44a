"""Whose database a T1 file is: a file that arrived with a folder is not acted on unasked.

A project keeps its runtime in ``.memfun/runtime.db``, inside the folder, so a cloned
repository can ship one: pending tasks in ``agents.<name>`` that the project's agents would
lease and run with the user's model and tools, consumer groups with planted events,
sessions for ``memfun chat --resume``. With an :class:`Ownership`, T1 stamps every file it
creates (a random nonce and its HMAC under the user's key, bound to the project's folder, in
``memfun_meta``) and opens an existing file only with a valid stamp, or when the owner adopts
it (the folder is trusted, or the file lies outside it), stamping it then. The key never
enters the folder (:mod:`memfun_core.signing`), so a shipped file cannot carry a valid stamp;
the folder is in what is signed, so a ``.memfun`` that is a link to another of the user's
projects does not open that project's runtime either.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from memfun_core.errors import PermissionDeniedError

__all__ = ["Ownership", "carries_stamp", "check_owner", "project_ownership", "stamp_statement"]

_PURPOSE = "runtime"
_LABEL = b"memfun-runtime-db:"
_READ_STAMP = "SELECT key, value FROM memfun_meta WHERE key IN ('owner_nonce', 'owner_tag')"


@dataclass(frozen=True, slots=True)
class Ownership:
    """This user's claim on T1 files: refuse a file the key did not stamp, unless adopting.

    Attributes:
        key: This user's key (``memfun_core.signing.user_key("runtime")``).
        adopt: Accept a file without this key's stamp, and stamp it.
        hint: What a refusal tells the user to do.
        scope: What the stamp binds the file to (the project's folder): a file stamped
            for one scope is not this scope's.
    """

    key: bytes
    adopt: bool = False
    hint: str = "move the file away so a new one is created"
    scope: str = ""

    def signed(self, nonce: str) -> bytes:
        """What the stamp's HMAC covers."""
        return b"%s%s\0%s" % (_LABEL, self.scope.encode(), nonce.encode())


def project_ownership(
    root: str | os.PathLike[str], path: Path, environ: Mapping[str, str] | None = None
) -> Ownership:
    """The ownership of the project at ``root`` over its database at ``path``.

    A database inside an untrusted folder must carry this user's stamp for this folder; one
    in a trusted folder (or the home folder), or outside the folder, is adopted. Inside means
    by the path as written, before links: a ``.memfun`` that links elsewhere is still the
    folder's own, and what it points at must carry this folder's stamp.

    Raises:
        CorruptDataError: The user's key file is damaged.
    """
    from memfun_core.signing import user_key
    from memfun_core.trust import workspace_trust

    base = Path(root).resolve()
    inside = path.absolute().is_relative_to(Path(root).absolute()) or (
        path.resolve().is_relative_to(base)
    )
    trust = workspace_trust(base, environ) if inside else None
    hint = (
        f"if {base} is yours, trust it (`memfun trust {base}`) and the database is adopted; "
        f"otherwise move {path} away: Memfun makes a new one"
    )
    return Ownership(user_key(_PURPOSE, environ), trust is None or trust.trusted, hint, str(base))


async def check_owner(conn: aiosqlite.Connection, ownership: Ownership, path: Path) -> bool:
    """Whether the Memfun database on ``conn`` carries this user's stamp (read-only).

    Raises:
        PermissionDeniedError: It does not, and ``ownership`` does not adopt it.
    """
    if _valid(ownership, await conn.execute_fetchall(_READ_STAMP)):
        return True
    if ownership.adopt:
        return False
    raise PermissionDeniedError(
        f"using the runtime database {path}",
        "your Memfun did not create it: it may have come with the folder, with tasks, "
        "events or sessions planted for your agents",
        hint=ownership.hint,
    )


def carries_stamp(path: Path, ownership: Ownership) -> bool | None:
    """Whether the Memfun database at ``path`` carries ``ownership``'s stamp (read-only).

    ``None`` when that cannot be told: no such file, not a Memfun database, unreadable.
    """
    if not path.is_file():
        return None
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
            return _valid(ownership, conn.execute(_READ_STAMP).fetchall())
    except sqlite3.Error:
        return None


def _valid(ownership: Ownership, rows: Iterable[Sequence[Any]]) -> bool:
    from memfun_core.signing import verify

    stamp = {str(row[0]): str(row[1]) for row in rows}
    nonce, tag = stamp.get("owner_nonce", ""), stamp.get("owner_tag", "")
    return bool(nonce) and verify(ownership.key, ownership.signed(nonce), tag)


def stamp_statement(ownership: Ownership) -> tuple[str, tuple[str, str]]:
    """The statement (and its parameters) writing a fresh stamp into ``memfun_meta``."""
    from memfun_core.signing import sign

    nonce = secrets.token_hex(16)
    return (
        "INSERT INTO memfun_meta (key, value) VALUES ('owner_nonce', ?), ('owner_tag', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (nonce, sign(ownership.key, ownership.signed(nonce))),
    )
