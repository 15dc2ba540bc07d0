"""A TTL cache of read responses, in-process or in Redis, invalidated by new products.

Every write through :mod:`dsa110_contimg.products.repositories` publishes an
event, so the newest event id is a generation number for the whole database:
it is part of every cache key, and a new product (from any process) makes all
older entries unreachable. The newest id is re-read at most every
``check_s`` seconds (the ``api_cache_*`` settings set these knobs).

With ``redis_url`` set the entries live in Redis, shared by every API worker;
if Redis stops answering, the cache falls back to the in-process store and
tries Redis again after a pause, so reads never fail because of the cache.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote

import redis
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Receive, Scope, Send

from dsa110_contimg.products import repositories as repo

log = logging.getLogger(__name__)


class Store(Protocol):
    """Where cached bytes live."""

    def get(self, key: str) -> bytes | None: ...
    def set(self, key: str, value: bytes, ttl_s: float) -> None: ...


class LocalStore:
    """A thread-safe in-process store with per-entry expiry, bounded by bytes.

    ``max_bytes`` bounds the keys and bodies held together (least recently used
    go first); one body larger than an eighth of it is not stored at all, so a
    few huge answers cannot flush every other entry.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.max_item_bytes = max_bytes // 8
        #: Bytes held now (keys and bodies).
        self.size = 0
        self._data: collections.OrderedDict[str, tuple[float, bytes]] = collections.OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _cost(key: str, value: bytes) -> int:
        return len(key) + len(value)

    def _drop(self, key: str) -> None:
        _, value = self._data.pop(key)
        self.size -= self._cost(key, value)

    def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            if entry[0] < time.monotonic():
                self._drop(key)
                return None
            self._data.move_to_end(key)
            return entry[1]

    def set(self, key: str, value: bytes, ttl_s: float) -> None:
        cost = self._cost(key, value)
        if cost > self.max_item_bytes:
            return
        with self._lock:
            if key in self._data:
                self._drop(key)
            self._data[key] = (time.monotonic() + ttl_s, value)
            self.size += cost
            while self.size > self.max_bytes:
                self._drop(next(iter(self._data)))

    def __len__(self) -> int:
        return len(self._data)


class RedisStore:
    """Entries in Redis (shared by API workers), with a local fallback when Redis is away."""

    def __init__(self, url: str, fallback: LocalStore, *, prefix: str, retry_s: float):
        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.fallback, self.prefix, self.retry_s = fallback, prefix, retry_s
        self._down_until = 0.0

    @property
    def available(self) -> bool:
        """False while Redis is considered down (after a failure, for a pause)."""
        return time.monotonic() >= self._down_until

    def _failed(self, exc: Exception) -> None:
        if self.available:
            log.warning("Redis cache unavailable, using the in-process cache: %s", exc)
        self._down_until = time.monotonic() + self.retry_s

    def get(self, key: str) -> bytes | None:
        if self.available:
            try:
                return self.client.get(self.prefix + key)  # type: ignore[return-value]
            except redis.RedisError as exc:
                self._failed(exc)
        return self.fallback.get(key)

    def set(self, key: str, value: bytes, ttl_s: float) -> None:
        if self.available:
            try:
                self.client.set(self.prefix + key, value, px=max(1, int(ttl_s * 1000)))
                return
            except redis.RedisError as exc:
                self._failed(exc)
        self.fallback.set(key, value, ttl_s)

    def ping(self) -> bool:
        """Whether Redis answers now."""
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False


class Generation:
    """The newest event id, re-read from the database at most every ``check_s`` seconds."""

    def __init__(self, sessions: sessionmaker[Session], check_s: float):
        self.sessions, self.check_s = sessions, check_s
        self._value, self._read_at = -1, float("-inf")
        self._lock = threading.Lock()

    def advance(self, event_id: int) -> None:
        """Learn of a newer event (from the event hub) without a query."""
        with self._lock:
            self._value = max(self._value, event_id)

    def fresh(self) -> int | None:
        """The generation if it was read recently enough to trust without a query, else None."""
        if time.monotonic() - self._read_at < self.check_s:
            return self._value
        return None

    def current(self) -> int:
        """The generation to key cache entries with."""
        now = time.monotonic()
        if now - self._read_at >= self.check_s:
            with self.sessions() as session:
                latest = repo.event_generation(session)  # changes on late commits too
            with self._lock:
                self._value, self._read_at = max(self._value, latest), now
        return self._value


