"""Process-wide services, created by the app factory's lifespan (never at import time).

Per-call state never lives here: each call has its own ``voice.session.CallSession``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sdr_agent.settings import Settings
from sdr_agent.storage.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    # Filled in by the subsystems' start-up hooks; typed loosely here so this module imports nothing heavy.
    extras: dict[str, Any] = field(default_factory=dict)
