"""`/remember`, `/memory`, `/forget` and memory around chat turns, in a real terminal.

The chat, its turn process, the agent, the sandbox and the memory files and index are real;
only the model is scripted (an OpenAI-compatible server on 127.0.0.1)."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from memfun_agent.testing import FakeOpenAI, format_fields
from memfun_cli.testing import Terminal, new_project


def _project(tmp_path: Path, model: FakeOpenAI) -> Path:
    files = {"parse.py": "def parse(text):\n    return text.split()\n"}
    return new_project(
        tmp_path, model.base, files=files, tier=None, extra="[memory]\nenabled = true\n"
    )


def test_chat_remembers_recalls_learns_and_forgets(tmp_path: Path, model: FakeOpenAI) -> None:
    project = _project(tmp_path, model)
    memory_md = project / ".memfun" / "MEMORY.md"
    model.replies = [
        format_fields({"reasoning": "Notes.", "code": "print(memories)"}),
        format_fields({"reasoning": "Done.", "code": "SUBMIT(answer='in parse.py', summary='s')"}),
        format_fields({"learnings": [{"kind": "worked", "text": "Split words (CHAT-LEARNT-2)."}]}),
    ]
    term = Terminal(project, "chat")
    try:
        term.expect(r"memfun>")
        term.send("/remember The parser lives in parse.py (CHAT-MEM-1).\r")
        ident = re.search(r"remembered ([0-9a-f]{8}):", term.expect(r"remembered [0-9a-f]{8}:"))
        assert ident is not None
        remembered = ident.group(1)
        term.expect(r"memfun>")
        term.send("/memory parser\r")
        term.expect(remembered)
        term.expect(r"memfun>")

        term.send("where is the parser?\r")
        term.expect(rf"memory: 1 given \({remembered}\)")  # recalled and cited
        # Learnt after the run, before its answer is shown.
        learnt = term.expect(r"remembered [0-9a-f]{8} \[worked\] Split words \(CHAT-LEARNT-2\)\.")
        term.expect(r"in parse\.py")
        term.expect(r"memfun>")

        term.send(f"/forget {remembered}\r")
        term.expect(rf"forgot {remembered} \(project\)")
        term.expect(r"memfun>")
        term.send("/forget 0000dead\r")
        term.expect(r"forget: no learning named '0000dead'")  # the chat stays open
        term.expect(r"memfun>")
        term.send("/exit\r")
        assert term.wait() == 0, term.text
    finally:
        term.close()

    assert "CHAT-MEM-1" in json.dumps(model.requests[0]["messages"])
    text = memory_md.read_text(encoding="utf-8")
    assert "CHAT-MEM-1" not in text
    assert "CHAT-LEARNT-2" in text
    with sqlite3.connect(project / ".memfun" / "memory.db") as db:
        ids = [str(row[0]) for row in db.execute("SELECT id FROM learnings")]
    assert remembered not in ids
    assert learnt.split()[1] in ids
