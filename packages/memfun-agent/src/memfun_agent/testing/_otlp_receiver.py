"""An OTLP/HTTP trace receiver on 127.0.0.1 (``POST /v1/traces``, protobuf), in a thread.

It decodes each request with OpenTelemetry's own ``ExportTraceServiceRequest`` (extra
``memfun-agent[otel]``), keeps the spans and the request headers, and can answer with an
error status. Tests check what an exporter really sent:

    with otlp_receiver() as collector:
        ...  # export to collector.endpoint
        (run,) = [s for s in collector.spans if s.name.startswith("invoke_agent")]
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from memfun_core._extras import import_extra

__all__ = ["OtlpReceiver", "ReceivedSpan", "otlp_receiver"]

Value = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class ReceivedSpan:
    """One span as the receiver decoded it (ids as lowercase hex, times in Unix ns)."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str
    start_ns: int
    end_ns: int
    attributes: Mapping[str, Value]
    events: tuple[tuple[str, int, Mapping[str, Value]], ...]
    status: str
    status_message: str
    resource: Mapping[str, Value]
    scope: str


@dataclass
class OtlpReceiver:
    """What the receiver got, and how it answers."""

    port: int = 0
    path: str = "/v1/traces"
    answer_status: int = 200
    spans: list[ReceivedSpan] = field(default_factory=list[ReceivedSpan])
    headers: list[dict[str, str]] = field(default_factory=list[dict[str, str]])
    paths: list[str] = field(default_factory=list[str])
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        """The traces URL to export to."""
        return f"http://127.0.0.1:{self.port}{self.path}"

    def named(self, prefix: str) -> list[ReceivedSpan]:
        """The spans whose name starts with ``prefix``."""
        with self.lock:
            return [span for span in self.spans if span.name.startswith(prefix)]


def _value(any_value: Any) -> Value:
    which = any_value.WhichOneof("value")
    return None if which is None else getattr(any_value, which)


def _attributes(items: Any) -> dict[str, Value]:
    return {item.key: _value(item.value) for item in items}


def decode_spans(body: bytes) -> list[ReceivedSpan]:
    """Decode an OTLP/HTTP protobuf body into spans."""
    service = import_extra(
        "opentelemetry.proto.collector.trace.v1.trace_service_pb2",
        package="memfun-agent",
        extra="otel",
        feature="the OTLP test receiver",
    )
    trace_pb = import_extra(
        "opentelemetry.proto.trace.v1.trace_pb2",
        package="memfun-agent",
        extra="otel",
        feature="the OTLP test receiver",
    )
    request = service.ExportTraceServiceRequest()
    request.ParseFromString(body)
    found: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                found.append(
                    ReceivedSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        name=span.name,
                        kind=trace_pb.Span.SpanKind.Name(span.kind),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        attributes=_attributes(span.attributes),
                        events=tuple(
                            (e.name, e.time_unix_nano, _attributes(e.attributes))
                            for e in span.events
                        ),
                        status=trace_pb.Status.StatusCode.Name(span.status.code),
                        status_message=span.status.message,
                        resource=resource,
                        scope=scope_spans.scope.name,
                    )
                )
    return found


def _handler(receiver: OtlpReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            del format, args

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.lock:
                receiver.paths.append(self.path)
                status = receiver.answer_status if self.path == receiver.path else 404
                if status == HTTPStatus.OK:
                    receiver.headers.append({k.lower(): v for k, v in self.headers.items()})
                    receiver.spans.extend(decode_spans(body))
            self.send_response(status)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


@contextmanager
def otlp_receiver() -> Generator[OtlpReceiver, None, None]:
    """Run a receiver on a free loopback port for the duration of the ``with`` block."""
    receiver = OtlpReceiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    receiver.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
