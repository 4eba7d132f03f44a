"""Testing helpers for code built on memfun-agent (Memfun's own tests use them too).

:class:`ScriptedLM` is a DSPy 3.4 language model that replays scripted replies and records
every prompt; :func:`block_network` refuses any connection outside loopback, and
``memfun_agent.testing.pytest_plugin`` turns that into an autouse pytest fixture.

Example:
    >>> from memfun_agent.testing import ScriptedLM
    >>> lm = ScriptedLM([{"reasoning": "done", "code": "SUBMIT(answer='42')"}])
    >>> lm.remaining
    1
"""

from __future__ import annotations

from memfun_agent.testing._guard import NetworkBlockedError, block_network
from memfun_agent.testing._openai_server import (
    COMPLETION_TOKENS,
    PROMPT_TOKENS,
    FakeOpenAI,
    fake_openai_server,
)
from memfun_agent.testing._otlp_receiver import OtlpReceiver, ReceivedSpan, otlp_receiver
from memfun_agent.testing._scripted import (
    CHARS_PER_TOKEN,
    RecordedPrompt,
    Reply,
    ScriptedEngine,
    ScriptedLM,
    ScriptExhaustedError,
    format_fields,
)

__all__ = [
    "CHARS_PER_TOKEN",
    "COMPLETION_TOKENS",
    "PROMPT_TOKENS",
    "FakeOpenAI",
    "NetworkBlockedError",
    "OtlpReceiver",
    "ReceivedSpan",
    "RecordedPrompt",
    "Reply",
    "ScriptExhaustedError",
    "ScriptedEngine",
    "ScriptedLM",
    "block_network",
    "fake_openai_server",
    "format_fields",
    "otlp_receiver",
]
