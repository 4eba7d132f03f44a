"""T1's batch calls under a real crash: what publish_many and ack_many returned survives SIGKILL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

from memfun_runtime.backends.sqlite import SQLiteBackend
from memfun_runtime.testing import collect

_CHILD = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from memfun_runtime.backends.sqlite import SQLiteBackend

    async def main() -> None:
        backend = SQLiteBackend(sys.argv[1], poll_interval=0.01)
        await backend.start()
        sub = await backend.events.subscribe("jobs", "g", ack_timeout=0.2)
        await backend.events.publish_many("jobs", list(range(20)))
        got = []
        while len(got) < 20:
            got += await sub.fetch(20 - len(got), timeout=5)
        await sub.ack_many(got[:12])
        print("acked", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # no stop(), no close: a crash

    asyncio.run(main())
    """
)


def _crash(db: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", _CHILD, str(db)]
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)


async def test_a_returned_batch_ack_survives_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "runtime.db"
    child = await asyncio.to_thread(_crash, db)
    assert child.returncode == -9, child.stderr
    assert child.stdout.split() == ["acked"]
    backend = SQLiteBackend(db, poll_interval=0.01)
    await backend.start()
    try:
        events = [event async for event in backend.events.replay("jobs")]
        assert [event.payload for event in events] == list(range(20))
        sub = await backend.events.subscribe("jobs", "g", ack_timeout=0.2)
        back = await collect(sub, 8, within=10.0)
        assert sorted(d.event.payload for d in back) == list(range(12, 20))
        assert all(d.attempt == 2 for d in back)
        await sub.ack_many(back)
        assert await sub.fetch(20, timeout=0.6) == []  # the twelve acked never come back
    finally:
        await backend.stop()
