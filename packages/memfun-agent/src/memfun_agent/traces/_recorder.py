"""Recording a run as a trace: an ordered list of redacted, timestamped records."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from memfun_core.secrets import redact_json, secret_env_values
from memfun_runtime.protocols import JSONValue

__all__ = ["SCHEMA", "TraceRecorder", "redact_json"]

SCHEMA = "memfun.trace/1"
"""The trace format's name and version; a reader refuses other major versions."""


class TraceRecorder:
    """Collects one run's records in order (thread-safe) with secrets redacted.

    Each record is ``{"seq", "t", "kind", ...}``: ``t`` is seconds since the run started.
    See ``docs/agent.md`` for the kinds and their fields.

    Args:
        run_id: The run's id (generated when ``None``).
        secret_names: Environment variable names whose values must never be recorded (the
            configured ``api_key_env``), on top of every variable named like a secret.
        listener: Called with each record as it is added (live progress, event bus).
    """

    def __init__(
        self,
        run_id: str | None = None,
        *,
        secret_names: Iterable[str] = (),
        listener: Callable[[dict[str, JSONValue]], None] | None = None,
    ) -> None:
        self.run_id = run_id or uuid.uuid4().hex
        self.started_at = time.time()
        self._t0 = time.monotonic()
        self._secrets = secret_env_values(extra_names=tuple(secret_names))
        self._records: list[dict[str, JSONValue]] = []
        self._lock = threading.Lock()
        self._listener = listener

    @property
    def secrets(self) -> frozenset[str]:
        """The secret values redacted from every record."""
        return self._secrets

    def clean(self, value: Any) -> JSONValue:
        """Redact and cap ``value`` as a trace would store it."""
        return redact_json(value, self._secrets)

    def add(self, kind: str, **fields: Any) -> dict[str, JSONValue]:
        """Append a record of ``kind`` and return it."""
        body = redact_json(fields, self._secrets)
        assert isinstance(body, dict)
        with self._lock:
            record: dict[str, JSONValue] = {
                "seq": len(self._records),
                "t": round(time.monotonic() - self._t0, 6),
                "kind": kind,
                **body,
            }
            self._records.append(record)
        if self._listener is not None:
            self._listener(record)
        return record

    @property
    def records(self) -> list[dict[str, JSONValue]]:
        """A copy of the records so far."""
        with self._lock:
            return list(self._records)

    def count(self, kind: str) -> int:
        """How many records of ``kind`` there are."""
        with self._lock:
            return sum(1 for record in self._records if record["kind"] == kind)
