"""``python -m memfun_tools.gateway --root PATH [--http PORT]``: serve the tools over MCP."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from memfun_core.errors import MemfunError
from memfun_tools.gateway._build import build_gateway
from memfun_tools.gateway._http import http_security, serve_http


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, build the gateway and serve it (stdio by default)."""
    parser = argparse.ArgumentParser(
        prog="python -m memfun_tools.gateway",
        description="Serve Memfun's file, search, git and repo-map tools over MCP.",
    )
    parser.add_argument("--root", default=".", help="workspace root (default: current folder)")
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP bind address")
    parser.add_argument("--allow-writes", action="store_true", help="serve write tools too")
    parser.add_argument("--token-file", help="HTTP: tokens file (default: the user's)")
    parser.add_argument("--no-auth", action="store_true", help="HTTP: no token (loopback only)")
    parser.add_argument("--allow-host", action="append", default=[], help="HTTP: extra Host")
    parser.add_argument("--allow-origin", action="append", default=[], help="HTTP: extra Origin")
    args = parser.parse_args(argv)
    port: int | None = args.http
    try:
        if port is None:
            build_gateway(args.root, allow_writes=args.allow_writes).run(
                transport="stdio", show_banner=False
            )
            return 0
        security = http_security(
            args.host,
            token_file=args.token_file,
            no_auth=args.no_auth,
            hosts=args.allow_host,
            origins=args.allow_origin,
            announce=lambda text: print(text, file=sys.stderr),
        )
        server = build_gateway(args.root, allow_writes=args.allow_writes)
        serve_http(server, host=args.host, port=port, security=security)
    except MemfunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
