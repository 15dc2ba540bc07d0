"""What one running API holds: settings, the pooled engine, the cache, the event hub."""

from __future__ import annotations

import dataclasses

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg.api.caching import ResponseCache
from dsa110_contimg.api.events import EventHub
from dsa110_contimg.api.security import KeyRing
from dsa110_contimg.config import Settings


@dataclasses.dataclass(frozen=True)
class ApiOptions:
    """Tunables of the API that are not deployment settings.

    Attributes
    ----------
    cache_ttl_s
        How long a cached read stays valid when nothing new is registered.
    cache_max_entries
        Size bound of the in-process cache.
    event_poll_s
        How often the events table is polled for live subscribers.
    generation_check_s
        How often the cache re-reads the newest event id (0: every request).
    max_body_bytes
        Largest request body accepted.
    cors_origins
        Origins allowed by CORS; empty (the default) adds no CORS headers at all.
    """

    cache_ttl_s: float = 30.0
    cache_max_entries: int = 2048
    event_poll_s: float = 0.5
    generation_check_s: float = 0.5
    max_body_bytes: int = 1 << 20
    cors_origins: tuple[str, ...] = ()


@dataclasses.dataclass
class AppState:
    """Everything route functions need, reached through ``request.app.state.api``."""

    settings: Settings
    options: ApiOptions
    engine: Engine
    sessions: sessionmaker[Session]
    cache: ResponseCache
    hub: EventHub
    keys: KeyRing
