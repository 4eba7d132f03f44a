"""Logging for Memfun: one setup function, optional JSON lines, secrets always redacted.

Example:
    >>> from memfun_core.log import setup_logging
    >>> handler = setup_logging("INFO", json=True)
"""

from __future__ import annotations

import json as jsonlib
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

from memfun_core.secrets import redact, secret_env_values

__all__ = ["JsonFormatter", "RedactionFilter", "setup_logging"]

_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)
_TEXT_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"


class RedactionFilter(logging.Filter):
    """Strips secrets from every record that passes through it.

    Removes the values of environment variables whose names say they hold secrets (read at
    each record, so keys exported later are covered), the variables named in
    ``secret_env_names``, and strings shaped like provider keys — from the message, its
    arguments, the traceback, the stack and any extra string attribute.
    """

    def __init__(self, secret_env_names: Iterable[str] = ()) -> None:
        super().__init__()
        self._names = tuple(secret_env_names)
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: D102 - documented on the class
        secrets = secret_env_values(extra_names=self._names)
        record.msg = redact(record.getMessage(), secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, redact(value, secrets))
        return True


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object per line.

    Keys: ``ts`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, ``exc`` when there is a
    traceback, and every extra attribute given with ``extra=...``.
    """

    def format(self, record: logging.LogRecord) -> str:  # noqa: D102 - documented on the class
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            payload["exc"] = record.exc_text
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        return jsonlib.dumps(payload, default=str, ensure_ascii=False)


class _MemfunHandler(logging.StreamHandler[TextIO]):
    """The handler :func:`setup_logging` installs (so a second call can replace it)."""


def setup_logging(
    level: str | int = "WARNING",
    *,
    json: bool = False,
    stream: TextIO | None = None,
    logger: str | None = None,
    secret_env_names: Iterable[str] = (),
) -> logging.Handler:
    """Configure logging once: a stream handler with redaction, text or JSON lines.

    Calling it again replaces the handler it installed before (it never stacks handlers).

    Args:
        level: The lowest level to emit (name or number).
        json: Emit one JSON object per line instead of text.
        stream: Where to write (``sys.stderr`` by default).
        logger: The logger to configure; the root logger by default.
        secret_env_names: Extra environment variable names whose values must never be
            logged (e.g. the configured ``llm.api_key_env``).

    Returns:
        The installed handler.
    """
    target = logging.getLogger(logger)
    for old in [h for h in target.handlers if isinstance(h, _MemfunHandler)]:
        target.removeHandler(old)
    handler = _MemfunHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if json else logging.Formatter(_TEXT_FORMAT))
    handler.addFilter(RedactionFilter(secret_env_names))
    target.addHandler(handler)
    target.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
