"""``memfun chat`` in a real pseudo-terminal, against a fake OpenAI-compatible server.

Only the model is scripted: the chat, the prompt, the agent, the sandbox and the SQLite
session store are real. Waits are generous (a loaded 2-core machine) and never assertions.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from memfun_agent.testing import FakeOpenAI, format_fields
from memfun_cli.testing import CALC, TERMINAL_ENV, Terminal, cli_env, memfun, new_project
from memfun_core.trust import trust_folder, workspace_trust

_WAIT = 120.0


@pytest.fixture
def project(tmp_path: Path, model: FakeOpenAI) -> Path:
    # the default tier: SQLite under .memfun/, so sessions outlive the process
    return new_project(tmp_path, model.base, files={"calc.py": CALC}, tier=None)


def _memfun(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``memfun ARGS`` without a terminal, in the terminal's environment."""
    return memfun(project, *args, env=TERMINAL_ENV, timeout=_WAIT)


def _submit(answer: str) -> str:
    return format_fields({"reasoning": "Done.", "code": f"SUBMIT(answer={answer}, summary='s')"})


def test_chat_session_in_a_terminal(project: Path, model: FakeOpenAI) -> None:
    model.replies = [
        _submit("'add() subtracts instead of adding.'"),
        # The second turn reads the earlier conversation from the REPL variable.
        _submit("'earlier: ' + ('subtracts' in conversation and 'seen' or 'missing')"),
        # The third turn is slow (the sandbox sleeps) and gets cancelled with Ctrl-C.
        format_fields({"reasoning": "Wait.", "code": "import time\ntime.sleep(30)\nprint(1)"}),
    ]
    term = Terminal(project, "chat")
    try:
        term.expect(r"memfun>")
        term.send("what does calc.py do?\r")
        term.expect(r"step 1 — Done\. \[150 tokens, \$0\.0000 so far\]")  # live progress
        term.expect(r"add\(\) subtracts instead of adding\.")
        term.expect(r"memfun>")
        term.send("and what did you say?\r")
        term.expect(r"earlier: seen")
        term.expect(r"memfun>")

        term.send("/help\r")
        term.expect(r"/resume\s+switch to a stored session")
        term.expect(r"memfun>")
        term.send("/mod\t")  # Tab completes the command
        term.expect(r"/model")
        term.send("\r")
        term.expect(r"model: openai/test-model")
        term.expect(r"memfun>")
        term.send("/review-c\t")  # skill names complete too
        term.expect(r"/review-code")
        term.send("\x03")  # Ctrl-C at the prompt clears the line
        term.expect(r"memfun>")
        term.send("look at cal\t")  # and file paths
        term.expect(r"calc\.py")
        term.send("\x03")
        term.expect(r"memfun>")

        term.send("wait for it\r")
        # The slow reply's progress shows while its code sleeps: streamed, not printed at the end.
        term.expect(r"step 1 — Wait\. \[150 tokens")
        assert len(model.requests) == 3  # the turn is still running (its code sleeps 30 s)
        term.send("\x03")  # Ctrl-C
        term.expect(r"turn cancelled")
        term.expect(r"memfun>")  # still in the session
        model.replies.append(_submit("'back after the cancel'"))
        term.send("still with me?\r")  # a fresh turn process took over
        term.expect(r"back after the cancel")
        term.expect(r"memfun>")
        term.send("/cost\r")
        term.expect(r"model calls")
        term.expect(r"memfun>")
        term.send("/exit\r")
        assert term.wait() == 0, term.text
    finally:
        term.close()
    assert len(model.requests) == 4
    assert "subtracts" not in json.dumps(model.requests[0])  # no conversation yet
    _stored_and_resumable(project, model)


