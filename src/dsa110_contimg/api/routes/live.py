"""The live-events WebSocket ``/api/ws``: subscribe to topics, receive events as they happen.

Connect with ``?topics=job:*,image`` (comma-separated patterns) and optionally
``since=<event id>`` to first replay what was missed. While connected, send
``{"action": "subscribe" | "unsubscribe", "topics": [...]}`` to change the
subscription. Every message is JSON; events look like
``{"type": "event", "id", "topic", "kind", "payload", "created_at"}``.

When the client missed more than can be replayed (more than
``api_ws_replay_max`` events since ``since``, or it read too slowly and its
queue overflowed), it gets ``{"type": "resync", "last_event_id"}`` and stays
connected: it should reload what it shows and continue from ``last_event_id``.
At most ``api_ws_max_connections`` sockets are served at once (one more is
closed with 1013, try again later); a client message over
``api_ws_max_message_bytes`` closes the socket with 1009.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from dsa110_contimg.api.events import Subscription

router = APIRouter(tags=["live"])

#: Most topic patterns one connection may hold.
MAX_TOPICS = 64


def _topics(value: Any) -> list[str] | None:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        return None
    topics = [t.strip() for t in value if t.strip()]
    if len(topics) > MAX_TOPICS or any(len(t) > 128 for t in topics):
        return None
    return topics


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"code": code, "message": message, "details": None}}


def _parse(text: str) -> tuple[str | None, list[str] | None]:
    try:
        message = json.loads(text)
    except ValueError:
        return None, None
    if not isinstance(message, dict):
        return None, None
    return message.get("action"), _topics(message.get("topics"))


#: Event ids are 64-bit: ``since`` is at most 19 ASCII digits (``"²".isdigit()`` is True).
_SINCE = re.compile(r"[0-9]{1,19}")


def _since(value: str | None) -> int | None | bool:
    """``since`` as an int, None when absent, False when invalid."""
    if value is None:
        return None
    if not _SINCE.fullmatch(value) or int(value) > 2**63 - 1:
        return False
    return int(value)


def _resync(hub: Any, reason: str) -> dict[str, Any]:
    return {"type": "resync", "reason": reason, "last_event_id": hub.last_id}


async def _receive_commands(ws: WebSocket, sub: Subscription, max_bytes: int) -> None:
    while True:
        text = await ws.receive_text()
        if len(text) > max_bytes or len(text.encode()) > max_bytes:
            await ws.close(code=1009, reason=f"messages are limited to {max_bytes} bytes")
            return
        action, topics = _parse(text)
        if action not in ("subscribe", "unsubscribe") or topics is None:
            usage = 'expected {"action": "subscribe"|"unsubscribe", "topics": [...]}'
            await ws.send_json(_error("invalid_message", usage))
            continue
        if action == "subscribe":
            if len(sub.patterns | set(topics)) > MAX_TOPICS:
                await ws.send_json(_error("too_many_topics", f"at most {MAX_TOPICS} topics"))
                continue
            sub.patterns.update(topics)
        else:
            sub.patterns.difference_update(topics)
        await ws.send_json({"type": "subscribed", "topics": sorted(sub.patterns)})


async def _forward_events(ws: WebSocket, sub: Subscription, hub: Any) -> None:
    while True:
        message = await sub.queue.get()
        if message is None:
            await ws.close(code=1001)
            return
        if sub.overflowed:  # it fell too far behind: what is queued is incomplete
            while not sub.queue.empty():
                if sub.queue.get_nowait() is None:
                    await ws.close(code=1001)
                    return
            sub.overflowed = False
            await ws.send_json(_resync(hub, "overflow"))
            continue
        await ws.send_json(message)


def _event_id(text: str) -> bool:
    """Whether ``text`` is an event id: ASCII digits ('²' passes isdigit() alone), 64-bit."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def _origin_allowed(websocket: WebSocket) -> bool:
    """Browsers send ``Origin``: accept our own host and configured CORS origins only.

    Scripts and servers send none and are judged by the allow-list alone; a
    page on another site must not read the events through a visitor's browser.
    """
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    allowed = websocket.app.state.api.settings.api_cors_origins
    host = websocket.headers.get("host", "")
    return origin in allowed or urlsplit(origin).netloc == host


@router.websocket("/api/ws")
async def live_events(websocket: WebSocket) -> None:
    """Stream events of the subscribed topics (``*``, ``job:*``, ``job:<run_id>``, ``image``...)."""
    hub = websocket.app.state.api.hub
    settings = websocket.app.state.api.settings
    topics = _topics(websocket.query_params.get("topics", ""))
    since = _since(websocket.query_params.get("since"))
    if not _origin_allowed(websocket):
        await websocket.close(code=1008, reason="cross-origin WebSocket refused")
        return
    if topics is None or since is False:
        await websocket.close(code=1008, reason="invalid topics or since")
        return
    await websocket.accept()
    if len(hub.subscriptions) >= settings.api_ws_max_connections:
        await websocket.close(code=1013, reason="too many live connections; retry later")
        return
    sub = Subscription(topics)
    hub.subscriptions.add(sub)
    try:
        resync = False
        if since is not None:
            resync = await hub.replay(since, sub, settings.api_ws_replay_max) is None
        await websocket.send_json(
            {"type": "subscribed", "topics": sorted(sub.patterns), "last_event_id": hub.last_id}
        )
        if resync:
            await websocket.send_json(_resync(hub, "missed too many events"))
        tasks = [
            asyncio.create_task(
                _receive_commands(websocket, sub, settings.api_ws_max_message_bytes)
            ),
            asyncio.create_task(_forward_events(websocket, sub, hub)),
        ]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in (*done, *pending):
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task
    finally:
        hub.subscriptions.discard(sub)
