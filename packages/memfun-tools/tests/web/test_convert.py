"""HTML to Markdown on saved real-world page shapes: content survives, furniture goes."""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_core.errors import ValidationError
from memfun_tools.web import html_to_markdown

BASE = "https://site.example/docs/page/"

# Boilerplate that must be gone from every converted fixture.
EVERYWHERE_GONE = ["<script", "gtag(", "dataLayer", "window.", "<style", "--wp--", "¶"]


def convert(fixtures_dir: Path, name: str, selector: str | None = None) -> tuple[str | None, str]:
    html = (fixtures_dir / f"{name}.html").read_text(encoding="utf-8")
    document = html_to_markdown(html, base_url=BASE, selector=selector)
    return document.title, document.markdown


def assert_absent(markdown: str, needles: list[str]) -> None:
    for needle in needles:
        assert needle not in markdown, f"{needle!r} should have been removed"


def test_documentation_page(fixtures_dir: Path) -> None:
    title, md = convert(fixtures_dir, "docs_page")
    assert title == "asyncio.TaskGroup — Example Library 2.4 documentation"
    assert md.startswith("# Task groups\n")
    assert "\n## Creating a group\n" in md
    assert "\n## Parameters\n" in md
    assert "```python\nimport asyncio\n\nasync def main():\n" in md
    assert "        task1 = tg.create_task(some_coro(...))\n```" in md
    assert "| Name | Type | Default |\n| --- | --- | --- |\n| name | str | None |" in md
    assert "| timeout | float | 30.0 |" in md
    assert "[Requirements](https://site.example/docs/install.html#requirements)" in md
    assert "Cancelling the group cancels every task in it." in md
    assert_absent(
        md,
        [
            *EVERYWHERE_GONE,
            "Search docs",
            "Contents:",
            "Changelog",
            "Previous",
            "Copyright",
            "Built with",
            "Navigation",
        ],
    )


def test_blog_post(fixtures_dir: Path) -> None:
    title, md = convert(fixtures_dir, "blog_post")
    assert title == "Why we moved our queue to SQLite | The Engineering Blog"
    assert md.startswith("# Why we moved our queue to SQLite\n")
    assert "\n## The problem\n" in md
    assert "```sql\nCREATE TABLE jobs (\n  id INTEGER PRIMARY KEY," in md
    assert "- p99 enqueue: 38 ms" in md
    assert "> Boring technology is a feature." in md
    assert "**SQLite**" in md
    assert "[metrics write-up](https://site.example/2024/11/queue-metrics/)" in md
    assert "![Latency before and after the move](https://site.example/wp-content/" in md
    assert_absent(
        md,
        [
            *EVERYWHERE_GONE,
            "Skip to content",
            "Jobs",
            "cookies",
            "ACCEPT",
            "privacy",
            "Share this",
            "Share on X",
            "Subscribe",
            "Get posts by email",
            "cheap watches",
            "Recent Posts",
            "Proudly powered",
        ],
    )


def test_readme_page(fixtures_dir: Path) -> None:
    title, md = convert(fixtures_dir, "readme_page")
    assert title is not None
    assert title.startswith("GitHub - example-org/tinyqueue")
    assert md.startswith("# tinyqueue\n")
    assert "## Install\n\n```shell\npip install tinyqueue\n```" in md
    assert '```python\nfrom tinyqueue import Queue\n\nq = Queue("jobs.db")' in md
    assert "| Option | Default | Meaning |" in md
    assert "| `max_retries` | 5 | Attempts before the dead-letter table |" in md
    assert (
        "[CONTRIBUTING.md](https://site.example/example-org/tinyqueue/blob/main/CONTRIBUTING.md)"
        in md
    )
    assert_absent(
        md,
        [
            *EVERYWHERE_GONE,
            "Sign in",
            "Pricing",
            "Pull requests",
            "Star 1.2k",
            "pyproject.toml",
            "Copy",
            "Copied",
            "optional cookies",
            "Terms",
            "perform that action",
            "Permalink",
            "[](",
            "About",
        ],
    )


def test_tables_and_code_page(fixtures_dir: Path) -> None:
    title, md = convert(fixtures_dir, "tables_code_page")
    assert title == "Configuration reference - ExampleTool"
    assert md.startswith("# Configuration reference\n")
    assert "\n### From Python\n" in md
    assert "| Key | Type | Default | Description |\n| --- | --- | --- | --- |" in md
    assert "| `cache_dir` | path | `.cache` | Where results are kept |" in md
    assert "| `strict` | bool | false | Fail on *any* warning |" in md
    assert "```toml\n[tool]\nworkers = 8\nstrict = true\n```" in md
    assert (
        '```python\nfrom exampletool import load_config\ncfg = load_config("tool.toml")\n```' in md
    )
    assert_absent(
        md,
        [
            *EVERYWHERE_GONE,
            "Version 3.0 is out",
            "Skip to content",
            "Table of contents",
            "Edit this page",
            "Previous: CLI",
            "Material for MkDocs",
            "Cookie consent",
            "__codelineno",
            "| 1 |",
        ],
    )


def test_selector_picks_content_explicitly(fixtures_dir: Path) -> None:
    _, md = convert(fixtures_dir, "tables_code_page", selector="article table")
    assert md.startswith("| Key | Type | Default | Description |")
    assert "Configuration reference" not in md


def test_selector_that_matches_nothing_is_an_error(fixtures_dir: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        convert(fixtures_dir, "docs_page", selector="#does-not-exist")
    assert caught.value.rule == "no-match"


def test_page_without_main_element_drops_header_footer_and_aside() -> None:
    html = """<html><head><title>T</title></head><body>
    <header>Site header</header><aside>Sidebar links</aside>
    <div><h2>Section</h2><p>Body text.</p></div>
    <footer>Footer text</footer></body></html>"""
    md = html_to_markdown(html, base_url=BASE).markdown
    assert md == "## Section\n\nBody text.\n"


def test_dangerous_and_inline_data_links_are_dropped() -> None:
    html = """<main><p><a href="javascript:alert(1)">click</a>
    <img src="data:image/png;base64,AAAA" alt="inline"> <a href="#frag">frag</a></p></main>"""
    md = html_to_markdown(html, base_url=BASE).markdown
    assert "javascript:" not in md
    assert "data:" not in md
    assert "[frag](#frag)" in md
