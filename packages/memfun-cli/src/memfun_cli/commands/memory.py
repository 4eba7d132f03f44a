"""``memfun memory``: the learnings in ``MEMORY.md`` (project and user) and their index.

The project's file is ``.memfun/MEMORY.md`` (under ``[runtime] data_dir``), the user's
``~/.memfun/MEMORY.md``; both are plain Markdown to edit by hand. Chat's ``/memory``,
``/remember`` and ``/forget`` use the functions here.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from memfun_core.config import MemfunConfig, load_config

if TYPE_CHECKING:
    from rich.console import Console

    from memfun_optimizer.memory import Kind, Learning, MemoryStore, Scope

__all__ = ["app", "forget_text", "memory_row", "memory_table", "open_store", "remember_text"]

app = typer.Typer(
    name="memory",
    help=(
        "Persistent memory: learnings in .memfun/MEMORY.md (project) and ~/.memfun/MEMORY.md "
        "(user), searched with BM25. Runs get the relevant ones when [memory] enabled = true."
    ),
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def open_store(config: MemfunConfig, *, fresh: bool = False) -> MemoryStore:
    """The project's and the user's memory (index under the project's data folder)."""
    from memfun_optimizer.memory import MemoryStore

    return MemoryStore.for_config(config, fresh=fresh)


def memory_row(learning: Learning, score: float | None = None) -> dict[str, Any]:
    """A learning as the documented JSON row (id, kind, scope, text, signed, score)."""
    row: dict[str, Any] = {
        "id": learning.id,
        "kind": learning.kind,
        "scope": learning.scope,
        "text": learning.text,
        "signed": learning.signed,
    }
    if score is not None:
        row["score"] = round(score, 6)
    return row


def memory_table(rows: list[dict[str, Any]], title: str, console: Console) -> None:
    """Print learnings (``_row`` objects) as a table, or say there are none."""
    from rich.table import Table
    from rich.text import Text

    if not rows:
        console.print(f"{title}: none", highlight=False)
        return
    table = Table(title=title, title_justify="left")
    for column in ("id", "kind", "scope", "text"):
        table.add_column(column, overflow="fold")
    unsigned = 0
    for row in rows:
        text = row["text"]
        if row["scope"] == "project" and not row["signed"]:
            unsigned += 1
            text = f"[unsigned: not recalled] {text}"
        table.add_row(*(Text(cell) for cell in (row["id"], row["kind"], row["scope"], text)))
    console.print(table)
    if unsigned:
        console.print(
            f"{unsigned} project learning(s) are unsigned (from the repository or typed by "
            "hand): runs do not recall them until you check them and run `memfun memory sign`.",
            highlight=False,
            markup=False,
        )


def remember_text(
    config: MemfunConfig, text: str, *, kind: str = "fact", user: bool = False
) -> tuple[Learning, bool]:
    """Add a learning to the project's (or the user's) ``MEMORY.md``; ``(learning, new)``."""
    scope: Scope = "user" if user else "project"
    with open_store(config) as store:
        return store.add(text, kind=cast("Kind", kind), scope=scope)


def forget_text(config: MemfunConfig, ident: str) -> list[Learning]:
    """Remove the learning ``ident`` from its file and the index; return what was removed."""
    with open_store(config) as store:
        return store.forget(ident)


def _emit(data: dict[str, Any], as_json: bool, title: str) -> None:
    from rich.console import Console

    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    memory_table(data["learnings"], title, Console())


@app.command("list")
def list_memory(
    scope: Annotated[
        str | None, typer.Option(help="Only this scope: project or user.", show_default=False)
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List every learning: id, kind, scope, text (project first, in file order)."""
    config = load_config()
    with open_store(config) as store:
        learnings = store.list(cast("Scope | None", scope))
        files = {name: str(path) for name, path in store.files.items()}
    _emit(
        {"files": files, "learnings": [memory_row(learning) for learning in learnings]},
        as_json,
        "Memory (" + ", ".join(files.values()) + ")",
    )


@app.command("search")
def search_memory(
    query: Annotated[str, typer.Argument(help="Words to look for.")],
    limit: Annotated[int, typer.Option(help="At most this many, best first.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """Search the learnings with BM25 (what a run on QUERY would be given first)."""
    config = load_config()
    with open_store(config) as store:
        hits = store.search(query, limit=limit)
    rows = [memory_row(hit.learning, hit.score) for hit in hits]
    _emit({"query": query, "learnings": rows}, as_json, f"Memory matching {query!r}")


@app.command("add")
def add_memory(
    text: Annotated[str, typer.Argument(help="The learning, one sentence.")],
    kind: Annotated[str, typer.Option(help="worked, fact or preference.")] = "fact",
    user: Annotated[
        bool, typer.Option("--user", help="Into ~/.memfun/MEMORY.md (every project).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Remember TEXT (not added again when the same text, normalised, is stored)."""
    learning, new = remember_text(load_config(), text, kind=kind, user=user)
    if as_json:
        typer.echo(json.dumps({"added": new, "learning": memory_row(learning)}, indent=2))
        return
    verb = "remembered" if new else "already remembered"
    typer.echo(f"{verb} [{learning.kind}] {learning.text} (id {learning.id}, {learning.scope})")


@app.command("forget")
def forget_memory(
    ident: Annotated[str, typer.Argument(metavar="ID", help="The learning's id.")],
    as_json: JsonOption = False,
) -> None:
    """Remove learning ID from its MEMORY.md and from the index."""
    removed = forget_text(load_config(), ident)
    if as_json:
        typer.echo(
            json.dumps({"removed": [memory_row(learning) for learning in removed]}, indent=2)
        )
        return
    for learning in removed:
        typer.echo(f"forgot {learning.id} ({learning.scope}): {learning.text}")


@app.command("sign")
def sign_memory(
    idents: Annotated[
        list[str] | None,
        typer.Argument(metavar="ID", help="The unsigned learnings to sign.", show_default=False),
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Sign every unsigned learning of the project.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Accept the project's unsigned learnings so that runs recall them.

    Memfun signs what it writes into .memfun/MEMORY.md with a key in your config folder; a
    learning without a valid signature came with the repository or was typed by hand, and is
    not recalled until you sign it. Without ID or --all, lists the unsigned ones.
    """
    config = load_config()
    with open_store(config) as store:
        if not idents and not all_:
            pending = [
                memory_row(learning) for learning in store.list("project") if not learning.signed
            ]
            if as_json:
                typer.echo(json.dumps({"unsigned": pending}, indent=2))
                return
            if not pending:
                typer.echo("every project learning is signed")
                return
            for row in pending:
                typer.echo(f"{row['id']} [{row['kind']}] {row['text']}")
            typer.echo("sign them with `memfun memory sign ID...` or `--all` once checked")
            return
        signed = store.sign(tuple(idents or ()))
    if as_json:
        typer.echo(json.dumps({"signed": [memory_row(learning) for learning in signed]}, indent=2))
        return
    for learning in signed:
        typer.echo(f"signed {learning.id}: {learning.text}")
    if not signed:
        typer.echo("every project learning is signed")


@app.command("rebuild")
def rebuild_memory(as_json: JsonOption = False) -> None:
    """Recreate the index from the MEMORY.md files (after damage, or to be sure)."""
    config = load_config()
    with open_store(config, fresh=True) as store:
        count = store.rebuild()
        index = str(store.index_path)
    if as_json:
        typer.echo(json.dumps({"learnings": count, "index": index}, indent=2))
        return
    typer.echo(f"indexed {count} learnings into {index}")
