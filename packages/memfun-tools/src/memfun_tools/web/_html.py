"""HTML to clean Markdown: keep the main content, drop the page furniture.

selectolax (lexbor) parses and prunes the page; markdownify turns what remains into
Markdown. Headings, paragraphs, lists, tables, code blocks (with their language) and links
(made absolute) survive; scripts, styles, navigation, headers, footers, sidebars, forms'
controls, cookie banners, share widgets and hidden elements do not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final, cast
from urllib.parse import urljoin

from markdownify import MarkdownConverter
from selectolax.lexbor import LexborHTMLParser, LexborNode

from memfun_core.errors import ValidationError

__all__ = ["HtmlDocument", "html_to_markdown"]

#: Removed wherever they are.
_ALWAYS_DROP: Final = (
    "script, style, noscript, template, iframe, object, embed, svg, canvas, link, meta, "
    "button, input, select, textarea, nav, dialog, [role=navigation], [role=dialog], "
    "[role=alertdialog], [role=button], [hidden], [aria-hidden=true], .linenos, .lineno, "
    "a.headerlink, a.anchor, .sr-only, .visually-hidden, .screen-reader-text, "
    "clipboard-copy, .zeroclipboard-container, cookie-consent"
)
#: Removed when no main element was found and the whole body is converted.
_FURNITURE: Final = (
    "header, footer, aside, [role=banner], [role=contentinfo], [role=complementary], [role=search]"
)
#: Main-content candidates, best first; the first that matches exactly once wins.
_MAIN_CANDIDATES: Final = (
    "article",
    "[role=main]",
    "main",
    ".markdown-body",
    "#content",
    "#main-content",
    ".main-content",
    ".post-content",
    ".entry-content",
    "#main",
)
#: Class/id words that mark boilerplate blocks.
_NOISE_WORDS: Final = frozenset(
    {
        "cookie",
        "cookies",
        "consent",
        "gdpr",
        "cookiebanner",
        "onetrust",
        "cookiebot",
        "sidebar",
        "breadcrumb",
        "breadcrumbs",
        "share",
        "sharing",
        "social",
        "newsletter",
        "subscribe",
        "advert",
        "advertisement",
        "ads",
        "ad",
        "promo",
        "sponsored",
        "related",
        "comments",
        "skip",
        "skiplink",
        "popup",
        "modal",
        "banner",
    }
)
_WORD_SPLIT_RE: Final = re.compile(r"[\s_-]+")
_LANG_RE: Final = re.compile(r"(?:language|lang|highlight-source|highlight)-([\w+#.]+)")
_BLANK_LINES_RE: Final = re.compile(r"\n{3,}")
_EMPTY_LINK_RE: Final = re.compile(r"(?<!!)\[\]\([^)]*\)")
_KEEP_TAGS: Final = frozenset({"html", "body", "main", "article"})


@dataclass(frozen=True, slots=True)
class HtmlDocument:
    """The result of converting a page.

    Attributes:
        title: The page title (``<title>``, else ``og:title``, else the first heading).
        markdown: The main content as Markdown.
    """

    title: str | None
    markdown: str


def _is_noise(node: LexborNode) -> bool:
    attrs = node.attributes
    words: set[str] = set()
    for key in ("class", "id"):
        value = attrs.get(key)
        if value:
            words.update(_WORD_SPLIT_RE.split(value.lower()))
    return not words.isdisjoint(_NOISE_WORDS)


def _drop_noise(root: LexborNode) -> None:
    doomed = [
        node for node in root.css("[class], [id]") if node.tag not in _KEEP_TAGS and _is_noise(node)
    ]
    for node in doomed:
        if node.parent is not None:  # an ancestor may already be gone
            node.decompose()


def _decompose_all(root: LexborNode, selector: str) -> None:
    for node in root.css(selector):
        node.decompose()


def _flatten_code_tables(root: LexborNode) -> None:
    """Unwrap Pygments' line-number tables so the code is a plain ``pre`` block."""
    for table in root.css("table.highlighttable"):
        for cell in table.css("tbody, tr, td"):
            cell.unwrap()
        table.unwrap()


