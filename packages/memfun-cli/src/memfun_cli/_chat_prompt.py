"""The chat prompt: prompt_toolkit session with history, key bindings and completion.

Imported only by ``memfun chat`` (prompt_toolkit is not loaded for other commands).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory
from prompt_toolkit.key_binding import KeyBindings

if TYPE_CHECKING:
    from prompt_toolkit.key_binding import KeyPressEvent

__all__ = ["ChatCompleter", "make_prompt"]


class ChatCompleter(Completer):
    """Complete ``/commands``, ``/skill-names`` and ``@agents`` at the start, paths elsewhere."""

    def __init__(self, commands: Iterable[str]) -> None:
        self._commands = sorted(set(commands))
        self._paths = PathCompleter(expanduser=True)

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        """Yield the completions of the word before the cursor."""
        before = document.text_before_cursor
        if before.startswith(("/", "@")) and " " not in before:
            for name in self._commands:
                if name.startswith(before):
                    yield Completion(name, start_position=-len(before))
            return
        word = document.get_word_before_cursor(WORD=True)
        if not word:
            return
        sub = Document(word, len(word))
        yield from self._paths.get_completions(sub, complete_event)


def _bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("enter")
    def _submit(event: KeyPressEvent) -> None:  # pyright: ignore[reportUnusedFunction]
        event.current_buffer.validate_and_handle()

    @bindings.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:  # pyright: ignore[reportUnusedFunction]
        event.current_buffer.insert_text("\n")

    return bindings


def make_prompt(history_file: Path, commands: Iterable[str]) -> PromptSession[str]:
    """A prompt where Enter sends, Esc then Enter adds a line, and Tab completes."""
    history_file.parent.mkdir(parents=True, exist_ok=True)
    return PromptSession(
        history=FileHistory(str(history_file)),
        completer=ChatCompleter(commands),
        complete_while_typing=False,
        multiline=True,
        key_bindings=_bindings(),
        prompt_continuation="... ",
    )
