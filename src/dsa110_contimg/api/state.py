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
from dsa110_contimg.api.limits import Slots
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
    #: Concurrent downloads, exports and renders (``api_max_*``), filled from ``settings``.
    downloads: Slots = dataclasses.field(init=False)
    exports: Slots = dataclasses.field(init=False)
    renders: Slots = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        retry = self.settings.api_retry_after_s
        self.downloads = Slots("downloads", self.settings.api_max_downloads, retry)
        self.exports = Slots("exports", self.settings.api_max_exports, retry)
        self.renders = Slots("renders", self.settings.api_max_renders, retry)
