"""web_fetch against a real HTTP server on 127.0.0.1 (with the loopback opt-in)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from memfun_core.errors import BackendUnavailable, OperationTimeout, ValidationError
from memfun_tools.web import (
    HttpStatusError,
    StaticResolver,
    UnsupportedContentError,
    WebAccessDenied,
    WebConfig,
    WebFetcher,
)


def local_fetcher(**options: Any) -> WebFetcher:
    return WebFetcher(WebConfig(allow_loopback=True, **options))


async def test_fetches_a_page_served_in_chunks_as_markdown(server: Any, fixtures_dir: Path) -> None:
    server.add("/docs", (fixtures_dir / "docs_page.html").read_bytes(), chunks=7)
    result = await local_fetcher().fetch(server.url("/docs"))
    assert result.title == "asyncio.TaskGroup — Example Library 2.4 documentation"
    assert result.content.startswith("# Task groups\n")
    assert result.content_type == "text/html"
    assert result.final_url == server.url("/docs")
    assert result.next_start_index is None
    assert not result.body_truncated
    assert f"(http://127.0.0.1:{server.port}/install.html#requirements)" in result.content
    assert server.hits[0].headers["user-agent"].startswith("Mozilla/5.0 (compatible; memfun-web")


async def test_follows_an_allowed_redirect(server: Any) -> None:
    server.redirect("/old", "/new", status=308)
    server.add("/new", "<main><h1>Moved here</h1></main>")
    result = await local_fetcher().fetch(server.url("/old"))
    assert result.final_url == server.url("/new")
    assert result.content == "# Moved here\n"
    assert server.paths == ["/old", "/new"]


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("text/plain; charset=iso-8859-1", "Grüße, café".encode("latin-1"), "Grüße, café"),
        ("text/plain", "naïve résumé".encode(), "naïve résumé"),
        ("text/plain", "caf\xe9 legacy".encode("cp1252"), "café legacy"),
        ("text/plain; charset=utf-16", "wide text".encode("utf-16"), "wide text"),
        (
            "text/html",
            '<html><head><meta charset="windows-1251"></head><body><main><p>Привет</p></main></body></html>'.encode(
                "cp1251"
            ),
            "Привет\n",
        ),
        (
            "text/html",
            '<meta http-equiv="Content-Type" content="text/html; charset=shift_jis"><main><p>日本語</p></main>'.encode(
                "shift_jis"
            ),
            "日本語\n",
        ),
    ],
)
async def test_decodes_charsets(server: Any, content_type: str, body: bytes, expected: str) -> None:
    server.add("/t", body, content_type=content_type)
    result = await local_fetcher().fetch(server.url("/t"))
    assert result.content == expected


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"name": "memfun", "tags": ["a", "b"]}'),
        ("application/vnd.api+json; charset=utf-8", b'{"data": []}'),
        ("text/markdown; charset=utf-8", b"# Title\n\n<div>kept as is</div>\n"),
        ("text/plain", b"<b>not html</b> plain text\n"),
        ("text/x-python", b"def f():\n    return 1\n"),
    ],
)
async def test_text_json_and_markdown_pass_through(
    server: Any, content_type: str, body: bytes
) -> None:
    server.add("/x", body, content_type=content_type)
    result = await local_fetcher().fetch(server.url("/x"))
    assert result.content == body.decode()
    assert result.title is None


async def test_json_is_not_rewritten(server: Any) -> None:
    payload = {"a": [1, 2, {"b": None}]}
    server.add("/j", json.dumps(payload), content_type="application/json")
    result = await local_fetcher().fetch(server.url("/j"))
    assert json.loads(result.content) == payload


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("image/png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
        ("application/pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3"),
        ("application/octet-stream", b"\x00\x01\x02"),
        ("application/zip", b"PK\x03\x04"),
        ("video/mp4", b"\x00\x00\x00\x18ftypmp42"),
        (None, b"\x7fELF\x02\x01\x01\x00\x00\x00"),
        ("text/plain", b"looks like text\x00\x00\x00 but is not"),
    ],
)
async def test_binary_content_is_refused(
    server: Any, content_type: str | None, body: bytes
) -> None:
    server.add("/bin", body, content_type=content_type)
    with pytest.raises(UnsupportedContentError) as caught:
        await local_fetcher().fetch(server.url("/bin"))
    assert isinstance(caught.value, ValidationError)
    assert caught.value.rule == "binary-content"
    assert "binary" in str(caught.value)


async def test_body_is_capped_while_streaming(server: Any) -> None:
    server.add("/big", b"x" * 200_000, content_type="text/plain", chunks=50)
    result = await local_fetcher(max_bytes=10_000).fetch(server.url("/big"), max_chars=50_000)
    assert result.body_truncated
    assert result.total_chars == 10_000


async def test_cap_applies_to_decompressed_bytes(server: Any) -> None:
    bomb = gzip.compress(b"A" * 5_000_000)
    server.add("/bomb", bomb, content_type="text/plain", headers={"Content-Encoding": "gzip"})
    result = await local_fetcher(max_bytes=64_000).fetch(server.url("/bomb"), max_chars=100_000)
    assert result.body_truncated
    assert result.total_chars == 64_000


async def test_a_body_cut_inside_a_utf8_character_still_decodes(server: Any) -> None:
    server.add("/u", "é" * 100, content_type="text/plain")
    result = await local_fetcher(max_bytes=51).fetch(server.url("/u"))
    assert result.content == "é" * 25


async def test_windows_page_through_long_content(server: Any) -> None:
    server.add("/long", "0123456789" * 10, content_type="text/plain")
    fetcher = local_fetcher()
    first = await fetcher.fetch(server.url("/long"), max_chars=40)
    assert first.content == "0123456789" * 4
    assert first.next_start_index == 40
    last = await fetcher.fetch(server.url("/long"), max_chars=40, start_index=80)
    assert last.content == "0123456789" * 2
    assert last.next_start_index is None
    assert last.total_chars == 100


async def test_http_errors_carry_the_status(server: Any) -> None:
    server.add("/gone", "gone", status=410, content_type="text/plain")
    with pytest.raises(HttpStatusError) as caught:
        await local_fetcher().fetch(server.url("/gone"))
    assert caught.value.status == 410
    with pytest.raises(HttpStatusError) as missing:
        await local_fetcher().fetch(server.url("/nothing-here"))
    assert missing.value.status == 404


async def test_slow_server_times_out(server: Any) -> None:
    server.add("/slow", "late", content_type="text/plain", delay=1.0)
    fetcher = local_fetcher(read_timeout_seconds=0.2, total_timeout_seconds=5)
    with pytest.raises(OperationTimeout):
        await fetcher.fetch(server.url("/slow"))


async def test_total_timeout_bounds_the_whole_fetch(server: Any) -> None:
    server.add("/slow", "late", content_type="text/plain", delay=1.0)
    fetcher = local_fetcher(read_timeout_seconds=10, total_timeout_seconds=0.2)
    with pytest.raises(OperationTimeout) as caught:
        await fetcher.fetch(server.url("/slow"))
    assert caught.value.seconds == 0.2


async def test_unresolvable_host_says_so() -> None:
    fetcher = WebFetcher(WebConfig(), resolver=StaticResolver({}))
    with pytest.raises(BackendUnavailable) as caught:
        await fetcher.fetch("https://no-such-host.example/")
    assert "does not resolve" in str(caught.value)


async def test_refused_connection_is_backend_unavailable(server: Any) -> None:
    port = server.port
    server.close()
    with pytest.raises(BackendUnavailable):
        await local_fetcher().fetch(f"http://127.0.0.1:{port}/")


async def test_selector_on_non_html_is_refused(server: Any) -> None:
    server.add("/t", "plain", content_type="text/plain")
    with pytest.raises(ValidationError) as caught:
        await local_fetcher().fetch(server.url("/t"), selector="main")
    assert caught.value.rule == "html-only"


async def test_bad_arguments_are_refused() -> None:
    fetcher = local_fetcher()
    with pytest.raises(ValidationError):
        await fetcher.fetch("http://127.0.0.1:1/", max_chars=0)
    with pytest.raises(ValidationError):
        await fetcher.fetch("http://127.0.0.1:1/", start_index=-1)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_cache_serves_until_the_ttl_expires(server: Any, tmp_path: Path) -> None:
    server.add("/c", "<main><p>cached body</p></main>")
    clock = Clock()
    config = WebConfig(allow_loopback=True, cache_dir=str(tmp_path), cache_ttl_seconds=60)
    fetcher = WebFetcher(config, clock=clock)
    first = await fetcher.fetch(server.url("/c"))
    second = await WebFetcher(config, clock=clock).fetch(server.url("/c"))
    assert not first.from_cache
    assert second.from_cache
    assert second.content == first.content == "cached body\n"
    assert len(server.hits) == 1
    clock.now += 61
    third = await fetcher.fetch(server.url("/c"))
    assert not third.from_cache
    assert len(server.hits) == 2


async def test_cache_entries_do_not_outlive_a_stricter_policy(server: Any, tmp_path: Path) -> None:
    server.add("/c", "<main><p>local docs</p></main>")
    resolver = StaticResolver({"docs.test": ["127.0.0.1"]})
    url = f"http://docs.test:{server.port}/c"
    open_config = WebConfig(allow_loopback=True, cache_dir=str(tmp_path))
    await WebFetcher(open_config, resolver=resolver).fetch(url)
    strict = WebFetcher(WebConfig(cache_dir=str(tmp_path)), resolver=resolver)
    with pytest.raises(WebAccessDenied) as caught:
        await strict.fetch(url)
    assert caught.value.rule == "loopback"


async def test_cache_ignores_a_damaged_entry_and_keeps_a_bounded_size(
    server: Any, tmp_path: Path
) -> None:
    for index in range(5):
        server.add(f"/p{index}", f"<main><p>page {index}</p></main>")
    config = WebConfig(allow_loopback=True, cache_dir=str(tmp_path), cache_max_entries=3)
    fetcher = WebFetcher(config)
    for index in range(5):
        await fetcher.fetch(server.url(f"/p{index}"))
    entries = sorted(tmp_path.glob("*.json"))  # noqa: ASYNC240
    assert len(entries) == 3
    for entry in entries:
        entry.write_text("{not json", encoding="utf-8")
    again = await fetcher.fetch(server.url("/p4"))
    assert not again.from_cache
    assert again.content == "page 4\n"
