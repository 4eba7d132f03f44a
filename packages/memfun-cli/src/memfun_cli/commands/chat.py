"""``memfun chat``: an interactive session with the agent, persisted in the SessionStore.

Every turn runs the agent with the conversation so far as the REPL variable
``conversation`` (never pasted into the prompt), in the chat's turn process
(:mod:`memfun_cli._chat_turn`) so that Ctrl-C cancels just that turn; its progress is shown
as it happens and each edit is shown as a diff and applied only when the user says yes
(unless ``--yes``). prompt_toolkit and the agent are imported inside the command.
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import typer

from memfun_core.config import MemfunConfig, load_config
from memfun_core.errors import MemfunError, UserError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from rich.console import Console

    from memfun_cli._chat_turn import TurnRunner
    from memfun_runtime.protocols import SessionSnapshot
    from memfun_skills import SkillCatalog

__all__ = ["chat"]

COMMANDS: dict[str, str] = {
    "/help": "show this help",
    "/skills": "list the skills; run one with /NAME [arguments]",
    "/agents": "list the agents; run one for a turn with @NAME MESSAGE",
    "/model": "show the configured model",
    "/cost": "tokens, model calls and cost of this session",
    "/clear": "start a new conversation (the current one stays stored)",
    "/save": "write the conversation as Markdown: /save [FILE]",
    "/resume": "switch to a stored session: /resume [ID] (default: the latest)",
    "/undo": "undo the file changes of the last turn (or of a run: /undo RUN)",
    "/memory": "list the learnings in MEMORY.md, or search them: /memory [WORDS]",
    "/remember": "keep a learning for later runs: /remember TEXT",
    "/forget": "remove a learning from MEMORY.md and its index: /forget ID",
    "/exit": "leave the chat (Ctrl-D does too)",
}
_KEYS = (
    "Enter sends, Esc then Enter starts a new line, Tab completes commands, skills and paths, "
    "Ctrl-C cancels a running turn."
)


@dataclass
class ChatState:
    """The conversation in progress."""

    config: MemfunConfig
    catalog: SkillCatalog
    console: Console
    yes: bool
    runner: TurnRunner
    auto_skills: bool = True
    session_id: str | None = None
    turns: list[tuple[str, str, dict[str, Any]]] = field(
        default_factory=list[tuple[str, str, dict[str, Any]]]
    )

    def conversation(self) -> str:
        """The conversation so far as text (the agent's ``conversation`` variable)."""
        names = {"user": "User", "assistant": "Assistant"}
        return "\n\n".join(f"{names.get(role, role)}: {text}" for role, text, _ in self.turns)


def _show_turns(state: ChatState) -> None:
    for role, text, _ in state.turns:
        who = "you" if role == "user" else "memfun"
        state.console.print(f"[bold]{who}:[/] {text}", highlight=False, markup=True)


def _restore(state: ChatState, snapshot: SessionSnapshot) -> None:
    state.session_id = snapshot.session.id
    state.turns = [(t.role, str(t.content), dict(t.metadata)) for t in snapshot.turns]
    state.console.print(
        f"[dim]resumed session {snapshot.session.id} ({len(snapshot.turns)} turns)[/]"
    )
    _show_turns(state)


def _cost(state: ChatState) -> None:
    tokens = calls = 0
    cost = 0.0
    for _, _, meta in state.turns:
        usage: dict[str, Any] = meta.get("usage") or {}
        tokens += int(usage.get("input_tokens", 0)) + int(usage.get("output_tokens", 0))
        calls += int(usage.get("lm_calls", 0)) + int(usage.get("sub_lm_calls", 0))
        cost += float(usage.get("cost_usd", 0.0))
    state.console.print(
        f"session {state.session_id or '(not saved yet)'}: {calls} model calls, "
        f"{tokens} tokens, ${cost:.4f}",
        highlight=False,
    )


def _save(state: ChatState, argument: str) -> None:
    from pathlib import Path

    from memfun_cli._compose import data_dir

    if not state.turns:
        state.console.print("nothing to save yet")
        return
    name = f"chat-{state.session_id}.md"
    target = Path(argument) if argument else data_dir(state.config) / "chats" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    body = "\n\n".join(
        f"## {'You' if role == 'user' else 'Memfun'}\n\n{text}" for role, text, _ in state.turns
    )
    target.write_text(f"# Chat {state.session_id}\n\n{body}\n", encoding="utf-8")
    state.console.print(f"saved {target} (turns are also stored in session {state.session_id})")


def _help(state: ChatState) -> None:
    for name, text in COMMANDS.items():
        state.console.print(f"  {name:<9} {text}", highlight=False, markup=False)
    state.console.print("  /NAME     run the skill NAME (see /skills)", markup=False)
    state.console.print(_KEYS, highlight=False)


def _skills(state: ChatState) -> None:
    for skill in state.catalog.skills:
        summary = skill.description.split(". ")[0].strip()[:80]
        state.console.print(f"  /{skill.name}  {summary}", highlight=False, markup=False)


def _ask_yes_no(question: str) -> bool:
    """Ask with prompt_toolkit, like the chat's own prompt (default: no).

    In its raw mode Ctrl-C is a key, so it cancels whatever the signal handlers of the
    process happen to be; Ctrl-C raises ``KeyboardInterrupt``, Ctrl-D ``EOFError``.
    """
    from prompt_toolkit import prompt

    while True:
        answer = prompt(f"{question} [y/N]: ").strip().lower()
        if answer in ("y", "yes"):
            return True
        if answer in ("", "n", "no"):
            return False


def _confirm(state: ChatState, event: Mapping[str, Any]) -> bool:
    """Show an edit the agent wants to make and ask whether to apply it."""
    from memfun_cli.commands.tasks import confirm_tool

    tool = str(event.get("tool", "?"))
    if event.get("error"):
        state.console.print(
            f"[yellow]{tool} {event.get('path') or ''} would fail:[/] {event['error']}",
            highlight=False,
        )
    try:
        arguments: Mapping[str, Any] = event.get("arguments") or {}
        return confirm_tool(tool, arguments, str(event.get("diff") or ""), ask=_ask_yes_no)
    except EOFError:  # Ctrl-D at the question: cancel the turn, as Ctrl-C does
        raise KeyboardInterrupt from None


def _turn(
    state: ChatState,
    message: str,
    skill: str | None = None,
    args: str = "",
    agent: str | None = None,
) -> None:
    from memfun_cli._chat_sessions import append_turns, create_session
    from memfun_cli._chat_turn import TurnRequest
    from memfun_cli._progress import ProgressPrinter
    from memfun_cli.commands.tasks import render_result

    task = message
    if skill is not None:  # runs through the skill executor in the turn process
        skill = state.catalog.require(skill).name
        task = f"Use the {skill} skill" + (f": {args}" if args else ".")
    if agent is not None:  # @NAME MESSAGE: the agent gets the message
        task = args
    if state.turns:
        task += "\n\n(The conversation so far is in the REPL variable `conversation`.)"
    metadata: dict[str, Any] = {"session": state.session_id or "", "skill": skill or ""}
    request = TurnRequest(
        task,
        state.conversation(),
        skill or "",
        metadata,
        state.yes,
        agent=agent or "",
        skill_arguments=args if skill is not None else "",
        auto_skills=state.auto_skills,
    )
    progress = ProgressPrinter(state.console)
    result = state.runner.run(
        request, on_progress=progress.show, confirm=lambda event: _confirm(state, event)
    )
    if result is None:
        state.console.print("[yellow]turn cancelled[/] (the session continues)")
        return
    render_result(result, state.console)
    answer = str(result.get("answer") or result.get("summary") or "")
    if state.session_id is None:
        state.session_id = create_session(state.config, message)
    new = [
        ("user", message, {"skill": skill} if skill else {"agent": agent} if agent else {}),
        ("assistant", answer, {"run_id": result.get("run_id", ""),
                               "outcome": result.get("outcome", ""),
                               "usage": result.get("usage", {}),
                               "changed_files": result.get("changed_files", [])}),
    ]  # fmt: skip
    append_turns(state.config, state.session_id, new)
    state.turns.extend(new)


def _resume(state: ChatState, argument: str) -> None:
    from memfun_cli._chat_sessions import load_session

    _restore(state, load_session(state.config, argument or None))


def _undo(state: ChatState, argument: str) -> None:
    from memfun_cli.commands.undo import show_undo
    from memfun_core.errors import MemfunError

    try:
        state.console.print(show_undo(argument or None), highlight=False, markup=False)
    except MemfunError as error:  # the chat stays open
        hint = f"\n  hint: {error.hint}" if error.hint else ""
        state.console.print(f"undo: {error.message}{hint}", highlight=False, markup=False)


def _slash(state: ChatState, line: str) -> bool:
    """Handle a slash command; return ``False`` when the chat should end."""
    name, _, argument = line.partition(" ")
    argument = argument.strip()
    simple = {"/help": _help, "/skills": _skills, "/cost": _cost}
    if name in ("/exit", "/quit"):
        return False
    if name in simple:
        simple[name](state)
    elif name == "/model":
        state.console.print(f"model: {state.config.llm.model or '(none configured)'}")
    elif name == "/clear":
        state.session_id, state.turns = None, []
        state.console.print("new conversation")
    elif name == "/save":
        _save(state, argument)
    elif name == "/resume":
        _resume(state, argument)
    elif name == "/agents":
        from memfun_cli._chat_agents import show_agents

        show_agents(state.config, state.console)
    elif name == "/undo":
        _undo(state, argument)
    elif name in ("/memory", "/remember", "/forget"):
        from memfun_cli._chat_memory import memory_command

        memory_command(state.config, state.console, name, argument)
    elif state.catalog.get(name[1:]) is not None:
        _turn(state, line, skill=name[1:], args=argument)
    else:
        known = [*COMMANDS, *(f"/{s.name}" for s in state.catalog.skills)]
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" — did you mean {', '.join(close)}?" if close else " — /help lists them"
        state.console.print(f"unknown command {name}{hint}", highlight=False, markup=False)
    return True


def _agent_names(state: ChatState) -> tuple[str, ...]:
    from memfun_cli._chat_agents import catalog

    return catalog(state.config).names


def _mention(state: ChatState, line: str) -> tuple[str, str] | None:
    """``(agent, message)`` for a line starting with ``@NAME``, else ``None``.

    An unknown agent or a missing message is reported here and comes back with an empty
    message: nothing runs.
    """
    from memfun_cli._chat_agents import agent_mention, unknown_agent

    mention = agent_mention(line)
    if mention is None:
        return None
    name, message = mention
    if name not in _agent_names(state):
        state.console.print(unknown_agent(state.config, name), highlight=False, markup=False)
        return (name, "")
    if not message:
        state.console.print(f"say what @{name} should do: @{name} MESSAGE", markup=False)
    return mention


def _loop(state: ChatState) -> None:
    from memfun_cli._chat_prompt import make_prompt
    from memfun_cli._compose import data_dir

    names = [*COMMANDS, "/quit", *(f"/{s.name}" for s in state.catalog.skills)]
    names += [f"@{name}" for name in _agent_names(state)]
    prompt = make_prompt(data_dir(state.config) / "chat_history", names)
    while True:
        try:
            line = prompt.prompt("memfun> ").strip()
        except KeyboardInterrupt:
            continue  # Ctrl-C at the prompt clears the line
        except EOFError:
            return
        if not line:
            continue
        try:
            if line.startswith("/"):
                if not _slash(state, line):
                    return
            elif (mention := _mention(state, line)) is not None:
                if mention[1]:
                    _turn(state, line, args=mention[1], agent=mention[0])
            else:
                _turn(state, line)
        except KeyboardInterrupt:  # between the turn and its storage: the turn is dropped
            state.console.print("[yellow]cancelled[/]")
        except MemfunError as error:
            state.console.print(f"[bold red]error:[/] {error.message}", highlight=False)
            if error.hint:
                state.console.print(f"[dim]hint:[/] {error.hint}", highlight=False)


def chat(
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Resume a stored session (the latest when no ID is given)."),
    ] = False,
    session_id: Annotated[
        str | None, typer.Argument(metavar="[ID]", help="The session to resume (with --resume).")
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Apply the agent's edits without asking.")
    ] = False,
    no_skills: Annotated[
        bool,
        typer.Option(
            "--no-skills", help="Do not activate the skill whose description matches a message."
        ),
    ] = False,
) -> None:
    """Chat with the agent about this project; sessions are stored and resumable.

    Each edit the agent wants to make is shown as a diff and applied only if you say yes
    (with --yes, without asking).
    """
    from rich.console import Console

    from memfun_cli._chat_sessions import load_session
    from memfun_cli._chat_trust import offer_trust
    from memfun_cli._chat_turn import TurnRunner
    from memfun_cli._errors import cli_state
    from memfun_cli.commands.tasks import require_model
    from memfun_skills import discover_from_config

    if session_id is not None and not resume:
        raise UserError(f"unexpected argument {session_id!r}", hint="use --resume ID")
    if not sys.stdin.isatty():
        raise UserError("memfun chat needs a terminal", hint='use `memfun ask "..."` in scripts')
    config = load_config()
    require_model(config)
    offer_trust(config, Console(), _ask_yes_no)  # before the skills and agents are found
    runner = TurnRunner(debug=cli_state.debug)
    runner.start()  # imports the agent in the background while the user types
    try:
        state = ChatState(
            config, discover_from_config(config), Console(), yes, runner, auto_skills=not no_skills
        )
        if resume:
            _restore(state, load_session(config, session_id))
        edits = "edits apply without asking (--yes)" if yes else "edits are asked for"
        state.console.print(
            f"memfun chat — model {config.llm.model}, {edits}. /help for commands. {_KEYS}"
        )
        _loop(state)
    finally:
        runner.close()
