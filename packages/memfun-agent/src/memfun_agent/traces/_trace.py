"""A whole run's trace as one JSON document (schema ``memfun.trace/1``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from memfun_agent.traces._recorder import SCHEMA
from memfun_core.errors import CorruptDataError
from memfun_runtime.protocols import JSONValue

__all__ = ["RunTrace"]


@dataclass(frozen=True, slots=True)
class RunTrace:
    """One agent run, as stored and read back.

    Attributes:
        run_id: The run's id.
        task: The task text (redacted).
        model: The main model.
        sub_model: The model behind ``llm_query``.
        started_at: Unix time the run started.
        ended_at: Unix time it ended.
        outcome: The stop reason (``completed``, ``max_tokens``, ...).
        error: What went wrong, for failed runs.
        usage: Iterations, calls, tokens, cost and wall seconds.
        records: Every step, tool call and model call in order (see ``docs/agent.md``).
        metadata: Skill name, workspace, verification summary and the like.
        schema: ``memfun.trace/1``.
    """

    run_id: str
    task: str
    model: str
    sub_model: str
    started_at: float
    ended_at: float
    outcome: str
    error: str | None
    usage: Mapping[str, JSONValue]
    records: tuple[Mapping[str, JSONValue], ...]
    metadata: Mapping[str, JSONValue] = field(default_factory=dict[str, JSONValue])
    schema: str = SCHEMA

    def to_json(self) -> dict[str, JSONValue]:
        """The JSON document stored by :class:`TraceStore`."""
        return {
            "schema": self.schema,
            "run_id": self.run_id,
            "task": self.task,
            "model": self.model,
            "sub_model": self.sub_model,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "outcome": self.outcome,
            "error": self.error,
            "usage": dict(self.usage),
            "records": [dict(record) for record in self.records],
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_json(cls, data: JSONValue, *, location: str = "trace") -> RunTrace:
        """Read a stored trace back.

        Raises:
            CorruptDataError: The document is not a ``memfun.trace/1`` trace.
        """
        doc = cast("dict[str, Any]", data) if isinstance(data, dict) else {}
        if str(doc.get("schema", "")).split("/")[0] != "memfun.trace":
            raise CorruptDataError(
                "not a Memfun trace document", backend="traces", location=location
            )
        if doc["schema"] != SCHEMA:
            raise CorruptDataError(
                f"trace schema {doc['schema']!r} is not supported (this Memfun reads {SCHEMA})",
                backend="traces",
                location=location,
                hint="upgrade memfun-agent to read traces written by a newer version",
            )
        try:
            return cls(
                run_id=str(doc["run_id"]),
                task=str(doc["task"]),
                model=str(doc["model"]),
                sub_model=str(doc["sub_model"]),
                started_at=float(doc["started_at"]),
                ended_at=float(doc["ended_at"]),
                outcome=str(doc["outcome"]),
                error=None if doc["error"] is None else str(doc["error"]),
                usage=dict(doc["usage"]),
                records=tuple(dict(record) for record in doc["records"]),
                metadata=dict(cast("dict[str, JSONValue]", doc.get("metadata") or {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptDataError(
                f"trace document is incomplete: {exc}", backend="traces", location=location
            ) from exc

    def of_kind(self, kind: str) -> list[Mapping[str, JSONValue]]:
        """The records of one kind, in order."""
        return [record for record in self.records if record.get("kind") == kind]
