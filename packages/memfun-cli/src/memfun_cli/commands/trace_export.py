"""``memfun trace export``: runs as JSON (``memfun.trace/1``) or to an OpenTelemetry collector."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from memfun_core.config import MemfunConfig, load_config
from memfun_core.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    from memfun_agent.traces import OtlpTarget, RunTrace

__all__ = ["export", "parse_since"]

_FORMATS = ("json", "otlp")
_AGO = re.compile(r"^(\d+)\s*([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_since(text: str, *, now: float | None = None) -> float:
    """Unix time of ``--since``: an age (``30m``, ``12h``, ``7d``, ``2w``) or an ISO date/time.

    Raises:
        ValidationError: Neither form.
    """
    ago = _AGO.match(text.strip().lower())
    if ago:
        return (time.time() if now is None else now) - int(ago[1]) * _UNIT_SECONDS[ago[2]]
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise ValidationError(
            f"--since {text!r} is neither an age nor a date",
            field="since",
            rule="an age such as 30m, 12h, 7d, 2w, or a date such as 2026-11-24T09:30",
        ) from None


async def _gather(
    config: MemfunConfig,
    run_ids: Sequence[str],
    since: float | None,
    limit: int,
    *,
    family: bool,
) -> tuple[list[RunTrace], dict[str, RunTrace]]:
    """The chosen runs (with their stored descendants when ``family``) and every run read."""
    from memfun_agent.traces import TraceStore, trace_family
    from memfun_runtime import RuntimeBuilder

    async with RuntimeBuilder().from_config(config).build() as runtime:
        store = TraceStore(runtime.backend, sinks=())
        chosen: list[RunTrace] = []
        for run_id in run_ids:
            trace = await store.load(run_id)
            if trace is None:
                known = [t.run_id for t in await store.list(limit=200)]
                close = tuple(k for k in known if k.startswith(run_id[:4]))[:3]
                raise NotFoundError("trace", run_id, suggestions=close)
            chosen.append(trace)
        if not run_ids:
            listed = await store.list(limit=limit)
            chosen = [t for t in listed if since is None or t.started_at >= since]
            chosen.sort(key=lambda t: t.started_at)
        if not family:
            return chosen, {t.run_id: t for t in chosen}
        return await trace_family(store, chosen, limit=max(limit, len(chosen)))


def _headers(pairs: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--header")
        out[name.strip()] = value.strip()
    return out


def _target(config: MemfunConfig, endpoint: str | None, headers: dict[str, str]) -> OtlpTarget:
    from memfun_agent.traces import OtlpTarget

    telemetry = config.telemetry
    if endpoint is None:
        configured = OtlpTarget.from_config(config)
        if configured is None:
            raise typer.BadParameter(
                "give the collector's URL (or set [telemetry] endpoint in memfun.toml)",
                param_hint="--endpoint",
            )
        if not headers:
            return configured
        return OtlpTarget.create(
            configured.endpoint,
            {**telemetry.headers, **headers},
            timeout_seconds=telemetry.timeout_seconds,
            content=telemetry.content,
        )
    return OtlpTarget.create(
        endpoint,
        headers,
        timeout_seconds=telemetry.timeout_seconds,
        content=telemetry.content,
        key="--header",
    )


def export(
    run_ids: Annotated[
        list[str] | None, typer.Argument(help="Run ids (from `memfun trace list`).")
    ] = None,
    all_runs: Annotated[bool, typer.Option("--all", help="Every stored run.")] = False,
    since: Annotated[
        str | None,
        typer.Option(help="Runs started since an age (30m, 12h, 7d) or a date (2026-11-24)."),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="json (memfun.trace/1) or otlp.")
    ] = "json",
    endpoint: Annotated[
        str | None,
        typer.Option(help="OTLP/HTTP traces URL (default: [telemetry] endpoint)."),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option(help="NAME=VALUE request header (repeatable); secrets as ${VAR}."),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many runs with --all/--since.")] = 1000,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="JSON file to write (default: stdout).")
    ] = None,
) -> None:
    """Export runs as JSON (schema memfun.trace/1) or as OpenTelemetry traces (--format otlp).

    With --format otlp each run becomes an invoke_agent span with its steps, chat (model)
    and execute_tool spans (GenAI semantic conventions), its delegated and orchestrated
    child runs nested under it, sent in one request to the collector (Jaeger, Phoenix,
    Langfuse, an OpenTelemetry Collector...). One JSON run prints as a document, several
    as JSON Lines.
    """
    ids = list(run_ids or [])
    if fmt not in _FORMATS:
        raise typer.BadParameter(f"{fmt!r}: choose json or otlp", param_hint="--format")
    if bool(ids) == (all_runs or since is not None):
        raise typer.BadParameter("give run ids, or --all / --since", param_hint="RUN_IDS")
    if fmt == "json" and (endpoint or header):
        raise typer.BadParameter("only with --format otlp", param_hint="--endpoint/--header")
    config = load_config()
    after = parse_since(since) if since is not None else None
    if fmt == "json":
        traces, _ = asyncio.run(_gather(config, ids, after, limit, family=False))
        _write_json(traces, single=len(ids) == 1, output=output)
        return
    target = _target(config, endpoint, _headers(header or []))
    traces, known = asyncio.run(_gather(config, ids, after, limit, family=True))
    if not traces:
        typer.echo("no runs to export")
        return
    from memfun_agent.traces import send_traces
    from memfun_core.secrets import redact_url

    spans = send_traces(traces, target, known=known)
    typer.echo(f"exported {len(traces)} run(s) as {spans} span(s) to {redact_url(target.endpoint)}")


def _write_json(traces: Sequence[RunTrace], *, single: bool, output: Path | None) -> None:
    if single:
        text = json.dumps(traces[0].to_json(), indent=2) + "\n"
    else:
        text = "".join(json.dumps(t.to_json()) + "\n" for t in traces)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)
