"""A scripted language model for DSPy 3.4: replays replies and records every prompt."""

# DSPy ships without complete type information; its objects are treated as Any here.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import dspy  # pyright: ignore[reportMissingTypeStubs]
from dspy.lm15 import (  # pyright: ignore[reportMissingTypeStubs]
    Message,
    Request,
    Response,
    TextPart,
    Usage,
    response_to_events,
)

__all__ = [
    "RecordedPrompt",
    "Reply",
    "ScriptExhaustedError",
    "ScriptedEngine",
    "ScriptedLM",
    "format_fields",
]

CHARS_PER_TOKEN = 4
"""The scripted model counts one token per four characters (rounded up), in and out."""


@dataclass(frozen=True, slots=True)
class RecordedPrompt:
    """One request the scripted model received.

    Attributes:
        index: Its position among the requests (0-based).
        model: The model name the request was sent to.
        text: The system prompt and every message, as one string (role headers included).
        reply: The text the scripted model answered.
    """

    index: int
    model: str
    text: str
    reply: str

    @property
    def size(self) -> int:
        """The prompt's length in characters."""
        return len(self.text)


Reply: TypeAlias = "str | Mapping[str, Any] | Callable[[str], str | Mapping[str, Any]]"
"""A scripted reply: raw text sent as is; a mapping of output fields rendered in DSPy's chat
format (``[[ ## name ## ]]`` blocks, see :func:`format_fields`); or a function of the
prompt text returning either."""


class ScriptExhaustedError(RuntimeError):
    """The scripted model was called more often than it has replies."""


def format_fields(fields: Mapping[str, Any]) -> str:
    """Render output fields the way DSPy's ``ChatAdapter`` expects a model to answer.

    Strings are written as they are, other values as JSON.
    """
    blocks = [
        f"[[ ## {name} ## ]]\n{value if isinstance(value, str) else json.dumps(value)}"
        for name, value in fields.items()
    ]
    return "\n\n".join([*blocks, "[[ ## completed ## ]]"])


def _request_text(request: Request) -> str:
    chunks: list[str] = []
    system: Any = request.system
    if isinstance(system, str):
        chunks.append(f"[system]\n{system}")
    elif system is not None:
        chunks.append("[system]\n" + "".join(str(getattr(part, "text", "")) for part in system))
    for message in request.messages:
        chunks.append(f"[{message.role}]\n{message.text or ''}")
    return "\n\n".join(chunks)


def _tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


class ScriptedEngine:
    """A DSPy engine (``complete(request) -> Response``) that replays scripted replies.

    Thread-safe: ``llm_query_batched`` calls it from several threads at once; replies are
    handed out in call order.

    Args:
        replies: The replies, in order (see :data:`Reply`).
        model: The model name reported in responses.
        repeat_last: After the last reply, keep answering with it instead of raising
            :class:`ScriptExhaustedError`.
    """

    def __init__(
        self, replies: Iterable[Reply], *, model: str = "scripted", repeat_last: bool = False
    ) -> None:
        self._replies: list[Reply] = list(replies)
        self._model = model
        self._repeat_last = repeat_last
        self._lock = threading.Lock()
        self._next = 0
        self.prompts: list[RecordedPrompt] = []

    @property
    def remaining(self) -> int:
        """Replies not handed out yet."""
        return len(self._replies) - self._next

    def _take(self, prompt: str) -> str:
        with self._lock:
            if self._next < len(self._replies):
                reply = self._replies[self._next]
                self._next += 1
            elif self._repeat_last and self._replies:
                reply = self._replies[-1]
            else:
                raise ScriptExhaustedError(
                    f"the scripted model has no reply left (it had {len(self._replies)}); "
                    f"add replies to the script. Last prompt ends with: {prompt[-300:]!r}"
                )
        if callable(reply):
            reply = reply(prompt)
        return reply if isinstance(reply, str) else format_fields(reply)

    def complete(self, request: Request) -> Response:
        """Answer one request with the next scripted reply and record the prompt."""
        prompt = _request_text(request)
        text = self._take(prompt)
        with self._lock:
            self.prompts.append(RecordedPrompt(len(self.prompts), self._model, prompt, text))
        return Response(
            id=f"scripted-{len(self.prompts)}",
            model=self._model,
            message=Message.assistant([TextPart(text)]),
            finish_reason="stop",
            usage=Usage(input_tokens=_tokens(prompt), output_tokens=_tokens(text)),
        )

    def stream(self, request: Request) -> Any:
        """Stream the same reply as events."""
        return response_to_events(self.complete(request))

    def close(self) -> None:
        """Nothing to release."""


class ScriptedLM(dspy.LM):
    """A ``dspy.LM`` whose engine is a :class:`ScriptedEngine`: no network, no cache.

    Use it wherever DSPy takes an LM (``dspy.context(lm=...)``, ``RLMAgent(lm=...)``,
    ``sub_lm=``). Every prompt is kept in :attr:`prompts` with its size, so a test can
    assert what the model was shown. Tokens are counted as one per four characters.

    Example:
        >>> lm = ScriptedLM([{"reasoning": "done", "code": "SUBMIT(answer='42')"}])
        >>> lm.remaining
        1

    Args:
        replies: The replies in order (see :data:`Reply`).
        model: The model name (``scripted/<name>``).
        repeat_last: Keep answering with the last reply when the script runs out.
    """

    def __init__(
        self,
        replies: Iterable[Reply],
        *,
        model: str = "scripted/model",
        repeat_last: bool = False,
    ) -> None:
        engine = ScriptedEngine(replies, model=model, repeat_last=repeat_last)
        super().__init__(model, engine=engine, cache=False, num_retries=0)
        self._script = engine

    @property
    def prompts(self) -> list[RecordedPrompt]:
        """Every prompt received so far (shared with copies of this LM)."""
        return self._script.prompts

    @property
    def remaining(self) -> int:
        """Replies not used yet."""
        return self._script.remaining

    @property
    def max_prompt_chars(self) -> int:
        """The size of the largest prompt received (0 before the first call)."""
        return max((prompt.size for prompt in self.prompts), default=0)
