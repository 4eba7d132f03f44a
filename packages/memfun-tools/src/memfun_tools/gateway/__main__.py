"""``python -m memfun_tools.gateway --root PATH [--http PORT]``: serve the tools over MCP."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from memfun_core.errors import MemfunError
from memfun_tools.gateway._build import build_gateway


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
    args = parser.parse_args(argv)
    try:
        server = build_gateway(args.root, allow_writes=args.allow_writes)
    except MemfunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.http is None:
        server.run(transport="stdio", show_banner=False)
    else:
        server.run(transport="http", host=args.host, port=args.http, show_banner=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
