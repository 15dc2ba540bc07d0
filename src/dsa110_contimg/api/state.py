"""What one running API holds: settings, the pooled engine, the cache, the event hub.

The API's tunables (cache TTL and size, polling, body limit, CORS) are
``api_*`` fields of :class:`~dsa110_contimg.config.Settings`.
"""

from __future__ import annotations

import dataclasses

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg.api.caching import ResponseCache
from dsa110_contimg.api.events import EventHub
from dsa110_contimg.api.security import KeyRing
from dsa110_contimg.config import Settings


@dataclasses.dataclass
class AppState:
    """Everything route functions need, reached through ``request.app.state.api``."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    cache: ResponseCache
    hub: EventHub
    keys: KeyRing
