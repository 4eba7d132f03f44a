"""Signing what Memfun writes into a repository, with a key the repository never sees.

Checkpoints and learnings live in the project's ``.memfun/`` folder, so a hostile clone can
ship its own. Memfun signs what it writes there with an HMAC-SHA256 key kept in the user's
config folder (``$XDG_CONFIG_HOME/memfun/<purpose>.key``, mode 0600, one key per purpose),
which tells what this user's Memfun wrote from what arrived with the repository.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path

from memfun_core.config import user_config_path
from memfun_core.errors import CorruptDataError, ValidationError

__all__ = ["sign", "signing_key_path", "user_key", "verify"]

_PURPOSE = re.compile(r"[a-z][a-z0-9-]{0,31}")
_KEY_TEXT = re.compile(r"[0-9a-f]{64}")
_MIN_SIGNATURE = 32  # hex digits: 128 bits


def signing_key_path(purpose: str, environ: Mapping[str, str] | None = None) -> Path:
    """The key file of ``purpose`` (``checkpoint``, ``memory``) in the user's config folder."""
    if not _PURPOSE.fullmatch(purpose):
        raise ValidationError(
            f"is {purpose!r}", field="purpose", rule="lowercase letters, digits and '-'"
        )
    return user_config_path(os.environ if environ is None else environ).parent / (f"{purpose}.key")


def user_key(purpose: str, environ: Mapping[str, str] | None = None) -> bytes:
    """This user's 32-byte key for ``purpose``, created on first use (mode 0600).

    Two processes creating it at once agree on one key: it is written to a private temporary
    file and linked into place, so a reader never sees a half-written key.

    Raises:
        CorruptDataError: The key file is not 64 hex digits.
    """
    path = signing_key_path(purpose, environ)
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_bytes(32).hex())
        with contextlib.suppress(FileExistsError):  # another process was first: use its key
            os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    text = path.read_text(encoding="ascii", errors="replace").strip()
    if not _KEY_TEXT.fullmatch(text):
        raise CorruptDataError(
            "the signing key is not 64 hex digits",
            backend="signing",
            location=str(path),
            hint="delete the file: a new key is made, and what the old one signed must be "
            "signed again",
        )
    return bytes.fromhex(text)


def sign(key: bytes, data: bytes) -> str:
    """The HMAC-SHA256 of ``data`` under ``key`` (from :func:`user_key`), as 64 hex digits."""
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def verify(key: bytes, data: bytes, signature: str) -> bool:
    """Whether ``signature`` is the signature of ``data`` under ``key``.

    A prefix of at least 32 hex digits of the full signature is accepted (short signatures
    keep hand-readable files short); anything shorter never is.
    """
    if len(signature) < _MIN_SIGNATURE:
        return False
    return hmac.compare_digest(sign(key, data)[: len(signature)], signature.lower())
