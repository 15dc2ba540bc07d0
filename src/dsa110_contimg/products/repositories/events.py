"""Events: what changed, published in the writer's transaction, read by the API's live feed and cache."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsa110_contimg.products.models import (
    Event,
    utcnow,
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


def events_with_ids(session: Session, ids: Collection[int]) -> list[Event]:
    """The events among ``ids`` that are visible now, oldest first (the poller's late ones)."""
    found: list[Event] = []
    ordered = sorted(ids)
    for start in range(0, len(ordered), 1000):
        part = ordered[start : start + 1000]
        found.extend(session.scalars(sa.select(Event).where(Event.id.in_(part))))
    return sorted(found, key=lambda e: e.id)


def count_events_between(session: Session, after_id: int, upto_id: int) -> int:
    """How many events have ids in ``(after_id, upto_id]``."""
    stmt = sa.select(sa.func.count(Event.id)).where(Event.id > after_id, Event.id <= upto_id)
    return int(session.scalar(stmt) or 0)


#: How many of the newest ids :func:`event_generation` counts.
GENERATION_WINDOW = 10_000


def event_generation(session: Session) -> int:
    """A number that grows whenever an event commits: the cache's generation.

    The newest id alone is not enough on PostgreSQL: ids are taken when rows
    are inserted but become visible at commit, so an event with a lower id may
    appear after a higher one has been seen, without changing the maximum.
    The generation is ``newest * (W + 1) + n``, with ``n`` the events among
    the ``W`` newest ids (``W`` = :data:`GENERATION_WINDOW`): a late commit
    raises ``n``, a new event raises ``newest`` (``n`` is at most ``W``, so the
    number never goes down). A commit later than ``W`` newer ids goes unseen.
    """
    newest = sa.select(sa.func.max(Event.id)).scalar_subquery()
    recent = (
        sa.select(sa.func.count(Event.id))
        .where(Event.id > newest - GENERATION_WINDOW)
        .scalar_subquery()
    )
    top, count = session.execute(sa.select(newest, recent)).one()
    return int(top or 0) * (GENERATION_WINDOW + 1) + int(count or 0)


#: How many ids past a poller's cursor :func:`settled_event_id` looks at.
SETTLE_SCAN = 5000


def settled_event_id(session: Session, after_id: int, gap_s: float) -> int:
    """The highest id up to which no event can still appear: a commit-safe cursor.

    On PostgreSQL an id is taken at insert and becomes visible at commit, so a
    lower id can appear after a higher one was read. Past ``after_id`` this
    walks the ids in order and stops before the first missing id whose
    successor was created less than ``gap_s`` ago (its writer may still
    commit; an older hole is a rolled-back insert). SQLite commits one writer
    at a time, so its ids appear in order and nothing is held back.
    """
    if session.get_bind().dialect.name == "sqlite":
        return max(after_id, latest_event_id(session))
    rows = session.execute(
        sa.select(Event.id, Event.created_at)
        .where(Event.id > after_id)
        .order_by(Event.id)
        .limit(SETTLE_SCAN)
    ).all()
    young = utcnow() - dt.timedelta(seconds=gap_s)
    settled = after_id
    for event_id, created_at in rows:
        if event_id != settled + 1 and created_at > young:  # the column type makes it aware
            break
        settled = event_id
    return settled


def list_events(
    session: Session,
    *,
    after_id: int = 0,
    topic: str | None = None,
    kind: str | None = None,
    limit: int = 100,
    up_to: int | None = None,
) -> list[Event]:
    """Events newer than ``after_id`` (and at most ``up_to``), oldest first, of a topic and kind.

    ``topic`` is a name or a ``prefix*``; ``up_to`` is a commit-safe bound
    from :func:`settled_event_id`, so a poller never steps past an event that
    has yet to commit.
    """
    check_page(limit, 0)
    stmt = sa.select(Event).where(Event.id > after_id)
    if up_to is not None:
        stmt = stmt.where(Event.id <= up_to)
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
