"""TaskQueue records on every tier: payloads are copies, stale leases and bad leases are named."""

from __future__ import annotations

from typing import Any

import pytest

from memfun_core.errors import ConflictError, ValidationError
from memfun_runtime._backend import Backend
from memfun_runtime.protocols import TaskStatus

WAIT = 5.0


class PayloadCopies:
    async def test_changing_a_payload_after_enqueue_or_lease_changes_nothing_stored(
        self, backend: Backend
    ) -> None:
        payload: dict[str, Any] = {"files": ["a.py"]}
        task_id = await backend.tasks.enqueue("q", payload)
        payload["files"].append("changed by the producer")
        got = await backend.tasks.lease("q", wait=WAIT)
        assert got is not None
        assert got.payload == {"files": ["a.py"]}
        got.payload["files"].append("changed by the worker")  # type: ignore[index, union-attr]
        result: dict[str, Any] = {"lines": [1]}
        await backend.tasks.complete(got, result)
        result["lines"].append(2)
        task = await backend.tasks.get("q", task_id)
        assert task is not None
        assert (task.payload, task.result) == ({"files": ["a.py"]}, {"lines": [1]})
        task.result["lines"].append(3)  # type: ignore[index, union-attr]
        again = await backend.tasks.get("q", task_id)
        assert again is not None
        assert again.result == {"lines": [1]}


class LeaseErrors:
    async def test_a_stale_lease_names_the_task_and_queue(self, backend: Backend) -> None:
        await backend.tasks.enqueue("jobs", "x", task_id="t1")
        got = await backend.tasks.lease("jobs", wait=WAIT)
        assert got is not None
        await backend.tasks.complete(got)
        with pytest.raises(ConflictError, match=r"'t1' in 'jobs' is stale") as caught:
            await backend.tasks.fail(got, "late")
        assert caught.value.hint
        task = await backend.tasks.get("jobs", "t1")
        assert task is not None
        assert task.status is TaskStatus.COMPLETED

    async def test_something_else_than_a_lease_is_refused(self, backend: Backend) -> None:
        for call in (
            lambda: backend.tasks.complete("t1"),  # type: ignore[arg-type]
            lambda: backend.tasks.fail(None, "x"),  # type: ignore[arg-type]
            lambda: backend.tasks.extend({"task_id": "t1"}, 5),  # type: ignore[arg-type]
        ):
            with pytest.raises(ValidationError, match="must be a Lease"):
                await call()

    async def test_a_failure_without_retry_is_dead_at_once(self, backend: Backend) -> None:
        task_id = await backend.tasks.enqueue("q", 1, max_attempts=5)
        got = await backend.tasks.lease("q", wait=WAIT)
        assert got is not None
        await backend.tasks.fail(got, "bad input", retry=False)
        [dead] = await backend.tasks.dead("q")
        assert (dead.id, dead.status, dead.attempts, dead.last_error) == (
            task_id,
            TaskStatus.DEAD,
            1,
            "bad input",
        )
        assert await backend.tasks.dead("q", limit=0) == []


class TestTaskRecords(PayloadCopies, LeaseErrors):
    """Runs the record behaviour on every tier."""