class ResponseCache:
    """Cached response bodies keyed by request and database generation.

    Attributes
    ----------
    hits, misses
        Counts since start, for tests and metrics.
    """

    def __init__(self, store: Store, generation: Generation, ttl_s: float):
        self.store, self.generation, self.ttl_s = store, generation, ttl_s
        #: False when ``ttl_s`` is 0: every read is built afresh and nothing is stored.
        self.enabled = ttl_s > 0
        self.hits = self.misses = 0
        #: The route that answered each key, for metrics of hits served by the fast path.
        self.routes: dict[str, Any] = {}

    def peek(self, key: str) -> bytes | None:
        """A cached body found without any blocking I/O, or None (then the route answers).

        Only the in-process store qualifies, and only while the generation is
        fresh; used by :class:`CachedReadMiddleware` on the event loop.
        """
        if not self.enabled or not isinstance(self.store, LocalStore):
            return None
        generation = self.generation.fresh()
        if generation is None:
            return None
        value = self.store.get(f"{generation}:{key}")
        if value is not None:
            self.hits += 1
        return value

    def remember_route(self, key: str, route: Any) -> None:
        """Record which route answered ``key`` (bounded)."""
        if len(self.routes) > 4 * 4096:
            self.routes.clear()
        self.routes[key] = route

    @property
    def backend(self) -> str:
        """``redis`` or ``local``: where entries currently go."""
        if isinstance(self.store, RedisStore) and self.store.available:
            return "redis"
        return "local"

    def get_or_build(self, key: str, build: Callable[[], bytes]) -> bytes:
        """The cached bytes for ``key`` in the current generation, building them on a miss."""
        if not self.enabled:
            self.misses += 1
            return build()
        full_key = f"{self.generation.current()}:{key}"
        value = self.store.get(full_key)
        if value is not None:
            self.hits += 1
            return value
        self.misses += 1
        value = build()
        self.store.set(full_key, value, self.ttl_s)
        return value


def make_cache(
    redis_url: str | None,
    sessions: sessionmaker[Session],
    *,
    ttl_s: float,
    max_bytes: int,
    check_s: float,
    redis_retry_s: float,
) -> ResponseCache:
    """The response cache: Redis-backed when ``redis_url`` is given, else in-process.

    Parameters
    ----------
    ttl_s
        Lifetime of an entry (s); 0 turns caching off.
    max_bytes
        Size bound of the in-process store (keys and bodies).
    check_s
        How often the newest event id (the generation) is re-read.
    redis_retry_s
        Pause before trying Redis again after it failed.
    """
    local = LocalStore(max_bytes)
    store: Store = local
    if redis_url:
        # Entries of different products DBs sharing one Redis must never mix.
        database = str(sessions.kw["bind"].url.render_as_string(hide_password=True))
        prefix = f"dsa110:cache:{hashlib.sha256(database.encode()).hexdigest()[:12]}:"
        store = RedisStore(redis_url, local, prefix=prefix, retry_s=redis_retry_s)
    return ResponseCache(store, Generation(sessions, check_s), ttl_s)


def _encoded(text: str) -> str:
    # Every byte but unreserved ones percent-encoded: '&', '=' and '?' inside a name or
    # a value can never pass for separators. surrogateescape keeps invalid UTF-8 apart.
    return quote(text, safe="", errors="surrogateescape")


def cache_key(path: str, query_string: bytes) -> str:
    """The cache key of a GET request: its path and its sorted, percent-encoded pairs.

    Pairs that mean the same (another order of names, ``+`` or ``%20``) share a
    key; ``?limit%3D50%26offset%3D0`` (one parameter named ``limit=50&offset=0``)
    does not share the key of ``?limit=50&offset=0``. Pairs are sorted by name
    only: the values of a repeated name keep their order (a scalar parameter
    takes the last one, so ``?limit=3&limit=1`` is not ``?limit=1&limit=3``).
    """
    pairs = parse_qsl(
        query_string.decode("latin-1"), keep_blank_values=True, errors="surrogateescape"
    )
    query = sorted(((_encoded(k), _encoded(v)) for k, v in pairs), key=lambda pair: pair[0])
    path = quote(path, safe="/", errors="surrogateescape")
    return path + "?" + "&".join(f"{k}={v}" for k, v in query)


class CachedReadMiddleware:
    """Answer GET requests whose response is in the in-process cache, on the event loop.

    A hit skips routing, validation and the threadpool; a miss (or a Redis
    store, or a stale generation) passes the request on to its route, which
    fills the cache. Only routes that cache (``cached_json``) ever create
    entries, and only after their parameters validated.
    """

    def __init__(self, app: ASGIApp, cache: ResponseCache):
        self.app, self.cache = app, cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            key = cache_key(scope["path"], scope.get("query_string", b""))
            body = self.cache.peek(key)
            if body is not None:
                route = self.cache.routes.get(key)
                if route is not None:
                    scope["route"] = route
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
