"""The SSRF suite: every vector is refused with a WebAccessDenied naming its rule.

DNS is controlled with a StaticResolver (the fetcher's resolver seam). Loopback vectors
point at a live server on 127.0.0.1 and the test checks that it never saw a request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from memfun_core.errors import PermissionDeniedError
from memfun_tools.web import StaticResolver, WebAccessDenied, WebConfig, WebFetcher

RESOLVER_TABLE: dict[str, list[str]] = {
    "internal.test": ["10.0.0.7"],
    "rebind.test": ["93.184.216.34", "10.0.0.1"],
    "metadata.test": ["169.254.169.254"],
    "v6private.test": ["2606:4700::1111", "fd12:3456::1"],
    "localtest.me": ["127.0.0.1"],
    "cgnat.test": ["100.64.1.1"],
    "mapped.test": ["::ffff:192.168.1.1"],
    "example.com": ["93.184.216.34"],
}

# (url template, expected rule). {port} is the live local server's port.
VECTORS: list[tuple[str, str]] = [
    ("http://127.0.0.1:{port}/", "loopback"),
    ("HTTP://127.0.0.1:{port}/", "loopback"),
    ("http://127.1:{port}/", "loopback"),
    ("http://0x7f000001:{port}/", "loopback"),
    ("http://2130706433:{port}/", "loopback"),
    ("http://0177.0.0.1:{port}/", "loopback"),
    ("http://0x7f.1:{port}/", "loopback"),
    ("http://localhost:{port}/", "loopback"),
    ("http://app.localhost:{port}/", "loopback"),
    ("http://[::1]:{port}/", "loopback"),
    ("http://[::ffff:127.0.0.1]:{port}/", "loopback"),
    ("http://[::ffff:7f00:1]:{port}/", "loopback"),
    ("http://[2002:7f00:1::]/", "loopback"),
    ("http://localtest.me:{port}/", "loopback"),
    ("http://0.0.0.0:{port}/", "unspecified"),
    ("http://0:{port}/", "unspecified"),
    ("http://[::]:{port}/", "unspecified"),
    ("http://10.0.0.1/", "private"),
    ("http://10.255.255.254/", "private"),
    ("http://172.16.0.1/", "private"),
    ("http://172.31.255.255/", "private"),
    ("http://192.168.0.1/", "private"),
    ("http://[fd00::1]/", "private"),
    ("http://[64:ff9b::a00:1]/", "private"),
    ("http://100.64.0.1/", "cgnat"),
    ("http://100.127.255.254/", "cgnat"),
    ("http://169.254.169.254/latest/meta-data/", "cloud-metadata"),
    ("http://[fd00:ec2::254]/", "cloud-metadata"),
    ("http://[::ffff:169.254.169.254]/", "cloud-metadata"),
    ("http://100.100.100.200/latest/meta-data/", "cloud-metadata"),
    ("http://169.254.1.1/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[fe80::1%25eth0]/", "link-local"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://255.255.255.255/", "reserved"),
    ("http://internal.test/", "private"),
    ("http://rebind.test/", "private"),
    ("http://metadata.test/", "cloud-metadata"),
    ("http://v6private.test/", "private"),
    ("http://cgnat.test/", "cgnat"),
    ("http://mapped.test/", "private"),
    ("http://user:secret@example.com/", "credentials"),
    ("http://user@example.com/", "credentials"),
    ("https://:secret@example.com/", "credentials"),
    ("file:///etc/passwd", "scheme"),
    ("gopher://127.0.0.1:6379/_INFO", "scheme"),
    ("ftp://example.com/file.txt", "scheme"),
    ("data:text/html,<h1>hi</h1>", "scheme"),
    ("javascript:alert(1)", "scheme"),
    ("example.com/no-scheme", "scheme"),
    ("http://example.com/" + "a" * 3000, "url-too-long"),
    ("http:///no-host", "invalid-host"),
    ("http://exa mple.com/", "invalid-host"),
    ("http://a%2eb.com/", "invalid-host"),
    ("http://1.2.3.4.5/", "invalid-host"),
]


@pytest.fixture
def fetcher() -> WebFetcher:
    return WebFetcher(WebConfig(), resolver=StaticResolver(RESOLVER_TABLE))


def test_the_suite_has_at_least_thirty_vectors() -> None:
    assert len(VECTORS) >= 30


@pytest.mark.parametrize(("template", "rule"), VECTORS, ids=[v[0][:60] for v in VECTORS])
async def test_vector_is_refused_with_its_rule(
    fetcher: WebFetcher, server: Any, template: str, rule: str
) -> None:
    url = template.format(port=server.port)
    with pytest.raises(WebAccessDenied) as caught:
        await fetcher.fetch(url)
    error = caught.value
    assert isinstance(error, PermissionDeniedError)
    assert error.rule == rule
    assert f"[{rule}]" in str(error)
    assert server.hits == []


async def test_credentials_never_appear_in_the_error(fetcher: WebFetcher) -> None:
    with pytest.raises(WebAccessDenied) as caught:
        await fetcher.fetch("http://admin:hunter2hunter2@example.com/x")
    assert "hunter2" not in str(caught.value)


async def test_loopback_opt_in_lifts_only_loopback(server: Any) -> None:
    fetcher = WebFetcher(WebConfig(allow_loopback=True), resolver=StaticResolver(RESOLVER_TABLE))
    for url, rule in [
        ("http://10.0.0.1/", "private"),
        ("http://0.0.0.0:{port}/", "unspecified"),
        ("http://169.254.169.254/", "cloud-metadata"),
        ("http://internal.test/", "private"),
        ("http://127.1:{port}/", "non-canonical-ip"),
    ]:
        with pytest.raises(WebAccessDenied) as caught:
            await fetcher.fetch(url.format(port=server.port))
        assert caught.value.rule == rule


class CountingResolver:
    """Answers from a script of answers per name, one per call (a rebinding DNS server)."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self._answers = answers
        self.calls: list[str] = []

    async def resolve(self, host: str, port: int) -> Sequence[str]:
        self.calls.append(host)
        script = self._answers[host]
        return script.pop(0) if len(script) > 1 else script[0]


