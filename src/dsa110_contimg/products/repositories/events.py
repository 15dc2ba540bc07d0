"""Events: what changed, published in the writer's transaction, read by the API's live feed and cache."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsa110_contimg.products.models import (
    Event,
)
from dsa110_contimg.products.repositories.query import check_page


def publish_event(
    session: Session, topic: str, kind: str, payload: Mapping[str, Any] | None = None
) -> Event:
    """Record an event for live subscribers; it becomes visible when the transaction commits.

    Parameters
    ----------
    topic
        What the event is about, e.g. ``job:<run_id>``, ``image``, ``candidate``.
    kind
        What happened, e.g. ``started``, ``progress``, ``finished``, ``new``.
    payload
        JSON-serialisable details.
    """
    event = Event(topic=topic, kind=kind, payload=dict(payload or {}))
    session.add(event)
    session.flush()
    return event


_TOUCHED = "dsa110_touched_topics"


@sa.event.listens_for(Session, "after_transaction_end")
def _forget_touched(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost transaction, not a flush's inner one
        session.info.pop(_TOUCHED, None)


def touch(session: Session, topic: str, kind: str = "updated") -> None:
    """Announce a change of ``topic`` once per transaction (bulk writes: metrics, raw files).

    Caches key their entries by the newest event id, so one event per
    transaction keeps them right without an event per row.
    """
    touched = session.info.setdefault(_TOUCHED, set())
    if topic not in touched:
        publish_event(session, topic, kind)
        touched.add(topic)


def latest_event_id(session: Session) -> int:
    """The id of the newest event, 0 if there is none."""
    return int(session.scalar(sa.select(sa.func.max(Event.id))) or 0)


def events_after(session: Session, after_id: int, *, limit: int = 500) -> list[Event]:
    """Events newer than ``after_id``, oldest first."""
    stmt = sa.select(Event).where(Event.id > after_id).order_by(Event.id).limit(limit)
    return list(session.scalars(stmt))


def list_events(
    session: Session,
    *,
    after_id: int = 0,
    topic: str | None = None,
    kind: str | None = None,
    limit: int = 100,
) -> list[Event]:
    """Events newer than ``after_id``, oldest first, optionally of one topic (``prefix*``) and kind."""
    check_page(limit, 0)
    stmt = sa.select(Event).where(Event.id > after_id)
    if topic is not None:
        if topic.endswith("*"):
            stmt = stmt.where(Event.topic.startswith(topic[:-1], autoescape=True))
        else:
            stmt = stmt.where(Event.topic == topic)
    if kind is not None:
        stmt = stmt.where(Event.kind == kind)
    return list(session.scalars(stmt.order_by(Event.id).limit(limit)))


def publish_heartbeat(session: Session, host: str, **info: Any) -> Event:
    """Record that a worker on ``host`` is alive (topic ``worker``)."""
    return publish_event(session, "worker", "heartbeat", {"host": host, **info})


def last_heartbeat(session: Session) -> Event | None:
    """The newest worker heartbeat, if any."""
    stmt = sa.select(Event).where(Event.topic == "worker").order_by(Event.id.desc()).limit(1)
    return session.scalars(stmt).first()


def prune_events(session: Session, older_than: dt.datetime) -> int:
    """Delete events created before ``older_than``; return how many."""
    result = session.execute(sa.delete(Event).where(Event.created_at < older_than))
    return int(result.rowcount or 0)
