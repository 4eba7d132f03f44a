"""Search tools: text/regex search through ripgrep, structural search through ast-grep.

Both binaries come from wheels installed in this environment (``ripgrep==14.1.0``,
``ast-grep-cli``), found next to the interpreter, never on ``PATH``.
"""

from __future__ import annotations

from memfun_tools.search._astgrep import search_structural
from memfun_tools.search._results import SearchMatch, SearchResult
from memfun_tools.search._ripgrep import CaseMode, search_text

__all__ = ["CaseMode", "SearchMatch", "SearchResult", "search_structural", "search_text"]
