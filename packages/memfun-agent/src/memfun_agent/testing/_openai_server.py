"""An OpenAI-compatible HTTP server on 127.0.0.1 (``/v1/chat/completions``), in a thread.

It replays scripted replies (or asks a ``responder`` function, which sees each request's body:
for models that must answer what a prompt asks, such as an optimizer's proposer), records
every request, can answer ``429`` first, can answer
late (``delay_seconds``, cut short when the server stops), streams (server-sent events)
when the request asks for it, and can describe its model the way llama.cpp's ``/props``
(``props``) and Ollama's ``/api/show`` (``show``) do. Tests of any package use it to drive the
real LiteLLM request path end to end without a real model:

    with fake_openai_server() as fake:
        fake.replies = [format_fields({"reasoning": "...", "code": "SUBMIT(...)"})]
        ...  # configure [llm] api_base = fake.base

    with fake_openai_server() as fake:
        fake.responder = lambda body: format_fields(answer_for(body["messages"]))
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Generator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["COMPLETION_TOKENS", "PROMPT_TOKENS", "FakeOpenAI", "Responder", "fake_openai_server"]

PROMPT_TOKENS = 120
COMPLETION_TOKENS = 30


Responder = Callable[[dict[str, Any]], str]
"""Answers one request: takes its JSON body (``model``, ``messages``...), returns the reply text."""


@dataclass
class FakeOpenAI:
    """The server's script and what it saw.

    Attributes:
        replies: Reply texts, one per request, in order (``"no reply left"`` when empty).
        responder: When set, answers every request instead of ``replies``.
    """

    replies: list[str] = field(default_factory=list[str])
    responder: Responder | None = None
    rate_limit_first: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    headers: list[dict[str, str]] = field(default_factory=list[dict[str, str]])
    paths: list[str] = field(default_factory=list[str])
    port: int = 0
    delay_seconds: float = 0.0
    props: dict[str, Any] | None = None
    show: dict[str, Any] | None = None
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def _completion(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": COMPLETION_TOKENS,
            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        },
    }


def _chunks(model: str, text: str) -> list[dict[str, Any]]:
    base = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1, "model": model}
    pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
    out: list[dict[str, Any]] = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
    ]
    out += [{**base, "choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
    out.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    out.append(
        {
            **base,
            "choices": [],
            "usage": {
                "prompt_tokens": PROMPT_TOKENS,
                "completion_tokens": COMPLETION_TOKENS,
                "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
            },
        }
    )
    return out


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            del format, args

        def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            with lock:
                fake.paths.append(self.path)
            if self.path == "/props" and fake.props is not None:
                self._send(200, json.dumps(fake.props).encode(), "application/json", {})
                return
            self._send(404, b'{"error": "not found"}', "application/json", {})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path == "/api/show":
                with lock:
                    fake.paths.append(self.path)
                    fake.requests.append(body)
                status = 200 if fake.show is not None else 404
                self._send(status, json.dumps(fake.show or {}).encode(), "application/json", {})
                return
            with lock:
                fake.paths.append(self.path)
                fake.requests.append(body)
                fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                if fake.rate_limit_first > 0:
                    fake.rate_limit_first -= 1
                    error = {"error": {"message": "slow down", "type": "rate_limit_error"}}
                    self._send(429, json.dumps(error).encode(), "application/json",
                               {"Retry-After": "0"})  # fmt: skip
                    return
            if fake.delay_seconds > 0:  # the request is seen at once, the reply comes late
                fake.stopping.wait(fake.delay_seconds)
            with lock:  # one request at a time, as the scripted list is
                if fake.responder is not None:
                    text = fake.responder(body)
                else:
                    text = fake.replies.pop(0) if fake.replies else "no reply left"
            model = str(body.get("model", "m"))
            if body.get("stream"):
                payload = "".join(f"data: {json.dumps(c)}\n\n" for c in _chunks(model, text))
                payload += "data: [DONE]\n\n"
                self._send(200, payload.encode(), "text/event-stream", {})
                return
            self._send(200, json.dumps(_completion(model, text)).encode(), "application/json", {})

    return Handler


@contextmanager
def fake_openai_server() -> Generator[FakeOpenAI, None, None]:
    """Run a fake server on a free loopback port for the duration of the ``with`` block."""
    fake = FakeOpenAI()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