async def test_redirect_from_allowed_local_server_to_private_address_is_refused(
    server: Any,
) -> None:
    srv = server
    srv.redirect("/start", srv.url("/hop"))
    srv.redirect("/hop", "http://10.1.2.3/admin")
    fetcher = WebFetcher(WebConfig(allow_loopback=True))
    with pytest.raises(WebAccessDenied) as caught:
        await fetcher.fetch(srv.url("/start"))
    assert caught.value.rule == "private"
    assert "10.1.2.3" in str(caught.value)
    assert srv.paths == ["/start", "/hop"]


@pytest.mark.parametrize(
    ("location", "rule"),
    [
        ("http://169.254.169.254/latest/meta-data/iam", "cloud-metadata"),
        ("http://internal.test/", "private"),
        ("file:///etc/passwd", "scheme"),
        ("gopher://10.0.0.1:25/", "scheme"),
        ("http://user:pw@example.com/", "credentials"),
        ("http://[::ffff:10.0.0.1]/", "private"),
        ("http://0x0a000001/", "private"),
    ],
)
async def test_every_redirect_hop_is_rechecked(server: Any, location: str, rule: str) -> None:
    srv = server
    srv.redirect("/go", location, status=301)
    resolver = StaticResolver(RESOLVER_TABLE)
    fetcher = WebFetcher(WebConfig(allow_loopback=True), resolver=resolver)
    with pytest.raises(WebAccessDenied) as caught:
        await fetcher.fetch(srv.url("/go"))
    assert caught.value.rule == rule


async def test_redirect_loop_is_refused_after_the_limit(server: Any) -> None:
    srv = server
    srv.redirect("/loop", "/loop", status=307)
    fetcher = WebFetcher(WebConfig(allow_loopback=True, max_redirects=3))
    with pytest.raises(WebAccessDenied) as caught:
        await fetcher.fetch(srv.url("/loop"))
    assert caught.value.rule == "too-many-redirects"
    assert len(srv.hits) == 4


async def test_connection_is_pinned_to_the_vetted_answer(server: Any) -> None:
    """A rebinding DNS answers an allowed address, then a private one: only one lookup is made
    per hop and the connection goes to the address that was checked."""
    srv = server
    srv.add("/page", "<html><body><main><p>pinned page</p></main></body></html>")
    resolver = CountingResolver({"docs.test": [["127.0.0.1"], ["10.9.9.9"]]})
    fetcher = WebFetcher(WebConfig(allow_loopback=True), resolver=resolver)
    result = await fetcher.fetch(f"http://docs.test:{srv.port}/page")
    assert "pinned page" in result.content
    assert resolver.calls == ["docs.test"]
    assert srv.hits[0].headers["host"] == f"docs.test:{srv.port}"


async def test_a_redirect_back_to_a_rebound_name_is_resolved_and_refused(server: Any) -> None:
    srv = server
    srv.redirect("/first", "/second")
    resolver = CountingResolver({"docs.test": [["127.0.0.1"], ["10.9.9.9"]]})
    fetcher = WebFetcher(WebConfig(allow_loopback=True), resolver=resolver)
    with pytest.raises(WebAccessDenied) as caught:
        await fetcher.fetch(f"http://docs.test:{srv.port}/first")
    assert caught.value.rule == "private"
    assert "docs.test resolves to it" in str(caught.value)
    assert resolver.calls == ["docs.test", "docs.test"]
    assert srv.paths == ["/first"]


async def test_deny_list_wins_and_allow_list_narrows(server: Any) -> None:
    srv = server
    srv.add("/ok", "<p>allowed</p>")
    resolver = StaticResolver({"docs.example.org": ["127.0.0.1"], "blog.test": ["127.0.0.1"]})
    config = WebConfig(
        allow_loopback=True,
        allow_hosts=("*.example.org",),
        deny_hosts=("secret.example.org",),
    )
    fetcher = WebFetcher(config, resolver=resolver)
    port = srv.port
    ok = await fetcher.fetch(f"http://docs.example.org:{port}/ok")
    assert "allowed" in ok.content
    with pytest.raises(WebAccessDenied) as denied:
        await fetcher.fetch(f"http://secret.example.org:{port}/ok")
    assert denied.value.rule == "denied-host"
    with pytest.raises(WebAccessDenied) as outside:
        await fetcher.fetch(f"http://blog.test:{port}/ok")
    assert outside.value.rule == "host-not-allowed"


async def test_allow_list_never_lifts_an_address_rule() -> None:
    resolver = StaticResolver({"intranet.example.org": ["10.0.0.5"]})
    config = WebConfig(allow_hosts=("intranet.example.org",))
    with pytest.raises(WebAccessDenied) as caught:
        await WebFetcher(config, resolver=resolver).fetch("http://intranet.example.org/")
    assert caught.value.rule == "private"


async def test_redirect_to_a_denied_host_is_refused(server: Any) -> None:
    srv = server
    srv.redirect("/r", "http://tracker.example.net/")
    config = WebConfig(allow_loopback=True, deny_hosts=("*.example.net",))
    with pytest.raises(WebAccessDenied) as caught:
        await WebFetcher(config).fetch(srv.url("/r"))
    assert caught.value.rule == "denied-host"
