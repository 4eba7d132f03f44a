"""Entry point of ``python -m memfun_runtime.worker``."""

from __future__ import annotations

import sys

from memfun_runtime.worker._cli import main

if __name__ == "__main__":
    sys.exit(main())
