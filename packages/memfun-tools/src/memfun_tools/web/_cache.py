"""A small on-disk cache of converted pages, with a time-to-live.

One JSON file per entry, named by a hash of the key, written atomically (a temporary file
then a rename), so concurrent fetches and crashes never leave half-written entries. The
cache holds at most ``max_entries`` files; the oldest go first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from memfun_tools.web._page import Page

__all__ = ["PageCache"]

_log = logging.getLogger(__name__)
_FIELDS = frozenset(f.name for f in dataclasses.fields(Page))


class PageCache:
    """Pages by key, for ``ttl_seconds``.

    Args:
        directory: Where entries live (created on first write).
        ttl_seconds: How long an entry is served.
        max_entries: How many entries are kept at most.
        clock: The time source (seconds since the epoch).
    """

    def __init__(
        self,
        directory: Path,
        *,
        ttl_seconds: float,
        max_entries: int = 256,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._dir = directory
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock

    def _path(self, key: str) -> Path:
        return self._dir / (hashlib.sha256(key.encode()).hexdigest()[:40] + ".json")

    def get(self, key: str) -> Page | None:
        """Return the fresh entry for ``key``, or ``None`` (missing, expired or unreadable)."""
        path = self._path(key)
        try:
            raw: Any = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            _log.warning("ignoring unreadable web cache entry %s: %s", path, exc)
            path.unlink(missing_ok=True)
            return None
        entry = cast("dict[str, Any]", raw) if isinstance(raw, dict) else {}
        fields: object = entry.get("page")
        if entry.get("key") != key or not isinstance(fields, dict):
            _log.warning("ignoring web cache entry %s: it does not match this key", path)
            return None
        values = cast("dict[str, Any]", fields)
        if frozenset(values) != _FIELDS:
            _log.warning("ignoring web cache entry %s: written by another version", path)
            return None
        page = Page(**values)
        if self._clock() - page.fetched_at > self._ttl:
            return None
        return page

    def put(self, key: str, page: Page) -> None:
        """Store ``page`` under ``key`` and drop the oldest entries beyond the limit."""
        self._dir.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"key": key, "page": dataclasses.asdict(page)}, ensure_ascii=False)
        fd, tmp = tempfile.mkstemp(dir=self._dir, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
            Path(tmp).replace(self._path(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._prune()

    def _prune(self) -> None:
        entries = [p for p in self._dir.glob("*.json") if not p.name.startswith(".tmp-")]
        if len(entries) <= self._max:
            return
        with_times: list[tuple[float, Path]] = []
        for entry in entries:
            with contextlib.suppress(FileNotFoundError):
                with_times.append((entry.stat().st_mtime, entry))
        with_times.sort()
        for _, entry in with_times[: len(with_times) - self._max]:
            entry.unlink(missing_ok=True)
