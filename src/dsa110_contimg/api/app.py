"""The application factory: ``create_app(settings)`` wires routers, middleware and state."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dsa110_contimg import __version__
from dsa110_contimg.api.caching import CachedReadMiddleware, make_cache
from dsa110_contimg.api.errors import install_error_handlers
from dsa110_contimg.api.events import EventHub
from dsa110_contimg.api.graphql import graphql_router
from dsa110_contimg.api.metrics import MetricsMiddleware, make_registry
from dsa110_contimg.api.routes import (
    annotations,
    auth,
    batch,
    beam,
    cal,
    candidates,
    cutouts,
    events,
    exports,
    groups,
    images,
    jobs,
    live,
    mosaics,
    ms,
    qa,
    sources,
    system,
)
from dsa110_contimg.api.security import (
    AllowListMiddleware,
    BodySizeLimitMiddleware,
    KeyRing,
    SecurityHeadersMiddleware,
    TrustedHostMiddleware,
)
from dsa110_contimg.api.state import AppState
from dsa110_contimg.config import Settings, load_settings
from dsa110_contimg.dashboard import mount_dashboard
from dsa110_contimg.products.db import make_engine, make_session_factory

DESCRIPTION = """\
Products, jobs and live events of the DSA-110 continuum imaging pipeline.

Lists return `{items, total, limit, offset}`; errors `{error: {code, message, details}}`.
Science times are MJD (UTC), event times ISO 8601 UTC. Paths in URLs are URL-encoded
file paths of registered products. Writes need an `X-API-Key` header, or a signed-in operator's session cookie with its
`X-CSRF-Token` header (`POST /api/auth/login`).

Live events: WebSocket `/api/ws?topics=job:*,image&since=<event id>` (JSON messages).
GraphQL: `/api/graphql`. Prometheus: `/metrics`.
"""

# Static routes first: no parameterised path may shadow a fixed one.
ROUTERS = (
    system.router,
    auth.router,
    exports.router,
    batch.router,
    events.router,
    groups.router,
    ms.router,
    cal.router,
    images.router,
    cutouts.router,
    sources.router,
    candidates.router,
    annotations.router,
    annotations.outer,
    jobs.router,
    jobs.logs_router,
    beam.router,
    qa.router,
    mosaics.router,
    live.router,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API for ``settings`` (default: read from the environment).

    Parameters
    ----------
    settings
        Database, allow-list, trusted proxies, API keys, Redis, and the
        ``api_*`` tunables (cache TTL and size, polling, body limit, CORS).
    """
    settings = settings or load_settings()
    engine = make_engine(settings.db_url, pool_size=settings.db_pool_size)  # type: ignore[arg-type]
    sessions = make_session_factory(engine)
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
    cache = make_cache(
        redis_url,
        sessions,
        ttl_s=settings.api_cache_ttl_s,
        max_bytes=settings.api_cache_max_bytes,
        check_s=settings.api_cache_check_s,
        redis_retry_s=settings.api_cache_redis_retry_s,
    )
    hub = EventHub(
        sessions,
        settings.api_event_poll_s,
        on_advance=cache.generation.advance,
        gap_s=settings.api_event_gap_s,
    )
    registry, http_metrics = make_registry(
        sessions, gauge_ttl_s=settings.api_gauge_ttl_s, settings=settings
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()
            engine.dispose()

    app = FastAPI(
        title="DSA-110 continuum imaging pipeline API",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/api/docs",
        redoc_url="/api/redoc",
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.api = AppState(
        settings=settings,
        engine=engine,
        sessions=sessions,
        cache=cache,
        hub=hub,
        keys=KeyRing(settings.api_keys),
    )
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    graphql = graphql_router(
        max_cost=settings.api_graphql_max_cost, threads=settings.api_graphql_threads
    )
    app.include_router(graphql)
    app.state.graphql_limiter = graphql.limiter  # type: ignore[attr-defined]

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    mount_dashboard(app)  # the pages at /dashboard/, and / redirects there

    # Added innermost first: the last one added sees the request first. The order, from
    # the outside: headers, metrics, address, Host, body size, CORS, then the cache, so
    # cache hits carry the CORS headers and pass every check before them.
    app.add_middleware(CachedReadMiddleware, cache=cache)
    if settings.api_cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.api_cors_origins), allow_methods=["GET"]
        )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(
        TrustedHostMiddleware,
        hosts=settings.api_allowed_hosts,
        cors_origins=settings.api_cors_origins,
    )
    app.add_middleware(
        AllowListMiddleware, allowed=settings.allowed_networks, trusted=settings.trusted_proxies
    )
    app.add_middleware(MetricsMiddleware, metrics=http_metrics)
    app.add_middleware(SecurityHeadersMiddleware)
    return app


#: GIL switch interval of a serving process (s). Route functions run in threads beside
#: the event loop; CPython's default 5 ms lets one of them hold the loop up that long.
SERVER_SWITCH_INTERVAL_S = 0.0005


def app_from_env() -> FastAPI:
    """The app for ``uvicorn --factory`` (settings from ``DSA110_*`` and ``DSA110_CONFIG``).

    This is the serving process's entry point, so it also shortens the GIL
    switch interval (a process-wide setting, left alone by :func:`create_app`).
    """
    sys.setswitchinterval(SERVER_SWITCH_INTERVAL_S)
    return create_app(load_settings())
