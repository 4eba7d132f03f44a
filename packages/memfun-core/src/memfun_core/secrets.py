"""Recognising secrets: key-shaped strings and the values of secret environment variables.

Used by config validation (a raw key in a file is refused) and by log redaction (a secret
never reaches a log record).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "ENV_NAME_PATTERN",
    "SECRET_NAME_PATTERN",
    "looks_like_secret",
    "redact",
    "redact_json",
    "redact_url",
    "secret_env_values",
]

#: Shapes of API keys and tokens issued by common providers.
_KEY_SHAPES = (
    r"sk-ant-[A-Za-z0-9_\-]{16,}",  # Anthropic
    r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}",  # OpenAI and compatibles
    r"AIza[0-9A-Za-z_\-]{30,}",  # Google
    r"gh[pousr]_[A-Za-z0-9]{30,}",  # GitHub
    r"github_pat_[A-Za-z0-9_]{40,}",  # GitHub fine-grained
    r"xox[abprs]-[A-Za-z0-9\-]{10,}",  # Slack
    r"(?:AKIA|ASIA)[0-9A-Z]{16}",  # AWS access key id
    r"hf_[A-Za-z0-9]{30,}",  # Hugging Face
    r"gsk_[A-Za-z0-9]{30,}",  # Groq
    r"r8_[A-Za-z0-9]{30,}",  # Replicate
    r"eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}",  # JWT
)
_KEY_RE = re.compile("|".join(f"(?:{shape})" for shape in _KEY_SHAPES))
_ASSIGNED_RE = re.compile(
    r"(?i)(\bbearer\s+|\b(?:api[_-]?key|token|secret|passw(?:or)?d|authorization)[\"']?\s*[:=]\s*[\"']?)"
    r"(?!\[REDACTED\])([^\s'\",;]{8,})"
)

#: A valid environment variable name.
ENV_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Environment variable (or config key) names that hold secrets.
SECRET_NAME_PATTERN = re.compile(
    r"(?i)(api[_-]?key|secret|token|passw(or)?d|credential|private[_-]?key|auth)"
)
_MIN_SECRET_LEN = 8
REDACTED = "[REDACTED]"


def looks_like_secret(value: str) -> bool:
    """Tell whether ``value`` contains something shaped like a provider API key or token."""
    return _KEY_RE.search(value) is not None


def secret_env_values(
    environ: Mapping[str, str] | None = None, *, extra_names: Iterable[str] = ()
) -> frozenset[str]:
    """Collect the values of environment variables whose names say they hold secrets.

    Args:
        environ: The environment to read (``os.environ`` by default).
        extra_names: More variable names to treat as secret (e.g. the configured
            ``api_key_env``), whatever they are called.

    Returns:
        The non-trivial values (at least 8 characters) of those variables.
    """
    env = os.environ if environ is None else environ
    names = {name for name in env if SECRET_NAME_PATTERN.search(name)}
    names.update(extra_names)
    return frozenset(value for name in names if len(value := env.get(name, "")) >= _MIN_SECRET_LEN)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace known secret values and key-shaped strings in ``text`` with ``[REDACTED]``.

    Args:
        text: The text to clean.
        secrets: Exact values to remove (longest first, so overlapping values vanish whole).

    Returns:
        The text with every secret replaced.
    """
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    text = _KEY_RE.sub(REDACTED, text)
    return _ASSIGNED_RE.sub(lambda m: m.group(1) + REDACTED, text)


_MASK = "***"


def redact_url(url: str) -> str:
    """Return ``url`` with its credentials masked (safe to print, log or show in status).

    A password is replaced by ``***`` (the user name before it stays); a user name alone
    is masked too, since some servers take a token there (``nats://TOKEN@host``); query
    parameters named like secrets (``password=``, ``token=``) lose their value.

    Args:
        url: A service URL such as ``redis://user:pw@host:6379/0``.

    Returns:
        The URL without secrets; unchanged when it holds none.
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at:
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:{_MASK}@{hostport}" if colon else f"{_MASK}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(SECRET_NAME_PATTERN.search(key) for key, _ in pairs):
            query = urlencode(
                [(k, _MASK if SECRET_NAME_PATTERN.search(k) else v) for k, v in pairs], safe="*"
            )
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


_MAX_TEXT = 20_000


def redact_json(value: Any, secrets: Iterable[str] = (), *, limit: int = _MAX_TEXT) -> Any:
    """Turn ``value`` into JSON with secrets replaced and long strings cut at ``limit``.

    Args:
        value: Any value; mappings, lists and tuples are walked, other objects become their
            ``repr``.
        secrets: Exact values to remove (see :func:`redact`).
        limit: The longest string kept whole.

    Returns:
        A JSON-serialisable copy without secrets.
    """
    if isinstance(value, str):
        text = redact(value, secrets)
        if len(text) > limit:
            return f"{text[:limit]}... [{len(text) - limit} more characters]"
        return text
    if value is None or isinstance(value, bool | int | float):
        return value
    known = secrets if isinstance(secrets, frozenset) else frozenset(secrets)
    if isinstance(value, Mapping):
        mapping = cast("Mapping[object, object]", value)
        return {str(k): redact_json(v, known, limit=limit) for k, v in mapping.items()}
    if isinstance(value, list | tuple):
        seq = cast("Iterable[object]", value)
        return [redact_json(v, known, limit=limit) for v in seq]
    return redact_json(repr(value), known, limit=limit)
