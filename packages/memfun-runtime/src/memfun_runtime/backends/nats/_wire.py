"""How events look on the wire: headers the backend adds and the message → Event mapping."""

from __future__ import annotations

from nats.aio.msg import Msg

from memfun_runtime import _codec
from memfun_runtime.backends.nats._client import BACKEND
from memfun_runtime.protocols import Event

__all__ = ["ID_HEADER", "MSG_ID_HEADER", "decode_event"]

ID_HEADER = "Memfun-Event-Id"
"""Header carrying the event id (stripped before the event reaches the application)."""
MSG_ID_HEADER = "Nats-Msg-Id"
"""JetStream's deduplication header."""


def decode_event(msg: Msg, prefix: str) -> Event:
    """Turn a JetStream message of the events stream into an :class:`Event`.

    Args:
        msg: A message delivered by a consumer of the events stream.
        prefix: The subject prefix of topics (``<ns>.ev.``).
    """
    headers = dict(msg.headers or {})
    event_id = headers.pop(ID_HEADER, "")
    headers.pop(MSG_ID_HEADER, None)
    topic = msg.subject[len(prefix) :]
    meta = msg.metadata
    seq = meta.sequence.stream
    return Event(
        id=event_id,
        topic=topic,
        payload=_codec.decode_json(msg.data, backend=BACKEND, location=f"{topic}@{seq}"),
        headers=headers,
        timestamp=meta.timestamp.timestamp(),
        offset=str(seq),
    )