def _stored_and_resumable(project: Path, model: FakeOpenAI) -> None:
    """The session is listed with its turns, and `chat --resume` restores them."""
    listed = _memfun(project, "sessions", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    sessions = json.loads(listed.stdout)["sessions"]
    assert len(sessions) == 1
    assert sessions[0]["turn_count"] == 6  # three answered turns; the cancelled one is not kept
    assert sessions[0]["title"] == "what does calc.py do?"

    again = Terminal(project, "chat", "--resume")
    try:
        again.expect(rf"resumed session {re.escape(sessions[0]['id'])} \(6 turns\)")
        again.expect(r"you: what does calc.py do\?")
        again.expect(r"memfun: earlier: seen")
        again.expect(r"memfun: back after the cancel")
        again.expect(r"memfun>")
        model.replies.append(
            _submit("'restored: ' + ('subtracts' in conversation and 'yes' or 'no')")
        )
        again.send("still there?\r")
        again.expect(r"restored: yes")  # the resumed turns are the new turn's context
        again.expect(r"memfun>")
        again.send("/skills\r")
        again.expect(r"/review-code")
        again.expect(r"memfun>")
        again.send("/save transcript.md\r")
        again.expect(r"saved transcript\.md")
        again.expect(r"memfun>")
        again.send("\x04")  # Ctrl-D leaves too
        assert again.wait() == 0, again.text
    finally:
        again.close()
    transcript = (project / "transcript.md").read_text(encoding="utf-8")
    assert "what does calc.py do?" in transcript
    assert "restored: yes" in transcript
    relisted = _memfun(project, "sessions", "list", "--json")
    [session] = json.loads(relisted.stdout)["sessions"]
    assert (session["id"], session["turn_count"]) == (sessions[0]["id"], 8)  # same session


_EDIT = format_fields(
    {"reasoning": "Fix the sign.", "code": "fs_edit('calc.py', 'return a - b', 'return a + b')"}
)
_SUBTRACTS = "def add(a, b):\n    return a - b\n"
_ADDS = "def add(a, b):\n    return a + b\n"


def test_chat_shows_each_edit_as_a_diff_and_applies_it_only_on_yes(
    project: Path, model: FakeOpenAI
) -> None:
    calc = project / "calc.py"
    model.replies = [_EDIT, _submit("'left it'"), _EDIT, _EDIT, _submit("'fixed it'")]
    term = Terminal(project, "chat")
    try:
        term.expect(r"edits are asked for")
        term.expect(r"memfun>")
        term.send("fix add\r")
        term.expect(r"-    return a - b\s+\+    return a \+ b")  # the diff, before the question
        term.expect(r"apply this fs_edit\? \[y/N\]")
        assert calc.read_text(encoding="utf-8") == _SUBTRACTS  # nothing applied while asking
        term.send("n\r")
        term.expect(r"tool fs_edit calc\.py — failed: [\s\S]*?declined")  # told no (may wrap)
        term.expect(r"left it")
        term.expect(r"memfun>")
        assert calc.read_text(encoding="utf-8") == _SUBTRACTS

        term.send("fix add, please\r")
        term.expect(r"apply this fs_edit\? \[y/N\]")
        term.send("\x03")  # Ctrl-C at the question cancels the turn
        term.expect(r"turn cancelled")
        term.expect(r"memfun>")
        assert calc.read_text(encoding="utf-8") == _SUBTRACTS

        term.send("fix add now\r")
        term.expect(r"apply this fs_edit\? \[y/N\]")
        term.send("y\r")
        term.expect(r"fixed it")
        term.expect(r"\+    return a \+ b")  # the turn's diff, after the answer
        term.expect(r"memfun>")
        assert calc.read_text(encoding="utf-8") == _ADDS
        term.send("/exit\r")
        assert term.wait() == 0, term.text
    finally:
        term.close()


def test_chat_yes_applies_edits_without_asking(project: Path, model: FakeOpenAI) -> None:
    model.replies = [_EDIT, _submit("'fixed it'")]
    term = Terminal(project, "chat", "--yes")
    try:
        term.expect(r"edits apply without asking")
        term.expect(r"memfun>")
        term.send("fix add\r")
        term.expect(r"tool fs_edit calc\.py")
        term.expect(r"fixed it")
        term.expect(r"\+    return a \+ b")  # the turn's diff, after the answer
        term.expect(r"memfun>")
        term.send("/exit\r")
        assert term.wait() == 0, term.text
    finally:
        term.close()
    assert "apply this" not in term.text
    assert (project / "calc.py").read_text(encoding="utf-8") == _ADDS


def test_undo_in_chat_puts_back_the_last_turns_edit(project: Path, model: FakeOpenAI) -> None:
    model.replies = [_EDIT, _submit("'fixed it'"), _EDIT, _submit("'fixed it again'")]
    term = Terminal(project, "chat", "--yes")
    try:
        term.expect(r"memfun>")
        term.send("fix add\r")
        term.expect(r"fixed it")
        term.expect(r"memfun>")
        assert (project / "calc.py").read_text(encoding="utf-8") == _ADDS
        term.send("/undo\r")
        term.expect(r"restored calc\.py")
        term.expect(r"memfun>")
        assert (project / "calc.py").read_text(encoding="utf-8") == _SUBTRACTS
        term.send("/undo\r")
        term.expect(r"undo: no checkpoint")  # nothing left; the chat stays open
        term.expect(r"memfun>")
        term.send("fix add again\r")
        term.expect(r"fixed it again")
        term.expect(r"memfun>")
        (project / "calc.py").write_text(_ADDS + "# mine\n", encoding="utf-8")
        term.send("/undo\r")
        term.expect(r"undo: calc\.py changed since run")
        term.expect(r"memfun>")
        term.send("/exit\r")
        assert term.wait() == 0, term.text
    finally:
        term.close()
    assert (project / "calc.py").read_text(encoding="utf-8") == _ADDS + "# mine\n"


def test_chat_needs_a_terminal_and_a_session_to_resume(project: Path) -> None:
    piped = _memfun(project, "chat")
    assert piped.returncode == 2
    assert "needs a terminal" in piped.stderr
    term = Terminal(project, "chat", "--resume")
    try:
        assert term.wait() == 2
        assert "no chat session to resume" in term.text
    finally:
        term.close()
    missing = Terminal(project, "chat", "--resume", "nope")
    try:
        assert missing.wait() == 2
        assert "no session named 'nope'" in missing.text
    finally:
        missing.close()
    empty = _memfun(project, "sessions", "list")
    assert empty.returncode == 0
    assert "no chat sessions yet" in empty.stdout


@pytest.mark.parametrize("argv", [["--help"], ["chat", "--help"], ["sessions", "--help"]])
def test_chat_imports_prompt_toolkit_and_the_agent_lazily(argv: list[str]) -> None:
    code = (
        "import sys\n"
        "from memfun_cli.app import app\n"
        f"try:\n    app({argv!r})\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('prompt_toolkit', 'memfun_agent', 'dspy', 'litellm')"
        " if m in sys.modules)\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=_WAIT
    )
    assert "HEAVY=\n" in result.stdout
    assert "chat" in result.stdout


@pytest.mark.parametrize(("answer", "after"), [("n", _SUBTRACTS), ("y", _ADDS)])
def test_fix_shows_each_edit_as_a_diff_in_a_terminal_and_applies_it_only_on_yes(
    project: Path, model: FakeOpenAI, answer: str, after: str
) -> None:
    calc = project / "calc.py"
    model.replies = [_EDIT, _submit("'done'")]
    term = Terminal(project, "fix", "the sign in add")
    try:
        term.expect(r"-    return a - b\s+\+    return a \+ b")  # the diff, before the question
        term.expect(r"apply this fs_edit\? \[y/N\]")
        assert calc.read_text(encoding="utf-8") == _SUBTRACTS  # nothing applied while asking
        term.send(f"{answer}\r")
        term.expect(r"done")
        assert term.wait() == 0, term.text
        assert calc.read_text(encoding="utf-8") == after
    finally:
        term.close()


CRITIC = """---
name: critic
description: Criticises code without changing it. Use it for a second opinion.
tools: Read, Grep
read-only: true
---
You are CRITIC-5. Find what is wrong.
"""


def test_chat_lists_the_agents_and_an_at_mention_runs_one_for_the_turn(
    project: Path, model: FakeOpenAI
) -> None:
    (project / ".memfun" / "agents").mkdir(parents=True)
    (project / ".memfun" / "agents" / "critic.md").write_text(CRITIC, encoding="utf-8")
    trust_folder(project, cli_env(project))  # project agents are inactive in an untrusted folder
    model.replies = [
        _submit("'add() subtracts instead of adding.'"),
        format_fields(
            {
                "reasoning": "Critique.",
                "code": "SUBMIT(answer='critic: ' + ('subtracts' in conversation and 'saw it' "
                "or 'no history'), summary='s')",
            }
        ),
    ]
    term = Terminal(project, "chat")
    try:
        term.expect(r"memfun>")
        term.send("what does calc.py do?\r")
        term.expect(r"add\(\) subtracts instead of adding\.")
        term.expect(r"memfun>")
        term.send("/agents\r")
        term.expect(r"@critic\s+\[project\] Criticises code without changing it\.? \(read-only\)")
        term.expect(r"@reviewer\s+\[builtin\]")  # the built-in agents are there too
        term.expect(r"memfun>")
        term.send("@cri\t")  # Tab completes agent names
        term.expect(r"@critic")
        term.send(" is add right?\r")
        term.expect(r"step 1 — Critique\.")  # the agent's live progress
        term.expect(r"critic: saw it")  # it read the conversation so far
        term.expect(r"memfun>")
        term.send("@nobody hi\r")
        term.expect(r"unknown agent @nobody")
        term.expect(r"memfun>")
        term.send("/exit\r")
        assert term.wait() == 0, term.text
    finally:
        term.close()
    assert len(model.requests) == 2  # the unknown agent ran nothing
    agent_prompt = json.dumps(model.requests[1]["messages"])
    assert "You are CRITIC-5" in agent_prompt  # the agent's instructions ran the turn
    assert "is add right?" in agent_prompt
    assert "@critic" not in agent_prompt  # the mention addressed it, the rest is the task
    assert "CRITIC-5" not in json.dumps(model.requests[0]["messages"])
    listed = _memfun(project, "sessions", "list", "--json")
    [session] = json.loads(listed.stdout)["sessions"]
    assert session["turn_count"] == 4  # the agent's turn is stored in the session


@pytest.mark.parametrize("answer", ["y", "n"])
def test_chat_in_an_untrusted_clone_says_what_is_inactive_and_asks_to_trust_it(
    project: Path, answer: str
) -> None:
    (project / ".memfun" / "agents").mkdir(parents=True)
    (project / ".memfun" / "agents" / "critic.md").write_text(CRITIC, encoding="utf-8")
    env = cli_env(project)
    term = Terminal(project, "chat")
    try:
        term.expect(rf"the folder {re.escape(str(project.resolve()))} is not trusted")
        term.expect(r"agent @critic")
        term.expect(r"trust this folder .*\[y/N\]:")
        term.send(f"{answer}\r")
        term.expect(r"trusted .*sha256" if answer == "y" else r"they stay inactive")
        term.expect(r"memfun>")
        term.send("/agents\r")
        term.expect(r"@critic\s+\[project\]" if answer == "y" else r"inactive: @critic")
        term.expect(r"memfun>")
        term.send("/exit\r")
        assert term.wait() == 0, term.text
    finally:
        term.close()
    assert workspace_trust(project, env).trusted == (answer == "y")
