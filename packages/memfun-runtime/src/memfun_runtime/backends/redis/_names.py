"""The sets that list a namespace's queues and grouped topics, so listing them never SCANs.

``<ns>:queues`` holds every queue a task was enqueued to (``ENQUEUE`` adds it) and
``<ns>:topics`` every topic a consumer group was created on. Metrics read them on every
scrape: ``SCAN`` walks the whole database, other namespaces included (537 ms a scrape with
300,000 keys in the database, growing with it). A namespace written before the sets existed
gets them once, by ``SCAN``, when a backend first opens it; ``<ns>:names`` records that.
"""

from __future__ import annotations

from memfun_runtime.backends.redis._client import RedisClient

__all__ = ["QUEUES", "TOPICS", "ensure_names"]

QUEUES = "queues"
"""Key kind of the set of queue names: ``client.key(QUEUES)``."""
TOPICS = "topics"
"""Key kind of the set of topics with consumer groups: ``client.key(TOPICS)``."""
_DONE = "names"


async def ensure_names(client: RedisClient) -> None:
    """Build the two sets from the keys if this namespace has never had them (idempotent)."""
    if await client.call("checking the name sets", ("EXISTS", client.key(_DONE))):
        return
    tasks, streams = client.key("tq", ""), client.key("ev", "")
    queues = [key[len(tasks) : -len(":seq")] for key in await client.keys(tasks + "*:seq")]
    topics = [key[len(streams) :] for key in await client.keys(streams + "*", "stream")]
    for kind, names in ((QUEUES, queues), (TOPICS, topics)):
        if names:
            await client.call("indexing names", ("SADD", client.key(kind), *names))
    await client.call("indexing names", ("SET", client.key(_DONE), "1"))
