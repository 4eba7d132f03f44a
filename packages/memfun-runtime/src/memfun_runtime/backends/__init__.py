"""Backend tiers: ``memory`` (T0), ``sqlite`` (T1), ``redis`` (T2) and ``nats`` (T3).

Import a tier's subpackage only when it is used: ``sqlite`` pulls in aiosqlite.
"""

from __future__ import annotations
