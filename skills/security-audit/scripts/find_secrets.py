#!/usr/bin/env python3
"""Scan a source tree for likely secrets: API keys, tokens, private keys, passwords.

Usage: python3 find_secrets.py [PATH]

Standard library only. Prints ``path:line: kind: excerpt`` with the middle of each match
masked, and exits 1 when something was found (0 otherwise), so it can gate CI.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", "dist", "build", ".tox"}
MAX_BYTES = 1_000_000
VISIBLE = 4
PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA |PGP )?PRIVATE KEY"),
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"),
    "OpenAI/Anthropic key": re.compile(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}\b"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "Stripe key": re.compile(r"\b[sr]k_live_[0-9A-Za-z]{20,}\b"),
    "JWT": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
    "password assignment": re.compile(
        r"(?i)\b(?:password|passwd|secret|api_?key|token)\b\s*[:=]\s*['\"][^'\"\s]{8,}['\"]"
    ),
    "URL with credentials": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s:@]{3,}@"),
}


def mask(text: str) -> str:
    """Keep the first and last four characters of a match visible."""
    if len(text) <= 3 * VISIBLE:
        return text
    return f"{text[:VISIBLE]}...{text[-VISIBLE:]}"


def scan_file(path: Path) -> list[tuple[int, str, str]]:
    """Return (line number, kind, masked excerpt) for each suspicious match in a file."""
    try:
        if path.stat().st_size > MAX_BYTES:
            return []
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    hits: list[tuple[int, str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        for kind, pattern in PATTERNS.items():
            match = pattern.search(line)
            if match:
                hits.append((number, kind, mask(match.group(0))))
    return hits


def main() -> int:
    """Scan the tree given on the command line and print the findings."""
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    found = 0
    for current, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for name in files:
            path = Path(current, name)
            if path.is_symlink():
                continue
            for number, kind, excerpt in scan_file(path):
                found += 1
                print(f"{path}:{number}: {kind}: {excerpt}")
    print(f"{found} possible secret(s) found", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
