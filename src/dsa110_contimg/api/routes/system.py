"""Health (liveness, and a detailed form for operators) and statistics."""

from __future__ import annotations

import datetime as dt
import shutil
from typing import Any, Literal

from alembic.runtime.migration import MigrationContext
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from dsa110_contimg import __version__
from dsa110_contimg.api.caching import RedisStore
from dsa110_contimg.api.deps import DbSession, State, cached_json
from dsa110_contimg.api.errors import ERROR_RESPONSES
from dsa110_contimg.api.schemas import orm_schema
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.migrate import head_revision
from dsa110_contimg.products.models import Image, MeasurementSet, utcnow

router = APIRouter(prefix="/api", tags=["system"], responses=ERROR_RESPONSES)

#: A worker whose last heartbeat is older than this is reported stale (s).
HEARTBEAT_STALE_S = 300.0


class Health(BaseModel):
    """Liveness: is the API up and can it reach the products database."""

    status: Literal["ok", "degraded"]
    database: bool
    version: str
    time: dt.datetime


class Check(BaseModel):
    """The state of one dependency."""

    ok: bool
    detail: dict[str, Any]


class DetailedHealth(BaseModel):
    """Every dependency an operator cares about."""

    status: Literal["ok", "degraded"]
    version: str
    time: dt.datetime
    database: Check
    disk: Check
    cache: Check
    events: Check
    worker: Check


class Stats(BaseModel):
    """Counts by stage and status, and the newest products."""

    groups_by_state: dict[str, int]
    ms_by_stage: dict[str, int]
    jobs_by_status: dict[str, int]
    candidates_by_status: dict[str, int]
    cal_tables_by_status: dict[str, int]
    images: int
    sources: int
    photometry_rows: int
    mosaics: int
    recent_images: list[orm_schema(Image, "RecentImage")]  # type: ignore[valid-type]
    recent_ms: list[orm_schema(MeasurementSet, "RecentMS")]  # type: ignore[valid-type]


def _db_check(state: Any) -> Check:
    try:
        with state.engine.connect() as conn:
            revision = MigrationContext.configure(conn).get_current_revision()
        head = head_revision()
        return Check(ok=revision == head, detail={"revision": revision, "expected": head})
    except Exception as exc:
        return Check(ok=False, detail={"error": type(exc).__name__})


@router.get(
    "/health", response_model=Health, responses={503: {"model": Health}}, summary="Liveness"
)
def health(state: State):
    try:
        with state.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        database = True
    except Exception:
        database = False
    body = Health(
        status="ok" if database else "degraded",
        database=database,
        version=__version__,
        time=utcnow(),
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if database else 503)


@router.get("/health/detailed", response_model=DetailedHealth, summary="Detailed health")
def health_detailed(state: State, session: DbSession):
    database = _db_check(state)
    usage = shutil.disk_usage(
        state.settings.data_root if state.settings.data_root.exists() else "/"
    )
    disk = Check(
        ok=usage.free > 0.05 * usage.total,
        detail={
            "path": str(state.settings.data_root),
            "free_bytes": usage.free,
            "total_bytes": usage.total,
        },
    )
    store = state.cache.store
    if isinstance(store, RedisStore):
        cache = Check(ok=store.ping(), detail={"backend": "redis", "active": state.cache.backend})
    else:
        cache = Check(ok=True, detail={"backend": "local"})
    events = Check(
        ok=state.hub.healthy,
        detail={"last_event_id": state.hub.last_id, "subscribers": len(state.hub.subscriptions)},
    )
    worker = Check(ok=False, detail={"last_heartbeat": None})
    if database.ok:
        beat = repo.last_heartbeat(session)
        if beat is not None:
            age = (utcnow() - beat.created_at).total_seconds()
            worker = Check(
                ok=age < HEARTBEAT_STALE_S,
                detail={
                    "last_heartbeat": beat.created_at.isoformat(),
                    "age_s": age,
                    **(beat.payload or {}),
                },
            )
    ok = database.ok and disk.ok and events.ok
    return DetailedHealth(
        status="ok" if ok else "degraded",
        version=__version__,
        time=utcnow(),
        database=database,
        disk=disk,
        cache=cache,
        events=events,
        worker=worker,
    )


@router.get("/stats", response_model=Stats, summary="Counts and newest products")
def stats(request: Request, state: State, session: DbSession):
    return cached_json(request, state, Stats, lambda session: repo.stats(session))
