"""Sending run traces to an OTLP/HTTP endpoint with the OpenTelemetry SDK (extra ``otel``)."""

from __future__ import annotations

import logging
import threading
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from types import ModuleType
from typing import Any

from memfun_agent.traces._spans import SpanSpec, tree_spans
from memfun_agent.traces._trace import RunTrace
from memfun_core._extras import import_extra
from memfun_core.config import (
    PROJECT_FILE,
    MemfunConfig,
    check_otlp_endpoint,
    check_otlp_header,
    expand_env_refs,
)
from memfun_core.errors import BackendError, ConfigError, PermissionDeniedError
from memfun_core.secrets import redact_url

__all__ = ["OtlpTarget", "send_traces", "traces_url"]

_SCOPE = "memfun_agent.traces"
_FEATURE = "OpenTelemetry export of traces"
#: The exporter logs why an export failed; the lock keeps two exports' messages apart.
_EXPORTER_LOGGER = "opentelemetry.exporter.otlp.proto.http.trace_exporter"
_capture_lock = threading.Lock()


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL: ``endpoint`` as given, or with ``/v1/traces`` when it has no path.

    Raises:
        ConfigError: Not an http(s) URL with a host, or it carries credentials.
    """
    url = check_otlp_endpoint(endpoint.strip())
    scheme, rest = url.split("://", 1)
    if "/" not in rest.rstrip("/") and "?" not in rest:
        return f"{scheme}://{rest.rstrip('/')}/v1/traces"
    return url


@dataclass(frozen=True, slots=True)
class OtlpTarget:
    """Where and how run traces are exported.

    Attributes:
        endpoint: The OTLP/HTTP traces URL.
        headers: Request headers, environment references already resolved (secrets: never
            logged, never part of an error message).
        timeout_seconds: How long one export request may take (retries included).
        content: Whether spans carry the runs' text (see ``[telemetry] content``).
    """

    endpoint: str
    headers: Mapping[str, str] = field(default_factory=dict[str, str], repr=False)
    timeout_seconds: float = 10.0
    content: bool = True

    @classmethod
    def create(
        cls,
        endpoint: str,
        headers: Mapping[str, str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        timeout_seconds: float = 10.0,
        content: bool = True,
        key: str = "telemetry.headers",
    ) -> OtlpTarget:
        """Check ``endpoint`` and ``headers`` and resolve the ``${NAME}`` references.

        Raises:
            ConfigError: A bad URL, header, or a reference to an unset variable.
        """
        raw = dict(headers or {})
        for name, value in raw.items():
            check_otlp_header(name, value, key=key)
        return cls(
            endpoint=traces_url(endpoint),
            headers=expand_env_refs(raw, environ, key=key),
            timeout_seconds=timeout_seconds,
            content=content,
        )

    @classmethod
    def from_config(
        cls, config: MemfunConfig, environ: Mapping[str, str] | None = None
    ) -> OtlpTarget | None:
        """The ``[telemetry]`` target (``None`` without an endpoint).

        Raises:
            PermissionDeniedError: The project's own ``memfun.toml`` sets ``[telemetry]``
                and the folder is not trusted: a repository must not send the user's runs
                (tasks, code, outputs) wherever it likes.
            ConfigError: A header references an unset variable.
        """
        telemetry = config.telemetry
        if telemetry.endpoint is None:
            return None
        _check_project_trust(config, environ)
        return cls.create(
            telemetry.endpoint,
            telemetry.headers,
            environ=environ,
            timeout_seconds=telemetry.timeout_seconds,
            content=telemetry.content,
        )


def _check_project_trust(config: MemfunConfig, environ: Mapping[str, str] | None) -> None:
    project = Path(config.project_root) / PROJECT_FILE
    if str(project) not in config.sources:
        return
    try:
        data = tomllib.loads(project.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the file: {exc}", source=str(project)) from None
    if "telemetry" not in data:
        return
    from memfun_core.trust import workspace_trust

    state = workspace_trust(config.project_root, environ)
    if not state.trusted:
        raise PermissionDeniedError(
            "export traces to the [telemetry] endpoint of the project's memfun.toml",
            state.reason or "the folder is not trusted",
            hint=state.hint + " (or set [telemetry] in your own ~/.config/memfun/config.toml)",
        )


def _modules() -> dict[str, ModuleType]:
    names = {
        "trace": "opentelemetry.trace",
        "sdk": "opentelemetry.sdk.trace",
        "memory": "opentelemetry.sdk.trace.export.in_memory_span_exporter",
        "export": "opentelemetry.sdk.trace.export",
        "resources": "opentelemetry.sdk.resources",
        "otlp": "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    }
    return {
        key: import_extra(module, package="memfun-agent", extra="otel", feature=_FEATURE)
        for key, module in names.items()
    }


class _FixedIds:
    """Hands the SDK the span (and trace) id that the next span must have."""

    def __init__(self) -> None:
        self.span_id = 0
        self.trace_id = 0

    def generate_span_id(self) -> int:
        return self.span_id

    def generate_trace_id(self) -> int:
        return self.trace_id

    def is_trace_id_random(self) -> bool:
        return False


def _sdk_spans(groups: Sequence[tuple[int, list[SpanSpec]]]) -> list[Any]:
    """Build SDK spans with the given ids and recorded times (nothing is sent here)."""
    otel = _modules()
    trace_api, sdk = otel["trace"], otel["sdk"]
    resource = otel["resources"].Resource.create(
        {"service.name": "memfun", "service.version": version("memfun-agent")}
    )
    collected = otel["memory"].InMemorySpanExporter()
    ids = _FixedIds()
    provider = sdk.TracerProvider(
        resource=resource,
        id_generator=ids,
        shutdown_on_exit=False,
        span_limits=sdk.SpanLimits(max_span_attributes=256, max_events=100_000),
    )
    provider.add_span_processor(otel["export"].SimpleSpanProcessor(collected))
    tracer = provider.get_tracer(_SCOPE, version("memfun-agent"))
    kinds = {"internal": trace_api.SpanKind.INTERNAL, "client": trace_api.SpanKind.CLIENT}
    for trace_id, specs in groups:
        for spec in specs:
            ids.span_id, ids.trace_id = spec.span_id, trace_id
            context = None
            if spec.parent_id is not None:
                parent = trace_api.SpanContext(
                    trace_id,
                    spec.parent_id,
                    True,
                    trace_api.TraceFlags(trace_api.TraceFlags.SAMPLED),
                )
                context = trace_api.set_span_in_context(trace_api.NonRecordingSpan(parent))
            span = tracer.start_span(
                spec.name,
                context=context,
                kind=kinds[spec.kind],
                attributes=dict(spec.attributes),
                start_time=_ns(spec.start),
            )
            for event in spec.events:
                span.add_event(event.name, dict(event.attributes), timestamp=_ns(event.time))
            if spec.error is not None:
                span.set_status(trace_api.Status(trace_api.StatusCode.ERROR, spec.error))
            span.end(end_time=_ns(max(spec.end, spec.start)))
    provider.shutdown()
    return list(collected.get_finished_spans())


def _ns(seconds: float) -> int:
    return round(seconds * 1_000_000_000)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def send_traces(
    traces: Sequence[RunTrace],
    target: OtlpTarget,
    *,
    known: Mapping[str, RunTrace] | None = None,
) -> int:
    """Export ``traces`` as OpenTelemetry spans in one OTLP/HTTP request.

    Args:
        traces: The runs to send (each with its steps, model and tool calls).
        target: Where to.
        known: Runs read besides ``traces`` (their ancestors), by id: where each run hangs.

    Returns:
        How many spans were sent.

    Raises:
        MissingExtraError: ``memfun-agent[otel]`` is not installed.
        BackendError: The endpoint could not be reached or refused the spans.
    """
    everything = {**(known or {}), **{t.run_id: t for t in traces}}
    spans = _sdk_spans(tree_spans(traces, everything, content=target.content))
    if not spans:
        return 0
    exporter = _modules()["otlp"].OTLPSpanExporter(
        endpoint=target.endpoint, headers=dict(target.headers), timeout=target.timeout_seconds
    )
    logger = logging.getLogger(_EXPORTER_LOGGER)
    capture = _Capture()
    with _capture_lock:
        logger.addHandler(capture)
        propagate, logger.propagate = logger.propagate, False
        try:
            result = exporter.export(spans)
        finally:
            logger.propagate = propagate
            logger.removeHandler(capture)
            exporter.shutdown()
    if result.name != "SUCCESS":
        why = "; ".join(capture.messages) or "the export failed"
        raise BackendError(
            f"the OTLP endpoint {redact_url(target.endpoint)} did not take {len(spans)} "
            f"span(s): {why}",
            backend="otlp",
            hint="check that the collector runs and listens for OTLP/HTTP at that URL "
            "(often :4318/v1/traces), and its credentials ([telemetry] headers)",
        )
    return len(spans)
