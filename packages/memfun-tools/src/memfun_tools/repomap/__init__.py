"""The repo map: tree-sitter tags, PageRank over references, a budgeted text map.

Grammars come from the per-language wheels (Python, JavaScript, TypeScript/TSX, Go, Rust,
Java, C, C++, Ruby); tags are cached in SQLite by content hash, so an unchanged tree is not
parsed again.
"""

from __future__ import annotations

from memfun_tools.repomap._map import RepoMap, default_cache_path
from memfun_tools.repomap._results import MapStats, RankedFile, RepoMapResult
from memfun_tools.repomap._scan import ScanResult
from memfun_tools.repomap._tags import Definition, FileTags

__all__ = [
    "Definition",
    "FileTags",
    "MapStats",
    "RankedFile",
    "RepoMap",
    "RepoMapResult",
    "ScanResult",
    "default_cache_path",
]
