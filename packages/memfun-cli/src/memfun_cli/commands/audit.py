"""``memfun audit``: read, verify and export the project's hash-chained audit trail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from memfun_core.config import MemfunConfig, load_config
from memfun_core.errors import NotFoundError

if TYPE_CHECKING:
    from memfun_core.audit import AuditLog

app = typer.Typer(
    name="audit",
    help="The audit trail (.memfun/audit.jsonl): tool calls, permission decisions, MCP requests.",
    no_args_is_help=True,
)


def project_audit_log(config: MemfunConfig) -> AuditLog:
    """The audit trail of the configured project (``<data dir>/audit.jsonl``)."""
    from memfun_cli._compose import data_dir
    from memfun_core.audit import AUDIT_FILE, AuditLog, audit_witness_dir

    return AuditLog(data_dir(config) / AUDIT_FILE, witness_dir=audit_witness_dir())


def _summary(data: dict[str, Any]) -> str:
    return ", ".join(f"{key}={json.dumps(value)}" for key, value in data.items())[:160]


@app.command("list")
def list_entries(
    kind: Annotated[str | None, typer.Option(help="Only entries of this kind.")] = None,
    last: Annotated[int, typer.Option(help="Show the last N entries (0: all).")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON Lines.")] = False,
) -> None:
    """List entries: number, time, kind and a one-line summary."""
    entries = [e for e in project_audit_log(load_config()).entries() if kind in (None, e.kind)]
    for entry in entries[-last:] if last > 0 else entries:
        if as_json:
            typer.echo(json.dumps(entry.to_json()))
        else:
            typer.echo(f"{entry.seq:>6}  {entry.ts}  {entry.kind:<16}  {_summary(entry.data)}")


@app.command("show")
def show(seq: Annotated[int, typer.Argument(help="The entry's number (from `list`).")]) -> None:
    """Print one entry as JSON."""
    for entry in project_audit_log(load_config()).entries():
        if entry.seq == seq:
            typer.echo(json.dumps(entry.to_json(), indent=2))
            return
    raise NotFoundError("audit entry", str(seq), hint="see `memfun audit list`")


@app.command("verify")
def verify(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Check the hash chain: an edited, removed or reordered entry is reported (exit 1).

    A trail cut at its end, deleted, or rewritten whole with new hashes is reported too: each
    append records the newest entry outside the repository (``audit/`` beside your config).
    """
    log = project_audit_log(load_config())
    report = log.verify()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "file": str(log.path),
                    "ok": report.ok,
                    "entries": report.entries,
                    "head": report.head,
                    "problems": [{"line": p.line, "reason": p.reason} for p in report.problems],
                },
                indent=2,
            )
        )
    elif report.ok:
        typer.echo(f"ok: {report.entries} entries in {log.path}, head {report.head}")
    else:
        for problem in report.problems:
            typer.echo(f"{log.path}:{problem.line}: {problem.reason}", err=True)
        typer.echo(f"NOT OK: {len(report.problems)} problem(s) in {report.entries} entries")
    raise typer.Exit(0 if report.ok else 1)


@app.command("export")
def export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Export the trail and its verification as one JSON object (for a SIEM or an archive)."""
    log = project_audit_log(load_config())
    report = log.verify()
    entries = [entry.to_json() for entry in log.entries()]
    document: dict[str, Any] = {
        "file": str(log.path),
        "verified": report.ok,
        "head": report.head,
        "problems": [{"line": p.line, "reason": p.reason} for p in report.problems],
        "entries": entries,
    }
    text = json.dumps(document, indent=2)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"exported {len(entries)} entries to {output}", err=True)
