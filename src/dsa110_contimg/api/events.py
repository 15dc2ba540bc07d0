"""Live events: the events table polled once per API process, fanned out to WebSockets.

Pipeline processes publish events through
:func:`dsa110_contimg.products.repositories.publish_event` (in the same
transaction as the product or job change they announce). One background task
per API process polls the table for newer rows and hands each to the
subscribers whose topic patterns match: ``job:<run_id>`` exactly, ``job:*`` by
prefix, ``*`` for everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import anyio
from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import Event

log = logging.getLogger(__name__)

#: Messages a slow subscriber may fall behind before it is dropped.
QUEUE_SIZE = 1000


def topic_matches(pattern: str, topic: str) -> bool:
    """Whether a subscription ``pattern`` covers ``topic`` (exact, ``prefix*`` or ``*``)."""
    if pattern.endswith("*"):
        return topic.startswith(pattern[:-1])
    return pattern == topic


def event_message(event: Event) -> dict[str, Any]:
    """The JSON message sent for an event (times ISO 8601 UTC)."""
    return {
        "type": "event",
        "id": event.id,
        "topic": event.topic,
        "kind": event.kind,
        "payload": event.payload or {},
        # the same form as the REST API's datetimes: ISO 8601 with a Z
        "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
    }


class Subscription:
    """One subscriber's topic patterns and its queue of messages."""

    def __init__(self, patterns: Iterable[str] = ()):
        self.patterns: set[str] = set(patterns)
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE_SIZE)
        self.overflowed = False

    def wants(self, topic: str) -> bool:
        """Whether any pattern covers ``topic``."""
        return any(topic_matches(p, topic) for p in self.patterns)

    def offer(self, message: dict[str, Any]) -> None:
        """Queue a message; a subscriber that has fallen too far behind is closed."""
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True


class EventHub:
    """Polls the events table and fans new events out to subscriptions.

    On PostgreSQL an event's id is taken when it is inserted but the row is
    seen only when its transaction commits, so ids appear out of order: after
    id 12 the poller may see 11 later. The hub therefore remembers the ids it
    skipped (a gap below the newest seen) and looks for them again at every
    poll, for ``gap_s`` seconds (a rolled-back transaction leaves a gap
    forever); an id is dispatched at most once.

    Parameters
    ----------
    sessions
        Session factory of the products DB.
    poll_s
        Seconds between polls.
    on_advance
        Called with the database's event generation when it changed
        (:func:`~dsa110_contimg.products.repositories.event_generation`: the
        cache keys its entries with it).
    gap_s
        How long a skipped id is looked for.
    """

    #: Most skipped ids remembered (the oldest are given up first).
    MAX_MISSING = 10_000
    #: Ids below the newest examined at start for transactions still open.
    START_WINDOW = 1000

    def __init__(
        self,
        sessions: sessionmaker[Session],
        poll_s: float,
        on_advance: Callable[[int], None] | None = None,
        *,
        gap_s: float = 60.0,
    ):
        self.sessions, self.poll_s, self.on_advance = sessions, poll_s, on_advance
        self.gap_s = gap_s
        self.subscriptions: set[Subscription] = set()
        self.last_id = 0
        self.generation = -1
        self.healthy = False
        #: Skipped ids (not seen although a higher one was) -> when to give up on them.
        self.missing: dict[int, float] = {}
        self._task: asyncio.Task[None] | None = None

    def _latest(self) -> tuple[int, list[int]]:
        with self.sessions() as session:
            latest = repo.latest_event_id(session)
            low = max(0, latest - self.START_WINDOW)
            present = [e.id for e in repo.events_after(session, low, limit=self.START_WINDOW)]
            return latest, sorted(set(range(low + 1, latest + 1)) - set(present))

    def _fetch(
        self, after_id: int, missing: list[int]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
        with self.sessions() as session:
            new = [event_message(e) for e in repo.events_after(session, after_id)]
            late = [event_message(e) for e in repo.events_with_ids(session, missing)]
            return new, late, repo.event_generation(session)

    async def start(self) -> None:
        """Begin polling from the newest event now in the table."""
        try:
            self.last_id, holes = await anyio.to_thread.run_sync(self._latest)
            deadline = time.monotonic() + self.gap_s
            self.missing = dict.fromkeys(holes, deadline)
            self.healthy = True
        except Exception as exc:  # the DB may be down at start; the loop retries
            log.warning("event hub cannot read the events table yet: %s", exc)
        self._task = asyncio.create_task(self._run(), name="dsa110-event-hub")

    async def stop(self) -> None:
        """Stop polling and close every subscription."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for sub in list(self.subscriptions):
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait(None)

    async def _run(self) -> None:
        while True:
            try:
                await self.poll_once()
                self.healthy = True
            except Exception as exc:
                if self.healthy:
                    log.warning("event hub poll failed: %s", exc)
                self.healthy = False
            await asyncio.sleep(self.poll_s)

    def _skipped(self, event_id: int) -> None:
        """Remember the ids between the newest seen and ``event_id`` (not seen yet)."""
        first = max(self.last_id + 1, event_id - self.MAX_MISSING)
        if first < event_id:
            deadline = time.monotonic() + self.gap_s
            self.missing.update(dict.fromkeys(range(first, event_id), deadline))

    def _forget_old_gaps(self) -> None:
        now = time.monotonic()
        self.missing = {i: t for i, t in self.missing.items() if t > now}
        if len(self.missing) > self.MAX_MISSING:
            for i in sorted(self.missing)[: len(self.missing) - self.MAX_MISSING]:
                del self.missing[i]

    async def poll_once(self) -> int:
        """Fetch and dispatch every event not seen yet (new or late); return how many."""
        count = 0
        while True:
            new, late, generation = await anyio.to_thread.run_sync(
                self._fetch, self.last_id, sorted(self.missing)
            )
            for message in late:  # committed after a higher id was seen
                if self.missing.pop(message["id"], None) is not None:
                    self.dispatch(message)
                    count += 1
            for message in new:
                if message["id"] <= self.last_id:
                    continue
                self._skipped(message["id"])
                self.dispatch(message)
                self.last_id = message["id"]
                count += 1
            self._forget_old_gaps()
            if generation != self.generation:
                self.generation = generation
                if self.on_advance is not None:
                    self.on_advance(generation)
            if len(new) < 500:
                return count

    def dispatch(self, message: dict[str, Any]) -> None:
        """Hand one message to every subscription that wants its topic."""
        for sub in list(self.subscriptions):
            if sub.wants(message["topic"]):
                sub.offer(message)

    def _count_after(self, since_id: int, upto: int) -> int:
        with self.sessions() as session:
            return repo.count_events_between(session, since_id, upto)

    async def replay(self, since_id: int, sub: Subscription, limit: int) -> int | None:
        """Queue past events after ``since_id`` (up to the last polled) for ``sub``.

        Returns how many were queued, or None when more than ``limit`` events
        were missed (or ``since_id`` is beyond the newest id, as after a
        database reset): then nothing is queued and the client must reload
        its view (a ``resync``).
        """
        upto, sent, after = self.last_id, 0, since_id
        if since_id > upto:
            return None
        if await anyio.to_thread.run_sync(self._count_after, since_id, upto) > limit:
            return None
        while after < upto:
            messages, _, _ = await anyio.to_thread.run_sync(self._fetch, after, [])
            if not messages:
                break
            for message in messages:
                if message["id"] <= upto and sub.wants(message["topic"]):
                    sub.offer(message)
                    sent += 1
            after = messages[-1]["id"]
        return sent
