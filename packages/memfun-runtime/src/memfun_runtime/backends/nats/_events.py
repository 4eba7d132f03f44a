"""The JetStream event bus: one stream per namespace, one durable pull consumer per group.

Layout: topic ``orders.created`` is subject ``<ns>.ev.orders.created`` of stream
``<ns>_EVENTS``; consumer group ``billing`` on it is the durable pull consumer
``billing-<digest of the topic>`` filtered on that subject. Offsets are stream sequences.

* Idempotent publish: ``Nats-Msg-Id = "<topic>:<event_id>"`` within the stream's duplicate
  window (so the same id on two topics is two events, as the protocol says).
* Redelivery: the consumer's ``AckWait``; nack is ``-NAK`` (with JetStream's ``delay``).
* Dead letter: the consumer's ``MaxDeliver`` is unlimited and the backend publishes a
  delivery whose count exceeds the subscription's ``max_deliveries`` to the dead-letter
  topic (deduplicated by ``Nats-Msg-Id``) and then acks it, so no advisory can be missed
  while no process listens.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncGenerator, Awaitable
from datetime import UTC, datetime
from typing import Any

import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from memfun_core.errors import ValidationError
from memfun_runtime import _codec
from memfun_runtime.backends._delivery import EventBusBase, Member, sequence_offset
from memfun_runtime.backends.nats._client import NatsClient, StreamSpec
from memfun_runtime.backends.nats._pull import Puller, read_stream, reader_config
from memfun_runtime.backends.nats._subscription import NatsSubscription
from memfun_runtime.backends.nats._wire import ID_HEADER, MSG_ID_HEADER, decode_event
from memfun_runtime.protocols import DEFAULT_DEDUPE_WINDOW, Event, JSONValue, StartPosition

__all__ = ["NatsEventBus"]

_KIND = "ev"
_MAX_ACK_PENDING = 20_000
_SAME_SECONDS = 1e-6
_OFFSET_RULE = "an Event.offset returned by this backend (a JetStream sequence)"

_EXPIRY_PATIENCE = 0.25
"""Seconds a replay waits for an event that may have expired while it was read."""


class NatsEventBus(EventBusBase[NatsSubscription, bytes]):
    """:class:`~memfun_runtime.protocols.EventBus` on JetStream (see the module docstring).

    Args:
        client: The shared connection.
        dedupe_window: Seconds a repeated ``event_id`` is recognised (the stream's duplicate
            window).
        retention: Seconds events are kept (the stream's ``max_age``); ``None`` keeps them
            until removed by an operator.
    """

    def __init__(
        self,
        client: NatsClient,
        *,
        dedupe_window: float = DEFAULT_DEDUPE_WINDOW,
        retention: float | None = None,
    ) -> None:
        super().__init__()
        self._client = client
        self._dedupe = _codec.check_positive(dedupe_window, field="dedupe_window")
        self._retention = (
            None if retention is None else _codec.check_positive(retention, field="retention")
        )
        if self._retention is not None and self._retention < self._dedupe:
            raise ValidationError(
                f"event_retention ({self._retention:g} s) is shorter than dedupe_window "
                f"({self._dedupe:g} s); JetStream forgets an event's id with the event",
                field="event_retention",
                rule="at least dedupe_window on NATS",
                hint="raise event_retention or lower dedupe_window",
            )
        self._stream = client.stream("EVENTS")
        self._prefix = f"{client.namespace}.{_KIND}."

    @property
    def stream(self) -> str:
        """The stream's name."""
        return self._stream

    def spec(self) -> StreamSpec:
        """The stream this bus needs."""
        return StreamSpec(
            self._stream, [f"{self._prefix}>"], max_age=self._retention, dedupe=self._dedupe
        )

    def _encode(self, payload: JSONValue, field: str) -> bytes:
        return _codec.encode_json(payload, field=field).encode()

    async def _publish_many(
        self,
        topic: str,
        payloads: list[bytes],
        headers: dict[str, str],
        event_ids: list[str | None],
    ) -> list[str]:
        """Store events: one by a publish request, several by JetStream's async publish.

        Every publish of a batch is sent, in order, before the server's confirmations are
        awaited together (one round trip's wait, not one per event).
        """
        if len(payloads) == 1:
            return [await self.append(topic, payloads[0], headers, event_ids[0])]
        publish = self._client.js.publish_async  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        subject = self._prefix + topic
        ids = [event_id or _codec.new_id() for event_id in event_ids]

        async def send() -> None:
            confirmations: list[Awaitable[object]] = []
            for data, ident, event_id in zip(payloads, ids, event_ids, strict=True):
                own = _headers(topic, dict(headers), ident, event_id)
                confirmations.append(await publish(subject, data, headers=own))
            await asyncio.gather(*confirmations)

        await self._client.call(f"publishing {len(payloads)} events to {topic!r}", send)
        return ids

    async def append(
        self, topic: str, data: bytes, headers: dict[str, str], event_id: str | None
    ) -> str:
        """Store an already validated event; dedupe by ``event_id`` when given."""
        ident = event_id or _codec.new_id()
        _headers(topic, headers, ident, event_id)
        js = self._client.js
        subject = self._prefix + topic
        timeout = self._client.timeout
        await self._client.call(
            f"publishing to {topic!r}",
            lambda: js.publish(subject, data, timeout=timeout, headers=headers),
            bounded=True,
        )
        return ident

    async def _join(self, member: Member) -> NatsSubscription:
        durable = _durable(member.topic, member.group)
        await self._ensure_group(member.topic, durable, member.ack_timeout, member.start)
        puller = Puller(self._client, self._stream, durable)
        await puller.open()
        return NatsSubscription(self, puller, member)

    async def _ensure_group(
        self, topic: str, durable: str, ack_timeout: float, start: StartPosition
    ) -> None:
        """Create the durable consumer, or set its ack wait when the group exists."""
        js = self._client.js
        what = f"joining group of {topic!r}"

        async def ensure() -> None:
            try:
                info = await js.consumer_info(self._stream, durable)
            except nats.js.errors.NotFoundError:
                policy = DeliverPolicy.NEW if start == "new" else DeliverPolicy.ALL
            else:
                if (
                    info.config.ack_wait is not None
                    and abs(info.config.ack_wait - ack_timeout) < _SAME_SECONDS
                ):
                    return
                policy = info.config.deliver_policy or DeliverPolicy.ALL
            config = ConsumerConfig(
                durable_name=durable,
                deliver_policy=policy,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=ack_timeout,
                max_deliver=-1,
                filter_subject=self._prefix + topic,
                max_ack_pending=_MAX_ACK_PENDING,
            )
            await self._client.add_consumer(self._stream, config)

        await self._client.call(what, ensure)

    async def _replay(
        self, topic: str, from_offset: str | None, from_time: float | None, limit: int | None
    ) -> AsyncGenerator[Event, None]:
        options: dict[str, Any] = {"deliver_policy": DeliverPolicy.ALL}
        if from_offset is not None:
            options = {
                "deliver_policy": DeliverPolicy.BY_START_SEQUENCE,
                "opt_start_seq": sequence_offset(from_offset, minimum=1, rule=_OFFSET_RULE),
            }
        elif from_time is not None:
            options = {
                "deliver_policy": DeliverPolicy.BY_START_TIME,
                "opt_start_time": datetime.fromtimestamp(from_time, UTC),
            }
        config = reader_config(self._prefix + topic, **options)
        # With a retention, events can expire while they are read: lingering pulls then,
        # since nats-server 2.9 leaves a no_wait pull for a vanished message unanswered.
        patience = 0.0 if self._retention is None else _EXPIRY_PATIENCE
        async for msg in read_stream(
            self._client, self._stream, config, limit=limit, patience=patience
        ):
            yield decode_event(msg, self._prefix)

    @property
    def client(self) -> NatsClient:
        """The shared connection."""
        return self._client

    @property
    def prefix(self) -> str:
        """The subject prefix of every topic (``<ns>.ev.``)."""
        return self._prefix


def _headers(
    topic: str, headers: dict[str, str], ident: str, event_id: str | None
) -> dict[str, str]:
    """Add the event's id (and its dedupe id, when given) to ``headers``; return them."""
    headers[ID_HEADER] = ident
    if event_id is not None:
        headers[MSG_ID_HEADER] = f"{topic}:{event_id}"
    return headers


def _durable(topic: str, group: str) -> str:
    """The durable consumer's name for ``group`` on ``topic`` (a single legal token)."""
    digest = hashlib.sha256(topic.encode()).hexdigest()[:20]
    return f"{group}-{digest}"