def _title(tree: LexborHTMLParser) -> str | None:
    for selector, attr in (("title", None), ("meta[property='og:title']", "content"), ("h1", None)):
        node = tree.css_first(selector)
        if node is None:
            continue
        text = node.attributes.get(attr) if attr else node.text(strip=True)
        if text and text.strip():
            return " ".join(text.split())
    return None


def _main(tree: LexborHTMLParser) -> tuple[list[LexborNode], bool]:
    for selector in _MAIN_CANDIDATES:
        found = tree.css(selector)
        if len(found) == 1 and found[0].text(strip=True):
            return found, True
    body = tree.body or tree.root
    if body is None:
        return [], False
    return [body], False


def _absolutize(root: LexborNode, base_url: str) -> None:
    for link in root.css("a[href]"):
        href = (link.attributes.get("href") or "").strip()
        if href.lower().startswith(("javascript:", "data:", "vbscript:")):
            del link.attrs["href"]
        elif href and not href.startswith("#"):
            link.attrs["href"] = urljoin(base_url, href)
    for image in root.css("img"):
        src = (image.attributes.get("src") or "").strip()
        if not src or src.lower().startswith("data:"):
            image.decompose()
        else:
            image.attrs["src"] = urljoin(base_url, src)


def _code_language(element: Any) -> str | None:
    """Find a code block's language in the class of the ``pre``, its ``code`` or ancestors."""
    candidates: list[Any] = [element, element.find("code")]
    parent = element.parent
    for _ in range(2):
        if parent is None:
            break
        candidates.append(parent)
        parent = parent.parent
    for candidate in candidates:
        if candidate is None:
            continue
        classes: object = candidate.get("class") or []
        names = cast("list[object]", classes) if isinstance(classes, list) else [classes]
        for cls in names:
            match = _LANG_RE.search(str(cls))
            if match and match.group(1) not in {"none", "text", "plain"}:
                return match.group(1)
    return None


def _tidy(markdown: str) -> str:
    markdown = _EMPTY_LINK_RE.sub("", markdown)
    lines = [line.rstrip() for line in markdown.splitlines()]
    return _BLANK_LINES_RE.sub("\n\n", "\n".join(lines)).strip() + "\n"


def html_to_markdown(html: str, *, base_url: str, selector: str | None = None) -> HtmlDocument:
    """Convert a page's main content to Markdown.

    Args:
        html: The page.
        base_url: The page's URL; relative links and images are made absolute against it.
        selector: A CSS selector choosing the content explicitly (every match is kept, in
            document order); by default the main content is found automatically.

    Returns:
        The title and the Markdown.

    Raises:
        ValidationError: ``selector`` is invalid or matches nothing.
    """
    tree = LexborHTMLParser(html)
    title = _title(tree)
    if tree.root is not None:
        _decompose_all(tree.root, _ALWAYS_DROP)
    if selector:
        try:
            roots = tree.css(selector)
        except ValueError as exc:
            raise ValidationError(
                f"{selector!r} is not a valid CSS selector ({exc})", field="selector", rule="css"
            ) from exc
        if not roots:
            raise ValidationError(
                f"{selector!r} matches nothing on {base_url}",
                field="selector",
                rule="no-match",
                hint="omit the selector to extract the main content automatically",
            )
        found_main = True
    else:
        roots, found_main = _main(tree)
    parts: list[str] = []
    converter = MarkdownConverter(
        heading_style="ATX",
        bullets="-",
        code_language_callback=_code_language,
        table_infer_header=True,
        escape_underscores=False,
        escape_asterisks=False,
    )
    for root in roots:
        if not found_main:
            _decompose_all(root, _FURNITURE)
        _drop_noise(root)
        _flatten_code_tables(root)
        _absolutize(root, base_url)
        parts.append(converter.convert(root.html or ""))
    return HtmlDocument(title=title, markdown=_tidy("\n\n".join(parts)))
