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

    Parameters
    ----------
    sessions
        Session factory of the products DB.
    poll_s
        Seconds between polls.
    on_advance
        Called with the newest event id seen (the cache uses it as its generation).
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        poll_s: float,
        on_advance: Callable[[int], None] | None = None,
    ):
        self.sessions, self.poll_s, self.on_advance = sessions, poll_s, on_advance
        self.subscriptions: set[Subscription] = set()
        self.last_id = 0
        self.healthy = False
        self._task: asyncio.Task[None] | None = None

    def _latest(self) -> int:
        with self.sessions() as session:
            return repo.latest_event_id(session)

    def _fetch(self, after_id: int) -> list[dict[str, Any]]:
        with self.sessions() as session:
            return [event_message(e) for e in repo.events_after(session, after_id)]

    async def start(self) -> None:
        """Begin polling from the newest event now in the table."""
        try:
            self.last_id = await anyio.to_thread.run_sync(self._latest)
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

    async def poll_once(self) -> int:
        """Fetch and dispatch every event newer than the last seen; return how many."""
        count = 0
        while True:
            messages = await anyio.to_thread.run_sync(self._fetch, self.last_id)
            for message in messages:
                self.dispatch(message)
            count += len(messages)
            if messages:
                self.last_id = messages[-1]["id"]
                if self.on_advance is not None:
                    self.on_advance(self.last_id)
            if len(messages) < 500:
                return count

    def dispatch(self, message: dict[str, Any]) -> None:
        """Hand one message to every subscription that wants its topic."""
        for sub in list(self.subscriptions):
            if sub.wants(message["topic"]):
                sub.offer(message)

    async def replay(self, since_id: int, sub: Subscription) -> int:
        """Queue past events after ``since_id`` (up to the last polled) for ``sub``."""
        upto, sent, after = self.last_id, 0, since_id
        while after < upto:
            messages = await anyio.to_thread.run_sync(self._fetch, after)
            if not messages:
                break
            for message in messages:
                if message["id"] <= upto and sub.wants(message["topic"]):
                    sub.offer(message)
                    sent += 1
            after = messages[-1]["id"]
        return sent
