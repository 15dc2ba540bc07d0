"""Recent events over plain HTTP, for clients that poll instead of holding a WebSocket."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from dsa110_contimg.api.deps import State, cached_json
from dsa110_contimg.api.errors import ERROR_RESPONSES
from dsa110_contimg.products import repositories as repo

router = APIRouter(prefix="/api/events", tags=["live"], responses=ERROR_RESPONSES)


class EventOut(BaseModel):
    """One published event (``created_at`` in ISO 8601 UTC)."""

    id: int
    topic: str
    kind: str
    payload: dict[str, Any] | None
    created_at: dt.datetime


class EventList(BaseModel):
    """Events after a given id, oldest first; poll again with ``after=last_id``.

    ``last_id`` never passes an event that may still commit (so it can stay
    below the newest id for up to ``api_event_gap_s`` while a writer is open).
    """

    items: list[EventOut]
    last_id: int


@router.get("", response_model=EventList, summary="Events after an id (polling)")
def list_events(
    request: Request,
    state: State,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="Only events after this id")] = 0,
    topic: Annotated[
        str | None, Query(max_length=128, description="A topic, or a prefix ending in *")
    ] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=repo.MAX_LIMIT)] = 100,
):
    def build(session: Any) -> dict[str, Any]:
        # Only up to a commit-safe id: on PostgreSQL a lower id may still commit
        # after a higher one, and a cursor past it would skip that event forever.
        settled = repo.settled_event_id(session, after, state.settings.api_event_gap_s)
        events = repo.list_events(
            session, after_id=after, topic=topic, kind=kind, limit=limit, up_to=settled
        )
        last_id = events[-1].id if len(events) == limit else settled
        return {"items": events, "last_id": last_id}

    return cached_json(request, state, EventList, build)
